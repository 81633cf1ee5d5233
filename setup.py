"""Build hook: the wheel carries the repository's sample traces as ``simkit/bundled_traces``.

Everything else is in ``pyproject.toml``. The traces stay in ``traces/`` at the repository
root (built by ``scripts/build_traces.py``, with their provenance and licences); a wheel or a
regular ``pip install .`` copies them into the package so that ``simkit demo`` runs outside a
source checkout too. An editable install reads them from ``traces/`` directly.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTraces(build_py):
    """``build_py`` plus a copy of ``traces/`` (trace folders, PROVENANCE.md, LICENSES/)."""

    def run(self) -> None:
        super().run()
        src = Path(__file__).resolve().parent / "traces"
        if getattr(self, "editable_mode", False) or not src.is_dir():
            return
        dst = Path(self.build_lib) / "simkit" / "bundled_traces"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)


setup(cmdclass={"build_py": BuildPyWithTraces})
