"""A summary of a trace: what ``simkit trace inspect`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from simkit.trace.core import Trace
from simkit.trace.prefix import PREFIX_BLOCK_SIZE_KEY, PREFIX_BLOCKS_COLUMN, repeated_block_share

__all__ = ["format_summary", "summarize"]


def _stats(values: np.ndarray) -> dict[str, float | int | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    q = np.quantile(values, [0.5, 0.9, 0.99])
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "p50": float(q[0]),
        "p90": float(q[1]),
        "p99": float(q[2]),
        "max": float(values.max()),
    }


def summarize(trace: Trace) -> dict[str, Any]:
    """JSON-ready summary: sizes, time span, arrival rate, token stats, per-model quality."""
    req = trace.requests
    n = trace.n_requests
    duration = trace.duration_s
    models = {}
    for model, group in trace.outcomes.groupby("model", sort=True):
        q = group["quality"].to_numpy(dtype="float64", na_value=np.nan)
        scored = np.isfinite(q)
        models[str(model)] = {
            "outcomes": int(len(group)),
            "coverage": float(scored.sum() / n) if n else 0.0,
            "mean_quality": float(q[scored].mean()) if scored.any() else None,
            "output_tokens": _stats(
                group["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
            ),
        }
    out = {
        "name": trace.meta.get("name", trace.where),
        "n_requests": n,
        "duration_s": duration,
        "arrival_rate_per_s": (n - 1) / duration if duration > 0 else None,
        "with_prompt_text": int(req["prompt"].notna().sum()),
        "prompt_tokens": _stats(req["prompt_tokens"].to_numpy(dtype="float64", na_value=np.nan)),
        "output_tokens": _stats(req["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)),
        "sources": {
            str(k): int(v) for k, v in req["source"].value_counts(sort=False).sort_index().items()
        },
        "tags": {t: int(trace.has_tag(t).sum()) for t in _tags(trace)},
        "models": models,
        "scores": list(trace.score_names),
    }
    if PREFIX_BLOCKS_COLUMN in req.columns:  # only traces that carry prefix blocks
        blocks = req[PREFIX_BLOCKS_COLUMN].tolist()
        out["prefix_blocks"] = {
            "block_size": int(trace.meta[PREFIX_BLOCK_SIZE_KEY]),
            "blocks": int(sum(len(b) for b in blocks)),
            "repeated_share": repeated_block_share(blocks),
        }
    return out


def _tags(trace: Trace) -> list[str]:
    seen = set()
    for t in trace.requests["tags"].dropna():
        seen.update(x for x in str(t).split(",") if x)
    return sorted(seen)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v.is_integer():
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a short human-readable text block."""
    lines = [
        f"trace      {summary['name']}",
        f"requests   {summary['n_requests']:,}  over {_fmt(summary['duration_s'])} s  "
        f"(rate {_fmt(summary['arrival_rate_per_s'])} req/s)",
        f"prompts    {summary['with_prompt_text']:,} with text",
    ]
    for key in ("prompt_tokens", "output_tokens"):
        s = summary[key]
        lines.append(
            f"{key:<14} n={s['count']:,} mean={_fmt(s['mean'])} p50={_fmt(s['p50'])} "
            f"p99={_fmt(s['p99'])} max={_fmt(s['max'])}"
        )
    if summary["sources"]:
        lines.append("sources    " + ", ".join(f"{k} {v:,}" for k, v in summary["sources"].items()))
    if summary["tags"]:
        lines.append("tags       " + ", ".join(f"{k} {v:,}" for k, v in summary["tags"].items()))
    pb = summary.get("prefix_blocks")
    if pb:
        lines.append(
            f"prefixes   {pb['blocks']:,} blocks of {pb['block_size']:,} tokens, "
            f"{pb['repeated_share']:.1%} repeat an earlier block"
        )
    if summary["models"]:
        lines.append(f"{'model':<44} {'mean quality':>12} {'coverage':>9} {'out tok p50':>11}")
        for model, m in summary["models"].items():
            lines.append(
                f"{model:<44} {_fmt(m['mean_quality']):>12} {m['coverage']:>9.1%} "
                f"{_fmt(m['output_tokens']['p50']):>11}"
            )
    return "\n".join(lines)
