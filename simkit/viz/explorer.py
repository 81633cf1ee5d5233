"""An ipywidgets explorer of the cost-quality-latency trade-off.

The explorer owns widgets and charts only. It is handed two functions:

* ``update(settings) -> dict of DataFrames`` — the vectorised path, called on every control
  change (it must be fast: no simulation). It returns ``tradeoff``, ``shares``,
  ``monthly_costs``, ``crossovers`` and ``point`` frames;
  :meth:`simkit.study.Study.explore` is one;
* ``simulate(settings, progress) -> dict of DataFrames`` — the full simulation of the chosen
  point, run by the button; ``progress(done, total)`` moves the progress bar. It returns
  ``records``, ``endpoints`` and ``summary``; :meth:`simkit.study.Study.simulate_settings` is
  one.

``settings`` is an :class:`ExplorerSettings` built from the widget values. Every chart is
re-drawn by the chart functions of :mod:`simkit.viz.charts` from the returned frames.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence

import altair as alt
import ipywidgets as w
import numpy as np
import pandas as pd

from simkit.errors import SimkitError, SpecError
from simkit.metrics import DEFAULT_SLO_TTFT_S, per_1k_requests_usd
from simkit.metrics.planning import ExplorerSettings  # one definition, shared with simkit.study
from simkit.viz.charts import (
    latency_cdf_chart,
    monthly_cost_chart,
    tier_share_chart,
    tradeoff_chart,
)
from simkit.viz.frames import (
    first_crossings,
    latency_cdf_points,
    summary_points,
    tradeoff_points,
)

__all__ = ["Explorer", "ExplorerSettings", "use_offline_renderer"]

Frames = Mapping[str, pd.DataFrame]
UpdateFn = Callable[["ExplorerSettings"], Frames]
SimulateFn = Callable[["ExplorerSettings", Callable[[int, int], None]], Frames]


def use_offline_renderer() -> None:
    """Render altair charts in JupyterLab as widgets whose JavaScript is loaded from the
    ``vl-convert`` wheel, not a CDN (``alt.renderers.enable("jupyter", offline=True)``).

    This changes altair's global renderer for the session; call it once at the top of a
    notebook.
    """
    alt.renderers.enable("jupyter", offline=True)


class Explorer:
    """Controls, charts and a simulate button for one trace and fleet.

    Parameters
    ----------
    update : callable(settings) -> dict of DataFrame
        The vectorised path (module docstring).
    simulate : callable(settings, progress) -> dict of DataFrame, optional
        The full simulation; without it there is no button.
    tiers : sequence of str
        Tier names, cheapest first (the last is the frontier).
    prices : mapping tier -> (input, output)
        Starting prices of the API tiers, USD per 1M tokens (one price control pair each).
    cutoffs : mapping tier -> float
        Starting cut-offs for the tiers above the cheapest. A tier left out starts where it
        gets traffic: with ``scores``, at the cut-off that sends it 20 % of the requests
        (strongest tier first, as many as fit); without, evenly spaced down the range.
    shares : mapping tier -> float, optional
        Starting target shares (default: 0.2 for the frontier, 0 for the others).
    requests_per_month : float
        Starting monthly volume.
    gpu_usd_per_hour : float
        Starting rental of one GPU.
    gpu_replicas : int
        Starting replica count.
    slo_ttft_s : float
        Starting TTFT budget, s.
    scores : array-like, optional
        The routing scores of the trace (e.g. ``study.scores``): the cut-off sliders then span
        their actual range, lowest to highest score (a cut-off at the lowest sends every
        request up, one above the highest sends none).
    score_range : (float, float), optional
        Range of the cut-off sliders when ``scores`` is not given (default 0 to 1).
    volume_range : (float, float)
        Range of the volume slider (requests per month).

    Attributes
    ----------
    controls : dict of widgets
        Every control by name (``cutoff_<tier>``, ``share_<tier>``, ``price_in_<tier>``,
        ``price_out_<tier>``, ``requests_per_month``, ``gpu_usd_per_hour``,
        ``gpu_replicas``, ``slo_ttft_s``, ``mode``).
    charts : dict of altair.JupyterChart
        ``tradeoff``, ``shares``, ``monthly_costs`` and, once simulated, ``latency``.
    frames : dict of DataFrame
        The latest ``update`` result.
    simulated : dict of DataFrame
        The latest ``simulate`` result (empty before the first run).
    """

    def __init__(
        self,
        update: UpdateFn,
        simulate: SimulateFn | None = None,
        *,
        tiers: Sequence[str],
        prices: Mapping[str, tuple[float, float]],
        cutoffs: Mapping[str, float],
        shares: Mapping[str, float] | None = None,
        requests_per_month: float = 1e6,
        gpu_usd_per_hour: float = 2.0,
        gpu_replicas: int = 1,
        slo_ttft_s: float = DEFAULT_SLO_TTFT_S,
        scores: Sequence[float] | None = None,
        score_range: tuple[float, float] | None = None,
        volume_range: tuple[float, float] = (1e4, 1e9),
    ) -> None:
        self.tiers = tuple(tiers)
        if len(self.tiers) < 2:
            raise SpecError("Explorer", key="tiers", problem="needs at least two tiers")
        unknown = sorted((set(prices) | set(cutoffs)) - set(self.tiers))
        if unknown:
            raise SpecError(
                "Explorer",
                key=unknown[0],
                problem=f"not a tier; tiers: {', '.join(self.tiers)}",
            )
        self._update_fn = update
        self._simulate_fn = simulate
        self.frames: dict[str, pd.DataFrame] = {}
        self.simulated: dict[str, pd.DataFrame] = {}
        self._simulated_for: ExplorerSettings | None = None
        upper = self.tiers[:0:-1]  # strongest first, the cheapest takes the rest
        shares = dict(shares or {self.tiers[-1]: 0.2})
        style = {"description_width": "140px"}
        c: dict[str, w.Widget] = {}
        c["mode"] = w.ToggleButtons(
            options=[("score cut-offs", "thresholds"), ("target shares", "shares")],
            value="thresholds",
            description="route by",
            style=style,
        )
        lo, hi = _score_range(scores, score_range)
        cutoffs = {**_default_cutoffs(upper, scores, lo, hi), **cutoffs}
        for t in upper:
            c[f"cutoff_{t}"] = w.FloatSlider(
                value=float(cutoffs[t]),
                min=lo,
                max=hi,
                step=(hi - lo) / 200,
                readout_format=".3f",
                description=f"{t}: score ≥",
                style=style,
                layout=_wide(),
                continuous_update=False,
            )
            c[f"share_{t}"] = w.FloatSlider(
                value=float(shares.get(t, 0.0)),
                min=0.0,
                max=1.0,
                step=0.01,
                readout_format=".0%",
                description=f"{t}: share",
                style=style,
                layout=_wide(),
                continuous_update=False,
            )
        for t, (p_in, p_out) in prices.items():
            for part, value in (("in", p_in), ("out", p_out)):
                c[f"price_{part}_{t}"] = w.BoundedFloatText(
                    value=float(value),
                    min=0.0,
                    max=1000.0,
                    step=0.01,
                    description=f"{t} $/M {part}put",
                    style=style,
                    layout=_wide(),
                )
        vmin, vmax = (math.log10(v) for v in volume_range)
        c["requests_per_month"] = w.FloatLogSlider(
            value=float(requests_per_month),
            base=10,
            min=vmin,
            max=vmax,
            step=0.05,
            readout_format=".3g",
            description="requests / month",
            style=style,
            layout=_wide(),
            continuous_update=False,
        )
        c["gpu_usd_per_hour"] = w.BoundedFloatText(
            value=float(gpu_usd_per_hour),
            min=0.0,
            max=100.0,
            step=0.05,
            description="GPU $ / hour",
            style=style,
            layout=_wide(),
        )
        c["gpu_replicas"] = w.IntSlider(
            value=int(gpu_replicas),
            min=1,
            max=32,
            description="GPU replicas",
            style=style,
            layout=_wide(),
            continuous_update=False,
        )
        c["slo_ttft_s"] = w.FloatLogSlider(
            value=float(slo_ttft_s),
            base=10,
            min=-2,
            max=1.5,
            step=0.05,
            readout_format=".3g",
            description="TTFT SLO (s)",
            style=style,
            layout=_wide(),
            continuous_update=False,
        )
        self.controls = c
        self.status = w.HTML()
        self.point_info = w.HTML()
        self.progress = w.IntProgress(
            value=0, min=0, max=1, layout=w.Layout(width="auto", flex="1 1 auto")
        )
        self.button = w.Button(
            description="Simulate this point",
            button_style="primary",
            icon="play",
            disabled=simulate is None,
            layout=w.Layout(width="190px", min_width="190px", flex="0 0 auto"),
        )
        self.button.on_click(lambda _: self.run_simulation())
        self.sim_info = w.HTML()
        self.charts: dict[str, alt.JupyterChart] = {}
        self._latency_box = w.VBox([])
        for widget in c.values():
            widget.observe(self._on_change, names="value")
        self._sync_mode()
        self.refresh()

    # -- settings ----------------------------------------------------------------------------
    def settings(self) -> ExplorerSettings:
        """The current control values."""
        c = self.controls
        upper = self.tiers[:0:-1]
        prices = {
            k.removeprefix("price_in_"): (
                c[k].value,
                c[f"price_out_{k.removeprefix('price_in_')}"].value,
            )
            for k in c
            if k.startswith("price_in_")
        }
        return ExplorerSettings(
            mode=c["mode"].value,
            cutoffs={t: float(c[f"cutoff_{t}"].value) for t in upper},
            shares={t: float(c[f"share_{t}"].value) for t in upper},
            prices=prices,
            requests_per_month=float(c["requests_per_month"].value),
            gpu_usd_per_hour=float(c["gpu_usd_per_hour"].value),
            gpu_replicas=int(c["gpu_replicas"].value),
            slo_ttft_s=float(c["slo_ttft_s"].value),
        )

    def _sync_mode(self) -> None:
        shares = self.controls["mode"].value == "shares"
        for name, widget in self.controls.items():
            if name.startswith("cutoff_"):
                widget.layout.display = "none" if shares else None
            elif name.startswith("share_"):
                widget.layout.display = None if shares else "none"

    def _on_change(self, change: dict) -> None:
        if change.get("owner") is self.controls["mode"]:
            self._sync_mode()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------
    def _show(self, name: str, chart: alt.TopLevelMixin) -> None:
        if name in self.charts:
            self.charts[name].chart = chart
        else:
            self.charts[name] = alt.JupyterChart(chart)

    def refresh(self) -> None:
        """Recompute the vectorised frames for the current settings and redraw the charts."""
        settings = self.settings()
        try:
            frames = dict(self._update_fn(settings))
        except SimkitError as exc:
            self.status.value = _error_html(exc)
            return
        self.status.value = ""
        self.frames = frames
        tradeoff = frames["tradeoff"]
        if self.simulated and self._simulated_for == settings:
            summary = self.simulated["summary"]
            simulated = summary_points(
                # per 1k requests as the vectorised point counts it: the month over its volume
                summary.assign(
                    policy="simulated",
                    cost_per_1k_usd=per_1k_requests_usd(
                        summary["monthly_cost_usd"], settings.requests_per_month
                    ),
                ),
                frontier_tier=self.tiers[-1],
                operating=["simulated"],
            )
            simulated["threshold"] = float(frames["point"]["threshold"].iloc[0])
            tradeoff = pd.concat([tradeoff, simulated], ignore_index=True)
        self._show(
            "tradeoff",
            tradeoff_chart(
                tradeoff_points(tradeoff),
                subtitle=f"at {settings.requests_per_month:,.0f} requests/month; "
                "diamonds: your point (and its simulation)",
            )
            # beside the 440 px controls in a notebook with the file browser open
            .properties(width=380)
            .configure_legend(orient="bottom", columns=3, symbolLimit=0),
        )
        self._show("shares", tier_share_chart(frames["shares"], tiers=self.tiers))
        self._show(
            "monthly_costs",
            monthly_cost_chart(
                frames["monthly_costs"],
                first_crossings(frames["crossovers"]) if len(frames["crossovers"]) else None,
                volume=settings.requests_per_month,
            ),
        )
        self.point_info.value = _point_html(frames["point"].iloc[0], self.tiers)
        if self.simulated and self._simulated_for != settings:
            self.sim_info.value = (
                "<i>The simulation below is for earlier settings; press the button to "
                "simulate these.</i>"
            )

    def run_simulation(self) -> dict[str, pd.DataFrame]:
        """Simulate the current point (what the button does); returns the simulated frames."""
        if self._simulate_fn is None:
            raise SpecError("Explorer", key="simulate", problem="no simulate function given")
        settings = self.settings()
        self.button.disabled = True
        self.progress.value = 0
        self.sim_info.value = "<i>simulating…</i>"

        def progress(done: int, total: int) -> None:
            self.progress.max = max(int(total), 1)
            self.progress.value = int(done)

        try:
            result = dict(self._simulate_fn(settings, progress))
        except SimkitError as exc:
            self.sim_info.value = _error_html(exc)
            return {}
        finally:
            self.button.disabled = False
        self.simulated = result
        self._simulated_for = settings
        self._show(
            "latency",
            latency_cdf_chart(
                latency_cdf_points(result["records"]),
                slo_ttft_s=settings.slo_ttft_s,
                subtitle=f"simulated at {settings.requests_per_month:,.0f} requests/month, "
                f"{result['summary'].shape[0]} seed(s) pooled",
            ),
        )
        self._latency_box.children = [self.charts["latency"]]
        self.sim_info.value = _summary_html(result["summary"], self.tiers, settings)
        self.refresh()
        return result

    # -- layout ------------------------------------------------------------------------------
    def widget(self) -> w.Widget:
        """The whole explorer as one widget (display it in a notebook)."""
        c = self.controls
        routing = [c["mode"]] + [v for k, v in c.items() if k.startswith(("cutoff_", "share_"))]
        prices = [v for k, v in c.items() if k.startswith("price_")]
        fleet = [c["requests_per_month"], c["gpu_usd_per_hour"], c["gpu_replicas"], c["slo_ttft_s"]]
        tabs = w.Tab(
            children=[w.VBox(routing), w.VBox(prices), w.VBox(fleet)],
            titles=("routing", "prices", "volume & SLO"),
            layout=w.Layout(width="100%"),
        )
        run = w.HBox([self.button, self.progress], layout=w.Layout(width="100%"))
        # the controls keep their width; the charts beside them wrap below when the notebook
        # is narrow (JupyterLab with its file browser open), instead of squeezing the controls
        left = w.VBox(
            [tabs, self.status, self.point_info, run, self.sim_info],
            layout=w.Layout(width="440px", min_width="440px", flex="0 0 440px"),
        )
        top = w.HBox(
            [left, self.charts["tradeoff"]],
            layout=w.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"),
        )
        box = w.VBox(
            [top, self.charts["monthly_costs"], self.charts["shares"], self._latency_box],
            layout=w.Layout(width="100%"),
        )
        box.add_class("simkit-explorer")
        return box

    def _ipython_display_(self) -> None:  # pragma: no cover - notebook display
        from IPython.display import display

        display(self.widget())


def _wide() -> w.Layout:
    """A control as wide as the controls column (one Layout each: hiding one hides only it)."""
    return w.Layout(width="98%")


def _default_cutoffs(
    upper: Sequence[str], scores: Sequence[float] | None, lo: float, hi: float
) -> dict[str, float]:
    """Starting cut-offs that give every tier traffic (strongest first): 20 % of the scores
    each while that fits, else an equal part of 80 %; without scores, evenly spaced."""
    if scores is None:  # evenly down the range, strongest tier highest
        return {t: hi - (hi - lo) * (i + 1) / (len(upper) + 1) for i, t in enumerate(upper)}
    values = pd.Series(scores, dtype="float64").dropna().to_numpy()
    share = min(0.2, 0.8 / max(len(upper), 1))
    return {
        t: float(np.quantile(values, 1.0 - share * (i + 1), method="higher"))
        for i, t in enumerate(upper)
    }


def _score_range(
    scores: Sequence[float] | None, score_range: tuple[float, float] | None
) -> tuple[float, float]:
    if scores is not None:
        values = pd.Series(scores, dtype="float64").dropna()
        if values.empty:
            raise SpecError("Explorer", key="scores", problem="no scores; nothing to cut")
        lo, hi = float(values.min()), float(values.max())
    else:
        lo, hi = score_range if score_range is not None else (0.0, 1.0)
        lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise SpecError(
            "Explorer", key="score_range", problem=f"got ({lo!r}, {hi!r}); expected lo <= hi"
        )
    if hi == lo:  # one distinct score: a slider still needs some travel
        hi = lo + 1e-9
    return lo, hi


def _error_html(exc: Exception) -> str:
    return f'<span style="color:#c0392b">{html.escape(str(exc))}</span>'


def _point_html(row: pd.Series, tiers: Sequence[str]) -> str:
    shares = ", ".join(f"{t} {row[f'share_{t}']:.1%}" for t in tiers)
    load = row.get("gpu_load", math.nan)
    load_text = (
        ""
        if load != load
        else f"<br>GPU load: {load:.0%} of the replicas' capacity at the SLO"
        + (" — <b>over capacity</b>" if load > 1 else "")
    )
    return (
        f"<b>Your point</b> (vectorised): quality {row['mean_quality']:.4f}, "
        f"${row['cost_per_1k_usd']:.3f} per 1k requests, "
        f"${row['monthly_cost_usd']:,.0f} per month<br>shares: {shares}{load_text}"
    )


def _summary_html(summary: pd.DataFrame, tiers: Sequence[str], settings: ExplorerSettings) -> str:
    """The simulated point in the units of the vectorised one above it.

    Per 1k requests is the monthly cost over the monthly volume, as for the vectorised point
    (the run's own cost per request also pays the GPUs while a backlog drains, which a month
    at this volume does not repeat). The p95 TTFT range is over the runs, one per seed.
    """
    mean = summary.mean(numeric_only=True)
    volume = float(settings.requests_per_month)
    per_1k = per_1k_requests_usd(mean["monthly_cost_usd"], volume)
    p95 = summary["p95_ttft_s"].to_numpy(dtype="float64")
    n = len(summary)
    if n == 1:
        spread = "one seed"
    elif float(p95.max() - p95.min()) < 5e-4:
        spread = f"the same in all {n} seeds"
    else:
        spread = f"{n} seeds: {p95.min():.3f}–{p95.max():.3f} s"
    shares = ", ".join(f"{t} {mean.get(f'share_{t}', 0.0):.1%}" for t in tiers)
    return (
        f"<b>Simulated</b> ({n} seed(s)): quality {mean['mean_quality']:.4f}, "
        f"${per_1k:.3f} per 1k requests, ${mean['monthly_cost_usd']:,.0f} per month, "
        f"p95 TTFT {mean['p95_ttft_s']:.3f} s ({spread}), "
        f"TTFT ≤ {settings.slo_ttft_s:g} s for {mean['slo_attainment']:.1%} of requests, "
        f"failed {mean['failure_rate']:.1%}<br>shares: {shares}"
    )
