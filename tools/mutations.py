"""Mutation check of the exercises: every typical wrong answer must fail the tests it is meant to fail.

    python tools/mutations.py [NN_name ...]     prints the table; exit 1 if a listed mistake slips through

For each master notebook ``solutions/NN_name.ipynb`` with a list ``solutions/mutations/NN_name.py``, every
mutation replaces the solution of one question by a typical wrong answer, then runs, in one Python process
(no kernel), the notebook's cells in order with the wrong answer in place, and records:

* ``public``: whether the question's public tests fail (what a student sees with ``grader.check``);
* ``hidden``: whether its public + hidden tests fail (the grade);
* ``others``: the other questions whose tests fail because of it (a cascading penalty).

A mutation passes the check when its hidden column fails, its public column fails unless the mutation is
marked ``partial`` (the question says its public check only checks the form of the answer), and no other
question loses points, unless listed in ``cascades`` (when using the student's own function is the point).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def run(items, mutation: Mutation | None = None) -> dict:
    """Execute the master with ``mutation`` in place; per question: public and hidden failure messages."""
    namespace: dict = {"__name__": "__main__"}
    results = {}
    for item in items:
        if isinstance(item, str):
            exec(compile(item, "<cell>", "exec"), namespace)
            continue
        code = [source for kind, source in item.solution]
        if mutation and mutation.question == item.name:  # the wrong answer replaces the solution cells
            first = next(i for i, (kind, _) in enumerate(item.solution) if kind == "solution")
            code = [mutation.code if i == first else source for i, (kind, source) in enumerate(item.solution)
                    if kind == "given" or i == first]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                for source in code:
                    exec(compile(source, f"<{item.name}>", "exec"), namespace)
        except Exception:
            results[item.name] = {"public": "solution cell raised", "hidden": "solution cell raised"}
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


def check(name: str) -> tuple[list[list[str]], list[str]]:
    """Rows of the table and the problems of exercise ``name``."""
    items = parse_master(ROOT / "solutions" / f"{name}.ipynb")
    baseline = run(items)
    problems = [f"{name} {q}: the solution fails its own tests ({r['hidden']})"
                for q, r in baseline.items() if r["hidden"]]
    rows = []
    for m in load_mutations(name):
        if m.question not in baseline:
            problems.append(f"{name}: mutation {m.name!r} names an unknown question {m.question}")
            continue
        try:
            result = run(items, m)
        except Exception:
            problems.append(f"{name} {m.question} {m.name!r}: the notebook crashed\n{traceback.format_exc()}")
            continue
        own = result[m.question]
        others = [q for q, r in result.items() if q != m.question and r["hidden"] and q not in m.cascades]
        public = "caught" if own["public"] else ("partial" if m.partial else "MISSED")
        hidden = "caught" if own["hidden"] else "MISSED"
        rows.append([name, m.question, m.name, public, hidden, ", ".join(others) or "-",
                     (own["public"] or own["hidden"])[:90]])
        if public == "MISSED":
            problems.append(f"{name} {m.question} {m.name!r} passes the public tests")
        if hidden == "MISSED":
            problems.append(f"{name} {m.question} {m.name!r} passes the hidden tests")
        if others:
            problems.append(f"{name} {m.question} {m.name!r} also costs points in {', '.join(others)}")
    return rows, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="exercises, e.g. 01_recurrent_state (default: all listed)")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.stem for p in (ROOT / "solutions" / "mutations").glob("[0-9]*.py"))
    sys.path.insert(0, str(ROOT / "src"))
    rows, problems = [], []
    for name in names:
        r, p = check(name)
        rows += r
        problems += p
    header = ["exercise", "question", "mistake", "public", "graded", "other questions failing", "message"]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
