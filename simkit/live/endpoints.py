"""The endpoints file: which OpenAI-compatible servers a recording may call, and at what price.

::

    endpoints:
      llama-local:                          # the name used in --models and in the trace
        base_url: http://127.0.0.1:8000/v1  # `vllm serve meta-llama/Meta-Llama-3-8B-Instruct`
        model: meta-llama/Meta-Llama-3-8B-Instruct
        usd_per_gpu_hour: 1.37              # self-hosted: $0 per token, GPU time recorded
        gpus: 1
        max_concurrency: 64
        context_window: 8192
      gpt-4o:
        base_url: https://api.openai.com/v1
        model: gpt-4o                       # priced from the shipped catalog ...
        provider: openai
        api_key_env: OPENAI_API_KEY         # the *name* of the variable, never the key
        rpm: 500
        tpm: 30000
        max_output_tokens: 512
        timeout_s: 60
      llama-70b-together:
        base_url: https://api.together.xyz/v1
        model: meta-llama/Llama-3.3-70B-Instruct-Turbo
        api_key_env: TOGETHER_API_KEY
        price: {input_usd_per_mtok: 0.88, output_usd_per_mtok: 0.88}   # ... or given here

Keys: ``base_url`` and ``model`` (required); ``api_key_env``; ``provider`` and ``price`` (the
catalog price by model name, or an override); ``usd_per_gpu_hour`` and ``gpus`` (a
self-hosted endpoint: per-token price $0 unless ``price`` is given); ``max_concurrency``
(default 16); ``rpm``, ``tpm`` (client-side limits); ``timeout_s`` (default 60);
``max_output_tokens`` (default 512, sent as ``max_tokens``); ``context_window``;
``max_retries`` (default 3); ``prompt_token_factor`` (default 1.25: the budget reserves this
multiple of the locally counted prompt tokens, for tokenizers that count more than cl100k).

Every error names the file and the key (``endpoints.gpt-4o.rpm``). An endpoint file naming
the same endpoint twice, or two endpoints serving the same model at the same URL, is refused.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from simkit.errors import PriceError, SpecError
from simkit.fleet.load import _strict_loader
from simkit.fleet.prices import ModelPrice, PriceCatalog

__all__ = ["Endpoint", "load_endpoints", "resolve_api_key", "select_endpoints"]

_KEYS = {
    "base_url",
    "model",
    "api_key_env",
    "provider",
    "price",
    "usd_per_gpu_hour",
    "gpus",
    "max_concurrency",
    "rpm",
    "tpm",
    "timeout_s",
    "max_output_tokens",
    "context_window",
    "max_retries",
    "prompt_token_factor",
}


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible endpoint a recording calls.

    Parameters
    ----------
    name : str
        The name in the endpoints file; it is the ``model`` of the recorded outcomes.
    base_url : str
        ``http(s)://host[:port]/v1``.
    model : str
        The model id sent in each request.
    price : ModelPrice
        USD per 1M input/output tokens ($0 for a self-hosted endpoint unless overridden).
    api_key_env : str or None
        Name of the environment variable holding the API key; None sends a placeholder key
        (a local vLLM server without ``--api-key`` accepts any).
    usd_per_gpu_hour : float
        Per-GPU rental of a self-hosted endpoint (0 for a hosted API).
    gpus : int
        GPUs behind a self-hosted endpoint.
    max_concurrency : int
        Requests in flight at once.
    rpm, tpm : float or None
        Client-side limits (requests and prompt + max output tokens per minute).
    timeout_s : float
        Limit on one attempt, from sending to the last chunk.
    max_output_tokens : int
        ``max_tokens`` of each request; the budget reserves it in full.
    context_window : int or None
        Prompt + ``max_output_tokens`` above this is recorded as ``context_exceeded``, unsent.
    max_retries : int
        Retries after a 429, a 5xx, a timeout or a dropped connection.
    prompt_token_factor : float
        The budget reserves ``ceil(factor * local prompt tokens) + 8`` prompt tokens.
    """

    name: str
    base_url: str
    model: str
    price: ModelPrice
    api_key_env: str | None = None
    usd_per_gpu_hour: float = 0.0
    gpus: int = 1
    max_concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    timeout_s: float = 60.0
    max_output_tokens: int = 512
    context_window: int | None = None
    max_retries: int = 3
    prompt_token_factor: float = 1.25

    @property
    def self_hosted(self) -> bool:
        """Whether the endpoint is paid by the GPU-hour."""
        return self.usd_per_gpu_hour > 0

    def reserved_prompt_tokens(self, local_count: int) -> int:
        """The prompt tokens the budget reserves for a prompt counted ``local_count`` locally."""
        return math.ceil(self.prompt_token_factor * local_count) + 8

    def worst_case_usd(
        self, local_prompt_tokens: int, max_output_tokens: int | None = None
    ) -> float:
        """The most one attempt can cost: reserved prompt tokens plus every output token."""
        out = self.max_output_tokens if max_output_tokens is None else max_output_tokens
        return self.price.cost_usd(self.reserved_prompt_tokens(local_prompt_tokens), out)

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings (the key's variable name, never the key)."""
        return {
            "name": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "price": self.price.as_dict(),
            "usd_per_gpu_hour": self.usd_per_gpu_hour,
            "gpus": self.gpus,
            "max_concurrency": self.max_concurrency,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "timeout_s": self.timeout_s,
            "max_output_tokens": self.max_output_tokens,
            "context_window": self.context_window,
            "max_retries": self.max_retries,
            "prompt_token_factor": self.prompt_token_factor,
        }


def _number(
    body: Mapping[str, Any],
    key: str,
    where: str,
    source: str,
    *,
    integer: bool,
    low: float,
    strict: bool,
    default: Any,
) -> Any:
    if key not in body or body[key] is None:
        return default
    v = body[key]
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    ok = ok and (not integer or float(v) == int(v)) and (v > low if strict else v >= low)
    if not ok:
        kind = "an integer" if integer else "a number"
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise SpecError(source, key=f"{where}.{key}", problem=f"expected {kind} {bound}, got {v!r}")
    return int(v) if integer else float(v)


def _endpoint(name: str, body: Any, source: str, catalog: PriceCatalog) -> Endpoint:
    where = f"endpoints.{name}"
    if not isinstance(body, Mapping):
        raise SpecError(source, key=where, problem=f"expected a mapping of settings, got {body!r}")
    unknown = sorted(str(k) for k in body if k not in _KEYS)
    if unknown:
        raise SpecError(
            source,
            key=f"{where}.{unknown[0]}",
            problem="unknown key",
            hint=f"valid keys: {', '.join(sorted(_KEYS))}",
        )
    for req in ("base_url", "model"):
        if not isinstance(body.get(req), str) or not body[req].strip():
            raise SpecError(source, key=f"{where}.{req}", problem="missing; expected a string")
    url = urlparse(body["base_url"])
    if url.scheme not in ("http", "https") or not url.netloc:
        raise SpecError(
            source,
            key=f"{where}.base_url",
            problem=f"expected http(s)://host[:port]/v1, got {body['base_url']!r}",
        )
    key_env = body.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not key_env.isidentifier()):
        raise SpecError(
            source,
            key=f"{where}.api_key_env",
            problem=f"expected the name of an environment variable (such as OPENAI_API_KEY), got {key_env!r}",
            hint="never put the key itself in the file",
        )
    gpu_usd = _number(
        body, "usd_per_gpu_hour", where, source, integer=False, low=0, strict=False, default=0.0
    )
    if "price" in body:
        p = body["price"]
        if not isinstance(p, Mapping) or set(p) != {"input_usd_per_mtok", "output_usd_per_mtok"}:
            raise SpecError(
                source,
                key=f"{where}.price",
                problem=f"expected {{input_usd_per_mtok: X, output_usd_per_mtok: Y}}, got {p!r}",
            )
        try:
            price = ModelPrice(
                **p, model=body["model"], provider="override", resolved_by="override"
            )
        except PriceError as exc:
            raise SpecError(source, key=f"{where}.price.{exc.key}", problem=exc.problem) from None
    elif gpu_usd > 0:
        price = ModelPrice(
            0.0, 0.0, model=body["model"], provider="self-hosted", resolved_by="override"
        )
    else:
        try:
            price = catalog.resolve(body["model"], provider=body.get("provider"))
        except PriceError as exc:
            raise PriceError(
                source, key=f"{where}.model", problem=exc.problem, hint=exc.hint
            ) from None
    kw = dict(integer=True, low=1, strict=False)
    return Endpoint(
        name=name,
        base_url=body["base_url"].rstrip("/"),
        model=body["model"],
        price=price,
        api_key_env=key_env,
        usd_per_gpu_hour=gpu_usd,
        gpus=_number(body, "gpus", where, source, default=1, **kw),
        max_concurrency=_number(body, "max_concurrency", where, source, default=16, **kw),
        rpm=_number(body, "rpm", where, source, integer=False, low=0, strict=True, default=None),
        tpm=_number(body, "tpm", where, source, integer=False, low=0, strict=True, default=None),
        timeout_s=_number(
            body, "timeout_s", where, source, integer=False, low=0, strict=True, default=60.0
        ),
        max_output_tokens=_number(body, "max_output_tokens", where, source, default=512, **kw),
        context_window=_number(body, "context_window", where, source, default=None, **kw),
        max_retries=_number(
            body, "max_retries", where, source, integer=True, low=0, strict=False, default=3
        ),
        prompt_token_factor=_number(
            body,
            "prompt_token_factor",
            where,
            source,
            integer=False,
            low=1,
            strict=False,
            default=1.25,
        ),
    )


def endpoints_from_dict(
    data: Any, *, source: str = "<endpoints>", catalog: PriceCatalog | None = None
) -> dict[str, Endpoint]:
    """Validate parsed endpoints data (the layout in the module docstring); name -> Endpoint."""
    if not isinstance(data, Mapping) or set(data) - {"endpoints"}:
        extra = sorted(set(data) - {"endpoints"}) if isinstance(data, Mapping) else []
        raise SpecError(
            source,
            key=extra[0] if extra else None,
            problem="expected one top-level key 'endpoints' (a mapping of name -> settings)",
        )
    body = data.get("endpoints")
    if not isinstance(body, Mapping) or not body:
        raise SpecError(source, key="endpoints", problem="expected a mapping of name -> settings")
    catalog = catalog if catalog is not None else PriceCatalog.load()
    out: dict[str, Endpoint] = {}
    seen: dict[tuple[str, str], str] = {}
    for name, settings in body.items():
        ep = _endpoint(str(name), settings, source, catalog)
        ident = (ep.base_url, ep.model)
        if ident in seen:
            raise SpecError(
                source,
                key=f"endpoints.{name}.model",
                problem=f"model {ep.model!r} at {ep.base_url} is already named by endpoint "
                f"{seen[ident]!r}; each model is recorded once",
            )
        seen[ident] = ep.name
        out[ep.name] = ep
    return out


def load_endpoints(
    path: str | PathLike[str], *, catalog: PriceCatalog | None = None
) -> dict[str, Endpoint]:
    """Read and validate an endpoints YAML file; name -> :class:`Endpoint`.

    Raises
    ------
    SpecError
        Naming the file and the key (a duplicate endpoint name is a YAML duplicate key).
    """
    import yaml

    p = Path(path)
    try:
        data = yaml.load(p.read_text("utf-8"), Loader=_strict_loader())
    except OSError as exc:
        raise SpecError(p, problem=f"cannot read the endpoints file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SpecError(p, problem=f"not valid YAML ({exc})") from None
    return endpoints_from_dict(data, source=str(p), catalog=catalog)


def select_endpoints(
    endpoints: Mapping[str, Endpoint], names: Sequence[str], *, source: str = "--models"
) -> list[Endpoint]:
    """The endpoints named in ``names``, in that order; an unknown or repeated name is an error."""
    if not names:
        raise SpecError(
            source, problem="name at least one endpoint", hint=f"known: {', '.join(endpoints)}"
        )
    out = []
    for n in names:
        if n not in endpoints:
            raise SpecError(
                source,
                key=n,
                problem="no such endpoint in the endpoints file",
                hint=f"known endpoints: {', '.join(endpoints)}",
            )
        if any(e.name == n for e in out):
            raise SpecError(source, key=n, problem="named twice")
        out.append(endpoints[n])
    return out


def resolve_api_key(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> str:
    """The endpoint's API key from the environment (a placeholder when it names none).

    Raises
    ------
    SpecError
        If ``api_key_env`` is set but the variable is unset or empty (the key is never shown).
    """
    env = os.environ if environ is None else environ
    if endpoint.api_key_env is None:
        return "EMPTY"
    key = env.get(endpoint.api_key_env)
    if not key:
        raise SpecError(
            f"endpoint {endpoint.name!r}",
            key="api_key_env",
            problem=f"environment variable {endpoint.api_key_env} is not set",
            hint=f"export {endpoint.api_key_env}=... before recording (no request was sent)",
        )
    return key
