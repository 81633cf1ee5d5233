"""``simkit classifier train|evaluate|learning-curve|export|score``."""

from __future__ import annotations

import argparse

from simkit.cli.options import (
    check_output_dir,
    dumps,
    parse_numbers,
    read_json_file,
    read_text_file,
    seed_arg,
)


def _add_estimator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--embedder",
        default="static",
        help="'static' (table distilled from the bundled MiniLM: the fast path, default), "
        "'static:FOLDER' (distilled from a local model), 'onnx-int8' / 'onnx-fp32' (the "
        "bundled MiniLM transformer exported to ONNX, int8-quantised or not, run by ONNX "
        "Runtime on one thread, prompts truncated at 256 tokens; the graph travels in the "
        "bundle; needs the 'onnx' extra), 'minilm' (the full all-MiniLM-L6-v2 transformer in "
        "torch) or a local sentence-transformers FOLDER",
    )
    p.add_argument(
        "--head",
        default="logistic",
        choices=["logistic", "mlp", "knn", "hgb"],
        help="per-model estimator (default logistic)",
    )
    p.add_argument(
        "--no-text-features", action="store_true", help="embedding only, no cheap prompt features"
    )
    p.add_argument("--weak", default=None, help="the cheap model (default: from the trace)")
    p.add_argument("--strong", default=None, help="the strong model (default: from the trace)")
    p.add_argument(
        "--seed", type=seed_arg, default=0, help="seed of folds and stochastic heads (>= 0)"
    )
    p.add_argument("--cache-dir", default=None, help="embedding cache (default: ~/.cache/simkit)")


def _estimator(args: argparse.Namespace):
    from simkit.classify.embed import SentenceEmbedder, StaticEmbedder
    from simkit.classify.model import ComplexityClassifier

    if args.embedder == "static":
        embedder = StaticEmbedder(cache_dir=args.cache_dir)
    elif args.embedder.startswith("static:"):
        embedder = StaticEmbedder(args.embedder.removeprefix("static:"), cache_dir=args.cache_dir)
    elif args.embedder in ("onnx-int8", "onnx-fp32"):
        from simkit.classify.onnx import OnnxEmbedder

        precision = args.embedder.removeprefix("onnx-")
        embedder = OnnxEmbedder(precision=precision, cache_dir=args.cache_dir)
    elif args.embedder == "minilm":
        embedder = SentenceEmbedder(cache_dir=args.cache_dir)
    else:
        embedder = SentenceEmbedder(args.embedder, cache_dir=args.cache_dir)
    return ComplexityClassifier(
        embedder,
        text_features=not args.no_text_features,
        head=args.head,
        random_state=args.seed,
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classifier",
        help="train, evaluate and export the complexity classifier",
        description="The complexity classifier: learn from a trace's per-model outcomes which "
        "requests need the strong model; evaluate it honestly; export a checksummed bundle.",
    )
    csub = p.add_subparsers(dest="classifier_command", metavar="CLASSIFIER_COMMAND")
    csub.required = True

    tr = csub.add_parser(
        "train",
        help="fit on a trace and write a bundle with thresholds for target strong shares",
        description="Fit the classifier on every request of TRACE and write a bundle to --out. "
        "Thresholds for each --share are calibrated on out-of-fold scores.",
    )
    tr.add_argument("trace", help="a simkit trace directory with prompts and outcomes")
    tr.add_argument("--out", required=True, help="bundle directory to write")
    tr.add_argument(
        "--shares",
        default="0.1,0.2,0.3,0.5",
        help="strong shares to calibrate thresholds for (default 0.1,0.2,0.3,0.5)",
    )
    tr.add_argument("--default-share", type=float, default=0.2, help="the router's default")
    _add_estimator_args(tr)
    tr.set_defaults(func=_run_classifier_train)

    ev = csub.add_parser(
        "evaluate",
        help="APGR, CPT(50%%), CPT(80%%) and AUC per benchmark: out of domain and in domain",
        description="Protocol leave-one-domain-out: for every source (the 'source' column of "
        "one or several traces: MMLU, GSM8K, Arena-Bench, your own categories) train on all "
        "the others and score the one left out; the line printed first is the mean over the "
        "held-out domains with its 95%% bootstrap interval. Protocol transfer: the same fits, "
        "without the summary. Protocol cv: k-fold out-of-fold scores within each source, "
        "identical prompts in one fold. Printed next to the random router and RouteLLM's "
        "published routers (trained on other data: Arena battles plus augmentation).",
    )
    ev.add_argument(
        "trace",
        nargs="+",
        help="one or several simkit trace directories with prompts and outcomes of the weak "
        "and the strong model (several: their sources are the domains)",
    )
    ev.add_argument(
        "--protocol",
        action="append",
        choices=["cv", "transfer", "leave-one-domain-out"],
        help="leave-one-domain-out, transfer and/or cv (repeatable; default "
        "leave-one-domain-out and cv)",
    )
    ev.add_argument("--benchmark", action="append", help="only these sources (repeatable)")
    ev.add_argument(
        "--label",
        choices=["gain", "irt"],
        default="gain",
        help="training labels of the pair: 'gain' (observed outcomes, default) or 'irt' "
        "(on sources with outcomes of more models than the pair, shrunk towards a Rasch model "
        "of every model's outcomes on that source)",
    )
    ev.add_argument(
        "--irt-shrinkage",
        type=float,
        default=0.3,
        help="with --label irt: weight of the Rasch expectation, in [0, 1) (default 0.3)",
    )
    ev.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    ev.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repeat the evaluation with fold seeds SEED, SEED+1, ... and report the mean and "
        "standard deviation over them (default 1; CPT on a benchmark of ~1,000 prompts moves "
        "a point or more between fold seeds)",
    )
    ev.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="resamples for the 95%% bootstrap intervals of APGR and CPT over requests "
        "(default 1000; 0 = none)",
    )
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (they go to stderr: repeats, benchmark x protocol steps, "
        "bootstrap resamples)",
    )
    _add_estimator_args(ev)
    ev.set_defaults(func=_run_classifier_evaluate)

    lc = csub.add_parser(
        "learning-curve",
        help="would more labelled traffic help? protocol cv trained on shares of each fold",
        description="Protocol cv with each fold's model trained on a fraction of its training "
        "prompts (the test folds stay whole): if APGR still rises and CPT still falls at the "
        "full training set, recording more outcomes of the same kind will improve the router.",
    )
    lc.add_argument("trace", help="a simkit trace directory with prompts and outcomes")
    lc.add_argument(
        "--fractions",
        default="0.25,0.5,0.75,1",
        help="shares of each training fold, comma separated (default 0.25,0.5,0.75,1)",
    )
    lc.add_argument("--benchmark", action="append", help="only these sources (repeatable)")
    lc.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    lc.add_argument(
        "--repeats", type=int, default=3, help="fold seeds SEED, SEED+1, ... (default 3)"
    )
    lc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_estimator_args(lc)
    lc.set_defaults(func=_run_classifier_learning_curve)

    ex = csub.add_parser(
        "export",
        help="re-export a bundle with thresholds calibrated on your traffic, metrics, a card",
        description="Copy BUNDLE to --out with new thresholds (calibrated on the prompts of "
        "--calibrate-on to a target strong share or a budget), metrics and/or card, and fresh "
        "checksums.",
    )
    ex.add_argument("bundle", help="a bundle directory")
    ex.add_argument("--out", required=True, help="the new bundle directory")
    ex.add_argument("--calibrate-on", default=None, help="trace whose prompts set the threshold")
    ex.add_argument("--share", type=float, default=None, help="target strong share, e.g. 0.2")
    ex.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        help="mean cost per request to stay within (needs --cheap-cost-usd, --strong-cost-usd)",
    )
    ex.add_argument("--cheap-cost-usd", type=float, default=None, help="cost of one cheap call")
    ex.add_argument("--strong-cost-usd", type=float, default=None, help="cost of one strong call")
    ex.add_argument("--metrics", default=None, help="JSON file to store as the bundle's metrics")
    ex.add_argument("--card", default=None, help="Markdown file to store as CARD.md")
    ex.set_defaults(func=_run_classifier_export)

    sc = csub.add_parser(
        "score",
        help="add the bundle's scores (p_hard, gain) to a trace directory",
        description="Score every prompt of TRACE with BUNDLE (cached) and write the trace "
        "with scores.parquet, for the simulator's threshold policies.",
    )
    sc.add_argument("trace", help="a simkit trace directory")
    sc.add_argument("--bundle", required=True, help="a bundle directory")
    sc.add_argument("--out", default=None, help="write the scored trace to this new directory")
    sc.add_argument(
        "--in-place",
        action="store_true",
        help="add the scores to TRACE itself (rewrites its files) instead of --out",
    )
    sc.add_argument("--cache-dir", default=None, help="score cache (default: ~/.cache/simkit)")
    sc.set_defaults(func=_run_classifier_score)


def _run_classifier_train(args: argparse.Namespace) -> int:
    from simkit.classify.train import train_bundle
    from simkit.trace import load_trace

    check_output_dir(args.out, "--out")
    trace = load_trace(args.trace)
    result = train_bundle(
        trace,
        args.out,
        weak=args.weak,
        strong=args.strong,
        estimator=_estimator(args),
        shares=parse_numbers(args.shares, "--shares", float, "fractions"),
        default_share=args.default_share,
    )
    print(f"wrote {result.path} ({result.n_train} training requests", end="")
    print(f", {result.n_excluded} left out for a missing outcome)" if result.n_excluded else ")")
    for name, th in result.thresholds.items():
        print(f"  {name}: p_hard >= {th['p_hard']:.6f} (share {th['calibration_share']:.3f})")
    return 0


def _run_classifier_evaluate(args: argparse.Namespace) -> int:
    from simkit.errors import ClassifierError
    from simkit.evaluation import evaluate_over_seeds

    if args.repeats < 1:
        raise ClassifierError(f"--repeats must be >= 1, got {args.repeats}")
    if args.bootstrap != 0 and args.bootstrap < 2:
        raise ClassifierError(
            f"--bootstrap must be 0 (none) or >= 2 resamples, got {args.bootstrap}"
        )
    trace, weak, strong = _evaluation_trace(args.trace, args.weak, args.strong)
    evaluated = evaluate_over_seeds(
        trace,
        weak=weak,
        strong=strong,
        estimator=_estimator(args),
        seeds=[args.seed + k for k in range(args.repeats)],
        protocols=args.protocol or ["leave-one-domain-out", "cv"],
        benchmarks=args.benchmark,
        n_splits=args.folds,
        n_bootstrap=args.bootstrap,
        progress=not args.no_progress,
        label=args.label,
        irt_shrinkage=args.irt_shrinkage,
    )
    seeds, results, summary = list(evaluated.seeds), evaluated.results, evaluated.summary
    result = results[0]
    if args.json:
        print(dumps(evaluated.to_json(), indent=2))
        return 0
    for res, seed in zip(results, seeds, strict=True):
        for r in res.out_of_domain.itertuples(index=False):
            ci, ci_c = _interval(r, "apgr", ".3f"), _interval(r, "cpt50", ".1%")
            print(f"OUT OF DOMAIN (leave-one-domain-out, seed {seed}, mean over "
                  f"{r.n_domains} held-out sources: {r.domains.replace(',', ', ')}): "
                  f"APGR {r.apgr:.3f}{ci}, CPT(50%) {r.cpt50:.1%}{ci_c}; "
                  f"random router {r.random_apgr:.3f}")  # fmt: skip
    print(f"weak {weak}, strong {strong}; CPT = strong-call share needed for that PGR")
    print("AUC % = area under the quality curve over strong shares 0-1, in percent correct")
    if args.bootstrap:
        print("[lo, hi]: 95% bootstrap interval over requests (scores fixed)")
    wb = max([9, *(len(b) for b in result.metrics["benchmark"])]) + 1
    wp = max([9, *(len(p) for p in result.metrics["protocol"])])
    print(f"{'benchmark':<{wb}} {'protocol':<{wp}} {'router':<11} {'seed':>4} {'APGR':>7} "
          f"{'[lo, hi]':>15} {'CPT50':>7} {'[lo, hi]':>15} {'CPT80':>7} {'AUC %':>7} {'n':>6}")  # fmt: skip
    for res, seed in zip(results, seeds, strict=True):
        for r in res.metrics.itertuples(index=False):
            if r.router == "random" and seed != seeds[0]:
                continue
            ci_a = ci_c = ""
            lo = getattr(r, "apgr_lo", float("nan"))
            if r.router == "classifier" and lo == lo:
                ci_a = f"[{r.apgr_lo:.3f}, {r.apgr_hi:.3f}]"
                ci_c = f"[{r.cpt50_lo:.1%}, {r.cpt50_hi:.1%}]"
            print(f"{r.benchmark:<{wb}} {r.protocol:<{wp}} {r.router:<11} {seed:>4} {r.apgr:7.4f} "
                  f"{ci_a:>15} {r.cpt50:7.2%} {ci_c:>15} {r.cpt80:7.2%} {r.auc:7.2f} "
                  f"{r.n:6d}")  # fmt: skip
    if summary is not None:
        print(f"\nover {len(seeds)} fold seeds ({seeds[0]}..{seeds[-1]}): mean +- sd")
        for r in summary.itertuples(index=False):
            print(f"  {r.benchmark:<{wb}} {r.protocol:<{wp}} APGR {r.apgr_mean:.4f} "
                  f"+- {r.apgr_sd:.4f}"
                  f"  CPT50 {r.cpt50_mean:.2%} +- {r.cpt50_sd:.2%}"
                  f"  CPT80 {r.cpt80_mean:.2%} +- {r.cpt80_sd:.2%}")  # fmt: skip
    print("\nthresholds calibrated to a target strong share, realised share on held-out data:")
    for r in result.calibration.itertuples(index=False):
        print(f"  {r.benchmark:<{wb}} {r.protocol:<{wp}} target {r.target_share:.2f}: calibration "
              f"{r.calibration_share:.3f}, held-out {r.holdout_share:.3f}")  # fmt: skip
    print("\npublished (different protocol: trained on Arena battles + augmentation data):")
    for r in result.published.itertuples(index=False):
        c50 = "   -   " if r.cpt50 is None or r.cpt50 != r.cpt50 else f"{r.cpt50:7.2%}"
        print(f"  {r.benchmark:<8} {r.router:<48} APGR {r.apgr:.3f}  CPT50 {c50}")
    return 0


def _interval(row, metric: str, fmt: str) -> str:
    """`` [lo, hi]`` of ``metric`` in ``row`` (a namedtuple), or "" without an interval."""
    lo, hi = getattr(row, f"{metric}_lo", None), getattr(row, f"{metric}_hi", None)
    if lo is None or lo != lo:
        return ""
    return f" [{lo:{fmt}}, {hi:{fmt}}]"


def _evaluation_trace(paths: list[str], weak: str | None, strong: str | None):
    """The trace to evaluate (several traces combined, their sources as domains) and the
    pair: as given, else from the first trace that names it (its meta or its two models)."""
    from simkit.classify.train import two_models
    from simkit.errors import ClassifierError
    from simkit.evaluation import domain_trace
    from simkit.trace import load_trace

    traces = [load_trace(p) for p in paths]
    if len(traces) == 1:
        weak, strong = two_models(traces[0], weak, strong)
        return traces[0], weak, strong
    if not (weak and strong):
        for t in traces:
            try:
                weak, strong = two_models(t, weak, strong)
                break
            except ClassifierError:
                continue
        else:
            raise ClassifierError(
                "name the weak and the strong model (--weak/--strong): none of "
                f"{', '.join(paths)} names the pair or has exactly two models"
            )
    return domain_trace(traces, weak=weak, strong=strong), weak, strong


def _run_classifier_learning_curve(args: argparse.Namespace) -> int:

    from simkit.classify.train import two_models
    from simkit.evaluation import learning_curve, seed_summary
    from simkit.trace import load_trace

    fractions = parse_numbers(args.fractions, "--fractions", float, "shares in (0, 1]")
    trace = load_trace(args.trace)
    weak, strong = two_models(trace, args.weak, args.strong)
    curve = learning_curve(
        trace,
        weak=weak,
        strong=strong,
        estimator=_estimator(args),
        fractions=fractions,
        benchmarks=args.benchmark,
        n_splits=args.folds,
        seeds=[args.seed + k for k in range(args.repeats)],
    )
    agg = seed_summary(
        curve, by=("benchmark", "fraction"), columns=("n_train", "apgr", "cpt50", "cpt80")
    )
    if args.json:
        print(
            dumps(
                {"per_seed": curve.to_dict("records"), "mean": agg.to_dict("records")},
                indent=2,
                default=float,
            )
        )
        return 0
    n_seeds = args.repeats
    print(f"weak {weak}, strong {strong}; protocol cv, mean (sd) over {n_seeds} fold seeds")
    print(f"{'benchmark':<10} {'fraction':>8} {'n_train':>8} {'APGR':>7} {'(sd)':>8} "
          f"{'CPT50':>7} {'(sd)':>8} {'CPT80':>7}")  # fmt: skip
    for r in agg.itertuples(index=False):
        sd_a = "" if r.apgr_sd != r.apgr_sd else f"({r.apgr_sd:.4f})"
        sd_c = "" if r.cpt50_sd != r.cpt50_sd else f"({r.cpt50_sd:.2%})"
        print(f"{r.benchmark:<10} {r.fraction:>8.2f} {r.n_train_mean:>8.0f} {r.apgr_mean:7.4f} "
              f"{sd_a:>8} {r.cpt50_mean:7.2%} {sd_c:>8} {r.cpt80_mean:7.2%}")  # fmt: skip
    return 0


def _run_classifier_export(args: argparse.Namespace) -> int:
    from simkit.classify.bundle import load_bundle, rebundle
    from simkit.classify.recalibrate import recalibrate
    from simkit.errors import ClassifierError
    from simkit.trace import load_trace

    check_output_dir(args.out, "--out")
    metrics = read_json_file(args.metrics, "--metrics") if args.metrics else None
    card = read_text_file(args.card, "--card") if args.card else None
    bundle = load_bundle(args.bundle)
    recal = None
    if args.share is not None or args.budget_usd is not None:
        if args.calibrate_on is None:
            raise ClassifierError("--share/--budget-usd need --calibrate-on TRACE")
        if args.share is not None and args.budget_usd is not None:
            raise ClassifierError("give --share or --budget-usd, not both")
        if args.budget_usd is not None and (
            args.cheap_cost_usd is None or args.strong_cost_usd is None
        ):
            raise ClassifierError("--budget-usd needs --cheap-cost-usd and --strong-cost-usd")
        recal = recalibrate(
            bundle,
            load_trace(args.calibrate_on),
            share=args.share,
            budget_usd=args.budget_usd,
            cheap_cost_usd=args.cheap_cost_usd,
            strong_cost_usd=args.strong_cost_usd,
            calibrated_on=args.calibrate_on,
        )
    out = rebundle(
        bundle,
        args.out,
        thresholds=None if recal is None else recal.thresholds,
        default_threshold=None if recal is None else recal.name,
        metrics=metrics,
        card=card,
    )
    print(f"wrote {out}")
    if recal is not None:
        th = recal.entry
        print(f"  {recal.name}: p_hard >= {th['p_hard']:.6f} (share {th['calibration_share']:.3f})")
    return 0


def _run_classifier_score(args: argparse.Namespace) -> int:
    from simkit.classify.scoring import score_trace
    from simkit.errors import ClassifierError
    from simkit.trace import load_trace, save_trace

    if (args.out is None) == (not args.in_place):
        raise ClassifierError(
            "give --out DIR (a new trace directory) or --in-place (rewrite TRACE with the "
            "scores), not both"
            if args.in_place
            else "give --out DIR (a new trace directory) or --in-place (rewrite TRACE with the "
            "scores); TRACE is not rewritten unless you ask"
        )
    check_output_dir(args.out, "--out")
    trace = load_trace(args.trace)
    scored = score_trace(trace, args.bundle, cache_dir=args.cache_dir)
    out = save_trace(scored, args.out or args.trace)
    p = scored.scores["p_hard"]
    print(f"wrote {out}: p_hard for {len(p)} requests (mean {p.mean():.4f})")
    return 0
