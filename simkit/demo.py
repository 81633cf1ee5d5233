"""``simkit demo``: the main job on the bundled data."""

from __future__ import annotations

import sys
from pathlib import Path

from simkit.metrics import DEFAULT_SLO_TTFT_S
from simkit.trace import Trace, load_trace, window
from simkit.trace.summary import format_summary, summarize

__all__ = [
    "DEMO_POLICIES",
    "DEMO_TRACE",
    "THRESHOLD_LABEL",
    "attribution",
    "bundled_traces",
    "compare_policies",
    "run_demo",
]


def _traces_root() -> Path:
    """Where the sample traces are: inside the installed package (a wheel or ``pip install .``
    copies them to ``simkit/bundled_traces``), else the ``traces/`` folder of the source
    checkout this package runs from (an editable install)."""
    packaged = Path(__file__).resolve().parent / "bundled_traces"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "traces"


def bundled_traces() -> list[Path]:
    """The sample traces shipped with simkit (``traces/`` of the repository)."""
    root = _traces_root()
    return (
        sorted(p for p in root.iterdir() if (p / "trace.json").is_file()) if root.is_dir() else []
    )


def run_demo() -> int:
    """Print a summary of every bundled trace, then compare routing policies on one of them."""
    paths = bundled_traces()
    if not paths:
        print(
            f"no bundled traces in {_traces_root()}: this simkit was installed without its "
            "sample traces. Install from a clone (`pip install -e .` or `pip install .`, "
            "README), or rebuild the traces with scripts/build_traces.py",
            file=sys.stderr,
        )
        return 1
    traces = {path.name: load_trace(path) for path in paths}
    for trace in traces.values():
        print(format_summary(summarize(trace)))
        print(attribution(trace))
        print()
    trace = traces.get(DEMO_TRACE)
    if trace is None:
        print(f"the policy comparison needs the bundled trace traces/{DEMO_TRACE}")
        return 1
    print(format_comparison(compare_policies(trace), DEMO_SLICE))
    print()
    burst = compare_policies(trace, policies=BURST_POLICIES, rate_multiplier=BURST_MULTIPLIER)
    print(
        format_comparison(
            burst,
            DEMO_SLICE,
            title=f"Burst: the same {DEMO_SLICE:,} requests arriving {BURST_MULTIPLIER:g}x as "
            "fast (same fleet and SLO); the self-hosted tier queues and a load-aware policy "
            "spills over to the hosted API.",
        )
    )
    return 0


# --- policy comparison -----------------------------------------------------------------------
#: The bundled trace the comparison runs on, and how many of its first requests.
DEMO_TRACE = "routellm_azure"
DEMO_SLICE = 4000
DEMO_SLO_TTFT_S = DEFAULT_SLO_TTFT_S

#: label -> policy spec (simkit.policies.build_policy) for the default 3-tier fleet. Threshold
#: and share policies use the trace's classifier score ``p_hard`` when it has one; without it
#: the share policy draws a uniform score (a random router that holds the share).
DEMO_POLICIES = {
    "all frontier": "static:tier=frontier",
    "all selfhosted": "static:tier=selfhosted",
    "random mix 1:1:1": "random:weights.selfhosted=1,weights.hosted=1,weights.frontier=1",
    "task heuristic": "task",
    "share 20% frontier": "share:target_share=0.2,score=null",
    "cascade (judge error 10%)": "cascade:judge_error=0.1",
    "privacy > cascade": "privacy>cascade:judge_error=0.1",
    "spill-over (wait > 1 s)": "spillover:max_wait_s=1>static:tier=selfhosted",
    "oracle": "oracle",
}


#: The burst scenario: arrivals compressed by this factor, and the policies compared there.
BURST_MULTIPLIER = 3.0
BURST_POLICIES = {
    "all selfhosted": "static:tier=selfhosted",
    "spill-over (wait > 1 s)": "spillover:max_wait_s=1>static:tier=selfhosted",
    "all hosted": "static:tier=hosted",
}

#: label of the classifier-threshold policy added when the trace has ``p_hard`` scores
THRESHOLD_LABEL = "threshold p_hard (20% frontier)"


def _policies_for(trace: Trace) -> dict[str, str]:
    """The demo policies; with classifier scores, a threshold calibrated on this traffic to
    send 20 % of requests to the frontier (simkit's one share rule,
    :func:`simkit.shares.threshold_for_share`), and the share policy ranks by the score instead
    of drawing one."""
    policies = dict(DEMO_POLICIES)
    if "p_hard" in trace.score_names:
        from simkit.shares import threshold_for_share

        cut = threshold_for_share(trace.scores["p_hard"].to_numpy(), 0.2)
        policies[THRESHOLD_LABEL] = f"threshold:p_hard={cut!r}"
        policies["share 20% frontier"] = "share:target_share=0.2,score=p_hard"
    return policies


def _apgr(label: str, spec: str, trace: Trace, weak: str, strong: str) -> float:
    """APGR where it is defined: routers that rank requests by a score between the cheapest
    tier's model and the frontier's (RouteLLM's procedure on this trace's outcomes)."""
    from simkit.metrics import apgr, routellm_curve, routellm_oracle_curve, routellm_random_curve
    from simkit.policies import parse_policy

    q = trace.quality_matrix([weak, strong])
    ok = q.notna().all(axis=1).to_numpy()
    w, s = q[weak].to_numpy()[ok], q[strong].to_numpy()[ok]
    chain = [parse_policy(spec)]  # outermost first
    while isinstance(chain[-1].get("base"), dict):
        chain.append(chain[-1]["base"])
    if chain[0]["policy"] == "oracle":
        return apgr(routellm_oracle_curve(w, s))
    if chain[0]["policy"] == "random" or ("score" in chain[-1] and chain[-1]["score"] is None):
        return apgr(routellm_random_curve(w, s))
    ranks_by_p_hard = any(p.get("score") == "p_hard" or "p_hard" in p for p in chain)
    if ranks_by_p_hard and "p_hard" in trace.score_names:
        return apgr(routellm_curve(trace.scores["p_hard"].to_numpy()[ok], w, s))
    return float("nan")


def compare_policies(  # noqa: ANN201
    trace: Trace,
    *,
    n_requests: int = DEMO_SLICE,
    seed: int = 0,
    policies: dict[str, str] | None = None,
    rate_multiplier: float = 1.0,
    n_jobs: int = 1,
):
    """Simulate every demo policy on the first ``n_requests`` of ``trace`` over the default
    fleet; one row per policy (a pandas DataFrame) with the headline numbers.

    ``policies`` (label -> spec) defaults to :data:`DEMO_POLICIES` plus the classifier
    threshold when the trace has scores; ``rate_multiplier`` divides the arrival times (3 =
    the same requests arriving three times as fast); ``n_jobs`` joblib workers run the
    simulations (:func:`simkit.sweep.sweep`; the table is the same for any ``n_jobs``)."""

    from simkit.fleet import load_fleet
    from simkit.metrics import summarize_runs
    from simkit.sweep import sweep

    trace = window(trace, n_requests=n_requests, rate_multiplier=rate_multiplier)
    fleet = load_fleet()
    weak, strong = fleet.tiers[0].quality_model, fleet.tiers[-1].quality_model
    chosen = _policies_for(trace) if policies is None else policies
    runs = sweep(trace, fleet, chosen, seeds=[seed], n_jobs=n_jobs, keep_records=True)
    labels = dict(enumerate(chosen.items()))  # run_id -> (label, spec): one seed per policy
    table = summarize_runs(runs.records, runs.endpoints, slo_ttft_s=DEMO_SLO_TTFT_S)
    table.insert(1, "policy", [labels[r][0] for r in table["run_id"]])
    table.insert(2, "spec", [labels[r][1] for r in table["run_id"]])
    table["apgr"] = [
        _apgr(labels[r][0], labels[r][1], trace, weak, strong) for r in table["run_id"]
    ]
    # the share columns in the fleet's order, cheapest first, as every simkit view lists tiers
    shares = [f"share_{t}" for t in fleet.tier_names if f"share_{t}" in table]
    rest = [c for c in table.columns if not c.startswith("share_") or c not in shares]
    at = next((i for i, c in enumerate(rest) if c == "apgr"), len(rest))
    return table[rest[:at] + shares + rest[at:]]


def format_comparison(table, n_requests: int, *, title: str | None = None) -> str:  # noqa: ANN001
    """The comparison as a fixed-width text table under its caption (``title`` instead of the
    standard caption, e.g. for a second table that shares the first one's settings)."""
    shares = [c for c in table.columns if c.startswith("share_")]
    w = max(26, *(len(str(p)) for p in table["policy"]))
    head = (
        f"{'policy':<{w}} {'$/1k req':>9} {'$/month':>10} {'quality':>8} {'APGR':>6} "
        f"{'p95 TTFT':>9} {'SLO':>6} {'priv':>5}  " + " ".join(f"{c[6:]:>10}" for c in shares)
    )
    caption = title or (
        f"Policy comparison: first {n_requests:,} requests of traces/{DEMO_TRACE} on the default "
        f"3-tier fleet (simkit/data/fleets/default.yaml); SLO = TTFT <= {DEMO_SLO_TTFT_S:g} s; "
        "monthly cost at the trace's arrival rate incl. GPU rental; APGR where defined "
        "(score routers between the self-hosted and frontier models)."
    )
    lines = [
        caption,
        head,
        "-" * len(head),
    ]
    for _, r in table.iterrows():
        apgr = "-" if r["apgr"] != r["apgr"] else f"{r['apgr']:.3f}"
        lines.append(
            f"{r['policy']:<{w}} {r['cost_per_1k_usd']:>9.3f} {r['monthly_cost_usd']:>10,.0f} "
            f"{r['mean_quality']:>8.3f} {apgr:>6} {r['p95_ttft_s']:>8.2f}s {r['slo_attainment']:>6.1%} "
            f"{int(r['privacy_violations']):>5}  " + " ".join(f"{r[c]:>10.1%}" for c in shares)
        )
    return "\n".join(lines)


def attribution(trace: Trace) -> str:
    """One line naming where a trace's data comes from, its licences and required citation."""
    meta = trace.meta
    line = f"data       {meta.get('licences', 'licence not recorded')}"
    if meta.get("attribution") and str(meta["attribution"]) not in line:
        line += f"; cite {meta['attribution']}"
    return line
