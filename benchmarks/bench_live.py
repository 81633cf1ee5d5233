"""Live recording against the loopback stub: throughput, client-side TTFT overhead, calibration.

The stub runs in its own process (``start_stub_process``: uvicorn + uvloop + httptools on
127.0.0.1, zero artificial latency unless stated), so client and server share this machine's
cores but not a GIL. Three parts, printed as tables and then one JSON document:

1. **Throughput** at concurrency 256, streaming 16-token answers (one token per chunk, then the
   usage chunk, then ``[DONE]``), every record appended and fsync'd: ``simkit.live.record``
   with the openai client's aiohttp transport (``DefaultAioHttpClient``) and with its default
   httpx transport, next to a bare loop (the openai client, the same stream, one JSON line per
   answer to a file, no fsync, no grading) with each transport, against our stub and against
   the calibration's minimal Starlette SSE stub (``benchmarks/minimal_sse_stub.py``: parse the
   body, stream the chunks, nothing else). So one run prints bare loop vs minimal stub (the
   issue's calibration), bare loop vs our stub (what our stub costs) and recorder vs our stub
   (what the recorder costs) side by side. Requests/s is the number of records over the time
   from the first request sent to the last record written; the median over ``--repeats`` runs
   of ``--n`` requests each is reported, with the CPU each side spent per request (process
   CPU time / requests: much less sensitive to other load on the machine than the rates).
2. **TTFT overhead** open loop: requests sent at a fixed rate through the recorder's own attempt
   code (``_Caller.attempt``); overhead = recorded TTFT minus the stub's own time from receipt to
   sending the first content chunk (the stub's ``/stub/log`` timestamps, joined by request id).
   p50/p95 per offered rate, up to saturation (achieved rate below the offered one).
3. **Calibration**: a recording of ``--cal-n`` requests per model against a stub with lognormal
   TTFT and output speed, then ``simkit fleet calibrate``'s fit and replay: simulated vs
   observed p50/p95 TTFT and end-to-end time.

Usage::

    python benchmarks/bench_live.py [--n 3000] [--repeats 3] [--rates 50,100,200,400,800]
        [--cal-n 400] [--json bench_live.json] [--quick] [--only throughput]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MinimalStub:
    """``benchmarks/minimal_sse_stub.py`` in a child process (16-token streams)."""

    def __init__(self, tokens: int = 16) -> None:
        script = REPO / "benchmarks" / "minimal_sse_stub.py"
        cmd = [sys.executable, str(script), "--port", "0", "--tokens", str(tokens)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"the minimal stub did not start ({line!r})")
        self.base_url = line.split()[-1]

    def __enter__(self) -> MinimalStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


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


PATHS = (
    ("recorder_aiohttp", "ours"),
    ("recorder_httpx", "ours"),
    ("bare_aiohttp", "ours"),
    ("bare_httpx", "ours"),
    ("bare_aiohttp", "minimal"),
    ("bare_httpx", "minimal"),
)


def throughput(trace, prompts: list[str], args) -> dict:
    """Every (client path, stub) pair of PATHS, ``--repeats`` times, interleaved."""
    cfg = StubConfig(models=(StubModel("m", output_tokens=16),))
    runs: dict[str, dict[str, list]] = {
        f"{c} / {s} stub": {"rps": [], "server_cpu_ms": [], "client_cpu_ms": [], "failed": [],
                           "retries": [], "rps_whole_call": []}
        for c, s in PATHS
    }  # fmt: skip
    with start_stub_process(cfg) as ours, MinimalStub(16) as minimal:
        stubs = {"ours": (ours.base_url, ours.process.pid),
                 "minimal": (minimal.base_url, minimal.process.pid)}  # fmt: skip
        for rep in range(args.repeats):
            for client, stub in PATHS:
                url, pid = stubs[stub]
                row = runs[f"{client} / {stub} stub"]
                kind, transport = client.split("_")
                s0, c0 = cpu_s(pid), time.process_time()
                if kind == "recorder":
                    r = recorder_rate(trace, url, args.n, args.concurrency, transport, seed=rep)
                    rps = r["rps"]
                    row["rps_whole_call"].append(r["rps_whole_call"])
                    row["retries"].append(r["retries"])
                    row["failed"].append(r["failed"])
                else:
                    with tempfile.TemporaryDirectory() as tmp:
                        rps = asyncio.run(
                            bare_loop(url, prompts[: args.n], args.concurrency, transport,
                                      Path(tmp) / "b.jsonl")
                        )  # fmt: skip
                s1, c1 = cpu_s(pid), time.process_time()
                row["rps"].append(rps)
                row["server_cpu_ms"].append(1000 * (s1 - s0) / args.n)
                row["client_cpu_ms"].append(1000 * (c1 - c0) / args.n)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="requests per throughput run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--rates", default="50,100,200,400,800")
    ap.add_argument("--duration-s", type=float, default=4.0, help="seconds per open-loop rate")
    ap.add_argument("--cal-n", type=int, default=400, help="requests per model for calibration")
    ap.add_argument("--only", choices=["throughput", "overhead", "calibration"], default=None,
                    help="run one part only")  # fmt: skip
    ap.add_argument("--quick", action="store_true",
                    help="1,000 requests x 2 runs, 3 rates of 2 s, 150 calibration requests")  # fmt: skip
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()
    if args.quick:
        args.n, args.repeats, args.rates, args.duration_s, args.cal_n = (
            1000,
            2,
            "50,100,400",
            2,
            150,
        )
    parts = {args.only} if args.only else {"throughput", "overhead", "calibration"}
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} (1 min), {os.cpu_count()} CPUs")

    trace = load_trace(REPO / "traces" / "routellm_azure")
    prompts = trace.requests["prompt"].dropna().astype(str).tolist()
    cfg = StubConfig(models=(StubModel("m", output_tokens=16),))
    runs = throughput(trace, prompts, args) if "throughput" in parts else {}
    if runs:
        print(
            f"1. throughput, concurrency {args.concurrency}, 16-token streams, {args.n} requests "
            f"x {args.repeats} runs (medians; CPU ms per request: stub process, client process)"
        )
        print(f"{'path':<34}{'req/s':>8}{'stub cpu':>10}{'client cpu':>12}   runs (req/s)")
        for k, v in runs.items():
            print(
                f"{k:<34}{np.median(v['rps']):>8.0f}{np.median(v['server_cpu_ms']):>10.3f}"
                f"{np.median(v['client_cpu_ms']):>12.3f}   {', '.join(f'{x:.0f}' for x in v['rps'])}"
            )
        for k, v in runs.items():
            if v["rps_whole_call"]:
                print(f"{k + ' (whole call)':<34}{np.median(v['rps_whole_call']):>8.0f}   "
                      "(preflight, sampling, final trace write included)")  # fmt: skip
        med = {k: float(np.median(v["rps"])) for k, v in runs.items()}
        print("ratios (same run, medians of req/s):")
        for a, b in (("bare_aiohttp / ours stub", "bare_aiohttp / minimal stub"),
                     ("recorder_aiohttp / ours stub", "bare_aiohttp / ours stub"),
                     ("recorder_aiohttp / ours stub", "bare_aiohttp / minimal stub"),
                     ("bare_httpx / ours stub", "bare_httpx / minimal stub")):  # fmt: skip
            print(f"  {a:<30} / {b:<30} = {med[a] / med[b]:.2f}")

    loads = []
    if "overhead" in parts:
        with start_stub_process(cfg) as stub:
            for rate in (float(r) for r in args.rates.split(",")):
                loads.append(asyncio.run(open_loop(stub.base_url, prompts, rate, args.duration_s)))
        print(
            "\n2. client-side TTFT overhead, open loop (recorded TTFT - stub receipt->first chunk)"
        )
        print(f"{'offered/s':>10}{'sent/s':>10}{'done/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'n':>7}")
        for r in loads:
            print(
                f"{r['offered_rps']:>10.0f}{r['achieved_send_rps']:>10.0f}"
                f"{r['completed_rps']:>10.0f}{r['overhead_p50_ms']:>10.2f}"
                f"{r['overhead_p95_ms']:>10.2f}{r['n_joined']:>7}"
            )

    cal = calibration(trace, args.cal_n) if "calibration" in parts else []
    if cal:
        print(f"\n3. calibration: {args.cal_n} requests per model, fit + replay at the recorded "
              "send times")  # fmt: skip
        print(f"{'model':<8}{'metric':<8}{'obs p50':>9}{'sim p50':>9}{'diff':>8}{'obs p95':>9}"
              f"{'sim p95':>9}{'diff':>8}")  # fmt: skip
        for r in cal:
            print(
                f"{r['model']:<8}{r['metric']:<8}{r['observed_p50']:>9.4f}"
                f"{r['simulated_p50']:>9.4f}{r['diff_p50']:>+8.1%}{r['observed_p95']:>9.4f}"
                f"{r['simulated_p95']:>9.4f}{r['diff_p95']:>+8.1%}"
            )

    payload = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "throughput": {
            k: {
                "median_rps": float(np.median(v["rps"])),
                "median_server_cpu_ms_per_request": float(np.median(v["server_cpu_ms"])),
                "median_client_cpu_ms_per_request": float(np.median(v["client_cpu_ms"])),
                **v,
            }
            for k, v in runs.items()
        },  # fmt: skip
        "ttft_overhead": loads,
        "calibration": cal,
        "settings": vars(args),
    }
    print(json.dumps(payload, indent=1, allow_nan=False))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
