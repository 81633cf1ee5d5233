"""One colour per tier and per policy, the same in every chart.

Every chart of :mod:`simkit.viz.charts` colours its series with :func:`colour_scale`, so a
name has one colour wherever it is drawn: ``selfhosted`` in the latency CDFs is the colour of
``selfhosted`` in the tier-share bars, ``oracle`` in the trade-off chart is the colour of
``oracle`` in the RouteLLM curves.

How a name gets its colour:

* the names simkit itself uses (the default fleet's tiers and the baselines and labels the
  study and the explorer write) have fixed colours in :data:`NAMED_COLOURS`;
* ``all <tier>`` (a static policy) takes the colour of ``<tier>``;
* any other name takes the colour at its SHA-256 position in :data:`OTHER_COLOURS` (the same
  name, the same colour, whatever else the chart shows). Only when two names of one chart hit
  the same colour does the later one (in the chart's order) move to the next free colour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import altair as alt

__all__ = ["NAMED_COLOURS", "OTHER_COLOURS", "colour_of", "colour_scale", "palette"]

#: Fixed colours of the names simkit writes (tiers of the default fleet, baselines, labels).
NAMED_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        # tiers of the default fleet (cheapest first): blue, green, red
        "selfhosted": "#4c78a8",
        "hosted": "#54a24b",
        "frontier": "#e45756",
        # baselines and reference curves
        "oracle": "#7f3c8d",
        "random": "#8c8c8c",
        "random mix": "#8c8c8c",
        # the explorer's and the report's operating points
        "chosen": "#f58518",
        "simulated": "#b8860b",
        "tiered": "#f58518",
        # the vectorised threshold curves between the frontier and a cheaper tier
        "frontier / selfhosted": "#2f9e9e",
        "frontier / hosted": "#9d755d",
    }
)

#: Colours for every other name (Tableau-20 without the colours fixed above).
OTHER_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#aec7e8",
    "#ff7f0e",
    "#ffbb78",
    "#2ca02c",
    "#98df8a",
    "#d62728",
    "#ff9896",
    "#9467bd",
    "#c5b0d5",
    "#8c564b",
    "#c49c94",
    "#e377c2",
    "#f7b6d2",
    "#bcbd22",
    "#dbdb8d",
    "#17becf",
    "#9edae5",
)


def colour_of(name: str) -> str:
    """The colour of ``name`` in every simkit chart (a ``#rrggbb`` string).

    Parameters
    ----------
    name : str
        A tier or policy name.

    Returns
    -------
    str
        :data:`NAMED_COLOURS` for simkit's own names, the tier's colour for ``all <tier>``,
        otherwise a colour of :data:`OTHER_COLOURS` chosen by the name's SHA-256.
    """
    name = str(name)
    if name in NAMED_COLOURS:
        return NAMED_COLOURS[name]
    if name.startswith("all ") and name.removeprefix("all ") in NAMED_COLOURS:
        return NAMED_COLOURS[name.removeprefix("all ")]
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return OTHER_COLOURS[int.from_bytes(digest[:4], "big") % len(OTHER_COLOURS)]


def palette(names: Iterable[str]) -> dict[str, str]:
    """Name -> colour for the names one chart draws (first-seen order, duplicates dropped).

    Each name gets :func:`colour_of`; a name whose colour an earlier name of the same chart
    already took (two hashed names on one colour, or ``all <tier>`` next to ``<tier>`` in a
    policy legend) moves to the next free colour of :data:`OTHER_COLOURS`, so no two series
    of one chart share a colour while there are colours left.
    """
    out: dict[str, str] = {}
    for name in dict.fromkeys(str(n) for n in names):
        colour = colour_of(name)
        if colour in out.values() and name not in NAMED_COLOURS:
            start = OTHER_COLOURS.index(colour) + 1 if colour in OTHER_COLOURS else 0
            free = [
                c for c in OTHER_COLOURS[start:] + OTHER_COLOURS[:start] if c not in out.values()
            ]
            colour = free[0] if free else colour
        out[name] = colour
    return out


def colour_scale(names: Iterable[str]) -> alt.Scale:
    """The altair colour scale of a chart that draws ``names`` (domain and range fixed by
    :func:`palette`)."""
    colours = palette(names)
    return alt.Scale(domain=list(colours), range=list(colours.values()))
