#!/usr/bin/python3
"""Writes the traces that `switchyard replay` examples, tests and the demo replay (seeded, deterministic).

Nothing here is downloaded: the rows are made up to look like the real files.

- examples/traces/azure_llm_code_sample.csv: a 20-second slice in the format of the Azure LLM inference
  trace 2023 (`TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps "YYYY-MM-DD HH:MM:SS.fffffff" as in
  AzureLLMInferenceTrace_code.csv). Its rows are SYNTHETIC: arrivals a Gamma process (about 2.5 req/s,
  CV 1.5, as the code trace's hourly rate), ContextTokens log-normal (median about 1,500), GeneratedTokens
  log-normal (median about 14, a long tail; a few rows 0, as the real file has), the shapes the Splitwise
  paper reports for the code trace. Replayed on the embedded default, prompts are clipped to the small
  models' max positions (counted) and rows whose GeneratedTokens leave no room are dropped (counted).
- examples/traces/azure_llm_code_750.csv: the same generator and format, 750 rows (about 300 s at 2.5 req/s):
  the "750 requests at 5x" of issue 11 §3. The one-pass fidelity comparison (README "Fidelity on cpu devices")
  replays its arrivals as one-pass requests (`switchyard trace convert --max-seq 64`, output column cut).
- examples/traces/azure_llm_code_cal.csv: the same generator and format, 120 s (another seed): the calibration
  slice of the generation fidelity comparison (`replay --fit-profile`), disjoint from the 750 rows it predicts.
- examples/traces/demo.csv: the README's main command (scripts/demo.sh): 12 s, about 16 req/s over the
  embedded default's four models, Gamma arrivals (CV 2) with power-law popularity as `replay --rate 16 --cv 2`;
  requests to the encoders are one-pass (16 tokens), requests to the decoders generate (prompt 16,
  4-16 new tokens, `output_tokens` column).

Usage: scripts/make_replay_traces.py [OUT_DIR]   (default: examples/traces)
"""
import datetime
import math
import os
import random
import sys


def gamma_arrivals(rng, rate, cv, duration):
    shape, scale = 1 / cv ** 2, cv ** 2 / rate
    t, out = 0.0, []
    while True:
        t += rng.gammavariate(shape, scale)
        if t >= duration:
            return out
        out.append(t)


def azure_code_sample(path, seed=2023, duration=20.0, max_rows=None):
    rng = random.Random(seed)
    start = datetime.datetime(2023, 11, 16, 18, 15, 46)
    rows = []
    arrivals = gamma_arrivals(rng, 2.5, 1.5, duration)
    for t in arrivals[:max_rows] if max_rows else arrivals:
        ctx = max(1, int(rng.lognormvariate(math.log(1500), 0.9)))
        gen = 0 if rng.random() < 0.03 else max(1, int(rng.lognormvariate(math.log(14), 1.1)))
        ts = start + datetime.timedelta(seconds=t)
        rows.append("%s.%07d,%d,%d" % (ts.strftime("%Y-%m-%d %H:%M:%S"), ts.microsecond * 10 + rng.randrange(10),
                                       ctx, gen))
    with open(path, "w") as f:
        f.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
        f.write("\n".join(rows) + "\n")
    return len(rows)


def demo(path, seed=1):
    rng = random.Random(seed)
    models = ["tiny-gpt", "small-gpt", "tiny-bert", "small-bert"]
    decoders = {"tiny-gpt", "small-gpt"}
    weights = [(i + 1) ** -0.5 for i in range(len(models))]
    total = 16.0
    rows = []
    for m, w in zip(models, weights):
        for t in gamma_arrivals(rng, total * w / sum(weights), 2.0, 12.0):
            out = rng.randint(4, 16) if m in decoders else 0
            rows.append((t, m, 16, out))
    rows.sort()
    with open(path, "w") as f:
        f.write("arrival_s,model,input_tokens,slo_ms,output_tokens\n")
        for t, m, n, out in rows:
            f.write("%.4f,%s,%d,,%d\n" % (t, m, n, out))
    return len(rows)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples", "traces")
    os.makedirs(out, exist_ok=True)
    print("azure_llm_code_sample.csv: %d rows" % azure_code_sample(os.path.join(out, "azure_llm_code_sample.csv")))
    print("azure_llm_code_750.csv: %d rows" % azure_code_sample(os.path.join(out, "azure_llm_code_750.csv"),
                                                               seed=750, duration=400.0, max_rows=750))
    print("azure_llm_code_cal.csv: %d rows" % azure_code_sample(os.path.join(out, "azure_llm_code_cal.csv"),
                                                               seed=4242, duration=120.0))
    print("demo.csv: %d rows" % demo(os.path.join(out, "demo.csv")))
