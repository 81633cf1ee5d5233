"""Where a sweep's runs execute: joblib's ``loky`` processes on this host, or an existing
Dask ``distributed`` or Ray cluster.

Every backend gets the same thing: a function ``fn(shared_0, ..., shared_k, *task)``, the large
objects every task needs (the traces and the fleet) and a list of small task tuples. The large
objects travel once per worker, not once per task: Dask scatters them to every worker
(``client.scatter(..., broadcast=True)``) and Ray puts them in its object store
(``ray.put``); joblib's loky backend memory-maps large arrays and reuses its workers. Results
come back as ``(task index, result)`` in the order the runs finish; the caller orders them.
On Dask and Ray the tasks travel in :data:`BATCHES_PER_WORKER` batches per worker (one
scheduler round trip per batch, not per run; a batch's results arrive together); joblib
batches its own.

Dask and Ray are optional (``pip install 'simkit[distributed]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from simkit.errors import SpecError

__all__ = ["BACKENDS", "CONNECT_TIMEOUT_S", "BackendError", "run_tasks"]

#: The backends :func:`run_tasks` knows.
BACKENDS = ("loky", "dask", "ray")

#: Seconds to wait for a cluster at ``address`` before giving up.
CONNECT_TIMEOUT_S = 10.0


class BackendError(SpecError):
    """An unknown backend, a backend whose package is missing, or a cluster that cannot be
    reached."""


def check_backend(backend: str, address: str | None) -> None:
    """Raise :class:`BackendError` for an unknown backend, an address given to ``loky`` or a
    backend whose package is not installed; before any run."""
    if backend not in BACKENDS:
        raise BackendError(
            "sweep",
            key="backend",
            problem=f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}",
        )
    if backend == "loky":
        if address is not None:
            raise BackendError(
                "sweep",
                key="address",
                problem="the loky backend runs on this host and takes no address; "
                "use backend='dask' or 'ray' for a cluster",
            )
        return
    module = "distributed" if backend == "dask" else "ray"
    try:
        __import__(module)
    except ImportError as err:
        raise BackendError(
            "sweep",
            key="backend",
            problem=f"backend {backend!r} needs the {module!r} package, which is not "
            f"installed ({err})",
            hint="install it with: pip install 'simkit[distributed]'",
        ) from None


def run_tasks(
    fn: Callable[..., Any],
    shared: Sequence[Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    backend: str = "loky",
    n_jobs: int = 1,
    address: str | None = None,
) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*shared, *task)`` for every task; yield ``(index, result)`` as each finishes.

    Parameters
    ----------
    fn : callable
        A module-level function (workers import it by name).
    shared : sequence
        Objects every task needs, sent to each worker once.
    tasks : sequence of tuple
        Each task's own (small) arguments.
    backend : {"loky", "dask", "ray"}
    n_jobs : int
        loky: workers (``-1``: all cores). Dask and Ray without ``address``: the size of the
        local cluster started for this call (``-1``: all cores); with ``address`` the cluster's
        own workers run the tasks.
    address : str, optional
        Dask: the scheduler (``tcp://host:8786``); Ray: ``ray://host:10001`` or ``auto``.
        Without it Dask and Ray start a local cluster for the call and stop it after. A Ray
        instance already initialised in this process is used as it is.

    Raises
    ------
    BackendError
        Unknown backend, missing package, or nothing answers at ``address`` within
        :data:`CONNECT_TIMEOUT_S` seconds.
    """
    check_backend(backend, address)
    if not tasks:
        return iter(())
    if backend == "loky":
        return _loky(fn, shared, tasks, n_jobs)
    if backend == "dask":
        return _dask(fn, shared, tasks, n_jobs, address)
    return _ray(fn, shared, tasks, n_jobs, address)


def _unreachable(backend: str, address: str, err: BaseException) -> BackendError:
    return BackendError(
        "sweep",
        key="address",
        problem=f"no {backend} cluster answered at {address} within {CONNECT_TIMEOUT_S:g} s "
        f"({type(err).__name__}: {err})",
        hint="check the address and that the scheduler is running and reachable",
    )


def _probe(backend: str, address: str) -> None:
    """Open (and close) a TCP connection to ``address`` within the timeout: Ray's own client
    retries for much longer before it gives up."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise BackendError(
            "sweep",
            key="address",
            problem=f"{address!r}: expected host:port, e.g. ray://10.0.0.5:10001",
        )
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise _unreachable(backend, address, err) from None


def _workers(n_jobs: int) -> int:
    import os

    return max(1, os.cpu_count() or 1) if n_jobs < 0 else max(1, n_jobs)


def _loky(fn, shared, tasks, n_jobs) -> Iterator[tuple[int, Any]]:
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_call_indexed)(fn, i, *shared, *task) for i, task in enumerate(tasks)
    )


def _call_indexed(fn: Callable[..., Any], index: int, *args: Any) -> tuple[int, Any]:
    return index, fn(*args)


#: Batches per worker a cluster backend cuts the tasks into: few enough that the per-task
#: cost of the scheduler (a few milliseconds for Dask and Ray) is spread over many runs,
#: enough that a worker finishing early finds more work.
BATCHES_PER_WORKER = 8


def _batches(
    tasks: Sequence[tuple[Any, ...]], workers: int
) -> list[list[tuple[int, tuple[Any, ...]]]]:
    """The tasks, indexed, in consecutive batches of equal size (the last may be shorter)."""
    size = max(1, -(-len(tasks) // (workers * BATCHES_PER_WORKER)))
    indexed = list(enumerate(tasks))
    return [indexed[k : k + size] for k in range(0, len(indexed), size)]


def _call_batch(
    fn: Callable[..., Any], batch: list[tuple[int, tuple[Any, ...]]], *shared: Any
) -> list[tuple[int, Any]]:
    """Run one batch on a worker: ``(index, fn(*shared, *task))`` for each of its tasks."""
    return [(i, fn(*shared, *task)) for i, task in batch]


def _dask(fn, shared, tasks, n_jobs, address) -> Iterator[tuple[int, Any]]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=_workers(n_jobs),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise _unreachable("dask", address, err) from None
    futures: dict[Any, int] = {}
    try:
        remote = client.scatter(list(shared), broadcast=True, hash=False)
        workers = sum(client.nthreads().values()) if cluster is None else _workers(n_jobs)
        futures = {
            client.submit(_call_batch, fn, batch, *remote, pure=False): k
            for k, batch in enumerate(_batches(tasks, workers))
        }
        for future in as_completed(futures):
            yield from future.result()
    finally:
        client.cancel(list(futures))  # stopped early (an error, Ctrl-C): drop the rest
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(fn, shared, tasks, n_jobs, address) -> Iterator[tuple[int, Any]]:
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            kwargs |= {"num_cpus": _workers(n_jobs), "_node_ip_address": "127.0.0.1"}
        if address not in (None, "auto", "local"):
            _probe("ray", address)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, OSError, RuntimeError) as err:
            raise _unreachable("ray", address or "a new local instance", err) from None
        started = True
    pending: list[Any] = []
    try:
        refs = [ray.put(obj) for obj in shared]
        run = ray.remote(_call_batch)
        workers = _workers(n_jobs) if address is None else int(ray.cluster_resources()["CPU"])
        pending = [run.remote(fn, batch, *refs) for batch in _batches(tasks, workers)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done[0])
    finally:
        for ref in pending:  # stopped early (an error, Ctrl-C): the cluster drops the rest
            ray.cancel(ref)
        if started:
            ray.shutdown()
