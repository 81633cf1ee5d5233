"""Build the small test fixtures in ``tests/fixtures/trace/`` from the real files in
``../shared/data`` (slices, byte-exact where possible; see the PROVENANCE.md it sits beside).

    python scripts/build_trace_fixtures.py [--data ../shared/data]

Deterministic: slices are chosen by position and content, never at random. The expected
counts written to ``expected.json`` are computed here with the standard library only (``csv``,
``json``), independently of simkit's loaders, so the tests compare two implementations.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "trace"
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MMLU_ROWS_PER_DOMAIN = 3
GSM8K_ROWS = 200
AZURE_ROWS = 500
ARENA_FILES = (
    "gpt-4-turbo.jsonl",  # holds gpt-4-1106-preview: file name != model name; 3 null scores
    "claude-2.1.jsonl",  # 1 null score
    "gpt-3.5-turbo.jsonl",  # float scores and extra keys (turn, tstamp, prompt)
    "arena-bench-judgment_judge_any.jsonl",  # holds llama-13b
)
ARENA_QUESTIONS = 10  # plus every question with a null score in the files above
LOG_CALLS = 40


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _contaminated(path: Path) -> set[str]:
    lines = path.read_text("utf-8").splitlines()
    return {json.loads(line)["eval_prompt"] for line in lines if line.strip()}


def routellm(data: Path, expected: dict) -> None:
    src = data / "routellm"
    dst = OUT / "routellm"
    for bench in ("mmlu", "gsm8k"):
        (dst / bench).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(
            src / bench / "contaminated_prompts.jsonl", dst / bench / "contaminated_prompts.jsonl"
        )
    cont = _contaminated(src / "mmlu" / "contaminated_prompts.jsonl")
    kept_rows = dropped = full_rows = full_dropped = 0
    weak_ok = strong_ok = 0
    for path in sorted((src / "mmlu" / "responses").glob("mmlu_*.csv")):
        header, rows = _read_csv(path)
        p = header.index("prompt")
        full_rows += len(rows)
        full_dropped += sum(r[p] in cont for r in rows)
        pick = [r for i, r in enumerate(rows) if i < MMLU_ROWS_PER_DOMAIN or r[p] in cont]
        _write_csv(dst / "mmlu" / "responses" / path.name, header, pick)
        for r in pick:
            if r[p] in cont:
                dropped += 1
            else:
                kept_rows += 1
                weak_ok += r[header.index(WEAK)] == "True"
                strong_ok += r[header.index(STRONG)] == "True"
    expected["mmlu"] = {
        "rows": kept_rows + dropped,
        "dropped": dropped,
        "kept": kept_rows,
        "weak_correct": weak_ok,
        "strong_correct": strong_ok,
        "full_data": {"rows": full_rows, "dropped": full_dropped, "kept": full_rows - full_dropped},
    }
    cont = _contaminated(src / "gsm8k" / "contaminated_prompts.jsonl")
    header, rows = _read_csv(src / "gsm8k" / "gsm8k_responses.csv")
    p = header.index("prompt")
    pick = [r for i, r in enumerate(rows) if i < GSM8K_ROWS or r[p] in cont]
    _write_csv(dst / "gsm8k" / "gsm8k_responses.csv", header, pick)
    kept = [r for r in pick if r[p] not in cont]
    expected["gsm8k"] = {
        "rows": len(pick),
        "dropped": len(pick) - len(kept),
        "kept": len(kept),
        "weak_correct": sum(r[header.index(WEAK)] == "True" for r in kept),
        "strong_correct": sum(r[header.index(STRONG)] == "True" for r in kept),
        "full_data": {
            "rows": len(rows),
            "dropped": sum(r[p] in cont for r in rows),
            "kept": sum(r[p] not in cont for r in rows),
        },
    }


def arena(data: Path, expected: dict) -> None:
    src = data / "arena_bench_v1"
    dst = OUT / "arena_bench_v1"
    (dst / "model_judgment").mkdir(parents=True, exist_ok=True)
    q_lines = (src / "question.jsonl").read_text("utf-8").splitlines(keepends=True)
    order = [json.loads(line)["question_id"] for line in q_lines]
    judged = {}
    for name in ARENA_FILES:
        lines = (src / "model_judgment" / name).read_text("utf-8").splitlines(keepends=True)
        judged[name] = [(json.loads(line), line) for line in lines if line.strip()]
    wanted = set(order[:ARENA_QUESTIONS])
    wanted |= {
        rec["question_id"] for recs in judged.values() for rec, _ in recs if rec["score"] is None
    }
    (dst / "question.jsonl").write_text(
        "".join(line for qid, line in zip(order, q_lines, strict=True) if qid in wanted), "utf-8"
    )
    models, nulls, scores = {}, {}, {}
    for name, recs in judged.items():
        keep = [(rec, line) for rec, line in recs if rec["question_id"] in wanted]
        (dst / "model_judgment" / name).write_text("".join(line for _, line in keep), "utf-8")
        model = keep[0][0]["model"]
        models[name] = model
        nulls[model] = sum(rec["score"] is None for rec, _ in keep)
        scores[model] = sum(rec["score"] for rec, _ in keep if rec["score"] is not None)
    expected["arena"] = {
        "questions": len(wanted),
        "files": models,
        "null_scores": nulls,
        "score_sums": scores,
    }


def azure(data: Path, expected: dict) -> None:
    dst = OUT / "azure2023"
    dst.mkdir(parents=True, exist_ok=True)
    for kind in ("conv", "code"):
        for sub, name in (
            ("raw", f"AzureLLMInferenceTrace_{kind}.csv"),
            ("vidur_processed", f"splitwise_{kind}.csv"),
        ):
            lines = (data / "traces" / "azure2023" / sub / name).read_text("utf-8").splitlines(True)
            (dst / name).write_text("".join(lines[: AZURE_ROWS + 1]), "utf-8")
    expected["azure"] = {"rows": AZURE_ROWS}


def _iso(ts: str) -> str:
    """Azure's naive '2023-11-16 18:15:46.6805900' as ISO 8601 UTC with microseconds."""
    day, frac = ts.split(".")
    return dt.datetime.fromisoformat(f"{day}.{frac[:6]}").replace(tzinfo=dt.UTC).isoformat()


def logs(data: Path, expected: dict) -> None:
    """A chat-completion log and a team CSV log in the shapes users bring, built from real
    GSM8K prompts and answers (RouteLLM) on real Azure conv arrival times."""
    header, rows = _read_csv(OUT / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    _, azure_rows = _read_csv(OUT / "azure2023" / "AzureLLMInferenceTrace_conv.csv")
    p = header.index("prompt")
    lines, team = [], []
    for k in range(LOG_CALLS):
        row, (stamp, _, _) = rows[k], azure_rows[k]
        model = STRONG if k % 2 == 0 else WEAK
        answer = row[header.index(f"{model}_response")]
        start = dt.datetime.fromisoformat(_iso(stamp))
        words_in, words_out = len(row[p].split()), len(answer.split())
        request = {
            "model": model,
            "messages": [
                {"role": "system", "content": "Solve the grade-school math problem."},
                {"role": "user", "content": row[p]},
            ],
            "max_tokens": 1024,
            "temperature": 0,
        }
        response = {
            "id": f"chatcmpl-gsm8k-{k + 1}",
            "object": "chat.completion",
            "created": int(start.timestamp()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            # word counts stand in for the provider's token counts: the loader copies them
            "usage": {
                "prompt_tokens": words_in,
                "completion_tokens": words_out,
                "total_tokens": words_in + words_out,
            },
        }
        record: dict = {
            "timestamp": start.isoformat(),
            "request": request,
            "response": response,
            "latency_ms": 40 * words_out,
            "cost_usd": round(1e-5 * (words_in + words_out), 8),
        }
        if k == 5:  # the OpenAI Batch output shape: wrapped bodies, custom_id, no timestamp
            record = {
                "custom_id": f"batch-{k + 1}",
                "request": {"body": request},
                "response": {"status_code": 200, "body": response},
            }
        if k == 7:  # a rate-limited call: request kept, no outcome
            record = {
                "timestamp": start.isoformat(),
                "request": request,
                "response": {
                    "status_code": 429,
                    "body": {"error": {"message": "Rate limit reached", "type": "requests"}},
                },
            }
        if k == 9:  # multimodal content: text parts kept, the image counted
            request = {
                **request,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": row[p]},
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://example.invalid/figure.png"},
                            },
                        ],
                    }
                ],
            }
            record = {**record, "request": request, "tags": ["sensitive"]}
        if k == 11:  # usage missing (a streamed call): counts left unknown or counted
            record = {**record, "response": {kk: v for kk, v in response.items() if kk != "usage"}}
        lines.append(json.dumps(record, sort_keys=True))
        team.append(
            [
                f"call-{k + 1}",
                stamp,
                row[p],
                model,
                "1" if row[header.index(model)] == "True" else "0",
                str(words_out),
                str(40 * words_out),
                "yes" if k % 10 == 3 else "no",
            ]
        )
    dst = OUT / "logs"
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "chat_log.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    _write_csv(
        dst / "team_log.csv",
        [
            "call_id",
            "started_at",
            "user_prompt",
            "model",
            "correct",
            "completion_words",
            "latency_ms",
            "pii",
        ],
        team,
    )
    expected["logs"] = {
        "calls": LOG_CALLS,
        "failed": 1,
        "batch_shaped": 1,
        "multimodal": 1,
        "without_usage": 1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    if not (args.data / "SOURCES.md").is_file():
        print(f"no shared data at {args.data} (expected SOURCES.md there)", file=sys.stderr)
        return 2
    keep = OUT / "PROVENANCE.md"
    provenance = keep.read_text("utf-8") if keep.exists() else None
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    if provenance is not None:
        keep.write_text(provenance, "utf-8")
    expected: dict = {}
    routellm(args.data, expected)
    arena(args.data, expected)
    azure(args.data, expected)
    logs(args.data, expected)
    (OUT / "expected.json").write_text(
        json.dumps(expected, indent=2, sort_keys=True) + "\n", "utf-8"
    )
    size = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT.relative_to(ROOT)} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
