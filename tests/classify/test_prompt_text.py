"""Prompts that are not valid Unicode text are refused with their position."""

from __future__ import annotations

import pytest

from simkit.classify.features import check_prompts
from simkit.errors import ClassifierError


def test_undecodable_bytes_name_the_row_and_character():
    bad = b"ok \xc3\x28 then".decode("utf-8", "surrogateescape")
    with pytest.raises(
        ClassifierError,
        match=r"prompts, row 2: not valid UTF-8 text \(undecodable bytes at character 3\)",
    ):
        check_prompts(["fine", bad])
