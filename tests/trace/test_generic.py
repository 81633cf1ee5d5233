"""Team logs through a column mapping: CSV, JSONL and Parquet give the same trace; bad rows
raise (or are dropped with a report when asked)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.trace.loaders.azure import load_azure
from simkit.trace.loaders.generic import DroppedRowsWarning, load_log

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MAPPING = {
    "request_id": "call_id",
    "arrival": "started_at",
    "prompt": "user_prompt",
    "model": "model",
    "outcome": {
        "quality": "correct",
        "output_tokens": "completion_words",
        "latency_ms": "latency_ms",
    },
    "flags": {"sensitive": "pii"},
}


@pytest.fixture(scope="module")
def team_log(fixtures):
    return fixtures / "logs" / "team_log.csv"


def test_team_csv_log_in_long_form(team_log, fixtures):
    t = load_log(team_log, MAPPING, time_unit="datetime")
    raw = pd.read_csv(team_log, dtype=str)
    assert t.n_requests == len(raw) == 40
    assert t.requests["request_id"].tolist() == raw["call_id"].tolist()
    # the same 7-digit timestamps as the Azure loader reads them (to the microsecond)
    azure = load_azure(fixtures / "azure2023" / "AzureLLMInferenceTrace_conv.csv")
    expect = azure.requests["arrival_s"].to_numpy()[:40]
    assert np.abs(t.requests["arrival_s"].to_numpy() - expect).max() < 2e-7
    assert t.requests["tags"].tolist() == ["sensitive" if v == "yes" else "" for v in raw["pii"]]
    q = t.quality_matrix([STRONG, WEAK])
    strong_rows = (raw["model"] == STRONG).to_numpy()
    assert (
        q[STRONG].to_numpy()[strong_rows].tolist()
        == raw["correct"][strong_rows].astype(float).tolist()
    )
    assert q[STRONG].isna().to_numpy()[~strong_rows].all()  # no call to it: no outcome
    assert t.meta["time_origin"] == "2023-11-16T18:15:46.680590+00:00"
    latency = t.outcomes.set_index("request_id")["latency_s"]
    assert latency.loc["call-1"] == int(raw["latency_ms"].iloc[0]) / 1000


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_give_the_same_trace_as_csv(team_log, tmp_path, fmt):
    csv_trace = load_log(team_log, MAPPING, time_unit="datetime")
    df = pd.read_csv(team_log, dtype=str, keep_default_na=False)
    df["correct"] = df["correct"].astype(int)
    df["completion_words"] = df["completion_words"].astype(int)
    path = tmp_path / f"log.{fmt}"
    if fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    other = load_log(path, MAPPING, time_unit="datetime")
    pd.testing.assert_frame_equal(other.requests, csv_trace.requests)
    pd.testing.assert_frame_equal(other.outcomes, csv_trace.outcomes)


def test_wide_form_outcomes_and_milliseconds(tmp_path):
    f = tmp_path / "evals.csv"
    f.write_text(
        "ts_ms,q,judge,n_in\n1700000000000,1,9,10\n1700000000250,0,,12\n1700000001000,,3,\n"
    )
    mapping = {
        "arrival": "ts_ms",
        "prompt_tokens": "n_in",
        "models": {"a": {"quality": "q"}, "b": {"raw_score": "judge", "scale": [1, 10]}},
    }
    t = load_log(f, mapping, time_unit="ms")
    assert t.requests["arrival_s"].tolist() == [0.0, 0.25, 1.0]
    assert t.requests["request_id"].tolist() == ["evals/1", "evals/2", "evals/3"]
    assert t.requests["prompt_tokens"].tolist() == [10, 12, pd.NA]
    q = t.quality_matrix(["a", "b"])
    assert q["a"].tolist()[:2] == [1.0, 0.0] and np.isnan(q["a"].iloc[2])
    assert q["b"].tolist()[0] == pytest.approx(8 / 9) and np.isnan(q["b"].iloc[1])
    assert q["b"].iloc[2] == pytest.approx(2 / 9)
    # a missing value is a missing outcome, never a zero
    assert len(t.outcomes) == 4


def test_prompt_tokens_are_counted_when_asked(tmp_path):
    f = tmp_path / "log.csv"
    f.write_text("t,text\n0,tiktoken is great!\n1,\n")
    t = load_log(f, {"arrival": "t", "prompt": "text"}, tokenizer="cl100k_base")
    assert t.requests["prompt_tokens"].tolist() == [6, pd.NA]
    assert t.meta["tokenizer"]["prompts_counted"] == 1


def _write(tmp_path, text, name="log.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


BASIC = {
    "request_id": "id",
    "arrival": "t",
    "prompt_tokens": "n",
    "models": {"m": {"quality": "q"}},
}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "a,0,5,1\nb,x,5,1\n",
            "row 2, column 't': expected a number of s (1 such rows). Dates "
            "need time_unit='datetime'",
        ),
        ("a,0,5,1\nb,,5,1\n", "row 2, column 't': missing arrival time (1 such rows)"),
        (
            "a,0,5,1\nb,-1,5,1\n",
            "row 2, column 't': arrival times must be non-decreasing: 0.0 comes after 1.0",
        ),
        (
            "a,0,5,1\nb,2,5,1\nc,1,5,1\n",
            "row 3, column 't': arrival times must be non-decreasing:"
            " 1.0 comes after 2.0 (1 such rows). Pass sort=True",
        ),
        ("a,0,5,1\na,1,5,1\n", "row 2, column 'id': duplicate request id (1 such rows)"),
        ("a,0,5,1\n,1,5,1\n", "row 2, column 'id': missing request id (1 such rows)"),
        ("a,0,5,1\nb,1,-5,1\n", "row 2, column 'n': negative or infinite count (1 such rows)"),
        ("a,0,5,1\nb,1,2.5,1\n", "row 2, column 'n': expected a whole number (1 such rows)"),
        ("a,0,5,1\nb,1,five,1\n", "row 2, column 'n': expected a whole number >= 0 (1 such rows)"),
        (
            "a,0,5,1\nb,1,5,7\n",
            "row 2, column 'q': quality outside [0, 1] (1 such rows). Map a "
            "score on another scale as raw_score with its scale",
        ),
        ("a,0,5,1\nb,1,5,nan\n", "row 2, column 'q': expected a quality in [0, 1] (1 such rows)"),
    ],
)
def test_bad_values_name_file_row_and_column(tmp_path, body, message):
    f = _write(tmp_path, "id,t,n,q\n" + body)
    with pytest.raises(TraceError) as err:
        load_log(f, BASIC)
    assert str(err.value).startswith(f"{f}, ")
    assert message in str(err.value)


def test_negative_seconds_are_fine_because_times_are_relative(tmp_path):
    """Arrivals are made relative to the earliest, so -1, 0 is a valid 1-second gap."""
    f = _write(tmp_path, "id,t,n,q\na,-1,5,1\nb,0,5,1\n")
    assert load_log(f, BASIC).requests["arrival_s"].tolist() == [0.0, 1.0]


def test_unsorted_rows_are_sorted_on_request_and_recorded(tmp_path):
    f = _write(tmp_path, "id,t,n,q\na,0,5,1\nb,2,5,1\nc,1,5,0\n")
    t = load_log(f, BASIC, sort=True)
    assert t.requests["request_id"].tolist() == ["a", "c", "b"]
    assert t.meta["sorted"] == "rows sorted by arrival; 1 were out of order"


def test_mapping_naming_a_missing_column_lists_the_columns_that_exist(tmp_path):
    f = _write(tmp_path, "id,t,n,q\na,0,5,1\n")
    with pytest.raises(TraceError) as err:
        load_log(f, {**BASIC, "prompt": "text"})
    assert str(err.value) == (
        f"{f}, column 'text': the mapping's key 'prompt' names this column, which the file does "
        "not have; columns present: 'id', 't', 'n', 'q'"
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"arival": "t"}, "<mapping>, key 'arival': unknown key; valid keys: request_id, arrival,"),
        ({"request_id": "id"}, "<mapping>, key 'arrival': required: the column with arrival times"),
        (
            {"arrival": "t", "models": {"m": {"score": "q"}}},
            "<mapping>, key 'models.m.score': unknown outcome field; valid fields: quality, "
            "raw_score, output_tokens, latency_s, latency_ms, ttft_s, ttft_ms, cost_usd, scale",
        ),
        (
            {"arrival": "t", "models": {"m": {"raw_score": "q"}}},
            "<mapping>, key 'models.m.raw_score': a raw score needs its scale to become a quality",
        ),
        (
            {"arrival": "t", "scale": [10, 1], "models": {"m": {"raw_score": "q"}}},
            "<mapping>, key 'scale': expected [min, max] with min < max, got [10, 1]",
        ),
        (
            {"arrival": "t", "outcome": {"quality": "q"}},
            "<mapping>, key 'outcome': long-form outcomes need 'model': the model column",
        ),
        ({"arrival": 3}, "<mapping>, key 'arrival': expected a column name, got 3"),
    ],
)
def test_bad_mapping_names_the_key(tmp_path, mapping, message):
    f = _write(tmp_path, "id,t,n,q\na,0,5,1\n")
    with pytest.raises(SpecError) as err:
        load_log(f, mapping)
    assert str(err.value).startswith(message)


def test_mapping_from_a_yaml_file_names_the_file(tmp_path):
    f = _write(tmp_path, "id,t,n,q\na,0,5,1\n")
    m = _write(tmp_path, "arrival: t\npromt: text\n", name="mapping.yaml")
    with pytest.raises(SpecError, match=rf"^{m}, key 'promt': unknown key"):
        load_log(f, m)
    m.write_text("arrival: t\nrequest_id: id\n")
    assert load_log(f, m).requests["request_id"].tolist() == ["a"]


def test_raw_score_outside_declared_scale_is_named(tmp_path):
    f = _write(tmp_path, "t,s\n0,5\n1,11\n")
    with pytest.raises(
        TraceError,
        match=r"row 2, column 's': score outside its declared scale "
        r"\[1, 10\] \(1 such rows\)",
    ):
        load_log(f, {"arrival": "t", "models": {"m": {"raw_score": "s", "scale": [1, 10]}}})


def test_drop_invalid_drops_bad_rows_and_reports_count_and_reasons(tmp_path):
    f = _write(tmp_path, "id,t,n,q\na,0,5,1\nb,x,5,1\nc,2,-1,1\nd,3,5,1\nd,4,5,0\ne,5,5,9\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_log(f, BASIC, drop_invalid=True)
    assert t.requests["request_id"].tolist() == ["a", "d"]
    report = t.meta["dropped_rows"]
    assert report == {
        "rows_read": 6,
        "dropped": 4,
        "reasons": {
            "column 't': expected a number of s": {"rows": 1, "first_row": 2},
            "column 'n': negative or infinite count": {"rows": 1, "first_row": 3},
            "column 'q': quality outside [0, 1]": {"rows": 1, "first_row": 6},
            "column 'id': duplicate request id": {"rows": 1, "first_row": 5},
        },
    }
    assert [w.category for w in caught] == [DroppedRowsWarning]
    assert str(caught[0].message).startswith(f"{f}: dropped 4 of 6 rows: column 't'")


def test_long_form_rows_of_one_request_must_agree(tmp_path):
    f = _write(tmp_path, "id,t,model,q\na,0,m1,1\na,1,m2,0\n")
    with pytest.raises(TraceError) as err:
        load_log(
            f, {"request_id": "id", "arrival": "t", "model": "model", "outcome": {"quality": "q"}}
        )
    assert str(err.value) == (
        f"{f}, row 2, column 't': request 'a' appears on several rows that disagree on this "
        "column (1.0 vs 0.0)"
    )


def test_long_form_duplicate_request_and_model_is_named(tmp_path):
    f = _write(tmp_path, "id,t,model,q\na,0,m1,1\na,0,m1,0\n")
    with pytest.raises(
        TraceError,
        match=r"row 2, column 'model': second row for the same request "
        "and model",
    ):
        load_log(
            f, {"request_id": "id", "arrival": "t", "model": "model", "outcome": {"quality": "q"}}
        )


def test_jsonl_errors_name_the_line(tmp_path):
    f = _write(tmp_path, '{"t": 0, "q": 1}\n\n{"t": "soon", "q": 1}\n', name="log.jsonl")
    with pytest.raises(TraceError) as err:
        load_log(f, {"arrival": "t", "models": {"m": {"quality": "q"}}})
    assert str(err.value).startswith(f"{f}, line 3, column 't': expected a number of s")


def test_truncated_jsonl_last_line_is_named(tmp_path):
    f = _write(tmp_path, '{"t": 0, "q": 1}\n{"t": 1, "q"', name="log.jsonl")
    with pytest.raises(
        TraceError,
        match=r"log.jsonl, line 2: truncated JSON \(.*\); expected one "
        "JSON object per line. The last line is cut off",
    ):
        load_log(f, {"arrival": "t"})


def test_unknown_suffix_and_format_list_the_choices(tmp_path):
    f = _write(tmp_path, "t\n0\n", name="log.txt")
    with pytest.raises(
        TraceError,
        match=r"cannot tell the format from the suffix '.txt'; pass "
        "format= one of csv, jsonl, parquet",
    ):
        load_log(f, {"arrival": "t"})
    with pytest.raises(
        TraceError, match="unknown format 'xlsx'; valid formats: csv, jsonl, parquet"
    ):
        load_log(f, {"arrival": "t"}, format="xlsx")
    with pytest.raises(
        TraceError, match="unknown time_unit 'h'; valid units: s, ms, us, ns, datetime"
    ):
        load_log(f, {"arrival": "t"}, format="csv", time_unit="h")


def test_empty_and_non_utf8_files(tmp_path):
    f = _write(tmp_path, "")
    with pytest.raises(TraceError, match="log.csv: file is empty"):
        load_log(f, {"arrival": "t"})
    f.write_bytes(b"t,text\n0,caf\xe9\n")
    with pytest.raises(TraceError, match=r"log.csv, line 2: not valid UTF-8 \(byte 0xe9"):
        load_log(f, {"arrival": "t"})


def test_datetime_that_does_not_parse_is_named(tmp_path):
    f = _write(tmp_path, "t\n2024-05-01T10:00:00Z\nyesterday\n")
    with pytest.raises(
        TraceError, match=r"row 2, column 't': expected a date/time \(1 such rows\)"
    ):
        load_log(f, {"arrival": "t"}, time_unit="datetime")


def test_unreadable_parquet_and_parquet_without_rows(tmp_path):
    f = _write(tmp_path, "not parquet at all", name="log.parquet")
    with pytest.raises(TraceError, match=r"log.parquet: not a readable Parquet file"):
        load_log(f, {"arrival": "t"})
    pd.DataFrame({"t": pd.Series([], dtype="float64")}).to_parquet(f)
    with pytest.raises(TraceError, match=r"log.parquet: has no rows"):
        load_log(f, {"arrival": "t"})
