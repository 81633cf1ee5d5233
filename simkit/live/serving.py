"""An ASGI app served by uvicorn in a background thread of this process, and the listening
socket every simkit server binds: what the loopback stub (:mod:`simkit.live.stub`) and the
gateway (:mod:`simkit.gateway.server`) share for tests, notebooks and benchmarks.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

from simkit.errors import SimkitError

__all__ = ["BackgroundServer", "listening_socket"]


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket whose accepted connections have ``TCP_NODELAY``.

    Connections inherit the option from the listening socket on Linux. Without it a response
    that uvicorn writes in two parts (headers, then body) waits for the client's delayed ACK,
    about 40 ms a request on loopback.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """Serve an app on 127.0.0.1 with uvicorn in a daemon thread; a context manager.

    Subclasses say what they serve in :meth:`uvicorn_config` (called with the bound port) and
    name themselves in :attr:`what` (for the thread's name and the start-up error).

    Parameters
    ----------
    port : int
        0 (the default) picks a free ephemeral port; read it from :attr:`port`.
    log_level : str
        uvicorn's log level.
    start_timeout_s : float
        How long :meth:`start` waits for the server to accept connections.
    """

    what = "server"

    def __init__(self, *, port: int = 0, log_level: str, start_timeout_s: float) -> None:
        self.requested_port = port
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def uvicorn_config(self, port: int) -> Any:
        """The ``uvicorn.Config`` to serve with on ``port``."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, what ``openai.AsyncOpenAI(base_url=...)`` takes."""
        if self.port is None:
            raise SimkitError(f"the {self.what} is not running; call start() first")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> BackgroundServer:
        """Bind, start serving, and return once the server accepts connections."""
        import uvicorn

        sock = listening_socket("127.0.0.1", self.requested_port)
        self.port = sock.getsockname()[1]
        server = self._server = uvicorn.Server(self.uvicorn_config(self.port))
        server.install_signal_handlers = lambda: None  # the main thread keeps its handlers
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"simkit-{self.what.replace(' ', '-')}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SimkitError(f"the {self.what} did not start on 127.0.0.1:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (at most 10 s)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
