"""Notebook 01 in a real JupyterLab, driven by headless Chromium: every cell runs without an
error, the charts render (offline, through altair's JupyterChart) and the explorer's widgets
render; a screenshot is saved to ``artifacts/``."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = "01_quickstart.ipynb"

# Runs in the page: the state of every code cell of the open notebook.
CELL_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  return {
    kernel: kernel ? kernel.status : 'none',
    counts: cells.map(c => c.model.executionCount),
    errors: cells.flatMap(c => c.model.outputs.toJSON()
      .filter(o => o.output_type === 'error')
      .map(o => o.ename + ': ' + o.evalue)),
  };
}"""

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.status === 'idle');
}"""


def _wait_all_executed(page, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(CELL_STATE)
        done = state["kernel"] == "idle" and all(c is not None for c in state["counts"])
        if done or state["errors"] or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


@pytest.mark.browser
@pytest.mark.slow
def test_quickstart_runs_in_jupyterlab_and_renders_charts_and_widgets(jupyter_lab, browser, artifacts):
    source = NOTEBOOKS / NOTEBOOK
    shutil.copy(source, jupyter_lab.root / NOTEBOOK)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    remote = []

    def local_only(route):
        if route.request.url.startswith(jupyter_lab.url):
            route.continue_()
        else:  # the page must work offline: no CDN, no fonts, no telemetry
            remote.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    try:
        page.goto(jupyter_lab.tree_url(NOTEBOOK))
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        state = _wait_all_executed(page, timeout_s=300)
        assert state["errors"] == [], f"cells raised: {state['errors']}"
        assert state["kernel"] == "idle" and None not in state["counts"], json.dumps(state)
        assert len(state["counts"]) == len(
            [c for c in json.loads(source.read_text())["cells"] if c["cell_type"] == "code"]
        )
        page.wait_for_selector(".vega-embed", timeout=60_000)
        page.wait_for_selector(".jupyter-widgets .widget-slider", timeout=60_000)
        charts = page.locator(".jp-OutputArea .vega-embed")
        drawn = page.evaluate(
            "[...document.querySelectorAll('.jp-OutputArea .vega-embed')]"
            ".map(e => e.querySelectorAll('svg.marks, canvas.marks').length)"
        )
        assert charts.count() >= 2 and all(n == 1 for n in drawn), drawn
        # the explorer: its three charts drawn, then its button runs the simulation in the
        # kernel and the latency chart appears under it
        explorer = page.locator(".jp-OutputArea-output .simkit-explorer")
        assert explorer.count() == 1
        assert explorer.locator(".vega-embed").count() == 3
        # the notebook's starting cut-offs give every tier traffic (the hosted one included)
        point = re.search(r"shares: selfhosted ([\d.]+)%, hosted ([\d.]+)%, frontier ([\d.]+)%",
                          explorer.inner_text())  # fmt: skip
        assert point and all(float(v) > 0 for v in point.groups()), explorer.inner_text()
        button = explorer.locator(".widget-button", has_text="Simulate this point")
        button.scroll_into_view_if_needed()
        button.click()
        page.wait_for_function(
            "(el) => el.querySelectorAll('.vega-embed').length === 4",
            arg=explorer.element_handle(),
            timeout=120_000,
        )
        page.wait_for_function(
            "(el) => el.querySelectorAll('.vega-embed')[3].querySelector('svg.marks, canvas.marks')",
            arg=explorer.element_handle(),
            timeout=60_000,
        )
        assert "Simulated" in explorer.inner_text()
        bar = explorer.locator(".widget-hprogress .progress-bar")
        assert bar.count() == 1 and bar.evaluate("b => b.style.width") == "100%"
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "notebook01_jupyterlab.png"))
        explorer.screenshot(path=str(artifacts / "notebook01_explorer.png"))
    finally:
        page.close()
    assert remote == []
