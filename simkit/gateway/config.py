"""The gateway's configuration: upstreams per tier, client keys, routing options, the decision log.

A ``gateway.yaml``::

    alias: router                  # the model name clients send to be routed (default 'router')
    threshold: share_0.20          # a named threshold of the bundle, or a p_hard value
    api_keys:                      # sha256 of each client key (simkit gateway hash-key)
      - sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
    max_body_bytes: 1048576        # larger requests get 413
    unknown_models: refuse         # or 'passthrough': other model names go to the upstream
                                   # whose `model` or `serves` names them; unknown ones get 404
    privacy:                       # requests tagged sensitive stay on private upstreams
      tag: sensitive
      header: x-simkit-tags        # comma-separated tags in this request header ...
      metadata_key: tags           # ... or in the body's metadata (a list or comma string)
    spillover:                     # optional: leave an overloaded tier (live counters)
      max_queued: 32               # requests waiting for an upstream slot
      max_wait_s: 2.0              # estimated wait for a slot
      min_headroom: 0.1            # free share of slots; 0 while a retry-after runs
    fallback:
      on: [rate_limited, error, timeout]   # what sends a request to the next tier
      order: [cheap, strong]       # optional; default: more expensive tiers first
    decision_log:
      path: decisions.jsonl        # one JSON line per request, appended crash-safely
      prompt: hash                 # 'hash' (default), 'text' or 'none'
      fsync: false                 # fsync after every line (slower; survives power loss)
    upstreams:                     # one per bundle tier, keyed by the bundle's tier names
      cheap:
        base_url: http://127.0.0.1:8001/v1
        model: mistralai/Mixtral-8x7B-Instruct-v0.1
        api_key_env: CHEAP_API_KEY # the key is read from this variable, never from the file
        max_concurrency: 64
        timeout_s: 30
        price: {input_usd_per_mtok: 0.6, output_usd_per_mtok: 0.6}
        private: true
        serves: [mixtral]          # more model names passed through to it
      strong:
        base_url: https://api.openai.com/v1
        model: gpt-4o
        api_key_env: OPENAI_API_KEY
        price: {input_usd_per_mtok: 2.5, output_usd_per_mtok: 10}

Every error names the file and the key (``gateway.yaml, key 'upstreams.cheap.timeout_s':
must be > 0, got -1``). Secrets never live in the file: client keys are stored as SHA-256
hashes and upstream keys are read from the environment when the gateway starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from simkit.errors import SpecError
from simkit.fleet.prices import ModelPrice
from simkit.gateway.auth import parse_key_hash

__all__ = [
    "DecisionLogSpec",
    "GatewayConfig",
    "PrivacySpec",
    "SpillOverSpec",
    "UpstreamSpec",
    "load_gateway_config",
]

_FAILURES = ("rate_limited", "error", "timeout")
_TOP_KEYS = {
    "alias",
    "threshold",
    "api_keys",
    "max_body_bytes",
    "unknown_models",
    "privacy",
    "spillover",
    "fallback",
    "decision_log",
    "upstreams",
}
_UPSTREAM_KEYS = {
    "base_url",
    "model",
    "api_key_env",
    "max_concurrency",
    "timeout_s",
    "price",
    "private",
    "serves",
}


@dataclass(frozen=True)
class UpstreamSpec:
    """One tier's upstream: an OpenAI-compatible endpoint and what it costs.

    Parameters
    ----------
    tier : str
        The bundle tier this upstream serves.
    base_url : str
        The endpoint's base URL, e.g. ``http://127.0.0.1:8001/v1``.
    model : str
        The model name sent upstream for requests routed to this tier.
    api_key_env : str or None
        Environment variable holding the upstream key (read at start, never logged).
    max_concurrency : int
        Requests in flight to this upstream at once; more wait for a slot.
    timeout_s : float
        Limit on waiting for a slot plus the whole upstream call.
    price : ModelPrice
        Per-token price, for the spend metric and the decision log.
    private : bool
        Keeps data inside our infrastructure (sensitive requests may go here).
    serves : tuple of str
        Further model names passed through to this upstream.
    """

    tier: str
    base_url: str
    model: str
    price: ModelPrice
    api_key_env: str | None = None
    max_concurrency: int = 64
    timeout_s: float = 60.0
    private: bool = False
    serves: tuple[str, ...] = ()

    def api_key(self) -> str | None:
        """The upstream key from the environment (None when no variable is configured)."""
        return None if self.api_key_env is None else os.environ.get(self.api_key_env)


@dataclass(frozen=True)
class PrivacySpec:
    """How a request is tagged: a header or a metadata field, each holding comma-separated tags."""

    tag: str = "sensitive"
    header: str = "x-simkit-tags"
    metadata_key: str = "tags"


@dataclass(frozen=True)
class SpillOverSpec:
    """Limits beyond which a tier counts as overloaded (see :class:`~simkit.policies.SpillOverPolicy`)."""

    max_queued: int | None = None
    max_wait_s: float | None = None
    min_headroom: float | None = None


@dataclass(frozen=True)
class DecisionLogSpec:
    """Where and how the decision log is written."""

    path: Path | None = None
    prompt: str = "hash"  # 'hash', 'text' or 'none'
    fsync: bool = False


@dataclass(frozen=True)
class GatewayConfig:
    """A validated gateway configuration (see the module docstring for the YAML).

    Attributes
    ----------
    upstreams : Mapping[str, UpstreamSpec]
        Tier -> upstream, in the bundle's tier order (cheapest first).
    key_hashes : tuple of bytes
        SHA-256 digests of the accepted client keys.
    """

    upstreams: Mapping[str, UpstreamSpec]
    key_hashes: tuple[bytes, ...]
    alias: str = "router"
    threshold: str | float | None = None
    max_body_bytes: int = 1 << 20
    unknown_models: str = "refuse"
    privacy: PrivacySpec = field(default_factory=PrivacySpec)
    spillover: SpillOverSpec | None = None
    fallback_on: tuple[str, ...] = _FAILURES
    fallback_order: tuple[str, ...] | None = None
    decision_log: DecisionLogSpec = field(default_factory=DecisionLogSpec)
    source: str = "<config>"

    @property
    def tiers(self) -> tuple[str, ...]:
        """Tier names, cheapest first."""
        return tuple(self.upstreams)

    @property
    def private_tiers(self) -> frozenset[str]:
        """Tiers whose upstream is private."""
        return frozenset(t for t, u in self.upstreams.items() if u.private)

    def passthrough_tier(self, model: str) -> str | None:
        """The tier whose upstream serves ``model`` by name, or None."""
        for tier, up in self.upstreams.items():
            if model == up.model or model in up.serves:
                return tier
        return None


def _err(source: str, key: str, problem: str, hint: str | None = None) -> SpecError:
    return SpecError(source, key=key, problem=problem, hint=hint)


def _mapping(value: Any, key: str, source: str, allowed: set[str] | None = None) -> Mapping:
    if not isinstance(value, Mapping):
        raise _err(source, key, f"expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise _err(
                source,
                f"{key}.{unknown[0]}" if key else unknown[0],
                "unknown key",
                f"valid keys: {', '.join(sorted(allowed))}",
            )
    return value


def _number(value: Any, key: str, source: str, *, low: float, integer: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, int)
    if not ok or not math.isfinite(value) or not value > low:
        what = "a whole number" if integer else "a number"
        raise _err(source, key, f"must be {what} > {low:g}, got {value!r}")
    return value


def _text(value: Any, key: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(source, key, f"expected a non-empty string, got {value!r}")
    return value


def _upstream(tier: str, body: Any, source: str) -> UpstreamSpec:
    key = f"upstreams.{tier}"
    body = _mapping(body, key, source, _UPSTREAM_KEYS)
    for required in ("base_url", "model", "price"):
        if required not in body:
            raise _err(source, f"{key}.{required}", "missing")
    base_url = _text(body["base_url"], f"{key}.base_url", source)
    if not base_url.startswith(("http://", "https://")):
        raise _err(source, f"{key}.base_url", f"expected an http(s) URL, got {base_url!r}")
    price = _mapping(body["price"], f"{key}.price", source)
    unknown = sorted(set(price) - {"input_usd_per_mtok", "output_usd_per_mtok"})
    if unknown or len(price) != 2:
        bad = unknown[0] if unknown else "input_usd_per_mtok"
        raise _err(
            source,
            f"{key}.price.{bad}",
            "unknown key" if unknown else "expected input_usd_per_mtok and output_usd_per_mtok",
            "valid keys: input_usd_per_mtok, output_usd_per_mtok (USD per 1M tokens; 0 for "
            "a self-hosted tier)",
        )
    for k in ("input_usd_per_mtok", "output_usd_per_mtok"):
        v = price[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise _err(source, f"{key}.price.{k}", f"must be a finite price >= 0, got {v!r}")
    env = body.get("api_key_env")
    if env is not None:
        env = _text(env, f"{key}.api_key_env", source)
    serves = body.get("serves", [])
    if not isinstance(serves, list) or not all(isinstance(s, str) and s for s in serves):
        raise _err(source, f"{key}.serves", f"expected a list of model names, got {serves!r}")
    private = body.get("private", False)
    if not isinstance(private, bool):
        raise _err(source, f"{key}.private", f"expected true or false, got {private!r}")
    model = _text(body["model"], f"{key}.model", source)
    return UpstreamSpec(
        tier=tier,
        base_url=base_url.rstrip("/"),
        model=model,
        price=ModelPrice(
            float(price["input_usd_per_mtok"]),
            float(price["output_usd_per_mtok"]),
            model=model,
            provider="gateway config",
        ),
        api_key_env=env,
        max_concurrency=int(
            _number(
                body.get("max_concurrency", 64),
                f"{key}.max_concurrency",
                source,
                low=0,
                integer=True,
            )
        ),
        timeout_s=float(_number(body.get("timeout_s", 60.0), f"{key}.timeout_s", source, low=0)),
        private=private,
        serves=tuple(serves),
    )


def _tier_list(value: Any, key: str, tiers: Sequence[str], source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _err(source, key, f"expected a list of tier names, got {value!r}")
    for t in value:
        if t not in tiers:
            raise _err(source, key, f"unknown tier {t!r}; tiers: {', '.join(tiers)}")
    return tuple(value)


def load_gateway_config(
    spec: str | PathLike[str] | Mapping[str, Any], *, bundle_tiers: Sequence[str]
) -> GatewayConfig:
    """Read and validate a gateway configuration against the bundle's tiers.

    Parameters
    ----------
    spec : path or mapping
        A YAML file, or its parsed content.
    bundle_tiers : sequence of str
        The tiers of the bundle the gateway routes with, cheapest first; the config must give
        each an upstream and name no other tier.

    Returns
    -------
    GatewayConfig

    Raises
    ------
    SpecError
        Unreadable file, unknown or missing key, a bad value, a tier the bundle does not
        know or a bundle tier without an upstream, an upstream key variable that is not set
        (each naming the file and the key).
    """
    if isinstance(spec, Mapping):
        source, data = "<gateway config>", spec
    else:
        import yaml

        source = str(spec)
        try:
            data = yaml.safe_load(Path(spec).read_text("utf-8"))
        except FileNotFoundError:
            raise _err(source, "", "config file not found") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise _err(source, "", f"not readable YAML ({exc})") from None
    data = _mapping(data, "", source, _TOP_KEYS)
    if "upstreams" not in data:
        raise _err(source, "upstreams", "missing", "give one upstream per tier of the bundle")
    ups = _mapping(data["upstreams"], "upstreams", source)
    known = list(bundle_tiers)
    for tier in ups:
        if tier not in known:
            raise _err(
                source,
                f"upstreams.{tier}",
                f"the bundle has no tier {tier!r}; its tiers: {', '.join(known)}",
            )
    missing = [t for t in known if t not in ups]
    if missing:
        raise _err(
            source,
            "upstreams",
            f"no upstream for the bundle's tier {missing[0]!r}; every tier the bundle can "
            f"choose needs one (tiers: {', '.join(known)})",
        )
    upstreams = {t: _upstream(t, ups[t], source) for t in known}
    for tier, up in upstreams.items():
        if up.api_key_env is not None and not os.environ.get(up.api_key_env):
            raise _err(
                source,
                f"upstreams.{tier}.api_key_env",
                f"the environment variable {up.api_key_env!r} is not set",
                "export it before starting the gateway; keys are never read from the file",
            )
    keys = data.get("api_keys")
    if not isinstance(keys, list) or not keys:
        raise _err(
            source,
            "api_keys",
            "expected a non-empty list of 'sha256:<hex>' client key hashes",
            "hash a key with: simkit gateway hash-key",
        )
    hashes = tuple(parse_key_hash(k, f"api_keys[{i}]", source) for i, k in enumerate(keys))
    threshold = data.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (str, int, float))
    ):
        raise _err(source, "threshold", f"expected a threshold name or a number, got {threshold!r}")
    unknown_models = data.get("unknown_models", "refuse")
    if unknown_models not in ("refuse", "passthrough"):
        raise _err(
            source, "unknown_models", f"expected 'refuse' or 'passthrough', got {unknown_models!r}"
        )
    privacy = _mapping(
        data.get("privacy", {}), "privacy", source, {"tag", "header", "metadata_key"}
    )
    privacy_spec = PrivacySpec(**{k: _text(v, f"privacy.{k}", source) for k, v in privacy.items()})
    spill = None
    if data.get("spillover") is not None:
        s = _mapping(
            data["spillover"], "spillover", source, {"max_queued", "max_wait_s", "min_headroom"}
        )
        if not s:
            raise _err(
                source, "spillover", "set at least one of max_queued, max_wait_s, min_headroom"
            )
        spill = SpillOverSpec(
            max_queued=None
            if s.get("max_queued") is None
            else int(
                _number(s["max_queued"], "spillover.max_queued", source, low=-1, integer=True)
            ),
            max_wait_s=None
            if s.get("max_wait_s") is None
            else float(_number(s["max_wait_s"], "spillover.max_wait_s", source, low=0)),
            min_headroom=None
            if s.get("min_headroom") is None
            else float(_number(s["min_headroom"], "spillover.min_headroom", source, low=0)),
        )
    fb = _mapping(data.get("fallback", {}), "fallback", source, {"on", "order"})
    on = fb.get("on", list(_FAILURES))
    if not isinstance(on, list) or any(r not in _FAILURES for r in on):
        raise _err(source, "fallback.on", f"expected a list of {', '.join(_FAILURES)}; got {on!r}")
    order = (
        None
        if fb.get("order") is None
        else _tier_list(fb["order"], "fallback.order", known, source)
    )
    log = _mapping(
        data.get("decision_log", {}), "decision_log", source, {"path", "prompt", "fsync"}
    )
    prompt = log.get("prompt", "hash")
    if prompt not in ("hash", "text", "none"):
        raise _err(
            source, "decision_log.prompt", f"expected 'hash', 'text' or 'none', got {prompt!r}"
        )
    fsync = log.get("fsync", False)
    if not isinstance(fsync, bool):
        raise _err(source, "decision_log.fsync", f"expected true or false, got {fsync!r}")
    log_path = log.get("path")
    if log_path is not None:
        log_path = Path(_text(log_path, "decision_log.path", source))
        if not log_path.is_absolute() and not isinstance(spec, Mapping):
            log_path = Path(spec).parent / log_path
    return GatewayConfig(
        upstreams=upstreams,
        key_hashes=hashes,
        alias=_text(data.get("alias", "router"), "alias", source),
        threshold=threshold,
        max_body_bytes=int(
            _number(
                data.get("max_body_bytes", 1 << 20), "max_body_bytes", source, low=0, integer=True
            )
        ),
        unknown_models=unknown_models,
        privacy=privacy_spec,
        spillover=spill,
        fallback_on=tuple(on),
        fallback_order=order,
        decision_log=DecisionLogSpec(path=log_path, prompt=prompt, fsync=fsync),
        source=source,
    )
