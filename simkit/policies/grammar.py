"""The policy-string grammar: the one parser behind the CLI, sweeps, the study and the demo.

::

    spec     := segment (">" segment)*      an outer segment wraps the next as its ``base``
    segment  := name [":" param ("," param)*]
    param    := key "=" value               a dotted key (cutoffs.frontier=0.7) sets a nested
                                            mapping
    value    := item ("/" item)+ | item     two or more items make a list (chain=gpu/frontier)
    item     := a YAML scalar               0.7, 64, true, null, frontier

``privacy>threshold:p_hard=0.33`` and ``spillover:max_wait_s=1>static:tier=selfhosted`` read
as ``{"policy": "privacy", "base": {"policy": "threshold", "p_hard": 0.33}}`` and
``{"policy": "spillover", "max_wait_s": 1, "base": {"policy": "static", "tier": "selfhosted"}}``.

:func:`split_policy` keeps each segment's text as written (what :func:`simkit.sweep.expand_grid`
edits), :func:`parse_policy` gives the nested mapping :func:`simkit.policies.build_policy`
builds from, and :func:`check_params` checks the values against the policy class's field
types before it is built, so ``spillover:max_queued=abc`` fails here, naming the parameter and
the type expected, and not as a ``TypeError`` in the middle of a simulation.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simkit.errors import PolicyError

__all__ = [
    "Segment",
    "check_params",
    "format_value",
    "join_policy",
    "parse_policy",
    "split_policy",
]

#: characters the grammar itself uses; a value containing one cannot be written in a string
_RESERVED = (">", ",", "/", "=")


@dataclass(frozen=True)
class Segment:
    """One policy of a ``>`` chain, its parameters as written.

    Attributes
    ----------
    name : str
        The policy's registry name (``spillover``).
    params : tuple of (key, value text)
        In the order given (``(("max_wait_s", "1"),)``).
    """

    name: str
    params: tuple[tuple[str, str], ...] = ()

    def with_values(self, values: Mapping[str, Any]) -> Segment:
        """This segment with ``values`` set: the keys given are dropped where they were written
        and appended, in the order given, after the others."""
        kept = tuple((k, v) for k, v in self.params if k not in values)
        return Segment(self.name, kept + tuple((k, format_value(v)) for k, v in values.items()))

    def __str__(self) -> str:
        items = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}:{items}" if items else self.name


def split_policy(text: str, *, source: str | None = None) -> tuple[Segment, ...]:
    """The segments of a policy string, outermost first, values as written.

    Raises
    ------
    PolicyError
        A segment without a name, or a parameter that is not ``key=value``.
    """
    where = source or f"policy {text!r}"
    segments = []
    for raw in text.split(">"):
        name, _, rest = raw.strip().partition(":")
        name = name.strip()
        if not name:
            raise PolicyError(
                where,
                key="policy",
                problem=f"expected a policy name before ':' in {raw.strip()!r}",
                hint="e.g. privacy>threshold:p_hard=0.7",
            )
        params = []
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise PolicyError(
                    where, key=item, problem="expected key=value", hint="e.g. threshold:p_hard=0.7"
                )
            params.append((key.strip(), value.strip()))
        segments.append(Segment(name, tuple(params)))
    return tuple(segments)


def join_policy(segments: Sequence[Segment]) -> str:
    """The string of ``segments`` (outermost first): the inverse of :func:`split_policy`."""
    return ">".join(str(s) for s in segments)


def _parse_value(text: str) -> Any:
    import yaml

    if "/" in text:
        return [_parse_value(part) for part in text.split("/")]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def format_value(value: Any) -> str:
    """``value`` as the grammar writes it (``None`` -> ``null``, a list -> ``a/b``).

    Raises
    ------
    PolicyError
        A string holding one of ``> , / =``, which the grammar cannot carry (use a mapping).
    """
    if isinstance(value, (list, tuple)):
        return "/".join(format_value(v) for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and any(c in text for c in _RESERVED):
        raise PolicyError(
            "policy string",
            key=text,
            problem=f"a value in a policy string cannot contain any of {' '.join(_RESERVED)}",
            hint="give the policy as a mapping instead",
        )
    return text


def _segment_mapping(segment: Segment, where: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"policy": segment.name}
    for key, value in segment.params:
        target = spec
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise PolicyError(where, key=key, problem="conflicting nested keys")
        target[leaf] = _parse_value(value)
    return spec


def parse_policy(text: str, *, source: str | None = None) -> dict[str, Any]:
    """A policy string as the nested mapping :func:`~simkit.policies.build_policy` builds.

    Examples
    --------
    >>> parse_policy("spillover:max_wait_s=1>static:tier=selfhosted")
    {'policy': 'spillover', 'max_wait_s': 1, 'base': {'policy': 'static', 'tier': 'selfhosted'}}
    """
    where = source or f"policy {text!r}"
    spec: dict[str, Any] | None = None
    for segment in reversed(split_policy(text, source=where)):
        outer = _segment_mapping(segment, where)
        if spec is not None:
            outer["base"] = spec
        spec = outer
    assert spec is not None  # str.split gives at least one segment
    return spec


# -- parameter types -------------------------------------------------------------------------
def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    args = typing.get_args(tp)
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        return f"a mapping of name -> {_NOUNS.get(args[1], 'value')}" if args else "a mapping"
    if origin in (Sequence, list, tuple) or tp in (Sequence, list, tuple):
        return f"a list of {_NOUNS.get(args[0], 'value')}s" if args else "a list"
    return getattr(tp, "__name__", str(tp))


_NOUNS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` has type ``tp``; a type this checker does not know matches anything."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:  # numpy integers too
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:  # numpy numbers too
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        if not isinstance(value, Mapping):
            return False
        key_t, value_t = args or (Any, Any)
        return all(_matches(k, key_t) and _matches(v, value_t) for k, v in value.items())
    if origin in (Sequence, list, tuple) or tp in (Sequence, list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            return False
        item_t = args[0] if args else Any
        return all(_matches(v, item_t) for v in value)
    return True


def _is_list_type(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list_type(a) for a in typing.get_args(tp))
    return origin in (Sequence, list, tuple)


def check_params(cls: type, params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``params`` checked against the field types of policy class ``cls``.

    A single string where a list of strings is expected becomes a one-item list
    (``order=frontier``: the grammar needs two items to make a list). ``base`` is built by the
    caller and not checked here.

    Raises
    ------
    PolicyError
        Naming the parameter, the type expected and the value found, e.g. ``key 'max_queued':
        expected an integer or null, got 'abc'``.
    """
    hints = typing.get_type_hints(cls)
    out = dict(params)
    for f in dataclasses.fields(cls):
        if f.name not in out or f.name == "base" or f.name not in hints:
            continue
        tp, value = hints[f.name], out[f.name]
        if isinstance(value, str) and _is_list_type(tp) and _matches([value], tp):
            value = out[f.name] = [value]
        if not _matches(value, tp):
            key, tp, value = _locate(f.name, value, tp)
            raise PolicyError(where, key=key, problem=f"expected {_describe(tp)}, got {value!r}")
    return out


def _locate(key: str, value: Any, tp: Any) -> tuple[str, Any, Any]:
    """The innermost key of ``value`` that does not have its type (``cutoffs.frontier``)."""
    arms = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
    for arm in (*arms, tp):
        args = typing.get_args(arm)
        if isinstance(value, Mapping) and typing.get_origin(arm) in (Mapping, dict) and args:
            for k, v in value.items():
                if not _matches(v, args[1]):
                    return _locate(f"{key}.{k}", v, args[1])
    return key, tp, value
