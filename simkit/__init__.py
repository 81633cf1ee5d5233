"""simkit: replay LLM request traces through routing policies over a simulated fleet and
measure cost, quality and latency together.

The core API is re-exported here; ``simkit.classify``, ``simkit.viz``, ``simkit.router`` and
``simkit.live`` are imported by name so that ``import simkit`` never loads torch, altair,
ipywidgets or openai.
"""

from simkit.errors import SimkitError
from simkit.fleet import Fleet, load_fleet
from simkit.policies import Policy, ThresholdPolicy, build_policy
from simkit.sim import Records, simulate
from simkit.trace import Trace, load_trace, save_trace

__version__ = "0.1.0"

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
