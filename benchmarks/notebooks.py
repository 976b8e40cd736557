"""B5: execution time of every chapter (``book/*.ipynb``) and every solution (``solutions/*.ipynb``).

Each notebook runs in a fresh kernel with nbclient, from its own folder, without saving its outputs; the
wall time includes the kernel start. Notebooks that fail are reported with their error, not hidden.
Run with ``python -m benchmarks.notebooks`` (``make bench-notebooks``; separate from ``make bench`` because
executing the whole book takes longer than the benchmark budget).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ._harness import command_line, write_readme, write_result

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("book", "solutions")


@contextmanager
def _inline_figures():
    """Let the kernels use Jupyter's inline matplotlib backend, as when a reader runs the notebook.

    An ``MPLBACKEND`` such as ``Agg`` inherited from the caller (e.g. exported by a Makefile) would reach the
    kernel and turn ``plt.show()`` into a no-op, so the figures would be missing from the outputs.
    """
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


def find_notebooks(root: Path | str = ROOT, folders=FOLDERS) -> list[Path]:
    """The ``*.ipynb`` files directly inside ``root/<folder>``, per folder sorted; missing folders skipped."""
    root = Path(root)
    found = []
    for folder in folders:
        found += sorted(p for p in (root / folder).glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return found


def execute_notebook(path: Path | str, *, timeout: int = 600, kernel_name: str = "python3") -> dict:
    """Execute one notebook in a fresh kernel; return ``{"seconds", "status", "error"}``.

    ``status`` is ``"ok"`` or ``"error"``; ``error`` holds the exception's name and first line, else ``""``.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}}
    )
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        with _inline_figures():
            client.execute()
    except Exception as exc:  # any failure of the notebook is a result to report, not a crash of the runner
        status = "error"
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        error = f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]
    return {"seconds": time.perf_counter() - t0, "status": status, "error": error}


def refresh_notebook(path: Path | str, *, timeout: int = 300, kernel_name: str = "python3") -> float:
    """Execute a notebook and save its outputs in place (for the appendix, which renders the results).

    Returns the wall time in seconds; raises if a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.perf_counter()
    with _inline_figures():
        client.execute()
    nbformat.write(nb, path)
    return time.perf_counter() - t0


APPENDIX = ROOT / "book" / "appendix_performance.ipynb"


def run(root: Path | str = ROOT, *, timeout: int = 600, only: str | None = None) -> dict:
    """Execute every notebook (or those whose path contains ``only``) and return the result payload."""
    root = Path(root)
    paths = [p for p in find_notebooks(root) if only is None or only in str(p.relative_to(root))]
    rows = []
    t0 = time.perf_counter()
    for path in paths:
        rel = path.relative_to(root).as_posix()
        print(f"executing {rel} ...", file=sys.stderr, flush=True)
        r = execute_notebook(path, timeout=timeout)
        print(f"  {r['status']} in {r['seconds']:.1f} s {r['error']}", file=sys.stderr, flush=True)
        rows.append(
            {"notebook": rel, "seconds": round(r["seconds"], 1), "status": r["status"], "error": r["error"]}
        )
    book = [r for r in rows if r["notebook"].startswith("book/")]
    sols = [r for r in rows if r["notebook"].startswith("solutions/")]
    summary = {
        "notebooks executed": len(rows),
        "failed": sum(r["status"] != "ok" for r in rows),
        "book total seconds": round(sum(r["seconds"] for r in book), 1),
        "solutions total seconds": round(sum(r["seconds"] for r in sols), 1),
        "slowest notebook": max(rows, key=lambda r: r["seconds"])["notebook"] if rows else "",
        "slowest seconds": max((r["seconds"] for r in rows), default=0.0),
    }
    return {
        "title": "B5: execution time of the chapters and the solution notebooks",
        "description": (
            "Wall time to execute each notebook in a fresh kernel with nbclient (kernel start included), "
            "from its own folder. Budget: under 90 s per chapter on a 2-core CPU."
        ),
        "settings": {"timeout_s": timeout, "folders": list(FOLDERS)},
        "summary": summary,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Execute every notebook and record its wall time (B5).")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell before nbclient gives up")
    parser.add_argument(
        "--only",
        default=None,
        help="run only notebooks whose path contains this text (prints, writes nothing)",
    )
    parser.add_argument(
        "--results-dir", default=None, help="where to write the JSON (default benchmarks/results)"
    )
    args = parser.parse_args(argv)
    payload = run(timeout=args.timeout, only=args.only)
    payload["command"] = command_line()
    if args.only is not None:  # a partial run is not a result: show it, keep the recorded one
        print(json.dumps(payload["rows"], indent=2))
        return 0 if payload["summary"]["failed"] == 0 else 1
    path = write_result("b5_notebooks", payload, args.results_dir)
    write_readme(path.parent)
    print(f"wrote {path.name}: {payload['summary']}", file=sys.stderr)
    if args.results_dir is None and APPENDIX.exists():
        seconds = refresh_notebook(APPENDIX)
        print(f"re-executed {APPENDIX.relative_to(ROOT)} in {seconds:.1f} s", file=sys.stderr)
    return 0 if payload["summary"]["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
