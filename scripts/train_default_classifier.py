"""Train simkit's default classifier bundle on the bundled trace, evaluate it, write its card.

One command (from the repository root, about 6-10 minutes on 2 CPU cores)::

    python scripts/train_default_classifier.py

It (1) distils the static embedding from the bundled all-MiniLM-L6-v2 (once; cached),
(2) evaluates the recipe on ``traces/routellm_azure`` with protocol (i) (5-fold out-of-fold
within MMLU and within GSM8K) and protocol (ii) (train on one benchmark, score the other),
(3) fits it on all 15,344 requests, calibrates thresholds for strong shares 10/20/30/50 % on
out-of-fold scores, (4) writes ``classifiers/routellm-static-minilm/`` with the metrics
and ``CARD.md``, and (5) stores protocol (i)'s out-of-fold ``p_hard`` in
``traces/routellm_azure/scores.parquet`` (the scores the simulator's threshold policies and
``simkit demo`` route on). The output is deterministic for given package versions.
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
from simkit.evaluation import evaluate_classifier
from simkit.trace import load_trace, save_trace

REPO = Path(__file__).resolve().parent.parent
NAME = "routellm-static-minilm"
COMMAND = "python scripts/train_default_classifier.py"


def _row(m, bench: str, protocol: str, router: str) -> dict:
    r = m[(m.benchmark == bench) & (m.protocol == protocol) & (m.router == router)]
    return r.iloc[0].to_dict()


def card(result, n_train: int, data_sha256: str, weak: str, strong: str, trace_name: str) -> str:
    m = result.metrics
    lines = [
        f"# {NAME}: simkit's default complexity classifier",
        "",
        "Scores a prompt with `p_hard`, the calibrated probability that the strong model "
        f"(`{strong}`) answers better than the cheap one (`{weak}`), and routes to the strong "
        "tier when `p_hard` reaches a threshold calibrated for a target strong-call share.",
        "",
        "## Data",
        f"- Trained on the bundled trace `traces/{trace_name}` (see `traces/PROVENANCE.md`): "
        f"{n_train} prompts, 14,037 MMLU (multiple-choice questions, 57 subjects) "
        "and 1,307 GSM8K (grade-school maths word problems), with the per-prompt correctness "
        "of both models recorded by RouteLLM (lm-sys/RouteLLM @ 0b64fda, Apache-2.0), "
        "decontaminated as RouteLLM does.",
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
        "- Estimator: one logistic regression per model predicting P(correct); the routing "
        "score is the expected gain P(strong correct) - P(weak correct), mapped by a Platt "
        "calibrator (fitted on inner out-of-fold gains) to `p_hard`. Regularisation chosen "
        "by 5-fold grouped inner cross-validation on the training rows only.",
        "- Stored as plain arrays (no pickle) with a SHA256SUMS manifest; the router needs "
        "numpy and `tokenizers` only.",
        "",
        "## Evaluation (RouteLLM metrics via `simkit.metrics.routing`)",
        "Protocol (i) `cv`: 5-fold out-of-fold scores within each benchmark, identical prompts "
        "in one fold, hyper-parameters chosen inside training folds. Protocol (ii) `transfer`: "
        "trained on the other benchmark only. CPT = strong-call share needed for that share of "
        "the weak-to-strong quality gap; AUC in percent correct. In brackets: 95 % bootstrap "
        "interval over requests with the scores held fixed (how much the number would move on "
        "another sample of this size); refitting with other fold seeds moves it too "
        "(`simkit classifier evaluate traces/routellm_azure --protocol cv --repeats 6`).",
        "",
        "| benchmark | protocol | router | APGR | CPT(50%) | CPT(80%) | AUC |",
        "|---|---|---|---|---|---|---|",
    ]

    def ci(r: dict, k: str, fmt: str) -> str:
        lo, hi = r.get(f"{k}_lo"), r.get(f"{k}_hi")
        if lo is None or lo != lo:
            return ""
        return f" [{lo:{fmt}}, {hi:{fmt}}]"

    for bench in ("mmlu", "gsm8k"):
        for protocol in ("cv", "transfer"):
            for router in ("classifier", "random"):
                r = _row(m, bench, protocol, router)
                lines.append(
                    f"| {bench} | {protocol} | {router} | {r['apgr']:.4f}{ci(r, 'apgr', '.3f')} | "
                    f"{r['cpt50']:.2%}{ci(r, 'cpt50', '.1%')} | "
                    f"{r['cpt80']:.2%}{ci(r, 'cpt80', '.1%')} | {r['auc']:.2f} |"
                )
    lines += [
        "",
        "Published routers on the same decontaminated sets, **different protocol** (trained on "
        "~65k Chatbot Arena battles plus augmentation: for MMLU, MMLU's own validation split; "
        "for GSM8K, GPT-4-judged Nectar prompts; no cross-validation on the benchmark):",
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
        "Thresholds calibrated to a target share, and the share they give on held-out data:",
        "",
        "| benchmark | protocol | target | calibration | held-out |",
        "|---|---|---|---|---|",
    ]
    for c in result.calibration.to_dict("records"):
        lines.append(
            f"| {c['benchmark']} | {c['protocol']} | {c['target_share']:.2f} | "
            f"{c['calibration_share']:.3f} | {c['holdout_share']:.3f} |"
        )
    lines += [
        "",
        "## Intended use",
        "- Routing between a cheap and a strong LLM on traffic that resembles MMLU-style "
        "knowledge questions and GSM8K-style maths problems; a starting point to retrain on "
        "your own recorded outcomes (`simkit classifier train`).",
        "- Producing `p_hard` scores for simkit's simulator (`simkit classifier score`).",
        "",
        "## Limits",
        "- Trained on two English benchmarks and one model pair. Transfer between the two "
        "benchmarks already loses much of the gain (table above): expect less on chat, code "
        "or other languages. Evaluate on your own traffic before relying on it.",
        "- Thresholds are quantiles of *this* training data. On other traffic the realised "
        "strong share drifts (transfer rows above: a 20 % threshold gives very different "
        "shares). Recalibrate on your prompts: `simkit classifier export BUNDLE --out NEW "
        "--calibrate-on YOUR_TRACE --share 0.2`.",
        "- Benchmark correctness is a proxy for answer quality; `p_hard` is calibrated on "
        "these benchmarks only.",
        "- Prompts are scored as text; multi-turn context other than the last user turn is "
        "ignored by the router.",
        "",
        "## Reproduce",
        "`python scripts/train_default_classifier.py` (bit-for-bit reproducible with the same "
        "package versions: one BLAS thread, seeded folds; a few minutes on 2 CPU cores). "
        "Quality and "
        "latency benchmarks: `benchmarks/bench_classifier_quality.py`, "
        "`benchmarks/bench_route_latency.py`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=str(REPO / "traces" / "routellm_azure"))
    ap.add_argument("--out", default=str(REPO / "classifiers" / NAME))
    ap.add_argument("--cache-dir", default=None, help="embedding cache (default ~/.cache/simkit)")
    ap.add_argument(
        "--no-scores",
        action="store_true",
        help="do not write the out-of-fold p_hard into the trace's scores.parquet",
    )
    args = ap.parse_args()
    # one BLAS thread: multi-threaded reductions change the fitted weights in the 13th digit
    # from run to run; with one thread the bundle's arrays are bit-for-bit reproducible
    threadpool_limits(limits=1)
    t0 = time.perf_counter()
    trace = load_trace(args.trace)
    weak, strong = two_models(trace, None, None)
    est = ComplexityClassifier(StaticEmbedder(cache_dir=args.cache_dir), random_state=0)
    result = evaluate_classifier(trace, weak=weak, strong=strong, estimator=est, seed=0)
    print(result.metrics.to_string(index=False))
    metrics = result.to_json()
    metrics["protocol"] = {
        "cv": "5-fold out-of-fold within each benchmark (source), identical prompts in one "
        "fold, inner 5-fold CV for hyper-parameters on training folds only, seed 0",
        "transfer": "trained on the other benchmark(s) of the trace, scored on this one",
    }
    # the card quotes the training data's hash and size, as the bundle records them
    q = trace.quality_matrix([weak, strong]).to_numpy(dtype=float)
    data_sha256 = training_data_hash(
        trace.requests["request_id"].astype(str).tolist(),
        [str(p) for p in trace.requests["prompt"]],
        q,
    )
    n_train = int(np.isfinite(q).all(axis=1).sum())
    text = card(result, n_train, data_sha256, weak, strong, Path(args.trace).name)
    trained = train_bundle(
        trace,
        args.out,
        weak=weak,
        strong=strong,
        estimator=est,
        metrics=metrics,
        card=text,
        extra_training={"trace": f"traces/{Path(args.trace).name}", "command": COMMAND},
    )
    wall = time.perf_counter() - t0
    print(f"wrote {trained.path} in {wall:.0f} s")
    if not args.no_scores:
        path = write_oof_scores(trace, result, Path(args.trace))
        print(f"wrote out-of-fold p_hard into {path}")


def write_oof_scores(trace, result, path: Path) -> Path:
    """Store protocol (i)'s out-of-fold ``p_hard`` as the trace's cached scores.

    The simulator's threshold policies (and ``simkit demo``) then route on honest scores: each
    request's score comes from a model that never saw it (5-fold within its benchmark), not
    from the bundle trained on every request, whose in-sample scores are over-confident.
    """
    parts = [df for (_bench, protocol), df in result.scores.items() if protocol == "cv"]
    oof = pd.concat(parts, ignore_index=True)[["request_id", "p_hard"]]
    meta = dict(trace.meta)
    meta["scores"] = {
        "p_hard": f"out-of-fold (protocol i: 5-fold within each benchmark, seed 0) p_hard of "
        f"the {NAME} recipe; written by `{COMMAND}`"
    }
    save_trace(trace.replace(meta=meta).with_scores(oof), path)
    return path


if __name__ == "__main__":
    main()
