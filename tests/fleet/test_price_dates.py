"""A price date before the catalog's history is refused instead of answered with today's price."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from simkit.errors import PriceError
from simkit.fleet.prices import PriceCatalog


def test_history_starts_at_the_first_dated_entry_of_the_snapshot():
    assert PriceCatalog.load().history_start == date(2025, 6, 10)


@pytest.mark.parametrize("at", [date(1990, 1, 1), datetime(2024, 5, 13, 12, 0), date(2025, 6, 9)])
def test_a_date_before_the_history_is_refused(at):
    with pytest.raises(
        PriceError,
        match=r"key 'at': \d{4}-\d\d-\d\d is before the catalog's price history, which starts on "
        r"2025-06-10; the price then is not known",
    ):
        PriceCatalog.load().resolve("gpt-4o", at=at)


def test_the_first_day_of_the_history_is_answered():
    p = PriceCatalog.load().resolve("gpt-4o", at=date(2025, 6, 10))
    assert (p.input_usd_per_mtok, p.output_usd_per_mtok) == (2.5, 10.0)
