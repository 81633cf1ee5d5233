"""``simkit route``: score one prompt with a classifier bundle and print the tier."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "route",
        help="score one prompt with a classifier bundle and print the tier",
        description="Route PROMPT (or an OpenAI-style messages JSON file) with a bundle.",
    )
    p.add_argument("prompt", nargs="?", default=None, help="the prompt text")
    p.add_argument("--bundle", required=True, help="a bundle directory")
    p.add_argument(
        "--messages", default=None, help="JSON file with an OpenAI-style messages list instead"
    )
    p.add_argument(
        "--threshold", default=None, help="a named threshold of the bundle or a p_hard value"
    )
    p.add_argument(
        "--fleet",
        default=None,
        help="fleet YAML whose tiers the bundle's tiers stand for, cheapest to cheapest and "
        "strongest to the frontier (default: the shipped 3-tier fleet)",
    )
    p.add_argument(
        "--bundle-sha256",
        default=None,
        metavar="HEX",
        help="refuse the bundle unless its digest (sha256 of its SHA256SUMS) is HEX",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_route)


def _run_route(args: argparse.Namespace) -> int:
    import json

    from simkit.cli.options import read_json_file
    from simkit.errors import ClassifierError
    from simkit.fleet import load_fleet
    from simkit.router import Router, fleet_tier_map

    if (args.prompt is None) == (args.messages is None):
        raise ClassifierError("give either PROMPT or --messages FILE")
    threshold = args.threshold
    if threshold is not None:
        try:
            threshold = float(threshold)
        except ValueError:
            pass
    query = (
        args.prompt
        if args.prompt is not None
        else read_json_file(
            args.messages, "--messages", 'a list of {"role": ..., "content": ...} objects'
        )
    )
    router = Router.load(args.bundle, threshold, sha256=args.bundle_sha256)
    d = router.decide(query)
    fleet = load_fleet(args.fleet)
    bundle_tiers = [t["tier"] for t in router.bundle.manifest["tiers"]]
    tier = fleet_tier_map(bundle_tiers, fleet.tier_names)[d.tier]
    model = fleet.tier(tier).endpoint.model
    if args.json:
        print(json.dumps({"tier": tier, "model": model, "bundle_tier": d.tier,
                          "quality_model": d.model, "p_hard": d.p_hard,
                          "threshold": d.threshold, "fleet": fleet.name},
                         allow_nan=False))  # fmt: skip
    else:
        print(
            f"{tier}\t{model}\tp_hard={d.p_hard:.4f}\tthreshold={d.threshold:.4f}\t"
            f"(fleet {fleet.name}: {', '.join(fleet.tier_names)}; bundle tier {d.tier!r})"
        )
    return 0
