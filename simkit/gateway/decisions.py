"""The decision log: one JSON line per request the gateway routed, in a replayable form.

Each line is written with a single ``write(2)`` to a file opened with ``O_APPEND``, so lines
from concurrent requests (and from several worker processes) never interleave, and a crash
leaves at most the last line cut short. On opening, a log whose last line was cut short gets
a newline, so the next record starts on a line of its own and the loader can name the cut
line (``simkit trace convert LOG OUT --format gateway-log`` reads the log into a trace).

A line (format version 1)::

    {"v": 1, "request_id": "...", "time": 1765000000.123,   # arrival, epoch seconds
     "model_requested": "router", "routed": true, "stream": false,
     "tier": "strong", "model": "gpt-4o", "p_hard": 0.41, "threshold": 0.23,
     "tags": ["sensitive"], "prompt_sha256": "...",        # "prompt": "..." only if configured
     "prompt_tokens": 120, "max_tokens": 256, "output_tokens": 80,
     "ttft_s": 0.21, "latency_s": 0.93, "decision_ms": 0.4, "cost_usd": 0.0011,
     "status": "completed", "http_status": 200, "fail_reason": "",
     "attempts": [{"tier": "cheap", "outcome": "rate_limited", "retry_after_s": 1.0},
                  {"tier": "strong", "outcome": "completed"}]}

``status`` is ``completed``, ``failed`` or ``cancelled`` (the client went away); the
``prompt_sha256`` is of the prompt text as :func:`simkit.trace.messages_to_text` renders the
messages, the text a trace holds for a chat log. Answers are never logged.
"""

from __future__ import annotations

import json
import logging
import os
from os import PathLike
from pathlib import Path
from typing import Any

__all__ = ["LOG_VERSION", "DecisionLog"]

LOG_VERSION = 1
_log = logging.getLogger("simkit.gateway")


class DecisionLog:
    """Append-only JSON-lines writer for decision records.

    Parameters
    ----------
    path : path-like
        The log file; created with mode 0600 if missing, appended to otherwise.
    fsync : bool
        Call ``fsync`` after every line (survives a power loss, costs a disk flush per request).
    """

    def __init__(self, path: str | PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None

    def open(self) -> DecisionLog:
        """Open the file for appending (terminating a line cut short by a crash)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        size = os.fstat(fd).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                last = f.read(1)
            if last != b"\n":
                os.write(fd, b"\n")
                _log.warning(
                    "decision log %s: its last line was cut short (the gateway stopped while "
                    "writing it); it was ended with a newline and new records follow it",
                    self.path,
                )
        self._fd = fd
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line (strict JSON: NaN is refused)."""
        if self._fd is None:
            raise RuntimeError("DecisionLog.append before open()")
        line = json.dumps(record, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        os.write(self._fd, (line + "\n").encode("utf-8"))
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        """Flush to disk and close."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
