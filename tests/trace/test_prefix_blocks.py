"""The prefix-block column: read through a column mapping (JSONL lists, CSV text, Parquet
lists), kept through the trace store, and rejected with the file, row and column when bad."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simkit.cli import main
from simkit.errors import SpecError, TraceError
from simkit.trace import load_log, load_trace, save_trace

MOONCAKE = {
    "arrival": "timestamp",
    "prompt_tokens": "input_length",
    "output_tokens": "output_length",
    "prefix_blocks": "hash_ids",
    "prefix_block_size": 512,
}


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mooncake_style_jsonl_loads_block_lists_and_the_block_size(tmp_path):
    rows = [
        {"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [0, 1]},
        {"timestamp": 250, "input_length": 600, "output_length": 12, "hash_ids": [0, 2]},
        {"timestamp": 900, "input_length": 30, "output_length": 5, "hash_ids": []},
    ]
    t = load_log(_jsonl(tmp_path / "mc.jsonl", rows), MOONCAKE, time_unit="ms")
    assert t.requests["prefix_blocks"].tolist() == [(0, 1), (0, 2), ()]
    assert t.meta["prefix_block_size"] == 512
    back = load_trace(save_trace(t, tmp_path / "trace"))
    assert back.requests["prefix_blocks"].tolist() == [(0, 1), (0, 2), ()]
    assert back.meta["prefix_block_size"] == 512


def test_csv_and_parquet_cells_parse(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text('ts,n_in,h\n0,1000,"[4, 5]"\n1,600,4 6\n2,10,\n')
    mapping = {
        "arrival": "ts",
        "prompt_tokens": "n_in",
        "prefix_blocks": "h",
        "prefix_block_size": 512,
    }
    assert load_log(csv, mapping).requests["prefix_blocks"].tolist() == [(4, 5), (4, 6), ()]
    table = pa.table({"ts": [0.0, 1.0], "n_in": [1000, 600], "h": [[4, 5], [4, 6]]})
    pq.write_table(table, tmp_path / "log.parquet")
    got = load_log(tmp_path / "log.parquet", mapping).requests["prefix_blocks"].tolist()
    assert got == [(4, 5), (4, 6)]


def test_bad_block_cell_names_the_file_line_and_column(tmp_path):
    rows = [
        {"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [0, 1]},
        {"timestamp": 1, "input_length": 1000, "output_length": 10, "hash_ids": [0, "a"]},
    ]
    with pytest.raises(TraceError) as err:
        load_log(_jsonl(tmp_path / "bad.jsonl", rows), MOONCAKE)
    assert str(err.value).startswith(f"{tmp_path / 'bad.jsonl'}, line 2, column 'hash_ids': ")
    assert "expected block ids as integers >= 0, got 'a'" in str(err.value)


def test_more_blocks_than_the_prompt_has_names_the_csv_row(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text("ts,n_in,h\n0,1000,1 2\n1,512,3 4\n")
    mapping = {
        "arrival": "ts",
        "prompt_tokens": "n_in",
        "prefix_blocks": "h",
        "prefix_block_size": 512,
    }
    with pytest.raises(
        TraceError, match=r"row 2, column 'h': 2 blocks of 512 tokens for a prompt of 512"
    ):
        load_log(csv, mapping)


def test_drop_invalid_drops_a_bad_block_row_and_says_why(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text("ts,n_in,h\n0,1000,1 2\n1,512,x\n")
    mapping = {
        "arrival": "ts",
        "prompt_tokens": "n_in",
        "prefix_blocks": "h",
        "prefix_block_size": 512,
    }
    with pytest.warns(UserWarning, match="dropped 1 of 2 rows"):
        t = load_log(csv, mapping, drop_invalid=True)
    assert t.requests["prefix_blocks"].tolist() == [(1, 2)]
    assert t.meta["dropped_rows"]["dropped"] == 1


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"arrival": "ts", "prefix_blocks": "h"},
            r"key 'prefix_block_size': required with 'prefix_blocks'",
        ),
        (
            {"arrival": "ts", "prefix_block_size": 16},
            r"key 'prefix_blocks': required with 'prefix_block_size'",
        ),
        (
            {"arrival": "ts", "prefix_blocks": "h", "prefix_block_size": 0},
            r"key 'prefix_block_size': expected the tokens per block, an integer >= 1, got 0",
        ),
    ],
)
def test_mapping_needs_both_prefix_keys(tmp_path, mapping, message):
    csv = tmp_path / "log.csv"
    csv.write_text("ts,h\n0,1\n")
    with pytest.raises(SpecError, match=message):
        load_log(csv, mapping)


def test_cli_builds_a_prefix_heavy_trace(tmp_path, capsys):
    out = tmp_path / "ph"
    argv = [
        "trace",
        "prefix-heavy",
        str(out),
        "--n",
        "300",
        "--repeat-share",
        "0.75",
        "--blocks-per-prompt",
        "4",
        "--block-size",
        "64",
        "--prefixes",
        "2",
        "--seed",
        "9",
    ]
    assert main(argv) == 0
    t = load_trace(out)
    assert t.n_requests == 300 and t.meta["prefix_block_size"] == 64
    assert t.meta["repeat_share"] == pytest.approx((300 * 3 - 2 * 3) / 1200)
    assert (t.requests["prompt_tokens"] == 256).all()
    assert "repeated block share 0.7450" in capsys.readouterr().out


FLEET = """name: pc
tiers:
  gpu:
    kind: gpu
    preset: llama3-8b-h100-tp1
    usd_per_gpu_hour: 2.0
    replicas: 2
    prefix_cache: true
    load_balancer: prefix_affinity
    quality_model: model
"""


def test_replay_reports_the_hit_rate_per_tier_and_per_replica(tmp_path, capsys):
    """8 blocks per prompt, 4 shared among 2 prefixes: each replica misses each prefix it sees
    once, so the tier's hit rate is just under 0.5 and the replicas' saved tokens add up."""
    trace, fleet = tmp_path / "ph", tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    argv = ["trace", "prefix-heavy", str(trace), "--n", "200", "--prefixes", "2", "--seed", "4"]
    assert main(argv) == 0
    capsys.readouterr()
    argv = ["replay", "--trace", str(trace), "--fleet", str(fleet), "--policy", "static:tier=gpu"]
    assert main([*argv, "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    by_replica = out["prefix_cache_by_replica"]
    assert set(by_replica) == {"gpu-0", "gpu-1"}
    assert sum(r["saved_tokens"] for r in by_replica.values()) == out["prefix_saved_tokens_gpu"]
    # 800 shared blocks of 1,600, of which at most 2 prefixes x 2 replicas x 4 blocks miss
    assert (800 - 16) / 1600 <= out["prefix_hit_rate_gpu"] < 0.5
    assert out["prefix_saved_tokens_gpu"] == round(out["prefix_hit_rate_gpu"] * 1600) * 512


def test_combine_keeps_the_block_size_and_refuses_two_sizes():
    from simkit.trace import combine, prefix_heavy_trace

    a = prefix_heavy_trace(20, repeat_share=0.5, seed=1)
    b = prefix_heavy_trace(20, repeat_share=0.5, seed=2)
    b = b.replace(
        requests=b.requests.assign(request_id=b.requests["request_id"] + "b"),
        outcomes=b.outcomes.assign(request_id=b.outcomes["request_id"] + "b"),
    )
    both = combine([a, b], name="ab")
    assert both.meta["prefix_block_size"] == 512 and both.n_requests == 40
    c = prefix_heavy_trace(20, repeat_share=0.5, block_size=16, seed=3)
    c = c.replace(
        requests=c.requests.assign(request_id=c.requests["request_id"] + "c"),
        outcomes=c.outcomes.assign(request_id=c.outcomes["request_id"] + "c"),
    )
    with pytest.raises(TraceError, match=r"column 'prefix_blocks'.*different sizes \(\[16, 512\]"):
        combine([a, c], name="ac")


def test_trace_inspect_reports_the_repeated_block_share(tmp_path, capsys):
    out = tmp_path / "ph"
    argv = ["trace", "prefix-heavy", str(out), "--n", "100", "--prefixes", "2", "--seed", "1"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["trace", "inspect", str(out), "--json"]) == 0
    pb = json.loads(capsys.readouterr().out)["prefix_blocks"]
    assert pb == {"block_size": 512, "blocks": 800, "repeated_share": (400 - 8) / 800}
    assert main(["trace", "inspect", str(out)]) == 0
    assert "800 blocks of 512 tokens, 49.0% repeat an earlier block" in capsys.readouterr().out
