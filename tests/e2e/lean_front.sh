#!/bin/sh
# Black-box checks of the split into the lean front `switchyard` and the full `switchyard-runtime` (apps/front.hpp),
# so that it cannot rot silently:
#  1. the front links none of the libraries that made start-up slow (CAF, BLAS, the HTTP/TLS stack);
#  2. every command and bench benchmark that `switchyard --help` lists answers `<command> --help` with exit 0
#     through the front, and the front's own commands print the same help as the runtime's;
#  3. the front runs its commands without the runtime beside it (a copy of the front alone simulates), and for
#     any other command says precisely that switchyard-runtime is missing, exit 127.
# usage: lean_front.sh path/to/switchyard path/to/switchyard-runtime
set -eu
front="$1"
runtime="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. NEEDED entries of the front.
readelf -d "$front" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' > "$dir/needed"
echo "front NEEDED: $(tr '\n' ' ' < "$dir/needed")"
test -s "$dir/needed" || fail "readelf found no NEEDED entry in $front (not a dynamic executable?)"
if grep -E '^lib(caf_|openblas|blas|lapack|cpp-httplib|ssl|crypto)' "$dir/needed"; then
  fail "$front links the libraries above; the lean front must not (apps/CMakeLists.txt, sy_cli_lean)"
fi
readelf -d "$runtime" | grep -q 'libcaf_core' || fail "$runtime does not link CAF: is it the full binary?"

# 2. Every listed command dispatches.
"$front" --help > "$dir/help" || fail "switchyard --help exited $?"
commands=$(sed -n '/^Subcommands:/,$p' "$dir/help" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
echo "commands: $(echo $commands)"
for c in presets trace simulate plan up replay check-config bench policy-host; do
  echo "$commands" | grep -qx "$c" || fail "switchyard --help does not list $c"
done
"$front" bench --help > "$dir/bench_help" || fail "switchyard bench --help exited $?"
benches=$(sed -n '/^Subcommands:/,$p' "$dir/bench_help" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
echo "bench: $(echo $benches)"
for b in sim planner engine control-plane; do
  echo "$benches" | grep -qx "$b" || fail "switchyard bench --help does not list $b"
done
n=0
for c in $commands; do
  if [ "$c" = bench ]; then
    for b in $benches; do
      "$front" bench "$b" --help > /dev/null || fail "switchyard bench $b --help exited $?"
      n=$((n + 1))
    done
  else
    "$front" "$c" --help > /dev/null || fail "switchyard $c --help exited $?"
    n=$((n + 1))
  fi
done
echo "$n commands answer --help with exit 0"
# The front's own commands: the same options as the runtime's (the program path in the usage line aside).
for c in presets trace simulate plan "bench sim" "bench planner"; do
  "$front" $c --help | sed "s|$front|switchyard|" > "$dir/f"
  "$runtime" $c --help | sed "s|$runtime|switchyard|" > "$dir/r"
  cmp -s "$dir/f" "$dir/r" || { diff "$dir/f" "$dir/r" >&2; fail "switchyard $c --help differs between front and runtime"; }
done
# An unknown option of a front command is the parser's error, exit 109 like the runtime's (CLI11 ExtrasError).
set +e
"$front" simulate --no-such-option > /dev/null 2>&1; rc_f=$?
"$runtime" simulate --no-such-option > /dev/null 2>&1; rc_r=$?
set -e
test "$rc_f" -eq "$rc_r" && test "$rc_f" -ne 0 || fail "simulate --no-such-option: front exit $rc_f, runtime exit $rc_r"

# 3. The front alone.
mkdir "$dir/alone"
cp "$front" "$dir/alone/switchyard"
printf 'arrival_s,model,input_tokens\n0.5,bert-1.3b,128\n' > "$dir/one.csv"
"$dir/alone/switchyard" --log-level warn plan --hardware V100-16GB --models bert-1.3b --trace "$dir/one.csv" \
  --devices 1 -o "$dir/plan.yaml" > /dev/null || fail "plan without the runtime beside the front exited $?"
"$dir/alone/switchyard" simulate --hardware V100-16GB --models bert-1.3b --trace "$dir/one.csv" \
  --plan "$dir/plan.yaml" > "$dir/sim.out" || fail "simulate without the runtime beside the front exited $?"
grep -q '^1 requests .*SLO attainment 1.0000' "$dir/sim.out" || { cat "$dir/sim.out"; fail "simulate's summary line"; }
set +e
"$dir/alone/switchyard" check-config > /dev/null 2> "$dir/err"; rc=$?
set -e
test "$rc" -eq 127 || fail "check-config without switchyard-runtime: expected exit 127, found $rc"
grep -q "switchyard: cannot run $dir/alone/switchyard-runtime (.*): No such file or directory" "$dir/err" ||
  { cat "$dir/err"; fail "the message must name the missing switchyard-runtime"; }
echo "ok"
