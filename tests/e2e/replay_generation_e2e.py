#!/usr/bin/python3
"""Black-box tests of `switchyard replay` with generation requests (issue 10 §4): a trace request with
output_tokens > 0 is sent as a msgpack generate (max_new_tokens = output_tokens, ignore_eos, stream) and
its TTFT, TPOT, tokens/s and attainment land in the summary; one-pass requests keep their table.

Usage: replay_generation_e2e.py --bin PATH/switchyard SCENARIO     (scenarios: see SCENARIOS at the bottom)
Loopback only; ports chosen by the server; every wait bounded; no timing asserts (numbers are printed).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
import ingress_e2e as base  # noqa: E402
from ingress_e2e import Server, check  # noqa: E402

AZURE_SAMPLE = os.path.join(ROOT, "examples", "traces", "azure_llm_code_sample.csv")
DECODERS = {"tiny-gpt", "small-gpt"}  # the embedded default's generating models (max positions 64, 256)
GEN_KEYS = ["requests", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p50_s",
            "e2e_p99_s", "tokens_per_s", "attainment", "ttft_misses", "tpot_misses"]


def records(path):
    return list(csv.DictReader(open(path)))


def check_generation_rows(rows):
    """Every ok generation: first token between arrival and finish, its TPOT as the contract computes it."""
    gen = [r for r in rows if int(r["new_tokens"]) > 0]
    for r in gen:
        a, f, ft, n = float(r["arrival"]), float(r["finish"]), float(r["first_token"]), int(r["new_tokens"])
        check(r["status"] == "ok", "new tokens only for ok answers: %r" % r)
        check(a <= ft <= f, "first token between arrival and finish: %r" % r)
        if n > 1:
            check(abs(float(r["tpot"]) - (f - ft) / (n - 1)) < 1e-9, "tpot = (finish - first) / (n - 1): %r" % r)
    return gen


def scenario_azure_llm():
    """The committed Azure LLM sample slice on the embedded default: every request answered once, prompts
    clipped and rows that cannot fit dropped (both counted), the generation summary and plots present."""
    file_rows = open(AZURE_SAMPLE).read().splitlines()[1:]
    with tempfile.TemporaryDirectory() as d:
        rec, summ, plots = os.path.join(d, "r.csv"), os.path.join(d, "s.json"), os.path.join(d, "plots")
        rc, out, err = base.run(["replay", "--trace", AZURE_SAMPLE, "--format", "azure-llm", "--time-scale", "2",
                                 "--records", rec, "--summary", summ, "--plots", plots, "--no-progress"])
        print(out)
        check(rc == 0, "replay of the Azure LLM sample: rc %d\n%s\n%s" % (rc, out, err))
        s = json.load(open(summ))
        rows = records(rec)
        check(s["unanswered"] == 0 and s["duplicates"] == 0 and s["unknown_ids"] == 0, "exactly once: %r" % s)
        check(s["late_stream_frames"] == 0 and s["stream_mismatches"] == 0, "stream frames: %r" % s)
        check(len(rows) == s["overall"]["requests"], "one record per request")
        check(len(rows) + s["dropped_not_fitting"] == len(file_rows),
              "%d sent + %d dropped == %d rows of the file" % (len(rows), s["dropped_not_fitting"], len(file_rows)))
        check(s["clipped_prompts"] > 0, "ContextTokens of about 1,500 clipped to the models: %r" % s)
        if any(int(r.split(",")[2]) >= 256 for r in file_rows):
            check(s["dropped_not_fitting"] > 0, "rows with >= 256 new tokens fit no model: %r" % s)
        check({r["model"] for r in rows} <= DECODERS, "an LLM trace goes to the generating models only")
        g = s["overall"].get("generation")
        check(g is not None and sorted(g) == sorted(GEN_KEYS), "generation summary: %r" % g)
        check(g["requests"] == len(rows), "every request of an LLM trace is a generation: %r" % g)
        gen = check_generation_rows(rows)
        check(len(gen) == s["overall"]["ok"] > 0, "ok generations have tokens: %d of %r" % (len(gen), s["overall"]))
        check(g["ttft_p50_s"] > 0 and g["tpot_p50_s"] > 0 and g["tokens_per_s"] > 0, "measured: %r" % g)
        check(g["ttft_p50_s"] <= g["ttft_p90_s"] <= g["ttft_p99_s"] and g["tpot_p50_s"] <= g["tpot_p99_s"], "order")
        check(0 <= g["attainment"] <= s["overall"]["attainment"], "attainment (both SLOs) <= ok share: %r" % g)
        for m in s["models"]:
            if m["requests"] > 0:
                check(m.get("generation", {}).get("requests") == m["requests"], "per model: %r" % m)
        check("ttft p50" in out and "tok/s" in out, "the printed generation table")
        check(os.path.getsize(os.path.join(plots, "generation_cdf.png")) > 1000, "TTFT/TPOT CDF plot")
        check(os.path.getsize(os.path.join(plots, "latency_cdf.png")) > 1000, "latency CDF plot")
        print("azure-llm sample: %d requests, %d dropped, %d clipped; TTFT p50 %.1f ms, TPOT p50 %.2f ms, %.0f tok/s"
              % (len(rows), s["dropped_not_fitting"], s["clipped_prompts"], g["ttft_p50_s"] * 1e3,
                 g["tpot_p50_s"] * 1e3, g["tokens_per_s"]))
        # The same slice through the simulator (analytic profile): the same fitted requests, the same records
        # and summary keys, generations with tokens.
        srec, ssumm = os.path.join(d, "sr.csv"), os.path.join(d, "ss.json")
        rc, out, err = base.run(["replay", "--trace", AZURE_SAMPLE, "--format", "azure-llm", "--time-scale", "2",
                                 "--records", srec, "--summary", ssumm, "--no-progress", "--simulate",
                                 "--hardware", "V100-16GB", "--force"])
        check(rc == 0, "replay --simulate of the sample: rc %d\n%s" % (rc, err))
        ss, srows = json.load(open(ssumm)), records(srec)
        check(len(srows) == len(rows) and ss["dropped_not_fitting"] == s["dropped_not_fitting"], "same fitted trace")
        sg = ss["overall"].get("generation")
        check(sg is not None and sg["requests"] == len(rows), "simulated generation summary: %r" % sg)
        check(any(int(r["new_tokens"]) > 0 for r in srows) and sg["tokens_per_s"] > 0, "simulated tokens")
        print("simulated: TTFT p50 %.1f ms, TPOT p50 %.2f ms, %.0f tok/s" % (sg["ttft_p50_s"] * 1e3,
                                                                           sg["tpot_p50_s"] * 1e3, sg["tokens_per_s"]))


def metric_lines(port, prefix):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as m:
        return {l.split(" ")[0]: float(l.rsplit(" ", 1)[1]) for l in m.read().decode().splitlines()
                if l.startswith(prefix)}


def scenario_mixed():
    """A native trace mixing one-pass and generation requests, replayed into a running `up` (--target): an
    encoder asked to generate is answered invalid (by reason), a row whose new tokens leave no room for a
    prompt is dropped and counted, the rest is served once; KV blocks per device in /metrics, all back after."""
    with tempfile.TemporaryDirectory() as d:
        trace, rec, summ = os.path.join(d, "t.csv"), os.path.join(d, "r.csv"), os.path.join(d, "s.json")
        lines = ["arrival_s,model,input_tokens,slo_ms,output_tokens"]
        for i in range(40):
            m = ["tiny-gpt", "small-gpt", "tiny-bert", "small-bert"][i % 4]
            lines.append("%.3f,%s,%d,,%d" % (i * 0.02, m, 8 + i % 5, 4 + i % 9 if m in DECODERS else 0))
        lines.append("0.900,tiny-bert,8,,5")    # an encoder cannot generate: invalid
        lines.append("0.910,tiny-gpt,60,,10")   # clipped to 64 + 1 - 10 = 55 prompt tokens
        lines.append("0.920,tiny-gpt,8,,80")    # 80 new tokens > 64 positions: dropped, never sent
        for k in range(3):                      # long generations: KV held while /metrics is sampled
            lines.append("%.3f,small-gpt,8,,200" % (0.93 + 0.01 * k))
        with open(trace, "w") as f:
            f.write("\n".join(lines) + "\n")
        with Server() as srv:
            port = srv.ports["metrics"]
            p = subprocess.Popen([base.BIN, "replay", "--target", "127.0.0.1:%d" % srv.ports["msgpack"], "--trace",
                                  trace, "--records", rec, "--summary", summ, "--no-progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peak = {}
            while p.poll() is None:  # KV blocks per device while the replay runs
                for k, v in metric_lines(port, "sy_device_kv_blocks_used").items():
                    peak[k] = max(peak.get(k, 0), v)
                time.sleep(0.01)
            out, err = p.communicate(timeout=300)
            rc = p.returncode
            print(out)
            print("peak KV blocks used per device: %r" % peak)
            check(rc == 0, "replay --target: rc %d\n%s" % (rc, err))
            s = json.load(open(summ))
            rows = records(rec)
            check(len(rows) == 45 and s["unanswered"] == 0 and s["duplicates"] == 0, "45 sent, answered once: %r" % s)
            check(s["dropped_not_fitting"] == 1 and s["clipped_prompts"] == 1, "fit counts: %r" % s)
            check("1 requests dropped" in err and "no room for a prompt" in err, "the drop is logged: %s" % err)
            enc = rows[40]
            check(enc["model"] == "tiny-bert" and enc["status"] == "invalid" and "encoder" in enc["reason"],
                  "an encoder asked to generate: %r" % enc)
            check(rows[41]["status"] in ("ok", "rejected", "deadline_exceeded"), "the clipped prompt: %r" % rows[41])
            one_pass = [r for i, r in enumerate(rows[:40]) if i % 4 >= 2]
            check(all(r["status"] in ("ok", "rejected", "deadline_exceeded") and int(r["new_tokens"]) == 0
                      and float(r["first_token"]) == -1 for r in one_pass), "one-pass rows: answered, no tokens")
            check_generation_rows(rows)
            want = {i: 4 + i % 9 for i in range(40) if i % 4 < 2}
            want[41] = 10
            want.update({42: 200, 43: 200, 44: 200})
            served = {i: int(rows[i]["new_tokens"]) for i in want if rows[i]["status"] == "ok"}
            check(served and all(n == want[i] for i, n in served.items()),
                  "max_new_tokens honoured (ignore_eos): %r vs %r" % (served, want))
            print("generations served: %d of %d" % (len(served), len(want)))
            g = s["overall"]["generation"]
            check(g["requests"] == 21 + 1 + 3, "generation requests (the encoder's included): %r" % g)
            for m in s["models"]:
                check(("generation" in m) == (m["name"] in DECODERS or m["name"] == "tiny-bert"), "per model: %r" % m)
            check("tiny-bert" in out and "small-bert" in out and "ttft p50" in out, "both tables printed")
            # KV blocks per device: the decoders' devices (local/0, local/1) used blocks; all back afterwards.
            for dev in ("local/0", "local/1"):
                check(peak.get('sy_device_kv_blocks_used{device="%s"}' % dev, 0) > 0, "%s used KV blocks" % dev)
            check(all(v == 0 for k, v in peak.items() if "local/2" in k or "local/3" in k), "encoders hold no KV")
            kv = {}
            for _ in range(500):
                kv = metric_lines(port, "sy_device_kv_blocks_used")
                if kv and all(v == 0 for v in kv.values()):
                    break
                time.sleep(0.02)
            check(kv and all(v == 0 for v in kv.values()), "every block back in its device's pool: %r" % kv)
            check(srv.stop() == 0, "exit 0")


def fake_server(sock, misbehave):
    """A msgpack ingress stand-in: answers every generate with its token frames and a final frame; for the
    ids in `misbehave` it then sends one more token frame (id 0) or a second final answer (id 1)."""
    import msgpack
    import struct
    conn, _ = sock.accept()
    buf = b""
    out = []
    def frame(obj):
        body = msgpack.packb(obj)
        return struct.pack(">I", len(body)) + body
    while True:
        data = conn.recv(65536)
        if not data:
            break
        buf += data
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            req, buf = msgpack.unpackb(buf[4:4 + n], raw=False), buf[4 + n:]
            i, k = req["id"], req.get("max_new_tokens", 0)
            tokens = [(i + j) % 50 for j in range(k)]
            msg = b"".join(frame({"id": i, "index": j, "token": t}) for j, t in enumerate(tokens))
            final = {"id": i, "status": "ok", "reason": "", "tokens": tokens, "finish_reason": "length",
                     "timings": {"ttft_ms": 1.0}, "token_ms": [], "group": "fake", "preemptions": 0}
            msg += frame(final)
            if i == 0 and 0 in misbehave:
                msg += frame({"id": i, "index": k, "token": 1})
            if i == 1 and 1 in misbehave:
                msg += frame(final)
            conn.sendall(msg)
    conn.close()


def scenario_defects():
    """The driver's exactly-once checks against a server that breaks the promise: a token frame after the
    final answer and a second final answer are counted, reported and fail the replay (exit 1)."""
    import socket
    import threading
    with tempfile.TemporaryDirectory() as d:
        trace, summ = os.path.join(d, "t.csv"), os.path.join(d, "s.json")
        with open(trace, "w") as f:
            f.write("arrival_s,model,input_tokens,slo_ms,output_tokens\n")
            for i in range(6):
                f.write("%.2f,tiny-gpt,4,,3\n" % (i * 0.01))
        for misbehave, late, dup in (((), 0, 0), ((0,), 1, 0), ((1,), 0, 1)):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(1)
            t = threading.Thread(target=fake_server, args=(sock, misbehave), daemon=True)
            t.start()
            rc, out, err = base.run(["replay", "--target", "127.0.0.1:%d" % sock.getsockname()[1], "--trace", trace,
                                     "--connections", "1", "--answer-timeout", "5", "--summary", summ,
                                     "--no-progress"], timeout=120)
            sock.close()
            s = json.load(open(summ))
            print("misbehave %r: rc %d late %d duplicates %d" % (misbehave, rc, s["late_stream_frames"],
                                                                 s["duplicates"]))
            check(s["late_stream_frames"] == late and s["duplicates"] == dup, "counted: %r" % s)
            check(s["unanswered"] == 0 and s["overall"]["generation"]["requests"] == 6, "all answered: %r" % s)
            check(rc == (1 if late or dup else 0), "exit code %d for %r\n%s" % (rc, misbehave, err))
            if late:
                check("1 token frames after their final answer" in err, "reported: %s" % err)


SCENARIOS = {name[len("scenario_"):]: f for name, f in list(globals().items()) if name.startswith("scenario_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    base.BIN = a.bin
    t0 = time.monotonic()
    SCENARIOS[a.scenario]()
    print("e2e replay generation %s: passed in %.1f s" % (a.scenario, time.monotonic() - t0))
