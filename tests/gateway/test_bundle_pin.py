"""A gateway pins the exact bundle it was given: another digest stops the start."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

import pytest
import yaml

from simkit.errors import BundleError
from simkit.gateway import hash_api_key
from simkit.gateway.server import build
from tests.gateway.conftest import DEFAULT_BUNDLE, KEY, upstream


def test_build_and_serve_refuse_a_bundle_with_another_digest(tmp_path):
    bundle = shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle")
    digest = hashlib.sha256((bundle / "SHA256SUMS").read_bytes()).hexdigest()
    url = "http://127.0.0.1:9/v1"
    config = tmp_path / "gateway.yaml"
    two = {"api_keys": [hash_api_key(KEY)],
           "upstreams": {"cheap": upstream(url, "a"), "strong": upstream(url, "b")}}  # fmt: skip
    config.write_text(yaml.safe_dump(two))
    _, _, router = build(bundle, config, bundle_sha256=digest)
    assert router.bundle.sha256 == digest
    other = "f" * 64
    with pytest.raises(BundleError, match=rf"bundle digest {digest} is not the expected {other}"):
        build(bundle, config, bundle_sha256=other)
    cli = [sys.executable, "-m", "simkit.cli", "gateway", "serve", "--bundle", str(bundle),
           "--config", str(config), "--port", "0", "--bundle-sha256", other]  # fmt: skip
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("simkit gateway: error: ")
    assert f"is not the expected {other}" in done.stderr
