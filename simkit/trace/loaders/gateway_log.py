"""The simkit gateway's decision log (JSON lines, format version 1) as a :class:`Trace`.

``simkit gateway serve`` appends one line per request it routed (the fields are documented
in :mod:`simkit.gateway.decisions`). Each line becomes

* a request: ``request_id``, ``arrival_s`` (seconds from the earliest request; lines are
  written when a request ends, so they are sorted by arrival here), ``prompt`` (the text when
  the gateway logged it, else ``<NA>``), ``prompt_tokens`` (the upstream's count),
  ``output_tokens``, ``max_tokens``, ``tags``, ``source`` = ``'gateway'``, and the extra
  columns ``prompt_sha256``, ``gateway_tier``, ``gateway_status``, ``gateway_fail_reason``,
  ``gateway_tiers_tried``;
* for a completed request, an outcome for the model that answered, with the observed
  ``latency_s``, ``ttft_s``, ``cost_usd`` and ``output_tokens`` (quality: NaN, not graded);
* its ``p_hard`` as the trace's score column, so a replay can re-run the threshold policy
  (when every line has one; a pass-through request without user text has none, and then the
  scores stay in the ``gateway_p_hard`` column of the requests).

Failed and cancelled requests keep their row without an outcome; their counts are in
``meta['gateway']``. Nothing is dropped: a line that is not a version-1 record is an error
naming the line and the key.
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.trace.core import Trace
from simkit.trace.readers import read_jsonl

__all__ = ["load_gateway_log"]

_STATUSES = ("completed", "failed", "cancelled")


def _count(rec: dict, key: str, p: Path, line: int) -> int | None:
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise TraceError(p, line=line, column=key, problem=f"expected a count >= 0, got {v!r}")
    return v


def _seconds(rec: dict, key: str, p: Path, line: int, *, required: bool = False) -> float:
    v = rec.get(key)
    if v is None and not required:
        return float("nan")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise TraceError(
            p, line=line, column=key, problem=f"expected a finite number >= 0, got {v!r}"
        )
    return float(v)


def load_gateway_log(path: str | PathLike[str], *, name: str | None = None) -> Trace:
    """Load a simkit gateway decision log into a :class:`Trace`.

    Parameters
    ----------
    path : path-like
        The ``decisions.jsonl`` the gateway wrote.
    name : str, optional
        The trace's name in ``meta`` (default: the file stem).

    Raises
    ------
    TraceError
        A line cut short (a gateway stopped while writing it: remove that line), a line that
        is not a version-1 decision record, a bad value or a duplicate request id (naming the
        file, the line and the key).
    """
    p = Path(path)
    rows, outs, p_hard = [], [], []
    seen: dict[str, int] = {}
    counts = dict.fromkeys(_STATUSES, 0)
    for line, rec in read_jsonl(p):
        if rec.get("v") != 1:
            raise TraceError(
                p,
                line=line,
                column="v",
                problem=f"expected a simkit gateway decision record of version 1, got "
                f"v={rec.get('v')!r}",
            )
        rid = rec.get("request_id")
        if not isinstance(rid, str) or not rid:
            raise TraceError(p, line=line, column="request_id", problem="missing or empty")
        if rid in seen:
            raise TraceError(
                p,
                line=line,
                column="request_id",
                problem=f"duplicate request id {rid!r} (first on line {seen[rid]})",
            )
        seen[rid] = line
        status = rec.get("status")
        if status not in _STATUSES:
            raise TraceError(
                p,
                line=line,
                column="status",
                problem=f"expected one of {', '.join(_STATUSES)}, got {status!r}",
            )
        counts[status] += 1
        tags = rec.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise TraceError(p, line=line, column="tags", problem="expected a list of strings")
        prompt = rec.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise TraceError(p, line=line, column="prompt", problem="expected a string")
        tier, model = rec.get("tier"), rec.get("model")
        if not isinstance(tier, str) or not isinstance(model, str):
            raise TraceError(
                p, line=line, column="tier", problem="expected the tier and model names"
            )
        attempts = rec.get("attempts", [])
        if not isinstance(attempts, list) or not all(
            isinstance(a, dict) and isinstance(a.get("tier"), str) for a in attempts
        ):
            raise TraceError(
                p, line=line, column="attempts", problem="expected a list of {tier, outcome}"
            )
        ph = rec.get("p_hard")
        if ph is not None and (
            isinstance(ph, bool) or not isinstance(ph, (int, float)) or not 0 <= ph <= 1
        ):
            raise TraceError(
                p, line=line, column="p_hard", problem=f"expected a number in [0, 1], got {ph!r}"
            )
        p_hard.append(float("nan") if ph is None else float(ph))
        output_tokens = _count(rec, "output_tokens", p, line)
        rows.append(
            {
                "request_id": rid,
                "_t": _seconds(rec, "time", p, line, required=True),
                "_line": line,
                "prompt": prompt,
                "prompt_tokens": _count(rec, "prompt_tokens", p, line),
                "output_tokens": output_tokens,
                "max_tokens": _count(rec, "max_tokens", p, line),
                "category": None,
                "source": "gateway",
                "tags": ",".join(tags),
                "prompt_sha256": rec.get("prompt_sha256"),
                "gateway_tier": tier,
                "gateway_status": status,
                "gateway_fail_reason": str(rec.get("fail_reason") or ""),
                "gateway_tiers_tried": ",".join(a["tier"] for a in attempts),
            }
        )
        if status == "completed":
            outs.append(
                {
                    "request_id": rid,
                    "model": model,
                    "quality": np.nan,
                    "output_tokens": output_tokens,
                    "latency_s": _seconds(rec, "latency_s", p, line),
                    "ttft_s": _seconds(rec, "ttft_s", p, line),
                    "cost_usd": _seconds(rec, "cost_usd", p, line),
                }
            )
    req = pd.DataFrame(rows)
    req["_p_hard"] = p_hard
    order = np.argsort(req["_t"].to_numpy(), kind="stable")
    req = req.iloc[order].reset_index(drop=True)
    t = req["_t"].to_numpy()
    req["arrival_s"] = t - t.min()
    scores = req["_p_hard"].to_numpy()
    all_scored = bool(np.isfinite(scores).all())
    if not all_scored:
        req["gateway_p_hard"] = scores
    req = req.drop(columns=["_t", "_line", "_p_hard"])
    for col in ("prompt_tokens", "output_tokens", "max_tokens"):
        req[col] = pd.array(req[col].tolist(), dtype="Int64")
    out = pd.DataFrame(
        outs,
        columns=[
            "request_id",
            "model",
            "quality",
            "output_tokens",
            "latency_s",
            "ttft_s",
            "cost_usd",
        ],
    )
    out["output_tokens"] = pd.array(out["output_tokens"].tolist(), dtype="Int64")
    meta: dict[str, Any] = {
        "name": name or p.stem,
        "sources": [{"file": p.name, "format": "gateway-log"}],
        "time_origin": pd.Timestamp(float(t.min()), unit="s", tz="UTC").isoformat(),
        "quality": "not recorded by the gateway (NaN)",
        "prompt_text": "logged" if req["prompt"].notna().all() else "hashed (prompt_sha256)",
        "gateway": {**counts, "scores": "p_hard" if all_scored else "column gateway_p_hard"},
    }
    trace = Trace(req, out, meta=meta, where=str(p))
    if all_scored:
        trace = trace.with_scores(pd.DataFrame({"request_id": req["request_id"], "p_hard": scores}))
    return trace
