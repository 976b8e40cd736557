"""Grade a folder of exercise submissions into a spreadsheet: ``python -m rnncourse_grading``.

Command line::

    python -m rnncourse_grading SUBMISSIONS_DIR --out grades.csv

grades every ``.ipynb`` in the folder and writes one CSV row per submission (file, student id = file stem,
exercise, points per question, total, max, a short reason per lost point) and a JSON report with every
test's outcome and every cell's status beside it (``grades.json``). The exercise of a submission is read from
its metadata; the tests (public and hidden) come from the build output of ``make exercises``
(``_build/exercises/NN_name/grading.json``), never from the submission.

Each submission runs in a fresh kernel in its own bubblewrap sandbox (:mod:`rnncourse_grading.kernel`:
read-only system, no network, no view of the build folder, the other submissions or the instructor's home,
limits on memory, processes, CPU time and disk), cell by cell with a time limit per cell and per test, so a
syntax error, an exception, an infinite loop, a crash, a memory hog or a tampering attempt costs only the
questions it breaks. The CSV's ``sandbox`` column says how each row was graded (``bwrap`` or ``none`` with
``--no-sandbox``); ``events`` lists what the grader stopped (left-over processes, fork bombs).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .kernel import check_sandbox, exposed
from .runner import Limits, grade_notebook_safely, load_specs

__all__ = ["grade_folder", "write_reports", "main"]


def default_workers() -> int:
    """One worker (one kernel at a time) per core that this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _default_build_dir() -> Path:
    local = Path("_build") / "exercises"
    if local.is_dir():
        return local
    return Path(__file__).resolve().parents[2] / "_build" / "exercises"


def _list_submissions(submissions) -> list[Path]:
    if isinstance(submissions, (str, Path)):
        folder = Path(submissions)
        if not folder.is_dir():
            raise ValueError(
                f"submissions must be a folder of .ipynb files, got {str(folder)!r}, which is not a folder; "
                "pass the folder that holds the students' notebooks."
            )
        return sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    paths = [Path(p) for p in submissions]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"these submissions do not exist: {missing}; pass paths of .ipynb files.")
    return sorted(paths, key=lambda p: p.name)


def _snapshot(build_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(build_dir.rglob("*")) if p.is_file()}


def _restore_if_changed(snapshot: dict[Path, bytes]) -> list[str]:
    """Rewrite build files that changed or vanished since ``snapshot``; return their names."""
    changed = []
    for path, data in snapshot.items():
        try:
            same = (
                path.is_file() and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()
            )
        except OSError:
            same = False
        if not same:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(path.name)
    return changed


def grade_folder(
    submissions,
    out="grades.csv",
    *,
    build_dir=None,
    exercise: str | None = None,
    workers: int | None = None,
    cell_timeout: float = 60.0,
    test_timeout: float = 30.0,
    memory_mb: int | None = 4096,
    sandbox: bool = True,
    progress: bool = True,
) -> list[dict]:
    """Grade every notebook of ``submissions`` and write ``out`` (CSV) and the JSON report beside it.

    Parameters
    ----------
    submissions : str, Path or list of paths
        A folder (every ``*.ipynb`` in it, not recursive) or an explicit list of notebooks.
    out : str or Path
        The CSV to write; the JSON report goes to the same path with the suffix ``.json``.
    build_dir : str or Path, optional
        Output of ``make exercises`` (``_build/exercises``), which holds ``NN_name/grading.json``.
    exercise : str, optional
        Exercise to assume for a notebook whose exercise cannot be read from its metadata or file name.
    workers : int, optional
        Submissions graded in parallel (any positive number; default: one per core).
    cell_timeout, test_timeout : float
        Seconds allowed to each student cell and to each test before the kernel is interrupted.
    memory_mb : int or None
        Cap on each kernel's address space in MiB; None for no cap.
    sandbox : bool
        Run each kernel in a bubblewrap sandbox (see :mod:`rnncourse_grading.kernel`); without one grading
        stops with the fix, unless False (``--no-sandbox``), which every row of the report records.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    list of dict
        One result per submission, sorted by file name: ``file``, ``student_id``, ``exercise``, ``scores``
        (points per question), ``total``, ``max``, ``reasons``, and details (``tests``, ``cells``, ``notes``).
    """
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"workers must be a positive whole number, got {workers!r}; each worker runs its own kernel."
        )
    for name, value in (("cell_timeout", cell_timeout), ("test_timeout", test_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
    build_dir = Path(build_dir) if build_dir is not None else _default_build_dir()
    specs = load_specs(build_dir) if build_dir.is_dir() else {}
    if not specs:
        raise ValueError(
            f"no grading files (NN_name/grading.json) in {str(build_dir)!r}; run `make exercises` first "
            "or pass --build with the folder it writes."
        )
    if exercise is not None and exercise not in specs:
        raise ValueError(f"exercise must be one of {sorted(specs)}, got {exercise!r}.")
    paths = _list_submissions(submissions)
    problem = check_sandbox() if sandbox else None
    if problem:
        raise ValueError(f"cannot grade in a sandbox: {problem}.")
    for what, folder in (("build folder", build_dir), ("submissions", paths[0].parent if paths else None)):
        inside = exposed(folder) if sandbox and folder is not None else None
        if inside:
            raise ValueError(
                f"the {what} {str(Path(folder).resolve())!r} {'lie' if what == 'submissions' else 'lies'} "
                f"inside {inside!r}, which every sandbox can read; move them elsewhere."
            )
    limits = Limits(
        cell_timeout=float(cell_timeout),
        test_timeout=float(test_timeout),
        memory_mb=memory_mb,
        sandbox=sandbox,
    )
    snapshot = _snapshot(build_dir)
    start = time.monotonic()

    from tqdm.auto import tqdm

    results, pending_notes = [], {}
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(paths), desc="grading", unit="notebook", disable=not progress) as bar,
    ):
        futures = {pool.submit(grade_notebook_safely, p, specs, limits, exercise): p for p in paths}
        for future in as_completed(futures):
            result = future.result()
            changed = _restore_if_changed(snapshot)
            if changed:  # the culprit is this notebook or one that is still running
                note = (
                    f"grading files changed while this notebook ran and were restored: {', '.join(changed)}"
                )
                result["events"].append(note)
                for other, path in futures.items():
                    if other is not future and other.running():
                        pending_notes.setdefault(path.name, []).append(note)
            result["events"].extend(pending_notes.pop(result["file"], []))
            results.append(result)
            bar.update(1)
    results.sort(key=lambda r: r["file"])
    write_reports(results, specs, out, seconds=time.monotonic() - start, limits=limits, workers=workers)
    return results


def _question_key(name: str):
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 0, name)


def _fmt(value) -> str:
    return "" if value is None else f"{value:g}"


def write_reports(
    results: list[dict], specs: dict, out, *, seconds: float, limits: Limits, workers: int
) -> None:
    """Write the CSV (one row per submission) and the JSON report (``out`` with suffix ``.json``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    questions = sorted({q for r in results for q in r["scores"]}, key=_question_key)
    header = ["file", "student_id", "exercise", *questions, "total", "max", "reasons", "sandbox", "events"]
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for r in results:
            scores = [_fmt(r["scores"].get(q)) for q in questions]
            writer.writerow(
                [
                    r["file"],
                    r["student_id"],
                    r["exercise"],
                    *scores,
                    _fmt(r["total"]),
                    _fmt(r["max"]),
                    " | ".join(r["reasons"]),
                    r.get("sandbox", ""),
                    " | ".join(r.get("events", [])),
                ]
            )
    report = {
        "tool": "rnncourse_grading",
        "settings": {
            "cell_timeout_s": limits.cell_timeout,
            "test_timeout_s": limits.test_timeout,
            "memory_mb": limits.memory_mb,
            "workers": workers,
            "sandbox": "bwrap" if limits.sandbox else "none",
        },
        "exercises": {
            name: {"max": spec["max"], "questions": {q["name"]: q["points"] for q in spec["questions"]}}
            for name, spec in sorted(specs.items())
        },
        "seconds": round(seconds, 2),
        "submissions": results,
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    """Command-line entry point: ``python -m rnncourse_grading SUBMISSIONS_DIR --out grades.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m rnncourse_grading",
        description="Grade every exercise notebook in a folder into a CSV (and a JSON report beside it).",
    )
    parser.add_argument("submissions", help="folder of submitted notebooks (*.ipynb); file stem = student id")
    parser.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    parser.add_argument(
        "--build", default=None, help="output of `make exercises` (default: _build/exercises)"
    )
    parser.add_argument("--exercise", default=None, help="exercise to assume when a notebook does not say")
    parser.add_argument(
        "--workers", type=int, default=None, help="notebooks graded at once (default: one per core)"
    )
    parser.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per student cell")
    parser.add_argument("--test-timeout", type=float, default=30.0, help="seconds per test")
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory cap per kernel in MiB (0: none)")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without the bubblewrap sandbox (trusted submissions only; every row records it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        results = grade_folder(
            args.submissions,
            args.out,
            build_dir=args.build,
            exercise=args.exercise,
            workers=args.workers,
            cell_timeout=args.cell_timeout,
            test_timeout=args.test_timeout,
            memory_mb=args.memory_mb or None,
            sandbox=not args.no_sandbox,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    full = sum(r["max"] is not None and r["total"] == r["max"] for r in results)
    print(
        f"graded {len(results)} notebooks ({full} with full marks) -> {args.out} and "
        f"{Path(args.out).with_suffix('.json')}"
    )
    return 0
