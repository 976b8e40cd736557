"""Mutation check of the exercises: every typical wrong answer must fail the tests it is meant to fail.

    python tools/mutations.py [NN_name ...] [--workers N]
        prints the table; exit 1 if a listed mistake slips through

For each master notebook ``solutions/NN_name.ipynb`` with a list ``solutions/mutations/NN_name.py``, every
mutation replaces the solution of one question by a typical wrong answer, then runs the notebook's cells in
order with the wrong answer in place, in a fresh namespace of a worker process (no kernel; ``--workers``
processes, one per core by default), and records:

* ``public``: whether the question's public tests fail (what a student sees with ``grader.check``);
* ``hidden``: whether its public + hidden tests fail (the grade);
* ``others``: the other questions whose tests fail because of it (a cascading penalty).

A mutation passes the check when its hidden column fails, its public column fails unless the mutation is
marked ``partial`` (the question says its public check only checks the form of the answer), and no other
question loses points, unless listed in ``cascades`` (when using the student's own function is the point).

The run mirrors the bulk grader: a cell that raises does not stop the others, and the tests of a question
run whatever its cells left defined; numerical libraries use one thread, as in the grading kernel. The
questions before the mutated one cannot see the wrong answer, so their outcome is taken from the unmutated
run instead of being tested again (a capstone that trains a model in a late question stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The threads of the grading kernel (rnncourse_grading.kernel.KERNEL_ENV); numpy reads them on import.
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass
class Mutation:
    """A typical wrong answer to one question: ``code`` replaces the question's solution cell(s)."""

    question: str
    name: str
    code: str
    partial: bool = False
    cascades: tuple[str, ...] = ()


@dataclass
class Question:
    name: str
    solution: list[tuple[str, str]] = field(default_factory=list)  # ("solution" | "given", source)
    public: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)


def parse_master(path: Path) -> list:
    """The master as a list of plain code cells (str) and :class:`Question` blocks, in notebook order."""
    cells = json.loads(path.read_text())["cells"]
    items, question, mode = [], None, None
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "raw":
            head = source.strip().splitlines()[0] if source.strip() else ""
            if head == "# BEGIN QUESTION":
                name = next(line.split(":", 1)[1].strip() for line in source.splitlines()
                            if line.strip().startswith("name:"))
                question = Question(name)
                items.append(question)
            elif head == "# END QUESTION":
                question, mode = None, None
            elif head in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                mode = head.split()[-1].lower()
            elif head in ("# END SOLUTION", "# END TESTS"):
                mode = None
            continue
        if cell["cell_type"] != "code" or source.lstrip().startswith("# Initialize Otter"):
            continue
        if question is None:
            items.append(source)
        elif mode == "solution":
            question.solution.append(("solution", source))
        elif mode == "tests":
            (question.hidden if source.lstrip().startswith("# HIDDEN") else question.public).append(source)
        else:
            question.solution.append(("given", source))  # code inside a question, outside the delimiters
    return items


def _failures(sources, namespace) -> str:
    """Run test cells; return the first failure's message ('' when all pass)."""
    for source in sources:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(source, "<test>", "exec"), namespace)
        except Exception as exc:  # a failing test is data here
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]
    return ""


def _execute(source: str, label: str, namespace: dict) -> str:
    """Run one cell; return '' or the exception it raised (a failed cell does not stop the notebook)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, label, "exec"), namespace)
    except Exception as exc:  # a wrong answer may raise; the grader notes it and goes on
        return f"{label} raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]
    return ""


def run(items, mutation: Mutation | None = None, baseline: dict | None = None) -> dict:
    """Execute the master with ``mutation`` in place; per question: public and hidden failure messages.

    Without a mutation every cell must run (a master whose cell raises is broken). With one, cells that raise
    are noted and the notebook goes on, as in the grader; the questions before the mutated one take their
    outcome from ``baseline`` (the unmutated run) when it is given.
    """
    namespace: dict = {"__name__": "__main__"}
    results, reached = {}, mutation is None or baseline is None
    for item in items:
        if isinstance(item, str):
            if mutation is None:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(item, "<cell>", "exec"), namespace)
            else:
                _execute(item, "<cell>", namespace)
            continue
        code = [source for kind, source in item.solution]
        if mutation and mutation.question == item.name:  # the wrong answer replaces the solution cells
            reached = True
            first = next(i for i, (kind, _) in enumerate(item.solution) if kind == "solution")
            code = [mutation.code if i == first else source for i, (kind, source) in enumerate(item.solution)
                    if kind == "given" or i == first]
        raised = [m for m in (_execute(source, f"<{item.name}>", namespace) for source in code) if m]
        if raised and mutation is None:
            results[item.name] = {"public": raised[0], "hidden": raised[0]}
            continue
        if not reached:  # the wrong answer comes later: this question cannot see it
            results[item.name] = baseline[item.name]
            continue
        public = _failures(item.public, namespace)
        results[item.name] = {"public": public, "hidden": public or _failures(item.hidden, namespace)}
    return results


def load_mutations(name: str) -> list[Mutation]:
    path = ROOT / "solutions" / "mutations" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"mutations_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [m if isinstance(m, Mutation) else Mutation(**m) for m in module.MUTATIONS]


_LOADED: dict = {}  # per worker process: exercise -> (parsed master, mutations)


def _mutated_run(name: str, index: int, baseline: dict):
    """Mutation ``index`` of exercise ``name`` (in a worker process): its results per question, or the crash,
    and the CPU seconds it took."""
    start = time.process_time()
    if name not in _LOADED:
        _LOADED[name] = (parse_master(ROOT / "solutions" / f"{name}.ipynb"), load_mutations(name))
    items, mutations = _LOADED[name]
    try:
        result = run(items, mutations[index], baseline)
    except Exception:
        result = traceback.format_exc()
    return result, time.process_time() - start


def judge(name: str, m: Mutation, result) -> tuple[list[str] | None, list[str]]:
    """The table row of one mutation and the problems it shows."""
    if isinstance(result, str):
        return None, [f"{name} {m.question} {m.name!r}: the notebook crashed\n{result}"]
    own = result[m.question]
    others = [q for q, r in result.items() if q != m.question and r["hidden"] and q not in m.cascades]
    public = "caught" if own["public"] else ("partial" if m.partial else "MISSED")
    hidden = "caught" if own["hidden"] else "MISSED"
    message = (own["public"] or own["hidden"])[:90]
    row = [name, m.question, m.name, public, hidden, ", ".join(others) or "-", message]
    problems = []
    if public == "MISSED":
        problems.append(f"{name} {m.question} {m.name!r} passes the public tests")
    if hidden == "MISSED":
        problems.append(f"{name} {m.question} {m.name!r} passes the hidden tests")
    if others:
        problems.append(f"{name} {m.question} {m.name!r} also costs points in {', '.join(others)}")
    return row, problems


def check(names: list[str], workers: int = 1) -> tuple[list[list[str]], list[str]]:
    """Rows of the table and the problems of the exercises ``names``; the mutations run on ``workers``
    processes, each a fresh interpreter (a process that has run torch's thread pools must not be forked)."""
    rows, problems, tasks = [], [], []
    for name in names:
        items = parse_master(ROOT / "solutions" / f"{name}.ipynb")
        baseline = run(items)
        problems += [f"{name} {q}: the solution fails its own tests ({r['hidden']})"
                     for q, r in baseline.items() if r["hidden"]]
        for i, m in enumerate(load_mutations(name)):
            if m.question in baseline:
                tasks.append((name, i, m, baseline))
            else:
                problems.append(f"{name}: mutation {m.name!r} names an unknown question {m.question}")
    args = [[t[0] for t in tasks], [t[1] for t in tasks], [t[3] for t in tasks]]
    if workers == 1:
        outcomes = list(map(_mutated_run, *args))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            outcomes = list(pool.map(_mutated_run, *args))
    seconds: dict = {}
    for (name, _, m, _), (result, spent) in zip(tasks, outcomes, strict=True):
        row, found = judge(name, m, result)
        rows += [row] if row else []
        problems += found
        seconds[name] = seconds.get(name, 0.0) + spent
    for name, spent in seconds.items():
        print(f"{name}: {sum(t[0] == name for t in tasks)} mutations, {spent:.0f} CPU s", file=sys.stderr)
    return rows, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="exercises, e.g. 01_recurrent_state (default: all listed)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that run mutations at once (default: one per core)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be a positive whole number, got {args.workers}")
    names = args.names or sorted(p.stem for p in (ROOT / "solutions" / "mutations").glob("[0-9]*.py"))
    workers = args.workers or len(os.sched_getaffinity(0))
    if "numpy" not in sys.modules:  # one thread, as in the grading kernel (read when numpy is imported)
        os.environ.update(THREADS)
    sys.path.insert(0, str(ROOT / "src"))
    start = time.perf_counter()
    rows, problems = check(names, workers)
    print(f"{len(rows)} mutations of {len(names)} exercises checked in {time.perf_counter() - start:.0f} s "
          f"({workers} workers)", file=sys.stderr)
    header = ["exercise", "question", "mistake", "public", "graded", "other questions failing", "message"]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
