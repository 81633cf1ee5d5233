"""Calls to one tier's upstream over aiohttp (the transport the ``openai`` client itself uses).

The answer's bytes are passed through as the upstream sent them, never parsed into objects and
re-serialised. The gateway talks to the upstream with aiohttp directly rather than through the
``openai`` client because the client's request building costs more than the rest of the
gateway's own work: measured on this 2-core machine against the loopback stub, one
non-streaming call took 1.0-1.07 ms of CPU through ``openai`` 3.63 (its aiohttp transport),
0.87 ms through ``httpx`` and 0.25 ms through ``aiohttp`` (300 calls each, same process; the
machine was shared). Failures become the reasons the fallback policy acts on:

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
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from simkit.gateway.config import UpstreamSpec

__all__ = ["Upstream", "UpstreamFailure", "UpstreamResponse", "retry_after_s"]


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


class UpstreamResponse:
    """An open 2xx answer: read it whole or chunk by chunk, then close it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def read(self) -> bytes:
        """The whole body."""
        return await self._response.read()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        async for chunk in self._response.content.iter_any():
            yield chunk

    def close(self, *, complete: bool) -> None:
        """Give the connection back (``complete``: the body was read to its end) or close it,
        which cancels the upstream request."""
        if complete:
            self._response.release()
        else:
            self._response.close()


class Upstream:
    """One tier's OpenAI-compatible endpoint.

    Parameters
    ----------
    spec : UpstreamSpec
    """

    def __init__(self, spec: UpstreamSpec) -> None:
        self.spec = spec
        self.url = f"{spec.base_url}/chat/completions"
        self.session: aiohttp.ClientSession | None = None
        self._headers: dict[str, str] = {}

    async def start(self) -> None:
        """Open the connection pool (inside the running event loop)."""
        key = self.spec.api_key()
        self._headers = {"content-type": "application/json"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        connector = aiohttp.TCPConnector(limit=self.spec.max_concurrency, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def close(self) -> None:
        """Close the connection pool."""
        if self.session is not None:
            await self.session.close()

    async def open(
        self, body: dict[str, Any], *, stream: bool, timeout_s: float
    ) -> UpstreamResponse:
        """Send ``body`` with this upstream's model; the open answer, or :class:`UpstreamFailure`."""
        assert self.session is not None, "Upstream.open before start()"
        payload = json.dumps({**body, "model": self.spec.model, "stream": stream}).encode()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        try:
            response = await self.session.post(
                self.url, data=payload, headers=self._headers, timeout=timeout
            )
        except TimeoutError:
            raise UpstreamFailure("timeout", detail=f"no answer within {timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamFailure("error", detail=f"connection failed: {exc}") from None
        status = response.status
        if status < 400:
            return UpstreamResponse(response)
        try:
            error_body = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            error_body = None
        finally:
            response.release()
        if status == 429:
            raise UpstreamFailure("rate_limited", 429, retry_after_s(response.headers), error_body)
        reason = "error" if status >= 500 else "client_error"
        raise UpstreamFailure(reason, status, None, error_body)
