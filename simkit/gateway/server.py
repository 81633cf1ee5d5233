"""Load, check and run the gateway on uvicorn (what ``simkit gateway serve`` calls).

Everything is checked before the server listens: the bundle's checksums and format
(:class:`~simkit.errors.BundleError`), the config against the bundle's tiers and the
environment (:class:`~simkit.errors.SpecError`), the threshold (a
:class:`~simkit.errors.SimkitError` listing the bundle's thresholds). A gateway that cannot
route does not start.
"""

from __future__ import annotations

import os
from os import PathLike
from typing import Any

from simkit.gateway.config import GatewayConfig, load_gateway_config
from simkit.gateway.decisions import DecisionLog
from simkit.live.serving import BackgroundServer, listening_socket

__all__ = ["GatewayServer", "app_from_env", "build", "serve"]

_ENV_BUNDLE = "SIMKIT_GATEWAY_BUNDLE"
_ENV_CONFIG = "SIMKIT_GATEWAY_CONFIG"
_ENV_SHA256 = "SIMKIT_GATEWAY_BUNDLE_SHA256"


def build(
    bundle: str | PathLike[str],
    config: str | PathLike[str],
    *,
    bundle_sha256: str | None = None,
) -> tuple[Any, GatewayConfig, Any]:
    """Load and check the bundle and the config; the ASGI app, the config and the router.

    ``bundle_sha256`` pins the exact bundle (its digest, the sha256 of its ``SHA256SUMS``):
    the checksums prove the files are intact, the pin that they are the bundle you deployed.

    Raises
    ------
    BundleError
        The bundle is missing, corrupt, tampered with, of another format version, or has
        another digest than ``bundle_sha256``.
    SpecError
        The config is unreadable or wrong (naming the key), or names a tier the bundle lacks.
    """
    from simkit.gateway.app import create_app
    from simkit.router import Router

    router = Router.load(bundle, sha256=bundle_sha256)
    cfg = load_gateway_config(config, bundle_tiers=router.bundle.tiers)
    if cfg.threshold is not None:
        router = Router(router.bundle, cfg.threshold)
    log = None
    if cfg.decision_log.path is not None:
        log = DecisionLog(cfg.decision_log.path, fsync=cfg.decision_log.fsync)
    return create_app(cfg, router, decision_log=log), cfg, router


def _freeze_startup_objects() -> None:
    """Move every object alive now (modules, the bundle's arrays and tables, the app) out of
    the garbage collector's reach, as a long-running server should once it has loaded.

    Without it each full collection walks them all again: about 85,000 objects once the
    static bundle is loaded, a pause of 15-30 ms on this project's 2-core machine that every
    request in flight waits out. Objects created afterwards, per request, are collected as
    before.
    """
    import gc

    gc.collect()
    gc.freeze()


def app_from_env() -> Any:
    """The app for a uvicorn worker process (``--workers N``): paths from the environment."""
    app, _, _ = build(
        os.environ[_ENV_BUNDLE],
        os.environ[_ENV_CONFIG],
        bundle_sha256=os.environ.get(_ENV_SHA256) or None,
    )
    _freeze_startup_objects()
    return app


def serve(
    bundle: str | PathLike[str],
    config: str | PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "info",
    bundle_sha256: str | None = None,
) -> None:
    """Check everything, then serve until interrupted.

    Parameters
    ----------
    bundle, config : path-like
        The classifier bundle and ``gateway.yaml``.
    host, port : str, int
        Where to listen (default: loopback only).
    workers : int
        uvicorn worker processes; each loads the bundle and appends to the same decision log
        (one ``write`` per line with ``O_APPEND``, so lines never interleave).
    log_level : str
        uvicorn's log level.
    bundle_sha256 : str, optional
        The bundle's expected digest (see :func:`build`).
    """
    import uvicorn

    app, cfg, router = build(
        bundle, config, bundle_sha256=bundle_sha256
    )  # fails here, before listening, if anything is wrong
    sock = listening_socket(host, port)
    common = dict(
        host=host, port=port, log_level=log_level, loop="uvloop", http="httptools", lifespan="on",
        backlog=4096, timeout_keep_alive=30,  # clients keep pooled connections; bursts queue
    )  # fmt: skip
    if workers == 1:
        _freeze_startup_objects()
        uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])
        return
    os.environ[_ENV_BUNDLE] = str(bundle)
    os.environ[_ENV_CONFIG] = str(config)
    if bundle_sha256:
        os.environ[_ENV_SHA256] = str(bundle_sha256)
    # the workers share this listening socket (and its TCP_NODELAY), as uvicorn.run would
    from uvicorn.supervisors import Multiprocess

    config_ = uvicorn.Config(
        "simkit.gateway.server:app_from_env", factory=True, workers=workers, **common
    )
    Multiprocess(config_, sockets=[sock]).run()


class GatewayServer(BackgroundServer):
    """Run a gateway app in this process, in a background thread, on 127.0.0.1.

    For tests and notebooks; production runs :func:`serve`. The decision log (if any) is
    opened and closed with the server.

    Parameters
    ----------
    app : ASGI application
        From :func:`~simkit.gateway.app.create_app` or :func:`build`.
    port : int
        0 (the default) picks a free port; read it from :attr:`port`.
    log_level : str
        uvicorn's log level.
    """

    what = "gateway"

    def __init__(self, app: Any, *, port: int = 0, log_level: str = "warning") -> None:
        super().__init__(port=port, log_level=log_level, start_timeout_s=20.0)
        self.app = app

    def uvicorn_config(self, port: int) -> Any:
        """The app on ``port`` (uvloop, httptools, lifespan on: the decision log opens and
        closes with the server)."""
        import uvicorn

        return uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level=self.log_level,
            loop="uvloop", http="httptools", lifespan="on", timeout_graceful_shutdown=2,
        )  # fmt: skip
