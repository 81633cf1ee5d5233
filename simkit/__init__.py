"""simkit: replay LLM request traces through routing policies over a simulated fleet and
measure cost, quality and latency together.

The core API is re-exported here; ``simkit.classify``, ``simkit.viz``, ``simkit.router`` and
``simkit.live`` are imported by name so that ``import simkit`` never loads torch, altair,
ipywidgets or openai. The re-exported names are loaded on first use (PEP 562), so that
``import simkit.router`` (which imports this package first) loads neither pandas nor SimPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simkit._version import __version__
from simkit.errors import SimkitError

if TYPE_CHECKING:  # what static analysis and IDEs see; at run time __getattr__ loads them
    from simkit.fleet import Fleet, load_fleet
    from simkit.policies import Policy, ThresholdPolicy, build_policy
    from simkit.sim import Records, simulate
    from simkit.trace import Trace, load_trace, save_trace

__all__ = [
    "Fleet",
    "Policy",
    "Records",
    "SimkitError",
    "ThresholdPolicy",
    "Trace",
    "__version__",
    "build_policy",
    "load_fleet",
    "load_trace",
    "save_trace",
    "simulate",
]

# name -> the module that defines it
_WHERE = {
    "Fleet": "simkit.fleet",
    "load_fleet": "simkit.fleet",
    "Policy": "simkit.policies",
    "ThresholdPolicy": "simkit.policies",
    "build_policy": "simkit.policies",
    "Records": "simkit.sim",
    "simulate": "simkit.sim",
    "Trace": "simkit.trace",
    "load_trace": "simkit.trace",
    "save_trace": "simkit.trace",
}
# sub-packages that ``import simkit`` used to load eagerly: still reachable as attributes
_SUBPACKAGES = ("fleet", "policies", "schema", "seeding", "sim", "trace")


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"simkit.{name}")
    raise AttributeError(f"module 'simkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBPACKAGES})
