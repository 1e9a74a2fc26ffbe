"""The dependency bounds of ``pyproject.toml`` leave out the releases found to break the program
or its build (each found by installing the lowest version the bounds admitted in a fresh virtual
environment)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

#: Per list of requirements (the required dependencies, an extra, the build's): a release the
#: bounds must not admit, and why.
BROKEN = {
    "dependencies": [
        ("typer", "0.15.3", "with click 8.5.1 (pip's choice) every command crashed: TypeError in typer"),
        ("pydicom", "3.0.0", "highdicom 0.28 (the lowest admitted) needs pydicom >= 3.0.1: no install resolves"),
        ("python-gdcm", "3.0.24.1", "a corrupt JPEG Lossless frame decoded into noise, analysed, not rejected"),
        # pip pairs these (built for numpy 1) with numpy 2.4.6: `follicle-seg run` died importing them
        ("pandas", "2.1.0", "numpy.dtype size changed, may indicate binary incompatibility"),
        ("scikit-image", "0.22.0", "numpy.dtype size changed, may indicate binary incompatibility"),
        ("opencv-python-headless", "4.8.0.74", "numpy.core.multiarray failed to import"),
    ],
    "dev": [
        ("click", "8.1.8", "CliRunner mixed stderr into stdout: `inspect --json` output read as JSON failed"),
        ("setuptools", "76.1.0", "tests/test_wheel.py's build failed: 'project.license must be valid'"),
    ],
    "build-system": [
        ("setuptools", "76.1.0", "the wheel did not build: 'project.license must be valid'"),
    ],
}

CASES = [(where, *case) for where, cases in BROKEN.items() for case in cases]


def _requirements(where: str) -> dict[str, Requirement]:
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    if where == "build-system":
        lines = pyproject["build-system"]["requires"]
    elif where == "dependencies":
        lines = pyproject["project"]["dependencies"]
    else:
        lines = pyproject["project"]["optional-dependencies"][where]
    return {Requirement(line).name: Requirement(line) for line in lines}


@pytest.mark.parametrize(("where", "name", "version", "why"), CASES, ids=[f"{w}-{n}-{v}" for w, n, v, _ in CASES])
def test_the_bounds_leave_out_a_release_that_breaks_the_program(where: str, name: str, version: str, why: str) -> None:
    specifier = _requirements(where)[name].specifier
    assert version not in specifier, f"{name} {version} is admitted by {specifier}: {why}"


#: Packages that a command the guides give a plain install imports, beyond the package's own
#: imports, and that command.
DOCUMENTED_COMMANDS = {
    "fire": "python -m monai.bundle run (README, docs/model.md): a plain install said "
            "ModuleNotFoundError: No module named 'fire'",
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED_COMMANDS))
def test_a_plain_install_runs_the_documented_commands(name: str) -> None:
    assert name in _requirements("dependencies"), DOCUMENTED_COMMANDS[name]
