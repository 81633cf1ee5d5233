"""`simkit.classify` exposes its public names lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_public_names_resolve_and_unknown_names_raise():
    import simkit.classify as c

    for name in c.__all__:
        assert getattr(c, name).__doc__, name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = c.nope


def test_importing_load_bundle_pulls_in_neither_torch_nor_scikit_learn():
    code = (
        "import sys; from simkit.classify import load_bundle; "
        "print(sorted({'torch', 'sklearn', 'transformers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
