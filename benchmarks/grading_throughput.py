"""Grading throughput: generated submissions of every exercise graded in the bubblewrap sandbox.

Usage (from the repository root, after ``make exercises``; not part of ``make test`` or ``make bench``)::

    python -m benchmarks.grading_throughput             # 200 submissions, 1 worker and one per core
    python -m benchmarks.grading_throughput --n 40      # fewer
    python -m benchmarks.grading_throughput --quick     # 8 submissions, 1 worker: checks that it runs

The submissions cycle through the chapter exercises (not the two capstones, which train a model and are graded
in about 10 to 25 s each on an idle machine) and four kinds: *right* (the master notebook), *wrong* (the
master with the names of its first answer deleted again: that question is lost), *blank* (the student notebook
as handed out) and *looping* (the master with a ``while True: pass`` cell: one cell timeout). Each setting is
graded for half of the submissions and for all of them, so that the report shows whether the total time grows
linearly (ratio close to 2). The wall time depends on what else the machine runs, so each run also records the
CPU seconds spent by the grader and every process under it (this process by ``getrusage``, the sandboxes and
their kernels from ``/proc``, sampled with the memory) and the load average before and after; the CPU time
ratio shows linearity also on a busy machine. Peak memory is the largest sum of the resident memory of this
process and every process under it (the kernels), sampled every 0.2 s.
Writes ``benchmarks/results/grading_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from rnncourse_grading.folder import default_workers, grade_folder
from rnncourse_grading.runner import _defined_names

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("right", "wrong", "blank", "looping")


def _cell(source: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "bench",
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def make_submissions(folder: Path, n: int) -> list[Path]:
    """Write ``n`` submissions into ``folder``, cycling through the exercises and the four kinds."""
    masters = [m for m in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")) if "capstone" not in m.name]
    paths = []
    for i in range(n):
        master = masters[(i // len(KINDS)) % len(masters)]
        kind = KINDS[i % len(KINDS)]
        if kind == "blank":
            nb = json.loads((ROOT / "exercises" / master.name).read_text())
        else:
            nb = json.loads(master.read_text())
            code = [j for j, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
            if kind == "wrong":
                answer = next(j for j in code if "BEGIN SOLUTION" in "".join(nb["cells"][j]["source"]))
                names = sorted(
                    _defined_names("".join(nb["cells"][answer]["source"]).replace("# BEGIN SOLUTION", ""))
                )
                nb["cells"].insert(answer + 1, _cell("\n".join(f"del {name}" for name in names)))
            elif kind == "looping":
                nb["cells"].insert(code[1], _cell("while True:\n    pass\n"))
        path = folder / f"s{i:03d}_{kind}_{master.name}"
        path.write_text(json.dumps(nb))
        paths.append(path)
    return paths


_TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int, cpu: dict) -> float:
    """Resident memory (MB) of ``pid`` and every process under it; records each one's CPU seconds in ``cpu``.

    ``cpu`` maps (pid, start time) to the latest user + system seconds seen, so that a process that has ended
    keeps the CPU time it had at the last sample (sampled every 0.2 s: at most 0.2 s lost per process).
    """
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu[(p, stat[19])] = (int(stat[11]) + int(stat[12])) / _TICK
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def timed_grading(paths: list[Path], workers: int, build: Path, cell_timeout: float) -> dict:
    """Grade ``paths`` with ``workers`` workers; seconds, notebooks per minute per worker, peak memory."""
    peak, done, cpu = [0.0], threading.Event(), {}
    me = os.getpid()
    cpu_self = -sum(resource.getrusage(resource.RUSAGE_SELF)[:2])

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree(me, cpu))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = grade_folder(
            paths,
            Path(tmp) / "g.csv",
            build_dir=build,
            workers=workers,
            cell_timeout=cell_timeout,
            progress=False,
        )
        seconds = time.perf_counter() - start
    done.set()
    thread.join()
    cpu.pop((me, Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()[19]), None)
    cpu = cpu_self + sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) + sum(cpu.values())
    full = {k: sum(r["total"] == r["max"] for r in results if f"_{k}_" in r["file"]) for k in KINDS}
    return {
        "n": len(paths),
        "workers": workers,
        "seconds": round(seconds, 1),
        "per_minute_per_worker": round(len(paths) / seconds * 60 / workers, 2),
        "cpu_seconds": round(cpu, 1),
        "cpu_seconds_per_notebook": round(cpu / len(paths), 2),
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "peak_memory_mb": round(peak[0]),
        "full_marks": full,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="submissions (default 200)")
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default: 1,cores)")
    parser.add_argument("--cell-timeout", type=float, default=10.0, help="seconds per cell (default 10)")
    parser.add_argument("--build", default=str(ROOT / "_build" / "exercises"))
    parser.add_argument("--quick", action="store_true", help="8 submissions, 1 worker; write nothing")
    args = parser.parse_args(argv)
    n = 8 if args.quick else args.n
    counts = [1] if args.quick else sorted({1, default_workers()})
    if args.workers:
        counts = [int(w) for w in args.workers.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_submissions(Path(tmp), n)
        for workers in counts:
            half = timed_grading(paths[: n // 2], workers, Path(args.build), args.cell_timeout)
            full = timed_grading(paths, workers, Path(args.build), args.cell_timeout)
            full["time_ratio_n_to_half_n"] = round(full["seconds"] / half["seconds"], 2)
            full["cpu_ratio_n_to_half_n"] = round(full["cpu_seconds"] / half["cpu_seconds"], 2)
            runs += [half, full]
            print(json.dumps(half), json.dumps(full), sep="\n", flush=True)
    if not args.quick:
        out = ROOT / "benchmarks" / "results" / "grading_throughput.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"kinds": KINDS, "cores": default_workers(), "runs": runs}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
