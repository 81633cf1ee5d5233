"""OpenAI-style chat-completion logs (JSON lines), as a gateway or proxy records them.

One JSON object per line and per call. Accepted shapes (keys at the top level of a line):

* ``request``: the chat-completions request body (``model``, ``messages``, ``max_tokens`` or
  ``max_completion_tokens``, ...), or a wrapper ``{"body": {...}, ...}`` around it;
* ``response``: the ``chat.completion`` response body (``id``, ``created``, ``model``,
  ``choices``, ``usage{prompt_tokens, completion_tokens}``), or a wrapper
  ``{"status_code": 200, "body": {...}}`` (the OpenAI Batch output shape);
* optional: an id (``request_id``, ``id`` or ``custom_id``; else the response's ``id``, else
  ``<file stem>/<line>``), a start time ``timestamp`` (epoch seconds, or an ISO 8601 string;
  else the response's ``created``), ``latency_s`` or ``latency_ms``, ``ttft_s`` or ``ttft_ms``,
  ``cost_usd``, ``category`` and ``tags`` (a list or a comma-separated string).

The prompt text is what the router scores in production,
:func:`simkit.trace.messages.messages_to_text`: the last user message that has text (its text
parts joined by ``"\\n"``). Parts without text (images, audio) are counted in
``meta['non_text_parts']``. Token counts filled in from text (``tokenizer=``) are taken over the
whole conversation, :func:`simkit.trace.messages.conversation_text`.

Each line becomes a request and, when the call succeeded, an outcome for the responding model
with ``output_tokens`` = ``completion_tokens`` and the observed latency and cost. Quality is
not in a log: it is NaN (recorded, not graded). A failed call (``error`` set, or a wrapper
``status_code`` >= 400) keeps its request without an outcome and is counted in
``meta['failed_calls']``. Arrival times are seconds from the earliest call.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.schema import check_rows
from simkit.trace.core import Trace
from simkit.trace.messages import conversation_text, messages_to_text
from simkit.trace.readers import read_jsonl
from simkit.trace.tokens import count_tokens, tokenizer_info

__all__ = ["load_openai_log"]


def _unwrap(obj: Any, key: str, path: Path, line: int) -> tuple[dict | None, int | None]:
    if obj is None:
        return None, None
    if not isinstance(obj, dict):
        raise TraceError(path, line=line, column=key, problem="expected a JSON object")
    if "body" in obj and isinstance(obj["body"], dict):
        status = obj.get("status_code")
        return obj["body"], status if isinstance(status, int) else None
    return obj, None


def _timestamp(rec: dict, response: dict | None, path: Path, line: int) -> int:
    """Start time in integer nanoseconds since the epoch."""
    for key in ("timestamp", "created_at", "start_time"):
        if key in rec and rec[key] is not None:
            v = rec[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                return int(round(float(v) * 1e9))
            if isinstance(v, str):
                try:
                    ts = pd.Timestamp(v)
                except ValueError:
                    ts = None
                if ts is not None and ts is not pd.NaT:
                    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
                    return int(ts.as_unit("ns").value)
            raise TraceError(
                path,
                line=line,
                column=key,
                problem=f"expected epoch seconds or an ISO 8601 time, got {v!r}",
            )
    created = response.get("created") if response else None
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        return int(round(float(created) * 1e9))
    raise TraceError(
        path,
        line=line,
        column="timestamp",
        problem="no start time: expected a top-level 'timestamp' or the response's 'created'",
    )


def _non_negative(rec: dict, keys: tuple[tuple[str, float], ...], path: Path, line: int) -> float:
    """The first of ``keys`` present, times its factor (e.g. ms -> s); NaN when none is."""
    for key, factor in keys:
        if rec.get(key) is not None:
            v = rec[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
                return float(v) * factor
            raise TraceError(
                path, line=line, column=key, problem=f"expected a number >= 0, got {v!r}"
            )
    return float("nan")


def _count(usage: dict | None, key: str, path: Path, line: int) -> int | None:
    if not usage or usage.get(key) is None:
        return None
    v = usage[key]
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    raise TraceError(
        path, line=line, column=f"response.usage.{key}", problem=f"expected a count >= 0, got {v!r}"
    )


def _id(rec: dict, response: dict | None, stem: str, line: int) -> str:
    for key in ("request_id", "id", "custom_id"):
        if isinstance(rec.get(key), (str, int)) and not isinstance(rec.get(key), bool):
            return str(rec[key])
    if response and isinstance(response.get("id"), str):
        return response["id"]
    return f"{stem}/{line}"


def _tags(value: Any, path: Path, line: int) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return ",".join(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return ",".join(t.strip() for t in value if t.strip())
    raise TraceError(path, line=line, column="tags", problem="expected a list of strings")


def _answer(response: dict) -> str | None:
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else None
    return None


def load_openai_log(
    path: str | PathLike[str],
    *,
    sort: bool = False,
    tokenizer: str | None = None,
    name: str | None = None,
) -> Trace:
    """Load an OpenAI-style chat-completion log (JSONL) into a :class:`Trace`.

    Parameters
    ----------
    path : path-like
        The log file, one call per line (shapes in the module docstring).
    sort : bool
        Sort calls by start time; by default calls out of order are an error (a log written at
        completion time is usually out of order: pass ``sort=True``).
    tokenizer : str, optional
        Count prompt and output tokens from the text where ``usage`` is missing.
    name : str, optional
        The trace's name in ``meta`` (default: the file stem).

    Raises
    ------
    TraceError
        A truncated or invalid line, a line without messages or model, a bad usage count, a
        duplicate id, or out-of-order calls without ``sort`` (naming the file, line and key).
    """
    p = Path(path)
    records = read_jsonl(p)
    non_text: dict[str, int] = {}
    rows, outs, failed = [], [], []
    seen: dict[str, int] = {}
    for line, rec in records:
        request, _ = _unwrap(rec.get("request"), "request", p, line)
        response, status = _unwrap(rec.get("response"), "response", p, line)
        if request is None:
            raise TraceError(
                p,
                line=line,
                column="request",
                problem="no request body: expected 'request' with 'messages' (a Batch output "
                "file alone has no prompts; join it with its input file first)",
            )
        messages = request.get("messages")
        where = {"source": p, "line": line, "key": "request.messages"}
        conversation = conversation_text(messages, **where, non_text=non_text)
        prompt = messages_to_text(messages, **where)
        model = (response or {}).get("model") or request.get("model")
        if not isinstance(model, str) or not model:
            raise TraceError(
                p, line=line, column="model", problem="no model in the response or the request"
            )
        rid = _id(rec, response, p.stem, line)
        if rid in seen:
            raise TraceError(
                p,
                line=line,
                column="id",
                problem=f"duplicate request id {rid!r} (first on line {seen[rid]})",
            )
        seen[rid] = line
        usage = (response or {}).get("usage")
        usage = usage if isinstance(usage, dict) else None
        max_tokens = request.get("max_tokens", request.get("max_completion_tokens"))
        if max_tokens is not None and (
            not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0
        ):
            raise TraceError(
                p,
                line=line,
                column="request.max_tokens",
                problem=f"expected a count, got {max_tokens!r}",
            )
        rows.append(
            {
                "request_id": rid,
                "_ns": _timestamp(rec, response, p, line),
                "_line": line,
                "prompt": prompt,
                "_conversation": conversation,
                "prompt_tokens": _count(usage, "prompt_tokens", p, line),
                "max_tokens": max_tokens,
                "category": rec.get("category") if isinstance(rec.get("category"), str) else None,
                "source": p.stem,
                "tags": _tags(rec.get("tags"), p, line),
            }
        )
        error = rec.get("error") or (response or {}).get("error")
        if response is None or error or (status is not None and status >= 400):
            reason = "error" if error else (f"status {status}" if status else "no response")
            failed.append((line, reason))
            continue
        outs.append(
            {
                "request_id": rid,
                "model": model,
                "quality": np.nan,
                "output_tokens": _count(usage, "completion_tokens", p, line),
                "latency_s": _non_negative(
                    rec, (("latency_s", 1.0), ("latency_ms", 1e-3)), p, line
                ),
                "ttft_s": _non_negative(rec, (("ttft_s", 1.0), ("ttft_ms", 1e-3)), p, line),
                "cost_usd": _non_negative(rec, (("cost_usd", 1.0),), p, line),
                "_answer": _answer(response),
            }
        )
    req = pd.DataFrame(rows)
    ns = req["_ns"].to_numpy(dtype=np.int64)
    back = np.diff(ns) < 0
    meta: dict[str, Any] = {
        "name": name or p.stem,
        "sources": [{"file": p.name, "format": "openai-log"}],
        "prompt_text": "the last user message with text (simkit.trace.messages.messages_to_text)",
        "quality": "not recorded in a log (NaN)",
        "time_origin": pd.Timestamp(int(ns.min()), tz="UTC").isoformat(),
        "failed_calls": {"count": len(failed), "first_line": failed[0][0] if failed else None},
    }
    if non_text:
        meta["non_text_parts"] = non_text
    if back.any():
        if not sort:
            check_rows(  # the later call of each backwards pair
                np.concatenate([[False], back]),
                where=p,
                column="timestamp",
                rows=req["_line"].to_numpy(dtype=np.int64),
                unit="line",
                problem=lambda i, n: (
                    f"calls must be in start-time order: this call started "
                    f"{(ns[i - 1] - ns[i]) / 1e9:g} s before the previous line's ({n} such lines)"
                ),
                hint="Pass sort=True (simkit trace convert --sort) to sort calls by start time",
            )
        order = np.argsort(ns, kind="stable")
        req = req.iloc[order].reset_index(drop=True)
        ns = ns[order]
        meta["sorted"] = f"calls sorted by start time; {int(back.sum())} were out of order"
    req["arrival_s"] = (ns - ns.min()) / 1e9
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
            "_answer",
        ],
    )
    if tokenizer is not None:
        todo = req["prompt_tokens"].isna().to_numpy()
        # the answering model reads the whole conversation, not only the scored text
        counted = count_tokens(req.loc[todo, "_conversation"], tokenizer=tokenizer).to_numpy()
        req["prompt_tokens"] = req["prompt_tokens"].astype("Int64")
        req.loc[todo, "prompt_tokens"] = counted
        todo_out = out["output_tokens"].isna().to_numpy() & out["_answer"].notna().to_numpy()
        out["output_tokens"] = out["output_tokens"].astype("Int64")
        out.loc[todo_out, "output_tokens"] = count_tokens(
            out.loc[todo_out, "_answer"], tokenizer=tokenizer
        ).to_numpy()
        meta["tokenizer"] = {
            **tokenizer_info(tokenizer),
            "prompts_counted": int(todo.sum()),
            "outputs_counted": int(todo_out.sum()),
        }
    req = req.drop(columns=["_ns", "_line", "_conversation"])
    out = out.drop(columns="_answer")
    for col in ("prompt_tokens", "max_tokens"):
        req[col] = pd.array(req[col].tolist(), dtype="Int64")
    out["output_tokens"] = pd.array(out["output_tokens"].tolist(), dtype="Int64")
    return Trace(req, out, meta=meta, where=str(p))
