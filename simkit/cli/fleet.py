"""``simkit fleet``: fleet specs from measurements (``calibrate``: from a live recording)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fleet",
        help="fleet specs from measurements (calibrate from a live recording)",
        description="Build fleet specs from measurements.",
    )
    fsub = p.add_subparsers(dest="fleet_command", metavar="FLEET_COMMAND")
    fsub.required = True
    c = fsub.add_parser(
        "calibrate",
        help="fit each recorded endpoint's TTFT, output speed and round trip into a fleet YAML",
        description="Fit an API tier per endpoint of a `simkit live record` output (lognormal "
        "TTFT, output speed and round trip, the fleet spec's shapes), write the fleet YAML, then "
        "replay the recorded requests through it (each endpoint's requests at the times they "
        "were sent, so at the recorded concurrency) and print simulated vs observed p50/p95 "
        "TTFT and end-to-end time.",
        epilog="example:\n  simkit fleet calibrate recorded/ --out fleet.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("recorded", help="the --out directory of `simkit live record`")
    c.add_argument("--out", required=True, help="fleet YAML to write")
    c.add_argument("--seed", type=int, default=0, help="seed of the simulated replay (default 0)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(func=_run_calibrate)


def compare(recorded, calibration, fleet, *, seed: int):  # noqa: ANN001, ANN201
    """Simulated vs observed p50/p95 TTFT and E2E per endpoint (one row per model and metric).

    Each endpoint's recorded requests arrive at the times they were sent, served by the
    endpoint's tier of the calibrated fleet (a static policy), so the simulated load is the
    recorded one.
    """
    import numpy as np
    import pandas as pd

    from simkit.live.calibrate import percentiles
    from simkit.policies import StaticPolicy
    from simkit.sim import simulate
    from simkit.trace import load_trace
    from simkit.trace.core import isin_strings

    trace = load_trace(recorded)
    rows = []
    for model, obs in calibration.observed.groupby("model", sort=False):
        req = trace.requests.set_index("request_id").loc[obs["request_id"]].reset_index()
        req["arrival_s"] = obs["start_s"].to_numpy()
        req = req.sort_values("arrival_s", kind="stable", ignore_index=True)
        outcomes = trace.outcomes[
            (trace.outcomes["model"] == model)
            & isin_strings(trace.outcomes["request_id"], req["request_id"])
        ]
        sub = trace.replace(requests=req, outcomes=outcomes.reset_index(drop=True), scores=None)
        recs = simulate(
            sub, fleet, StaticPolicy(model), seed=seed, allow_missing_quality=True
        ).requests
        done = recs[recs["status"] == "completed"]
        sim_ttft = (done["first_token_s"] - done["arrival_s"]).to_numpy()
        sim_e2e = (done["end_s"] - done["arrival_s"]).to_numpy()
        for metric, observed, simulated in (
            ("ttft_s", obs["ttft_s"].to_numpy(), sim_ttft),
            ("e2e_s", obs["e2e_s"].to_numpy(), sim_e2e),
        ):
            (o50, o95), (s50, s95) = percentiles(observed), percentiles(simulated)
            rows.append(
                {
                    "model": model,
                    "metric": metric,
                    "n_observed": int(np.isfinite(observed).sum()),
                    "n_simulated": len(simulated),
                    "observed_p50": o50,
                    "simulated_p50": s50,
                    "diff_p50": s50 / o50 - 1,
                    "observed_p95": o95,
                    "simulated_p95": s95,
                    "diff_p95": s95 / o95 - 1,
                }
            )
    return pd.DataFrame(rows)


def _run_calibrate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from simkit.fleet import load_fleet
    from simkit.live.calibrate import calibrate

    cal = calibrate(args.recorded)
    out = Path(args.out)
    out.write_text(cal.to_yaml(), "utf-8")
    fleet = load_fleet(out)
    table = compare(args.recorded, cal, fleet, seed=args.seed)
    if args.json:
        print(
            json.dumps(
                {"fleet": str(out), "spec": cal.spec, "comparison": table.to_dict("records")},
                allow_nan=False,
            )
        )
        return 0
    print(
        f"wrote {out}: {len(cal.spec['tiers'])} API tier(s) fitted to {len(cal.observed)} requests"
    )
    print(
        cal.fits.drop(columns=["usd_per_gpu_hour", "gpus"]).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )
    )
    print("\nsimulated vs observed, replayed at the recorded send times:")
    shown = table.copy()
    for c in ("diff_p50", "diff_p95"):
        shown[c] = shown[c].map(lambda v: f"{v:+.1%}")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0
