"""A standalone HTML report that opens offline, and PNGs of its charts.

The page inlines the Vega, Vega-Lite and Vega-Embed scripts (the bundle that ``vl-convert``
ships in its wheel, for the Vega-Lite version altair writes), so it needs no CDN and no
network: copy the one file anywhere and open it. PNGs are rendered by ``vl-convert`` (no
browser needed).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from simkit.errors import SpecError

__all__ = ["ReportSection", "chart_png", "report_html", "vega_lite_version", "write_report"]


@dataclass(frozen=True)
class ReportSection:
    """One part of a report: a heading, some text, a chart and/or a table.

    Parameters
    ----------
    title : str
        Section heading.
    text : str
        Plain text under the heading; blank lines separate paragraphs (HTML is escaped).
    chart : altair chart, optional
        Any altair top-level chart; embedded interactive and, with ``png_dir``, saved as PNG.
    table : DataFrame, optional
        Shown as an HTML table under the chart (numbers formatted with ``float_format``).
    name : str, optional
        File stem of the chart's PNG; default a slug of the title.
    float_format : callable, optional
        Formats each float of ``table``; default :func:`readable_number` (4 significant
        digits, thousands separators from 1,000 on).
    data : DataFrame, optional
        The numbers behind ``chart``, offered as a CSV download under it; default the
        data sets embedded in the chart's spec (one download each).
    """

    title: str
    text: str = ""
    chart: alt.TopLevelMixin | None = None
    table: pd.DataFrame | None = None
    name: str | None = None
    float_format: Callable[[float], str] | None = None
    data: pd.DataFrame | None = None

    @property
    def slug(self) -> str:
        """The PNG file stem and HTML anchor of this section."""
        base = self.name or self.title
        return re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-") or "section"


def vega_lite_version() -> str:
    """The Vega-Lite version altair writes (e.g. ``'6.4'``), which selects the inlined bundle."""
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"


def _javascript_bundle() -> str:
    import vl_convert as vlc

    return vlc.javascript_bundle(vl_version=vega_lite_version())


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can appear)."""
    text = json.dumps(value, allow_nan=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return "\n".join(f"<p>{html.escape(b)}</p>" for b in blocks)


def readable_number(value: float) -> str:
    """4 significant digits; from 1,000 on, whole numbers with thousands separators (so a
    column never mixes ``4587`` and ``37,535``)."""
    if value != value:
        return "–"
    if abs(value) >= 1_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _csv_links(section: ReportSection, spec: dict[str, Any]) -> str:
    """Download links (``data:`` URIs, no server needed) for the data behind a chart."""
    from urllib.parse import quote

    if section.data is not None:
        frames = {section.slug: section.data}
    else:
        sets = list(spec.get("datasets", {}).values())
        frames = {
            (section.slug if len(sets) == 1 else f"{section.slug}-{i + 1}"): pd.DataFrame(rows)
            for i, rows in enumerate(sets)
        }
    links = [
        f'<a class="csv" download="{html.escape(name)}.csv" '
        f'href="data:text/csv;charset=utf-8,{quote(frame.to_csv(index=False))}">'
        f"{html.escape(name)}.csv</a>"
        for name, frame in frames.items()
    ]
    return f'<p class="meta">Data behind this chart: {", ".join(links)}</p>' if links else ""


def _table_html(table: pd.DataFrame, float_format: Callable[[float], str] | None) -> str:
    body = table.to_html(
        index=False,
        border=0,
        classes="numbers",
        float_format=float_format or readable_number,
        na_rep="–",
        escape=True,
    )
    return f'<div class="table">{body}</div>'


def _checked_sections(sections: Sequence[ReportSection]) -> list[ReportSection]:
    sections = list(sections)
    if not sections:
        raise SpecError("report", key="sections", problem="no sections; nothing to report")
    seen: dict[str, str] = {}
    for s in sections:
        if not isinstance(s, ReportSection):
            raise SpecError(
                "report",
                key="sections",
                problem=f"expected ReportSection objects, got {type(s).__name__}",
            )
        if s.slug in seen:
            raise SpecError(
                "report",
                key=f"sections.{s.slug}",
                problem=f"two sections share the name {s.slug!r} ({seen[s.slug]!r} and "
                f"{s.title!r}); give one a different title or name",
            )
        seen[s.slug] = s.title
    return sections


_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9rem; }
table.numbers { border-collapse: collapse; font-size: 0.85rem; margin: 0.8rem 0; }
table.numbers th, table.numbers td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee;
       text-align: right; }
table.numbers th { background: #f6f6f6; }
.chart { margin: 0.8rem 0; }
.table { overflow-x: auto; }
table.numbers td:first-child, table.numbers th:first-child { text-align: left; }
table.numbers td { max-width: 22rem; overflow-wrap: anywhere; }
a.csv { margin-right: 0.6rem; }
"""


def report_html(
    sections: Sequence[ReportSection], *, title: str, intro: str = "", footer: str = ""
) -> str:
    """The report as one HTML document with every script inline (no network needed).

    Parameters
    ----------
    sections : sequence of ReportSection
        In display order; section names (slugs) must be unique.
    title : str
        Page title and top heading.
    intro, footer : str
        Plain text before the first and after the last section (e.g. data provenance).

    Returns
    -------
    str
        A complete ``<!DOCTYPE html>`` document.
    """
    sections = _checked_sections(sections)
    specs: dict[str, dict[str, Any]] = {}
    body = [f"<h1>{html.escape(title)}</h1>", _paragraphs(intro)]
    for s in sections:
        body.append(f'<section id="{s.slug}">')
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        body.append(_paragraphs(s.text))
        if s.chart is not None:
            specs[f"chart-{s.slug}"] = s.chart.to_dict()
            body.append(f'<div class="chart" id="chart-{s.slug}"></div>')
            body.append(_csv_links(s, specs[f"chart-{s.slug}"]))
        if s.table is not None:
            body.append(_table_html(s.table, s.float_format))
        body.append("</section>")
    if footer:
        body.append(f'<footer class="meta">{_paragraphs(footer)}</footer>')
    embed = (
        "const SIMKIT_SPECS = " + _script_json(specs) + ";\n"
        "const SIMKIT_OPTIONS = {actions: {export: true, source: false, compiled: false, "
        "editor: false}, renderer: 'svg'};\n"
        "window.simkitRendered = Promise.all(Object.entries(SIMKIT_SPECS).map(\n"
        "  ([id, spec]) => vegaEmbed('#' + id, spec, SIMKIT_OPTIONS)));\n"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_STYLE}</style>",
            f"<!-- vega-embed + vega-lite {vega_lite_version()} + vega, bundled by vl-convert -->",
            '<script type="text/javascript">',
            _javascript_bundle(),
            "</script>",
            "</head>",
            "<body>",
            *[b for b in body if b],
            '<script type="text/javascript">',
            embed,
            "</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def chart_png(chart: alt.TopLevelMixin, path: str | PathLike[str], *, scale: float = 2.0) -> Path:
    """Render one chart to a PNG file with ``vl-convert`` (no browser, no network).

    Parameters
    ----------
    chart : altair chart
    path : path-like
        Where to write; parent folders are created.
    scale : float
        Pixel density (2 = sharp on high-DPI screens).

    Returns
    -------
    Path
        The written file.
    """
    import vl_convert as vlc

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(
        vlc.vegalite_to_png(chart.to_dict(), vl_version=vega_lite_version(), scale=scale)
    )
    return out


def write_report(
    sections: Sequence[ReportSection],
    path: str | PathLike[str],
    *,
    title: str,
    intro: str = "",
    footer: str = "",
    png_dir: str | PathLike[str] | None = None,
    png_scale: float = 2.0,
) -> list[Path]:
    """Write the offline HTML report and, with ``png_dir``, one PNG per chart.

    Parameters
    ----------
    sections : sequence of ReportSection
        See :func:`report_html`.
    path : path-like
        The HTML file to write (parent folders are created).
    title, intro, footer : str
        See :func:`report_html`.
    png_dir : path-like, optional
        Folder for ``<section name>.png`` files.
    png_scale : float
        Pixel density of the PNGs.

    Returns
    -------
    list of Path
        The HTML file first, then the PNGs in section order.
    """
    sections = _checked_sections(sections)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_html(sections, title=title, intro=intro, footer=footer), "utf-8")
    written = [out]
    if png_dir is not None:
        for s in sections:
            if s.chart is not None:
                written.append(chart_png(s.chart, Path(png_dir) / f"{s.slug}.png", scale=png_scale))
    return written
