"""A class server (JupyterHub, Binder) builds the course with repo2docker: requirements.txt, then postBuild.

The test does the same in a fresh virtual environment, then imports the library and runs an exercise's grader
on the untouched student notebook, as a student's first `grader.check` would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_postbuild_in_a_fresh_environment(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(ROOT / "requirements.txt")],
        check=True,
        timeout=1800,
    )
    repo = tmp_path / "repo"  # repo2docker works on a copy of the repository
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv", "_build", ".git", "*.egg-info"))
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        ["bash", "postBuild"], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the exercises open with their grader" in done.stdout
    script = (
        "import os, rnncourse.reference, otter\n"
        "os.chdir('exercises')\n"
        "grader = otter.Notebook('01_recurrent_state.ipynb')\n"
        "print(type(grader).__name__)\n"
    )
    done = subprocess.run(
        [str(python), "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("Notebook")
    installed = subprocess.run(
        [str(python), "-c", "import rnncourse, pathlib; print(pathlib.Path(rnncourse.__file__).parent)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(installed) == repo / "src" / "rnncourse"
