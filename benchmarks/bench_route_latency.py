"""Decision latency per prompt on one CPU thread: the torch MiniLM path against the fast path
(static embedding distilled from MiniLM, numpy heads), side by side in one run.

Each path scores the same prompts (real MMLU/GSM8K prompts of at most 256 MiniLM tokens),
one call per prompt, nothing cached: the time from prompt text to routing score, features
and heads included. Reports p50/p95/p99 over all calls and the median of the per-pass p50s;
prints a table and JSON.

* ``torch-minilm``: ``SentenceEmbedder`` (all-MiniLM-L6-v2 in torch, ``torch.set_num_threads(1)``,
  cache off) + prompt features + the bundle's logistic heads.
* ``fast-path``: ``Router.score`` of the shipped static bundle (``tokenizers`` + numpy).

Usage::

    python benchmarks/bench_route_latency.py [--bundle classifiers/routellm-static-minilm]
        [--n 300] [--passes 3] [--quality bench_quality.json]

``--quality`` takes the JSON of ``bench_classifier_quality.py`` to print what the fast path
costs in APGR (variant ``default`` against ``minilm``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def percentiles(ms: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }


def time_calls(fn, prompts: list[str], passes: int) -> tuple[np.ndarray, list[float]]:
    for p in prompts[:20]:  # warm-up
        fn(p)
    all_ms, pass_p50 = [], []
    for _ in range(passes):
        ms = []
        for p in prompts:
            t0 = time.perf_counter_ns()
            fn(p)
            ms.append((time.perf_counter_ns() - t0) / 1e6)
        all_ms += ms
        pass_p50.append(float(np.median(ms)))
    return np.asarray(all_ms), pass_p50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(REPO / "classifiers" / "routellm-static-minilm"))
    ap.add_argument("--trace", default=str(REPO / "traces" / "routellm_azure"))
    ap.add_argument("--n", type=int, default=300, help="prompts per pass")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--quality", default=None, help="bench_classifier_quality.py JSON")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    import torch

    torch.set_num_threads(1)
    from simkit.classify.arrays import predict_head
    from simkit.classify.embed import SentenceEmbedder, load_tokenizer
    from simkit.classify.features import FEATURE_CLIP, prompt_features
    from simkit.router import Router
    from simkit.trace import load_trace

    t0 = time.perf_counter()
    router = Router.load(args.bundle)
    load_s = time.perf_counter() - t0
    bundle = router.bundle

    trace = load_trace(args.trace)
    emb = SentenceEmbedder(cache_dir=False, progress=False, device="cpu").fit()
    tok = load_tokenizer(emb.model_path_, None)
    prompts_all = [str(p) for p in trace.requests["prompt"]]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(prompts_all))
    prompts, lengths = [], []
    for i in order:
        n_tok = len(tok.encode(prompts_all[i]).ids)
        if n_tok <= 256:
            prompts.append(prompts_all[i])
            lengths.append(n_tok)
        if len(prompts) == args.n:
            break

    heads = bundle.manifest["heads"]
    arrays = bundle._arrays
    feats = bundle.manifest["features"]

    def torch_path(prompt: str) -> float:
        z = emb.transform([prompt]).astype(np.float64)
        f = (prompt_features([prompt]) - arrays["feature_mean"]) / arrays["feature_scale"]
        z = np.hstack([z, np.clip(f, -FEATURE_CLIP, FEATURE_CLIP) * feats["weight"]])
        q = [predict_head(h, {k: arrays[v] for k, v in h["arrays"].items()}, z) for h in heads]
        return float(q[-1][0] - q[0][0])

    rows = {}
    # interleave the two paths pass by pass so that machine load hits both alike
    both = {"torch-minilm": torch_path, "fast-path": router.score}
    collected = {k: ([], []) for k in both}
    for _ in range(args.passes):
        for name, fn in both.items():
            ms, p50s = time_calls(fn, prompts, 1)
            collected[name][0].extend(ms.tolist())
            collected[name][1].extend(p50s)
    for name, (ms, p50s) in collected.items():
        rows[name] = {
            **percentiles(np.asarray(ms)),
            "median_of_pass_p50_ms": float(np.median(p50s)),
            "calls": len(ms),
        }
    speedup = rows["torch-minilm"]["p50_ms"] / rows["fast-path"]["p50_ms"]

    apgr_cost = None
    if args.quality:
        q = json.loads(Path(args.quality).read_text())
        get = {
            (r["variant"], r["benchmark"], r["protocol"]): r["apgr"]
            for r in q["results"]
            if r["router"] == "classifier" and r["seed"] == 0
        }
        apgr_cost = {
            f"{b}/{p}": {"minilm": get.get(("minilm", b, p)), "fast": get.get(("default", b, p))}
            for b in ("mmlu", "gsm8k")
            for p in ("cv", "transfer")
        }

    print(f"{args.n} prompts of <= 256 MiniLM tokens (median {int(np.median(lengths))}, max "
          f"{max(lengths)}), {args.passes} passes, one thread; bundle load {load_s * 1e3:.0f} ms")  # fmt: skip
    print(f"{'path':<14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, r in rows.items():
        print(f"{name:<14} {r['p50_ms']:8.3f} {r['p95_ms']:8.3f} {r['p99_ms']:8.3f} "
              f"{r['mean_ms']:8.3f}")  # fmt: skip
    print(f"speed-up at p50: {speedup:.0f}x")
    if apgr_cost:
        print("APGR, torch MiniLM features vs the fast path (bench_classifier_quality.py):")
        for k, v in apgr_cost.items():
            if v["minilm"] is not None and v["fast"] is not None:
                print(f"  {k:<16} minilm {v['minilm']:.4f}  fast {v['fast']:.4f}  "
                      f"cost {v['minilm'] - v['fast']:+.4f}")  # fmt: skip
    payload = {
        "rows": rows,
        "speedup_p50": speedup,
        "bundle": args.bundle,
        "bundle_load_ms": load_s * 1e3,
        "prompt_tokens": {"median": int(np.median(lengths)), "max": int(max(lengths))},
        "apgr": apgr_cost,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "platform": platform.platform(),
            "processor": platform.processor(),
        },
    }
    print(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
