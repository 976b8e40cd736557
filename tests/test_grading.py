"""The graded-exercise pipeline: check messages, full marks and zero, bad and tampering submissions in the
bubblewrap sandbox, parity with otter (Gradescope), the CLI.

The build (``tools/exercises.py build``) runs once per module into a temporary folder; the fixture folder
of bad and tampering submissions, the masters, the untouched exercises and a typical wrong answer to each
capstone are each graded once (module-scoped), so the whole file takes five to seven minutes on two cores.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import rnncourse.grade
import rnncourse_grading.checks
from rnncourse.grade import expect_array, expect_close, expect_equal, expect_true
from rnncourse_grading import kernel as grading_kernel
from rnncourse_grading.build import hidden_leaks, parse_test_file
from rnncourse_grading.folder import default_workers, grade_folder, main
from rnncourse_grading.runner import _is_otter_cell, detect_exercise

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SUBMISSIONS = FIXTURES / "submissions"
EXPECTED_CSV = FIXTURES / "expected_grades.csv"
MASTERS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
#: The end-of-part capstones (``NN_capstone_*``): graded also on a typical wrong answer, here and with otter.
CAPSTONES = [m for m in MASTERS if m.stem[3:].startswith("capstone_")]
# Short limits keep the loops of the fixtures cheap; honest cells and tests take well under a second.
FAST = {"cell_timeout": 6, "test_timeout": 6, "workers": 2, "progress": False}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """The grading files of every master, built in a subprocess (otter's import stays out of this one)."""
    tmp = tmp_path_factory.mktemp("exercise-build")
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "exercises.py"),
        "build",
        "--no-run-tests",
        "--build",
        str(tmp / "build"),
        "--exercises",
        str(tmp / "exercises"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "build"


def _checksums(*folders) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


class _Listener:
    """A TCP server on the loopback port that ``attack_d_network`` calls; counts the connections it gets."""

    def __init__(self, port=8765):
        self.accepted = 0
        self.sock = socket.socket()
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError:  # the port is taken: the sandbox is still checked by the fixture's row
            self.sock.close()
            self.sock = None
            return
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        if self.sock is not None:
            self.stop.set()
            self.thread.join()
            self.sock.close()


@pytest.fixture(scope="module")
def fixture_results(build_dir, tmp_path_factory):
    """The fixture folder of bad and tampering submissions, graded once with short time limits; checksums of
    the grader, the library and the build folder before and after, and what the loopback listener got."""
    out = tmp_path_factory.mktemp("fixture-grades") / "grades.csv"
    watched = (ROOT / "src" / "rnncourse_grading", build_dir)
    before = _checksums(*watched)
    listener = _Listener()
    try:
        results = grade_folder(SUBMISSIONS, out, build_dir=build_dir, exercise="01_recurrent_state", **FAST)
    finally:
        listener.close()
    return results, out, {"before": before, "after": _checksums(*watched), "connections": listener.accepted}


def typical_wrong_answer(master: Path) -> tuple[dict, list[str]]:
    """A submission that gets two questions of ``master`` wrong, and those questions.

    The student notebook of ``exercises/`` with every answer cell filled in from the master, except that the
    first wrong answer that ``solutions/mutations/NN_name.py`` lists for the first and for the last question
    replaces the first solution cell of that question (the public tests catch both; the mutation check shows
    that no other question pays for them).
    """
    spec = importlib.util.spec_from_file_location(
        f"mutations_{master.stem}", ROOT / "solutions" / "mutations" / f"{master.stem}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    listed = [m if isinstance(m, dict) else vars(m) for m in module.MUTATIONS]
    questions = sorted({m["question"] for m in listed}, key=lambda q: int(q[1:]))
    wrong = {
        q: next(m["code"] for m in listed if m["question"] == q and not m.get("partial"))
        for q in (questions[0], questions[-1])
    }
    answers, question, mode = [], None, None
    for cell in json.loads(master.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "raw":
            head = source.strip().splitlines()[0] if source.strip() else ""
            if head == "# BEGIN QUESTION":
                question = next(
                    line.split(":", 1)[1].strip() for line in source.splitlines() if line.startswith("name:")
                )
            mode = {"# BEGIN SOLUTION": "solution"}.get(head)
        elif mode == "solution" and cell["cell_type"] == "code":
            first = all(q != question for q, _ in answers)
            answers.append((question, wrong[question] if first and question in wrong else source))
    student = json.loads((ROOT / "exercises" / master.name).read_text())
    cells = [c for c in student["cells"] if "otter_answer_cell" in c["metadata"].get("tags", [])]
    assert len(cells) == len(answers), f"{master.name}: {len(cells)} answer cells, {len(answers)} solutions"
    for cell, (_, source) in zip(cells, answers, strict=True):
        cell["source"] = source
    return student, sorted(wrong)


@pytest.fixture(scope="module")
def master_results(build_dir, tmp_path_factory):
    """Every master as a submission, every exercise as handed out and a typical wrong answer to each capstone,
    graded once with the default time limits (some masters train a model for a few seconds)."""
    folder = tmp_path_factory.mktemp("masters")
    built = build_dir.parent / "exercises"  # generated by the build fixture; the drift test compares them
    for master in MASTERS:
        shutil.copyfile(master, folder / f"solution_{master.name}")
        shutil.copyfile(built / master.name, folder / f"untouched_{master.name}")
    for master in CAPSTONES:
        (folder / f"wrong_{master.name}").write_text(json.dumps(typical_wrong_answer(master)[0]))
    results = grade_folder(folder, folder / "grades.csv", build_dir=build_dir, progress=False)
    return {r["file"]: r for r in results}


# --------------------------------------------------------------------------------------- check messages
def test_expect_close_names_expected_and_received_values():
    with pytest.raises(
        AssertionError,
        match=r"rnn_step is wrong at index \(0, 1\): expected 2, received 5 "
        r"\(1 of 4 entries are off\)",
    ):
        expect_close("rnn_step", np.array([[1.0, 5.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]))


def test_expect_close_reports_a_wrong_shape_with_the_letters():
    with pytest.raises(AssertionError, match=r"returned shape \(2, 3\); expected shape \(2, 4\) = \(B, H\)"):
        expect_close(
            "rnn_step(x, h_prev, W_xh, W_hh, b_h)", np.zeros((2, 3)), np.zeros((2, 4)), shape_names="(B, H)"
        )


def test_expect_array_reports_the_first_nan():
    with pytest.raises(AssertionError, match=r"contains non-finite values: entry \(1,\) is nan"):
        expect_array("pulse_effect", np.array([0.5, np.nan, 1.0]), (3,))


def test_expect_array_explains_a_missing_return():
    with pytest.raises(AssertionError, match=r"returned None \(did the function forget to `return`\?\)"):
        expect_array("run_rnn(x, h0, W_xh, W_hh, b_h)", None, (2, 5, 4))


def test_expect_equal_names_the_placeholder():
    with pytest.raises(AssertionError, match=r"effect_shrinks is still the placeholder `...`; expected True"):
        expect_equal("effect_shrinks", ..., True)


def test_expect_equal_does_not_take_a_bool_for_an_int():
    with pytest.raises(AssertionError, match=r"param_count\(1, 1, 1, 1\) is bool True; expected 1"):
        expect_equal("param_count(1, 1, 1, 1)", True, 1)


def test_expect_helpers_return_the_checked_value():
    got = expect_close("x", [1.0, 2.0], np.array([1.0, 2.0]))
    assert isinstance(got, np.ndarray) and got.tolist() == [1.0, 2.0]
    assert expect_equal("n", 57, 57) == 57
    with pytest.raises(AssertionError, match="^custom message$"):
        expect_true(False, "custom message")


def test_grader_check_shows_expected_and_received(build_dir):
    """What a student sees under ``grader.check("q1")``: otter shows our message, not a doctest dump."""
    spec = json.loads((build_dir / "01_recurrent_state" / "grading.json").read_text())
    public = [c for c in spec["questions"][0]["cases"] if not c["hidden"]][0]
    script = textwrap.dedent(f"""
        import numpy as np
        from otter.test_files.exception_test import ExceptionTestFile
        header = "from otter.test_files import test_case\\nname = 'q1'\\n@test_case()\\n"
        source = header + {public["source"]!r}
        test = ExceptionTestFile.from_string(source, path="q1")
        test.run({{"rnn_step": lambda x, h_prev, W_xh, W_hh, b_h: np.tanh(x @ W_xh.T + h_prev @ W_hh.T)}})
        print(test.summary())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Test case failed" in proc.stdout
    assert (
        "AssertionError: rnn_step(x, h_prev, W_xh=0, W_hh=0, b_h=0.5) is wrong at index (0, 0): "
        "expected 0.462117, received 0" in proc.stdout
    )


# ------------------------------------------------------------------------------------ build and specs
def test_parse_test_file_resolves_points_like_otter():
    source = textwrap.dedent("""
        from otter.test_files import test_case
        name = "q1"
        points = [1, 2]

        @test_case(points=None, hidden=False)
        def test_public(rnn_step):
            import numpy as np

        @test_case(points=None, hidden=True)
        def test_hidden(rnn_step, env):
            from rnncourse.reference import rnn_step_forward
    """)
    spec = parse_test_file(source)
    assert spec["name"] == "q1" and spec["points"] == 3
    assert [(c["func"], c["hidden"], c["points"]) for c in spec["cases"]] == [
        ("test_public", False, 1.0),
        ("test_hidden", True, 2.0),
    ]
    assert spec["cases"][1]["params"] == ["rnn_step", "env"]
    assert spec["cases"][1]["imports"] == ["rnncourse.reference"]
    assert "@test_case" not in spec["cases"][0]["source"]


def test_hidden_tests_never_appear_in_the_exercises(build_dir):
    specs = [json.loads(p.read_text()) for p in sorted(build_dir.glob("*/grading.json"))]
    assert {s["exercise"] for s in specs} == {m.stem for m in MASTERS}
    for spec in specs:
        hidden = [c for q in spec["questions"] for c in q["cases"] if c["hidden"]]
        assert len(hidden) >= len(spec["questions"]), (
            f"{spec['exercise']}: every question needs a hidden test"
        )
        for folder in (build_dir.parent / "exercises", ROOT / "exercises"):
            text = (folder / f"{spec['exercise']}.ipynb").read_text()
            assert hidden_leaks(text, spec) == [], folder
            assert "hidden=True" not in text


def test_every_exercise_has_three_to_six_questions(build_dir):
    for path in sorted(build_dir.glob("*/grading.json")):
        spec = json.loads(path.read_text())
        assert 3 <= len(spec["questions"]) <= 6, spec["exercise"]


def test_otter_cells_are_recognised():
    assert _is_otter_cell(
        '# Initialize Otter\nimport otter\ngrader = otter.Notebook("01_recurrent_state.ipynb")'
    )
    assert _is_otter_cell('grader.check("q3")')
    assert not _is_otter_cell('grader.check("q3")\nx = 1')
    assert not _is_otter_cell("import numpy as np")


def test_exercise_is_read_from_metadata_then_config_then_text_then_name():
    known = {"01_recurrent_state", "02_computational_graphs"}
    meta = {"metadata": {"rnncourse": {"exercise": "02_computational_graphs"}}, "cells": []}
    assert detect_exercise(meta, "", Path("x.ipynb"), known) == "02_computational_graphs"
    master = {
        "metadata": {},
        "cells": [{"cell_type": "raw", "source": "# ASSIGNMENT CONFIG\nname: 01_recurrent_state"}],
    }
    assert detect_exercise(master, "", Path("x.ipynb"), known) == "01_recurrent_state"
    assert (
        detect_exercise(None, '{"assignment_name": "02_computational_graphs"', Path("x.ipynb"), known)
        == "02_computational_graphs"
    )
    assert detect_exercise(None, "", Path("alice_01_recurrent_state.ipynb"), known) == "01_recurrent_state"
    assert detect_exercise(None, "", Path("alice.ipynb"), known) is None


# ------------------------------------------------------------------------------- full marks and zero
def test_every_solution_scores_full_marks(master_results):
    for master in MASTERS:
        r = master_results[f"solution_{master.name}"]
        assert r["exercise"] == master.stem
        assert r["max"] > 0 and r["total"] == r["max"], (master.name, r["reasons"], r["notes"])


def test_every_untouched_exercise_scores_zero(master_results):
    for master in MASTERS:
        r = master_results[f"untouched_{master.name}"]
        assert r["exercise"] == master.stem and r["max"] > 0
        assert r["total"] == 0, (master.name, r["scores"])
        assert len(r["reasons"]) == len(r["scores"])  # every question says why it lost its points
        assert not any("_rnncourse" in reason for reason in r["reasons"]), r["reasons"]  # no internal names


def test_every_part_ends_with_a_capstone():
    assert [m.stem for m in CAPSTONES][:1] == ["12_capstone_char_rnn"], [m.stem for m in MASTERS]


def test_a_typical_wrong_capstone_answer_gets_partial_marks_with_its_reasons(master_results):
    """The two wrong questions lose points, with a reason each; every other question keeps all its points,
    the questions after them (trained and graded with the reference in place of the wrong answer) included."""
    for master in CAPSTONES:
        _, wrong = typical_wrong_answer(master)
        r, full = master_results[f"wrong_{master.name}"], master_results[f"solution_{master.name}"]
        assert full["total"] == full["max"], (master.name, full["reasons"])
        lost = sorted(q for q in full["scores"] if r["scores"][q] < full["scores"][q])
        assert lost == wrong and 0 < r["total"] < r["max"], (master.name, r["scores"], r["reasons"])
        assert [reason.split(" ", 1)[0] for reason in r["reasons"]] == wrong, r["reasons"]
        assert all("expected" in reason for reason in r["reasons"]), r["reasons"]
        assert not any("_rnncourse" in reason for reason in r["reasons"]), r["reasons"]


# ------------------------------------------------------------------------------------- the sandbox
ATTACKS = sorted(p.stem for p in SUBMISSIONS.glob("attack_*.ipynb"))


def test_fixture_folder_holds_every_kind_of_attack():
    assert [a.split("_")[1] for a in ATTACKS] == list("abcdefgh")


def test_no_attack_changes_the_grader_the_library_or_the_build_folder(fixture_results):
    _, _, watch = fixture_results
    assert watch["before"] == watch["after"] and len(watch["before"]) > 20


def test_no_attack_reaches_the_network_or_the_hidden_tests(fixture_results):
    by_file = {r["file"]: r for r in fixture_results[0]}
    assert fixture_results[2]["connections"] == 0
    for name in ATTACKS:
        r = by_file[f"{name}.ipynb"]
        assert r["sandbox"] == "bwrap" and r["kernel_restarts"] == 0, (name, r["notes"])
        if name in ("attack_e_fork_bomb", "attack_h_background_process"):
            assert r["total"] == 15 and len(r["events"]) == 1, (name, r["events"])
        else:  # the attack raised in the q1 cell: q1 lost, the rest kept
            assert r["scores"] == {"q1": 0, "q2": 3, "q3": 3, "q4": 3, "q5": 3}, (name, r["reasons"])


def test_honest_submissions_score_the_same_alone_as_after_the_attacks(fixture_results, build_dir, tmp_path):
    """The attacks sort first, so these were graded after (and beside) them in the batch."""
    names = ["exception.ipynb", "reordered_cells.ipynb", "wrong_answers_02.ipynb"]
    alone = grade_folder(
        [SUBMISSIONS / n for n in names],
        tmp_path / "g.csv",
        build_dir=build_dir,
        exercise="01_recurrent_state",
        **FAST,
    )
    by_file = {r["file"]: r for r in fixture_results[0]}
    for r in alone:
        batch = by_file[r["file"]]
        assert (r["scores"], r["reasons"], r["events"]) == (
            batch["scores"],
            batch["reasons"],
            batch["events"],
        )


def test_without_bubblewrap_grading_stops_and_names_the_fix(build_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(grading_kernel.shutil, "which", lambda name: None)
    with pytest.raises(
        ValueError,
        match=r"cannot grade in a sandbox: bubblewrap \(`bwrap`\) is not installed.*"
        r"apt-get install bubblewrap.*--no-sandbox",
    ):
        grade_folder(tmp_path, tmp_path / "g.csv", build_dir=build_dir)
    assert main([str(tmp_path), "--build", str(build_dir)]) == 2
    assert "sudo apt-get install bubblewrap" in capsys.readouterr().err


def test_no_sandbox_is_recorded_in_every_row(build_dir, tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("invalid_json.ipynb", "reordered_cells.ipynb"):
        shutil.copyfile(SUBMISSIONS / name, folder / name)
    grade_folder(folder, tmp_path / "g.csv", build_dir=build_dir, sandbox=False, **FAST)
    rows = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert [(r["total"], r["sandbox"], r["events"]) for r in rows] == [
        ("0", "none", "graded without a sandbox (--no-sandbox)"),
        ("15", "none", "graded without a sandbox (--no-sandbox)"),
    ]
    assert json.loads((tmp_path / "g.json").read_text())["settings"]["sandbox"] == "none"


def test_the_sandbox_refuses_a_folder_that_it_could_read(build_dir, tmp_path, monkeypatch):
    assert grading_kernel.exposed(ROOT / "src" / "rnncourse") == str(ROOT / "src")
    assert grading_kernel.exposed(build_dir) is None and grading_kernel.exposed(SUBMISSIONS) is None
    monkeypatch.setattr(grading_kernel, "sandbox_roots", lambda: [str(tmp_path)])
    shutil.copyfile(SUBMISSIONS / "invalid_json.ipynb", tmp_path / "invalid_json.ipynb")
    with pytest.raises(
        ValueError, match=r"the submissions '.*' lie inside '.*', which every sandbox can read"
    ):
        grade_folder(tmp_path, tmp_path / "g.csv", build_dir=build_dir)


# -------------------------------------------------------------------------------- bad submissions
def test_fixture_folder_covers_every_kind_of_bad_submission():
    names = {p.stem for p in SUBMISSIONS.glob("*.ipynb")}
    assert {
        "syntax_error",
        "exception",
        "infinite_loop",
        "nan_and_wrong_shape",
        "deleted_cells",
        "reordered_cells",
        "edited_public_tests",
        "invalid_json",
        "cheat",
        "memory_hog",
    } <= names


def test_fixture_folder_produces_the_expected_csv(fixture_results):
    _, out, _ = fixture_results
    with out.open(newline="") as f:
        got = list(csv.reader(f))
    with EXPECTED_CSV.open(newline="") as f:
        want = list(csv.reader(f))
    assert got[0] == want[0]
    assert [row[0] for row in got] == [row[0] for row in want]
    for got_row, want_row in zip(got[1:], want[1:], strict=True):
        assert got_row == want_row


def test_fixture_json_report_sits_beside_the_csv(fixture_results):
    results, out, _ = fixture_results
    report = json.loads(out.with_suffix(".json").read_text())
    assert [s["file"] for s in report["submissions"]] == [r["file"] for r in results]
    assert report["exercises"]["01_recurrent_state"]["max"] == 15
    assert report["settings"]["workers"] == 2


def test_a_loop_costs_only_its_own_question(fixture_results):
    by_file = {r["file"]: r for r in fixture_results[0]}
    loop = by_file["infinite_loop.ipynb"]
    assert loop["scores"] == {"q1": 3, "q2": 0, "q3": 3, "q4": 3, "q5": 3}
    assert any("cell 15 (q4) timed out after 6 s and was interrupted" in n for n in loop["notes"])
    replaced = by_file["loop_replaced_definition.ipynb"]
    assert replaced["reasons"] == [
        "q4 (-3): `param_count` is not defined; cell 14 (q4) timed out after 6 s and was interrupted"
    ]
    stubborn = by_file["ignores_interrupt.ipynb"]
    assert stubborn["kernel_restarts"] >= 1 and stubborn["total"] == 12


def test_the_cheat_gets_no_points_for_printing_or_writing_its_score(fixture_results):
    cheat = {r["file"]: r for r in fixture_results[0]}["cheat.ipynb"]
    assert cheat["total"] == 0 and all(t["status"] != "passed" for t in cheat["tests"])


# ------------------------------------------------------------------------------------ command line
def test_command_line_writes_csv_json_and_a_progress_bar(build_dir, tmp_path, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copyfile(SUBMISSIONS / "invalid_json.ipynb", folder / "invalid_json.ipynb")
    out = tmp_path / "grades.csv"
    code = main(
        [str(folder), "--out", str(out), "--build", str(build_dir), "--exercise", "01_recurrent_state"]
    )
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["student_id"] == "invalid_json" and rows[0]["total"] == "0" and rows[0]["max"] == "15"
    assert "not valid JSON" in rows[0]["reasons"]
    assert json.loads(out.with_suffix(".json").read_text())["submissions"][0]["file"] == "invalid_json.ipynb"
    captured = capsys.readouterr()
    assert "grading" in captured.err and "1/1" in captured.err


def test_the_documented_command_runs_as_a_module(tmp_path):
    cmd = [sys.executable, "-m", "rnncourse_grading", str(tmp_path), "--build", str(tmp_path / "nothing")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "run `make exercises` first" in proc.stderr
    help_text = subprocess.run([*cmd[:3], "--help"], capture_output=True, text=True, check=True).stdout
    assert help_text.startswith("usage: python -m rnncourse_grading")


def test_the_library_re_exports_the_checks_of_the_grading_package():
    for name in rnncourse.grade.__all__:
        assert getattr(rnncourse.grade, name) is getattr(rnncourse_grading.checks, name)
    assert {"expect_array", "expect_close", "expect_equal", "expect_true"} <= set(rnncourse.grade.__all__)


def test_command_line_without_a_build_says_how_to_fix_it(tmp_path, capsys):
    assert main([str(tmp_path), "--build", str(tmp_path / "nothing")]) == 2
    assert "run `make exercises` first" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- validation
def test_grade_folder_rejects_a_non_positive_number_of_workers(build_dir, tmp_path):
    with pytest.raises(ValueError, match=r"workers must be a positive whole number, got 0"):
        grade_folder(tmp_path, tmp_path / "g.csv", build_dir=build_dir, workers=0)


def test_workers_default_to_the_cores_and_take_any_positive_number(build_dir, tmp_path):
    assert default_workers() == len(os.sched_getaffinity(0))
    grade_folder(tmp_path, tmp_path / "g.csv", build_dir=build_dir, workers=64, progress=False)
    assert json.loads((tmp_path / "g.json").read_text())["settings"]["workers"] == 64
    grade_folder(tmp_path, tmp_path / "d.csv", build_dir=build_dir, progress=False)
    assert json.loads((tmp_path / "d.json").read_text())["settings"]["workers"] == default_workers()


def test_grade_folder_rejects_a_non_positive_timeout(build_dir, tmp_path):
    with pytest.raises(ValueError, match=r"cell_timeout must be a positive number of seconds, got 0"):
        grade_folder(tmp_path, tmp_path / "g.csv", build_dir=build_dir, cell_timeout=0)


def test_grade_folder_rejects_a_missing_folder(build_dir, tmp_path):
    with pytest.raises(ValueError, match=r"submissions must be a folder of .ipynb files, got '.*nowhere'"):
        grade_folder(tmp_path / "nowhere", tmp_path / "g.csv", build_dir=build_dir)


def test_grade_folder_rejects_an_unknown_exercise(build_dir, tmp_path):
    with pytest.raises(ValueError, match=r"exercise must be one of \[.*'01_recurrent_state'.*\], got '99_x'"):
        grade_folder(tmp_path, tmp_path / "g.csv", build_dir=build_dir, exercise="99_x")


def test_grade_folder_rejects_an_empty_build(tmp_path):
    with pytest.raises(ValueError, match=r"no grading files .* run `make exercises` first"):
        grade_folder(tmp_path, tmp_path / "g.csv", build_dir=tmp_path)


# ----------------------------------------------------------------------------- Gradescope (otter) parity
#: Every fixture that finishes within the limits and that otter can run without a sandbox (each `otter run`
#: takes 15-35 s here; two at a time): all right but reordered, a syntax error, an exception, wrong shapes
#: and NaN, deleted cells, edited public tests, exercise 02. Left out, with the reason:
#:
#: - ``attack_*``: otter runs the notebook as a plain process with no sandbox; the attacks would rewrite the
#:   grader and the build, read the hidden tests, reach the network and start a real fork bomb;
#: - ``infinite_loop``, ``ignores_interrupt``, ``loop_replaced_definition``: they do not finish (otter has no
#:   time limit per cell or per test);
#: - ``memory_hog``: otter has no memory cap (its top-level loop reserves 800 MB blocks until the machine's
#:   limits), and it is a real difference: under an 8 GiB address-space cap otter gives q4 0 (as here) but
#:   q5 1 of 3, not 3, because the hog's `cache` list stays alive in otter's grading kernel and q5's second
#:   hidden test cannot `import torch` ("libtorch_cpu.so: failed to map segment from shared object"); the
#:   local grader restarts a kernel holding over 80 % of its cap after a failed cell (runner.py);
#: - ``kernel_crash``: `os._exit` kills otter's kernel; `otter run` fails (DeadKernelError), no results.json
#:   (the local grader restarts the kernel and loses q5 only);
#: - ``invalid_json``: not a notebook; `otter run` fails (NotJSONError), no results.json;
#: - ``cheat``: it patches the check helpers and replaces `grader` inside otter's own grading kernel, so
#:   otter's scores are not the local ones by design.
PARITY = [
    "reordered_cells.ipynb",
    "syntax_error.ipynb",
    "exception.ipynb",
    "nan_and_wrong_shape.ipynb",
    "deleted_cells.ipynb",
    "edited_public_tests.ipynb",
    "wrong_answers_02.ipynb",
]


def _otter_scores(name, zip_path: Path, out: Path) -> tuple[dict, str]:
    """`otter run` with the autograder zip on one fixture (a name in the fixture folder, or a path); its
    per-question scores and its stderr."""
    out.mkdir()
    otter = str(Path(sys.executable).parent / "otter")
    cmd = [otter, "run", "-a", str(zip_path), "-o", str(out), str(SUBMISSIONS / name)]
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=300, check=False)
    results = out / "results.json"
    assert results.exists(), (name, proc.returncode, proc.stderr[-2000:])
    tests = json.loads(results.read_text())["tests"]
    return {t["name"]: t["score"] for t in tests if t["name"] != "Public Tests"}, proc.stderr


def test_otter_parity_the_autograder_zip_gives_the_local_scores(fixture_results, build_dir, tmp_path):
    by_file = {r["file"]: r for r in fixture_results[0]}

    def run(name):
        (zip_path,) = (build_dir / by_file[name]["exercise"] / "autograder").glob("*.zip")
        return name, *_otter_scores(name, zip_path, tmp_path / Path(name).stem)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(run, PARITY))
    differences = {
        name: {"local": by_file[name]["scores"], "otter": scores, "stderr": err[-1000:]}
        for name, scores, err in runs
        if scores != by_file[name]["scores"]
    }
    assert not differences, differences


def test_otter_parity_on_the_capstones(master_results, build_dir, tmp_path):
    """Each capstone's typical wrong answer (a model trained in the notebook and again in a hidden test) gets
    the same scores from the autograder zip that Gradescope runs as from the local grader."""

    def run(master):
        path = tmp_path / f"wrong_{master.name}"
        path.write_text(json.dumps(typical_wrong_answer(master)[0]))
        (zip_path,) = (build_dir / master.stem / "autograder").glob("*.zip")
        return master, *_otter_scores(path, zip_path, tmp_path / master.stem)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(run, CAPSTONES))
    differences = {
        master.name: {"local": master_results[f"wrong_{master.name}"]["scores"], "otter": scores,
                      "stderr": err[-1000:]}
        for master, scores, err in runs
        if scores != master_results[f"wrong_{master.name}"]["scores"]
    }
    assert CAPSTONES and not differences, differences
