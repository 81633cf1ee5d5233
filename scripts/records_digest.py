"""Digests of ``simulate`` records on the shipped traces, to check a refactoring changes nothing.

    PYTHONPATH=. python scripts/records_digest.py [--n 0] [--without-event-count] [--json F]
    PYTHONPATH=/path/to/old/checkout python scripts/records_digest.py --json old.json
    python scripts/records_digest.py --compare old.json new.json

For every trace in ``traces/`` and every policy of the demo (plus the burst policies at 3x the
arrival rate), simulate on the default fleet with seed 0 and hash the whole records: the
requests frame (every column, every row), the endpoints frame, ``horizon_s`` and the event
counts of ``meta`` (``n_events``, ``gpu_steps``, ``preemptions``). Run it once with the old
code on ``PYTHONPATH`` and once with the new, then ``--compare``: any differing digest is
listed and the exit status is 1. Uses only the public API, so old and new checkouts run the same
script. ``--n`` limits each trace to its first N requests (0 = all).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

from simkit.fleet import load_fleet
from simkit.policies import build_policy
from simkit.sim import simulate
from simkit.trace import load_trace, window

TRACES = Path(__file__).resolve().parent.parent / "traces"

#: label -> policy spec on the default fleet (the demo's policies and its burst scenario)
POLICIES = {
    "static-frontier": "static:tier=frontier",
    "static-selfhosted": "static:tier=selfhosted",
    "random": "random:weights.selfhosted=1,weights.hosted=1,weights.frontier=1",
    "task": "task",
    "share": "share:target_share=0.2,score=null",
    "budget": "budget:usd_per_hour=0.5,score=null",
    "cascade": "cascade:judge_error=0.1",
    "privacy-cascade": "privacy>cascade:judge_error=0.1",
    "spillover": "spillover:max_wait_s=1>static:tier=selfhosted",
    "fallback": "fallback>static:tier=hosted",
    "oracle": "oracle",
}
BURST = {"spillover": POLICIES["spillover"], "static-selfhosted": POLICIES["static-selfhosted"]}


def records_digest(records, events: bool = True) -> str:  # noqa: ANN001 - Records of either checkout
    """SHA-256 over every value of the records that a refactoring must not change;
    ``events=False`` leaves out ``meta['n_events']`` (for a change meant to schedule fewer)."""
    h = hashlib.sha256()
    for frame in (records.requests, records.endpoints):
        h.update(",".join(frame.columns).encode())
        h.update(",".join(str(t) for t in frame.dtypes).encode())
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(repr(float(records.horizon_s)).encode())
    for key in ("n_events", "gpu_steps", "preemptions", "config_hash")[0 if events else 1 :]:
        h.update(f"{key}={records.meta.get(key)}".encode())
    return h.hexdigest()


def digests(n: int, events: bool = True) -> dict[str, str]:
    """``trace/scenario/policy`` -> digest for every shipped trace and policy."""
    fleet = load_fleet()
    out = {}
    for path in sorted(p for p in TRACES.iterdir() if (p / "trace.json").is_file()):
        full = load_trace(path)
        for rate, policies in ((1.0, POLICIES), (3.0, BURST)):
            trace = window(full, n_requests=n or full.n_requests, rate_multiplier=rate)
            for label, spec in policies.items():
                policy = build_policy(spec, fleet=fleet, trace=trace)
                rec = simulate(trace, fleet, policy, seed=0, allow_missing_quality=True)
                key = f"{path.name}/x{rate:g}/{label}"
                out[key] = records_digest(rec, events)
                print(f"{key:<48} {out[key][:16]}", file=sys.stderr)
    return out


def compare(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Keys whose digests differ or that only one side has."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def main(argv: list[str] | None = None) -> int:
    """Print (or write) the digests, or compare two digest files."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=0, help="first N requests of each trace (0 = all)")
    p.add_argument("--json", type=Path, help="write the digests here")
    p.add_argument(
        "--without-event-count",
        action="store_true",
        help="leave meta['n_events'] out of the digests (for a change that schedules fewer "
        "events and must leave every record the same)",
    )
    p.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = p.parse_args(argv)
    if args.compare:
        old, new = (json.loads(f.read_text()) for f in args.compare)
        bad = compare(old, new)
        for k in bad:
            print(f"DIFFERENT {k}: {old.get(k)} != {new.get(k)}")
        print(f"{len(old.keys() | new.keys()) - len(bad)} identical, {len(bad)} different")
        return 1 if bad else 0
    result = digests(args.n, events=not args.without_event_count)
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
