"""Arrival processes against queueing theory: rates, dispersion, CV and the diurnal profile;
bit-identical for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.errors import SpecError
from simkit.trace.arrivals import Bursty, Diurnal, Poisson, Replay, parse_arrivals

N = 100_000


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_poisson_gaps_have_the_mean_and_cv_of_an_exponential():
    t = Poisson(4.0).times(N, _rng())
    gaps = np.diff(np.concatenate([[0.0], t]))
    # mean 1/rate with standard error (1/rate)/sqrt(N): within 4 standard errors
    assert abs(gaps.mean() - 0.25) < 4 * 0.25 / np.sqrt(N)
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.02
    # counts in 1 s windows: Poisson, so variance / mean (index of dispersion) is 1
    counts = np.bincount(t.astype(int))[:-1]
    assert abs(counts.mean() - 4.0) < 0.05
    assert abs(counts.var() / counts.mean() - 1.0) < 0.05


@pytest.mark.parametrize("cv", [0.5, 1.0, 3.0])
def test_bursty_gaps_have_the_requested_mean_and_cv(cv):
    t = Bursty(2.0, cv).times(N, _rng(1))
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert abs(gaps.mean() - 0.5) < 4 * cv * 0.5 / np.sqrt(N)
    assert abs(gaps.std() / gaps.mean() - cv) < 0.05 * cv


def test_bursty_with_cv_zero_is_evenly_spaced():
    assert Bursty(4.0, 0.0).times(4, _rng()).tolist() == [0.25, 0.5, 0.75, 1.0]


def test_diurnal_arrivals_follow_the_sinusoidal_rate():
    """Share of arrivals per tenth of the period = the integral of the rate over that tenth."""
    proc = Diurnal(mean_rate_per_s=50.0, amplitude=0.8, period_s=100.0, phase_s=10.0)
    t = proc.times(N, _rng(2))
    assert np.all(np.diff(t) >= 0) and t.size == N
    whole = np.floor(t[-1] / 100.0) * 100.0
    t = t[t < whole]
    phase = ((t - 10.0) % 100.0) / 100.0
    observed = np.bincount((phase * 10).astype(int), minlength=10) / t.size
    edges = np.linspace(0, 1, 11)
    # integral of 1 + a sin(2 pi x) over [x0, x1], normalised by the period's integral (= 1)
    expected = np.diff(edges - 0.8 / (2 * np.pi) * np.cos(2 * np.pi * edges))
    sigma = np.sqrt(expected * (1 - expected) / t.size)
    assert np.all(np.abs(observed - expected) < 4 * sigma)
    assert abs(t.size / whole - 50.0) < 1.0  # the mean rate


@pytest.mark.parametrize(
    "proc",
    [Poisson(3.0), Bursty(3.0, 4.0), Diurnal(3.0, 0.5, 600.0)],
    ids=["poisson", "bursty", "diurnal"],
)
def test_same_seed_gives_bit_identical_times_and_another_seed_does_not(proc):
    a, b, c = proc.times(1000, _rng(7)), proc.times(1000, _rng(7)), proc.times(1000, _rng(8))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_rate_multiplier_scales_rates_and_replay_speed():
    assert Poisson(2.0).scaled(3.0) == Poisson(6.0)
    assert Bursty(2.0, 3.0).scaled(0.5) == Bursty(1.0, 3.0)
    assert Diurnal(2.0, 0.3).scaled(2.0).mean_rate_per_s == 4.0
    replay = Replay(np.array([10.0, 11.0, 13.0]))
    assert replay.times(3).tolist() == [0.0, 1.0, 3.0]
    assert replay.scaled(2.0).times(3).tolist() == [0.0, 0.5, 1.5]


def test_replay_cycles_with_one_mean_gap_between_copies_and_repeats_tokens():
    replay = Replay(np.array([0.0, 1.0, 3.0]), output_tokens=np.array([5.0, 6.0, 7.0]))
    assert replay.times(7).tolist() == [0.0, 1.0, 3.0, 4.5, 5.5, 7.5, 9.0]
    assert replay.cycles(7) == 3
    assert replay.tokens(4)[1].tolist() == [5.0, 6.0, 7.0, 5.0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Poisson(0.0), "<arrivals>, key 'rate_per_s': must be a number > 0, got 0.0"),
        (lambda: Poisson(float("inf")), "<arrivals>, key 'rate_per_s': must be finite, got inf"),
        (lambda: Bursty(1.0, -1.0), "<arrivals>, key 'cv': must be a number >= 0, got -1.0"),
        (lambda: Diurnal(1.0, 1.5), "<arrivals>, key 'amplitude': must be in [0, 1], got 1.5"),
        (lambda: Replay(np.array([0.0, 2.0, 1.0])), "<arrivals>, key 'arrival_s': must be finite"),
        (
            lambda: Poisson(1.0).scaled(-2),
            "<arrivals>, key 'rate_multiplier': must be a number > 0",
        ),
    ],
)
def test_bad_parameters_name_the_key(make, message):
    with pytest.raises(SpecError) as err:
        make()
    assert str(err.value).startswith(message)


def test_parse_arrivals_specs():
    assert parse_arrivals("poisson:rate=5") == Poisson(5.0)
    assert parse_arrivals("bursty:rate=2, cv=3") == Bursty(2.0, 3.0)
    assert parse_arrivals("diurnal:rate=1,amplitude=0.2,period=3600,phase=60") == Diurnal(
        1.0, 0.2, 3600.0, 60.0
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "gauss:rate=1",
            "<arrivals>, key 'gauss': unknown arrival process; valid: poisson, bursty, "
            "diurnal, replay",
        ),
        (
            "poisson:lambda=1",
            "<arrivals>, key 'poisson.lambda': expected key=value with key one of rate",
        ),
        ("poisson:rate=fast", "<arrivals>, key 'poisson.rate': expected a number, got 'fast'"),
        ("bursty:cv=2", "<arrivals>, key 'bursty.rate': required (arrivals per second)"),
        (
            "replay",
            "<arrivals>, key 'replay': needs the timing trace to replay: replay:PATH, where PATH "
            "is a simkit trace directory or an Azure 2023 CSV",
        ),
    ],
)
def test_bad_specs_list_the_choices(spec, message):
    with pytest.raises(SpecError) as err:
        parse_arrivals(spec)
    assert str(err.value).startswith(message)


def test_replay_spec_reads_azure_csvs_and_trace_directories(fixtures, tmp_path):
    raw = parse_arrivals(f"replay:{fixtures / 'azure2023' / 'AzureLLMInferenceTrace_conv.csv'}")
    processed = parse_arrivals(f"replay:{fixtures / 'azure2023' / 'splitwise_conv.csv'}")
    assert np.abs(raw.times(500) - processed.times(500)).max() <= 5e-13
    assert raw.tokens(3)[1].tolist() == [44.0, 109.0, 55.0]
    other = tmp_path / "x.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(
        SpecError, match="is neither a simkit trace directory nor an Azure 2023 CSV"
    ):
        parse_arrivals(f"replay:{other}")


def test_an_integer_seed_is_the_named_arrivals_stream():
    from simkit.seeding import named_stream

    assert (
        Poisson(2.0).times(5, 42).tobytes()
        == Poisson(2.0).times(5, named_stream(42, "arrivals")).tobytes()
    )
    with pytest.raises(TypeError, match="expected a numpy.random.Generator or an integer seed"):
        Poisson(2.0).times(5, "42")


def test_replay_from_a_start_row_wraps_around_the_trace():
    replay = Replay(np.array([0.0, 1.0, 3.0]), output_tokens=np.array([5.0, 6.0, 7.0]))
    late = replay.starting_at(2)
    assert late.times(3).tolist() == [0.0, 1.5, 2.5]  # row 2, then rows 0 and 1 of copy 2
    assert late.tokens(3)[1].tolist() == [7.0, 5.0, 6.0]
    assert late.cycles(3) == 2
    with pytest.raises(SpecError, match="key 'start_row': must be in \\[0, 2\\]"):
        replay.starting_at(3)
