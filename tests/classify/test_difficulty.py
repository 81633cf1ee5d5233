"""simkit.classify.difficulty: a Rasch model of every model's outcomes, and pair labels."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.classify.difficulty import irt_difficulty, irt_pair_labels
from simkit.errors import ClassifierError
from simkit.evaluation import evaluate_classifier

from .conftest import FIXTURES, STRONG, WEAK


def _simulated(n_prompts: int, abilities: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.5, n_prompts)
    p = 1.0 / (1.0 + np.exp(-(abilities[None, :] - difficulty[:, None])))
    return (rng.random(p.shape) < p).astype(float), difficulty


def test_recovers_the_order_of_abilities_and_difficulties_it_was_simulated_with():
    abilities = np.linspace(-2.0, 2.0, 15)  # as many models as Arena-Bench-v1
    q, difficulty = _simulated(400, abilities, seed=1)
    q[np.random.default_rng(2).random(q.shape) < 0.1] = np.nan  # missing outcomes
    fit = irt_difficulty(q, l2=0.05)
    assert fit.converged and fit.n_iter < 200
    # the abilities up to scale (joint maximum likelihood with 15 models per prompt stretches
    # the logit scale, a known bias that leaves the ranking of prompts intact)
    assert np.corrcoef(fit.ability, abilities)[0, 1] > 0.98
    assert np.corrcoef(fit.difficulty, difficulty)[0, 1] > 0.8  # 15 noisy outcomes each
    # the likelihood sees ability - difficulty only: the prior centres both together
    assert abs(fit.ability.sum() + fit.difficulty.sum()) < 1e-6


def test_a_prompt_more_models_fail_is_harder_whichever_models_they_are():
    q = np.array([[0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1.0]])
    fit = irt_difficulty(q)
    d = fit.difficulty
    assert d[0] > d[4] > d[1] > d[2]
    # Rasch: the number solved is sufficient, so the weakest or the strongest failing is
    # the same evidence of difficulty
    assert d[1] == pytest.approx(d[3])
    assert np.isfinite(fit.difficulty).all()  # the prior keeps all-fail / all-pass finite
    again = irt_difficulty(q)
    assert np.array_equal(fit.difficulty, again.difficulty)  # deterministic


def test_pair_labels_shrink_observed_outcomes_towards_the_rasch_expectation():
    q, _ = _simulated(200, np.array([-1.0, 0.0, 1.0, 2.0]), seed=3)
    fit = irt_difficulty(q)
    lab = irt_pair_labels(q, (0, 3), shrinkage=0.25)
    want = 0.75 * q[:, [0, 3]] + 0.25 * fit.expected_quality()[:, [0, 3]]
    assert np.allclose(lab, want)
    assert np.array_equal(irt_pair_labels(q, (0, 3), shrinkage=0.0), q[:, [0, 3]])
    q[5, 0] = np.nan
    assert np.isnan(irt_pair_labels(q, (0, 3))[5, 0])


@pytest.mark.parametrize(
    ("quality", "kwargs", "message"),
    [
        (np.zeros(4), {}, "needs a quality matrix (n_prompts, >= 2 models), got shape (4,)"),
        (np.array([[0.2, 1.5]]), {}, "row 1, model column 2: 1.5 is outside [0, 1]"),
        (np.zeros((3, 2)), {"l2": 0.0}, "l2 must be > 0, got 0.0"),
    ],
)
def test_bad_input_is_refused(quality, kwargs, message):
    with pytest.raises(ClassifierError) as e:
        irt_difficulty(quality, **kwargs)
    assert message in str(e.value)


def test_bad_shrinkage_and_label_are_refused(small_trace):
    with pytest.raises(ClassifierError, match=r"shrinkage must lie in \[0, 1\), got 1.0"):
        irt_pair_labels(np.zeros((3, 2)), (0, 1), shrinkage=1.0)
    with pytest.raises(ClassifierError, match="unknown label 'rasch'; choose from 'gain', 'irt'"):
        evaluate_classifier(small_trace, weak=WEAK, strong=STRONG, label="rasch")


def test_irt_labels_train_on_every_arena_model_and_metrics_stay_on_observed_outcomes(
    tiny_model, static_cache, small_trace
):
    from simkit.classify.embed import StaticEmbedder
    from simkit.classify.model import ComplexityClassifier
    from simkit.evaluation import domain_trace, routing_metrics
    from simkit.trace import load_trace

    both = domain_trace(
        [small_trace, load_trace(FIXTURES / "arena_small")], weak=WEAK, strong=STRONG
    )
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    kw = dict(weak=WEAK, strong=STRONG, estimator=est, protocols=["leave-one-domain-out"],
              n_bootstrap=0)  # fmt: skip
    gain = evaluate_classifier(both, label="gain", **kw)
    irt = evaluate_classifier(both, label="irt", irt_shrinkage=0.2, **kw)
    a = gain.scores[("mmlu", "leave-one-domain-out")]["p_hard"].to_numpy()
    b = irt.scores[("mmlu", "leave-one-domain-out")]["p_hard"].to_numpy()
    assert not np.array_equal(a, b)  # other Arena labels in training, another model
    # MMLU and GSM8K have the pair only: held out with Arena out of training, nothing changes
    mm_only = evaluate_classifier(
        both.subset(both.requests["source"].isin(["mmlu", "gsm8k"]).to_numpy()),
        label="irt", **kw,
    )  # fmt: skip
    plain = evaluate_classifier(
        both.subset(both.requests["source"].isin(["mmlu", "gsm8k"]).to_numpy()),
        label="gain", **kw,
    )  # fmt: skip
    assert mm_only.metrics.equals(plain.metrics)
    s = irt.scores[("arena-bench-v1", "leave-one-domain-out")]
    qq = both.quality_matrix([WEAK, STRONG]).set_axis(both.requests["request_id"])
    qq = qq.loc[s["request_id"]].to_numpy()
    row = irt.metrics.query("benchmark == 'arena-bench-v1' and router == 'classifier'")
    assert row["apgr"].item() == routing_metrics(s["p_hard"].to_numpy(), qq[:, 0], qq[:, 1])["apgr"]
    assert len(irt.out_of_domain) == 1
