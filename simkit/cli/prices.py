"""``simkit prices``: model prices from the shipped catalog."""

from __future__ import annotations

import argparse

#: The prices simkit's default fleet and docs assume (USD per 1M input / output tokens), checked
#: against the catalog by ``simkit prices --check-defaults``.
DEFAULT_PRICES = (
    ("GPT-4o", "gpt-4o", None, 2.50, 10.00),
    ("Claude 3.5 Sonnet", "claude-3-5-sonnet", None, 3.00, 15.00),
    ("Llama 3 70B hosted", "llama3-70b-8192", "groq", 0.59, 0.79),
    ("Llama 3 70B hosted (HF id)", "meta-llama/Meta-Llama-3-70B-Instruct", None, 0.59, 0.79),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prices",
        help="look up model prices in the shipped price catalog",
        description="Resolve model names to USD per 1M input/output tokens through the shipped "
        "genai-prices snapshot (match rules, then aliases), with optional YAML overrides.",
    )
    p.add_argument(
        "models", nargs="*", help="model names, e.g. gpt-4o mistralai/Mixtral-8x7B-Instruct-v0.1"
    )
    p.add_argument("--provider", default=None, help="restrict to one provider (e.g. openai, groq)")
    p.add_argument(
        "--at", default=None, help="price in force on this date (YYYY-MM-DD); default: latest"
    )
    p.add_argument("--overrides", default=None, help="YAML with 'prices:' and 'aliases:' sections")
    p.add_argument(
        "--check-defaults",
        action="store_true",
        help="compare the prices simkit's default fleet assumes with the catalog",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_prices)


def _run_prices(args: argparse.Namespace) -> int:
    from datetime import date

    from simkit.errors import PriceError
    from simkit.fleet.prices import PriceCatalog, load_price_overrides

    catalog = PriceCatalog.load()
    if args.overrides:
        catalog = load_price_overrides(args.overrides, catalog=catalog)
    try:
        at = date.fromisoformat(args.at) if args.at else None
    except ValueError:
        raise PriceError("--at", problem=f"expected YYYY-MM-DD, got {args.at!r}") from None
    rows = [catalog.resolve(m, provider=args.provider, at=at).as_dict() for m in args.models]
    if args.check_defaults:
        for label, model, provider, p_in, p_out in DEFAULT_PRICES:
            row = catalog.resolve(model, provider=provider, at=at).as_dict()
            row.update(
                label=label,
                assumed_input_usd_per_mtok=p_in,
                assumed_output_usd_per_mtok=p_out,
                matches_assumed=(row["input_usd_per_mtok"], row["output_usd_per_mtok"])
                == (p_in, p_out),
            )
            rows.append(row)
    if not rows:
        raise PriceError(
            None, problem="give model names or --check-defaults", hint="e.g. simkit prices gpt-4o"
        )
    if args.json:
        from simkit.cli.options import dumps

        print(dumps(rows, indent=2))
        return 0
    checked = any("matches_assumed" in r for r in rows)
    head = f"{'model':<40} {'$/M in':>8} {'$/M out':>8}  {'catalog entry (matched by)':<40}"
    if checked:
        head += "  assumed in/out"
    print(head)
    print("-" * len(head))
    for r in rows:
        line = (
            f"{r['model']:<40} {r['input_usd_per_mtok']:>8.4g} {r['output_usd_per_mtok']:>8.4g}  "
            f"{r['provider'] + '/' + r['catalog_id'] + ' (' + r['resolved_by'] + ')':<40}"
        )
        if "matches_assumed" in r:
            line += (
                f"  {r['assumed_input_usd_per_mtok']:.2f}/{r['assumed_output_usd_per_mtok']:.2f} "
                + ("same" if r["matches_assumed"] else "DIFFERENT")
            )
        print(line)
    return 0
