"""Live recording against the loopback stub: throughput, client-side TTFT overhead, calibration.

The stub runs in its own process (``start_stub_process``: uvicorn + uvloop + httptools on
127.0.0.1, zero artificial latency unless stated), so client and server share this machine's
cores but not a GIL. Three parts, printed as tables and then one JSON document:

1. **Throughput** at concurrency 256, streaming 16-token answers (one token per chunk, then the
   usage chunk, then ``[DONE]``), every record appended and fsync'd: ``simkit.live.record``
   with the openai client's aiohttp transport (``DefaultAioHttpClient``) and with its default
   httpx transport, next to a bare loop (the openai client, the same stream, one JSON line per
   answer to a file, no fsync, no grading) with each transport. Requests/s is the number of
   records over the time from the first request sent to the last record written; the median
   over ``--repeats`` runs of ``--n`` requests each is reported.
2. **TTFT overhead** open loop: requests sent at a fixed rate through the recorder's own attempt
   code (``_Caller.attempt``); overhead = recorded TTFT minus the stub's own time from receipt to
   sending the first content chunk (the stub's ``/stub/log`` timestamps, joined by request id).
   p50/p95 per offered rate, up to saturation (achieved rate below the offered one).
3. **Calibration**: a recording of ``--cal-n`` requests per model against a stub with lognormal
   TTFT and output speed, then ``simkit fleet calibrate``'s fit and replay: simulated vs
   observed p50/p95 TTFT and end-to-end time.

Usage::

    python benchmarks/bench_live.py [--n 3000] [--repeats 3] [--rates 50,100,200,400,800]
        [--cal-n 400] [--json bench_live.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from simkit.fleet.spec import Jitter
from simkit.live.endpoints import endpoints_from_dict
from simkit.live.record import _Caller, _make_client, read_records, record
from simkit.live.stub import StubConfig, StubModel, start_stub_process
from simkit.live.text import prompt_messages
from simkit.trace import load_trace

REPO = Path(__file__).resolve().parent.parent


def endpoint(base_url: str, model: str, concurrency: int, retries: int = 0):
    body = {
        model: {
            "base_url": base_url,
            "model": model,
            "max_concurrency": concurrency,
            "max_output_tokens": 64,
            "max_retries": retries,
            "price": {"input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.1},
        }
    }
    return endpoints_from_dict({"endpoints": body})[model]


async def bare_loop(
    base_url: str, prompts: list[str], concurrency: int, transport: str, path: Path
) -> float:
    """The openai client and a JSONL file, nothing else: requests/s."""
    import openai

    http = (
        openai.DefaultAioHttpClient(timeout=60)
        if transport == "aiohttp"
        else openai.DefaultAsyncHttpxClient(timeout=60)
    )  # the recorder's timeout; the client's own 2 retries, as a bare user would have them
    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=2, http_client=http)
    queue = list(reversed(prompts))
    failures: list[str] = []
    with open(path, "w") as f:

        async def worker():
            while queue:
                p = queue.pop()
                t0 = time.perf_counter()
                parts, ttft, usage = [], None, None
                try:
                    stream = await client.chat.completions.create(
                        model="m",
                        messages=prompt_messages(p),
                        max_tokens=64,
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                    async for chunk in stream:
                        if chunk.usage is not None:
                            usage = chunk.usage.completion_tokens
                        for c in chunk.choices:
                            if c.delta.content:
                                ttft = ttft or time.perf_counter() - t0
                                parts.append(c.delta.content)
                except openai.APIError as exc:
                    failures.append(type(exc).__name__)
                    continue
                f.write(json.dumps({"answer": "".join(parts), "ttft": ttft, "usage": usage}) + "\n")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    await client.close()
    if failures:
        print(f"  (bare {transport}: {len(failures)} failed requests: {sorted(set(failures))})")
    return (len(prompts) - len(failures)) / elapsed


def recorder_rate(
    trace, base_url: str, n: int, concurrency: int, transport: str, seed: int
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = record(
            trace,
            [endpoint(base_url, "m", concurrency, retries=2)],
            out=Path(tmp) / "o",
            budget_usd=100,
            sample=n,
            seed=seed,
            transport=transport,
            progress=False,
        )
        call_s = time.perf_counter() - t0
        recs = read_records(Path(tmp) / "o")
        failed = [r for r in recs if r["status"] != "ok"]
        if failed:  # reported, not hidden: the rate below counts answered requests only
            reasons = sorted({r["reason"][:200] for r in failed})
            print(
                f"  (recorder {transport}: {len(failed)} of {n} failed after retries: {reasons[:3]})"
            )
        retries = sum(r["retries"] for r in recs)
        mtime = (Path(tmp) / "o" / "records.jsonl").stat().st_mtime
        first = min(r["started_unix_s"] for r in recs)
    ok = n - len(failed)
    return {
        "rps": ok / (mtime - first),
        "rps_whole_call": ok / call_s,
        "retries": retries,
        "failed": len(failed),
        "by_status": dict(result.by_status),
    }


async def open_loop(base_url: str, prompts: list[str], rate: float, duration_s: float) -> dict:
    ep = endpoint(base_url, "m", 10_000)
    client = _make_client(ep, "x", "aiohttp")
    caller = _Caller(ep, client)
    n = int(rate * duration_s)
    # warm the connection pool outside the measurement
    await asyncio.gather(*(caller.attempt(prompt_messages(p), 64, 0) for p in prompts[:20]))
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(
            asyncio.ensure_future(caller.attempt(prompt_messages(prompts[i % len(prompts)]), 64, 0))
        )
    sent_s = time.perf_counter() - t0
    results = await asyncio.gather(*tasks)
    done_s = time.perf_counter() - t0
    await client.close()
    log = {
        e["id"]: e
        for e in httpx.get(base_url.removesuffix("/v1") + "/stub/log", timeout=60).json()[
            "requests"
        ]
    }
    over = []
    for a in results:
        e = log.get(a.server_id)
        if a.status == "ok" and e and e["first_token_ns"]:
            over.append(a.ttft_s - (e["first_token_ns"] - e["received_ns"]) / 1e9)
    ms = np.array(over) * 1e3
    return {
        "offered_rps": rate,
        "achieved_send_rps": n / sent_s,
        "completed_rps": n / done_s,
        "n": n,
        "n_joined": len(over),
        "overhead_p50_ms": float(np.percentile(ms, 50)),
        "overhead_p95_ms": float(np.percentile(ms, 95)),
    }


def calibration(trace, n: int) -> list[dict]:
    from simkit.cli.fleet import compare
    from simkit.fleet import load_fleet
    from simkit.live.calibrate import calibrate

    cfg = StubConfig(
        models=(
            StubModel(
                "weak",
                ttft_s=Jitter(0.15, 0.3),
                output_tokens_per_s=Jitter(150, 0.2),
                output_tokens=24,
            ),
            StubModel(
                "strong",
                ttft_s=Jitter(0.3, 0.4),
                output_tokens_per_s=Jitter(80, 0.25),
                output_tokens=24,
            ),
        )
    )
    with start_stub_process(cfg) as stub, tempfile.TemporaryDirectory() as tmp:
        eps = [endpoint(stub.base_url, m, 8) for m in ("weak", "strong")]
        out = Path(tmp) / "rec"
        record(trace, eps, out=out, budget_usd=10, sample=n, seed=1, progress=False)
        cal = calibrate(out)
        (Path(tmp) / "f.yaml").write_text(cal.to_yaml())
        table = compare(out, cal, load_fleet(Path(tmp) / "f.yaml"), seed=0)
    return table.to_dict("records")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="requests per throughput run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--rates", default="50,100,200,400,800")
    ap.add_argument("--duration-s", type=float, default=4.0, help="seconds per open-loop rate")
    ap.add_argument("--cal-n", type=int, default=400, help="requests per model for calibration")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()

    trace = load_trace(REPO / "traces" / "routellm_azure")
    prompts = trace.requests["prompt"].dropna().astype(str).tolist()
    cfg = StubConfig(models=(StubModel("m", output_tokens=16),))
    thr: dict[str, list[float]] = {
        k: [] for k in ("recorder_aiohttp", "recorder_httpx", "bare_aiohttp", "bare_httpx")
    }
    whole: dict[str, list[float]] = {"recorder_aiohttp": [], "recorder_httpx": []}
    retried: dict[str, list[int]] = {"recorder_aiohttp": [], "recorder_httpx": []}
    failed: dict[str, list[int]] = {"recorder_aiohttp": [], "recorder_httpx": []}
    with start_stub_process(cfg) as stub:
        for rep in range(args.repeats):
            for transport in ("aiohttp", "httpx"):
                r = recorder_rate(
                    trace, stub.base_url, args.n, args.concurrency, transport, seed=rep
                )
                thr[f"recorder_{transport}"].append(r["rps"])
                whole[f"recorder_{transport}"].append(r["rps_whole_call"])
                retried[f"recorder_{transport}"].append(r["retries"])
                failed[f"recorder_{transport}"].append(r["failed"])
                with tempfile.TemporaryDirectory() as tmp:
                    rps = asyncio.run(
                        bare_loop(
                            stub.base_url,
                            prompts[: args.n],
                            args.concurrency,
                            transport,
                            Path(tmp) / "b.jsonl",
                        )
                    )
                thr[f"bare_{transport}"].append(rps)
    print(
        f"1. throughput, concurrency {args.concurrency}, 16-token streams, {args.n} requests x {args.repeats} runs (median; runs)"
    )
    print(f"{'path':<20}{'req/s':>10}   runs")
    for k, v in thr.items():
        print(f"{k:<20}{np.median(v):>10.0f}   {', '.join(f'{x:.0f}' for x in v)}")
    for k, v in whole.items():
        print(
            f"{k + ' (whole call)':<32}{np.median(v):>8.0f}   (preflight, sampling, final trace write included)"
        )

    rates = [float(r) for r in args.rates.split(",")]
    loads = []
    with start_stub_process(cfg) as stub:
        for rate in rates:
            loads.append(asyncio.run(open_loop(stub.base_url, prompts, rate, args.duration_s)))
    print("\n2. client-side TTFT overhead, open loop (recorded TTFT - stub receipt->first chunk)")
    print(f"{'offered/s':>10}{'sent/s':>10}{'done/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'n':>7}")
    for r in loads:
        print(
            f"{r['offered_rps']:>10.0f}{r['achieved_send_rps']:>10.0f}{r['completed_rps']:>10.0f}"
            f"{r['overhead_p50_ms']:>10.2f}{r['overhead_p95_ms']:>10.2f}{r['n_joined']:>7}"
        )

    cal = calibration(trace, args.cal_n)
    print(
        f"\n3. calibration: {args.cal_n} requests per model, fit + replay at the recorded send times"
    )
    print(
        f"{'model':<8}{'metric':<8}{'obs p50':>9}{'sim p50':>9}{'diff':>8}{'obs p95':>9}{'sim p95':>9}{'diff':>8}"
    )
    for r in cal:
        print(
            f"{r['model']:<8}{r['metric']:<8}{r['observed_p50']:>9.4f}{r['simulated_p50']:>9.4f}{r['diff_p50']:>+8.1%}"
            f"{r['observed_p95']:>9.4f}{r['simulated_p95']:>9.4f}{r['diff_p95']:>+8.1%}"
        )

    payload = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
        },
        "throughput": {k: {"median_rps": float(np.median(v)), "runs": v} for k, v in thr.items()},
        "throughput_whole_call": {
            k: {"median_rps": float(np.median(v)), "runs": v} for k, v in whole.items()
        },
        "retries_per_run": retried,
        "failed_per_run": failed,
        "ttft_overhead": loads,
        "calibration": cal,
        "settings": vars(args),
    }
    print(json.dumps(payload, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
