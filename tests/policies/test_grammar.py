"""The one policy-string grammar: parsing, round trips, grids over chains, typed parameters."""

from __future__ import annotations

import pytest

from simkit.errors import PolicyError
from simkit.fleet import load_fleet
from simkit.policies import (
    CascadePolicy,
    PrivacyPolicy,
    SpillOverPolicy,
    StaticPolicy,
    ThresholdPolicy,
    build_policy,
    parse_policy,
    split_policy,
)
from simkit.policies.grammar import Segment, format_value, join_policy
from simkit.sweep import expand_grid


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()  # selfhosted, hosted, frontier


def test_chains_parse_outermost_first_with_yaml_values():
    assert parse_policy("privacy>threshold:p_hard=0.33") == {
        "policy": "privacy",
        "base": {"policy": "threshold", "p_hard": 0.33},
    }
    assert parse_policy("spillover:max_wait_s=1>static:tier=selfhosted") == {
        "policy": "spillover",
        "max_wait_s": 1,
        "base": {"policy": "static", "tier": "selfhosted"},
    }
    assert parse_policy("random:weights.gpu=2,weights.api=1,x=a/b/3,y=null,z=true") == {
        "policy": "random",
        "weights": {"gpu": 2, "api": 1},
        "x": ["a", "b", 3],
        "y": None,
        "z": True,
    }


def test_split_and_join_keep_the_text_as_written():
    text = "spillover:max_wait_s=1.50,order=hosted/frontier>static:tier=selfhosted"
    segments = split_policy(text)
    assert segments == (
        Segment("spillover", (("max_wait_s", "1.50"), ("order", "hosted/frontier"))),
        Segment("static", (("tier", "selfhosted"),)),
    )
    assert join_policy(segments) == text
    assert str(Segment("task")) == "task"
    # keys set go last, in the order given; None and lists are written in the grammar
    edited = segments[0].with_values({"max_queued": None, "order": ["a", "b"]})
    assert str(edited) == "spillover:max_wait_s=1.50,max_queued=null,order=a/b"


def test_a_grid_over_a_chain_sets_the_outer_policy_and_keeps_the_base(fleet):
    specs = expand_grid("spillover:max_wait_s=1>static:tier=selfhosted", {"max_wait_s": [0.5, 2]})
    assert specs == [
        "spillover:max_wait_s=0.5>static:tier=selfhosted",
        "spillover:max_wait_s=2>static:tier=selfhosted",
    ]
    built = build_policy(specs[1], fleet=fleet)
    assert built == SpillOverPolicy(base=StaticPolicy("selfhosted"), max_wait_s=2)
    # None is written as null (it used to become the string 'None')
    assert expand_grid("share:target_share=0.2", {"score": [None]}) == [
        "share:target_share=0.2,score=null"
    ]
    assert build_policy(expand_grid("share:target_share=0.2", {"score": [None]})[0]).score is None


@pytest.mark.parametrize(
    ("spec", "key", "problem"),
    [
        ("spillover:max_queued=abc>static:tier=selfhosted", "max_queued",
         "expected an integer or null, got 'abc'"),
        ("spillover:max_queued=2.5>static:tier=selfhosted", "max_queued",
         "expected an integer or null, got 2.5"),
        ("spillover:max_wait_s=soon>static:tier=selfhosted", "max_wait_s",
         "expected a number or null, got 'soon'"),
        ("spillover:min_headroom=true>static:tier=selfhosted", "min_headroom",
         "expected a number or null, got True"),
        ("threshold:p_hard=0.8/high", "cutoffs.hosted", "expected a number, got 'high'"),
        ("threshold:cutoffs.frontier=x", "cutoffs.frontier", "expected a number, got 'x'"),
        ("random:weights.frontier=lots", "weights.frontier", "expected a number, got 'lots'"),
        ("static:tier=5", "tier", "expected a string, got 5"),
        ("share:target_share=high", "target_share", "expected a number, got 'high'"),
        ("cascade:chain=1/2", "chain", "expected a list of strings or null, got [1, 2]"),
        ("task:tasks=math", "tasks", "expected a mapping of name -> string or null, got 'math'"),
        ("privacy:tag=7>static:tier=frontier", "tag", "expected a string, got 7"),
    ],
)  # fmt: skip
def test_parameters_are_type_checked_before_the_policy_is_built(fleet, spec, key, problem):
    with pytest.raises(PolicyError) as err:
        build_policy(spec, fleet=fleet)
    name = spec.split(":")[0]
    assert str(err.value) == f"policy {spec!r} ({name}), key '{key}': {problem}"


def test_mappings_and_yaml_files_get_the_same_checks(fleet, tmp_path):
    with pytest.raises(PolicyError, match=r"\(spillover\), key 'max_queued': expected an integer"):
        build_policy(
            {"policy": "spillover", "max_queued": "64", "base": {"policy": "static", "tier": "x"}}
        )
    f = tmp_path / "p.yaml"
    f.write_text("policy: budget\nusd_per_hour: ten\n", "utf-8")
    with pytest.raises(PolicyError) as err:
        build_policy(f)
    assert str(err.value) == f"{f} (budget), key 'usd_per_hour': expected a number, got 'ten'"


def test_numpy_numbers_are_numbers():
    import numpy as np

    p = build_policy({"policy": "share", "target_share": np.float32(0.25), "gain": np.int64(1)})
    assert p.target_share == np.float32(0.25) and p.gain == 1  # stored as given
    spill = {"policy": "spillover", "max_queued": np.int64(4), "base": "static:tier=x"}
    assert build_policy(spill).max_queued == 4
    with pytest.raises(PolicyError, match="key 'max_queued': expected an integer or null"):
        build_policy({**spill, "max_queued": np.float64(4.0)})


def test_a_single_tier_where_a_list_is_expected_is_a_one_item_list(fleet):
    assert build_policy("cascade:chain=frontier", fleet=fleet).chain == ["frontier"]
    p = build_policy("spillover:order=frontier,max_queued=8>static:tier=selfhosted", fleet=fleet)
    assert p.order == ["frontier"] and p.max_queued == 8


def test_well_typed_specs_build_the_policies_they_name(fleet):
    assert build_policy("privacy>threshold:p_hard=0.33", fleet=fleet) == PrivacyPolicy(
        base=ThresholdPolicy({"frontier": 0.33}, score="p_hard")
    )
    assert build_policy("cascade:chain=selfhosted/frontier,accept_at=1") == CascadePolicy(
        chain=["selfhosted", "frontier"], accept_at=1
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (":tier=x", "key 'policy': expected a policy name before ':' in ':tier=x'"),
        ("privacy>", "key 'policy': expected a policy name before ':' in ''"),
        ("static:tier", "key 'tier': expected key=value"),
        ("random:weights=1,weights.a=2", "key 'weights.a': conflicting nested keys"),
    ],
)
def test_malformed_strings_name_the_part(spec, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(spec)
    assert str(err.value).startswith(f"policy {spec!r}, {message}")


def test_a_value_the_grammar_cannot_carry_is_refused():
    assert format_value(0.25) == "0.25" and format_value(False) == "false"
    with pytest.raises(PolicyError, match="cannot contain any of > , / ="):
        format_value("a/b")
