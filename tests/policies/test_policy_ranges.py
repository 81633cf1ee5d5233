"""Spill-over limits outside their documented ranges are refused by check(), naming the key."""

from __future__ import annotations

import pytest

from simkit.errors import PolicyError
from simkit.policies import SpillOverPolicy, StaticPolicy

TIERS = ("selfhosted", "hosted", "frontier")


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            {"max_queued": -1},
            r"key 'max_queued': expected a whole number of waiting requests >= 0, got -1",
        ),
        ({"max_queued": 2.5}, r"key 'max_queued': expected a whole number .* got 2.5"),
        ({"max_queued": True}, r"key 'max_queued': expected a whole number .* got True"),
        ({"max_queued": "abc"}, r"key 'max_queued': expected a whole number .* got 'abc'"),
        (
            {"min_headroom": 5},
            r"key 'min_headroom': expected a share of the rate limit in \[0, 1\], got 5",
        ),
        ({"min_headroom": -0.1}, r"key 'min_headroom': expected a share .* got -0.1"),
        (
            {"max_wait_s": -2.0},
            r"key 'max_wait_s': expected a finite number of seconds >= 0, got -2.0",
        ),
        ({"max_wait_s": float("inf")}, r"key 'max_wait_s': expected a finite .* got inf"),
    ],
)
def test_out_of_range_limits_are_refused(limits, message):
    with pytest.raises(PolicyError, match=r"policy 'spillover', " + message):
        SpillOverPolicy(StaticPolicy("selfhosted"), **limits).check(TIERS, ())


def test_limits_at_the_edges_of_their_ranges_are_accepted():
    SpillOverPolicy(StaticPolicy("selfhosted"), max_queued=0).check(TIERS, ())
    SpillOverPolicy(StaticPolicy("selfhosted"), min_headroom=1.0, max_wait_s=0).check(TIERS, ())
