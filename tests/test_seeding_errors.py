"""A bad seed is a SimkitError (one line from the CLI), still a ValueError for numpy users."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.errors import SeedError, SimkitError
from simkit.seeding import named_stream


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3", None])
def test_a_seed_that_is_not_a_whole_number_from_0_is_a_seed_error(seed):
    with pytest.raises(SeedError, match=r"key 'seed': expected a whole number >= 0, got "):
        named_stream(seed, "arrivals")
    assert issubclass(SeedError, SimkitError) and issubclass(SeedError, ValueError)


def test_numpy_integer_seeds_are_accepted():
    a = named_stream(np.int64(7), "policy").random(3)
    assert np.array_equal(a, named_stream(7, "policy").random(3))
