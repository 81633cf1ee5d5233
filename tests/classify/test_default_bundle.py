"""The shipped default bundle is what ``scripts/train_default_classifier.py`` writes from the
shipped traces: its training data, its card (rebuilt from the bundle's own stored metrics) and
the out-of-domain rows shown first."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit.classify.bundle import load_bundle, training_data_hash
from simkit.evaluation import EvaluationResult, domain_trace
from simkit.trace import load_trace

from .conftest import STRONG, WEAK

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "classifiers" / "routellm-static-minilm"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "train_default_classifier", REPO / "scripts" / "train_default_classifier.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_bundle(SHIPPED).manifest


def test_trained_on_every_shipped_trace_with_outcomes_of_the_pair(manifest, script):
    traces = [load_trace(REPO / "traces" / name) for name in script.TRACES]
    joined = domain_trace(traces, weak=WEAK, strong=STRONG)
    q = joined.quality_matrix([WEAK, STRONG]).to_numpy(dtype=float)
    ids = joined.requests["request_id"].astype(str).tolist()
    prompts = [str(p) for p in joined.requests["prompt"]]
    training = manifest["training"]
    assert training["data_sha256"] == training_data_hash(ids, prompts, q)
    assert training["trace"] == "traces/routellm_azure + traces/arena_bench_v1"
    usable = np.isfinite(q).all(axis=1)
    assert training["n_requests"] == int(usable.sum()) == 14_037 + 1_307 + 293
    assert training["n_excluded_missing_outcome"] == 7  # Arena prompts without both grades
    assert (training["weak_model"], training["strong_model"]) == (WEAK, STRONG)
    assert manifest["embedder"]["kind"] == "static"


def _result(metrics: dict) -> EvaluationResult:
    """The evaluation as the script had it, rebuilt from the bundle's stored JSON."""
    rows = []
    for bench, protocols in metrics["metrics"].items():
        for protocol, vals in protocols.items():
            clf = {k: v for k, v in vals.items() if k != "random" and not k.endswith("_ci")}
            for k, v in vals.items():
                if k.endswith("_ci"):
                    clf[f"{k[:-3]}_lo"], clf[f"{k[:-3]}_hi"] = v
            rows.append({"benchmark": bench, "protocol": protocol, "router": "classifier", **clf})
            rows.append({"benchmark": bench, "protocol": protocol, "router": "random",
                         **vals["random"]})  # fmt: skip
    ood = dict(metrics["out_of_domain"])
    for k in [k for k in ood if k.endswith("_ci")]:
        ood[f"{k[:-3]}_lo"], ood[f"{k[:-3]}_hi"] = ood.pop(k)
    ood["domains"] = ",".join(ood["domains"])
    return EvaluationResult(
        metrics=pd.DataFrame(rows),
        calibration=pd.DataFrame(metrics["calibration"]),
        scores={},
        published=pd.DataFrame(metrics["published"]),
        out_of_domain=pd.DataFrame([ood]),
    )


def test_card_is_what_the_script_writes_from_the_stored_metrics(manifest, script):
    training = manifest["training"]
    counts = {"mmlu": 14_037, "gsm8k": 1_307, "arena-bench-v1": 293}
    text = script.card(
        _result(manifest["metrics"]), training["n_requests"], training["data_sha256"],
        WEAK, STRONG, counts,
    )  # fmt: skip
    assert text == (SHIPPED / "CARD.md").read_text("utf-8")


def test_card_shows_the_out_of_domain_quality_first(manifest):
    card = (SHIPPED / "CARD.md").read_text("utf-8")
    ood = manifest["metrics"]["out_of_domain"]
    assert ood["domains"] == ["arena-bench-v1", "gsm8k", "mmlu"] and ood["n_domains"] == 3
    first = card.index("## Quality out of domain first")
    assert first < card.index("## Data") < card.index("| source | protocol |")
    assert f"**APGR {ood['apgr']:.3f} [{ood['apgr_ci'][0]:.3f}, {ood['apgr_ci'][1]:.3f}]**" in card
    table = [line for line in card.splitlines() if "| classifier |" in line]
    protocols = [line.split(" | ")[1] for line in table]
    assert protocols == ["leave-one-domain-out"] * 3 + ["cv"] * 3
    mmlu_cv = manifest["metrics"]["metrics"]["mmlu"]["cv"]["apgr"]
    assert f"| MMLU | cv | classifier | {mmlu_cv:.4f} [" in card
    assert json.loads((SHIPPED / "bundle.json").read_text())["default_threshold"] == "share_0.20"
