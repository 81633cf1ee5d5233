"""Fast-path candidates, side by side in one run: decision latency of a real bundle on one CPU
thread, and in-domain / out-of-domain APGR of the same recipe.

Candidates (each: prompt -> embedding -> prompt features -> logistic heads; selectable by
name with ``simkit classifier train --embedder NAME``):

* ``static``        the static table distilled from MiniLM (the shipped default);
* ``onnx-int8``     all-MiniLM-L6-v2 exported to ONNX, int8 dynamic quantisation, ONNX Runtime;
* ``onnx-fp32``     the same graph without quantisation;
* ``minilm``        the transformer in torch (``SentenceEmbedder``), for reference.

**Latency**: for each candidate a bundle is trained (on the quality sample below), exported,
loaded with :class:`simkit.router.Router` and asked ``decide(prompt)`` for ``--n`` prompts of
the evaluation sets (MMLU, GSM8K, Arena-Bench-v1; the ONNX and torch paths truncate at 256
tokens), one call per prompt, one thread everywhere (ONNX Runtime intra/inter-op, torch,
BLAS). The candidates take turns prompt by prompt over ``--passes`` passes, so machine load
hits each alike; the table gives p50/p95 and the ratio of each p50 to the static path's.

**Quality**: ``simkit.evaluation.evaluate_classifier`` with protocols ``cv`` (in domain,
5-fold within each source) and ``leave-one-domain-out`` (out of domain) on
``traces/routellm_azure`` + ``traces/arena_bench_v1``; ``--per-domain N`` samples N prompts
per source (seeded; ``0``: every prompt, the full evaluation of the default bundle's card).
APGR with 95 % bootstrap intervals.

Usage::

    python benchmarks/bench_fast_path.py            # full: every prompt (slow on 2 cores)
    python benchmarks/bench_fast_path.py --quick    # 600 prompts per source, 100 timed prompts
    python benchmarks/bench_fast_path.py --candidates static,onnx-int8 --json out.json

Needs the ``onnx`` extra (``pip install -e ".[onnx]"``) and torch (``classify``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
CANDIDATES = ("static", "onnx-int8", "onnx-fp32", "minilm")


def embedder(name: str):
    """The embedder a candidate name stands for (as ``simkit classifier train`` builds it)."""
    from simkit.classify.embed import SentenceEmbedder, StaticEmbedder
    from simkit.classify.onnx import OnnxEmbedder

    if name == "static":
        return StaticEmbedder()
    if name.startswith("onnx-"):
        return OnnxEmbedder(precision=name.removeprefix("onnx-"))
    if name == "minilm":
        return SentenceEmbedder(device="cpu")
    raise SystemExit(f"unknown candidate {name!r}; choose from {', '.join(CANDIDATES)}")


def sample_trace(trace, per_domain: int, seed: int = 0):
    """Up to ``per_domain`` requests with both outcomes per source (seeded); 0: all."""
    q = trace.quality_matrix([WEAK, STRONG]).to_numpy()
    source = trace.requests["source"].astype(str).to_numpy()
    ok = np.isfinite(q).all(axis=1)
    keep = np.zeros(len(source), dtype=bool)
    rng = np.random.default_rng(seed)
    for s in sorted(set(source)):
        idx = np.flatnonzero((source == s) & ok)
        if per_domain and idx.size > per_domain:
            idx = np.sort(rng.choice(idx, size=per_domain, replace=False))
        keep[idx] = True
    return trace.subset(keep)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--candidates",
        default=",".join(CANDIDATES[:3]),
        help=f"comma-separated, from {', '.join(CANDIDATES)} (default: the first 3)",
    )
    ap.add_argument(
        "--per-domain",
        type=int,
        default=0,
        help="prompts per source for quality and training (0: all)",
    )
    ap.add_argument("--n", type=int, default=300, help="timed prompts (default 300)")
    ap.add_argument("--passes", type=int, default=3, help="timed passes (default 3)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument(
        "--quick", action="store_true", help="--per-domain 600 --n 100 --passes 2 --bootstrap 200"
    )
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()
    if args.quick:
        args.per_domain, args.n, args.passes, args.bootstrap = 600, 100, 2, 200
    names = [c.strip() for c in args.candidates.split(",") if c.strip()]

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    import torch

    torch.set_num_threads(1)
    from simkit.classify.model import ComplexityClassifier
    from simkit.classify.train import train_bundle
    from simkit.evaluation import domain_trace, evaluate_classifier
    from simkit.router import Router
    from simkit.trace import load_trace

    full = domain_trace(
        [load_trace(REPO / "traces" / "routellm_azure"), load_trace(REPO / "traces" / "arena_bench_v1")],
        weak=WEAK, strong=STRONG,
    )  # fmt: skip
    trace = sample_trace(full, args.per_domain)
    print(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {len(trace.requests)} "
          f"requests ({'all' if not args.per_domain else f'<= {args.per_domain} per source'})",
          flush=True)  # fmt: skip

    quality: dict[str, dict] = {}
    routers: dict[str, Router] = {}
    sizes: dict[str, int] = {}
    tmp = tempfile.TemporaryDirectory(prefix="simkit-fast-path-")  # bundles: up to 91 MB each
    work = Path(tmp.name)
    for name in names:
        t0 = time.perf_counter()
        est = ComplexityClassifier(embedder(name), random_state=0)
        res = evaluate_classifier(
            trace, weak=WEAK, strong=STRONG, estimator=est,
            protocols=("leave-one-domain-out", "cv"), target_shares=(),
            n_bootstrap=args.bootstrap, seed=0,
        )  # fmt: skip
        m = res.metrics[res.metrics.router == "classifier"]
        rows = {
            f"{r.benchmark}/{r.protocol}": {"apgr": r.apgr, "ci": [r.apgr_lo, r.apgr_hi], "n": r.n}
            for r in m.itertuples()
        }
        ood = res.out_of_domain.iloc[0]
        cv = m[m.protocol == "cv"]
        quality[name] = {
            "ood_mean": {"apgr": ood.apgr, "ci": [ood.apgr_lo, ood.apgr_hi]},
            "in_domain_mean": float(cv.apgr.mean()),
            "rows": rows,
        }
        bundle = train_bundle(trace, work / name, weak=WEAK, strong=STRONG, estimator=est).path
        sizes[name] = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
        routers[name] = Router.load(bundle)
        print(f"{name}: quality and bundle in {time.perf_counter() - t0:.0f} s; out of domain "
              f"{ood.apgr:.3f} [{ood.apgr_lo:.3f}, {ood.apgr_hi:.3f}]", flush=True)  # fmt: skip

    prompts = [str(p) for p in full.requests["prompt"]]
    rng = np.random.default_rng(1)
    timed = [prompts[i] for i in rng.permutation(len(prompts))[: args.n]]
    for r in routers.values():
        for p in timed[:10]:  # warm-up: sessions, tables, first allocations
            r.decide(p)
    ms: dict[str, list[float]] = {k: [] for k in routers}
    for _ in range(args.passes):
        for p in timed:  # candidates take turns prompt by prompt
            for name, r in routers.items():
                t0 = time.perf_counter_ns()
                r.decide(p)
                ms[name].append((time.perf_counter_ns() - t0) / 1e6)
    base = float(np.median(ms["static"])) if "static" in ms else None
    latency = {
        k: {"p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)),
            "calls": len(v),
            "p50_vs_static": float(np.percentile(v, 50)) / base if base else None}
        for k, v in ms.items()
    }  # fmt: skip

    print(f"\n{'candidate':<10} {'p50 ms':>8} {'p95 ms':>8} {'x static':>8} {'bundle MB':>9} "
          f"{'OOD APGR [95% CI]':>24} {'in-domain':>9}")  # fmt: skip
    for name in names:
        lat, qu = latency[name], quality[name]
        ci = qu["ood_mean"]["ci"]
        ratio = "" if lat["p50_vs_static"] is None else f"{lat['p50_vs_static']:.1f}"
        print(f"{name:<10} {lat['p50_ms']:8.2f} {lat['p95_ms']:8.2f} {ratio:>8} "
              f"{sizes[name] / 1e6:9.1f} {qu['ood_mean']['apgr']:8.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
              f" {qu['in_domain_mean']:9.3f}")  # fmt: skip
    print("\nper source (APGR [95% CI]):")
    for key in quality[names[0]]["rows"]:
        cells = "  ".join(
            f"{n}: {quality[n]['rows'][key]['apgr']:.3f} [{quality[n]['rows'][key]['ci'][0]:.3f}, "
            f"{quality[n]['rows'][key]['ci'][1]:.3f}]"
            for n in names
        )
        print(f"  {key:<34} {cells}")
    payload = {
        "latency": latency,
        "quality": quality,
        "bundle_bytes": sizes,
        "settings": {"per_domain": args.per_domain, "n": args.n, "passes": args.passes,
                     "bootstrap": args.bootstrap, "max_tokens": 256, "threads": 1},
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                    "platform": platform.platform(), "python": platform.python_version()},
    }  # fmt: skip
    tmp.cleanup()
    text = json.dumps(payload, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
