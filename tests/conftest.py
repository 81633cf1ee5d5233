"""Fixtures shared by the test folders: headless Chromium (Debian's package driven by
Playwright, never `playwright install`) and the folder where browser tests leave screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
