"""The generic loader on what converting public data needed: a directory of log files in one
call (each row keeping its file), a log without arrival times when arrivals are generated, and
the unnamed index column pandas writes; every bad case names the file and the column."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from simkit.cli import main
from simkit.errors import SpecError, TraceError
from simkit.trace import load_trace
from simkit.trace.arrivals import Poisson, parse_arrivals
from simkit.trace.convert import convert
from simkit.trace.loaders.generic import load_log

MAPPING = {"arrival": "ts", "prompt_tokens": "n_in", "model": "model", "outcome": {"quality": "q"}}


def _write(path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def logs(tmp_path):
    """Three CSV parts written out of name order; times start at 100 s and run across files."""
    d = tmp_path / "logs"
    d.mkdir()
    _write(d / "part-b.csv", "ts,n_in,model,q\n103,30,m1,1\n104,40,m2,0\n")
    _write(d / "part-a.csv", "ts,n_in,model,q\n100.5,10,m1,0\n101,20,m2,1\n")
    _write(d / "part-c.csv", "ts,n_in,model,q\n110,50,m1,1\n")
    return d


def test_a_directory_is_read_in_name_order_and_each_row_keeps_its_file(logs):
    t = load_log(logs, MAPPING)
    req = t.requests
    assert req["request_id"].tolist() == [
        "part-a/1",
        "part-a/2",
        "part-b/1",
        "part-b/2",
        "part-c/1",
    ]
    assert req["arrival_s"].tolist() == [0.0, 0.5, 2.5, 3.5, 9.5]
    assert req["prompt_tokens"].tolist() == [10, 20, 30, 40, 50]
    assert t.meta["sources"] == [
        {"file": "part-a.csv", "format": "csv", "rows": 2},
        {"file": "part-b.csv", "format": "csv", "rows": 2},
        {"file": "part-c.csv", "format": "csv", "rows": 1},
    ]
    assert t.meta["name"] == "logs" and t.meta["time_origin"] == "100.5 s"
    assert t.outcomes[["request_id", "model", "quality"]].values.tolist() == [
        ["part-a/1", "m1", 0.0],
        ["part-a/2", "m2", 1.0],
        ["part-b/1", "m1", 1.0],
        ["part-b/2", "m2", 0.0],
        ["part-c/1", "m1", 1.0],
    ]
    # the same files concatenated by hand give the same trace
    whole = logs.parent / "whole.csv"
    parts = [(logs / f"part-{k}.csv").read_text().split("\n", 1)[1] for k in "abc"]
    _write(whole, "ts,n_in,model,q\n" + "".join(parts))
    single = load_log(whole, MAPPING)
    assert single.requests["arrival_s"].tolist() == req["arrival_s"].tolist()
    assert single.outcomes["quality"].tolist() == t.outcomes["quality"].tolist()


def test_a_bad_value_names_its_own_file_and_row(logs):
    _write(logs / "part-b.csv", "ts,n_in,model,q\n103,30,m1,1\n104,-4,m2,0\n")
    with pytest.raises(TraceError) as err:
        load_log(logs, MAPPING)
    assert str(err.value).startswith(f"{logs / 'part-b.csv'}, row 2, column 'n_in': negative")
    # dropping instead: the reason names the file of its first row
    with pytest.warns(UserWarning, match="dropped 1 of 5 rows"):
        t = load_log(logs, MAPPING, drop_invalid=True)
    reason = t.meta["dropped_rows"]["reasons"]["column 'n_in': negative or infinite count"]
    assert reason == {"rows": 1, "first_row": 2, "first_file": "part-b.csv"}
    assert t.requests["request_id"].tolist() == ["part-a/1", "part-a/2", "part-b/1", "part-c/1"]


def test_times_going_back_across_files_name_the_later_file_unless_sorted(logs):
    _write(logs / "part-c.csv", "ts,n_in,model,q\n102,50,m1,1\n")
    with pytest.raises(TraceError) as err:
        load_log(logs, MAPPING)
    msg = str(err.value)
    assert msg.startswith(f"{logs / 'part-c.csv'}, row 1, column 'ts': arrival times must be")
    assert "1.5 comes after 3.5" in msg and "read in name order" in msg and "--sort" in msg
    t = load_log(logs, MAPPING, sort=True)
    assert t.requests["request_id"].tolist() == [
        "part-a/1",
        "part-a/2",
        "part-c/1",
        "part-b/1",
        "part-b/2",
    ]


def test_mapped_ids_repeated_in_another_file_name_it_and_each_file_keeps_its_span(tmp_path):
    d = tmp_path / "ids"
    d.mkdir()
    _write(d / "1.csv", "id,ts\nx,0\ny,1\n")
    _write(d / "2.csv", "id,ts\nz,2\nx,3\n")
    with pytest.raises(TraceError, match=r"2\.csv, row 2, column 'id': duplicate request id"):
        load_log(d, {"request_id": "id", "arrival": "ts"})
    _write(d / "2.csv", "id,ts\nz,2\nw,3\n")
    t = load_log(d, {"request_id": "id", "arrival": "ts"})
    assert t.meta["sources"] == [
        {
            "file": "1.csv",
            "format": "csv",
            "rows": 2,
            "first_request_id": "x",
            "last_request_id": "y",
        },
        {
            "file": "2.csv",
            "format": "csv",
            "rows": 2,
            "first_request_id": "z",
            "last_request_id": "w",
        },
    ]


def test_empty_mixed_and_nested_directories_are_clear_errors(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(TraceError, match=r"d: the directory has no files; expected CSV"):
        load_log(d, MAPPING)
    _write(d / ".DS_Store", "x")
    with pytest.raises(TraceError, match=r"no files \(only hidden ones: \.DS_Store\)"):
        load_log(d, MAPPING)
    _write(d / "a.csv", "ts,n_in,model,q\n1,2,m,1\n")
    t = load_log(d, MAPPING)
    assert t.meta["skipped_files"] == [".DS_Store"] and t.n_requests == 1
    _write(d / "b.jsonl", '{"ts": 2, "n_in": 3, "model": "m", "q": 1}\n')
    with pytest.raises(TraceError) as err:
        load_log(d, MAPPING)
    assert str(err.value).startswith(
        f"{d / 'b.jsonl'}: is not a csv file (suffix '.jsonl') but a.csv is; every file"
    )
    with pytest.raises(TraceError, match=r"b\.jsonl: is not a csv file .* but format is 'csv'"):
        load_log(d, MAPPING, format="csv")
    (d / "b.jsonl").unlink()
    (d / "sub").mkdir()
    with pytest.raises(TraceError, match=r"sub: is a directory; a log directory holds"):
        load_log(d, MAPPING)
    with pytest.raises(TraceError, match=r"nope: file not found"):
        load_log(tmp_path / "nope", MAPPING)


def test_files_with_other_columns_name_the_file_and_the_column(logs):
    _write(logs / "part-b.csv", "ts,n_in,model\n103,30,m1\n")
    with pytest.raises(TraceError) as err:
        load_log(logs, {"arrival": "ts", "prompt_tokens": "n_in"})
    assert str(err.value).startswith(
        f"{logs / 'part-b.csv'}, column 'q': part-a.csv has this column and this file does not"
    )
    _write(logs / "part-b.csv", "ts,n_in,model,q,extra\n103,30,m1,1,x\n")
    with pytest.raises(TraceError, match=r"part-b\.csv, column 'extra': this file has a column"):
        load_log(logs, MAPPING)
    # a mapped column missing from a later file is named in that file
    _write(logs / "part-b.csv", "ts,tokens,model,q\n103,30,m1,1\n")
    with pytest.raises(TraceError, match=r"part-b\.csv, column 'n_in': the mapping's key"):
        load_log(logs, MAPPING)


def test_parquet_files_must_agree_on_column_types(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pd.DataFrame({"ts": [1.0, 2.0], "n_in": [3, 4]}).to_parquet(d / "a.parquet", index=False)
    pd.DataFrame({"ts": ["3", "4"], "n_in": [5, 6]}).to_parquet(d / "b.parquet", index=False)
    with pytest.raises(TraceError) as err:
        load_log(d, {"arrival": "ts", "prompt_tokens": "n_in"})
    assert str(err.value).startswith(
        f"{d / 'b.parquet'}, column 'ts': has type large_string here but double in a.parquet"
    )
    pd.DataFrame({"ts": [3.0, 4.0], "n_in": [5, 6]}).to_parquet(d / "b.parquet", index=False)
    t = load_log(d, {"arrival": "ts", "prompt_tokens": "n_in"})
    assert t.requests["request_id"].tolist() == ["a/1", "a/2", "b/1", "b/2"]


def test_jsonl_files_may_leave_keys_out_but_not_a_mapped_one(tmp_path):
    d = tmp_path / "j"
    d.mkdir()
    _write(d / "a.jsonl", '{"ts": 1, "n_in": 2, "note": "x"}\n\n{"ts": 2, "n_in": 3}\n')
    _write(d / "b.jsonl", '{"ts": 3, "n_in": 4}\n')
    t = load_log(d, {"arrival": "ts", "prompt_tokens": "n_in"})
    assert t.requests["request_id"].tolist() == ["a/1", "a/3", "b/1"]  # line numbers
    _write(d / "b.jsonl", '{"ts": 3, "tokens": 4}\n{"ts": 4, "n_in": "x"}\n')
    with pytest.raises(TraceError, match=r"b\.jsonl, line 2, column 'n_in': expected a whole"):
        load_log(d, {"arrival": "ts", "prompt_tokens": "n_in"})


# -- no arrival column ---------------------------------------------------------------------------
PROMPTS = "prompt_id,n_in,q_big,q_small\np1,10,1,0\np2,20,1,1\np3,30,0,0\np4,40,1,0\n"
NO_ARRIVAL = {
    "request_id": "prompt_id",
    "prompt_tokens": "n_in",
    "models": {"big": {"quality": "q_big"}, "small": {"quality": "q_small"}},
}


def test_a_log_without_arrival_times_needs_generated_arrivals(tmp_path):
    src = tmp_path / "prompts.csv"
    _write(src, PROMPTS)
    with pytest.raises(SpecError) as err:
        load_log(src, NO_ARRIVAL)
    assert str(err.value) == (
        "<mapping>, key 'arrival': required: the column with arrival times. If the log has "
        "none, pass --arrivals to generate them (e.g. --arrivals poisson:rate=5 or "
        "replay:traces/azure_conv_2023; convert(arrivals=...))"
    )
    with pytest.raises(SpecError, match="key 'arrival'"):
        convert(src, "csv", mapping=NO_ARRIVAL, tokenizer=None)
    bare = load_log(src, NO_ARRIVAL, arrival_optional=True)
    assert bare.requests["arrival_s"].tolist() == [0.0] * 4
    assert bare.meta["arrivals"].startswith("none (all 0)")
    assert "time_unit" not in bare.meta
    with pytest.raises(SpecError, match=r"key 'arrival': sort=True \(--sort\) sorts rows"):
        load_log(src, NO_ARRIVAL, arrival_optional=True, sort=True)

    t = convert(src, "csv", mapping=NO_ARRIVAL, tokenizer=None, arrivals="poisson:rate=2", seed=4)
    from simkit.seeding import named_stream

    want = Poisson(2.0).times(4, named_stream(4, "compose.arrivals"))
    np.testing.assert_array_equal(t.requests["arrival_s"].to_numpy(), want)
    assert sorted(t.requests["request_id"]) == ["p1", "p2", "p3", "p4"]
    assert "arrivals" not in t.meta
    assert t.meta["composition"][0]["arrivals"] == {"process": "poisson", "rate_per_s": 2.0}
    q = t.quality_matrix(["big", "small"]).loc[["p1", "p2", "p3", "p4"]]
    assert q.values.tolist() == [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]


def test_a_mapped_arrival_column_the_file_lacks_points_to_arrivals(tmp_path):
    src = tmp_path / "prompts.csv"
    _write(src, PROMPTS)
    with pytest.raises(TraceError) as err:
        load_log(src, {**NO_ARRIVAL, "arrival": "ts"})
    msg = str(err.value)
    assert msg.startswith(f"{src}, column 'ts': the mapping's key 'arrival' names this column")
    assert msg.endswith(
        "To generate arrival times instead, leave 'arrival' out of the mapping and pass "
        "--arrivals (e.g. --arrivals poisson:rate=5 or replay:traces/azure_conv_2023; "
        "convert(arrivals=...))"
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("poisson:rate=1e308", "got 1e+308 arrivals per second; expected 1e-06 to 1e+06"),
        ("poisson:rate=inf", "must be finite, got inf"),
        ("poisson:rate=nan", "must be a number > 0, got nan"),
        ("bursty:rate=1e-7,cv=2", "got 1e-07 arrivals per second; expected 1e-06 to 1e+06"),
        ("diurnal:rate=2e6", "got 2000000.0 arrivals per second"),
    ],
)
def test_absurd_or_non_finite_rates_are_refused(spec, problem):
    kind = spec.split(":")[0]
    with pytest.raises(SpecError, match=re.escape(f"<arrivals>, key '{kind}.rate': {problem}")):
        parse_arrivals(spec)


def test_the_rate_bounds_hold_after_the_multiplier_and_accept_the_edges():
    assert Poisson(1e6).rate_per_s == 1e6 and Poisson(1e-6).rate_per_s == 1e-6
    with pytest.raises(SpecError, match=r"key 'rate_per_s': got 2000000.0 arrivals per second"):
        Poisson(2e3).scaled(1e3)


# -- unnamed index columns -----------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame({"ts": [5.0, 6.0, 8.0], "n_in": [7, 8, 9]})


def test_pandas_index_column_is_dropped_with_a_note_or_used_when_mapped(tmp_path):
    src = tmp_path / "indexed.csv"
    _frame().to_csv(src, index=True)  # header ",ts,n_in": pandas' "Unnamed: 0" on reading
    assert src.read_text().startswith(",ts,n_in\n0,")
    mapping = {"arrival": "ts", "prompt_tokens": "n_in"}
    t = load_log(src, mapping)
    assert t.requests["prompt_tokens"].tolist() == [7, 8, 9]
    assert t.meta["dropped_index_columns"] == [
        {
            "file": "indexed.csv",
            "column": "Unnamed: 0",
            "why": "an unnamed row index (pandas to_csv(index=True)), not in the mapping",
        }
    ]
    mapped = load_log(src, {**mapping, "request_id": "Unnamed: 0"})
    assert mapped.requests["request_id"].tolist() == ["0", "1", "2"]
    assert "dropped_index_columns" not in mapped.meta
    # read and written again by pandas: the index is now a column named "Unnamed: 0"
    again = tmp_path / "again.parquet"
    pd.read_csv(src).to_parquet(again, index=False)
    t2 = load_log(again, mapping)
    assert t2.meta["dropped_index_columns"][0]["column"] == "Unnamed: 0"
    assert t2.requests["arrival_s"].tolist() == [0.0, 1.0, 3.0]


def test_files_with_and_without_an_index_column_read_as_one_directory(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    _frame().to_csv(d / "a.csv", index=True)
    _frame().assign(ts=[9.0, 10.0, 11.0]).to_csv(d / "b.csv", index=False)
    t = load_log(d, {"arrival": "ts", "prompt_tokens": "n_in"})
    assert t.requests["arrival_s"].tolist() == [0.0, 1.0, 3.0, 4.0, 5.0, 6.0]
    assert [x["file"] for x in t.meta["dropped_index_columns"]] == ["a.csv"]


# -- the command line ----------------------------------------------------------------------------
def test_trace_convert_takes_a_directory_and_notes_the_dropped_index(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _frame().to_csv(d / "a.csv", index=True)
    _frame().assign(ts=[9.0, 10.0, 11.0]).to_csv(d / "b.csv", index=True)
    mapping = tmp_path / "m.yaml"
    _write(mapping, "arrival: ts\nprompt_tokens: n_in\n")
    out = tmp_path / "out"
    argv = ["trace", "convert", str(d), str(out), "--format", "csv", "--mapping", str(mapping)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "note: dropped the column 'Unnamed: 0' of a.csv: an unnamed row index" in err
    assert "note: dropped the column 'Unnamed: 0' of b.csv" in err
    t = load_trace(out)
    assert t.n_requests == 6 and [s["file"] for s in t.meta["sources"]] == ["a.csv", "b.csv"]
    assert t.requests["request_id"].tolist()[:2] == ["a/1", "a/2"]


def test_trace_convert_errors_say_what_to_pass(tmp_path, capsys):
    src = tmp_path / "prompts.csv"
    _write(src, PROMPTS)
    mapping = tmp_path / "m.yaml"
    _write(mapping, json.dumps(NO_ARRIVAL))  # JSON is YAML
    base = ["trace", "convert", str(src), str(tmp_path / "o"), "--format", "csv"]
    base += ["--mapping", str(mapping), "--tokenizer", "none"]
    assert main(base) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"simkit trace: error: {mapping}, key 'arrival': required")
    assert "pass --arrivals to generate them" in line
    assert main([*base, "--arrivals", "poisson:rate=1e308"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        "simkit trace: error: <arrivals>, key 'poisson.rate': got 1e+308 arrivals per "
        "second; expected 1e-06 to 1e+06 (the rate after any rate multiplier)"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["trace", "convert", str(empty), str(tmp_path / "o2"), "--format", "csv"]
    assert main([*argv, "--mapping", str(mapping), "--arrivals", "poisson:rate=1"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"simkit trace: error: {empty}: the directory has no files")
    assert main([*base, "--arrivals", "poisson:rate=3", "--seed", "2"]) == 0
    assert load_trace(tmp_path / "o").n_requests == 4
