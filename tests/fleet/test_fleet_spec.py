"""Fleet specs from YAML: the shipped default, presets, and errors that name the key."""

from __future__ import annotations

import pytest

from simkit.errors import PriceError, SpecError
from simkit.fleet import GPU_PRESETS, GpuServer, load_fleet
from simkit.fleet.spec import ApiEndpoint

GOOD_API = {"kind": "api", "model": "gpt-4o", "quality_model": "gpt-4-1106-preview"}
GOOD_GPU = {
    "kind": "gpu",
    "preset": "llama3-70b-a100-tp4",
    "usd_per_gpu_hour": 1.37,
    "quality_model": "m",
}


def test_the_default_fleet_is_three_tiers_cheapest_first_with_the_issues_prices():
    fleet = load_fleet()
    rows = {r["tier"]: r for r in fleet.describe()}
    assert fleet.tier_names == ("selfhosted", "hosted", "frontier")
    assert (rows["frontier"]["input_usd_per_mtok"], rows["frontier"]["output_usd_per_mtok"]) == (
        2.5,
        10.0,
    )
    assert (rows["hosted"]["input_usd_per_mtok"], rows["hosted"]["output_usd_per_mtok"]) == (
        0.59,
        0.79,
    )
    assert rows["selfhosted"]["marginal_usd_per_mtok"] == 0.15
    assert fleet.fixed_usd_per_hour * 730 == pytest.approx(4000.4)  # ~4,000 USD/month of GPUs
    assert fleet.private_tiers == ("selfhosted",)
    assert [t.quality_model for t in fleet.tiers] == [
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "gpt-4-1106-preview",
    ]


def test_presets_carry_the_profile_numbers_and_keys_override_them():
    fleet = load_fleet({"tiers": {"g": {**GOOD_GPU, "max_num_seqs": 64}}})
    gpu = fleet.tiers[0].endpoint
    assert isinstance(gpu, GpuServer)
    assert (gpu.t_floor_s, gpu.x_sat_tokens_per_s, gpu.beta_s_per_ctx_token) == (
        25.6e-3,
        6400.0,
        40e-9,
    )
    assert (
        gpu.max_num_seqs == 64 and gpu.gpus_per_replica == 4 and gpu.preset == "llama3-70b-a100-tp4"
    )
    assert set(GPU_PRESETS) == {
        "llama3-8b-a100-tp1",
        "llama3-8b-h100-tp1",
        "llama3-70b-a100-tp4",
        "llama3-70b-h100-tp4",
        "llama3-70b-h100-tp8",
    }


def test_api_tier_parses_jitter_rate_limits_retries_and_outages():
    spec = {
        **GOOD_API,
        "ttft_s": {"median": 0.4, "sigma": 0.2},
        "rtt_s": 0.05,
        "rate_limit": {"style": "anthropic", "rpm": 50, "input_tpm": 40000, "output_tpm": 8000},
        "retry": {"max_retries": 3},
        "outages": [[10, 20]],
        "price": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 2},
    }
    api = load_fleet({"tiers": {"a": spec}}).tiers[0].endpoint
    assert isinstance(api, ApiEndpoint)
    assert (api.ttft_s.median, api.ttft_s.sigma, api.rtt_s.median, api.rtt_s.sigma) == (
        0.4,
        0.2,
        0.05,
        0.0,
    )
    assert api.rate_limit.buckets() == {
        "requests": (50 / 60, 50.0),
        "input": (40000 / 60, 40000.0),
        "output": (8000 / 60, 8000.0),
    }
    assert api.retry.max_retries == 3 and api.outages == ((10.0, 20.0),) and api.in_outage(15.0)
    assert (api.price.input_usd_per_mtok, api.price.resolved_by) == (1.0, "override")


@pytest.mark.parametrize(
    ("tier", "error", "message"),
    [
        (
            {**GOOD_API, "model": "gpt-4oo"},
            PriceError,
            r"key 'tiers.x.model': unknown model 'gpt-4oo'; close matches: gpt-4o",
        ),
        (
            {**GOOD_API, "price": {"input_usd_per_mtok": -2.5, "output_usd_per_mtok": 10}},
            SpecError,
            r"key 'tiers.x.price.input_usd_per_mtok': must be a finite price >= 0, got -2.5",
        ),
        (
            {**GOOD_GPU, "usd_per_gpu_hour": -1},
            SpecError,
            r"key 'tiers.x.usd_per_gpu_hour': must be a finite number >= 0, got -1",
        ),
        (
            {**GOOD_GPU, "replicas": 0},
            SpecError,
            r"key 'tiers.x.replicas': must be an integer >= 1 \(zero capacity cannot serve anything\), got 0",
        ),
        (
            {**GOOD_GPU, "kv_capacity_tokens": 0},
            SpecError,
            r"key 'tiers.x.kv_capacity_tokens': must be an integer >= 1",
        ),
        (
            {**GOOD_API, "rate_limit": {"rpm": 0}},
            SpecError,
            r"key 'tiers.x.rate_limit.rpm': must be > 0",
        ),
        (
            {**GOOD_API, "rate_limit": {"style": "google"}},
            SpecError,
            r"key 'tiers.x.rate_limit.style': unknown style 'google'; valid styles: anthropic, openai",
        ),
        (
            {**GOOD_API, "rate_limit": {"style": "anthropic", "tpm": 10}},
            SpecError,
            r"key 'tiers.x.rate_limit.tpm'",
        ),
        (
            {**GOOD_API, "error_rate": 1.5},
            SpecError,
            r"key 'tiers.x.error_rate': must be in \[0, 1\), got 1.5",
        ),
        (
            {**GOOD_API, "outages": [[20, 10]]},
            SpecError,
            r"key 'tiers.x.outages\[0\]': expected 0 <= start_s < end_s",
        ),
        (
            {**GOOD_API, "ttft": 0.3},
            SpecError,
            r"key 'tiers.x.ttft': unknown key. valid keys: .*ttft_s",
        ),
        (
            {**GOOD_GPU, "preset": "llama3-405b"},
            SpecError,
            r"key 'tiers.x.preset': unknown preset 'llama3-405b'. valid presets: llama3-70b-a100-tp4",
        ),
        (
            {"kind": "tpu", "quality_model": "m"},
            SpecError,
            r"key 'tiers.x.kind': unknown kind 'tpu'. valid kinds: api, gpu",
        ),
        ({"kind": "api", "model": "gpt-4o"}, SpecError, r"key 'tiers.x.quality_model': missing"),
        (
            {"kind": "gpu", "quality_model": "m", "model": "m"},
            SpecError,
            r"key 'tiers.x.usd_per_gpu_hour': missing",
        ),
    ],
)
def test_bad_tier_specs_name_the_yaml_key(tier, error, message):
    with pytest.raises(error, match=message):
        load_fleet({"tiers": {"x": tier}})


def test_errors_name_the_file_and_duplicate_keys_are_rejected(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(
        "tiers:\n  gpu:\n    kind: gpu\n    preset: llama3-8b-a100-tp1\n    usd_per_gpu_hour: -3\n    quality_model: m\n"
    )
    with pytest.raises(
        SpecError,
        match=r"fleet.yaml, key 'tiers.gpu.usd_per_gpu_hour': must be a finite number >= 0, got -3",
    ):
        load_fleet(f)
    f.write_text(
        "tiers:\n  a: {kind: api, model: gpt-4o, quality_model: m}\n  a: {kind: api, model: gpt-4o, quality_model: m}\n"
    )
    with pytest.raises(SpecError, match=r"fleet.yaml: not valid YAML .*duplicate key 'a'"):
        load_fleet(f)
    with pytest.raises(SpecError, match=r"expected a mapping of tier name"):
        load_fleet({"tiers": []})
