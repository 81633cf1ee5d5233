"""The price catalog: USD per million tokens for a model name, from the genai-prices snapshot.

The catalog of record is a copy of the genai-prices v2 feed shipped with simkit
(``simkit/data/prices/genai-prices/data.json``, pydantic/genai-prices @47df840a, MIT; see
``ATTRIBUTION.md`` beside it), read by this module's own small reader so that prices are the
same on every machine and do not change when a package updates.

How a model name is resolved (:meth:`PriceCatalog.resolve`)
-----------------------------------------------------------
1. A user override for that exact name (from YAML, :func:`load_price_overrides`) wins.
2. The catalog's own match rules (the clause trees ``equals`` / ``starts_with`` /
   ``ends_with`` / ``contains`` / ``regex`` / ``or`` / ``and``, case-insensitive except
   ``regex``, as genai-prices evaluates them): with ``provider`` given, that provider's models
   (then its ``fallback_model_providers``); otherwise first the providers whose
   ``model_match`` accepts the name, then every provider in file order. The first model whose
   rule matches is taken.
3. A small alias table (:data:`ALIASES`, plus user aliases) for names in our data that no rule
   matches, mapping them to a catalog ``provider:model-id``.
4. Otherwise :class:`~simkit.errors.PriceError`, naming the model and listing close matches.

Price history: a model's ``prices`` may be a list of conditional prices. The price in force at
``at`` (a date or datetime; default: the latest start date in the file, i.e. "latest") is the
last entry whose constraint is active, as genai-prices does. Time-of-day windows (off-peak
prices) apply only when ``at`` is a datetime; a date or the default takes the standard price.

Tiered prices: some prices rise above an input-token threshold (long-context tiers). As in
genai-prices, a tier applies to *all* tokens of a request whose prompt exceeds its start.
:meth:`ModelPrice.cost_usd` applies the tier per request; the headline
``input_usd_per_mtok`` / ``output_usd_per_mtok`` are the base (below the first threshold).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from simkit.errors import PriceError

__all__ = [
    "ALIASES",
    "CatalogModel",
    "ModelPrice",
    "PriceCatalog",
    "load_price_overrides",
]

#: Names used in simkit's data that no catalog rule matches -> ``provider:model-id`` in the
#: catalog. Each entry says why it is a fair stand-in.
ALIASES: Mapping[str, str] = {
    # Short and org-less Llama 3 names: Llama 3 Instruct as served by Groq (8k context), the
    # hosted price the issue quotes for Llama 3 70B (0.59 / 0.79 USD per M in / out).
    # (`meta-llama/Meta-Llama-3-70B-Instruct` itself is matched by the catalog.)
    "Meta-Llama-3-70B-Instruct": "groq:llama3-70b-8192",
    "llama-3-70b": "groq:llama3-70b-8192",
    "Meta-Llama-3-8B-Instruct": "groq:llama3-8b-8192",
    "llama-3-8b": "groq:llama3-8b-8192",
    # Llama 3.1 70B Instruct: the catalog lists only Together's "Turbo" deployment of it.
    "meta-llama/Meta-Llama-3.1-70B-Instruct": "together:meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
    # Arena-Bench-v1 model names (lmarena/arena-hard-auto) without a catalog rule.
    "Llama-2-70b-chat": "together:meta-llama/Llama-2-70b-chat-hf",
    "claude-1": "anthropic:claude-v1",
    "palm-2-chat-bison-001": "openrouter:google/palm-2-chat-bison",
}


# --- match clauses --------------------------------------------------------------------------
class _Clause(Protocol):
    def is_match(self, text: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Equals:
    value: str

    def is_match(self, text: str) -> bool:
        return text.lower() == self.value.lower()


@dataclass(frozen=True, slots=True)
class _StartsWith:
    value: str

    def is_match(self, text: str) -> bool:
        return text.lower().startswith(self.value.lower())


@dataclass(frozen=True, slots=True)
class _EndsWith:
    value: str

    def is_match(self, text: str) -> bool:
        return text.lower().endswith(self.value.lower())


@dataclass(frozen=True, slots=True)
class _Contains:
    value: str

    def is_match(self, text: str) -> bool:
        return self.value.lower() in text.lower()


@dataclass(frozen=True, slots=True)
class _Regex:
    pattern: re.Pattern[str]

    def is_match(self, text: str) -> bool:
        return self.pattern.search(text) is not None


@dataclass(frozen=True, slots=True)
class _Or:
    clauses: tuple[_Clause, ...]

    def is_match(self, text: str) -> bool:
        return any(c.is_match(text) for c in self.clauses)


@dataclass(frozen=True, slots=True)
class _And:
    clauses: tuple[_Clause, ...]

    def is_match(self, text: str) -> bool:
        return all(c.is_match(text) for c in self.clauses)


_LEAVES = {
    "equals": _Equals,
    "starts_with": _StartsWith,
    "ends_with": _EndsWith,
    "contains": _Contains,
}


def _clause(obj: Any, where: str, source: str) -> _Clause:
    """Parse one match clause tree; errors name the JSON path."""
    if not isinstance(obj, Mapping) or len(obj) != 1:
        raise PriceError(
            source,
            key=where,
            problem=f"expected a one-key match clause, got {obj!r}",
            hint="valid clauses: and, contains, ends_with, equals, or, regex, starts_with",
        )
    ((kind, value),) = obj.items()
    if kind in _LEAVES and isinstance(value, str):
        return _LEAVES[kind](value)
    if kind == "regex" and isinstance(value, str):
        return _Regex(re.compile(value))
    if kind in ("or", "and") and isinstance(value, list):
        parts = tuple(_clause(v, f"{where}.{kind}[{i}]", source) for i, v in enumerate(value))
        return _Or(parts) if kind == "or" else _And(parts)
    raise PriceError(
        source,
        key=f"{where}.{kind}",
        problem=f"unknown or malformed match clause {kind!r}: {value!r}",
        hint="valid clauses: and, contains, ends_with, equals, or, regex, starts_with",
    )


def _equals_names(clause: _Clause) -> list[str]:
    if isinstance(clause, _Equals):
        return [clause.value]
    if isinstance(clause, (_Or, _And)):
        return [n for c in clause.clauses for n in _equals_names(c)]
    return []


# --- prices ---------------------------------------------------------------------------------
def _price_value(value: Any, key: str, source: str) -> tuple[float, tuple[tuple[int, float], ...]]:
    """A price number or a ``{base, tiers: [{start, price}]}`` object -> (base, tiers)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)):
        if not np.isfinite(value) or value < 0:
            raise PriceError(source, key=key, problem=f"must be a finite price >= 0, got {value!r}")
        return float(value), ()
    if isinstance(value, Mapping) and "base" in value:
        base, _ = _price_value(value["base"], f"{key}.base", source)
        tiers = []
        for i, tier in enumerate(value.get("tiers", [])):
            if not isinstance(tier, Mapping) or "start" not in tier or "price" not in tier:
                raise PriceError(source, key=f"{key}.tiers[{i}]", problem="expected {start, price}")
            price, _ = _price_value(tier["price"], f"{key}.tiers[{i}].price", source)
            tiers.append((int(tier["start"]), price))
        return base, tuple(sorted(tiers))
    raise PriceError(
        source, key=key, problem=f"expected a price in USD per 1M tokens, got {value!r}"
    )


def _tiered(base: float, tiers: tuple[tuple[int, float], ...], input_tokens: int) -> float:
    price = base
    for start, tier_price in tiers:
        if input_tokens > start:
            price = tier_price
    return price


@dataclass(frozen=True)
class ModelPrice:
    """Per-token price of one model: USD per million input and output tokens.

    Parameters
    ----------
    input_usd_per_mtok, output_usd_per_mtok : float
        Base prices (below the first long-context tier), USD per 1M tokens.
    input_tiers, output_tiers : tuple of (start_input_tokens, usd_per_mtok)
        Long-context tiers: when a request's prompt has more than ``start`` tokens, the tier's
        price applies to all its tokens (genai-prices' threshold semantics).
    model : str
        The name that was asked for.
    provider, catalog_id : str
        Where the price came from (``'override'`` for a user override).
    resolved_by : str
        ``'match'`` (catalog rule), ``'alias'`` (alias table), or ``'override'``.
    """

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    input_tiers: tuple[tuple[int, float], ...] = ()
    output_tiers: tuple[tuple[int, float], ...] = ()
    model: str = ""
    provider: str = ""
    catalog_id: str = ""
    resolved_by: str = "override"

    def __post_init__(self) -> None:
        for name in ("input_usd_per_mtok", "output_usd_per_mtok"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not np.isfinite(v)
                or v < 0
            ):
                raise PriceError(None, key=name, problem=f"must be a finite price >= 0, got {v!r}")
            object.__setattr__(self, name, float(v))

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Price of one request with these token counts (tiers chosen by ``input_tokens``)."""
        p_in = self.input_usd_per_mtok
        p_out = self.output_usd_per_mtok
        if self.input_tiers:
            p_in = _tiered(p_in, self.input_tiers, input_tokens)
        if self.output_tiers:
            p_out = _tiered(p_out, self.output_tiers, input_tokens)
        return (input_tokens * p_in + output_tokens * p_out) * 1e-6

    def cost_usd_many(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """:meth:`cost_usd` for arrays of token counts (same tiers, same arithmetic)."""
        n_in = np.asarray(input_tokens, dtype="float64")
        n_out = np.asarray(output_tokens, dtype="float64")

        def tiered(base: float, tiers: tuple[tuple[int, float], ...]) -> np.ndarray:
            p = np.full(n_in.shape, base)
            for start, usd in tiers:  # in the listed order, as _tiered
                p = np.where(n_in > start, usd, p)
            return p

        p_in = tiered(self.input_usd_per_mtok, self.input_tiers)
        p_out = tiered(self.output_usd_per_mtok, self.output_tiers)
        return (n_in * p_in + n_out * p_out) * 1e-6

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "model": self.model,
            "provider": self.provider,
            "catalog_id": self.catalog_id,
            "resolved_by": self.resolved_by,
            "input_usd_per_mtok": self.input_usd_per_mtok,
            "output_usd_per_mtok": self.output_usd_per_mtok,
            "input_tiers": [list(t) for t in self.input_tiers],
            "output_tiers": [list(t) for t in self.output_tiers],
        }


@dataclass(frozen=True)
class _Conditional:
    start_date: date | None
    window: tuple[time, time] | None
    input: tuple[float, tuple[tuple[int, float], ...]] | None
    output: tuple[float, tuple[tuple[int, float], ...]] | None

    def active(self, at: date | datetime | None) -> bool:
        if self.window is not None:
            if not isinstance(at, datetime):
                return False
            t = at.time()
            start, end = self.window
            return (t >= start or t < end) if end < start else start <= t < end
        if self.start_date is None:
            return True
        if at is None:
            return True  # the latest price in the file
        d = at.date() if isinstance(at, datetime) else at
        return d >= self.start_date


@dataclass(frozen=True)
class CatalogModel:
    """One model entry of the catalog: its id, match rule and price history."""

    provider: str
    id: str
    name: str
    match: Any = field(repr=False)
    history: tuple[_Conditional, ...] = field(repr=False)
    context_window: int | None = None

    def price(self, requested: str, at: date | datetime | None, resolved_by: str) -> ModelPrice:
        """The price in force at ``at`` (last active conditional entry, as genai-prices)."""
        chosen = self.history[0]
        for entry in reversed(self.history):
            if entry.active(at):
                chosen = entry
                break
        if chosen.input is None or chosen.output is None:
            raise PriceError(
                "genai-prices data.json",
                key=f"{self.provider}.models[{self.id}].prices",
                problem="this entry has no input_mtok/output_mtok price (not a text model?)",
            )
        return ModelPrice(
            input_usd_per_mtok=chosen.input[0],
            output_usd_per_mtok=chosen.output[0],
            input_tiers=chosen.input[1],
            output_tiers=chosen.output[1],
            model=requested,
            provider=self.provider,
            catalog_id=self.id,
            resolved_by=resolved_by,
        )


def _parse_prices(prices: Any, key: str, source: str) -> tuple[_Conditional, ...]:
    entries = prices if isinstance(prices, list) else [{"prices": prices}]
    out = []
    for i, entry in enumerate(entries):
        k = f"{key}[{i}]" if isinstance(prices, list) else key
        body = entry.get("prices", {}) if isinstance(entry, Mapping) else None
        if not isinstance(body, Mapping):
            raise PriceError(source, key=k, problem="expected a prices object")
        constraint = entry.get("constraint") or {}
        start = constraint.get("start_date")
        window = None
        if "start_time" in constraint:
            window = (
                time.fromisoformat(constraint["start_time"].rstrip("Z")),
                time.fromisoformat(constraint["end_time"].rstrip("Z")),
            )
        out.append(
            _Conditional(
                start_date=date.fromisoformat(start) if start else None,
                window=window,
                input=_price_value(body["input_mtok"], f"{k}.input_mtok", source)
                if "input_mtok" in body
                else None,
                output=_price_value(body["output_mtok"], f"{k}.output_mtok", source)
                if "output_mtok" in body
                else None,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class _Provider:
    id: str
    model_match: Any
    provider_match: Any
    fallback: tuple[str, ...]
    models: tuple[CatalogModel, ...]


def _snapshot_path() -> Path:
    return Path(str(resources.files("simkit") / "data" / "prices" / "genai-prices" / "data.json"))


class PriceCatalog:
    """Model prices from the genai-prices snapshot, with aliases and user overrides.

    Build it with :meth:`load` (the shipped snapshot by default). Instances are immutable:
    :meth:`with_overrides` returns a new catalog.

    Examples
    --------
    >>> from simkit.fleet.prices import PriceCatalog
    >>> price = PriceCatalog.load().resolve("gpt-4o")
    >>> (price.input_usd_per_mtok, price.output_usd_per_mtok)
    (2.5, 10.0)
    """

    def __init__(
        self,
        providers: Iterable[_Provider],
        *,
        source: str,
        aliases: Mapping[str, str] | None = None,
        overrides: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        self._providers = tuple(providers)
        self._by_id = {p.id: p for p in self._providers}
        self.source = source
        self.aliases: Mapping[str, str] = dict(ALIASES if aliases is None else aliases)
        self.overrides: Mapping[str, ModelPrice] = dict(overrides or {})

    @property
    def history_start(self) -> date | None:
        """The first date the catalog records a price change on (None: no dated entry).

        Undated entries are the prices the catalog knows with no start: before this date a
        model may have cost something else (GPT-4o cost $5/$15 at its 2024 launch, the
        snapshot's undated price is $2.50/$10), so earlier dates are not answered.
        """
        dates = [
            c.start_date
            for p in self._providers
            for m in p.models
            for c in m.history
            if c.start_date is not None
        ]
        return min(dates) if dates else None

    def _check_date(self, at: date | datetime | None) -> None:
        start = self.history_start
        if at is None or start is None:
            return
        day = at.date() if isinstance(at, datetime) else at
        if day < start:
            raise PriceError(
                self.source,
                key="at",
                problem=f"{day.isoformat()} is before the catalog's price history, which starts "
                f"on {start.isoformat()}; the price then is not known",
                hint="omit --at / at= for the latest price, or give the price in the fleet "
                "YAML (price: {input_usd_per_mtok, output_usd_per_mtok})",
            )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | PathLike[str] | None = None) -> PriceCatalog:
        """Read a genai-prices v2 ``data.json`` (default: the snapshot shipped with simkit)."""
        p = Path(path) if path is not None else _snapshot_path()
        source = str(p) if path is not None else "genai-prices data.json (shipped snapshot)"
        try:
            raw = json.loads(p.read_text("utf-8"))
        except FileNotFoundError:
            raise PriceError(str(p), problem="price catalog file not found") from None
        except json.JSONDecodeError as exc:
            raise PriceError(
                str(p), problem=f"not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        if not isinstance(raw, list):
            raise PriceError(source, problem="expected a list of providers at the top level")
        providers = []
        for i, prov in enumerate(raw):
            pid = prov.get("id") if isinstance(prov, Mapping) else None
            if not isinstance(pid, str):
                raise PriceError(source, key=f"[{i}].id", problem="provider without an id")
            models = []
            for j, m in enumerate(prov.get("models", [])):
                key = f"{pid}.models[{j}]"
                if not isinstance(m, Mapping) or "id" not in m or "match" not in m:
                    raise PriceError(source, key=key, problem="model entry needs 'id' and 'match'")
                models.append(
                    CatalogModel(
                        provider=pid,
                        id=m["id"],
                        name=m.get("name") or m["id"],
                        match=_clause(m["match"], f"{key}.match", source),
                        history=_parse_prices(m.get("prices", {}), f"{key}.prices", source),
                        context_window=m.get("context_window"),
                    )
                )
            mm, pm = prov.get("model_match"), prov.get("provider_match")
            providers.append(
                _Provider(
                    id=pid,
                    model_match=_clause(mm, f"{pid}.model_match", source) if mm else None,
                    provider_match=_clause(pm, f"{pid}.provider_match", source) if pm else None,
                    fallback=tuple(prov.get("fallback_model_providers") or ()),
                    models=tuple(models),
                )
            )
        return cls(providers, source=source)

    def with_overrides(
        self,
        prices: Mapping[str, ModelPrice] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> PriceCatalog:
        """A new catalog with user price overrides and extra aliases (both win over ours)."""
        out = PriceCatalog(
            self._providers,
            source=self.source,
            aliases={**self.aliases, **(aliases or {})},
            overrides={**self.overrides, **(prices or {})},
        )
        return out

    # -- lookup ----------------------------------------------------------------------------
    @property
    def providers(self) -> tuple[str, ...]:
        """Provider ids, in file order."""
        return tuple(p.id for p in self._providers)

    def _provider(self, provider: str) -> _Provider:
        p = self._by_id.get(provider.lower().strip())
        if p is None:
            p = next(
                (
                    q
                    for q in self._providers
                    if q.provider_match and q.provider_match.is_match(provider)
                ),
                None,
            )
        if p is None:
            close = difflib.get_close_matches(provider, self.providers, n=5, cutoff=0.5)
            raise PriceError(
                self.source,
                key="provider",
                problem=f"unknown provider {provider!r}"
                + (f"; close matches: {', '.join(close)}" if close else ""),
                hint=f"known providers: {', '.join(self.providers)}",
            )
        return p

    def _match_in(self, provider: _Provider, name: str, *, fallback: bool) -> CatalogModel | None:
        ref = name.lower()
        for m in provider.models:
            if m.match.is_match(ref):
                return m
        if fallback:
            for fid in provider.fallback:
                if fid in self._by_id and (
                    m := self._match_in(self._by_id[fid], name, fallback=False)
                ):
                    return m
        return None

    def find(self, model: str, *, provider: str | None = None) -> CatalogModel | None:
        """The catalog entry whose match rule accepts ``model`` (no aliases), or None."""
        if provider is not None:
            return self._match_in(self._provider(provider), model, fallback=True)
        ref = model.lower()
        first = [
            p for p in self._providers if p.model_match is not None and p.model_match.is_match(ref)
        ]
        for p in first + [p for p in self._providers if p not in first]:
            if m := self._match_in(p, model, fallback=False):
                return m
        return None

    def names(self) -> list[str]:
        """Every model id and exact alias the catalog knows (for close-match suggestions)."""
        out = {m.id for p in self._providers for m in p.models}
        out.update(n for p in self._providers for m in p.models for n in _equals_names(m.match))
        out.update(self.aliases)
        out.update(self.overrides)
        return sorted(out)

    def resolve(
        self,
        model: str,
        *,
        provider: str | None = None,
        at: date | datetime | None = None,
    ) -> ModelPrice:
        """The price of ``model`` (see the module docstring for the resolution order).

        Parameters
        ----------
        model : str
            An API model name, e.g. ``'gpt-4o'`` or ``'mistralai/Mixtral-8x7B-Instruct-v0.1'``.
        provider : str, optional
            Restrict the lookup to one provider (id or a name its ``provider_match`` accepts).
        at : date or datetime, optional
            Take the price in force then; default: the latest in the snapshot. A date before
            :attr:`history_start` is refused: the catalog does not know prices that old.

        Raises
        ------
        PriceError
            If nothing matches, naming the model and listing close matches, or ``at`` is
            before the catalog's price history starts.
        """
        if not isinstance(model, str) or not model.strip():
            raise PriceError(
                self.source, key="model", problem=f"expected a model name, got {model!r}"
            )
        self._check_date(at)
        if model in self.overrides:
            return self.overrides[model]
        if m := self.find(model, provider=provider):
            return m.price(model, at, "match")
        if model in self.aliases:
            target = self.aliases[model]
            pid, _, mid = target.partition(":")
            entry = self._match_in(self._provider(pid), mid, fallback=True) if mid else None
            if entry is None:
                raise PriceError(
                    self.source,
                    key=f"aliases.{model}",
                    problem=f"alias target {target!r} is not in the catalog",
                    hint="an alias target is 'provider:model-id'",
                )
            return entry.price(model, at, "alias")
        close = difflib.get_close_matches(model, self.names(), n=5, cutoff=0.6)
        where = f" from provider {provider!r}" if provider else ""
        raise PriceError(
            self.source,
            key="model",
            problem=f"unknown model {model!r}{where}"
            + (f"; close matches: {', '.join(close)}" if close else "; no close matches"),
            hint="give the price in the fleet YAML (price: {input_usd_per_mtok, "
            "output_usd_per_mtok}) or add an alias 'provider:model-id'",
        )


def _override_price(name: str, body: Any, source: str) -> ModelPrice:
    key = f"prices.{name}"
    if not isinstance(body, Mapping):
        raise PriceError(
            source, key=key, problem="expected {input_usd_per_mtok, output_usd_per_mtok}"
        )
    unknown = sorted(set(body) - {"input_usd_per_mtok", "output_usd_per_mtok"})
    if unknown:
        raise PriceError(
            source,
            key=f"{key}.{unknown[0]}",
            problem="unknown key",
            hint="valid keys: input_usd_per_mtok, output_usd_per_mtok",
        )
    vals = {}
    for k in ("input_usd_per_mtok", "output_usd_per_mtok"):
        if k not in body:
            raise PriceError(source, key=f"{key}.{k}", problem="missing")
        v = body[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
            raise PriceError(
                source, key=f"{key}.{k}", problem=f"must be a finite price >= 0, got {v!r}"
            )
        vals[k] = float(v)
    return ModelPrice(**vals, model=name, provider="override", catalog_id=name)


def load_price_overrides(
    spec: str | PathLike[str] | Mapping[str, Any], *, catalog: PriceCatalog | None = None
) -> PriceCatalog:
    """A catalog with user overrides from YAML (a path or an already-parsed mapping).

    The YAML has two optional sections::

        prices:            # exact model name -> USD per 1M tokens (wins over the catalog)
          my-finetune: {input_usd_per_mtok: 0.3, output_usd_per_mtok: 1.2}
        aliases:           # name -> 'provider:model-id' in the catalog
          llama3-70b-prod: groq:llama3-70b-8192

    The self-hosted GPU price ($/GPU-hour) belongs to the GPU tier of the fleet spec
    (``usd_per_gpu_hour``), not here.
    """
    import yaml

    if isinstance(spec, Mapping):
        source, data = "<price overrides>", spec
    else:
        source = str(spec)
        try:
            data = yaml.safe_load(Path(spec).read_text("utf-8")) or {}
        except FileNotFoundError:
            raise PriceError(source, problem="file not found") from None
        except yaml.YAMLError as exc:
            raise PriceError(source, problem=f"not valid YAML ({exc})") from None
    if not isinstance(data, Mapping):
        raise PriceError(source, problem="expected a mapping with 'prices' and/or 'aliases'")
    unknown = sorted(set(data) - {"prices", "aliases"})
    if unknown:
        raise PriceError(
            source, key=unknown[0], problem="unknown key", hint="valid keys: aliases, prices"
        )
    base = catalog if catalog is not None else PriceCatalog.load()
    prices = {
        str(n): _override_price(str(n), b, source) for n, b in (data.get("prices") or {}).items()
    }
    aliases = {}
    for name, target in (data.get("aliases") or {}).items():
        if not isinstance(target, str) or ":" not in target:
            raise PriceError(
                source,
                key=f"aliases.{name}",
                problem=f"expected 'provider:model-id', got {target!r}",
            )
        aliases[str(name)] = target
    out = base.with_overrides(prices, aliases)
    for name in aliases:  # fail now, not at the first request
        if out.find(name) is None:
            out.resolve(name)
    return out
