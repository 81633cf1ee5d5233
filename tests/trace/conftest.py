"""Shared fixtures: the committed slices of real data (tests/fixtures/trace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trace"
REPO = Path(__file__).resolve().parent.parent.parent
TRACES = REPO / "traces"


@pytest.fixture(scope="session")
def expected() -> dict:
    """Counts the fixture script computed with the standard library, independently of simkit."""
    return json.loads((FIXTURES / "expected.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES
