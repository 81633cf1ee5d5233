"""Train simkit's default classifier bundle on every shipped outcome trace, evaluate it, write
its card.

One command (from the repository root, about 10-15 minutes on 2 idle CPU cores)::

    python scripts/train_default_classifier.py

It (1) distils the static embedding from the bundled all-MiniLM-L6-v2 (once; cached),
(2) joins the shipped traces with outcomes of the pair (``traces/routellm_azure``: MMLU and
GSM8K; ``traces/arena_bench_v1``: Arena-Bench-v1's open-ended prompts, judge-scored) into one
multi-domain trace whose sources are the domains, (3) evaluates the recipe in domain
(protocol ``cv``: 5-fold out-of-fold within each source) and out of domain (protocol
``leave-one-domain-out``: trained on the other sources, scored on the one left out),
(4) fits it on every request with both outcomes, calibrates thresholds for strong shares
10/20/30/50 % on out-of-fold scores, (5) writes ``classifiers/routellm-static-minilm/`` with
the metrics and ``CARD.md``, and (6) stores the ``cv`` out-of-fold ``p_hard`` of
``routellm_azure``'s requests in ``traces/routellm_azure/scores.parquet`` (the scores the
simulator's threshold policies and ``simkit demo`` route on; each source's folds see only
that source, so these do not depend on the other traces). The output is deterministic for
given package versions (one BLAS thread, seeded folds and bootstrap).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from simkit.classify.bundle import training_data_hash
from simkit.classify.embed import StaticEmbedder
from simkit.classify.features import FEATURE_NAMES
from simkit.classify.model import ComplexityClassifier
from simkit.classify.train import train_bundle, two_models
from simkit.evaluation import domain_trace, evaluate_classifier
from simkit.trace import load_trace, save_trace

REPO = Path(__file__).resolve().parent.parent
NAME = "routellm-static-minilm"
COMMAND = "python scripts/train_default_classifier.py"
#: The shipped traces with outcomes of the pair, in the order they are joined.
TRACES = ("routellm_azure", "arena_bench_v1")
DOMAIN_NAMES = {
    "mmlu": "MMLU",
    "gsm8k": "GSM8K",
    "arena-bench-v1": "Arena-Bench-v1",
}


def _ci(r: dict, k: str, fmt: str) -> str:
    lo, hi = r.get(f"{k}_lo"), r.get(f"{k}_hi")
    if lo is None or lo != lo:
        return ""
    return f" [{lo:{fmt}}, {hi:{fmt}}]"


def _metric_cells(r: dict) -> str:
    return (
        f"{r['apgr']:.4f}{_ci(r, 'apgr', '.3f')} | {r['cpt50']:.2%}{_ci(r, 'cpt50', '.1%')} | "
        f"{r['cpt80']:.2%}{_ci(r, 'cpt80', '.1%')} | {r['auc']:.2f}"
    )


def card(
    result, n_train: int, data_sha256: str, weak: str, strong: str, counts: dict[str, int]
) -> str:
    m = result.metrics
    benches = [b for b in DOMAIN_NAMES if b in set(m.benchmark)]
    ood = result.out_of_domain.iloc[0].to_dict()
    sizes = ", ".join(f"{counts[b]:,} {DOMAIN_NAMES[b]}" for b in benches)
    lines = [
        f"# {NAME}: simkit's default complexity classifier",
        "",
        "Scores a prompt with `p_hard`, the calibrated probability that the strong model "
        f"(`{strong}`) answers better than the cheap one (`{weak}`), and routes to the strong "
        "tier when `p_hard` reaches a threshold calibrated for a target strong-call share.",
        "",
        "## Quality out of domain first",
        "Trained on every source but one and scored on the one left out (protocol "
        "`leave-one-domain-out`): what to expect on traffic unlike the training data. Mean over "
        f"the {int(ood['n_domains'])} held-out domains: **APGR {ood['apgr']:.3f} "
        f"[{ood['apgr_lo']:.3f}, {ood['apgr_hi']:.3f}]**, CPT(50%) {ood['cpt50']:.1%} "
        f"[{ood['cpt50_lo']:.1%}, {ood['cpt50_hi']:.1%}] (random routing: APGR "
        f"{ood['random_apgr']:.3f}). In domain (5-fold within each source) it does "
        "better; both are in the table below.",
        "",
        "## Data",
        f"- Trained on every shipped trace with outcomes of both models: {n_train:,} prompts, "
        f"{sizes}. `traces/routellm_azure`: MMLU (multiple-choice questions, 57 subjects) and "
        "GSM8K (grade-school maths word problems) with each model's correctness recorded by "
        "RouteLLM (lm-sys/RouteLLM @ 0b64fda, Apache-2.0), decontaminated as RouteLLM does. "
        "`traces/arena_bench_v1`: Arena-Bench-v1's open-ended prompts with GPT-4 judge scores "
        "/ 10 (lmarena/arena-hard-auto, Apache-2.0); prompts without a score of both models "
        "are left out. See `traces/PROVENANCE.md`.",
        f"- Training-data hash (ids, prompts, outcomes): `{data_sha256}`.",
        "",
        "## Model",
        "- Features: the static embedding distilled from the bundled all-MiniLM-L6-v2 "
        "(every vocabulary token run through the encoder alone, mean-pooled, centred; a prompt "
        "is the normalised mean of its tokens' vectors, no truncation) plus "
        f"{len(FEATURE_NAMES)} cheap prompt features (length, numbers, maths/code markers, "
        "answer options, passages, and the structure of a maths word problem: distinct "
        "quantities, number words, multiplicative/additive/conditional words, units, money, "
        "percentages, fractions, sentence and question length, an estimate of the arithmetic "
        "steps), standardised, clipped at 5 sd, weight 0.1. Only the prompt text is used: no "
        "benchmark or subject label.",
        "- Why the static table and not the transformer: the router must decide in p50 <= "
        "5 ms and p95 <= 20 ms on one CPU thread. The transformer inside the bundle (ONNX "
        "Runtime, int8 or fp32: `simkit classifier train --embedder onnx-int8`) took 20-50 "
        "times the static path's decision time side by side, above that limit, and out of "
        "domain it was not measurably better on the shipped data "
        "(`benchmarks/CLASSIFIER_EXPERIMENTS.md`, `benchmarks/bench_fast_path.py`). Those "
        "candidates stay selectable by name.",
        "- Estimator: one logistic regression per model predicting its quality; the routing "
        "score is the expected gain q(strong) - q(weak), mapped by a Platt calibrator (fitted "
        "on inner out-of-fold gains) to `p_hard`. Regularisation chosen by 5-fold grouped "
        "inner cross-validation on the training rows only.",
        "- Stored as plain arrays (no pickle) with a SHA256SUMS manifest; the router needs "
        "numpy and `tokenizers` only.",
        "",
        "## Evaluation (RouteLLM metrics via `simkit.metrics.routing`)",
        "`cv` (in domain): 5-fold out-of-fold scores within each source, identical prompts in "
        "one fold, hyper-parameters chosen inside training folds. `leave-one-domain-out` (out "
        "of domain): trained on the other sources only. CPT = strong-call share needed for "
        "that share of the weak-to-strong quality gap; AUC in percent of the best quality. In "
        "brackets: 95 % bootstrap interval over requests with the scores held fixed; refitting "
        "with other fold seeds moves the numbers too (`simkit classifier evaluate "
        "traces/routellm_azure traces/arena_bench_v1 --repeats 6`).",
        "",
        "| source | protocol | router | APGR | CPT(50%) | CPT(80%) | AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for protocol in ("leave-one-domain-out", "cv"):
        for bench in benches:
            for router in ("classifier", "random"):
                r = m[(m.benchmark == bench) & (m.protocol == protocol) & (m.router == router)]
                r = r.iloc[0].to_dict()
                lines.append(
                    f"| {DOMAIN_NAMES[bench]} | {protocol} | {router} | {_metric_cells(r)} |"
                )
    lines += [
        "",
        "Published routers on the same decontaminated MMLU and GSM8K sets, **different "
        "protocol** (trained on ~65k Chatbot Arena battles plus augmentation: for MMLU, "
        "MMLU's own validation split; for GSM8K, GPT-4-judged Nectar prompts; no "
        "cross-validation on the benchmark):",
        "",
        "| benchmark | router | APGR | CPT(50%) | CPT(80%) |",
        "|---|---|---|---|---|",
    ]
    for p in result.published.to_dict("records"):
        c50 = "-" if p["cpt50"] is None or p["cpt50"] != p["cpt50"] else f"{p['cpt50']:.2%}"
        c80 = "-" if p["cpt80"] is None or p["cpt80"] != p["cpt80"] else f"{p['cpt80']:.2%}"
        lines.append(f"| {p['benchmark']} | {p['router']} | {p['apgr']:.3f} | {c50} | {c80} |")
    lines += [
        "",
        "Thresholds calibrated to a target share, and the share they give on held-out data "
        "(out of domain: calibrated on the training sources' out-of-fold scores):",
        "",
        "| source | protocol | target | calibration | held-out |",
        "|---|---|---|---|---|",
    ]
    for c in result.calibration.to_dict("records"):
        lines.append(
            f"| {DOMAIN_NAMES.get(c['benchmark'], c['benchmark'])} | {c['protocol']} | "
            f"{c['target_share']:.2f} | {c['calibration_share']:.3f} | "
            f"{c['holdout_share']:.3f} |"
        )
    lines += [
        "",
        "## Intended use",
        "- A starting point for routing between a cheap and a strong LLM; retrain it on your "
        'own recorded outcomes (notebook 02, "Train on your own traffic"; `simkit '
        "classifier train`), which is the recommended path.",
        "- Producing `p_hard` scores for simkit's simulator (`simkit classifier score`).",
        "",
        "## Limits",
        "- Three English sources and one model pair. Out of domain it keeps only a small part "
        "of its in-domain gain (table above): expect little better than random on chat, code "
        "or other languages until it is trained on your traffic.",
        "- Thresholds are quantiles of *this* training data. On other traffic the realised "
        "strong share drifts (leave-one-domain-out rows of the threshold table). Recalibrate "
        "on your prompts: `simkit classifier export BUNDLE --out NEW --calibrate-on "
        "YOUR_TRACE --share 0.2`.",
        "- Benchmark correctness and judge scores are proxies for answer quality; `p_hard` is "
        "calibrated on these sources only.",
        "- Prompts are scored as text; multi-turn context other than the last user turn is "
        "ignored by the router.",
        "",
        "## Reproduce",
        "`python scripts/train_default_classifier.py` (bit-for-bit reproducible with the same "
        "package versions: one BLAS thread, seeded folds and bootstrap). Quality and latency "
        "benchmarks: `benchmarks/bench_ood.py`, `benchmarks/bench_fast_path.py`, "
        "`benchmarks/bench_route_latency.py`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--traces",
        nargs="+",
        default=[str(REPO / "traces" / name) for name in TRACES],
        help="traces with outcomes of the pair (default: every shipped one)",
    )
    ap.add_argument("--out", default=str(REPO / "classifiers" / NAME))
    ap.add_argument("--cache-dir", default=None, help="embedding cache (default ~/.cache/simkit)")
    ap.add_argument(
        "--no-scores",
        action="store_true",
        help="do not write the out-of-fold p_hard into routellm_azure's scores.parquet",
    )
    args = ap.parse_args()
    # one BLAS thread: multi-threaded reductions change the fitted weights in the 13th digit
    # from run to run; with one thread the bundle's arrays are bit-for-bit reproducible
    threadpool_limits(limits=1)
    t0 = time.perf_counter()
    traces = [load_trace(p) for p in args.traces]
    weak, strong = two_models(traces[0], None, None)
    trace = domain_trace(traces, weak=weak, strong=strong)
    est = ComplexityClassifier(StaticEmbedder(cache_dir=args.cache_dir), random_state=0)
    result = evaluate_classifier(
        trace,
        weak=weak,
        strong=strong,
        estimator=est,
        protocols=("leave-one-domain-out", "cv"),
        seed=0,
        progress=True,
    )
    print(result.out_of_domain.to_string(index=False))
    print(result.metrics.to_string(index=False))
    metrics = result.to_json()
    metrics["protocol"] = {
        "cv": "5-fold out-of-fold within each source, identical prompts in one fold, inner "
        "5-fold CV for hyper-parameters on training folds only, seed 0",
        "leave-one-domain-out": "trained on the other sources of the trace, scored on this "
        "one; out_of_domain is the mean over the held-out sources with a bootstrap interval",
    }
    # the card quotes the training data's hash and size, as the bundle records them
    q = trace.quality_matrix([weak, strong]).to_numpy(dtype=float)
    data_sha256 = training_data_hash(
        trace.requests["request_id"].astype(str).tolist(),
        [str(p) for p in trace.requests["prompt"]],
        q,
    )
    usable = np.isfinite(q).all(axis=1)
    source = trace.requests["source"].astype(str).to_numpy()
    counts = {b: int(((source == b) & usable).sum()) for b in sorted(set(source))}
    text = card(result, int(usable.sum()), data_sha256, weak, strong, counts)
    trained = train_bundle(
        trace,
        args.out,
        weak=weak,
        strong=strong,
        estimator=est,
        metrics=metrics,
        card=text,
        extra_training={
            # relative names: the bundle must not depend on where the repository lives
            "trace": " + ".join(f"traces/{Path(p).name}" for p in args.traces),
            "trace_name": " + ".join(Path(p).name for p in args.traces),
            "command": COMMAND,
        },
    )
    wall = time.perf_counter() - t0
    print(f"wrote {trained.path} in {wall:.0f} s")
    if not args.no_scores:
        path = write_oof_scores(traces[0], result, Path(args.traces[0]))
        print(f"wrote out-of-fold p_hard into {path}")


def write_oof_scores(trace, result, path: Path) -> Path:
    """Store protocol (i)'s out-of-fold ``p_hard`` as the trace's cached scores.

    The simulator's threshold policies (and ``simkit demo``) then route on honest scores: each
    request's score comes from a model that never saw it (5-fold within its benchmark), not
    from the bundle trained on every request, whose in-sample scores are over-confident.
    """
    parts = [df for (_bench, protocol), df in result.scores.items() if protocol == "cv"]
    oof = pd.concat(parts, ignore_index=True)[["request_id", "p_hard"]]
    oof = oof[oof["request_id"].isin(set(trace.requests["request_id"]))]
    meta = dict(trace.meta)
    meta["scores"] = {
        "p_hard": f"out-of-fold (protocol i: 5-fold within each benchmark, seed 0) p_hard of "
        f"the {NAME} recipe; written by `{COMMAND}`"
    }
    save_trace(trace.replace(meta=meta).with_scores(oof), path)
    return path


if __name__ == "__main__":
    main()
