"""The endpoints file (validated, errors naming the key, keys only by variable name, prices
from the catalog or overridden) and the graders (missing, never zero)."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import pytest

from simkit.errors import PriceError, SpecError
from simkit.live.answers import Reference
from simkit.live.endpoints import load_endpoints, resolve_api_key, select_endpoints
from simkit.live.graders import ExactLetter, FinalNumber, JudgeGrader, grade_with_key

GOOD = """\
endpoints:
  llama-local:
    base_url: http://127.0.0.1:8000/v1
    model: meta-llama/Meta-Llama-3-8B-Instruct
    usd_per_gpu_hour: 1.37
    gpus: 2
    context_window: 8192
  gpt-4o:
    base_url: https://api.openai.com/v1
    model: gpt-4o
    provider: openai
    api_key_env: OPENAI_API_KEY
    rpm: 500
    tpm: 30000
    max_output_tokens: 256
  together-70b:
    base_url: https://api.together.xyz/v1
    model: meta-llama/Llama-3.3-70B-Instruct-Turbo
    api_key_env: TOGETHER_API_KEY
    price: {input_usd_per_mtok: 0.88, output_usd_per_mtok: 0.88}
"""


def write(tmp_path, text):
    p = tmp_path / "endpoints.yaml"
    p.write_text(text)
    return p


def test_three_kinds_of_endpoint_load_with_their_prices(tmp_path):
    eps = load_endpoints(write(tmp_path, GOOD))
    assert list(eps) == ["llama-local", "gpt-4o", "together-70b"]
    local = eps["llama-local"]
    assert local.self_hosted and local.usd_per_gpu_hour == 1.37 and local.gpus == 2
    assert (local.price.input_usd_per_mtok, local.price.output_usd_per_mtok) == (0.0, 0.0)
    gpt = eps["gpt-4o"]
    assert (gpt.price.input_usd_per_mtok, gpt.price.output_usd_per_mtok) == (2.5, 10.0)
    assert gpt.price.resolved_by == "match" and gpt.rpm == 500 and gpt.max_output_tokens == 256
    assert eps["together-70b"].price.input_usd_per_mtok == 0.88
    assert gpt.describe()["api_key_env"] == "OPENAI_API_KEY"
    # the worst case reserves 1.25x the local prompt count + 8, and every output token
    assert gpt.worst_case_usd(100) == pytest.approx((133 * 2.5 + 256 * 10.0) * 1e-6)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            GOOD.replace("  gpt-4o:\n", "  llama-local:\n", 1),
            SpecError,
            "duplicate key 'llama-local'",
        ),
        (
            GOOD.replace(
                "model: meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "model: meta-llama/Meta-Llama-3-8B-Instruct",
            ).replace("https://api.together.xyz/v1", "http://127.0.0.1:8000/v1"),
            SpecError,
            "key 'endpoints.together-70b.model': model 'meta-llama/Meta-Llama-3-8B-Instruct' at "
            "http://127.0.0.1:8000/v1 is already named by endpoint 'llama-local'",
        ),
        (
            GOOD.replace("api_key_env: OPENAI_API_KEY", "api_key_env: sk-proj-abc123"),
            SpecError,
            "key 'endpoints.gpt-4o.api_key_env': expected the name of an environment variable",
        ),
        (
            GOOD.replace("rpm: 500", "rpm: -5"),
            SpecError,
            "key 'endpoints.gpt-4o.rpm': expected a number > 0, got -5",
        ),
        (
            GOOD.replace("gpus: 2", "gpus: 1.5"),
            SpecError,
            "key 'endpoints.llama-local.gpus': expected an integer >= 1",
        ),
        (
            GOOD.replace("    rpm: 500", "    rpn: 500"),
            SpecError,
            "key 'endpoints.gpt-4o.rpn': unknown key",
        ),
        (
            GOOD.replace("base_url: https://api.openai.com/v1", "base_url: api.openai.com"),
            SpecError,
            "key 'endpoints.gpt-4o.base_url': expected http(s)://host[:port]/v1",
        ),
        (
            GOOD.replace("model: gpt-4o", "model: gpt-4o-nonexistent-xyz"),
            PriceError,
            "key 'endpoints.gpt-4o.model': unknown model 'gpt-4o-nonexistent-xyz'",
        ),
        (
            GOOD.replace(
                "{input_usd_per_mtok: 0.88, output_usd_per_mtok: 0.88}",
                "{input_usd_per_mtok: 0.88}",
            ),
            SpecError,
            "key 'endpoints.together-70b.price': expected {input_usd_per_mtok: X, output_usd_per_mtok: Y}",
        ),
        ("endpoints: []\n", SpecError, "key 'endpoints': expected a mapping of name -> settings"),
        ("servers: {}\n", SpecError, "key 'servers': expected one top-level key 'endpoints'"),
    ],
)
def test_bad_endpoints_file_names_the_key(tmp_path, text, error, message):
    with pytest.raises(error) as info:
        load_endpoints(write(tmp_path, text))
    assert message in str(info.value)
    assert str(tmp_path / "endpoints.yaml") in str(info.value)


def test_select_endpoints_refuses_unknown_and_repeated_names(tmp_path):
    eps = load_endpoints(write(tmp_path, GOOD))
    assert [e.name for e in select_endpoints(eps, ["gpt-4o", "llama-local"])] == [
        "gpt-4o",
        "llama-local",
    ]
    with pytest.raises(
        SpecError,
        match="--models, key 'gpt-5': no such endpoint.*known endpoints: llama-local, gpt-4o",
    ):
        select_endpoints(eps, ["gpt-5"])
    with pytest.raises(SpecError, match="key 'gpt-4o': named twice"):
        select_endpoints(eps, ["gpt-4o", "gpt-4o"])


def test_api_key_comes_from_the_named_variable_and_is_never_in_the_error(tmp_path):
    eps = load_endpoints(write(tmp_path, GOOD))
    assert resolve_api_key(eps["gpt-4o"], {"OPENAI_API_KEY": "sk-secret"}) == "sk-secret"
    assert resolve_api_key(eps["llama-local"], {}) == "EMPTY"
    with pytest.raises(SpecError) as info:
        resolve_api_key(eps["gpt-4o"], {"OPENAI_API_KEY": ""})
    assert "environment variable OPENAI_API_KEY is not set" in str(info.value)
    assert "endpoint 'gpt-4o'" in str(info.value)


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("The answer is (C).", "C"),
        ("ANSWER: B", "B"),
        ("(B) because it is larger", "B"),
        ("I think the answer is A, no wait, the answer is D.", "D"),
        ("C. Paris is the capital", "C"),
        ("B", "B"),
    ],
)
def test_exact_letter_finds_the_chosen_letter(answer, letter):
    assert ExactLetter.extract(answer) == letter
    ref = Reference("letter", letter)
    assert ExactLetter().grade(answer, ref).raw_score == 1.0
    other = Reference("letter", "A" if letter != "A" else "B")
    assert ExactLetter().grade(answer, other).raw_score == 0.0


def test_unparsable_or_unkeyed_answers_are_missing_never_zero():
    assert ExactLetter.extract("I think the answer is a good question") is None
    g = ExactLetter().grade("I would rather not say.", Reference("letter", "A"))
    assert g.raw_score is None and math.isnan(g.quality) and "no answer letter" in g.reason
    g = FinalNumber().grade("I do not know.", Reference("number", "18"))
    assert g.raw_score is None and "no number" in g.reason
    g = grade_with_key("The answer is B.", None)
    assert g.raw_score is None and math.isnan(g.quality)


@pytest.mark.parametrize(
    ("answer", "gold", "right"),
    [
        ("She makes 9 * 2 = $18 every day.\n#### 18", "18", True),
        ("The total is 1,250 dollars.", "1250", True),
        ("#### 17 ... though 18 is tempting", "18", False),
        ("so the answer is -2.5", "-2.5", True),
        ("The answer is 19.", "18", False),
    ],
)
def test_final_number_compares_the_last_number(answer, gold, right):
    assert FinalNumber().grade(answer, Reference("number", gold)).raw_score == float(right)


@pytest.mark.parametrize(
    ("reply", "score", "reason"),
    [
        ("Helpful and accurate. Rating: [[8]]", 8.0, ""),
        ("Rating: [[7.5]]", 7.5, ""),
        ("Decent. Rating: [6]", 6.0, ""),
        ("I cannot rate this.", None, "no [[rating]]"),
        ("Rating: [[11]]", None, "outside 1-10"),
    ],
)
def test_judge_parses_mt_bench_ratings(reply, score, reason):
    g = JudgeGrader(endpoint="j").parse(reply)
    assert g.raw_score == score and reason in g.reason
    assert (g.scale_min, g.scale_max) == (1.0, 10.0)
    if score is not None:
        assert g.quality == pytest.approx((score - 1) / 9)


def test_judge_prompt_is_mt_bench_single_v1():
    msgs = JudgeGrader(endpoint="j").messages("What is 2+2?", "4")
    assert msgs[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert msgs[1]["content"].startswith("[Instruction]\nPlease act as an impartial judge")
    assert (
        "[Question]\nWhat is 2+2?\n\n[The Start of Assistant's Answer]\n4\n" in msgs[1]["content"]
    )


def test_cli_record_with_duplicate_request_ids_is_refused_naming_the_row(small_trace, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simkit.trace import save_trace

    d = save_trace(small_trace, tmp_path / "t")
    req = pq.read_table(d / "requests.parquet").to_pandas()
    req.loc[5, "request_id"] = req.loc[4, "request_id"]
    pq.write_table(pa.Table.from_pandas(req, preserve_index=False), d / "requests.parquet")
    # a trace written by another tool: checksums that match its (bad) tables
    manifest = json.loads((d / "trace.json").read_text())
    digest = hashlib.sha256((d / "requests.parquet").read_bytes()).hexdigest()
    manifest["tables"]["requests.parquet"] = digest
    (d / "trace.json").write_text(json.dumps(manifest))
    (tmp_path / "e.yaml").write_text(GOOD)
    cmd = [
        sys.executable,
        "-m",
        "simkit.cli",
        "live",
        "record",
        str(d),
        "--endpoints",
        str(tmp_path / "e.yaml"),
        "--models",
        "llama-local",
        "--budget-usd",
        "1",
        "--out",
        str(tmp_path / "o"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "row 6, column 'request_id': duplicate id" in r.stderr
    assert not (tmp_path / "o").exists()


def test_cli_record_json_summary_is_strict_json(small_trace, stub, tmp_path):
    import yaml

    from simkit.trace import save_trace

    from .conftest import stub_endpoints

    d = save_trace(small_trace, tmp_path / "t")
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(stub_endpoints(stub.base_url)))
    cmd = [
        sys.executable,
        "-m",
        "simkit.cli",
        "live",
        "record",
        str(d),
        "--endpoints",
        str(tmp_path / "e.yaml"),
        "--models",
        "oracle,dunce",
        "--sample",
        "4",
        "--budget-usd",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--json",
        "--no-progress",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(c))
    assert summary["recorded"] == 8 and summary["by_status"]["ok"] == 8
    assert summary["stopped"] == "done" and 0 < summary["spent_usd"] <= 1
