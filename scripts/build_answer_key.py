"""Build the GSM8K answer key the loopback stub and the final-number grader use.

Writes ``simkit/data/answers/gsm8k.jsonl``: one line per GSM8K test question,
``{"request_id": "gsm8k/<row>", "prompt_sha256": ..., "kind": "number", "answer": "18"}``,
where ``<row>`` is the 1-based row of RouteLLM's ``gsm8k_responses.csv`` (the ids of the shipped
``routellm_azure`` trace) and the answer is the number after ``####`` in the GSM8K ``answer``.
Source: ``shared/data/routellm/gsm8k/test.jsonl`` (openai/grade-school-math, MIT), which is in the
same order as the CSV. MMLU has no gold letters in the shared data, so no MMLU key is shipped.

    python scripts/build_answer_key.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "simkit" / "data" / "answers" / "gsm8k.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    args = parser.parse_args()
    src = args.data / "routellm" / "gsm8k" / "test.jsonl"
    lines = []
    for row, line in enumerate(src.read_text("utf-8").splitlines(), start=1):
        rec = json.loads(line)
        answer = rec["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        float(answer)  # every gold answer is a number; fail loudly otherwise
        sha = hashlib.sha256(rec["question"].encode("utf-8")).hexdigest()
        lines.append(
            json.dumps(
                {
                    "request_id": f"gsm8k/{row}",
                    "prompt_sha256": sha,
                    "kind": "number",
                    "answer": answer,
                },
                sort_keys=True,
            )
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {len(lines)} answers to {OUT}")


if __name__ == "__main__":
    main()
