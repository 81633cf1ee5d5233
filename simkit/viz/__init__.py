"""Views: altair charts of tidy frames, the ipywidgets explorer and the offline HTML report.

``simkit.viz`` is imported by name (``import simkit.viz``), never by ``import simkit``, so the
core stays free of altair and ipywidgets. It reads only :mod:`simkit.metrics`,
:mod:`simkit.schema` and :mod:`simkit.errors`: charts are functions of DataFrames, and the
explorer receives the functions that compute those frames as arguments.
"""

from simkit.viz.charts import (
    latency_cdf_chart,
    monthly_cost_chart,
    routing_curve_chart,
    tier_share_chart,
    tradeoff_chart,
)
from simkit.viz.report import ReportSection, chart_png, report_html, write_report

__all__ = [
    "ReportSection",
    "chart_png",
    "latency_cdf_chart",
    "monthly_cost_chart",
    "report_html",
    "routing_curve_chart",
    "tier_share_chart",
    "tradeoff_chart",
    "write_report",
]
