"""A fresh machine sets up with the README's commands: environment.yml is solvable and in step
with the pip install; the Chromium step installs the browser the browser tests need.

Conda cannot run here, so environment.yml is checked by reading it: only conda-forge (PyTorch
left its own channel after 2.5, pytorch/pytorch issue 138506), no conda torch package, and a pip
section identical to the README's pip install (requirements-cpu.txt's torch, simkit's extras).
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "install_chromium.sh"


def _env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text("utf-8"))


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def _cpu_requirements() -> list[Requirement]:
    lines = (REPO / "requirements-cpu.txt").read_text("utf-8").splitlines()
    return [Requirement(s) for s in (line.split("#")[0].strip() for line in lines) if s]


def _readme_pip_args() -> list[str]:
    """The arguments of `pip install` in the README's two setup commands (must agree)."""
    readme = (REPO / "README.md").read_text("utf-8")
    installs = re.findall(r"\.venv/bin/pip install ([^&\n]+?)\s*(?:&&|$)", readme, re.M)
    assert len(installs) >= 2, installs
    return installs


def test_environment_uses_conda_forge_only_and_no_conda_torch():
    env = _env()
    assert env["channels"] == ["conda-forge"]
    conda_pkgs = [d for d in env["dependencies"] if isinstance(d, str)]
    names = {re.split(r"[=<>!\s]", d)[0] for d in conda_pkgs}
    assert not names & {"pytorch", "torch", "cpuonly", "pytorch-cuda"}, names
    assert "pip" in names


def test_environment_python_satisfies_requires_python():
    env = _env()
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    version = python.split("=", 1)[1]
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(version + ".0")
    assert "Python :: " + version in " ".join(_pyproject()["project"]["classifiers"])


def test_environment_pip_section_is_the_readme_pip_install():
    env = _env()
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pip == ["-r requirements-cpu.txt", '-e ".[all,test]"']
    test_install = _readme_pip_args()[1]
    assert test_install == '-r requirements-cpu.txt -e ".[all,test]"'


def test_torch_comes_from_requirements_cpu_and_satisfies_the_classify_extra():
    pins = {r.name: r for r in _cpu_requirements()}
    torch = pins["torch"]
    (spec,) = torch.specifier
    assert spec.operator == "=="
    classify = [
        Requirement(r) for r in _pyproject()["project"]["optional-dependencies"]["classify"]
    ]
    wanted = next(r for r in classify if r.name == "torch")
    assert wanted.specifier.contains(spec.version), (wanted, spec)
    # every extra named in the pip line exists in pyproject.toml
    extras = set(_pyproject()["project"]["optional-dependencies"])
    assert {"all", "test"} <= extras


def test_ci_and_readme_run_the_chromium_step():
    assert "scripts/install_chromium.sh" in (REPO / ".ci" / "run").read_text("utf-8")
    readme = (REPO / "README.md").read_text("utf-8")
    assert re.search(r"^scripts/install_chromium\.sh && python3\.11 -m venv", readme, re.M)
    assert os.access(SCRIPT, os.X_OK)


def _fake_bin(tmp_path: Path, apt_script: str) -> Path:
    """A PATH holding only bash, coreutils' id and an apt-get that runs ``apt_script``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "env", "cat"):
        real = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True)
        (bin_dir / tool).symlink_to(real.stdout.strip())
    apt = bin_dir / "apt-get"
    apt.write_text("#!" + str(bin_dir / "bash") + "\n" + apt_script, "utf-8")
    apt.chmod(0o755)
    return bin_dir


def test_the_chromium_step_does_nothing_when_chromium_is_there(tmp_path):
    bin_dir = _fake_bin(tmp_path, f'echo "$@" >> {tmp_path}/calls\n')
    (bin_dir / "chromium").write_text("#!/bin/sh\n", "utf-8")
    (bin_dir / "chromium").chmod(0o755)
    out = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "is installed" in out.stdout
    assert not (tmp_path / "calls").exists()


def test_the_chromium_step_falls_back_to_apt_get_update_when_install_fails(tmp_path):
    """A fresh container has no package lists: the first install fails, update, install again."""
    bin_dir = _fake_bin(
        tmp_path,
        f'echo "$@" >> {tmp_path}/calls\n'
        f'if [ "$1" = update ]; then : > {tmp_path}/lists; exit 0; fi\n'
        f"[ -e {tmp_path}/lists ] || exit 100\n"
        f'printf "#!/bin/sh\\n" > {tmp_path}/bin/chromium; /bin/chmod 755 {tmp_path}/bin/chromium\n',
    )
    if os.geteuid() != 0:
        (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n', "utf-8")
        (bin_dir / "sudo").chmod(0o755)
    out = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == ["install -y -q chromium", "update -q", "install -y -q chromium"]
    assert f"installed {bin_dir / 'chromium'}" in out.stdout
