"""Calls to one tier's upstream through the ``openai`` client (its aiohttp transport).

The answer's bytes are passed through as the upstream sent them (read through the client's
streaming-response interface, never parsed into objects and re-serialised); the client
contributes the base URL and key handling, timeouts, and the mapping of HTTP failures onto
exception types, which become the failure reasons the fallback policy acts on:

===========================  ================  ==========================================
upstream answer              reason            then
===========================  ================  ==========================================
429                          ``rate_limited``  ``retry-after`` starts a cool-down; fallback
5xx, connection refused      ``error``         fallback
no answer within timeout_s   ``timeout``       fallback
other 4xx                    ``client_error``  the upstream's answer goes to the client
===========================  ================  ==========================================
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import openai

from simkit.gateway.config import UpstreamSpec

__all__ = ["Upstream", "UpstreamFailure", "retry_after_s"]


def retry_after_s(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class UpstreamFailure(Exception):
    """An attempt that failed: why, the HTTP status if any, and the upstream's error body."""

    reason: str
    status: int | None = None
    retry_after_s: float | None = None
    body: bytes | None = None
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.status or self.detail})"


class Upstream:
    """One tier's OpenAI-compatible endpoint.

    Parameters
    ----------
    spec : UpstreamSpec
    """

    def __init__(self, spec: UpstreamSpec) -> None:
        self.spec = spec
        self.client: openai.AsyncOpenAI | None = None

    async def start(self) -> None:
        """Build the client (inside the running event loop)."""
        self.client = openai.AsyncOpenAI(
            base_url=self.spec.base_url,
            api_key=self.spec.api_key() or "no-key",
            max_retries=0,  # the gateway's fallback policy decides what happens next
            timeout=self.spec.timeout_s,
            http_client=openai.DefaultAioHttpClient(timeout=self.spec.timeout_s),
        )

    async def close(self) -> None:
        """Close the client's connections."""
        if self.client is not None:
            await self.client.close()

    async def open(self, body: dict[str, Any], *, stream: bool, timeout_s: float) -> Any:
        """Send ``body`` with this upstream's model; the opened streaming-response manager and
        response, or :class:`UpstreamFailure`.

        Returns
        -------
        (manager, response)
            ``response.iter_bytes()`` / ``response.read()`` give the answer; leave the manager
            with ``await manager.__aexit__(None, None, None)``.
        """
        assert self.client is not None, "Upstream.open before start()"
        extra = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
        manager = self.client.chat.completions.with_streaming_response.create(
            model=self.spec.model,
            messages=body["messages"],
            stream=stream,
            extra_body=extra or None,
            timeout=timeout_s,
        )
        started = time.monotonic()
        try:
            response = await manager.__aenter__()
        except openai.RateLimitError as exc:
            raise UpstreamFailure(
                "rate_limited", 429, retry_after_s(exc.response.headers), _body(exc)
            ) from None
        except openai.APIStatusError as exc:
            reason = "error" if exc.status_code >= 500 else "client_error"
            raise UpstreamFailure(reason, exc.status_code, None, _body(exc)) from None
        except openai.APITimeoutError as exc:
            if time.monotonic() - started < 0.9 * timeout_s:
                # the aiohttp transport reports a refused connection as a connect timeout:
                # one that came long before the limit is a connection failure
                raise UpstreamFailure(
                    "error", detail=f"connection failed: {exc.__cause__}"
                ) from None
            raise UpstreamFailure("timeout", detail=f"no answer within {timeout_s:g} s") from None
        except openai.APIConnectionError as exc:
            raise UpstreamFailure("error", detail=f"connection failed: {exc}") from None
        return manager, response


def _body(exc: openai.APIStatusError) -> bytes | None:
    try:
        return exc.response.content
    except Exception:  # a body that cannot be read is simply not forwarded
        return None
