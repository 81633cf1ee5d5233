"""Routing policies: the ``Policy`` protocol, what a policy sees, and the built-in policies.

Built-in policies (name -> class, the one table in :data:`POLICIES`):

=============  ====================================================================
``static``     :class:`StaticPolicy` — every request to one tier
``random``     :class:`RandomMixPolicy` — fixed random mix
``task``       :class:`TaskHeuristicPolicy` — task type -> small / mid / frontier
``threshold``  :class:`ThresholdPolicy` — score cut-offs over N tiers
``share``      :class:`TargetSharePolicy` — online threshold holding a frontier share
``budget``     :class:`BudgetPolicy` — online threshold holding a $ budget
``cascade``    :class:`CascadePolicy` — cheap first, escalate on a noisy verifier
``spillover``  :class:`SpillOverPolicy` — leave an overloaded tier (queue, wait, rate limit)
``fallback``   :class:`FallbackPolicy` — retry elsewhere after 429s, errors, outages
``privacy``    :class:`PrivacyPolicy` — requests tagged ``sensitive`` stay on private tiers
``affinity``   :class:`PrefixAffinityPolicy` — to the tier whose prefix cache holds the
               prompt's prefix, else ``base``
``oracle``     :class:`OraclePolicy` — cheapest tier reaching the best recorded quality
=============  ====================================================================

Writing your own
----------------
A policy is a small frozen class with one method; the simulator passes the request, a
read-only view of the fleet and a random generator of its own::

    from dataclasses import dataclass
    import numpy as np
    from simkit.policies import FleetView, RequestView

    @dataclass(frozen=True)
    class ShortToCheap:
        '''Short prompts to the cheapest tier, long ones to the most expensive.'''

        max_prompt_tokens: int = 200

        def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
            if request.prompt_tokens <= self.max_prompt_tokens:
                return fleet.tiers[0]
            return fleet.tiers[-1]

    records = simkit.sim.simulate(trace, fleet, ShortToCheap(150), seed=0)

Add ``next_tier(request, attempt, fleet, rng)`` to act after an attempt (see
:mod:`simkit.policies.base`), and ``check(tiers, score_names)`` to fail early on a fleet or
trace it cannot use. Keep parameters as fields and no state: history is in the ``FleetView``
(``routed``, ``decided``, ``spend_usd``, ``queued``...), randomness in ``rng``. A policy whose
``route`` reads none of the view's live values (queues, in-flight counts, waits, headroom,
spend, recent errors, prefix hits) may say so with the class attribute
``reads_live_state: ClassVar[bool] = False``: hosted-API tiers are then replayed one at a
time, with the same records, faster (:mod:`simkit.sim.by_tier`). Such a policy may also route
a whole :class:`RequestBatch` at once, vectorised, with
``route_batch(requests, tiers, rng) -> Sequence[str]``: the same tiers ``route`` would pick,
the same draws from ``rng`` (the built-in static, random, task, threshold and oracle
policies do).

Policies from strings and YAML
------------------------------
:func:`build_policy` accepts (the grammar is :mod:`simkit.policies.grammar`'s, the one parser
of policy strings; parameters are checked against each policy's field types before it is
built, so ``spillover:max_queued=abc`` is an error naming ``max_queued`` and "an integer")

* ``"name"`` or ``"name:key=value,key=value"`` — values are YAML scalars; ``a.b=1`` sets a
  nested mapping (``cutoffs.frontier=0.7``); ``x/y/z`` is a list (``chain=gpu/frontier``);
* ``"outer>inner"`` — ``outer`` wraps ``inner`` as its ``base``
  (``privacy>fallback>threshold:p_hard=0.7``);
* shorthand for thresholds: ``threshold:p_hard=0.7`` (score ``p_hard``, strongest tier at 0.7)
  and ``threshold:p_hard=0.8/0.5`` (strongest tier 0.8, the next 0.5);
* a mapping or a YAML file: ``{policy: spillover, max_queued: 32, base: {policy: static,
  tier: selfhosted}}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from simkit.errors import PolicyError
from simkit.policies.base import (
    AttemptView,
    FleetView,
    Policy,
    RequestBatch,
    RequestView,
    policy_params,
)
from simkit.policies.baselines import (
    OraclePolicy,
    RandomMixPolicy,
    StaticPolicy,
    TaskHeuristicPolicy,
)
from simkit.policies.composite import (
    CascadePolicy,
    FallbackPolicy,
    PrefixAffinityPolicy,
    PrivacyPolicy,
    SpillOverPolicy,
)
from simkit.policies.grammar import check_params, parse_policy, split_policy
from simkit.policies.thresholds import BudgetPolicy, TargetSharePolicy, ThresholdPolicy

__all__ = [
    "POLICIES",
    "AttemptView",
    "BudgetPolicy",
    "CascadePolicy",
    "FallbackPolicy",
    "FleetView",
    "OraclePolicy",
    "Policy",
    "PrefixAffinityPolicy",
    "PrivacyPolicy",
    "RandomMixPolicy",
    "RequestBatch",
    "RequestView",
    "SpillOverPolicy",
    "StaticPolicy",
    "TargetSharePolicy",
    "TaskHeuristicPolicy",
    "ThresholdPolicy",
    "build_policy",
    "parse_policy",
    "policy_name",
    "policy_params",
    "split_policy",
]


def _registry(*classes: type) -> dict[str, type]:
    table: dict[str, type] = {}
    for cls in classes:
        name = cls.name
        if name in table:
            raise PolicyError(
                "simkit.policies",
                key=name,
                problem=f"two policies named {name!r}: {table[name].__name__} and {cls.__name__}",
            )
        table[name] = cls
    return table


#: Policy name -> class: the only place names are mapped to classes.
POLICIES: Mapping[str, type] = _registry(
    StaticPolicy,
    RandomMixPolicy,
    TaskHeuristicPolicy,
    ThresholdPolicy,
    TargetSharePolicy,
    BudgetPolicy,
    CascadePolicy,
    SpillOverPolicy,
    FallbackPolicy,
    PrivacyPolicy,
    PrefixAffinityPolicy,
    OraclePolicy,
)


def policy_name(policy: Any) -> str:
    """A short label: the registry name, with wrapped policies as ``outer>inner``."""
    name = getattr(type(policy), "name", None) or type(policy).__name__
    base = getattr(policy, "base", None)
    return (
        f"{name}>{policy_name(base)}" if base is not None and hasattr(base, "route") else str(name)
    )


def _threshold_shorthand(
    params: dict[str, Any], tiers: tuple[str, ...] | None, source: str
) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(ThresholdPolicy)}
    extra = [k for k in params if k not in fields]
    if not extra:
        return params
    if len(extra) > 1 or "cutoffs" in params:
        raise PolicyError(
            source,
            key=extra[0],
            problem="unknown parameter",
            hint="use cutoffs.<tier>=<score> or the shorthand <score>=<cut>[/<cut>...]",
        )
    if tiers is None:
        raise PolicyError(
            source, key=extra[0], problem="the threshold shorthand needs the fleet's tiers"
        )
    score = extra[0]
    cuts = params.pop(score)
    cuts = cuts if isinstance(cuts, list) else [cuts]
    if len(cuts) > len(tiers) - 1:
        raise PolicyError(
            source,
            key=score,
            problem=f"{len(cuts)} cut-offs for {len(tiers)} tiers; at most {len(tiers) - 1} "
            "(the cheapest tier takes the rest)",
        )
    strongest_first = list(reversed(tiers))
    params["cutoffs"] = dict(zip(strongest_first, cuts, strict=False))
    params["score"] = score
    return params


def build_policy(
    spec: str | PathLike[str] | Mapping[str, Any] | Policy,
    *,
    fleet: Any = None,
    trace: Any = None,
) -> Policy:
    """Build a policy from a string, a mapping, a YAML file, or return a policy as is.

    Parameters
    ----------
    spec : str, path, mapping or policy
        See the module docstring for the grammar.
    fleet : Fleet, optional
        Needed by shorthands that refer to tiers and by ``oracle``.
    trace : Trace, optional
        Needed by ``oracle`` (its quality matrix).

    Raises
    ------
    PolicyError
        Unknown policy name (listing the known names), unknown or bad parameter (listing the
        valid ones).
    """
    if hasattr(spec, "route") and not isinstance(spec, (str, Mapping)):
        return spec  # type: ignore[return-value]
    source = "policy"
    if isinstance(spec, PathLike) or (
        isinstance(spec, str) and spec.endswith((".yaml", ".yml")) and Path(spec).is_file()
    ):
        import yaml

        source = str(spec)
        try:
            data = yaml.safe_load(Path(spec).read_text("utf-8"))
        except FileNotFoundError:
            raise PolicyError(source, problem="policy file not found") from None
        except yaml.YAMLError as exc:
            raise PolicyError(source, problem=f"not valid YAML ({exc})") from None
        if isinstance(data, str):
            data = parse_policy(data)
    elif isinstance(spec, str):
        source = f"policy {spec!r}"
        data = parse_policy(spec)
    else:
        data = spec
    return _build(data, fleet=fleet, trace=trace, source=source)


def _build(data: Any, *, fleet: Any, trace: Any, source: str) -> Policy:
    if isinstance(data, str):
        data = parse_policy(data)
    if not isinstance(data, Mapping) or "policy" not in data:
        raise PolicyError(
            source, key="policy", problem=f"expected a mapping with 'policy: <name>', got {data!r}"
        )
    params = {k: v for k, v in data.items() if k != "policy"}
    if "params" in params and isinstance(params["params"], Mapping):
        params = {**params.pop("params"), **params}
    name = data["policy"]
    cls = POLICIES.get(name)
    if cls is None:
        raise PolicyError(
            source,
            key="policy",
            problem=f"unknown policy {name!r}; known policies: {', '.join(POLICIES)}",
        )
    where = f"{source} ({name})"
    tiers = fleet.tier_names if fleet is not None else None
    if "base" in params:
        params["base"] = _build(params["base"], fleet=fleet, trace=trace, source=source)
    if cls is ThresholdPolicy:
        params = _threshold_shorthand(params, tiers, where)
    if cls is OraclePolicy:
        if params:
            raise PolicyError(
                where, key=next(iter(params)), problem="the oracle takes no parameters"
            )
        if trace is None or fleet is None:
            raise PolicyError(
                where, key="policy", problem="the oracle needs the trace and the fleet"
            )
        return OraclePolicy.from_trace(trace, fleet)
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise PolicyError(
            where,
            key=unknown[0],
            problem="unknown parameter",
            hint=f"valid parameters: {', '.join(valid)}",
        )
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in params
    ]
    if missing:
        hint = (
            f"write the policy it wraps after '>', e.g. {name}>static:tier=<tier>"
            if missing[0] == "base"
            else f"parameters: {', '.join(valid)}"
        )
        raise PolicyError(where, key=missing[0], problem="required parameter not given", hint=hint)
    params = check_params(cls, params, where)
    try:
        return cls(**params)
    except TypeError as exc:
        raise PolicyError(where, problem=f"{exc}", hint=f"parameters: {', '.join(valid)}") from None
