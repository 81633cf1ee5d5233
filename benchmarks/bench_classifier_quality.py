"""Classifier quality on the bundled MMLU + GSM8K trace: protocol (i) out-of-fold within each
benchmark and protocol (ii) transfer, next to the random router and RouteLLM's published
routers. Prints a table and JSON (also written to ``--out``).

Variants (``--variants``, comma separated; default ``default,no-features,minilm``):

* ``default``      static embedding distilled from MiniLM + cheap prompt features, logistic
                   heads, expected-gain score (the shipped bundle's recipe; the fast path)
* ``no-features``  the same without the prompt features
* ``minilm``       the full all-MiniLM-L6-v2 transformer + prompt features (the slow path;
                   embeds every prompt once, then cached)
* ``mlp``, ``knn``, ``hgb``  other heads over the default features
* ``brier``        hyper-parameters chosen by each head's Brier score instead of gain area
* ``label-weak-wrong``  binary target 1 - weak correct (the classic "weak not good enough")
* ``label-strong-better``  binary target 1[strong > weak]
* ``discordant``   a head aimed at the top of the ranking: one logistic regression on
                   ``1[strong right and weak wrong]`` against ``1[weak right and strong wrong]``,
                   rows where both agree kept at a low weight (chosen by inner grouped CV from
                   0.1/0.2/0.3/0.5 by gain area), the score averaged over the C grid, Platt-mapped
                   to ``p_hard`` on inner out-of-fold scores (not exportable as a bundle; an
                   experiment for the GSM8K CPT(50%) goal, see the report in the branch history)
* ``category``     CATEGORY-AWARE (not a prompt-only router): the benchmark subject is
                   prepended to the prompt, as a gateway that knows it could do

Usage::

    python benchmarks/bench_classifier_quality.py [--trace traces/routellm_azure]
        [--variants default,minilm] [--seeds 0] [--out results.json]

Runs on the CPU; about 3-6 minutes per variant on 2 cores (``minilm`` adds the one-off
embedding of 15k prompts, ~5 minutes, cached in the user cache directory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from simkit.classify.embed import SentenceEmbedder, StaticEmbedder
from simkit.classify.features import FEATURE_CLIP, prompt_features
from simkit.classify.model import (
    DEFAULT_GRIDS,
    ComplexityClassifier,
    gain_curve_area,
    grouped_folds,
    prompt_groups,
)
from simkit.classify.train import two_models
from simkit.evaluation import PUBLISHED, evaluate_classifier, routing_metrics
from simkit.trace import Trace, load_trace

REPO = Path(__file__).resolve().parent.parent


def estimator(variant: str, seed: int, cache_dir: str | None) -> ComplexityClassifier:
    static = StaticEmbedder(cache_dir=cache_dir)
    if variant in ("default", "category"):
        return ComplexityClassifier(static, random_state=seed)
    if variant == "no-features":
        return ComplexityClassifier(static, text_features=False, random_state=seed)
    if variant == "minilm":
        return ComplexityClassifier(SentenceEmbedder(cache_dir=cache_dir), random_state=seed)
    if variant in ("mlp", "knn", "hgb"):
        return ComplexityClassifier(static, head=variant, random_state=seed)
    if variant == "brier":
        return ComplexityClassifier(static, selection="brier", random_state=seed)
    raise SystemExit(f"unknown variant {variant!r}")


def with_category(trace: Trace) -> Trace:
    req = trace.requests.copy()
    req["prompt"] = "Subject: " + req["category"].fillna("") + "\n" + req["prompt"]
    return trace.replace(requests=req)


def binary_label_cv(trace: Trace, weak: str, strong: str, label: str, seed: int, cache_dir):
    """Protocol (i) with a 1-D binary target (label-design comparison)."""
    q = trace.quality_matrix([weak, strong]).to_numpy()
    prompts = [str(p) for p in trace.requests["prompt"]]
    source = trace.requests["source"].astype(str).to_numpy()
    static = StaticEmbedder(cache_dir=cache_dir).fit()
    emb = static.transform(prompts)
    rows = []
    for bench in sorted(set(source)):
        idx = np.flatnonzero(source == bench)
        w, s = q[idx, 0], q[idx, 1]
        y = (1.0 - w) if label == "label-weak-wrong" else (s > w).astype(float)
        groups = prompt_groups([prompts[i] for i in idx])
        scores = np.zeros(len(idx))
        for tr, te in grouped_folds(y.astype(int), groups, 5, seed):
            clf = ComplexityClassifier(static, random_state=seed).fit(
                [prompts[idx[i]] for i in tr], y[tr], embedded=emb[idx[tr]]
            )
            scores[te] = clf.p_hard([prompts[idx[i]] for i in te], embedded=emb[idx[te]])
        rows.append({"benchmark": bench, "protocol": "cv", **routing_metrics(scores, w, s)})
    return rows


TIE_WEIGHTS = (0.1, 0.2, 0.3, 0.5)


def _discordant_fit_score(z_tr, q_tr, groups, z_te, seed: int):
    """Fit the ``discordant`` recipe on training rows, return ``p_hard`` of the test rows.

    Everything is chosen on the training rows: the weight of the rows where both models
    agree (inner grouped 5-fold CV, gain area), and the Platt map (inner out-of-fold scores).
    """
    from sklearn.linear_model import LogisticRegression

    grid = DEFAULT_GRIDS["logistic"][1]
    diff = q_tr[:, 1] - q_tr[:, 0]
    y = (diff > 0).astype(int)
    folds = grouped_folds(np.sign(diff).astype(int), groups, 5, seed)

    def fit(c, rows, weight):
        return LogisticRegression(C=c, max_iter=5000).fit(z_tr[rows], y[rows], weight[rows])

    best = None
    for tie_w in TIE_WEIGHTS:
        weight = np.where(diff != 0, 1.0, tie_w)
        oof = np.zeros(len(z_tr))
        for c in grid:
            for tr, te in folds:
                oof[te] += fit(c, tr, weight).predict_proba(z_tr[te])[:, 1] / len(grid)
        area = gain_curve_area(oof, diff)
        if best is None or area > best[0]:
            best = (area, weight, oof)
    _, weight, oof = best
    every = np.arange(len(z_tr))
    score = np.mean([fit(c, every, weight).predict_proba(z_te)[:, 1] for c in grid], axis=0)
    platt = LogisticRegression(C=1e4, max_iter=5000).fit(oof.reshape(-1, 1), y)
    return platt.predict_proba(score.reshape(-1, 1))[:, 1]


def discordant_eval(trace: Trace, weak: str, strong: str, protocols, seed: int, cache_dir):
    """Protocols (i) and (ii) for the ``discordant`` recipe (static embedding + prompt
    features at weight 0.1, standardised on the training rows, as the default)."""
    q = trace.quality_matrix([weak, strong]).to_numpy()
    prompts = [str(p) for p in trace.requests["prompt"]]
    source = trace.requests["source"].astype(str).to_numpy()
    emb = np.asarray(StaticEmbedder(cache_dir=cache_dir).fit().transform(prompts), np.float64)
    feats = prompt_features(prompts)
    usable = np.isfinite(q).all(axis=1)
    groups = prompt_groups(prompts)

    def z(rows_fit, rows):
        mean, sd = feats[rows_fit].mean(axis=0), feats[rows_fit].std(axis=0)
        f = np.clip((feats[rows] - mean) / np.where(sd > 0, sd, 1.0), -FEATURE_CLIP, FEATURE_CLIP)
        return np.hstack([emb[rows], 0.1 * f])

    rows = []
    for bench in sorted(set(source[usable])):
        idx = np.flatnonzero((source == bench) & usable)
        for protocol in protocols:
            scores = np.zeros(len(idx))
            if protocol == "cv":
                strat = np.sign(q[idx, 1] - q[idx, 0]).astype(int)
                for tr, te in grouped_folds(strat, groups[idx], 5, seed):
                    a, b = idx[tr], idx[te]
                    scores[te] = _discordant_fit_score(z(a, a), q[a], groups[a], z(a, b), seed)
            else:
                a = np.flatnonzero((source != bench) & usable)
                scores = _discordant_fit_score(z(a, a), q[a], groups[a], z(a, idx), seed)
            m = routing_metrics(scores, q[idx, 0], q[idx, 1])
            rows.append({"benchmark": bench, "protocol": protocol, "router": "classifier", **m})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=str(REPO / "traces" / "routellm_azure"))
    ap.add_argument("--variants", default="default,no-features,minilm")
    ap.add_argument("--protocols", default="cv,transfer")
    ap.add_argument("--seeds", default="0", help="outer-fold seeds, comma separated")
    ap.add_argument("--benchmarks", default=None, help="only these sources, comma separated")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()

    trace = load_trace(args.trace)
    weak, strong = two_models(trace, None, None)
    seeds = [int(s) for s in args.seeds.split(",")]
    protocols = args.protocols.split(",")
    benchmarks = args.benchmarks.split(",") if args.benchmarks else None
    results = []
    for variant in args.variants.split(","):
        for seed in seeds:
            t0 = time.perf_counter()
            if variant == "discordant":
                rows = discordant_eval(trace, weak, strong, protocols, seed, args.cache_dir)
            elif variant.startswith("label-"):
                rows = binary_label_cv(trace, weak, strong, variant, seed, args.cache_dir)
                rows = [{**r, "router": "classifier"} for r in rows]
            else:
                t = with_category(trace) if variant == "category" else trace
                res = evaluate_classifier(
                    t,
                    weak=weak,
                    strong=strong,
                    estimator=estimator(variant, seed, args.cache_dir),
                    protocols=protocols,
                    benchmarks=benchmarks,
                    seed=seed,
                )
                rows = res.metrics.to_dict("records")
                if variant == "default" and seed == seeds[0]:
                    calibration = res.calibration.to_dict("records")
            wall = time.perf_counter() - t0
            if benchmarks:
                rows = [r for r in rows if r["benchmark"] in benchmarks]
            for r in rows:
                results.append({"variant": variant, "seed": seed, **r, "wall_s": wall})
                if r["router"] == "classifier":  # progress, as each variant finishes
                    print(f"[{variant} seed {seed}] {r['benchmark']} {r['protocol']}: APGR "
                          f"{r['apgr']:.4f} CPT50 {r['cpt50']:.2%} CPT80 {r['cpt80']:.2%}",
                          file=sys.stderr, flush=True)  # fmt: skip
            print(f"[{variant} seed {seed}: {wall:.0f} s]", file=sys.stderr, flush=True)

    print(f"trace {args.trace}: weak {weak}, strong {strong}")
    print(f"{'variant':<20} {'bench':<6} {'protocol':<9} {'router':<10} {'seed':>4} "
          f"{'APGR':>7} {'CPT50':>7} {'CPT80':>7} {'AUC':>7}")  # fmt: skip
    for r in results:
        if r["router"] == "random" and r["variant"] != results[0]["variant"]:
            continue
        print(f"{r['variant']:<20} {r['benchmark']:<6} {r['protocol']:<9} {r['router']:<10} "
              f"{r['seed']:>4} {r['apgr']:7.4f} {r['cpt50']:7.2%} {r['cpt80']:7.2%} "
              f"{r['auc']:7.2f}")  # fmt: skip
    print("\npublished (other protocol: trained on Arena battles + augmentation data):")
    for p in PUBLISHED:
        c50 = "-" if p["cpt50"] is None else f"{p['cpt50']:.2%}"
        print(f"  {p['benchmark']:<6} {p['router']:<48} APGR {p['apgr']:.3f} CPT50 {c50}")
    payload = {
        "trace": args.trace,
        "weak": weak,
        "strong": strong,
        "results": results,
        "calibration": locals().get("calibration"),
        "published": list(PUBLISHED),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "platform": platform.platform(),
        },
    }
    text = json.dumps(payload, indent=1, default=float)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
