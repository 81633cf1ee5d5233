"""Fit a fleet spec's latency distributions to a live recording (``simkit fleet calibrate``).

For each recorded endpoint, from its ``ok`` records (``OUT/records.jsonl``) and the round
trips the recorder measured before sending (``OUT/run.json``, ``GET /models``), in the shapes
:class:`~simkit.fleet.spec.ApiEndpoint` uses (SERVING.md §4.4)::

    ttft = rtt + ttft_base            rtt (a constant), ttft_base ~ Jitter(median, sigma)
    end  = ttft + (output_tokens - 1) / speed           speed ~ Jitter(median, sigma)

A :class:`~simkit.fleet.spec.Jitter` is ``median * exp(sigma * Z)``; each is matched to the
sample median and the 95th percentile of the slow tail (:func:`fit_jitter`). The round trip is
the median of the recorder's ``GET /models`` timings, capped at half the smallest observed TTFT,
with no jitter of its own (its spread is inside the TTFT fit); ``ttft_base`` is fitted to
``ttft - rtt``; ``speed`` per request is ``(completion_tokens - 1) / (e2e - ttft)``
(requests with at least two tokens). The error rate
is the share of attempts that failed with a server error or a timeout. Rate limits, timeout,
prices and retries are the endpoint's. Each endpoint becomes an ``api`` tier whose
``quality_model`` is the endpoint's name (the model of its live outcomes); a self-hosted
endpoint's GPU cost per hour is written as a comment, since a black-box recording cannot fit
the GPU model's step times.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import LiveError, TraceError
from simkit.live.record import RECORDS, RUN, read_records

__all__ = ["Calibration", "calibrate", "fit_jitter", "observed_latencies"]


def fit_jitter(
    values: Sequence[float] | np.ndarray, *, what: str, tail: str = "upper"
) -> dict[str, float]:
    """``{median, sigma}`` of a lognormal (a :class:`Jitter`) matched to the median and one tail.

    ``median`` is the sample median; ``sigma = (log q95 - log q50) / 1.645`` for
    ``tail='upper'`` (latencies: the slow tail is what p95 reads), or
    ``(log q50 - log q5) / 1.645`` for ``tail='lower'`` (speeds: the slow tail is the low one).
    For a lognormal both equal its sigma; unlike the maximum-likelihood fit (the standard
    deviation of the logs) they are not pulled by the few extreme values a busy client adds.

    Raises
    ------
    LiveError
        If no value is positive and finite (``what`` names the quantity).
    """
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x) & (x > 0)]
    if x.size == 0:
        raise LiveError(f"no positive {what} to fit")
    q5, q50, q95 = np.percentile(np.log(x), [5, 50, 95])
    spread = (q95 - q50) if tail == "upper" else (q50 - q5)
    return {"median": float(np.exp(q50)), "sigma": float(max(spread, 0.0) / 1.6448536269514722)}


@dataclass(frozen=True)
class Calibration:
    """A fitted fleet spec (the mapping ``load_fleet`` takes) and what it was fitted to.

    Attributes
    ----------
    spec : dict
        ``{"name": ..., "tiers": {endpoint: {...}}}``: YAML-ready.
    fits : DataFrame
        One row per endpoint: samples used and the fitted medians and sigmas.
    observed : DataFrame
        One row per ``ok`` record: ``model``, ``request_id``, ``start_s`` (from the first
        request's start), ``ttft_s``, ``e2e_s``, ``output_tokens``.
    """

    spec: dict[str, Any]
    fits: pd.DataFrame
    observed: pd.DataFrame

    def to_yaml(self) -> str:
        """The spec as YAML with a header saying where it came from."""
        import yaml

        lines = [
            "# Fitted by `simkit fleet calibrate` from a live recording; every number is a fit,",
            "# edit as you like. Quality of each tier: the live outcomes of the endpoint's name.",
        ]
        for row in self.fits.itertuples():
            if row.usd_per_gpu_hour > 0:
                lines.append(
                    f"# {row.model}: self-hosted, {row.gpus} GPU(s) at {row.usd_per_gpu_hour:g} "
                    "USD/GPU-hour (not in the per-token price below)"
                )
        return "\n".join(lines) + "\n" + yaml.safe_dump(self.spec, sort_keys=False)


def observed_latencies(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The ``ok`` records as a frame: model, request_id, start_s, ttft_s, e2e_s, output_tokens."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("ttft_s") is not None]
    frame = pd.DataFrame(
        {
            "model": [r["model"] for r in ok],
            "request_id": [r["request_id"] for r in ok],
            "started_unix_s": [r["started_unix_s"] for r in ok],
            "ttft_s": [r["ttft_s"] for r in ok],
            "e2e_s": [r["e2e_s"] for r in ok],
            "output_tokens": [r["completion_tokens"] for r in ok],
        }
    )
    if len(frame):
        frame["start_s"] = frame["started_unix_s"] - frame["started_unix_s"].min()
    else:
        frame["start_s"] = pd.Series(dtype="float64")
    return frame.drop(columns="started_unix_s").sort_values(["model", "start_s"], ignore_index=True)


def calibrate(recorded: str | PathLike[str], *, name: str | None = None) -> Calibration:
    """Fit an API tier per recorded endpoint (see the module docstring).

    Parameters
    ----------
    recorded : path
        The ``--out`` directory of ``simkit live record``.
    name : str, optional
        The fleet's name (default ``calibrated-<directory name>``).

    Raises
    ------
    TraceError
        If the directory holds no recording (``run.json`` and ``records.jsonl``).
    LiveError
        If an endpoint has no successful record to fit.
    """
    src = Path(recorded)
    if not (src / RUN).is_file() or not (src / RECORDS).is_file():
        raise TraceError(
            src,
            problem=f"not a live recording (expected {RUN} and {RECORDS})",
            hint="make one with: simkit live record TRACE --endpoints E.yaml --models A,B --out DIR",
        )
    try:
        run = json.loads((src / RUN).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TraceError(src / RUN, problem=f"not readable JSON ({exc})") from None
    records = read_records(src)
    observed = observed_latencies(records)
    tiers: dict[str, Any] = {}
    rows = []
    for model in run["settings"]["models"]:
        ep = run["endpoints"][model]
        mine = observed[observed["model"] == model]
        if mine.empty:
            raise LiveError(
                f"endpoint {model!r} has no successful record in {src / RECORDS} to fit"
            )
        ttft = mine["ttft_s"].to_numpy(dtype="float64")
        rtt_samples = [v for v in run.get("rtt_s", {}).get(model, []) if v > 0] or [1e-3]
        rtt = {"median": float(min(np.median(rtt_samples), 0.5 * ttft.min())), "sigma": 0.0}
        ttft_base = fit_jitter(ttft - rtt["median"], what=f"TTFT minus round trip of {model!r}")
        n = mine["output_tokens"].to_numpy(dtype="float64")
        decode_s = mine["e2e_s"].to_numpy(dtype="float64") - ttft
        usable = (n >= 2) & (decode_s > 0)
        speed = fit_jitter(
            (n[usable] - 1) / decode_s[usable], what=f"output speed of {model!r}", tail="lower"
        )
        attempts = [r for r in records if r["model"] == model and r["status"] != "cancelled"]
        failed = sum(r["status"] in ("error", "timeout") for r in attempts)
        error_rate = failed / len(attempts) if attempts else 0.0
        price = ep["price"]
        tier: dict[str, Any] = {
            "kind": "api",
            "model": ep["model"],
            "price": {
                "input_usd_per_mtok": price["input_usd_per_mtok"],
                "output_usd_per_mtok": price["output_usd_per_mtok"],
            },
            "ttft_s": _rounded(ttft_base),
            "output_tokens_per_s": _rounded(speed),
            "rtt_s": _rounded(rtt),
            "retry": {"max_retries": ep["max_retries"], "honour_retry_after": True},
            "error_rate": round(min(error_rate, 0.999), 6),
            "timeout_s": ep["timeout_s"],
            "quality_model": model,
        }
        if ep.get("rpm") is not None or ep.get("tpm") is not None:
            tier["rate_limit"] = {
                "style": "openai",
                **({"rpm": ep["rpm"]} if ep.get("rpm") is not None else {}),
                **({"tpm": ep["tpm"]} if ep.get("tpm") is not None else {}),
            }
        tiers[model] = tier
        rows.append(
            {
                "model": model,
                "n_ok": len(mine),
                "n_speed": int(usable.sum()),
                "rtt_median_s": rtt["median"],
                "ttft_base_median_s": ttft_base["median"],
                "ttft_sigma": ttft_base["sigma"],
                "speed_median_tok_s": speed["median"],
                "speed_sigma": speed["sigma"],
                "error_rate": error_rate,
                "usd_per_gpu_hour": float(ep.get("usd_per_gpu_hour", 0.0)),
                "gpus": int(ep.get("gpus", 1)),
            }
        )
    spec = {"name": name or f"calibrated-{src.resolve().name}", "tiers": tiers}
    return Calibration(spec=spec, fits=pd.DataFrame(rows), observed=observed)


def _rounded(j: Mapping[str, float]) -> dict[str, float]:
    return {"median": float(f"{j['median']:.6g}"), "sigma": float(f"{j['sigma']:.6g}")}


def percentiles(values: np.ndarray, qs: Sequence[float] = (50, 95)) -> list[float]:
    """Percentiles of the finite values (NaN when there are none)."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, q)) if v.size else math.nan for q in qs]
