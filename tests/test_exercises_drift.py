"""The committed student notebooks in ``exercises/`` are exactly what the masters in ``solutions/`` generate.

``tools/exercises.py check`` regenerates every student notebook with ``otter assign`` in a temporary folder
and compares it byte for byte (generation is deterministic: fixed cell ids, no outputs, fixed metadata).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from rnncourse_grading.build import normalize_student_notebook

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "exercises.py"


def _check(*args: str) -> subprocess.CompletedProcess:
    # a subprocess keeps otter's import (slow, with deprecation warnings) out of the test process
    return subprocess.run(
        [sys.executable, str(TOOL), "check", *args], capture_output=True, text=True, check=False
    )


def test_committed_exercises_match_their_masters():
    masters = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    assert "01_recurrent_state" in masters and "02_computational_graphs" in masters
    assert sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb")) == masters
    proc = _check()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"in sync with {len(masters)} master notebooks" in proc.stdout


def test_check_fails_when_a_master_changes_without_regenerating(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    exercises.mkdir()
    name = "01_recurrent_state.ipynb"
    shutil.copyfile(ROOT / "solutions" / name, solutions / name)
    shutil.copyfile(ROOT / "exercises" / name, exercises / name)
    shutil.copyfile(ROOT / "exercises" / name, exercises / "99_orphan.ipynb")
    master = json.loads((solutions / name).read_text())
    prompt = next(c for c in master["cells"] if "".join(c["source"]).startswith("## Question 1"))
    prompt["source"] = "".join(prompt["source"]) + "\nUse `np.tanh`."
    (solutions / name).write_text(json.dumps(master, indent=1))

    proc = _check("--solutions", str(solutions), "--exercises", str(exercises))
    assert proc.returncode == 1
    assert f"exercises/{name} differs from what solutions/{name} generates" in proc.stderr
    assert "run `make exercises`" in proc.stderr
    assert '+    "Use `np.tanh`."' in proc.stderr  # the diff shows the change
    assert "exercises/99_orphan.ipynb has no master" in proc.stderr


def test_normalised_notebook_is_deterministic_and_clean():
    raw = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "random-1",
                "metadata": {"lines_to_next_cell": 2},
                "source": ["# T"],
            },
            {
                "cell_type": "code",
                "id": "random-2",
                "execution_count": 7,
                "metadata": {"tags": ["otter_answer_cell"], "ExecuteTime": {"end_time": "2026-01-01"}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}],
                "source": "x = ...",
            },
        ],
        "metadata": {
            "otter": {"OK_FORMAT": False, "assignment_name": "01_x", "tests": {}},
            "language_info": {"version": "3.11.7"},
            "widgets": {},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    text = normalize_student_notebook(raw, "01_x")
    nb = json.loads(text)
    assert [c["id"] for c in nb["cells"]] == ["01-000", "01-001"]
    assert nb["cells"][1]["outputs"] == [] and nb["cells"][1]["execution_count"] is None
    assert nb["cells"][1]["metadata"] == {"tags": ["otter_answer_cell"]} and nb["cells"][0]["metadata"] == {}
    assert set(nb["metadata"]) == {"kernelspec", "language_info", "otter", "rnncourse"}
    assert nb["metadata"]["rnncourse"] == {"exercise": "01_x"}
    assert normalize_student_notebook(nb, "01_x") == text  # idempotent
