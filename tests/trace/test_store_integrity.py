"""The trace directory on disk: table checksums, re-stamping, and a malformed trace.json."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from simkit import Trace, load_trace, save_trace
from simkit.errors import TraceError
from simkit.trace import restamp_trace


@pytest.fixture()
def saved(tmp_path):
    t = Trace(
        pd.DataFrame(
            {
                "request_id": ["a", "b", "c"],
                "arrival_s": [3.0, 4.0, 5.5],
                "prompt": ["What is 2+2?", "Name a prime.", "Define entropy."],
            }
        ),
        pd.DataFrame(
            {"request_id": ["a", "b", "c"], "model": ["m1", "m1", "m2"], "quality": [1.0, 0, 0.5]}
        ),
        meta={"name": "three", "sources": [{"name": "hand-made"}]},
    ).with_scores({"p_hard": [0.1, 0.9, 0.4]})
    return save_trace(t, tmp_path / "t")


def _manifest(path):
    return json.loads((path / "trace.json").read_text("utf-8"))


def _write_manifest(path, m):
    (path / "trace.json").write_text(json.dumps(m), "utf-8")


def test_trace_json_records_the_sha256_of_every_table(saved):
    m = _manifest(saved)
    assert m["version"] == 2
    assert m["tables"] == {
        name: hashlib.sha256((saved / name).read_bytes()).hexdigest()
        for name in ("outcomes.parquet", "requests.parquet", "scores.parquet")
    }


def test_a_flipped_byte_in_a_table_is_an_error_that_says_how_to_restamp(saved):
    p = saved / "requests.parquet"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(
        TraceError,
        match=r"requests.parquet: does not match its SHA-256 in trace.json: the table is "
        r"corrupt or was modified. If you changed the tables on purpose, record their new "
        r"checksums with `simkit trace restamp .*t`",
    ):
        load_trace(saved)


def test_a_deliberate_edit_is_restamped_and_recorded_with_its_note(saved):
    before = _manifest(saved)
    req = pd.read_parquet(saved / "requests.parquet")
    req.loc[1, "prompt"] = "Name an even prime."
    req.to_parquet(saved / "requests.parquet", index=False)
    with pytest.raises(TraceError, match="does not match its SHA-256"):
        load_trace(saved)
    restamp_trace(saved, note="fixed a typo in b")
    t = load_trace(saved)
    assert list(t.requests["prompt"]) == ["What is 2+2?", "Name an even prime.", "Define entropy."]
    assert t.meta["name"] == "three" and t.meta["sources"] == [{"name": "hand-made"}]
    assert t.meta["restamped"] == [
        {
            "changed": ["requests.parquet"],
            "previous": {"requests.parquet": before["tables"]["requests.parquet"]},
            "note": "fixed a typo in b",
        }
    ]
    restamp_trace(saved)  # nothing changed: nothing more is recorded
    assert len(load_trace(saved).meta["restamped"]) == 1


def test_restamp_refuses_tables_that_do_not_validate(saved):
    req = pd.read_parquet(saved / "requests.parquet")
    req.loc[2, "arrival_s"] = -1.0
    req.to_parquet(saved / "requests.parquet", index=False)
    with pytest.raises(TraceError, match=r"row 3, column 'arrival_s'"):
        restamp_trace(saved)
    assert (
        _manifest(saved)["tables"]["requests.parquet"]
        != hashlib.sha256((saved / "requests.parquet").read_bytes()).hexdigest()
    )


def test_a_table_added_without_a_checksum_is_refused(saved):
    m = _manifest(saved)
    del m["tables"]["scores.parquet"]
    _write_manifest(saved, m)
    with pytest.raises(
        TraceError, match=r"scores.parquet: has no checksum in trace.json \(added by hand\?\)"
    ):
        load_trace(saved)


@pytest.mark.parametrize("version", [0, -3, True, "2", 1.5, None])
def test_a_version_that_is_not_a_whole_number_from_1_is_refused(saved, version):
    m = _manifest(saved)
    m["version"] = version
    _write_manifest(saved, m)
    with pytest.raises(
        TraceError,
        match=r"column 'version': expected a format version \(a whole number >= 1\), got "
        + repr(version).replace(".", r"\."),
    ):
        load_trace(saved)


def test_a_newer_version_says_upgrade_and_version_1_says_restamp(saved):
    m = _manifest(saved)
    _write_manifest(saved, {**m, "version": 3})
    with pytest.raises(TraceError, match=r"format version 3 is not supported.*Upgrade simkit"):
        load_trace(saved)
    old = {k: v for k, v in m.items() if k != "tables"} | {"version": 1}
    _write_manifest(saved, old)
    with pytest.raises(
        TraceError,
        match=r"format version 1 has no table checksums. Record them once with "
        r"`simkit trace restamp ",
    ):
        load_trace(saved)
    restamp_trace(saved)
    assert _manifest(saved)["version"] == 2 and "restamped" not in load_trace(saved).meta


@pytest.mark.parametrize("meta", [[1, 2], "x", 3])
def test_meta_that_is_not_an_object_is_refused(saved, meta):
    m = _manifest(saved)
    m["meta"] = meta
    _write_manifest(saved, m)
    with pytest.raises(TraceError, match=r"column 'meta': expected a JSON object"):
        load_trace(saved)


def test_nan_in_trace_json_is_refused(saved):
    text = (saved / "trace.json").read_text("utf-8").replace('"three"', "NaN")
    (saved / "trace.json").write_text(text, "utf-8")
    with pytest.raises(TraceError, match=r"trace.json: not valid JSON \(NaN is not allowed\)"):
        load_trace(saved)


def test_every_corruption_of_a_stamped_table_is_a_trace_error(saved):
    """Bytes flipped at many places, the file re-stamped by hand: a TraceError each time
    (never ArrowException, UnicodeDecodeError, OSError)."""
    good = (saved / "requests.parquet").read_bytes()
    outcomes = {"error": 0, "loaded": 0}
    for pos in range(0, len(good), max(1, len(good) // 97)):
        data = bytearray(good)
        data[pos] ^= 0xFF
        (saved / "requests.parquet").write_bytes(bytes(data))
        m = _manifest(saved)
        m["tables"]["requests.parquet"] = hashlib.sha256(bytes(data)).hexdigest()
        _write_manifest(saved, m)
        try:
            load_trace(saved)
            outcomes["loaded"] += 1
        except TraceError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0


def test_a_garbage_table_names_the_file(saved):
    (saved / "outcomes.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    m = _manifest(saved)
    m["tables"]["outcomes.parquet"] = hashlib.sha256(
        (saved / "outcomes.parquet").read_bytes()
    ).hexdigest()
    _write_manifest(saved, m)
    with pytest.raises(TraceError, match=r"outcomes.parquet: not a readable Parquet file"):
        load_trace(saved)


def test_saving_over_an_existing_file_is_a_clear_error(saved, tmp_path):
    f = tmp_path / "existing.txt"
    f.write_text("keep me")
    with pytest.raises(
        TraceError, match=r"existing.txt: exists and is not a directory; a trace is written"
    ):
        save_trace(load_trace(saved), f)
    assert f.read_text() == "keep me"


def test_meta_that_is_not_strict_json_is_refused_before_writing(saved, tmp_path):
    t = load_trace(saved).replace(meta={"rate": float("nan")})
    with pytest.raises(TraceError, match=r"column 'meta': not storable as strict JSON"):
        save_trace(t, tmp_path / "nan")
    assert not (tmp_path / "nan").exists()
