"""Run the benchmarks B1-B4 and write ``benchmarks/results/*.json`` and ``benchmarks/results/README.md``.

Usage (from the repository root)::

    python -m benchmarks.run              # all of B1-B4 (``make bench``), under 10 minutes on 2 cores
    python -m benchmarks.run --only b1,b3 # a subset
    python -m benchmarks.run --quick      # tiny sizes, to check that everything runs (writes nothing)

B5 (executing every notebook) is ``python -m benchmarks.notebooks`` (``make bench-notebooks``). Both
re-execute ``book/appendix_performance.ipynb`` afterwards, so that the outputs stored in the appendix show
the new results (``--no-appendix`` skips this).

numpy's OpenBLAS runs single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set otherwise before the run): the
numpy benchmark (B1) multiplies small matrices, for which a second BLAS thread on a shared 2-core machine
costs far more in waiting than it gains. torch keeps its default number of threads (recorded).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from ._harness import command_line, environment, write_readme, write_result

BENCHMARKS = {
    "b1": ("b1_charrnn", "benchmarks.b1_charrnn"),
    "b2": ("b2_rnn_vs_torch", "benchmarks.b2_rnn_vs_torch"),
    "b3": ("b3_bptt_memory", "benchmarks.b3_bptt_memory"),
    "b4": ("b4_sequence_length", "benchmarks.b4_sequence_length"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the rnncourse benchmarks B1-B4 and write the results.")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of b1,b2,b3,b4")
    parser.add_argument("--quick", action="store_true", help="tiny sizes; print the results, write nothing")
    parser.add_argument("--results-dir", default=None, help="output folder (default benchmarks/results)")
    parser.add_argument(
        "--no-appendix", action="store_true", help="do not re-execute book/appendix_performance.ipynb"
    )
    args = parser.parse_args(argv)
    if "numpy" not in sys.modules:  # only effective before numpy (and its OpenBLAS) is loaded
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    keys = [k.strip().lower() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    env = environment()
    print(
        f"{env['cpu']}, {env['cores']} cores, torch {env['torch']} ({env['torch_threads']} threads)",
        file=sys.stderr,
    )
    t_all = time.perf_counter()
    for key in keys:
        name, module = BENCHMARKS[key]
        print(f"{key}: running ...", file=sys.stderr, flush=True)
        payload = importlib.import_module(module).run(quick=args.quick)
        payload["command"] = command_line()
        payload["environment"] = env | {"date": environment()["date"]}
        print(f"{key}: {payload['seconds']} s; {json.dumps(payload.get('summary', {}))}", file=sys.stderr)
        if not args.quick:
            write_result(name, payload, args.results_dir)
    if not args.quick:
        path = write_readme(args.results_dir)
        print(f"wrote {path.parent.name}/{path.name}", file=sys.stderr)
    if not (args.quick or args.no_appendix or args.results_dir is not None):
        from .notebooks import APPENDIX, refresh_notebook

        if APPENDIX.exists():  # its stored outputs show the results: keep them in step with the files
            seconds = refresh_notebook(APPENDIX)
            print(f"re-executed book/{APPENDIX.name} in {seconds:.1f} s", file=sys.stderr)
    print(f"total {time.perf_counter() - t_all:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
