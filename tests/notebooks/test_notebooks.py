"""Every notebook in notebooks/ runs top to bottom, headless, on the bundled data; the
committed copies carry no outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def notebook_paths() -> list[Path]:
    """Every committed notebook, in name order (01_..., 02_...)."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


EXPECTED = [
    "01_quickstart.ipynb",
    "02_train_and_evaluate_the_classifier.ipynb",
    "03_open_vs_proprietary_at_your_volume.ipynb",
    "04_bring_your_own_trace.ipynb",
    "05_your_own_policy.ipynb",
    "06_record_live_outcomes.ipynb",
]


def test_the_notebooks_are_committed_without_outputs():
    present = [p.name for p in notebook_paths()]
    assert [name for name in EXPECTED if name in present] == present, present
    for path in notebook_paths():
        nb = json.loads(path.read_text("utf-8"))
        assert nb["metadata"]["kernelspec"]["name"] == "python3", path.name
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name} cell {i} has outputs"
                assert cell["execution_count"] is None, f"{path.name} cell {i} was executed"
        nbformat.validate(nbformat.reads(path.read_text("utf-8"), as_version=4))


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in notebook_paths()])
def test_notebook_runs_top_to_bottom_without_error(name, tmp_path):
    """nbclient runs every cell in a fresh kernel; the working folder is a temporary one, so
    whatever a notebook writes stays out of the repository."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on the first error
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
