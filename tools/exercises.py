"""Build and check the graded exercises (``make exercises`` runs ``tools/exercises.py build``).

    python tools/exercises.py build [NN_name ...]   generate exercises/ and _build/exercises/ from solutions/
    python tools/exercises.py check                 fail if exercises/ differs from what solutions/ generates

See solutions/README.md for the format of a master notebook.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnncourse_grading.build import build_exercise, check_drift, list_masters

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("names", nargs="*", help="exercises to build, e.g. 01_recurrent_state (default: all)")
    parser.add_argument(
        "--solutions", type=Path, default=ROOT / "solutions", help="folder of master notebooks"
    )
    parser.add_argument(
        "--exercises", type=Path, default=ROOT / "exercises", help="folder of student notebooks"
    )
    parser.add_argument("--build", type=Path, default=ROOT / "_build" / "exercises", help="autograder output")
    parser.add_argument(
        "--no-run-tests",
        action="store_true",
        help="build without checking that each solution passes its own tests (faster)",
    )
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = check_drift(args.solutions, args.exercises)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"exercises/ is in sync with {len(list_masters(args.solutions))} master notebooks.")
        return 1 if problems else 0

    try:
        masters = list_masters(args.solutions, args.names)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    status = 0
    for master in masters:
        start = time.perf_counter()
        try:
            spec = build_exercise(master, args.exercises, args.build, run_tests=not args.no_run_tests)
        except RuntimeError as exc:
            print(f"FAILED {master.name}: {exc}", file=sys.stderr)
            status = 1
            continue
        n_hidden = sum(c["hidden"] for q in spec["questions"] for c in q["cases"])
        print(
            f"built {master.stem}: {len(spec['questions'])} questions, {spec['max']:g} points, "
            f"{n_hidden} hidden tests ({time.perf_counter() - start:.1f} s)"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
