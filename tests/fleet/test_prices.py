"""The price catalog read from the shipped genai-prices snapshot."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from simkit.errors import PriceError
from simkit.fleet.prices import ALIASES, PriceCatalog, load_price_overrides


@pytest.fixture(scope="module")
def catalog():
    return PriceCatalog.load()


def _pair(p):
    return (p.provider, p.catalog_id, p.input_usd_per_mtok, p.output_usd_per_mtok, p.resolved_by)


def test_names_in_our_data_resolve_through_the_catalogs_own_match_rules(catalog):
    assert _pair(catalog.resolve("gpt-4o")) == ("openai", "gpt-4o", 2.5, 10.0, "match")
    assert _pair(catalog.resolve("gpt-4-1106-preview")) == (
        "openai",
        "gpt-4-turbo",
        10.0,
        30.0,
        "match",
    )
    assert _pair(catalog.resolve("claude-3-5-sonnet-20241022")) == (
        "anthropic",
        "claude-3-5-sonnet",
        3.0,
        15.0,
        "match",
    )
    assert _pair(catalog.resolve("mistralai/Mixtral-8x7B-Instruct-v0.1")) == (
        "together",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        0.9,
        0.9,
        "match",
    )
    assert _pair(catalog.resolve("meta-llama/Meta-Llama-3-70B-Instruct")) == (
        "huggingface_novita",
        "meta-llama/Meta-Llama-3-70B-Instruct",
        0.51,
        0.74,
        "match",
    )
    assert _pair(catalog.resolve("llama3-70b-8192", provider="groq")) == (
        "groq",
        "llama3-70b-8192",
        0.59,
        0.79,
        "match",
    )


def test_names_no_rule_matches_resolve_through_the_alias_table(catalog):
    for name in ALIASES:
        assert catalog.find(name) is None, f"{name} is matched by the catalog: drop the alias"
    assert _pair(catalog.resolve("Meta-Llama-3-70B-Instruct")) == (
        "groq",
        "llama3-70b-8192",
        0.59,
        0.79,
        "alias",
    )
    assert _pair(catalog.resolve("claude-1")) == ("anthropic", "claude-v1", 8.0, 24.0, "alias")


def test_unknown_model_error_names_it_and_lists_close_matches(catalog):
    with pytest.raises(
        PriceError, match=r"key 'model': unknown model 'gpt-4oo'; close matches: gpt-4o, "
    ):
        catalog.resolve("gpt-4oo")
    with pytest.raises(PriceError, match=r"unknown provider 'opnai'; close matches: openai"):
        catalog.resolve("gpt-4o", provider="opnai")


def test_price_history_takes_the_price_in_force_at_a_date(catalog):
    name = "global.anthropic.claude-sonnet-5-v1:0"  # aws: 2/10 until 2026-08-31, then 3/15
    assert _pair(catalog.resolve(name, at=date(2026, 8, 31)))[2:4] == (2.0, 10.0)
    assert _pair(catalog.resolve(name, at=date(2026, 9, 1)))[2:4] == (3.0, 15.0)
    assert _pair(catalog.resolve(name))[2:4] == (3.0, 15.0)  # default: the latest


def test_time_of_day_prices_apply_only_when_a_time_is_given(catalog):
    # deepseek-chat: 0.135 / 0.55 standard, 0.27 / 1.10 between 00:30 and 16:30 UTC
    assert _pair(catalog.resolve("deepseek-chat", provider="deepseek"))[2:4] == (0.135, 0.55)
    at = datetime(2026, 1, 1, 12, 0)
    assert _pair(catalog.resolve("deepseek-chat", provider="deepseek", at=at))[2:4] == (0.27, 1.1)


def test_long_context_tier_prices_all_tokens_of_a_long_request(catalog):
    # before 2026-03-13 input 5 -> 10 and output 25 -> 37.5 above 200k input tokens; after: flat
    assert catalog.resolve("claude-opus-4-6").input_tiers == ()
    p = catalog.resolve("claude-opus-4-6", at=date(2026, 3, 1))
    assert p.input_tiers == ((200_000, 10.0),) and p.output_tiers == ((200_000, 37.5),)
    assert p.cost_usd(1000, 100) == pytest.approx((1000 * 5 + 100 * 25) / 1e6)
    assert p.cost_usd(250_000, 100) == pytest.approx((250_000 * 10 + 100 * 37.5) / 1e6)


def test_array_prices_equal_the_per_request_price_on_both_sides_of_a_tier(catalog):
    p = catalog.resolve("claude-opus-4-6", at=date(2026, 3, 1))
    n_in = np.array([1000, 200_000, 200_001, 250_000])
    n_out = np.array([100, 7, 3, 100])
    expected = [p.cost_usd(int(a), int(b)) for a, b in zip(n_in, n_out, strict=True)]
    assert p.cost_usd_many(n_in, n_out).tolist() == expected


def test_user_overrides_from_yaml_win_and_bad_ones_name_the_key(tmp_path, catalog):
    f = tmp_path / "prices.yaml"
    f.write_text(
        "prices:\n  gpt-4o: {input_usd_per_mtok: 1.0, output_usd_per_mtok: 4.0}\n"
        "aliases:\n  my-llama: groq:llama3-70b-8192\n"
    )
    cat = load_price_overrides(f, catalog=catalog)
    assert _pair(cat.resolve("gpt-4o")) == ("override", "gpt-4o", 1.0, 4.0, "override")
    assert _pair(cat.resolve("my-llama"))[:2] == ("groq", "llama3-70b-8192")
    f.write_text("prices:\n  x: {input_usd_per_mtok: -1, output_usd_per_mtok: 4.0}\n")
    with pytest.raises(
        PriceError,
        match=r"prices.yaml, key 'prices.x.input_usd_per_mtok': must be a finite price >= 0, got -1",
    ):
        load_price_overrides(f, catalog=catalog)
    f.write_text("aliases:\n  y: groq:no-such-model\n")
    with pytest.raises(
        PriceError,
        match=r"key 'aliases.y': alias target 'groq:no-such-model' is not in the catalog",
    ):
        load_price_overrides(f, catalog=catalog)


def test_the_issues_default_prices_against_the_catalog(catalog):
    """The issue's defaults (USD per 1M in/out): GPT-4o 2.50/10.00 and Claude 3.5 Sonnet
    3.00/15.00 match; hosted Llama 3 70B 0.59/0.79 is Groq's price (other hosts differ)."""
    assert _pair(catalog.resolve("gpt-4o"))[2:4] == (2.5, 10.0)
    assert _pair(catalog.resolve("claude-3-5-sonnet"))[2:4] == (3.0, 15.0)
    assert _pair(catalog.resolve("llama3-70b-8192", provider="groq"))[2:4] == (0.59, 0.79)
