"""The HTML report is one self-contained file that renders with the network cut off."""

from __future__ import annotations

import io
import re
import struct

import pandas as pd
import pytest

from simkit.errors import SpecError
from simkit.viz import ReportSection, report_html, tier_share_chart, write_report
from simkit.viz.report import vega_lite_version


def _sections() -> list[ReportSection]:
    shares = pd.DataFrame(
        {
            "policy": ["tiered", "tiered", "all frontier"],
            "tier": ["selfhosted", "frontier", "frontier"],
            "share": [0.8, 0.2, 1.0],
        }
    )
    table = pd.DataFrame({"policy": ["tiered", "all frontier"], "cost_per_1k_usd": [0.61, 2.2]})
    return [
        ReportSection(
            "Tier shares",
            text="Who answers.\n\nSecond <paragraph> & more.",
            chart=tier_share_chart(shares),
            table=table,
        ),
        ReportSection("Shares again", chart=tier_share_chart(shares.iloc[:2])),
        ReportSection("Only a table", table=table),
    ]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_inlines_the_vega_scripts_and_loads_nothing_remote():
    page = report_html(_sections(), title="Routing <report>", intro="On real data.")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page
    assert f"vega-lite {vega_lite_version()}" in page
    assert "vegaEmbed" in page and len(page) > 500_000  # the bundle itself is inline
    assert page.count('<div class="chart" id="chart-') == 2
    assert "<title>Routing &lt;report&gt;</title>" in page
    assert "<p>Second &lt;paragraph&gt; &amp; more.</p>" in page
    assert page.count('<table class="dataframe numbers">') == 2


def test_report_sections_need_unique_names_and_at_least_one_section():
    twice = [ReportSection("Costs"), ReportSection("costs!")]
    with pytest.raises(SpecError, match="key 'sections.costs': two sections share the name"):
        report_html(twice, title="t")
    with pytest.raises(SpecError, match="no sections; nothing to report"):
        report_html([], title="t")


def test_write_report_writes_the_page_and_one_png_per_chart(tmp_path):
    files = write_report(
        _sections(), tmp_path / "out" / "report.html", title="t", png_dir=tmp_path / "png"
    )
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "out/report.html",
        "png/tier-shares.png",
        "png/shares-again.png",
    ]
    width, height = _png_size(files[1].read_bytes())
    assert width > 420 * 2 and height > 60  # chart width 420 at scale 2, plus axis and legend


@pytest.mark.browser
def test_report_renders_every_chart_in_chromium_with_the_network_cut_off(
    tmp_path, browser, artifacts
):
    path = write_report(_sections(), tmp_path / "report.html", title="offline check")[0]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    remote, errors = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_local(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(path.as_uri())
    assert page.evaluate("window.simkitRendered.then(views => views.length)") == 2
    svgs = page.evaluate(
        "[...document.querySelectorAll('div.chart')].map(d => d.querySelectorAll('svg.marks').length)"
    )
    assert svgs == [1, 1]
    bars = page.locator("#chart-tier-shares svg .mark-rect path").count()
    assert bars == 3
    page.screenshot(path=str(artifacts / "report_offline.png"), full_page=True)
    page.close()
    assert remote == [] and errors == []


def test_each_chart_of_the_report_offers_its_data_as_a_csv_download():
    from urllib.parse import unquote

    import altair as alt

    from simkit.viz import ReportSection, report_html

    data = pd.DataFrame({"tier": ["selfhosted", "frontier"], "share": [0.8, 0.2]})
    chart = alt.Chart(data).mark_bar().encode(x="share:Q", y="tier:N")
    page = report_html(
        [
            ReportSection("Given", chart=chart, data=data.assign(note="a, b")),
            ReportSection("From the spec", chart=chart),
        ],
        title="t",
    )
    links = re.findall(r'download="([^"]+)" href="data:text/csv;charset=utf-8,([^"]+)"', page)
    assert [name for name, _ in links] == ["given.csv", "from-the-spec.csv"]
    given = pd.read_csv(io.StringIO(unquote(links[0][1])))
    pd.testing.assert_frame_equal(given, data.assign(note="a, b"))
    spec = pd.read_csv(io.StringIO(unquote(links[1][1])))
    pd.testing.assert_frame_equal(spec, data)
