"""Composition: labelled prompts on a timeline (replayed or generated), seeded and recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.trace import Trace, save_trace
from simkit.trace.arrivals import Poisson, Replay
from simkit.trace.compose import attach_arrivals, combine, tag_fraction, window
from simkit.trace.loaders.azure import load_azure
from simkit.trace.loaders.routellm import load_routellm_gsm8k, load_routellm_mmlu


@pytest.fixture(scope="module")
def labelled(fixtures):
    mmlu = load_routellm_mmlu(fixtures / "routellm" / "mmlu", tokenizer=None)
    gsm8k = load_routellm_gsm8k(fixtures / "routellm" / "gsm8k")
    return combine([mmlu, gsm8k], name="routellm")


@pytest.fixture(scope="module")
def conv(fixtures):
    return load_azure(fixtures / "azure2023" / "AzureLLMInferenceTrace_conv.csv")


def test_replayed_arrivals_and_output_token_fallbacks(labelled, conv):
    t = attach_arrivals(labelled, Replay.from_trace(conv), seed=3)
    n = labelled.n_requests  # 364 < 500 Azure rows: no cycling
    assert t.requests["arrival_s"].tolist() == conv.requests["arrival_s"].iloc[:n].tolist()
    # a seeded shuffle of the same requests, outcomes untouched
    assert sorted(t.requests["request_id"]) == sorted(labelled.requests["request_id"])
    assert t.requests["request_id"].tolist() != labelled.requests["request_id"].tolist()
    assert t.outcomes.equals(labelled.outcomes)
    # request-level output tokens come from the Azure row of the same slot
    assert t.requests["output_tokens"].tolist() == conv.requests["output_tokens"].iloc[:n].tolist()
    info = t.meta["composition"][0]
    assert (info["seed"], info["order"], info["replay_cycles"], info["output_tokens_filled"]) == (
        3,
        "shuffle",
        1,
        n,
    )
    assert info["arrivals"]["name"] == "azure2023-conv"


def test_known_output_tokens_are_never_overwritten(conv):
    req = pd.DataFrame({"request_id": ["a", "b"], "arrival_s": 0.0, "output_tokens": [7, None]})
    t = attach_arrivals(Trace(req), Replay.from_trace(conv), order="keep")
    assert t.requests["output_tokens"].tolist() == [7, 109]
    assert t.meta["composition"][0]["output_tokens_filled"] == 1


def test_more_requests_than_trace_rows_cycle_the_trace(labelled, conv):
    short = Replay.from_trace(conv.subset(np.arange(conv.n_requests) < 100))
    t = attach_arrivals(labelled, short, seed=0)
    assert t.meta["composition"][0]["replay_cycles"] == 4
    assert np.all(np.diff(t.requests["arrival_s"].to_numpy()) >= 0)


def test_same_seed_gives_byte_identical_saved_traces(labelled, tmp_path):
    for name in ("a", "b"):
        t = tag_fraction(
            attach_arrivals(labelled, Poisson(2.0), seed=11, rate_multiplier=1.5),
            "sensitive",
            0.1,
            seed=11,
        )
        save_trace(t, tmp_path / name)
    for f in ("requests.parquet", "outcomes.parquet", "trace.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    other = attach_arrivals(labelled, Poisson(2.0), seed=12)
    assert not np.array_equal(other.requests["arrival_s"], t.requests["arrival_s"])


def test_rate_multiplier_and_keep_order(labelled):
    slow = attach_arrivals(labelled, Poisson(1.0), seed=0, order="keep")
    fast = attach_arrivals(labelled, Poisson(1.0), seed=0, order="keep", rate_multiplier=4.0)
    assert slow.requests["request_id"].equals(labelled.requests["request_id"])
    assert np.allclose(fast.requests["arrival_s"] * 4.0, slow.requests["arrival_s"])
    assert fast.meta["composition"][0]["arrivals"] == {"process": "poisson", "rate_per_s": 4.0}


def test_scores_follow_their_requests_when_shuffled(labelled):
    n = labelled.n_requests
    scored = labelled.with_scores({"p_hard": np.arange(n, dtype=float) / n})  # distinct, in [0, 1]
    t = attach_arrivals(scored, Poisson(1.0), seed=5)
    lookup = dict(zip(scored.requests["request_id"], scored.scores["p_hard"], strict=True))
    assert t.scores["p_hard"].tolist() == [lookup[r] for r in t.requests["request_id"]]


def test_tag_fraction_tags_exactly_the_share_and_records_it(labelled):
    t = tag_fraction(labelled, "sensitive", 0.25, seed=1)
    assert t.has_tag("sensitive").sum() == round(0.25 * labelled.n_requests)
    assert t.meta["synthetic_tags"]["sensitive"]["seed"] == 1
    again = tag_fraction(t, "sensitive", 0.25, seed=1)  # same choice: nothing new
    assert again.requests["tags"].equals(t.requests["tags"])
    both = tag_fraction(t, "eu-only", 1.0, seed=1)
    assert set(both.requests["tags"]) == {"eu-only", "sensitive,eu-only"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag": "a,b", "fraction": 0.1}, "key 'tag': a tag is a non-empty word"),
        ({"tag": "x", "fraction": 1.5}, "key 'fraction': must be in [0, 1], got 1.5"),
    ],
)
def test_tag_fraction_rejects_bad_arguments(labelled, kwargs, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        tag_fraction(labelled, seed=0, **kwargs)


def test_unknown_order_lists_the_choices(labelled):
    with pytest.raises(SpecError, match="unknown order 'random'; valid: shuffle, keep"):
        attach_arrivals(labelled, Poisson(1.0), order="random")


def test_combine_rejects_overlapping_ids(labelled):
    with pytest.raises(
        TraceError, match="request id 'mmlu/high_school_european_history/1' occurs in"
    ):
        combine([labelled, labelled], name="twice")


def test_random_replay_start_samples_a_seeded_window(labelled, conv):
    replay = Replay.from_trace(conv)
    a = attach_arrivals(labelled, replay, seed=9, replay_start="random")
    b = attach_arrivals(labelled, replay, seed=9, replay_start="random")
    start = a.meta["composition"][0]["arrivals"]["start_row"]
    assert start == b.meta["composition"][0]["arrivals"]["start_row"] and start > 0
    assert a.requests["arrival_s"].equals(b.requests["arrival_s"])
    assert a.requests["arrival_s"].iloc[0] == 0.0
    with pytest.raises(SpecError, match="unknown start 'middle'; valid: first, random"):
        attach_arrivals(labelled, replay, replay_start="middle")


def test_window_keeps_the_first_requests_with_their_outcomes_at_a_multiple_of_the_rate(labelled):
    timed = attach_arrivals(labelled, Poisson(2.0), seed=0, order="keep")
    timed = timed.with_scores({"p_hard": np.arange(timed.n_requests, dtype=float) / 1000})
    w = window(timed, n_requests=50, rate_multiplier=2.5)
    assert w.requests["request_id"].tolist() == timed.requests["request_id"][:50].tolist()
    assert np.array_equal(
        w.requests["arrival_s"].to_numpy(), timed.requests["arrival_s"][:50].to_numpy() / 2.5
    )
    assert set(w.outcomes["request_id"]) == set(w.requests["request_id"])
    assert w.scores["p_hard"].tolist() == [i / 1000 for i in range(50)]
    assert w.meta["window"] == {"n_requests": 50, "rate_multiplier": 2.5}
    assert window(timed) is timed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_requests": 0}, "<window>, key 'n_requests': expected a whole number >= 1, got 0"),
        (
            {"rate_multiplier": -1.0},
            "<window>, key 'rate_multiplier': expected a number from 0.001 to 1000 (times the trace's arrival rate), got -1.0",
        ),
    ],
)
def test_window_rejects_bad_arguments(labelled, kwargs, message):
    with pytest.raises(SpecError) as err:
        window(labelled, **kwargs)
    assert str(err.value).startswith(message)
