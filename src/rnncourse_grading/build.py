"""Generate the student notebooks and the grading files from the exercise masters.

A master ``solutions/NN_name.ipynb`` (otter-grader assign format, see ``solutions/README.md``) gives

* ``exercises/NN_name.ipynb``: the student notebook (committed), normalised so that generating it twice
  gives the same bytes: fixed cell ids, no outputs, no execution counts, only the metadata it needs;
* ``BUILD/NN_name/``: otter's ``autograder/`` and ``student/`` folders (with the autograder zip), and
  ``grading.json``, the tests of every question (public and hidden) that the grader injects.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat

#: Cell metadata kept in the student notebook; everything else (jupytext, execution timing...) is dropped.
KEPT_CELL_METADATA = ("deletable", "editable", "tags")
#: Version of the ``grading.json`` layout.
GRADING_FORMAT = 1
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def list_masters(solutions_dir: Path, names=None) -> list[Path]:
    """The master notebooks ``NN_name.ipynb`` in ``solutions_dir`` (all, or those named in ``names``)."""
    masters = sorted(p for p in Path(solutions_dir).glob("[0-9][0-9]_*.ipynb"))
    if names:
        wanted = {Path(n).stem for n in names}
        unknown = wanted - {p.stem for p in masters}
        if unknown:
            raise ValueError(
                f"no master notebook for {sorted(unknown)} in {solutions_dir}; "
                f"expected one of {[p.stem for p in masters]}."
            )
        masters = [p for p in masters if p.stem in wanted]
    return masters


def run_otter_assign(master: Path, out_dir: Path, *, run_tests: bool = True) -> None:
    """Run ``otter assign master out_dir`` in this process; raise RuntimeError with the reason on failure.

    Running in-process pays otter's slow import (several seconds) once for all masters. With ``run_tests``
    otter grades its autograder notebook and fails unless the solutions get full marks.
    """
    from otter.assign import main as otter_assign  # heavy import, only when building

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(key, "1")
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            otter_assign(str(Path(master).resolve()), str(out_dir.resolve()), no_run_tests=not run_tests)
    except Exception as exc:  # otter raises many types (ValueError, RuntimeError, AssertionError...)
        raise RuntimeError(
            f"otter assign failed on {Path(master).name}: {type(exc).__name__}: {exc}\n"
            f"{log.getvalue()[-3000:]}"
        ) from exc


def normalize_student_notebook(nb: dict, exercise: str) -> str:
    """Return the student notebook as deterministic JSON text (nbformat 4.5, fixed ids, no outputs)."""
    cells = []
    for i, cell in enumerate(nb["cells"]):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        meta = {k: cell.get("metadata", {})[k] for k in KEPT_CELL_METADATA if k in cell.get("metadata", {})}
        new = {
            "cell_type": cell["cell_type"],
            "id": f"{exercise[:2]}-{i:03d}",
            "metadata": meta,
            "source": source,
        }
        if cell["cell_type"] == "code":
            new["execution_count"] = None
            new["outputs"] = []
        cells.append(new)
    otter_meta = nb.get("metadata", {}).get("otter", {})
    metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "otter": {
            key: otter_meta[key] for key in ("OK_FORMAT", "assignment_name", "tests") if key in otter_meta
        },
        "rnncourse": {"exercise": exercise},
    }
    node = nbformat.from_dict({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})
    nbformat.validate(node)
    return nbformat.writes(node, version=4) + "\n"


def _literal(node, default=None):
    return default if node is None else ast.literal_eval(node)


def _resolve_points(total, case_points: list) -> list[float]:
    """Point value of every test case, with otter-grader's rules (``TestFile.resolve_test_file_points``)."""
    if isinstance(total, list):
        if len(total) != len(case_points):
            raise ValueError(
                f"points lists {len(total)} values but the question has {len(case_points)} tests"
            )
        case_points, total = list(total), None
    given = sum(p for p in case_points if p is not None)
    n_free = sum(p is None for p in case_points)
    if total is not None:
        per_free = (total - given) / n_free if n_free else 0.0
    elif given == 0:
        per_free = 1 / n_free if n_free else 0.0
    else:
        per_free = 0.0
    return [float(p) if p is not None else float(per_free) for p in case_points]


def parse_test_file(source: str) -> dict:
    """Parse one exception-based otter test file into ``{"name", "points", "cases": [...]}``.

    Each case holds the test function's ``source`` (without its decorator), ``func`` (its name), ``params``
    (the notebook names it receives), ``hidden``, ``points`` and ``imports`` (modules it imports).
    """
    tree = ast.parse(source)
    name, total, cases = None, None, []
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "name":
                name = ast.literal_eval(node.value)
            elif node.targets[0].id == "points":
                total = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef):
            kwargs = {}
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "test_case":
                    kwargs = {kw.arg: kw.value for kw in dec.keywords}
            imports = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    imports.update(alias.name for alias in sub.names)
                elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                    imports.add(sub.module)
            node.decorator_list = []
            cases.append(
                {
                    "func": node.name,
                    "params": [a.arg for a in node.args.args],
                    "hidden": bool(_literal(kwargs.get("hidden"), False)),
                    "points": _literal(kwargs.get("points")),
                    "imports": sorted(imports),
                    "source": ast.unparse(node) + "\n",
                }
            )
    if name is None or not cases:
        raise ValueError(f"not an exception-based otter test file (no name or no test_case):\n{source[:300]}")
    for case, points in zip(cases, _resolve_points(total, [c["points"] for c in cases]), strict=True):
        case["points"] = points
    return {"name": name, "points": sum(c["points"] for c in cases), "cases": cases}


def grading_spec(autograder_nb: dict, exercise: str) -> dict:
    """The grading spec of an exercise from the tests stored in otter's autograder notebook."""
    tests = autograder_nb["metadata"]["otter"]["tests"]
    questions = [parse_test_file(tests[q]) for q in sorted(tests, key=_question_key)]
    return {
        "format": GRADING_FORMAT,
        "exercise": exercise,
        "questions": questions,
        "max": sum(q["points"] for q in questions),
    }


def _question_key(name: str):
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 0, name)


def hidden_leaks(student_text: str, spec: dict) -> list[str]:
    """Names of hidden test functions whose name or body appears in the student notebook text."""
    leaks = []
    for question in spec["questions"]:
        for case in question["cases"]:
            if case["hidden"] and (case["func"] in student_text or case["source"].strip() in student_text):
                leaks.append(f"{question['name']}:{case['func']}")
    return leaks


def build_exercise(master: Path, exercises_dir: Path, build_dir: Path, *, run_tests: bool = True) -> dict:
    """Generate ``exercises/NN_name.ipynb`` and ``build_dir/NN_name/`` from one master; return the spec."""
    master = Path(master)
    exercise = master.stem
    out = Path(build_dir) / exercise
    run_otter_assign(master, out, run_tests=run_tests)
    student = json.loads((out / "student" / master.name).read_text(encoding="utf-8"))
    text = normalize_student_notebook(student, exercise)
    autograder = json.loads((out / "autograder" / master.name).read_text(encoding="utf-8"))
    spec = grading_spec(autograder, exercise)
    leaks = hidden_leaks(text, spec)
    if leaks:
        raise RuntimeError(f"hidden tests appear in the student notebook of {exercise}: {leaks}")
    (out / "grading.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    Path(exercises_dir).mkdir(parents=True, exist_ok=True)
    (Path(exercises_dir) / master.name).write_text(text, encoding="utf-8")
    return spec


def check_drift(solutions_dir: Path, exercises_dir: Path) -> list[str]:
    """Regenerate every student notebook in a temporary folder and compare it with ``exercises_dir``.

    Returns
    -------
    list of str
        One readable problem per notebook that differs, is missing or has no master; empty when in sync.
    """
    problems = []
    masters = list_masters(solutions_dir)
    with tempfile.TemporaryDirectory(prefix="rnncourse-drift-") as tmp:
        for master in masters:
            out = Path(tmp) / master.stem
            try:
                run_otter_assign(master, out, run_tests=False)
            except RuntimeError as exc:
                problems.append(f"{master.name}: {exc}")
                continue
            student = json.loads((out / "student" / master.name).read_text(encoding="utf-8"))
            want = normalize_student_notebook(student, master.stem)
            committed = Path(exercises_dir) / master.name
            if not committed.exists():
                problems.append(f"exercises/{master.name} is missing: run `make exercises`.")
                continue
            got = committed.read_text(encoding="utf-8")
            if got != want:
                diff = list(
                    difflib.unified_diff(
                        got.splitlines(),
                        want.splitlines(),
                        f"exercises/{master.name} (committed)",
                        f"exercises/{master.name} (generated)",
                        n=0,
                        lineterm="",
                    )
                )
                shown = "\n".join(diff[:12])
                problems.append(
                    f"exercises/{master.name} differs from what solutions/{master.name} generates "
                    f"({len(diff)} diff lines); run `make exercises` and commit the result:\n{shown}"
                )
    stems = {m.stem for m in masters}
    for nb in sorted(Path(exercises_dir).glob("*.ipynb")):
        if nb.stem not in stems:
            problems.append(
                f"exercises/{nb.name} has no master solutions/{nb.name}: delete it or add the master."
            )
    return problems
