"""Record live outcomes: send a sample of a trace's prompts to chosen endpoints, grade, save.

:func:`record` (and ``simkit live record``) sends each sampled prompt, as one user message, to
each chosen endpoint through ``openai.AsyncOpenAI`` with streaming and
``stream_options={"include_usage": True}``, and writes one JSON line per (request, model).
The client builds and sends each request and turns an error status into its exception; the
streamed chunks are read as plain JSON from its raw streaming response
(``with_streaming_response``), not built into the client's typed objects, which cost more CPU
than the rest of the request (``benchmarks/bench_live.py`` measures the recorder against a
bare loop over the typed stream). Each record:

==================  ===========================================================================
``status``          ``ok``, ``error``, ``timeout``, ``rate_limited``, ``context_exceeded`` or
                    ``cancelled`` (in flight at Ctrl-C; sent again by ``--resume``); ``reason``
``ttft_s``          send to first content chunk; ``e2e_s`` send to last chunk
``itl_*_s``         inter-token gaps: mean, p50, p95, max (one chunk is one token for vLLM/OpenAI)
``prompt_tokens``   from the API's usage; ``usage_reported`` false when the server sent none
                    (then counted locally with cl100k)
``cost_usd``        every attempt's tokens at the endpoint's price, plus ``judge_cost_usd``
``retries``         attempts after the first; ``n_429`` how many were 429s (``retry-after`` honoured)
``answer``          the text (dropped with ``keep_text=False``); ``raw_score`` on
                    ``[scale_min, scale_max]`` by ``grader``, or missing with ``grade_reason``
==================  ===========================================================================

Guarantees:

* **Budget**: before each attempt its worst case (reserved prompt tokens + ``max_tokens`` at the
  endpoint's price; the judge's likewise) is reserved (:class:`~simkit.live.budget.Budget`); a
  request that could exceed the cap is never started. The cap covers every resume too.
* **Crash safety**: records are appended to ``OUT/records.jsonl`` as they complete, flushed
  and fsync'd in groups; ``resume=True`` keeps every complete line, drops a torn last line, and
  sends only the pairs not yet recorded (and those cancelled).
* **Result**: ``OUT`` is also a simkit trace directory (``load_trace(OUT)``): the sampled
  requests, their original outcomes (``origin='trace'``) and the live ones (``origin='live'``,
  ``model`` = endpoint name, with observed ``latency_s``, ``ttft_s``, ``cost_usd``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import LiveError, SpecError, TraceError
from simkit.live.answers import AnswerKey, Reference, shipped_answer_key
from simkit.live.budget import Budget
from simkit.live.endpoints import Endpoint, resolve_api_key
from simkit.live.graders import Grade, JudgeGrader, grade_with_key
from simkit.live.text import conversation_text, prompt_messages
from simkit.seeding import named_stream
from simkit.trace import Trace, save_trace
from simkit.trace.tokens import count_tokens

__all__ = ["STATUSES", "RecordResult", "record", "record_async", "read_records"]

STATUSES = ("ok", "error", "timeout", "rate_limited", "context_exceeded", "cancelled")
RECORDS = "records.jsonl"
RUN = "run.json"


@dataclass(frozen=True)
class RecordResult:
    """What a recording did."""

    out: Path
    n_pairs: int  # (request, model) pairs planned
    n_recorded: int  # pairs with a final record (cancelled excluded)
    by_status: Mapping[str, int]
    spent_usd: float
    budget_usd: float
    stopped: str  # 'done', 'budget' or 'interrupted'
    trace: Trace | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "out": str(self.out),
            "pairs": self.n_pairs,
            "recorded": self.n_recorded,
            "by_status": dict(self.by_status),
            "spent_usd": self.spent_usd,
            "budget_usd": self.budget_usd,
            "stopped": self.stopped,
        }


@dataclass
class _Job:
    request_id: str
    endpoint: Endpoint
    prompt: str
    messages: list[dict[str, str]]
    local_prompt_tokens: int
    reference: Reference | None


@dataclass
class _Attempt:
    status: str
    reason: str = ""
    ttft_s: float = math.nan
    e2e_s: float = math.nan
    gaps: list[float] = field(default_factory=list)
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_reported: bool = False
    finish_reason: str | None = None
    server_id: str | None = None
    retry_after_s: float | None = None
    started_unix_s: float = math.nan
    first_token_unix_s: float = math.nan
    fatal: bool = False


# -- the records file ----------------------------------------------------------------------


def read_records(out: str | PathLike[str], *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete records of ``OUT/records.jsonl`` (the last record per pair wins).

    A torn last line (a crash mid-write) is dropped, and cut from the file when ``repair``;
    a bad line before the last is an error naming it.
    """
    path = Path(out) / RECORDS
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records = []
    for i, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TraceError(
                path, line=i, problem=f"not a JSON record ({exc}); only the last line may be torn"
            ) from None
        if not isinstance(rec, dict) or "request_id" not in rec or "model" not in rec:
            raise TraceError(path, line=i, problem="a record needs 'request_id' and 'model'")
        records.append(rec)
    if tail and repair:
        with open(path, "r+b") as f:
            f.truncate(len(data) - len(tail))
            f.flush()
            os.fsync(f.fileno())
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        latest[(rec["request_id"], rec["model"])] = rec
    return list(latest.values())


class _Writer:
    """Group commit: records that finish while a write is in progress go in the next fsync."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "ab")  # noqa: SIM115 - closed in close()
        self.queue: asyncio.Queue[tuple[bytes, asyncio.Future[None]] | None] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def write(self, record: dict[str, Any]) -> None:
        """Append one record; return once it is on disk (fsync'd)."""
        line = json.dumps(record, allow_nan=False, separators=(",", ":")).encode() + b"\n"
        if self.task.done():
            self.task.result()  # the writer failed: raise its error here
            raise LiveError("the records file is closed")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((line, done))
        await done

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            items = [b for b in batch if b is not None]
            if items:
                try:
                    self.file.write(b"".join(line for line, _ in items))
                    self.file.flush()
                    await asyncio.to_thread(os.fsync, self.file.fileno())
                except OSError as exc:
                    error = LiveError(f"cannot append to the records file: {exc}")
                    for _, done in items:
                        if not done.done():
                            done.set_exception(error)
                    raise error from None
                for _, done in items:
                    if not done.done():
                        done.set_result(None)
            if len(items) < len(batch):
                return

    async def close(self) -> None:
        """Write what is queued, then close the file."""
        if not self.task.done():
            self.queue.put_nowait(None)
        try:
            await self.task
        finally:
            self.file.close()


# -- rate limits ---------------------------------------------------------------------------


class _Bucket:
    """A token bucket refilled at ``per_minute / 60`` per second, holding a minute's worth."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.t = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now

    async def take(self, amount: float) -> None:
        amount = min(
            amount, self.capacity
        )  # one request larger than a minute's allowance waits a minute
        while True:
            self._refill()
            if self.level >= amount:
                self.level -= amount
                return
            await asyncio.sleep((amount - self.level) / self.rate)

    def give_back(self, amount: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + amount)


# -- one endpoint ------------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    """numpy's default (linear) percentile, in plain Python: a record's ~16 gaps cost less so."""
    if not values:
        return math.nan
    s = sorted(values)
    h = (len(s) - 1) * q / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (h - lo))


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for key, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(key)
        if value is not None:
            try:
                v = float(value) * scale
            except ValueError:
                continue
            if math.isfinite(v) and v >= 0:
                return min(v, 60.0)
    return None


class _Malformed(Exception):
    """A streamed chunk that is JSON but not a chat-completion chunk."""


def _stream_error(error: Any, request: Any) -> Exception:
    """The client's own error for an ``{"error": ...}`` event in a stream (as it raises it)."""
    import openai

    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=request, body=error)


async def _sse_data(lines: Any) -> Any:
    """The ``data`` of each server-sent event in ``lines`` (an async iterator of text lines):
    ``data:`` lines joined by newlines, dispatched at a blank line; other fields and comments
    are skipped (the SSE rules the ``openai`` client's own decoder follows)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
    if data:
        yield "\n".join(data)


class _Caller:
    """Sends one job's attempts to one endpoint (bounded concurrency, rate limits, retries)."""

    def __init__(self, endpoint: Endpoint, client: Any) -> None:
        self.endpoint = endpoint
        self.client = client
        self.slots = asyncio.Semaphore(endpoint.max_concurrency)
        self.rpm = None if endpoint.rpm is None else _Bucket(endpoint.rpm)
        self.tpm = None if endpoint.tpm is None else _Bucket(endpoint.tpm)

    async def attempt(
        self, messages: list[dict[str, str]], max_tokens: int, tpm_charge: int
    ) -> _Attempt:
        import openai

        ep = self.endpoint
        async with self.slots:
            if self.rpm is not None:
                await self.rpm.take(1)
            if self.tpm is not None:
                await self.tpm.take(tpm_charge)
            result = _Attempt(status="error", started_unix_s=time.time())
            t0 = time.perf_counter()
            last = None
            parts: list[str] = []
            try:
                async with (
                    asyncio.timeout(ep.timeout_s),
                    self.client.chat.completions.with_streaming_response.create(
                        model=ep.model,
                        # the messages go in the body as they are (extra_body takes precedence
                        # over the arguments): the client's typed walk over a message list
                        # costs ~150 us of CPU a request and changes nothing in plain
                        # {role, content} messages
                        messages=[],
                        extra_body={"messages": messages},
                        max_tokens=max_tokens,
                        stream=True,
                        stream_options={"include_usage": True},
                    ) as response,
                ):
                    # the client raised for an error status already; the chunks are read as
                    # plain JSON (building the client's typed object per chunk cost more CPU
                    # than the rest of the request)
                    done = False
                    async for data in _sse_data(response.iter_lines()):
                        if done:
                            continue  # read to the end: the connection goes back to the pool
                        if data.startswith("[DONE]"):
                            done = True
                            continue
                        now = time.perf_counter()
                        chunk = json.loads(data)
                        if not isinstance(chunk, dict):
                            raise _Malformed(f"a chunk is a JSON {type(chunk).__name__}")
                        if chunk.get("error"):
                            raise _stream_error(chunk["error"], response.http_request)
                        result.server_id = result.server_id or chunk.get("id")
                        usage = chunk.get("usage")
                        if isinstance(usage, dict):
                            result.prompt_tokens = usage.get("prompt_tokens")
                            result.completion_tokens = usage.get("completion_tokens")
                            result.usage_reported = True
                        for choice in chunk.get("choices") or ():
                            delta = choice.get("delta")
                            content = delta.get("content") if delta else None
                            if content:
                                if last is None:
                                    result.ttft_s = now - t0
                                    result.first_token_unix_s = time.time()
                                else:
                                    result.gaps.append(now - last)
                                last = now
                                parts.append(content)
                            if choice.get("finish_reason"):
                                result.finish_reason = choice["finish_reason"]
                result.e2e_s = time.perf_counter() - t0
                result.status = "ok"
            except TimeoutError:
                result.status, result.reason = (
                    "timeout",
                    f"no complete answer within {ep.timeout_s:g} s",
                )
            except openai.RateLimitError as exc:
                result.status, result.reason = "rate_limited", f"429 from {ep.name}: {_short(exc)}"
                result.retry_after_s = _retry_after(exc)
            except openai.BadRequestError as exc:
                code = getattr(exc, "code", None)
                result.status = "context_exceeded" if code == "context_length_exceeded" else "error"
                result.reason = f"400 from {ep.name}: {_short(exc)}"
                result.fatal = True  # the same request would be refused again
            except openai.NotFoundError as exc:
                raise LiveError(
                    f"endpoint {ep.name!r} ({ep.base_url}): the server answered 404 for model "
                    f"{ep.model!r}: {_short(exc)}"
                ) from None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise LiveError(
                    f"endpoint {ep.name!r} ({ep.base_url}) refused the API key from "
                    f"{ep.api_key_env or '(none)'}: {_short(exc)}"
                ) from None
            except openai.APIStatusError as exc:
                result.reason = f"HTTP {exc.status_code} from {ep.name}: {_short(exc)}"
            except openai.APIConnectionError as exc:
                where = "mid-stream" if parts else "before the answer"
                result.reason = f"connection to {ep.name} failed {where}: {_short(exc)}"
            except json.JSONDecodeError as exc:
                result.reason = f"malformed SSE/JSON from {ep.name}: {exc.msg}"
            except (_Malformed, AttributeError, TypeError) as exc:
                result.reason = f"malformed SSE/JSON from {ep.name}: {exc}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # transport errors of the httpx/aiohttp stack mid-stream
                kind = type(exc).__name__
                where = "mid-stream" if parts else "before the answer"
                result.reason = f"{kind} from {ep.name} {where}: {_short(exc)}"
            if result.status != "ok" and not result.reason.startswith(("429", "400")) and parts:
                result.reason += f" (after {len(parts)} chunks)"
            if result.status != "ok" and math.isnan(result.e2e_s):
                result.e2e_s = time.perf_counter() - t0
            result.text = "".join(parts)
            if self.tpm is not None and result.completion_tokens is not None:
                self.tpm.give_back(max(0, max_tokens - result.completion_tokens))
            return result


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    cause, seen = exc.__cause__ or exc.__context__, 0
    while cause is not None and seen < 3:  # the transport's own error says what happened
        text += f" <- {type(cause).__name__}: {str(cause).replace(chr(10), ' ')}"
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return text if len(text) <= 300 else text[:297] + "..."


# -- the run -----------------------------------------------------------------------------


def _settings_fingerprint(
    trace: Trace,
    endpoints: Sequence[Endpoint],
    ids: Sequence[str],
    seed: int,
    judge: JudgeGrader | None,
) -> dict[str, Any]:
    """What a resume must match: the sampled requests and their prompts, models, seed, judge."""
    prompts = trace.requests.set_index("request_id").loc[list(ids), "prompt"].astype(str)
    digest = hashlib.sha256("\x00".join(prompts).encode("utf-8")).hexdigest()
    return {
        "request_ids": list(ids),
        "prompts_sha256": digest,
        "models": [e.name for e in endpoints],
        "seed": seed,
        "judge": None if judge is None else judge.endpoint,
    }


def _sample_ids(trace: Trace, sample: int | None, seed: int) -> list[str]:
    req = trace.requests
    has_prompt = req["prompt"].notna().to_numpy()
    ids = req["request_id"].to_numpy()[has_prompt]
    if ids.size == 0:
        raise TraceError(
            trace.where, column="prompt", problem="no request has prompt text; nothing can be sent"
        )
    if sample is None:
        return [str(i) for i in ids]
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise SpecError("--sample", problem=f"expected an integer >= 1, got {sample!r}")
    if sample > ids.size:
        raise TraceError(
            trace.where,
            column="prompt",
            problem=f"--sample {sample} is more than the {ids.size} requests with prompt text",
        )
    pick = np.sort(named_stream(seed, "live/sample").choice(ids.size, size=sample, replace=False))
    return [str(i) for i in ids[pick]]


def _record_of(
    job: _Job,
    a: _Attempt,
    *,
    cost: float,
    retries: int,
    n_429: int,
    keep_text: bool,
    reserved_usd: float,
) -> dict[str, Any]:
    gaps = a.gaps
    completion = a.completion_tokens
    prompt_tokens = a.prompt_tokens
    if not a.usage_reported:
        prompt_tokens = job.local_prompt_tokens
        completion = int(count_tokens([a.text]).iloc[0]) if a.text else 0
    return {
        "request_id": job.request_id,
        "model": job.endpoint.name,
        "api_model": job.endpoint.model,
        "status": a.status,
        "reason": a.reason,
        "ttft_s": _finite_or_none(a.ttft_s),
        "e2e_s": _finite_or_none(a.e2e_s) if a.status == "ok" else None,
        "itl_mean_s": _finite_or_none(math.fsum(gaps) / len(gaps)) if gaps else None,
        "itl_p50_s": _finite_or_none(_percentile(gaps, 50)),
        "itl_p95_s": _finite_or_none(_percentile(gaps, 95)),
        "itl_max_s": _finite_or_none(max(gaps)) if gaps else None,
        "chunks": len(gaps) + (0 if math.isnan(a.ttft_s) else 1),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "usage_reported": a.usage_reported,
        "finish_reason": a.finish_reason,
        "cost_usd": cost,
        "over_reservation": cost > reserved_usd + 1e-12,
        "retries": retries,
        "n_429": n_429,
        "server_id": a.server_id,
        "started_unix_s": _finite_or_none(a.started_unix_s),
        "first_token_unix_s": _finite_or_none(a.first_token_unix_s),
        "answer": a.text if keep_text else None,
    }


def _graded(
    rec: dict[str, Any], grade: Grade | None, reason: str, judge_cost_usd: float
) -> dict[str, Any]:
    """``rec`` with the grade's fields (None without a grade), why, and the judge's cost."""
    rec.update(
        grader=None if grade is None else grade.grader,
        raw_score=None if grade is None else grade.raw_score,
        scale_min=None if grade is None else grade.scale_min,
        scale_max=None if grade is None else grade.scale_max,
        grade_reason=reason,
        judge_cost_usd=judge_cost_usd,
    )
    return rec


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class _Run:
    def __init__(
        self,
        *,
        budget: Budget,
        callers: Mapping[str, _Caller],
        judge: JudgeGrader | None,
        judge_caller: _Caller | None,
        keep_text: bool,
        writer: _Writer,
        on_record: Callable[[dict[str, Any]], None],
        backoff_s: float,
        grader: Any = None,
    ) -> None:
        self.budget = budget
        self.callers = callers
        self.judge = judge
        self.grader = grader
        self.judge_caller = judge_caller
        self.keep_text = keep_text
        self.writer = writer
        self.on_record = on_record
        self.backoff_s = backoff_s
        self.stop = asyncio.Event()
        self.budget_hit = False
        self.rng = random.Random(0)  # backoff jitter only; it changes no recorded value

    async def call(
        self, caller: _Caller, messages, local_tokens: int, max_tokens: int
    ) -> tuple[_Attempt | None, float, int, int, float]:
        """Attempts with retries; (last attempt or None if the budget refused, cost, retries, 429s, reserved)."""
        ep = caller.endpoint
        cost = 0.0
        n_429 = 0
        reserved_total = 0.0
        worst = ep.worst_case_usd(local_tokens, max_tokens)
        tpm_charge = ep.reserved_prompt_tokens(local_tokens) + max_tokens
        last: _Attempt | None = None
        for attempt_no in range(ep.max_retries + 1):
            held = await self.budget.reserve(worst)
            if held is None:
                self.budget_hit = True
                return last, cost, max(0, attempt_no - 1), n_429, reserved_total
            reserved_total += worst
            try:
                a = await caller.attempt(messages, max_tokens, tpm_charge)
            except BaseException:
                self.budget.settle(held, worst)  # unknown outcome: charge the worst case
                raise
            if a.usage_reported:
                used = ep.price.cost_usd(a.prompt_tokens or 0, a.completion_tokens or 0)
            elif a.text or a.status == "ok":
                out_tokens = int(count_tokens([a.text]).iloc[0]) if a.text else 0
                used = ep.price.cost_usd(ep.reserved_prompt_tokens(local_tokens), out_tokens)
            else:
                used = 0.0  # refused before generating (429, 5xx, 400): nothing billed
            self.budget.settle(held, used)
            cost += used
            last = a
            if a.status == "rate_limited":
                n_429 += 1
            if a.status == "ok" or a.fatal or attempt_no == ep.max_retries:
                return a, cost, attempt_no, n_429, reserved_total
            wait = (
                a.retry_after_s
                if a.retry_after_s is not None
                else min(8.0, self.backoff_s * 2**attempt_no) * (0.5 + 0.5 * self.rng.random())
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), wait)
            if self.stop.is_set():
                return a, cost, attempt_no, n_429, reserved_total
        raise AssertionError("unreachable")

    async def grade(self, job: _Job, answer: str) -> tuple[Grade, float]:
        if job.reference is not None or self.judge is None:
            if self.grader is not None:  # the caller's own grader sees every reference or None
                return self.grader.grade(answer, job.reference), 0.0
            g = grade_with_key(answer, job.reference)
            if job.reference is None:
                g = Grade(
                    g.grader, None, g.scale_min, g.scale_max, "no reference answer and no judge"
                )
            return g, 0.0
        assert self.judge_caller is not None
        messages = self.judge.messages(job.prompt, answer)
        local = int(count_tokens([conversation_text(messages)]).iloc[0])
        a, cost, _, _, _ = await self.call(
            self.judge_caller, messages, local, self.judge.max_output_tokens
        )
        if a is None:
            return self.judge.failed("judge not called: the budget cannot cover it"), cost
        if a.status != "ok":
            return self.judge.failed(f"judge call failed: {a.status}: {a.reason}"), cost
        return self.judge.parse(a.text), cost

    async def run_job(self, job: _Job) -> dict[str, Any] | None:
        ep = job.endpoint
        if (
            ep.context_window is not None
            and job.local_prompt_tokens + ep.max_output_tokens > ep.context_window
        ):
            a = _Attempt(
                status="context_exceeded",
                reason=f"prompt of {job.local_prompt_tokens} tokens + max_tokens {ep.max_output_tokens} "
                f"> context window {ep.context_window} of {ep.name}; not sent",
            )
            rec = _record_of(
                job, a, cost=0.0, retries=0, n_429=0, keep_text=self.keep_text, reserved_usd=0.0
            )
            rec["prompt_tokens"] = job.local_prompt_tokens
            return _graded(rec, None, "not sent", 0.0)
        a, cost, retries, n_429, reserved = await self.call(
            self.callers[ep.name], job.messages, job.local_prompt_tokens, ep.max_output_tokens
        )
        if a is None:
            return None  # the budget refused the first attempt: not recorded, sent on resume
        if self.stop.is_set() and a.status != "ok":
            a.status, a.reason = (
                "cancelled",
                f"stopped by the user ({a.reason})" if a.reason else "stopped by the user",
            )
        rec = _record_of(
            job,
            a,
            cost=cost,
            retries=retries,
            n_429=n_429,
            keep_text=self.keep_text,
            reserved_usd=reserved,
        )
        if a.status != "ok":
            return _graded(rec, None, f"no answer ({a.status})", 0.0)
        g, judge_cost = await self.grade(job, a.text)
        return _graded(rec, g, g.reason, judge_cost)

    async def worker(self, queue: asyncio.Queue[_Job]) -> None:
        while not self.stop.is_set() and not self.budget_hit:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                rec = await self.run_job(job)
            except asyncio.CancelledError:
                rec = _record_of(
                    job,
                    _Attempt(status="cancelled", reason="in flight when the run stopped"),
                    cost=0.0,
                    retries=0,
                    n_429=0,
                    keep_text=False,
                    reserved_usd=0.0,
                )
                rec.update(
                    grader=None,
                    raw_score=None,
                    scale_min=None,
                    scale_max=None,
                    grade_reason="cancelled",
                    judge_cost_usd=0.0,
                )
                await asyncio.shield(self.writer.write(rec))
                self.on_record(rec)
                raise
            if rec is not None:
                await self.writer.write(rec)
                self.on_record(rec)


async def _preflight(
    endpoints: Sequence[Endpoint], clients: Mapping[str, Any], *, tries: int, backoff_s: float
) -> dict[str, list[float]]:
    """Check each endpoint answers ``GET /models`` and serves its model; return round trips (s)."""
    import openai

    rtts: dict[str, list[float]] = {}
    for ep in endpoints:
        samples: list[float] = []
        ids: list[str] | None = None
        last_error = ""
        for i in range(max(tries, 3)):
            t0 = time.perf_counter()
            try:
                page = await clients[ep.name].models.list()
                samples.append(time.perf_counter() - t0)
                ids = [m.id for m in page.data]
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise LiveError(
                    f"endpoint {ep.name!r} ({ep.base_url}) refused the API key from "
                    f"{ep.api_key_env or '(none)'}: {_short(exc)}"
                ) from None
            except openai.APIStatusError as exc:
                last_error = f"HTTP {exc.status_code}: {_short(exc)}"
                break  # it answers, but has no /models listing: nothing to check
            except openai.APIConnectionError as exc:
                last_error = _short(exc)
                if i + 1 >= tries:
                    raise LiveError(
                        f"endpoint {ep.name!r} is unreachable at {ep.base_url} after {tries} tries "
                        f"({last_error}); nothing was sent"
                    ) from None
                await asyncio.sleep(backoff_s * 2**i)
                continue
            if len(samples) >= 3:
                break
        if ids is not None and ep.model not in ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            raise LiveError(
                f"endpoint {ep.name!r} ({ep.base_url}) does not serve model {ep.model!r} (404 "
                f"model_not_found); it serves: {shown or 'none'}"
            )
        rtts[ep.name] = samples
    return rtts


def _pool_limits(concurrency: int) -> Any:
    """Connection limits that keep one idle connection per concurrent request (the client's
    default keeps 100, so at higher concurrency it reconnects on most requests) and drop idle
    ones after 2 s, before a server's own keep-alive timeout (uvicorn's, vLLM's: 5 s) can close
    one as it is reused ("Server disconnected"). None if this openai has no limits type."""
    try:
        from openai._constants import DEFAULT_CONNECTION_LIMITS as base
    except ImportError:
        return None
    return type(base)(
        max_connections=max(base.max_connections or 0, concurrency),
        max_keepalive_connections=max(base.max_keepalive_connections or 0, concurrency),
        keepalive_expiry=2.0,
    )


def _make_client(ep: Endpoint, key: str, transport: str) -> Any:
    import openai

    kwargs: dict[str, Any] = {"timeout": ep.timeout_s}
    limits = _pool_limits(ep.max_concurrency)
    if limits is not None:
        kwargs["limits"] = limits
    if transport == "aiohttp":
        http = openai.DefaultAioHttpClient(**kwargs)
    elif transport == "httpx":
        http = openai.DefaultAsyncHttpxClient(**kwargs)
    else:
        raise SpecError(
            "transport", problem=f"unknown transport {transport!r}; valid: aiohttp, httpx"
        )
    return openai.AsyncOpenAI(
        base_url=ep.base_url, api_key=key, max_retries=0, timeout=ep.timeout_s, http_client=http
    )


def _assemble(
    trace: Trace, ids: Sequence[str], records: Sequence[dict[str, Any]], meta: dict[str, Any]
) -> Trace:
    req = trace.requests[trace.requests["request_id"].isin(set(ids))].reset_index(drop=True)
    base = trace.outcomes[trace.outcomes["request_id"].isin(set(ids))].copy()
    ok = [r for r in records if r["status"] == "ok"]
    live = pd.DataFrame(
        {
            "request_id": [r["request_id"] for r in ok],
            "model": [r["model"] for r in ok],
            "quality": [
                math.nan
                if r.get("raw_score") is None
                else (r["raw_score"] - r["scale_min"]) / (r["scale_max"] - r["scale_min"])
                for r in ok
            ],
            "raw_score": [math.nan if r.get("raw_score") is None else r["raw_score"] for r in ok],
            "scale_min": [math.nan if r.get("scale_min") is None else r["scale_min"] for r in ok],
            "scale_max": [math.nan if r.get("scale_max") is None else r["scale_max"] for r in ok],
            "output_tokens": pd.array([r["completion_tokens"] for r in ok], dtype="Int64"),
            "latency_s": [r["e2e_s"] for r in ok],
            "ttft_s": [math.nan if r["ttft_s"] is None else r["ttft_s"] for r in ok],
            "cost_usd": [r["cost_usd"] + r.get("judge_cost_usd", 0.0) for r in ok],
            "grader": pd.array([r.get("grader") for r in ok], dtype="string"),
            "origin": pd.array(["live"] * len(ok), dtype="string"),
        }
    )
    live = live.sort_values(["request_id", "model"], kind="stable").reset_index(drop=True)
    replaced = base.set_index(["request_id", "model"]).index.isin(
        live.set_index(["request_id", "model"]).index
    )
    base = base[~replaced].copy()
    base["origin"] = pd.array(["trace"] * len(base), dtype="string")
    meta = {**meta, "replaced_trace_outcomes": int(replaced.sum())}
    outcomes = pd.concat([base, live], ignore_index=True) if len(base) else live
    return Trace(req, outcomes, meta={**dict(trace.meta), "live": meta}, where=trace.where)


async def record_async(
    trace: Trace,
    endpoints: Sequence[Endpoint],
    *,
    out: str | PathLike[str],
    budget_usd: float,
    sample: int | None = None,
    seed: int = 0,
    resume: bool = False,
    keep_text: bool = True,
    judge: JudgeGrader | None = None,
    judge_endpoint: Endpoint | None = None,
    answers: AnswerKey | None = None,
    grader: Any = None,
    transport: str = "aiohttp",
    progress: bool = True,
    environ: Mapping[str, str] | None = None,
    drain_timeout_s: float = 30.0,
    backoff_s: float = 0.5,
    handle_sigint: bool = True,
) -> RecordResult:
    """The coroutine behind :func:`record` (same parameters); use it inside a running loop."""
    out = Path(out)
    if not math.isfinite(budget_usd) or budget_usd < 0:
        raise SpecError("--budget-usd", problem=f"expected a number >= 0, got {budget_usd!r}")
    if judge is not None and (judge_endpoint is None or judge_endpoint.name != judge.endpoint):
        raise SpecError(
            "--judge",
            problem=f"the judge endpoint {judge.endpoint!r} must be given as judge_endpoint",
        )
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise SpecError("--models", problem="an endpoint is named twice")
    # keys first: nothing is sent when one is missing
    keys = {
        e.name: resolve_api_key(e, environ)
        for e in [*endpoints, *([judge_endpoint] if judge_endpoint else [])]
    }
    ids = _sample_ids(trace, sample, seed)
    fingerprint = _settings_fingerprint(trace, endpoints, ids, seed, judge)
    done: list[dict[str, Any]] = []
    if (out / RECORDS).exists() or (out / RUN).exists():
        if not resume:
            raise LiveError(
                f"{out} already holds a recording; continue it with --resume, or choose another --out"
            )
        try:
            previous = json.loads((out / RUN).read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LiveError(
                f"{out / RUN}: cannot read the run settings to resume ({exc})"
            ) from None
        for k, v in fingerprint.items():
            if previous.get("settings", {}).get(k) != v:
                raise LiveError(
                    f"--resume with different settings than {out / RUN}: '{k}' differs; use the same trace, --models, --sample, --seed and --judge"
                )
        done = [r for r in read_records(out, repair=True) if r["status"] != "cancelled"]
    elif resume:
        raise LiveError(f"{out} holds no recording to resume")
    key = shipped_answer_key() if answers is None else shipped_answer_key().merged(answers)
    prompts = trace.requests.set_index("request_id").loc[ids, "prompt"].astype(str).tolist()
    messages = [prompt_messages(p) for p in prompts]
    local = count_tokens([conversation_text(m) for m in messages]).astype("int64").tolist()
    finished = {(r["request_id"], r["model"]) for r in done}
    jobs = [
        _Job(rid, ep, p, m, int(n), key.lookup(request_id=rid, text=p))
        for rid, p, m, n in zip(ids, prompts, messages, local, strict=True)
        for ep in endpoints
        if (rid, ep.name) not in finished
    ]
    spent = sum(r["cost_usd"] + r.get("judge_cost_usd", 0.0) for r in done)
    budget = Budget(budget_usd, spent_usd=spent)
    if jobs:
        cheapest = min(ep.worst_case_usd(min(local)) for ep in endpoints)
        if not budget.fits(cheapest):
            raise LiveError(
                f"the budget of ${budget_usd:g} (${spent:.6f} spent) cannot cover one request: the "
                f"cheapest worst case is ${cheapest:.6f} (prompt + max_output_tokens at the endpoint's "
                "price); raise --budget-usd or lower max_output_tokens. Nothing was sent"
            )
    out.mkdir(parents=True, exist_ok=True)
    all_endpoints = [
        *endpoints,
        *([judge_endpoint] if judge_endpoint and judge_endpoint.name not in names else []),
    ]
    clients = {e.name: _make_client(e, keys[e.name], transport) for e in all_endpoints}
    try:
        rtts = await _preflight(all_endpoints, clients, tries=3, backoff_s=backoff_s)
        if not (out / RUN).exists():
            run_info = {
                "format": "simkit-live-run",
                "version": 1,
                "settings": fingerprint,
                "trace": trace.where,
                "budget_usd": budget_usd,
                "endpoints": {e.name: e.describe() for e in all_endpoints},
                "rtt_s": rtts,
                "transport": transport,
            }
            tmp = out / (RUN + ".tmp")
            tmp.write_text(
                json.dumps(run_info, indent=2, sort_keys=True, allow_nan=False) + "\n", "utf-8"
            )
            os.replace(tmp, out / RUN)
        n_pairs = len(ids) * len(endpoints)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=n_pairs, initial=len(done), unit="req", desc="recording", dynamic_ncols=True
            )
            bar.set_postfix_str(f"spent ${budget.spent_usd:.4f} of ${budget_usd:g}")
        new: list[dict[str, Any]] = []

        def on_record(rec: dict[str, Any]) -> None:
            new.append(rec)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(
                    f"spent ${budget.spent_usd:.4f} of ${budget_usd:g}", refresh=False
                )

        writer = _Writer(out / RECORDS)
        callers = {e.name: _Caller(e, clients[e.name]) for e in all_endpoints}
        run = _Run(
            budget=budget,
            callers=callers,
            judge=judge,
            judge_caller=callers[judge_endpoint.name] if judge_endpoint else None,
            keep_text=keep_text,
            writer=writer,
            on_record=on_record,
            backoff_s=backoff_s,
            grader=grader,
        )
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        n_workers = sum(e.max_concurrency for e in endpoints)
        loop = asyncio.get_running_loop()
        interrupted = False
        sigint_installed = False
        force = asyncio.Event()

        def on_sigint() -> None:
            if run.stop.is_set():
                force.set()  # a second Ctrl-C: cancel what is in flight now
                return
            run.stop.set()
            print(
                f"\nstopping: no new requests; waiting up to {drain_timeout_s:g} s for those in "
                "flight (Ctrl-C again to cancel them)",
                file=sys.stderr,
            )

        if handle_sigint:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGINT, on_sigint)
                sigint_installed = True
        tasks = [
            loop.create_task(run.worker(queue)) for _ in range(min(n_workers, max(1, len(jobs))))
        ]
        try:
            all_done = loop.create_task(asyncio.wait(tasks))
            stop_wait = loop.create_task(run.stop.wait())
            await asyncio.wait([all_done, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            if run.stop.is_set():
                interrupted = True
                drained = loop.create_task(asyncio.wait(tasks, timeout=drain_timeout_s))
                forced = loop.create_task(force.wait())
                await asyncio.wait([drained, forced], return_when=asyncio.FIRST_COMPLETED)
                forced.cancel()
                pending = [t for t in tasks if not t.done()]
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            stop_wait.cancel()
            for t in tasks:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise t.exception()
        finally:
            if sigint_installed:
                loop.remove_signal_handler(signal.SIGINT)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await writer.close()
            if bar is not None:
                bar.close()
    finally:
        for c in clients.values():
            with contextlib.suppress(Exception):
                await c.close()
    records = read_records(out)
    final = [r for r in records if r["status"] != "cancelled"]
    by_status = {s: sum(r["status"] == s for r in records) for s in STATUSES}
    stopped = "interrupted" if interrupted else ("budget" if run.budget_hit else "done")
    meta = {
        "recorded_pairs": len(final),
        "planned_pairs": n_pairs,
        "by_status": by_status,
        "spent_usd": budget.spent_usd,
        "budget_usd": budget_usd,
        "stopped": stopped,
        "endpoints": {e.name: e.describe() for e in all_endpoints},
        "records": RECORDS,
        "over_reservation": sum(bool(r.get("over_reservation")) for r in records),
    }
    result_trace = _assemble(trace, ids, final, meta)
    save_trace(result_trace, out)
    return RecordResult(
        out=out,
        n_pairs=n_pairs,
        n_recorded=len(final),
        by_status=by_status,
        spent_usd=budget.spent_usd,
        budget_usd=budget_usd,
        stopped=stopped,
        trace=result_trace,
    )


def record(
    trace: Trace,
    endpoints: Sequence[Endpoint],
    *,
    out: str | PathLike[str],
    budget_usd: float,
    sample: int | None = None,
    seed: int = 0,
    resume: bool = False,
    keep_text: bool = True,
    judge: JudgeGrader | None = None,
    judge_endpoint: Endpoint | None = None,
    answers: AnswerKey | None = None,
    grader: Any = None,
    transport: str = "aiohttp",
    progress: bool = True,
    environ: Mapping[str, str] | None = None,
    drain_timeout_s: float = 30.0,
) -> RecordResult:
    """Record live outcomes of ``endpoints`` on a sample of ``trace``'s prompts.

    Parameters
    ----------
    trace : Trace
        Requests with prompt text (those without are never sampled).
    endpoints : sequence of Endpoint
        The models to call (:func:`~simkit.live.endpoints.load_endpoints`); each name becomes
        an outcome ``model``.
    out : path
        Output directory: ``records.jsonl``, ``run.json`` and the result trace.
    budget_usd : float
        Hard cap on spend (answers and judge calls, every resume included).
    sample : int, optional
        Number of requests drawn (seeded) from those with prompts; default all.
    seed : int
        Seeds the sample.
    resume : bool
        Continue the recording in ``out`` (same trace, models, sample, seed and judge).
    keep_text : bool
        Keep each answer's text in the records.
    judge, judge_endpoint : JudgeGrader and Endpoint, optional
        LLM-as-judge for prompts without a reference answer.
    answers : AnswerKey, optional
        Reference answers on top of the shipped GSM8K key.
    grader : object, optional
        Your own grader, any object with ``grade(answer, reference) -> Grade`` (see
        :mod:`simkit.live.graders`); it grades every answer the judge does not. Default:
        :class:`~simkit.live.graders.KeyGrader` (missing without a reference).
    transport : {'aiohttp', 'httpx'}
        The openai client's HTTP transport (aiohttp is the faster one here; see
        ``benchmarks/bench_live.py``).
    progress : bool
        Show a tqdm bar (done, spend, ETA).
    environ : mapping, optional
        Where API keys are read (default ``os.environ``).
    drain_timeout_s : float
        After Ctrl-C, how long in-flight requests may finish before they are cancelled.
        (Ctrl-C is caught only when called from the main thread outside a running event loop;
        from a notebook, interrupt the kernel and resume.)

    Returns
    -------
    RecordResult

    Raises
    ------
    SpecError
        An API key variable unset (before anything is sent), bad arguments.
    LiveError
        An unreachable endpoint (after bounded retries), an unknown model (404), a refused key,
        a budget smaller than one request, a mismatched resume.
    TraceError
        A trace without prompts, a sample larger than the trace.
    """
    coro = record_async(
        trace,
        endpoints,
        out=out,
        budget_usd=budget_usd,
        sample=sample,
        seed=seed,
        resume=resume,
        keep_text=keep_text,
        judge=judge,
        judge_endpoint=judge_endpoint,
        answers=answers,
        grader=grader,
        transport=transport,
        progress=progress,
        environ=environ,
        drain_timeout_s=drain_timeout_s,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # called from a running loop (a Jupyter cell): run on a loop of its own in a worker thread
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="simkit-record") as pool:
        return pool.submit(asyncio.run, coro).result()


def resume_command(argv: Sequence[str]) -> str:
    """The command line that resumes a recording (``--resume`` added once)."""
    args = list(argv)
    if "--resume" not in args:
        args.append("--resume")
    return "simkit " + " ".join(args)
