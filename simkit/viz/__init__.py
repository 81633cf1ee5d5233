"""Views: altair charts of tidy frames, the ipywidgets explorer and the offline HTML report.

``simkit.viz`` is imported by name (``import simkit.viz``), never by ``import simkit``, so the
core stays free of altair and ipywidgets. It reads only :mod:`simkit.metrics`,
:mod:`simkit.schema` and :mod:`simkit.errors`: charts are functions of DataFrames, and the
explorer receives the functions that compute those frames as arguments.
"""

from simkit.viz.charts import (
    capacity_chart,
    latency_cdf_chart,
    latency_cost_chart,
    monthly_cost_chart,
    routing_curve_chart,
    tier_cost_chart,
    tier_share_chart,
    tradeoff_chart,
)
from simkit.viz.explorer import Explorer, ExplorerSettings, use_offline_renderer
from simkit.viz.frames import (
    first_crossings,
    latency_cdf_points,
    routing_curve_points,
    seed_interval_points,
    summary_points,
    tier_cost_points,
    tier_share_points,
    tradeoff_points,
)
from simkit.viz.palette import colour_of, colour_scale, palette
from simkit.viz.report import ReportSection, chart_png, report_html, write_report
from simkit.viz.sections import study_report_sections

__all__ = [
    "Explorer",
    "capacity_chart",
    "colour_of",
    "colour_scale",
    "latency_cost_chart",
    "palette",
    "seed_interval_points",
    "tier_cost_chart",
    "tier_cost_points",
    "ExplorerSettings",
    "ReportSection",
    "chart_png",
    "first_crossings",
    "latency_cdf_points",
    "routing_curve_points",
    "study_report_sections",
    "summary_points",
    "tier_share_points",
    "tradeoff_points",
    "use_offline_renderer",
    "latency_cdf_chart",
    "monthly_cost_chart",
    "report_html",
    "routing_curve_chart",
    "tier_share_chart",
    "tradeoff_chart",
    "write_report",
]
