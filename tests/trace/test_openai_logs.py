"""OpenAI-style chat-completion logs: request + response bodies, usage, failures explicit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from simkit.errors import TraceError
from simkit.trace.loaders.openai_logs import load_openai_log


@pytest.fixture(scope="module")
def log_records(fixtures):
    path = fixtures / "logs" / "chat_log.jsonl"
    return path, [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_gateway_log_becomes_requests_and_outcomes(log_records, expected):
    path, records = log_records
    t = load_openai_log(path, sort=True)
    e = expected["logs"]
    assert t.n_requests == e["calls"]
    assert len(t.outcomes) == e["calls"] - e["failed"]  # the 429 keeps its request, no outcome
    assert t.meta["failed_calls"] == {"count": 1, "first_line": 8}
    assert t.meta["non_text_parts"] == {"image_url": 1}
    assert t.meta["sorted"] == "calls sorted by start time; 1 were out of order"
    first = records[0]
    row = t.requests.set_index("request_id").loc[first["response"]["id"]]
    # the prompt is the text the router scores: the user turn as written, no system prompt
    assert row["prompt"] == first["request"]["messages"][1]["content"]
    assert row["prompt_tokens"] == first["response"]["usage"]["prompt_tokens"]
    assert row["max_tokens"] == 1024
    out = t.outcomes.set_index("request_id").loc[first["response"]["id"]]
    assert out["model"] == first["response"]["model"]
    assert out["output_tokens"] == first["response"]["usage"]["completion_tokens"]
    assert out["latency_s"] == pytest.approx(first["latency_ms"] / 1000)
    assert out["cost_usd"] == first["cost_usd"]
    assert np.isnan(out["quality"])  # a log holds no grades
    assert "batch-6" in set(t.requests["request_id"])  # Batch-shaped line: custom_id
    assert t.has_tag("sensitive").sum() == 1
    # the call without usage has unknown counts (no tokenizer asked for)
    no_usage = records[11]["response"]["id"]
    assert pd.isna(t.requests.set_index("request_id").loc[no_usage, "prompt_tokens"])


def test_tokenizer_fills_counts_only_where_usage_is_missing(log_records):
    path, records = log_records
    plain = load_openai_log(path, sort=True)
    counted = load_openai_log(path, sort=True, tokenizer="cl100k_base")
    assert counted.meta["tokenizer"]["prompts_counted"] == 2  # no usage + the failed call
    assert counted.meta["tokenizer"]["outputs_counted"] == 1
    known = plain.requests["prompt_tokens"].notna()
    assert plain.requests.loc[known, "prompt_tokens"].equals(
        counted.requests.loc[known, "prompt_tokens"]
    )
    assert counted.requests["prompt_tokens"].notna().all()


def test_arrivals_are_seconds_from_the_earliest_call(log_records):
    path, records = log_records
    t = load_openai_log(path, sort=True)
    stamps = [pd.Timestamp(r["timestamp"]) for r in records if "timestamp" in r]
    assert t.requests["arrival_s"].iloc[0] == 0.0
    assert t.requests["arrival_s"].iloc[-1] == (max(stamps) - min(stamps)).total_seconds()


def test_out_of_order_calls_are_an_error_by_default(log_records):
    path, _ = log_records
    with pytest.raises(TraceError) as err:
        load_openai_log(path)
    assert str(err.value) == (
        f"{path}, line 6, column 'timestamp': calls must be in start-time order: this call "
        "started 0.573245 s before the previous line's (1 such lines). Pass sort=True (simkit "
        "trace convert --sort) to sort calls by start time"
    )


def _log(tmp_path, *records, raw_tail=""):
    f = tmp_path / "gateway.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records) + raw_tail, "utf-8")
    return f


def _call(i, **extra):
    return {
        "timestamp": 1700000000 + i,
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"q{i}"}]},
        "response": {
            "id": f"c{i}",
            "created": 1700000000 + i,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"message": {"role": "assistant", "content": "a"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        },
        **extra,
    }


def test_truncated_last_line_names_the_line(tmp_path):
    f = _log(tmp_path, _call(0), _call(1), raw_tail='{"timestamp": 1700000002, "request": {"mo')
    with pytest.raises(TraceError) as err:
        load_openai_log(f)
    assert str(err.value).startswith(f"{f}, line 3: truncated JSON (")
    assert "The last line is cut off: was the log still being written?" in str(err.value)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"response": _call(0)["response"]}, "line 2, column 'request': no request body"),
        (
            {**_call(1), "request": {"model": "m", "messages": []}},
            "line 2, column 'request.messages': expected a non-empty list of messages",
        ),
        (
            {
                **_call(1),
                "request": {"messages": [{"role": "user", "content": "x"}]},
                "response": None,
            },
            "line 2, column 'model': no model in the response or the request",
        ),
        (
            {**_call(1), "timestamp": "tuesday"},
            "line 2, column 'timestamp': expected epoch seconds or an ISO 8601 time, got 'tuesday'",
        ),
        ({**_call(1), "latency_ms": -4}, "line 2, column 'latency_ms': expected a number >= 0"),
        (
            {**_call(1), "request_id": "c0"},
            "line 2, column 'id': duplicate request id 'c0' (first on line 1)",
        ),
        (
            {**_call(1), "response": {**_call(1)["response"], "usage": {"completion_tokens": -1}}},
            "line 2, column 'response.usage.completion_tokens': expected a count >= 0, got -1",
        ),
        (
            {**_call(1), "request": {"model": "m", "messages": [{"role": "user", "content": 5}]}},
            "line 2, column 'request.messages[0].content': message content must be a string, "
            "null or a list of parts, got int",
        ),
    ],
)
def test_bad_lines_name_line_and_key(tmp_path, record, message):
    f = _log(tmp_path, {**_call(0), "request_id": "c0"}, record)
    with pytest.raises(TraceError) as err:
        load_openai_log(f)
    assert str(err.value).startswith(f"{f}, {message}")


def test_non_object_line_and_empty_file(tmp_path):
    f = _log(tmp_path, _call(0), [1, 2])
    with pytest.raises(TraceError, match=r"line 2: expected a JSON object, got list"):
        load_openai_log(f)
    f.write_text("\n\n")
    with pytest.raises(TraceError, match="gateway.jsonl: file is empty"):
        load_openai_log(f)


def test_prompt_tokens_are_counted_over_the_whole_conversation(tmp_path):
    """The scored prompt is the last user text, but a filled-in token count covers every turn
    the answering model reads (here the system prompt and the earlier exchange)."""
    from simkit.trace.messages import conversation_text
    from simkit.trace.tokens import count_tokens

    messages = [
        {"role": "system", "content": "Answer in French, briefly."},
        {"role": "user", "content": "What is the capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
        {"role": "user", "content": "And of Spain?"},
    ]
    call = _call(0)
    call["request"] = {"model": "gpt-4o", "messages": messages}
    call["response"] = {**call["response"], "usage": None}
    t = load_openai_log(_log(tmp_path, call), tokenizer="cl100k_base")
    row = t.requests.iloc[0]
    assert row["prompt"] == "And of Spain?"
    whole = conversation_text(messages)
    assert whole.startswith("system: Answer in French, briefly.\n\nuser: What is the capital")
    assert row["prompt_tokens"] == count_tokens([whole], tokenizer="cl100k_base").iloc[0]
    assert row["prompt_tokens"] > count_tokens(["And of Spain?"], tokenizer="cl100k_base").iloc[0]


def test_a_log_line_without_user_text_names_the_line(tmp_path):
    call = _call(1)
    call["request"] = {"model": "m", "messages": [{"role": "system", "content": "Be brief."}]}
    with pytest.raises(TraceError) as err:
        load_openai_log(_log(tmp_path, _call(0), call))
    assert str(err.value) == (
        f"{tmp_path / 'gateway.jsonl'}, line 2, column 'request.messages': no user message with "
        "text among 1 messages (the text scored is the last user message that has text)"
    )
