"""Azure LLM inference trace 2023: exact 100 ns timestamps, raw and processed agree."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.errors import TraceError
from simkit.trace.loaders.azure import load_azure, load_azure_processed


@pytest.mark.parametrize("kind", ["conv", "code"])
def test_raw_timestamps_match_vidur_processed_seconds(fixtures, kind):
    """Vidur's independently processed file agrees to 5e-13 s (SOURCES.md §2b)."""
    raw = load_azure(fixtures / "azure2023" / f"AzureLLMInferenceTrace_{kind}.csv")
    processed = load_azure_processed(fixtures / "azure2023" / f"splitwise_{kind}.csv")
    assert raw.n_requests == processed.n_requests == 500
    err = np.abs(raw.requests["arrival_s"].to_numpy() - processed.requests["arrival_s"].to_numpy())
    assert err.max() <= 5e-13
    for col in ("prompt_tokens", "output_tokens"):
        assert raw.requests[col].equals(processed.requests[col])
    assert raw.requests["category"].unique().tolist() == [kind]
    assert raw.requests["prompt"].isna().all() and raw.outcomes.empty


def test_raw_keeps_100ns_resolution_relative_to_the_first_request(tmp_path):
    f = tmp_path / "AzureLLMInferenceTrace_conv.csv"
    f.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:46.6806001,396,109\n"
        "2023-11-16 18:15:50.9951690,879,55\n"
    )
    t = load_azure(f)
    assert t.requests["arrival_s"].tolist() == [0.0, 1.01e-05, 4.314579]
    assert t.requests["request_id"].tolist() == [
        "AzureLLMInferenceTrace_conv/1",
        "AzureLLMInferenceTrace_conv/2",
        "AzureLLMInferenceTrace_conv/3",
    ]
    assert t.meta["start_time"] == "2023-11-16 18:15:46.6805900"
    assert t.requests["prompt_tokens"].tolist() == [374, 396, 879]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "2023-11-16T18:15:47,1,1",
            "row 2, column 'TIMESTAMP': expected a time like '2023-11-16 18:15:46.6805900', got "
            "'2023-11-16T18:15:47' (1 such rows)",
        ),
        (
            "2023-11-16 18:15:40.0000000,1,1",
            "row 2, column 'TIMESTAMP': arrival times must be non-decreasing: "
            "2023-11-16 18:15:40.0000000 comes after 2023-11-16 18:15:46.6805900 (1 such rows)",
        ),
        (
            "2023-11-16 18:15:47.0000000,-3,1",
            "row 2, column 'ContextTokens': expected a whole number >= 0, got -3 (1 such rows)",
        ),
        (
            "2023-11-16 18:15:47.0000000,12,many",
            "row 2, column 'GeneratedTokens': expected a number, got 'many' (1 such rows)",
        ),
        ("2023-11-16 18:15:47.0000000,12", "row 2: has 2 fields, the header has 3"),
    ],
)
def test_bad_raw_rows_name_row_and_column(tmp_path, row, message):
    f = tmp_path / "t.csv"
    f.write_text(
        f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1,1\n{row}\n"
    )
    with pytest.raises(TraceError) as err:
        load_azure(f)
    assert message in str(err.value)
    assert str(err.value).startswith(str(f))


def test_processed_arrivals_going_backwards_name_the_file_column(tmp_path):
    f = tmp_path / "splitwise_conv.csv"
    f.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,1,1\n2.5,1,1\n1.0,1,1\n")
    with pytest.raises(TraceError) as err:
        load_azure_processed(f)
    assert str(err.value) == (
        f"{f}, row 3, column 'arrived_at': arrival times must be non-decreasing: 1.0 comes after "
        "2.5 (1 such rows)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nan", "row 2, column 'arrived_at': expected a number, got 'nan' (1 such rows)"),
        ("", "row 2, column 'arrived_at': missing value (1 such rows); expected a number"),
        (
            "-1.5",
            "row 2, column 'arrived_at': missing, non-finite or negative arrival time -1.5 "
            "(1 such rows); expected a finite time >= 0",
        ),
    ],
)
def test_processed_nan_empty_or_negative_arrival_is_named(tmp_path, value, message):
    f = tmp_path / "splitwise_conv.csv"
    f.write_text(f"arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,1,1\n{value},1,1\n")
    with pytest.raises(TraceError) as err:
        load_azure_processed(f)
    assert str(err.value) == f"{f}, {message}"


def test_misnamed_column_lists_what_is_there(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("Timestamp,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1,1\n")
    with pytest.raises(TraceError) as err:
        load_azure(f)
    assert str(err.value) == (
        f"{f}, column 'TIMESTAMP': required column missing (1 missing: 'TIMESTAMP'); columns "
        "present: 'Timestamp', 'ContextTokens', 'GeneratedTokens'"
    )


def test_empty_file_and_header_only_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TraceError, match="empty.csv: file is empty; expected a header and at"):
        load_azure(empty)
    header = tmp_path / "header.csv"
    header.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    with pytest.raises(TraceError, match="header.csv: has a header but no data rows"):
        load_azure(header)


def test_non_utf8_bytes_name_the_line(tmp_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes(
        b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1,1\n"
        b"2023-11-16 18:15:47.6805900,1,\xe91\n"
    )
    with pytest.raises(TraceError) as err:
        load_azure(f)
    assert str(err.value) == (
        f"{f}, line 3: not valid UTF-8 (byte 0xe9 at offset 102). Re-encode the file as UTF-8 "
        "(e.g. iconv -f latin1 -t utf-8)"
    )
