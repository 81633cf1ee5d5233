"""Shared pieces of the notebook tests: where the notebooks are and a JupyterLab server of the
test's own (headless Chromium comes from ``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

@dataclass(frozen=True)
class JupyterLab:
    """A running server: its URL, token, the folder it serves and its log file."""

    url: str
    token: str
    root: Path
    log: Path

    def tree_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    """JupyterLab on a free local port serving ``tmp_path/root``, with its own config, data
    and runtime folders (nothing of the user's Jupyter setup is read or written); stopped and
    waited for at the end."""
    root = tmp_path / "root"
    root.mkdir()
    jupyter_dirs = {
        "JUPYTER_CONFIG_DIR": tmp_path / "jupyter" / "config",
        "JUPYTER_DATA_DIR": tmp_path / "jupyter" / "data",
        "JUPYTER_RUNTIME_DIR": tmp_path / "jupyter" / "runtime",
        "IPYTHONDIR": tmp_path / "ipython",
    }
    env = dict(os.environ, **{k: str(v) for k, v in jupyter_dirs.items()})
    settings = tmp_path / "jupyter" / "lab-settings"
    settings.mkdir(parents=True)
    # no news toast, no update check: the page must not reach out (and nothing covers it)
    (settings / "overrides.json").write_text(
        '{"@jupyterlab/apputils-extension:notification": '
        '{"fetchNews": "false", "checkForUpdates": false}}'
    )
    port, token = _free_port(), "simkit-test-token"
    log = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        f"--ServerApp.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        f"--LabApp.app_settings_dir={settings}",
        "--LabApp.expose_app_in_browser=True",
        "--allow-root",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.25)
        yield JupyterLab(url=url, token=token, root=root, log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
