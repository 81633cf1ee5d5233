"""Leave-one-domain-out: train on every other source, test on the one left out, over one or
several traces; the out-of-domain mean (with its interval) is what a user reads first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.cli import main
from simkit.errors import ClassifierError
from simkit.evaluation import domain_trace, evaluate_classifier, routing_metrics
from simkit.trace import load_trace

from .conftest import FIXTURES, STRONG, WEAK

LODO = "leave-one-domain-out"


@pytest.fixture(scope="module")
def arena_trace():
    return load_trace(FIXTURES / "arena_small")


@pytest.fixture(scope="module")
def both(small_trace, arena_trace):
    return domain_trace([small_trace, arena_trace], weak=WEAK, strong=STRONG)


@pytest.fixture(scope="module")
def estimator(tiny_model, static_cache):
    return ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)


@pytest.fixture(scope="module")
def result(both, estimator):
    return evaluate_classifier(
        both, weak=WEAK, strong=STRONG, estimator=estimator, protocols=[LODO, "transfer"],
        n_splits=3, seed=3, n_bootstrap=60,
    )  # fmt: skip


def test_several_traces_make_one_domain_per_source_with_every_model_kept(both, arena_trace):
    src = both.requests["source"].value_counts().to_dict()
    assert src == {"mmlu": 162, "gsm8k": 100, "arena-bench-v1": 60}
    # the 15 Arena models stay (N-model labels use them); the pair is recorded in meta
    assert set(arena_trace.models) <= set(both.models) and len(both.models) == 15
    assert (both.meta["weak_model"], both.meta["strong_model"]) == (WEAK, STRONG)


def test_every_source_is_held_out_once_and_scored_by_a_model_that_never_saw_it(result, both):
    m = result.metrics.query(f"protocol == '{LODO}' and router == 'classifier'")
    q = both.quality_matrix([WEAK, STRONG])
    usable = q.notna().all(axis=1).to_numpy()
    src = both.requests["source"].to_numpy()
    for bench in ("arena-bench-v1", "gsm8k", "mmlu"):
        n = int(((src == bench) & usable).sum())
        assert m.loc[m.benchmark == bench, "n"].item() == n
        s = result.scores[(bench, LODO)]
        assert len(s) == n
        # the held-out source's model: refitting on the other sources only gives these scores
    arena_rows = result.scores[("arena-bench-v1", LODO)]
    assert arena_rows["request_id"].str.startswith("arena-bench-v1/").all()


def test_transfer_and_leave_one_domain_out_share_their_fits(result):
    for bench in ("arena-bench-v1", "gsm8k", "mmlu"):
        a = result.scores[(bench, LODO)]["p_hard"].to_numpy()
        b = result.scores[(bench, "transfer")]["p_hard"].to_numpy()
        assert np.array_equal(a, b)


def test_the_out_of_domain_line_is_the_mean_over_held_out_domains_with_its_interval(result, both):
    (row,) = result.out_of_domain.to_dict("records")
    m = result.metrics.query(f"protocol == '{LODO}'")
    clf = m[m.router == "classifier"]
    assert row["n_domains"] == 3 and row["domains"] == "arena-bench-v1,gsm8k,mmlu"
    assert row["apgr"] == pytest.approx(clf["apgr"].mean())
    assert row["cpt50"] == pytest.approx(clf["cpt50"].mean())
    assert row["random_apgr"] == pytest.approx(m[m.router == "random"]["apgr"].mean())
    assert row["n"] == clf["n"].sum()
    assert row["apgr_lo"] < row["apgr"] < row["apgr_hi"]
    # the mean's interval is narrower than the widest domain's: the domains average out
    assert row["apgr_hi"] - row["apgr_lo"] < (clf["apgr_hi"] - clf["apgr_lo"]).max()
    # every per-domain row is the metrics module on its own held-out scores
    q = both.quality_matrix([WEAK, STRONG]).set_axis(both.requests["request_id"])
    s = result.scores[("gsm8k", LODO)]
    qq = q.loc[s["request_id"]].to_numpy()
    want = routing_metrics(s["p_hard"].to_numpy(), qq[:, 0], qq[:, 1])["apgr"]
    assert clf.loc[clf.benchmark == "gsm8k", "apgr"].item() == want
    j = result.to_json()["out_of_domain"]
    assert j["apgr_ci"] == [row["apgr_lo"], row["apgr_hi"]]
    assert j["domains"] == ["arena-bench-v1", "gsm8k", "mmlu"]


def test_leave_one_domain_out_is_seeded(both, estimator, result):
    again = evaluate_classifier(
        both, weak=WEAK, strong=STRONG, estimator=estimator, protocols=[LODO],
        n_splits=3, seed=3, n_bootstrap=60,
    )  # fmt: skip
    assert again.out_of_domain.equals(result.out_of_domain)
    other = evaluate_classifier(
        both, weak=WEAK, strong=STRONG, estimator=estimator, protocols=[LODO],
        n_splits=3, seed=4, n_bootstrap=60,
    )  # fmt: skip
    assert other.out_of_domain["apgr_lo"].item() != result.out_of_domain["apgr_lo"].item()


def test_no_out_of_domain_summary_without_the_protocol(small_trace, estimator):
    r = evaluate_classifier(
        small_trace, weak=WEAK, strong=STRONG, estimator=estimator, protocols=["transfer"],
        n_splits=3, n_bootstrap=0,
    )  # fmt: skip
    assert r.out_of_domain.empty and r.to_json()["out_of_domain"] is None


def test_one_source_only_is_refused_naming_it(arena_trace, estimator):
    with pytest.raises(ClassifierError) as e:
        evaluate_classifier(
            arena_trace, weak=WEAK, strong=STRONG, estimator=estimator, protocols=[LODO]
        )
    msg = str(e.value)
    assert msg.startswith(f"{arena_trace.where}: leave-one-domain-out needs at least two")
    assert "it has 1: arena-bench-v1" in msg and "Give several traces" in msg


def test_a_trace_without_the_pair_is_refused_naming_the_trace_and_its_models(
    small_trace, arena_trace
):
    with pytest.raises(ClassifierError) as e:
        domain_trace([small_trace, arena_trace], weak="claude-1", strong=STRONG)
    msg = str(e.value)
    assert msg.startswith(f"{small_trace.where}: no outcomes for model 'claude-1'")
    assert "models with outcomes: gpt-4-1106-preview, mistralai/Mixtral-8x7B" in msg
    with pytest.raises(ClassifierError, match="at least one trace"):
        domain_trace([], weak=WEAK, strong=STRONG)


def test_unknown_protocol_lists_the_three(small_trace):
    with pytest.raises(ClassifierError) as e:
        evaluate_classifier(small_trace, weak=WEAK, strong=STRONG, protocols=["lodo"])
    assert str(e.value) == (
        "unknown protocol 'lodo'; choose from 'cv', 'transfer', 'leave-one-domain-out'"
    )


def test_cli_prints_the_out_of_domain_line_first_and_strict_json(tiny_model, capsys):
    args = ["classifier", "evaluate", str(FIXTURES / "routellm_small"),
            str(FIXTURES / "arena_small"), "--folds", "3", "--embedder", f"static:{tiny_model}",
            "--protocol", LODO, "--bootstrap", "40", "--seed", "2", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "OUT OF DOMAIN (leave-one-domain-out, seed 2, mean over 3 held-out sources: "
        "arena-bench-v1, gsm8k, mmlu): APGR "
    )
    assert "random router" in lines[0]
    assert any(ln.startswith("arena-bench-v1  leave-one-domain-out classifier") for ln in lines)
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ood = out["out_of_domain"]
    assert ood["n_domains"] == 3 and len(ood["apgr_ci"]) == 2
    assert set(out["metrics"]) == {"mmlu", "gsm8k", "arena-bench-v1"}
    assert ood["apgr"] == pytest.approx(
        np.mean([out["metrics"][b][LODO]["apgr"] for b in out["metrics"]])
    )


def test_cli_several_traces_need_a_pair_they_all_have(capsys):
    code = main(["classifier", "evaluate", str(FIXTURES / "routellm_small"),
                 str(FIXTURES / "arena_small"), "--weak", "claude-1", "--strong", STRONG])  # fmt: skip
    assert code != 0
    assert "routellm_small" in (err := capsys.readouterr().err)
    assert "no outcomes for model 'claude-1'" in err
    code = main(["classifier", "evaluate", str(FIXTURES / "arena_small"),
                 str(FIXTURES / "arena_small")])  # fmt: skip
    assert code != 0
    assert "name the weak and the strong model (--weak/--strong)" in capsys.readouterr().err


def test_without_target_shares_no_calibration_fits_and_the_same_metrics(both, estimator, result):
    lean = evaluate_classifier(
        both, weak=WEAK, strong=STRONG, estimator=estimator, protocols=[LODO, "transfer"],
        n_splits=3, seed=3, n_bootstrap=60, target_shares=(),
    )  # fmt: skip
    assert lean.calibration.empty
    assert lean.metrics.equals(result.metrics)
    assert lean.out_of_domain.equals(result.out_of_domain)
