"""Out-of-domain quality of a classifier recipe: leave-one-domain-out over the shipped traces.

For every source of ``routellm_azure`` (MMLU, GSM8K) and ``arena_bench_v1`` (Arena-Bench-v1,
judge scores in [0, 1]), train on all other sources and score the one left out (the same fits
as ``simkit classifier evaluate TRACES --protocol leave-one-domain-out``, without the
threshold-calibration fits that do not change APGR), for each training label:

* ``gain``  the pair's observed outcomes (today's default recipe);
* ``irt``   the pair's outcomes shrunk towards a Rasch model of every model's outcomes on the
            same source (:mod:`simkit.classify.difficulty`; only Arena-Bench has more models
            than the pair).

Also ``routellm_azure`` alone: MMLU -> GSM8K and GSM8K -> MMLU. APGR and CPT(50 %) with 95 %
bootstrap intervals over requests; the out-of-domain mean over held-out domains with its
interval. Prints a table and JSON (also written to ``--out``).

Usage::

    python benchmarks/bench_ood.py [--embedder static|onnx-int8|onnx-fp32|minilm] [--labels gain,irt]
        [--bootstrap 1000] [--out ood.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simkit.classify.embed import SentenceEmbedder, StaticEmbedder  # noqa: E402
from simkit.classify.model import ComplexityClassifier  # noqa: E402
from simkit.evaluation import domain_trace, evaluate_classifier  # noqa: E402
from simkit.trace import load_trace  # noqa: E402

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
LODO = "leave-one-domain-out"


def _run(trace, label: str, embedder: str, n_bootstrap: int, shrinkage: float) -> dict:
    if embedder.startswith("onnx-"):
        from simkit.classify.onnx import OnnxEmbedder

        emb = OnnxEmbedder(precision=embedder.removeprefix("onnx-"))
    else:
        emb = StaticEmbedder() if embedder == "static" else SentenceEmbedder()
    t0 = time.perf_counter()
    res = evaluate_classifier(
        trace, weak=WEAK, strong=STRONG, estimator=ComplexityClassifier(emb),
        protocols=[LODO], target_shares=(), n_bootstrap=n_bootstrap, seed=0,
        label=label, irt_shrinkage=shrinkage,
    )  # fmt: skip
    out = res.to_json()
    return {
        "label": label,
        "embedder": embedder,
        "seconds": time.perf_counter() - t0,
        "out_of_domain": out["out_of_domain"],
        "held_out": {b: v[LODO] for b, v in out["metrics"].items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--embedder", default="static", choices=["static", "onnx-int8", "onnx-fp32", "minilm"]
    )
    ap.add_argument("--labels", default="gain,irt")
    ap.add_argument("--irt-shrinkage", type=float, default=0.3)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument(
        "--traces",
        default="both,azure",
        help="which runs: 'both' (routellm_azure + arena_bench_v1, every label) and/or 'azure' "
        "(routellm_azure alone, gain label), comma separated (default both,azure)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    azure = load_trace(REPO / "traces" / "routellm_azure")
    arena = load_trace(REPO / "traces" / "arena_bench_v1")
    both = domain_trace([azure, arena], weak=WEAK, strong=STRONG)
    runs = []
    todo = []
    if "both" in args.traces.split(","):
        todo += [
            ("routellm_azure + arena_bench_v1", both, label) for label in args.labels.split(",")
        ]
    if "azure" in args.traces.split(","):
        todo.append(("routellm_azure", azure, "gain"))
    print(f"{'traces':<32} {'label':<5} {'held out':<15} {'APGR':>6} {'95% CI':>15} "
          f"{'CPT50':>6} {'95% CI':>15} {'n':>6}", flush=True)  # fmt: skip
    for name, trace, label in todo:  # each run printed as soon as it is done
        r = {
            "traces": name,
            **_run(trace, label, args.embedder, args.bootstrap, args.irt_shrinkage),
        }
        runs.append(r)
        o = r["out_of_domain"]
        print(f"{r['traces']:<32} {r['label']:<5} {'MEAN (OOD)':<15} {o['apgr']:6.3f} "
              f"[{o['apgr_ci'][0]:.3f}, {o['apgr_ci'][1]:.3f}] {o['cpt50']:6.1%} "
              f"[{o['cpt50_ci'][0]:.1%}, {o['cpt50_ci'][1]:.1%}] {o['n']:6d}")  # fmt: skip
        for b, m in sorted(r["held_out"].items()):
            print(f"{'':<32} {'':<5} {b:<15} {m['apgr']:6.3f} "
                  f"[{m['apgr_ci'][0]:.3f}, {m['apgr_ci'][1]:.3f}] {m['cpt50']:6.1%} "
                  f"[{m['cpt50_ci'][0]:.1%}, {m['cpt50_ci'][1]:.1%}] {m['n']:6d}"
                  f"   random {m['random']['apgr']:.3f}", flush=True)  # fmt: skip
    payload = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "bootstrap": args.bootstrap,
        "runs": runs,
    }
    print(json.dumps(payload, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
