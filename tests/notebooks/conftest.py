"""Shared pieces of the notebook tests: where the notebooks are, a JupyterLab server of the
test's own, and headless Chromium (Debian's package driven by Playwright)."""

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
ARTIFACTS = REPO / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``artifacts/`` at the repository root (git-ignored): screenshots CI keeps."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def chromium_path() -> Path:
    """Debian's chromium (``apt-get install -y chromium``), or ``$SIMKIT_CHROMIUM``."""
    return Path(
        os.environ.get("SIMKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    )


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per test module (Playwright's sync API allows one at a time); the
    test fails (not skips) when Chromium is missing."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if not exe.is_file():
        pytest.fail(
            f"no Chromium at {exe}: install Debian's package (apt-get install -y chromium; "
            ".ci/run does) or set SIMKIT_CHROMIUM, or deselect with -m 'not browser'"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(exe), args=CHROMIUM_ARGS)
        yield b
        b.close()


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
