"""Each top-level package must come from this repository (PyPI has packages of the same
names, e.g. ``guardrails`` and ``evals``)."""

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["corpus", "retrieval", "guardrails", "assistant", "ui", "evals"])
def test_package_imports_from_this_repo(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPO / name


def test_console_script_is_installed() -> None:
    import shutil
    import subprocess

    exe = shutil.which("bedside")
    assert exe, "the `bedside` console script is not on PATH; run `pip install -e .`"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("index", "ask"):
        assert command in out
