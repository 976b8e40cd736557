"""Grade one submission: run its cells in a fresh kernel, inject the build's tests, score outside the kernel.

The score never depends on what the submission prints or writes: the tests come from the build (never from
the notebook, so edited public tests do not count), each test's outcome travels back through the execute
reply under a variable whose name carries a random nonce chosen after the student's code has run, and the
points are added up here.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from .kernel import FORK_BOMB_PROCESSES, Execution, GradingKernel

#: Lines of the cells that otter-grader adds to a student notebook (skipped when grading).
_OTTER_LINE = re.compile(
    r"^(import otter|grader\s*=\s*otter\.Notebook\(.*\)|grader\.(check|check_all|export)\(.*\))\s*;?\s*$"
)
_EXERCISE_RE = re.compile(r'"(?:exercise|assignment_name)"\s*:\s*"(\d\d_[A-Za-z0-9_]+)"')
_QUESTION_RE = re.compile(r"^#+\s*Question\s+(\d+)\b", re.MULTILINE)
_CONFIG_NAME_RE = re.compile(r"^name:\s*(\S+)\s*$", re.MULTILINE)
MAX_REASON_CHARS = 240
#: After a failed cell, a kernel using more than this fraction of its memory cap is restarted.
MEMORY_RESTART_FRACTION = 0.8

#: Code run before the student's cells: a stand-in for otter's ``grader`` so that stray checks do nothing.
_PRELUDE = """\
class _RnncourseNoGrader:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None

grader = _RnncourseNoGrader()
"""

#: Run after a failed cell: clear the frames of the failed call (its traceback, which IPython keeps, holds
#: every local variable alive, e.g. the list a memory hog was growing) and collect them.
_AFTER_ERROR = """\
import gc as _rnncourse_gc
import sys as _rnncourse_sys
import traceback as _rnncourse_tb
if getattr(_rnncourse_sys, "last_traceback", None) is not None:
    _rnncourse_tb.clear_frames(_rnncourse_sys.last_traceback)
_rnncourse_sys.last_type = _rnncourse_sys.last_value = _rnncourse_sys.last_traceback = None
if hasattr(_rnncourse_sys, "last_exc"):
    _rnncourse_sys.last_exc = None
_rnncourse_gc.collect()
"""

#: Forget the check helpers a notebook may have imported (and patched) so that the tests import them afresh:
#: ``rnncourse.grade`` re-exports them from ``rnncourse_grading.checks``.
_FRESH_HELPERS = """\
import sys as _rnncourse_sys
for _rnncourse_m in [m for m in _rnncourse_sys.modules if m == "rnncourse.grade"
                     or m == "rnncourse_grading" or m.startswith("rnncourse_grading.")]:
    del _rnncourse_sys.modules[_rnncourse_m]
"""

#: Code run after the student's cells: the test runner (the nonce is filled in per submission).
_HARNESS = """\
def _rnncourse_run_{nonce}(source, func, params):
    import builtins as _b
    import sys as _s
    import traceback as _tb
    g = _s.modules["__main__"].__dict__
    missing = [p for p in params if p != "env" and p not in g]
    if missing:
        return ("missing", missing[0])
    ns = {{}}
    _b.exec(_b.compile(source, "<test " + func + ">", "exec"), ns)
    kwargs = {{p: (g if p == "env" else g[p]) for p in params}}
    try:
        ns[func](**kwargs)
    except AssertionError as exc:
        return ("failed", _b.str(exc))
    except _b.BaseException as exc:
        if _b.isinstance(exc, _b.KeyboardInterrupt):
            raise
        frames = [f for f in _tb.extract_tb(exc.__traceback__)
                  if not f.filename.startswith("<test") and "site-packages" not in f.filename
                  and "rnncourse" not in f.filename and not f.name.startswith("_rnncourse")]
        where = " in " + frames[-1].name if frames else ""
        return ("error", _b.type(exc).__name__ + where + ": " + _b.str(exc))
    return ("passed", "")
"""


@dataclass
class Limits:
    """Time and memory limits of the grader (seconds, MiB)."""

    cell_timeout: float = 60.0
    test_timeout: float = 30.0
    memory_mb: int | None = 4096
    setup_timeout: float = 120.0
    max_restarts: int = 3
    sandbox: bool = True
    scratch_mb: int = 256
    max_processes: int = 64
    cpu_seconds: int = 900


def load_specs(build_dir: Path) -> dict[str, dict]:
    """Read every ``BUILD/NN_name/grading.json`` into ``{exercise: spec}`` (kept in memory while grading)."""
    specs = {}
    for path in sorted(Path(build_dir).glob("*/grading.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        specs[spec["exercise"]] = spec
    return specs


def _short(text: str, limit: int = MAX_REASON_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(points: float) -> str:
    return f"{points:g}"


def _is_otter_cell(source: str) -> bool:
    lines = [ln.strip() for ln in source.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    return bool(lines) and all(_OTTER_LINE.match(ln) for ln in lines)


def _defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (functions, classes, assignments), to explain 'not defined'."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        found = re.findall(r"^(?:def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*=", source, re.MULTILINE)
        return {a or b for a, b in found}
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def detect_exercise(nb: dict | None, raw_text: str, path: Path, known: set[str]) -> str | None:
    """Which exercise a notebook answers: its metadata, a master's config cell, its text, then its name."""
    candidates = []
    if isinstance(nb, dict):
        meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
        candidates.append(
            (meta.get("rnncourse") or {}).get("exercise") if isinstance(meta.get("rnncourse"), dict) else None
        )
        candidates.append(
            (meta.get("otter") or {}).get("assignment_name") if isinstance(meta.get("otter"), dict) else None
        )
        for cell in nb.get("cells", [])[:3] if isinstance(nb.get("cells"), list) else []:
            src = _source(cell)
            if cell.get("cell_type") == "raw" and "ASSIGNMENT CONFIG" in src.upper():
                match = _CONFIG_NAME_RE.search(src)
                candidates.append(match.group(1) if match else None)
    candidates.extend(_EXERCISE_RE.findall(raw_text))
    candidates.extend(name for name in sorted(known) if name in path.stem)
    for candidate in candidates:
        if candidate in known:
            return candidate
    return None


def _source(cell) -> str:
    if not isinstance(cell, dict):
        return ""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _empty_result(path: Path, exercise: str | None, spec: dict | None) -> dict:
    questions = {q["name"]: 0.0 for q in spec["questions"]} if spec else {}
    return {
        "file": path.name,
        "student_id": path.stem,
        "exercise": exercise or "",
        "scores": questions,
        "total": 0.0,
        "max": spec["max"] if spec else None,
        "reasons": [],
        "notes": [],
        "events": [],
        "sandbox": "",
        "cells": [],
        "tests": [],
        "kernel_restarts": 0,
        "seconds": 0.0,
    }


def grade_notebook(
    path: Path, specs: dict[str, dict], limits: Limits | None = None, default_exercise: str | None = None
) -> dict:
    """Grade one submission and return its result (scores per question, total, reasons, details).

    Never raises for a bad submission: an unreadable notebook, a syntax error, an exception, an infinite loop,
    a crash or a memory hog each become a score and a reason.
    """
    limits = limits or Limits()
    path = Path(path)
    start = time.monotonic()
    raw = path.read_bytes().decode("utf-8", errors="replace")
    nb, parse_error = None, None
    try:
        nb = json.loads(raw)
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            nb, parse_error = None, "the file is JSON but has no list of cells"
    except json.JSONDecodeError as exc:
        parse_error = f"the file is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    exercise = detect_exercise(nb, raw, path, set(specs)) or (
        default_exercise if default_exercise in specs else None
    )
    spec = specs.get(exercise) if exercise else None
    result = _empty_result(path, exercise, spec)
    _record_sandbox(result, limits)
    if spec is None:
        result["reasons"].append(
            "could not tell which exercise this notebook answers (no rnncourse/otter metadata and no "
            f"exercise name in the file name); known exercises: {', '.join(sorted(specs))}; pass --exercise"
        )
        if parse_error:
            result["reasons"].append(f"not a notebook: {parse_error}")
        result["seconds"] = time.monotonic() - start
        return result
    if nb is None:
        result["reasons"].append(f"all questions (-{_fmt(spec['max'])}): not a notebook: {parse_error}")
        result["seconds"] = time.monotonic() - start
        return result

    cells, question = [], ""
    names = {q["name"] for q in spec["questions"]}
    for index, cell in enumerate(nb["cells"]):
        src = _source(cell)
        heading = (
            _QUESTION_RE.search(src)
            if isinstance(cell, dict) and cell.get("cell_type") == "markdown"
            else None
        )
        if heading and f"q{heading.group(1)}" in names:
            question = f"q{heading.group(1)}"
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            if src.strip() and not _is_otter_cell(src):
                cells.append({"index": index, "source": src, "question": question})
    kernel = GradingKernel(
        path,
        memory_mb=limits.memory_mb,
        sandbox=limits.sandbox,
        scratch_mb=limits.scratch_mb,
        max_processes=limits.max_processes,
        cpu_seconds=limits.cpu_seconds,
        startup_timeout=limits.setup_timeout,
    )
    with kernel:
        _run_submission(kernel, cells, spec, limits, result)
        result["kernel_restarts"] = kernel.restarts
    result["seconds"] = time.monotonic() - start
    return result


def _record_sandbox(result: dict, limits: Limits) -> None:
    result["sandbox"] = "bwrap" if limits.sandbox else "none"
    if not limits.sandbox:
        result["events"].append("graded without a sandbox (--no-sandbox)")


def _clean(text: str) -> str:
    """Remove the kernel's temporary cell file names (``(1234.py, line 2)``) from an error message."""
    text = re.sub(r"\(\d+\.py, line (\d+)\)", r"(line \1)", str(text))
    return re.sub(r"\S*ipykernel_\d+/\d+\.py", "<cell>", text)


def grade_notebook_safely(
    path: Path, specs: dict[str, dict], limits: Limits | None = None, default_exercise: str | None = None
) -> dict:
    """:func:`grade_notebook`, but a failure of the grader itself (e.g. a kernel that cannot start) becomes a
    row with zero points and the reason, so that one notebook never stops the batch."""
    try:
        return grade_notebook(path, specs, limits, default_exercise)
    except Exception as exc:  # noqa: BLE001 - reported in the row, the batch goes on
        path = Path(path)
        try:
            raw = path.read_bytes().decode("utf-8", errors="replace")
            nb = json.loads(raw)
        except (OSError, ValueError):
            raw, nb = "", None
        exercise = detect_exercise(nb if isinstance(nb, dict) else None, raw, path, set(specs)) or (
            default_exercise if default_exercise in specs else None
        )
        result = _empty_result(path, exercise, specs.get(exercise) if exercise else None)
        _record_sandbox(result, limits or Limits())
        result["reasons"].append(f"grader error, not graded: {type(exc).__name__}: {_short(str(exc), 160)}")
        return result


def _cell_name(cell: dict) -> str:
    return f"cell {cell['index'] + 1}" + (f" ({cell['question']})" if cell.get("question") else "")


def _describe_cell_failure(cell: dict, ex: Execution, limits: Limits) -> str:
    number = _cell_name(cell)
    if ex.status == "timeout":
        return f"{number} timed out after {_fmt(limits.cell_timeout)} s and was interrupted"
    if ex.status == "hung":
        return (
            f"{number} timed out after {_fmt(limits.cell_timeout)} s and ignored the interrupt "
            "(kernel restarted)"
        )
    if ex.status == "memory":
        return f"{number} left the kernel out of memory (kernel restarted)"
    if ex.status == "dead":
        return f"{number} stopped the kernel (crash, exit or out of memory; kernel restarted)"
    where = f" ({ex.where})" if ex.where else ""
    return f"{number} raised {ex.ename}{where}: {_short(_clean(ex.evalue), 120)}"


def _prelude(spec: dict) -> str:
    """The stand-in ``grader`` and a warm-up import of the modules the tests use (numpy, torch, rnncourse...).

    Importing torch takes seconds on a busy machine and cannot be interrupted; done here, under the generous
    set-up time limit and without binding any name, it does not eat into the time limit of the student's cell
    that imports it again.
    """
    modules = sorted(
        {"numpy"} | {m for q in spec["questions"] for c in q["cases"] for m in c.get("imports", [])}
    )
    return _PRELUDE + (
        "import importlib as _rnncourse_importlib\n"
        f"for _rnncourse_m in {modules!r}:\n"
        "    _rnncourse_importlib.import_module(_rnncourse_m)\n"
    )


def _run_cells(
    kernel: GradingKernel, cells: list[dict], spec: dict, limits: Limits, record: bool, result: dict
) -> None:
    """Run the prelude and the student's cells; on a crash or a hang restart and replay the cells that ran."""
    kernel.execute(_prelude(spec), limits.setup_timeout)
    todo = cells if record else [c for c in cells if c.get("status") == "ok"]
    done = []
    for cell in todo:
        bombs = kernel.fork_bombs
        ex = kernel.execute(cell["source"], limits.cell_timeout)
        if record and kernel.fork_bombs > bombs:
            result["events"].append(
                f"{_cell_name(cell)} started more than {FORK_BOMB_PROCESSES} processes (a fork bomb); "
                "the grader stopped them"
            )
        elif record and ex.strays:
            result["events"].append(
                f"{_cell_name(cell)} left processes running after it finished; the grader stopped them"
            )
        if ex.status in ("error", "timeout"):
            kernel.execute(_AFTER_ERROR, limits.setup_timeout)
            if kernel.memory_fraction() > MEMORY_RESTART_FRACTION:
                ex.status = "memory"  # the failed cell left the kernel without memory: start afresh
        if record:
            cell["status"], cell["seconds"] = ex.status, round(ex.seconds, 3)
            if ex.status != "ok":
                cell["problem"] = _describe_cell_failure(cell, ex, limits)
                result["notes"].append(cell["problem"])
        if ex.status in ("ok", "error", "timeout"):
            done.append((cell, ex.status))
            continue
        if kernel.restarts >= limits.max_restarts:
            result["notes"].append("too many kernel restarts; the remaining cells were not run")
            break
        kernel.restart()
        kernel.execute(_prelude(spec), limits.setup_timeout)
        for old, status in done:
            if status == "ok":
                kernel.execute(old["source"], limits.cell_timeout)


def _setup_tests(kernel: GradingKernel, spec: dict, nonce: str, limits: Limits) -> Execution:
    modules = sorted({m for q in spec["questions"] for c in q["cases"] for m in c.get("imports", [])})
    imports = "".join(f"import {m}\n" for m in modules)
    return kernel.execute(_FRESH_HELPERS + imports + _HARNESS.format(nonce=nonce), limits.setup_timeout)


def _run_case(kernel: GradingKernel, case: dict, nonce: str, limits: Limits) -> tuple[str, str]:
    var = f"_rnncourse_result_{nonce}"
    code = (
        f"{var} = None\n"
        f"{var} = _rnncourse_run_{nonce}({case['source']!r}, {case['func']!r}, {case['params']!r})"
    )
    ex = kernel.execute(code, limits.test_timeout, user_expressions={"r": var})
    if ex.status == "timeout":
        return "timeout", f"timed out after {_fmt(limits.test_timeout)} s"
    if ex.status in ("hung", "dead"):
        what = (
            "ignored the interrupt" if ex.status == "hung" else "stopped the kernel (crash or out of memory)"
        )
        return ex.status, f"the test {what}"
    if ex.status == "error":
        return "error", f"the test could not run: {ex.ename}: {_short(_clean(ex.evalue), 120)}"
    expr = ex.user_expressions.get("r", {})
    try:
        status, message = ast.literal_eval(expr.get("data", {}).get("text/plain", ""))
    except (ValueError, SyntaxError, TypeError):
        return "error", "the grader could not read the test result (did the notebook redefine builtins?)"
    return str(status), _clean(message)


def _missing_reason(name: str, cells: list[dict], question: str) -> str:
    for cell in reversed(cells):
        if name in _defined_names(cell["source"]) and cell.get("problem"):
            return f"`{name}` is not defined because {cell['problem']}"
    for cell in reversed(cells):  # e.g. a loop that replaced the definition timed out
        if cell.get("question") == question and cell.get("problem"):
            return f"`{name}` is not defined; {cell['problem']}"
    return f"`{name}` is not defined (was its cell deleted, renamed or never run?)"


def _setup_problem(ex: Execution) -> str:
    if ex.status == "error":
        return f"{ex.ename}: {_short(_clean(ex.evalue), 120)}"
    return {"timeout": "timed out", "hung": "the kernel hung", "dead": "the kernel died"}.get(
        ex.status, ex.status
    )


def _run_submission(
    kernel: GradingKernel, cells: list[dict], spec: dict, limits: Limits, result: dict
) -> None:
    _run_cells(kernel, cells, spec, limits, record=True, result=result)
    nonce = secrets.token_hex(8)
    setup = _setup_tests(kernel, spec, nonce, limits)
    if setup.status != "ok" and kernel.restarts < limits.max_restarts:
        result["notes"].append(f"test set-up failed ({_setup_problem(setup)}); kernel restarted")
        kernel.restart()
        _run_cells(kernel, cells, spec, limits, record=False, result=result)
        setup = _setup_tests(kernel, spec, nonce, limits)
    setup_error = None if setup.status == "ok" else f"the tests could not be set up ({_setup_problem(setup)})"
    for question in spec["questions"]:
        lost, messages = 0.0, []
        for case in question["cases"]:
            if setup_error:
                status, message = "error", setup_error
            else:
                status, message = _run_case(kernel, case, nonce, limits)
            if status in ("hung", "dead") and kernel.restarts < limits.max_restarts:
                kernel.restart()
                _run_cells(kernel, cells, spec, limits, record=False, result=result)
                _setup_tests(kernel, spec, nonce, limits)
            if status == "missing":
                message = _missing_reason(message, cells, question["name"])
            passed = status == "passed"
            result["tests"].append(
                {
                    "question": question["name"],
                    "test": case["func"],
                    "hidden": case["hidden"],
                    "points": case["points"],
                    "status": status,
                    "message": message,
                }
            )
            if passed:
                result["scores"][question["name"]] += case["points"]
            else:
                lost += case["points"]
                text = _short(message) or status
                if text not in messages:
                    messages.append(text)
        if lost:
            result["reasons"].append(f"{question['name']} (-{_fmt(lost)}): {' / '.join(messages)}")
    result["total"] = sum(result["scores"].values())
    result["cells"] = [{k: v for k, v in c.items() if k != "source"} for c in cells]
