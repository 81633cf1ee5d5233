"""Build a :class:`~simkit.fleet.spec.Fleet` from YAML (a file or an already-parsed mapping).

The format (every error names the YAML key, e.g. ``tiers.gpu.usd_per_gpu_hour``)::

    name: my-fleet
    price_overrides:            # optional, same format as simkit.fleet.prices.load_price_overrides
      prices: {my-model: {input_usd_per_mtok: 0.2, output_usd_per_mtok: 0.2}}
      aliases: {llama3-70b-prod: groq:llama3-70b-8192}
    tiers:                      # cheapest first; the order policies see
      gpu:
        kind: gpu
        preset: llama3-70b-a100-tp4      # simkit.fleet.presets.GPU_PRESETS; keys below override it
        load_balancer: least_outstanding  # | round_robin | shortest_queue | shared_queue
                                          # | prefix_affinity (needs prefix_cache)
        prefix_cache: false               # LRU prefix-block cache per replica (trace column
                                          # prefix_blocks); cached leading blocks skip prefill
        prefix_cache_tokens: 300000       # optional: cache capacity (default kv_capacity_tokens)
        replicas: 1
        usd_per_gpu_hour: 1.37
        quality_model: mistralai/Mixtral-8x7B-Instruct-v0.1
      frontier:
        kind: api
        model: gpt-4o                     # priced from the catalog ...
        provider: openai                  # ... optionally from one provider
        price: {input_usd_per_mtok: 2.5, output_usd_per_mtok: 10}   # ... or given here
        ttft_s: {median: 0.45, sigma: 0.3}   # a number means no jitter
        output_tokens_per_s: {median: 131, sigma: 0.25}
        rtt_s: 0.03
        prefill_tokens_per_s: 20000
        rate_limit: {style: openai, rpm: 10000, tpm: 2000000, burst_s: 60}
        retry: {max_retries: 2, backoff_base_s: 0.5, backoff_cap_s: 8, honour_retry_after: true}
        error_rate: 0.001
        outages: [[3600, 3900]]
        timeout_s: 600
        quality_model: gpt-4-1106-preview
        private: false
        context_window: 128000            # optional: default from the catalog (API) or preset (GPU)
        over_context: fail                # serve (default: no limit) | fail | truncate

``context_window`` (prompt + answer tokens) defaults to the price catalog's ``context_window``
of the API model (genai-prices; e.g. openai gpt-4o 128,000; groq's llama3-70b-8192 has none
there, so give it in the spec) or to the GPU preset's (:data:`simkit.fleet.presets.PRESET_CONTEXT_WINDOWS`, Llama 3: 8,192); a model
neither knows has none. ``over_context`` says what a request over the window does
(:class:`simkit.fleet.spec.Tier`); the default ``serve`` enforces nothing, so fleets written
before context windows replay exactly as they did.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from simkit.errors import PriceError, SpecError
from simkit.fleet.presets import GPU_PRESETS, PRESET_CONTEXT_WINDOWS
from simkit.fleet.prices import ModelPrice, PriceCatalog, load_price_overrides
from simkit.fleet.spec import (
    ApiEndpoint,
    Fleet,
    GpuServer,
    Jitter,
    RateLimit,
    RetryPolicy,
    Tier,
)

__all__ = ["default_fleet_path", "load_fleet"]

_TIER_KEYS = {"kind", "quality_model", "private", "context_window", "over_context"}
_API_KEYS = {
    "model",
    "provider",
    "price",
    "ttft_s",
    "output_tokens_per_s",
    "rtt_s",
    "prefill_tokens_per_s",
    "rate_limit",
    "retry",
    "error_rate",
    "outages",
    "timeout_s",
}
_GPU_KEYS = {
    "preset",
    "model",
    "usd_per_gpu_hour",
    "replicas",
    "gpus_per_replica",
    "max_num_seqs",
    "max_batched_tokens",
    "kv_capacity_tokens",
    "t_floor_s",
    "x_sat_tokens_per_s",
    "beta_s_per_ctx_token",
    "t_ovh_s",
    "marginal_usd_per_mtok",
    "rtt_s",
    "load_balancer",
    "prefix_cache",
    "prefix_cache_tokens",
}
_JITTER_KEYS = {"median", "sigma"}
_RATE_KEYS = {"style", "rpm", "tpm", "input_tpm", "output_tpm", "burst_s"}
_RETRY_KEYS = {"max_retries", "backoff_base_s", "backoff_cap_s", "honour_retry_after"}


def _strict_loader() -> type:
    """A YAML SafeLoader that rejects duplicate keys (PyYAML keeps the last one silently)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):  # noqa: ANN001
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def default_fleet_path() -> Path:
    """The default 3-tier fleet shipped with simkit (``simkit/data/fleets/default.yaml``)."""
    return Path(str(resources.files("simkit") / "data" / "fleets" / "default.yaml"))


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, key: str, problem: str, hint: str | None = None) -> SpecError:
        return SpecError(self.source, key=key, problem=problem, hint=hint)

    def mapping(self, obj: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            raise self.err(key, f"expected a mapping, got {type(obj).__name__} {obj!r}")
        unknown = sorted(str(k) for k in obj if k not in allowed)
        if unknown:
            raise self.err(
                f"{key}.{unknown[0]}",
                "unknown key",
                hint=f"valid keys: {', '.join(sorted(allowed))}",
            )
        return obj

    def build(self, key: str, cls: type, **kwargs: Any) -> Any:
        """Construct a spec object, re-raising its validation error with the full YAML key."""
        try:
            return cls(**kwargs)
        except SpecError as exc:
            raise self.err(f"{key}.{exc.key}" if exc.key else key, exc.problem, exc.hint) from None
        except TypeError as exc:
            raise self.err(key, f"bad value ({exc})") from None

    def jitter(self, obj: Any, key: str) -> Jitter:
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            return self.build(key, Jitter, median=float(obj))
        m = self.mapping(obj, key, _JITTER_KEYS)
        if "median" not in m:
            raise self.err(
                f"{key}.median", "missing", hint="give {median: <value>, sigma: <spread>}"
            )
        return self.build(key, Jitter, **m)


def _price(ctx: _Ctx, body: Mapping[str, Any], key: str, catalog: PriceCatalog) -> ModelPrice:
    if "price" in body:
        p = ctx.mapping(
            body["price"], f"{key}.price", {"input_usd_per_mtok", "output_usd_per_mtok"}
        )
        for k in ("input_usd_per_mtok", "output_usd_per_mtok"):
            if k not in p:
                raise ctx.err(f"{key}.price.{k}", "missing")
        try:
            return ModelPrice(**p, model=str(body.get("model")), provider="override", catalog_id="")
        except PriceError as exc:
            raise ctx.err(f"{key}.price.{exc.key}", exc.problem) from None
    try:
        return catalog.resolve(str(body["model"]), provider=body.get("provider"))
    except PriceError as exc:
        raise PriceError(
            ctx.source, key=f"{key}.model", problem=exc.problem, hint=exc.hint
        ) from None


def _api(ctx: _Ctx, body: Mapping[str, Any], key: str, catalog: PriceCatalog) -> ApiEndpoint:
    ctx.mapping(body, key, _TIER_KEYS | _API_KEYS)
    if "model" not in body:
        raise ctx.err(f"{key}.model", "missing", hint="an API tier names the model it calls")
    kwargs: dict[str, Any] = {"model": str(body["model"]), "price": _price(ctx, body, key, catalog)}
    for k in ("ttft_s", "output_tokens_per_s", "rtt_s"):
        if k in body:
            kwargs[k] = ctx.jitter(body[k], f"{key}.{k}")
    if body.get("rate_limit") is not None:
        rl = ctx.mapping(body["rate_limit"], f"{key}.rate_limit", _RATE_KEYS)
        kwargs["rate_limit"] = ctx.build(f"{key}.rate_limit", RateLimit, **rl)
    if "retry" in body:
        rt = ctx.mapping(body["retry"], f"{key}.retry", _RETRY_KEYS)
        kwargs["retry"] = ctx.build(f"{key}.retry", RetryPolicy, **rt)
    if "outages" in body:
        o = body["outages"]
        if not isinstance(o, list) or not all(
            isinstance(w, (list, tuple)) and len(w) == 2 for w in o
        ):
            raise ctx.err(f"{key}.outages", f"expected a list of [start_s, end_s] pairs, got {o!r}")
        kwargs["outages"] = tuple(tuple(w) for w in o)
    for k in ("prefill_tokens_per_s", "error_rate", "timeout_s", "provider"):
        if k in body:
            kwargs[k] = body[k]
    return ctx.build(key, ApiEndpoint, **kwargs)


def _gpu(ctx: _Ctx, body: Mapping[str, Any], key: str) -> GpuServer:
    ctx.mapping(body, key, _TIER_KEYS | _GPU_KEYS)
    kwargs: dict[str, Any] = {}
    if "preset" in body:
        preset = body["preset"]
        if preset not in GPU_PRESETS:
            raise ctx.err(
                f"{key}.preset",
                f"unknown preset {preset!r}",
                hint=f"valid presets: {', '.join(sorted(GPU_PRESETS))}",
            )
        kwargs.update(GPU_PRESETS[preset])
        kwargs["preset"] = preset
    for k in _GPU_KEYS - {"preset", "rtt_s"}:
        if k in body:
            kwargs[k] = body[k]
    if "rtt_s" in body:
        kwargs["rtt_s"] = ctx.jitter(body["rtt_s"], f"{key}.rtt_s")
    for k in ("model", "usd_per_gpu_hour"):
        if k not in kwargs:
            raise ctx.err(f"{key}.{k}", "missing", hint="give it, or a preset that sets it")
    return ctx.build(key, GpuServer, **kwargs)


def _context_window(
    body: Mapping[str, Any], endpoint: ApiEndpoint | GpuServer, catalog: PriceCatalog
) -> int | None:
    """The spec's ``context_window``, else the preset's (GPU) or the catalog's (API)."""
    if "context_window" in body:
        return body["context_window"]
    if isinstance(endpoint, GpuServer):
        return PRESET_CONTEXT_WINDOWS.get(endpoint.preset) if endpoint.preset else None
    if endpoint.price.resolved_by == "override":
        return None
    entry = catalog.find(endpoint.model, provider=body.get("provider"))
    return None if entry is None else entry.context_window


def load_fleet(
    spec: str | PathLike[str] | Mapping[str, Any] | None = None,
    *,
    catalog: PriceCatalog | None = None,
) -> Fleet:
    """Load and validate a fleet spec.

    Parameters
    ----------
    spec : path or mapping, optional
        A YAML file, or the parsed mapping. Default: the shipped 3-tier fleet
        (:func:`default_fleet_path`).
    catalog : PriceCatalog, optional
        Where API prices come from; default: the shipped genai-prices snapshot.

    Raises
    ------
    SpecError
        Naming the file and the YAML key (``PriceError`` for an unknown model, with close
        matches).
    """
    if spec is None:
        spec = default_fleet_path()
    if isinstance(spec, Mapping):
        source, data = "<fleet spec>", spec
    else:
        import yaml

        source = str(spec)
        if Path(spec).is_dir():
            raise SpecError(
                source,
                problem="is a directory; a fleet spec is a YAML file",
                hint="e.g. --fleet simkit/data/fleets/default.yaml (a trace directory goes to "
                "--trace)",
            )
        try:
            data = yaml.load(Path(spec).read_text("utf-8"), Loader=_strict_loader())
        except FileNotFoundError:
            raise SpecError(source, problem="fleet spec file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(source, problem=f"cannot read the fleet spec ({exc})") from None
        except yaml.YAMLError as exc:
            raise SpecError(source, problem=f"not valid YAML ({exc})") from None
    ctx = _Ctx(source)
    data = ctx.mapping(data, "(top level)", {"name", "tiers", "price_overrides"}) if data else {}
    catalog = catalog if catalog is not None else PriceCatalog.load()
    if data.get("price_overrides") is not None:
        try:
            catalog = load_price_overrides(data["price_overrides"], catalog=catalog)
        except PriceError as exc:
            key = f"price_overrides.{exc.key}" if exc.key else "price_overrides"
            raise PriceError(source, key=key, problem=exc.problem, hint=exc.hint) from None
    tiers_raw = data.get("tiers")
    if not isinstance(tiers_raw, Mapping) or not tiers_raw:
        raise ctx.err("tiers", "expected a mapping of tier name -> tier spec (cheapest first)")
    tiers = []
    for name, body in tiers_raw.items():
        key = f"tiers.{name}"
        if not isinstance(body, Mapping):
            raise ctx.err(key, f"expected a mapping, got {body!r}")
        kind = body.get("kind")
        if kind == "api":
            endpoint = _api(ctx, body, key, catalog)
        elif kind == "gpu":
            endpoint = _gpu(ctx, body, key)
        else:
            raise ctx.err(f"{key}.kind", f"unknown kind {kind!r}", hint="valid kinds: api, gpu")
        if "quality_model" not in body:
            raise ctx.err(
                f"{key}.quality_model",
                "missing",
                hint="name the model whose recorded outcomes stand for this tier's quality",
            )
        private = body.get("private")
        if private is not None and not isinstance(private, bool):
            raise ctx.err(f"{key}.private", f"expected true or false, got {private!r}")
        tier = ctx.build(
            key,
            Tier,
            name=str(name),
            endpoint=endpoint,
            quality_model=str(body["quality_model"]),
            private=private,
            context_window=_context_window(body, endpoint, catalog),
            over_context=body.get("over_context", "serve"),
        )
        tiers.append(tier)
    return ctx.build(
        "tiers", Fleet, tiers=tuple(tiers), name=str(data.get("name", "fleet")), source=source
    )
