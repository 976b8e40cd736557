"""Shared helpers of the benchmarks: environment record, alternating timer, result files.

Every benchmark times its candidates in the same process, alternating them (A B A B ...), so that slow
drifts of a shared machine hit all candidates alike; it reports medians over the repeats and their ratio.
Results are written as one JSON file per benchmark; :func:`write_readme` renders all of them as markdown.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` where that file is missing)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Date, machine and versions, recorded with every result.

    Returns
    -------
    dict
        ``date`` (ISO 8601, UTC), ``cpu`` (model name), ``cores`` (logical CPUs usable by this process),
        ``platform``, ``python``, ``numpy``, ``torch`` (``None`` if not installed), ``torch_threads`` and
        ``blas_threads`` (numpy's OpenBLAS threads as set by ``OPENBLAS_NUM_THREADS``; "default" if unset).
    """
    import numpy as np

    try:
        import torch

        torch_version, threads = torch.__version__, torch.get_num_threads()
    except ImportError:
        torch_version, threads = None, None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "date": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "cpu": cpu_model(),
        "cores": cores,
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_version,
        "torch_threads": threads,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def time_alternating(
    candidates: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Time several callables alternately: round r runs every candidate once, in the given order.

    Parameters
    ----------
    candidates : mapping of name -> callable
        Each callable does one unit of work (e.g. ``n`` training steps) and takes no arguments.
    repeats : int
        Number of timed rounds.
    warmup : int
        Untimed rounds run first (first-call allocations, caches).

    Returns
    -------
    dict of name -> list of float
        Wall-clock seconds of each timed call, in round order (length ``repeats``).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats}.")
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def median(values) -> float:
    """Median of a sequence of numbers, as a float."""
    return float(statistics.median(values))


def write_result(name: str, payload: dict, results_dir: Path | str | None = None) -> Path:
    """Write one benchmark's result to ``<results_dir>/<name>.json`` and return the path.

    The payload gets ``name`` and, unless present, ``environment`` (see :func:`environment`) added.
    It must hold ``rows`` (a list of dicts with the same keys: the table) and may hold ``title``,
    ``description``, ``settings``, ``summary`` and ``command``.
    """
    if not name.isidentifier():
        raise ValueError(f"name must be a plain identifier such as 'b1_charrnn', got {name!r}.")
    if not isinstance(payload.get("rows"), list):
        raise ValueError(
            f"payload must hold 'rows', a list of dicts (one per table row), got {type(payload.get('rows'))}."
        )
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"name": name, **payload}
    data.setdefault("environment", environment())
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def load_results(results_dir: Path | str | None = None) -> list[dict]:
    """All ``*.json`` results in ``results_dir``, sorted by file name."""
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("*.json"))]


def fmt(value) -> str:
    """Format a table cell: floats below 1000 with 3 significant digits, larger numbers as integers with
    thousands separators (10,000 and up for ints)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """A GitHub-flavoured markdown table of a list of dicts (columns: the first row's keys)."""
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def render_readme(results: list[dict]) -> str:
    """Markdown summary of all results: environment, then per benchmark its summary and table."""
    parts = [
        "# Benchmark results\n",
        "Generated by `python -m benchmarks.run` (`make bench`) and `python -m benchmarks.notebooks` "
        "(`make bench-notebooks`); do not edit by hand. Each file `*.json` holds the full record. "
        "Timings are medians over alternating repeats on a shared machine: expect noise of 10-30 %.\n",
    ]
    for res in results:
        env = res.get("environment", {})
        parts.append(f"## {res.get('title', res['name'])}\n")
        if res.get("description"):
            parts.append(res["description"].strip() + "\n")
        parts.append(
            f"*{env.get('date', '?')}; {env.get('cpu', '?')}, {env.get('cores', '?')} cores; "
            f"Python {env.get('python', '?')}, numpy {env.get('numpy', '?')}, torch {env.get('torch', '?')} "
            f"({env.get('torch_threads', '?')} threads), numpy BLAS threads {env.get('blas_threads', '?')}; "
            f"command `{res.get('command', '?')}`; "
            f"{fmt(res.get('seconds'))} s.*\n"
        )
        if res.get("summary"):
            parts.append("\n".join(f"- **{k}**: {fmt(v)}" for k, v in res["summary"].items()) + "\n")
        parts.append(markdown_table(res["rows"]))
    return "\n".join(parts)


def write_readme(results_dir: Path | str | None = None) -> Path:
    """Render every result in ``results_dir`` into ``results_dir/README.md`` and return its path."""
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    path = out_dir / "README.md"
    path.write_text(render_readme(load_results(out_dir)), encoding="utf-8")
    return path


def command_line() -> str:
    """The running command as ``python -m <module> <args>`` (no machine-specific paths)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None) or Path(sys.argv[0]).stem
    return " ".join(["python -m", name, *sys.argv[1:]])
