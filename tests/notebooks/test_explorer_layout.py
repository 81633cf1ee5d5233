"""The explorer in JupyterLab's default layout (file browser open, a 1400 px window), looked at
as a person would: nothing it writes is clipped or truncated, and it fits the notebook."""

from __future__ import annotations

import json
import time

import pytest

CELLS = [
    """
import numpy as np
import simkit, simkit.viz as viz
from functools import partial
from simkit.study import Study
viz.use_offline_renderer()
trace = simkit.load_trace("traces/routellm_azure")
trace = trace.subset(np.arange(trace.n_requests) < 3000)
tokens = trace.requests["prompt_tokens"].to_numpy(dtype="float64")
rank = np.argsort(np.argsort(tokens, kind="stable"), kind="stable")
trace = trace.with_scores({"p_hard": 0.03 + 0.46 * rank / len(rank)})  # scores in 0.03-0.49
study = Study.prepare(trace, simkit.load_fleet())
""",
    """
viz.tier_share_chart(viz.tier_share_points(study.tradeoff().head(3), tiers=study.tiers), tiers=study.tiers)
""",
    """
load = study.gpu_load_curve(n_requests=1000, rates_per_s=[4.0, 8.0, 16.0])
cut = study.cutoffs_for_shares({"frontier": 0.2, "hosted": 0.2})
explorer = viz.Explorer(
    lambda s: study.explore(s, load_curve=load),
    partial(study.simulate_settings, seeds=(0, 1, 2)),
    tiers=study.tiers,
    prices={"hosted": (0.59, 0.79), "frontier": (2.50, 10.00)},
    cutoffs=cut,
    scores=study.scores,
    requests_per_month=1e9,
    gpu_usd_per_hour=1.37,
    slo_ttft_s=1.0,
)
explorer.widget()
""",
]

# Runs in the page: every piece of text in the explorer that does not fit its box, or that an
# ancestor with hidden overflow cuts off (a slider readout pushed out of its panel).
CLIPPED = """(root) => {
  const out = [];
  const boxes = root.querySelectorAll(
    '.widget-readout, .widget-label, .widget-button, .lm-TabBar-tabLabel, .widget-html-content');
  for (const el of boxes) {
    if (el.offsetParent === null) continue;  // hidden (the other routing mode, another tab)
    const text = (el.innerText || el.value || '').slice(0, 60);
    if (el.scrollWidth > el.clientWidth + 1) {
      out.push({text, why: 'truncated', scroll: el.scrollWidth, client: el.clientWidth});
      continue;
    }
    const r = el.getBoundingClientRect();
    for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX === 'visible' && style.overflow === 'visible') continue;
      const b = a.getBoundingClientRect();
      if (r.right > b.right + 1 || r.left < b.left - 1) {
        out.push({text, why: 'cut off by ' + a.className.slice(0, 40)});
        break;
      }
    }
  }
  return out;
}"""


def _notebook(tmp) -> str:
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": c, "outputs": [],
             "execution_count": None}
            for c in CELLS
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    return json.dumps(nb)


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_fits_jupyterlab_with_the_file_browser_open(jupyter_lab, browser, artifacts):
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(
        repo / "traces" / "routellm_azure", jupyter_lab.root / "traces" / "routellm_azure"
    )
    (jupyter_lab.root / "explorer.ipynb").write_text(_notebook(jupyter_lab.root))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(jupyter_lab.tree_url("explorer.ipynb"))
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " return !!(w && w.sessionContext && w.sessionContext.session &&"
            " w.sessionContext.session.kernel &&"
            " w.sessionContext.session.kernel.status === 'idle'); }",
            timeout=60_000,
        )
        # JupyterLab's default layout: the file browser open on the left
        page.evaluate("window.jupyterapp.commands.execute('filebrowser:activate')")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        explorer = page.locator(".simkit-explorer")
        explorer.wait_for(timeout=300_000)
        page.wait_for_function(
            "(el) => el.querySelectorAll('.vega-embed svg.marks, .vega-embed canvas.marks')"
            ".length >= 3",
            arg=explorer.element_handle(),
            timeout=120_000,
        )
        assert page.locator(".jp-FileBrowser").is_visible()
        time.sleep(1.0)
        page.screenshot(path=str(artifacts / "explorer_1400px_filebrowser.png"))
        explorer.screenshot(path=str(artifacts / "explorer_1400px_widget.png"))
        clipped = explorer.evaluate(CLIPPED)
        assert clipped == [], clipped
        for tab in ("prices", "volume & SLO"):  # the other panels, as a person clicks them
            explorer.locator(".lm-TabBar-tab", has_text=tab).click()
            time.sleep(0.5)
            assert explorer.evaluate(CLIPPED) == [], tab
        explorer.locator(".lm-TabBar-tab", has_text="routing").click()
        # the cut-off sliders span the scores (0.03 to 0.49), not 0 to 1
        readouts = explorer.locator(".widget-slider .widget-readout")
        assert readouts.count() >= 2
        # the button simulates 3 seeds at 1e9 requests/month; its numbers agree with the
        # vectorised estimate: per 1k = per month / volume
        explorer.locator(".widget-button", has_text="Simulate this point").click()
        page.wait_for_function(
            "(el) => el.innerText.includes('Simulated')",
            arg=explorer.element_handle(),
            timeout=300_000,
        )
        # the simulated point joins the trade-off chart, labelled apart from "chosen"
        page.wait_for_function(
            "(el) => [...el.querySelectorAll('.vega-embed svg text')]"
            ".filter(t => t.textContent === 'simulated').length >= 2",  # legend and label
            arg=explorer.element_handle(),
            timeout=60_000,
        )
        text = explorer.inner_text()
        assert "Simulated" in text and "367.708–367.708" not in text
        assert explorer.evaluate(CLIPPED) == []
        explorer.screenshot(path=str(artifacts / "explorer_1400px_simulated.png"))
        # the explorer fits the notebook's output area: no horizontal scrolling
        widths = explorer.evaluate(
            "(el) => [el.scrollWidth, el.closest('.jp-OutputArea-output').clientWidth]"
        )
        assert widths[0] <= widths[1], widths
    finally:
        page.screenshot(path=str(artifacts / "explorer_1400px_last.png"))
        page.close()
