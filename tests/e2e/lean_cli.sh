#!/bin/sh
# Black-box checks of the split of `switchyard` into the door, switchyard-sim and switchyard-runtime
# (apps/dispatch.hpp), so that it cannot rot silently:
#  1. switchyard-sim links none of the libraries that made start-up slow (CAF, BLAS, the HTTP/TLS stack), and
#     the door none at all beyond the C library (or the sanitizers' run-times in sanitizer builds);
#  2. every command and bench benchmark that `switchyard --help` lists answers `switchyard <command> --help`
#     with exit 0, and switchyard-sim's commands print the same help as switchyard-runtime's;
#  3. the door and switchyard-sim run simulate without the runtime beside them, and a missing executable is
#     named precisely, exit 127.
# usage: lean_cli.sh path/to/switchyard path/to/switchyard-sim path/to/switchyard-runtime
set -eu
door="$1"
simx="$2"
runtime="$3"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# 1. What each executable links.
needed "$simx" > "$dir/needed"
echo "switchyard-sim NEEDED: $(tr '\n' ' ' < "$dir/needed")"
grep -q '^libc\.so' "$dir/needed" || fail "readelf found no libc.so in $simx's NEEDED entries (not a dynamic executable?)"
if grep -E '^lib(caf_|openblas|blas|lapack|cpp-httplib|ssl|crypto|Cbc)' "$dir/needed"; then
  fail "$simx links the libraries above; it must not (apps/CMakeLists.txt, sy_cli_lean)"
fi
needed "$door" > "$dir/door_needed"
echo "switchyard NEEDED: $(tr '\n' ' ' < "$dir/door_needed")"
if grep -Ev '^(libc|libm|libasan|libubsan|libstdc\+\+|libgcc_s|ld-linux.*)\.so' "$dir/door_needed"; then
  fail "the door $door links the libraries above; it must stay a tiny (static) program"
fi
needed "$runtime" | grep -q '^libcaf_core' || fail "$runtime does not link CAF: is it the full binary?"

# 2. Every listed command dispatches.
"$door" --help > "$dir/help" || fail "switchyard --help exited $?"
commands=$(sed -n '/^Subcommands:/,$p' "$dir/help" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
echo "commands: $(echo $commands)"
for c in presets trace simulate plan up replay check-config bench policy-host; do
  echo "$commands" | grep -qx "$c" || fail "switchyard --help does not list $c"
done
"$door" bench --help > "$dir/bench_help" || fail "switchyard bench --help exited $?"
benches=$(sed -n '/^Subcommands:/,$p' "$dir/bench_help" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
echo "bench: $(echo $benches)"
for b in sim planner engine control-plane; do
  echo "$benches" | grep -qx "$b" || fail "switchyard bench --help does not list $b"
done
n=0
for c in $commands; do
  if [ "$c" = bench ]; then
    for b in $benches; do
      "$door" bench "$b" --help > /dev/null || fail "switchyard bench $b --help exited $?"
      n=$((n + 1))
    done
  else
    "$door" "$c" --help > /dev/null || fail "switchyard $c --help exited $?"
    n=$((n + 1))
  fi
done
echo "$n commands answer --help with exit 0"
# switchyard-sim's commands: the same options as the runtime's (the program path in the usage line aside).
for c in presets trace simulate plan "bench sim" "bench planner"; do
  "$door" $c --help | sed "s|$door|switchyard|" > "$dir/s"
  "$runtime" $c --help | sed "s|$runtime|switchyard|" > "$dir/r"
  cmp -s "$dir/s" "$dir/r" || { diff "$dir/s" "$dir/r" >&2; fail "switchyard $c --help differs between switchyard-sim and the runtime"; }
done
# A bad option of a switchyard-sim command is the parser's error with the runtime's exit code.
set +e
"$door" simulate --no-such-option > /dev/null 2>&1; rc_s=$?
"$runtime" simulate --no-such-option > /dev/null 2>&1; rc_r=$?
set -e
test "$rc_s" -eq "$rc_r" && test "$rc_s" -ne 0 || fail "simulate --no-such-option: exit $rc_s via the door, $rc_r from the runtime"

# 3. Without the runtime.
mkdir "$dir/alone"
cp "$door" "$dir/alone/switchyard"
cp "$simx" "$dir/alone/switchyard-sim"
printf 'arrival_s,model,input_tokens\n0.5,bert-1.3b,128\n' > "$dir/one.csv"
"$dir/alone/switchyard" --log-level warn plan --hardware V100-16GB --models bert-1.3b --trace "$dir/one.csv" \
  --devices 1 -o "$dir/plan.yaml" > /dev/null || fail "plan without switchyard-runtime exited $?"
"$dir/alone/switchyard" simulate --hardware V100-16GB --models bert-1.3b --trace "$dir/one.csv" \
  --plan "$dir/plan.yaml" > "$dir/sim.out" || fail "simulate without switchyard-runtime exited $?"
grep -q '^1 requests .*SLO attainment 1.0000' "$dir/sim.out" || { cat "$dir/sim.out"; fail "simulate's summary line"; }
set +e
"$dir/alone/switchyard" check-config > /dev/null 2> "$dir/err"; rc=$?
set -e
test "$rc" -eq 127 || fail "check-config without switchyard-runtime: expected exit 127, found $rc"
grep -q "^switchyard: cannot run $dir/alone/switchyard-runtime (installed beside switchyard, it runs this command): No such file or directory\$" "$dir/err" ||
  { cat "$dir/err"; fail "the message must name the missing switchyard-runtime"; }
rm "$dir/alone/switchyard-sim"
set +e
"$dir/alone/switchyard" presets > /dev/null 2> "$dir/err"; rc=$?
set -e
test "$rc" -eq 127 && grep -q "cannot run $dir/alone/switchyard-sim " "$dir/err" ||
  { cat "$dir/err"; fail "presets without switchyard-sim: expected exit 127 naming it, found $rc"; }
echo "ok"
