"""The OpenAI-compatible routing server: a Starlette application (served by uvicorn).

Routes
------
``POST /v1/chat/completions``
    A request whose ``model`` is the configured alias is scored by the bundle and sent to the
    upstream of the tier the policy chooses; another model name is passed through to the
    upstream that serves it (``unknown_models: passthrough``) or refused with 404. Streaming
    answers are passed through event by event, the first as soon as the upstream sends it.
    Response headers ``x-simkit-tier``, ``x-simkit-model``, ``x-simkit-p-hard`` and
    ``x-simkit-request-id`` say what was decided.
``GET /v1/models``
    The alias and the upstream models.
``GET /healthz``
    ``{"status": "ok"}`` (no key needed).
``GET /metrics``
    Prometheus text (no key needed; it holds counts, times and spend, no request content).

The policy is the simulator's: :class:`~simkit.policies.ThresholdPolicy` with the bundle's
cut-offs, wrapped in :class:`~simkit.policies.SpillOverPolicy` (if configured),
:class:`~simkit.policies.FallbackPolicy` and :class:`~simkit.policies.PrivacyPolicy`; it reads
the gateway's live counters through a :class:`~simkit.policies.FleetView`
(:mod:`simkit.gateway.state`).

Errors have OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``: 400 for bad
JSON or a bad field, 401 without a valid key, 403 for a sensitive request naming a public
model, 404 for an unknown model, 413 over the body size limit, 502 naming the tiers tried when
no upstream answered (429 with ``retry-after`` when they all were rate limited).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from simkit.errors import MessagesError
from simkit.gateway.auth import KeyChecker
from simkit.gateway.config import GatewayConfig
from simkit.gateway.decisions import LOG_VERSION, DecisionLog
from simkit.gateway.metrics import GatewayMetrics
from simkit.gateway.scoring import make_scorer
from simkit.gateway.state import LiveFleet
from simkit.gateway.upstream import Upstream, UpstreamFailure, UpstreamResponse
from simkit.policies import (
    AttemptView,
    FallbackPolicy,
    Policy,
    PrivacyPolicy,
    RequestView,
    SpillOverPolicy,
)
from simkit.router import Router
from simkit.trace.messages import conversation_text, messages_to_text
from simkit.trace.tokens import token_counter

__all__ = ["create_app", "routing_policy"]

_log = logging.getLogger("simkit.gateway")


def routing_policy(config: GatewayConfig, router: Router) -> Policy:
    """The policy the gateway decides with: privacy > fallback > [spillover >] threshold.

    The threshold is the router's own :class:`~simkit.policies.ThresholdPolicy` (the bundle's
    named threshold, or a number), the object ``simulate`` would use.
    """
    policy: Policy = router.policy
    if config.spillover is not None:
        s = config.spillover
        policy = SpillOverPolicy(
            policy, max_queued=s.max_queued, max_wait_s=s.max_wait_s, min_headroom=s.min_headroom
        )
    policy = FallbackPolicy(policy, order=config.fallback_order, on=config.fallback_on)
    policy = PrivacyPolicy(policy, tag=config.privacy.tag)
    policy.check(config.tiers, ("p_hard",))
    return policy


def _error(
    status: int, message: str, *, kind: str, code: str | None = None, param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _tags(request: Request, body: Mapping[str, Any], config: GatewayConfig) -> frozenset[str]:
    found: set[str] = set()
    header = request.headers.get(config.privacy.header)
    if header:
        found.update(t.strip() for t in header.split(",") if t.strip())
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        value = meta.get(config.privacy.metadata_key)
        if isinstance(value, str):
            found.update(t.strip() for t in value.split(",") if t.strip())
        elif isinstance(value, list):
            found.update(str(t).strip() for t in value if str(t).strip())
        elif value is True:  # {"sensitive": true}
            found.add(config.privacy.tag)
    return frozenset(found)


class _SSEError(Exception):
    pass


def _parse_event(event: bytes) -> dict[str, Any] | None:
    """The JSON object of one SSE event, None for ``[DONE]`` or a comment; _SSEError if invalid."""
    data = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[5:].strip())
        elif line.startswith((b":", b"event:", b"id:", b"retry:")) or not line:
            continue
        else:
            raise _SSEError(f"not an SSE field: {line[:40]!r}")
    if not data:
        return None
    payload = b"\n".join(data)
    if payload == b"[DONE]":
        return None
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _SSEError(f"data is not JSON: {payload[:40]!r}") from None
    if not isinstance(obj, dict):
        raise _SSEError("data is not a JSON object")
    return obj


class _Events:
    """Split the upstream's byte stream into SSE events (blank-line separated)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.done = False

    async def next(self) -> bytes | None:
        while True:
            cut = self._buffer.find(b"\n\n")
            if cut >= 0:
                event, self._buffer = self._buffer[:cut], self._buffer[cut + 2 :]
                if event.strip():
                    return event
                continue
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self.done = True
                if self._buffer.strip():
                    raise _SSEError("the stream ended inside an event") from None
                return None
            self._buffer += chunk.replace(b"\r\n", b"\n")


class _PassThrough(StreamingResponse):
    """A streaming response that always closes its body iterator (so the upstream request is
    cancelled and logged at once when the client goes away)."""

    async def stream_response(self, send: Any) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


class Gateway:
    """The request handling state of one application (built by :func:`create_app`)."""

    def __init__(
        self, config: GatewayConfig, router: Router, decision_log: DecisionLog | None, seed: int
    ) -> None:
        self.config = config
        self.router = router
        self.policy = routing_policy(config, router)
        cutoffs = router.policy.cutoffs
        self.threshold = cutoffs.get(config.tiers[-1], min(cutoffs.values()))
        self.keys = KeyChecker(config.key_hashes)
        self.metrics = GatewayMetrics()
        self.log = decision_log
        self.rng = np.random.default_rng(seed)
        self.scorer = make_scorer(router)
        self.count_tokens = token_counter()
        self.upstreams = {t: Upstream(spec) for t, spec in config.upstreams.items()}
        self.fleet: LiveFleet | None = None
        # request ids: a random prefix per process (workers and restarts never collide) and
        # a counter (os.urandom per request costs a system call)
        self._id_prefix = uuid.uuid4().hex[:20]
        self._n = 0

    async def start(self) -> None:
        self.fleet = LiveFleet(
            self.config.tiers,
            self.config.private_tiers,
            {t: u.max_concurrency for t, u in self.config.upstreams.items()},
        )
        for up in self.upstreams.values():
            await up.start()
        await self.scorer.start()
        if self.log is not None:
            self.log.open()

    async def stop(self) -> None:
        await self.scorer.stop()
        for up in self.upstreams.values():
            await up.close()
        if self.log is not None:
            self.log.close()

    # -- routes -----------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_route(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def models(self, request: Request) -> Response:
        if not self.keys.check(request.headers.get("authorization")):
            return self._unauthorized()
        names = [self.config.alias]
        for up in self.config.upstreams.values():
            names += [up.model, *up.serves] if self.config.unknown_models == "passthrough" else []
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "simkit"} for n in names]
        return JSONResponse({"object": "list", "data": data})

    def _unauthorized(self) -> Response:
        return _error(
            401,
            "Missing or invalid API key: send 'Authorization: Bearer <key>'.",
            kind="invalid_request_error",
            code="invalid_api_key",
            headers={"www-authenticate": "Bearer"},
        )

    async def chat(self, request: Request) -> Response:
        if not self.keys.check(request.headers.get("authorization")):
            return self._unauthorized()
        try:
            raw = await _read_body(request, self.config.max_body_bytes)
        except _BodyTooLarge:
            return _error(
                413,
                f"Request body exceeds the gateway's limit of {self.config.max_body_bytes} bytes.",
                kind="invalid_request_error",
                code="request_too_large",
            )
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(
                400,
                f"The request body is not valid JSON ({exc}).",
                kind="invalid_request_error",
                code="invalid_json",
            )
        if not isinstance(body, dict):
            return _error(
                400, "The request body must be a JSON object.", kind="invalid_request_error"
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(
                400,
                "'messages' is required: a non-empty list of {role, content} objects.",
                kind="invalid_request_error",
                param="messages",
                code="missing_messages" if messages is None else "invalid_messages",
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(
                400,
                "'model' is required: a model name.",
                kind="invalid_request_error",
                param="model",
            )
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            return _error(
                400, "'stream' must be true or false.", kind="invalid_request_error", param="stream"
            )
        routed = model == self.config.alias
        try:
            full_text = conversation_text(messages)  # the tokens the answering model reads
            text: str | None = messages_to_text(messages)  # the text the bundle scores
        except MessagesError as exc:
            if routed or "no user message with text" not in str(exc):
                return _error(
                    400,
                    f"Invalid 'messages': {exc}",
                    kind="invalid_request_error",
                    param="messages",
                    code="invalid_messages",
                )
            text = None  # a pass-through request without user text is not scored
        tier = None
        if not routed:
            tier = (
                self.config.passthrough_tier(model)
                if self.config.unknown_models == "passthrough"
                else None
            )
            if tier is None:
                return _error(
                    404,
                    f"The model '{model}' does not exist on this gateway; send "
                    f"model='{self.config.alias}' to be routed.",
                    kind="invalid_request_error",
                    param="model",
                    code="model_not_found",
                )
        return await self._serve(request, body, messages, full_text, text, stream, routed, tier)

    # -- the decision and the attempts -------------------------------------------------------
    async def _serve(
        self, request: Request, body: dict[str, Any], messages: list, full_text: str,
        text: str | None, stream: bool, routed: bool, tier: str | None,
    ) -> Response:  # fmt: skip
        fleet = self.fleet
        assert fleet is not None
        arrival = time.time()
        start = time.perf_counter()
        self._n += 1
        rid = f"gw-{self._id_prefix}{self._n:012x}"
        tags = _tags(request, body, self.config)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        max_tokens = (
            max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else -1
        )
        p_hard = None if text is None else await self.scorer.score(text)
        view = RequestView(
            rid, fleet.now_s(), self.count_tokens(full_text), max_tokens, "", "gateway", tags,
            {"p_hard": p_hard if p_hard is not None else float("nan")},
        )  # fmt: skip
        if routed:
            tier = self.policy.route(view, fleet.view, self.rng)
            if tier not in self.upstreams:
                raise RuntimeError(f"the policy chose {tier!r}, which has no upstream")
        elif self.config.privacy.tag in tags and tier not in self.config.private_tiers:
            return _error(
                403,
                f"A request tagged '{self.config.privacy.tag}' may only go to a private "
                f"upstream; '{body['model']}' is served by the public tier '{tier}'.",
                kind="invalid_request_error",
                param="model",
                code="sensitive_to_public_model",
            )
        assert tier is not None
        fleet.decided[0] += 1
        decision_s = time.perf_counter() - start
        self.metrics.decision.observe(decision_s)
        rec: dict[str, Any] = {
            "v": LOG_VERSION,
            "request_id": rid,
            "time": arrival,
            "model_requested": body["model"],
            "routed": routed,
            "stream": stream,
            "tier": tier,
            "model": self.config.upstreams[tier].model,
            "p_hard": p_hard,
            "threshold": self.threshold if routed else None,
            "tags": sorted(tags),
            "prompt_sha256": None,
            "prompt_tokens": view.prompt_tokens,
            "max_tokens": None if max_tokens < 0 else max_tokens,
            "output_tokens": None,
            "ttft_s": None,
            "latency_s": None,
            "decision_ms": round(decision_s * 1000, 4),
            "cost_usd": None,
            "status": "failed",
            "http_status": None,
            "fail_reason": "",
            "attempts": [],
        }
        mode = self.config.decision_log.prompt
        if mode != "none" and text is not None:
            rec["prompt_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if mode == "text" and text is not None:
            rec["prompt"] = text

        send_body = body
        hide_usage = False
        if stream:
            opts = body.get("stream_options")
            if not (isinstance(opts, dict) and opts.get("include_usage")):
                send_body = {**body, "stream_options": {**(opts or {}), "include_usage": True}}
                hide_usage = True
        tried: list[str] = []
        n_429 = 0
        last: UpstreamFailure | None = None
        while True:
            failure, opened = await self._attempt(tier, send_body, stream, tried)
            if failure is None:
                break
            last = failure
            rec["attempts"].append(
                {"tier": tier, "outcome": failure.reason}
                | ({"retry_after_s": failure.retry_after_s} if failure.retry_after_s else {})
                | ({"http_status": failure.status} if failure.status else {})
            )
            n_429 += failure.reason == "rate_limited"
            if failure.reason == "client_error":
                return self._finish_error(rec, tier, failure.status or 400, failure.body, failure)
            nxt = None
            if routed:
                attempt = AttemptView(
                    tier, False, failure.reason, tuple(tried), n_429, float("nan")
                )
                nxt = self.policy.next_tier(view, attempt, fleet.view, self.rng)  # type: ignore[attr-defined]
            if nxt is None or nxt in tried:
                return self._exhausted(rec, tried, last)
            tier = nxt
            rec["tier"], rec["model"] = tier, self.config.upstreams[tier].model
        response, sent_s = opened
        headers = {
            "x-simkit-request-id": rid,
            "x-simkit-tier": tier,
            "x-simkit-model": self.config.upstreams[tier].model,
            "x-simkit-p-hard": "" if p_hard is None else f"{p_hard:.6f}",
            "x-simkit-fallbacks": str(len(rec["attempts"])),
        }
        if not stream:
            return await self._whole(rec, tier, response, sent_s, headers)
        return await self._stream(rec, tier, response, sent_s, headers, hide_usage)

    async def _attempt(
        self, tier: str, body: dict[str, Any], stream: bool, tried: list[str]
    ) -> tuple[UpstreamFailure | None, Any]:
        fleet = self.fleet
        assert fleet is not None
        tried.append(tier)
        up = self.upstreams[tier]
        if fleet.cooling(tier):  # honour the upstream's retry-after: do not send
            left = fleet.cooldown_until[tier] - time.monotonic()
            return UpstreamFailure("rate_limited", None, max(left, 0.0), None, "cooling down"), None
        fleet.routed[tier] += 1
        sent_s = time.perf_counter()
        try:
            await fleet.acquire(tier, up.spec.timeout_s)
        except TimeoutError:
            fleet.failed(tier)
            self.metrics.errors.labels(tier, "timeout").inc()
            return UpstreamFailure("timeout", detail="no free upstream slot in time"), None
        try:
            response = await up.open(body, stream=stream, timeout_s=up.spec.timeout_s)
        except UpstreamFailure as f:
            fleet.release(tier)
            if f.reason == "rate_limited":
                fleet.rate_limited(tier, f.retry_after_s)
                self.metrics.rate_limited.labels(tier).inc()
            elif f.reason != "client_error":
                fleet.failed(tier)
            self.metrics.errors.labels(tier, f.reason).inc()
            return f, None
        except BaseException:
            fleet.release(tier)
            raise
        return None, (response, sent_s)

    def _exhausted(self, rec: dict[str, Any], tried: list[str], last: UpstreamFailure) -> Response:
        all_429 = all(a["outcome"] == "rate_limited" for a in rec["attempts"])
        what = "; ".join(f"tier '{a['tier']}': {a['outcome']}" for a in rec["attempts"])
        if all_429:
            wait = max((a.get("retry_after_s") or 0.0) for a in rec["attempts"])
            headers = {"retry-after": str(max(1, int(np.ceil(wait))))}
            resp = _error(
                429, f"Every upstream tried is rate limited ({what}).", kind="rate_limit_error",
                code="upstream_rate_limited", headers=headers,
            )  # fmt: skip
        else:
            resp = _error(
                502,
                f"No upstream answered ({what}).",
                kind="api_error",
                code="upstream_unavailable",
            )
        rec["http_status"] = resp.status_code
        rec["fail_reason"] = last.reason
        self._record(rec)
        return resp

    def _finish_error(
        self,
        rec: dict[str, Any],
        tier: str,
        status: int,
        body: bytes | None,
        failure: UpstreamFailure,
    ) -> Response:
        rec["http_status"] = status
        rec["fail_reason"] = "client_error"
        self._record(rec)
        if body:
            return Response(body, status_code=status, media_type="application/json")
        return _error(
            status,
            f"The upstream of tier '{tier}' refused the request.",
            kind="invalid_request_error",
        )

    def _usage(self, rec: dict[str, Any], tier: str, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(pt, int) and pt >= 0:
            rec["prompt_tokens"] = pt
        if isinstance(ct, int) and ct >= 0:
            rec["output_tokens"] = ct
            cost = self.config.upstreams[tier].price.cost_usd(rec["prompt_tokens"], ct)
            rec["cost_usd"] = cost

    async def _whole(
        self, rec: dict[str, Any], tier: str, response: UpstreamResponse, sent_s: float,
        headers: dict[str, str],
    ) -> Response:  # fmt: skip
        fleet = self.fleet
        assert fleet is not None
        rec["ttft_s"] = time.perf_counter() - sent_s
        read = False
        try:
            data = await response.read()
            read = True
        except BaseException as exc:
            rec["status"] = "cancelled" if isinstance(exc, asyncio.CancelledError) else "failed"
            rec["fail_reason"] = "client_disconnected" if rec["status"] == "cancelled" else "error"
            raise
        finally:
            response.close(complete=read)
            fleet.release(tier)
            if rec["status"] != "completed" and rec["fail_reason"]:
                self._record(rec)
        e2e = time.perf_counter() - sent_s
        rec["latency_s"] = e2e
        try:
            self._usage(rec, tier, json.loads(data).get("usage"))
        except (ValueError, AttributeError):
            pass  # an answer without JSON usage keeps unknown token counts
        rec["status"], rec["http_status"] = "completed", 200
        self._done(rec, tier, e2e)
        return Response(data, media_type="application/json", headers=headers)

    async def _stream(
        self, rec: dict[str, Any], tier: str, response: UpstreamResponse, sent_s: float,
        headers: dict[str, str], hide_usage: bool,
    ) -> Response:  # fmt: skip
        fleet = self.fleet
        assert fleet is not None
        events = _Events(response.iter_bytes())

        def close(complete: bool) -> None:
            response.close(complete=complete)  # closing an unfinished answer cancels it upstream
            fleet.release(tier)

        try:
            first = await events.next()
            obj = None if first is None else _parse_event(first)
        except _SSEError as exc:
            close(False)
            return self._bad_stream(rec, tier, str(exc), started=False)
        except BaseException:
            close(False)
            raise
        rec["ttft_s"] = time.perf_counter() - sent_s

        async def body() -> AsyncIterator[bytes]:
            ok = False
            try:
                pending, cur = first, obj
                while pending is not None:
                    if cur is not None and cur.get("usage") and not cur.get("choices"):
                        self._usage(rec, tier, cur["usage"])
                        if not hide_usage:
                            yield pending + b"\n\n"
                    else:
                        yield pending + b"\n\n"
                    pending = await events.next()
                    cur = None if pending is None else _parse_event(pending)
                ok = True
            except _SSEError as exc:
                rec["status"], rec["fail_reason"] = "failed", "invalid_sse"
                self.metrics.errors.labels(tier, "invalid_sse").inc()
                err = {"error": {"message": f"The upstream of tier '{tier}' sent an invalid "
                                 f"event stream ({exc}).", "type": "api_error", "param": None,
                                 "code": "invalid_upstream_stream"}}  # fmt: skip
                yield b"data: " + json.dumps(err).encode() + b"\n\n"
            except (asyncio.CancelledError, GeneratorExit):
                rec["status"], rec["fail_reason"] = "cancelled", "client_disconnected"
                raise
            except Exception as exc:  # the upstream connection broke mid-stream
                rec["status"], rec["fail_reason"] = "failed", "error"
                _log.warning("tier %s: stream broke: %s", tier, type(exc).__name__)
            finally:
                close(ok and events.done)
                e2e = time.perf_counter() - sent_s
                if ok:
                    rec["status"], rec["http_status"] = "completed", 200
                    self._done(rec, tier, e2e)
                else:
                    rec["http_status"] = 200
                    rec["latency_s"] = e2e
                    self._record(rec)

        return _PassThrough(body(), media_type="text/event-stream", headers=headers)

    def _bad_stream(
        self, rec: dict[str, Any], tier: str, problem: str, *, started: bool
    ) -> Response:
        self.metrics.errors.labels(tier, "invalid_sse").inc()
        rec["attempts"].append({"tier": tier, "outcome": "invalid_sse"})
        rec["http_status"], rec["fail_reason"] = 502, "invalid_sse"
        self._record(rec)
        return _error(
            502, f"The upstream of tier '{tier}' sent an invalid event stream ({problem}).",
            kind="api_error", code="invalid_upstream_stream",
        )  # fmt: skip

    def _done(self, rec: dict[str, Any], tier: str, e2e: float) -> None:
        fleet = self.fleet
        assert fleet is not None
        rec["latency_s"] = e2e
        rec["attempts"].append({"tier": tier, "outcome": "completed"})
        fleet.finished(tier, e2e, rec["cost_usd"] or 0.0)
        ttft, e2e_hist, spend = self.metrics.tier(tier)
        ttft.observe(rec["ttft_s"])
        e2e_hist.observe(e2e)
        if rec["cost_usd"]:
            spend.inc(rec["cost_usd"])
        self._record(rec)

    def _record(self, rec: dict[str, Any]) -> None:
        self.metrics.request(rec["tier"], rec["status"]).inc()
        if self.log is not None:
            for key in ("ttft_s", "latency_s", "cost_usd"):
                if rec[key] is not None:
                    rec[key] = round(rec[key], 9)
            self.log.append(rec)


def create_app(
    config: GatewayConfig,
    router: Router,
    *,
    decision_log: DecisionLog | None = None,
    seed: int = 0,
) -> Starlette:
    """The gateway as an ASGI application.

    Parameters
    ----------
    config : GatewayConfig
        From :func:`~simkit.gateway.config.load_gateway_config` (checked against the bundle).
    router : Router
        The loaded bundle and threshold.
    decision_log : DecisionLog, optional
        Where decisions are appended (opened at startup, closed at shutdown).
    seed : int
        Seed of the generator policies receive (the built-in gateway policies draw nothing).
    """
    gw = Gateway(config, router, decision_log, seed)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", gw.chat, methods=["POST"]),
            Route("/v1/models", gw.models, methods=["GET"]),
            Route("/healthz", gw.healthz, methods=["GET"]),
            Route("/metrics", gw.metrics_route, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gw
    return app
