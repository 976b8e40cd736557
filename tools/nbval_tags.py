"""Move nbval's comment markers into cell tags, so that readers of the book do not see them.

A chapter marks a cell whose output cannot be reproduced exactly (timings, training logs, widgets) with a
first line ``# NBVAL_IGNORE_OUTPUT``. nbval understands the equivalent cell tag ``nbval-ignore-output`` as
well; this script replaces the comment with the tag and leaves everything else (outputs included) unchanged.

Usage: ``.venv/bin/python tools/nbval_tags.py book/*.ipynb``
"""

from __future__ import annotations

import sys

import nbformat

MARKERS = {"# NBVAL_IGNORE_OUTPUT": "nbval-ignore-output", "# NBVAL_SKIP": "nbval-skip"}


def convert(path: str) -> int:
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        while lines and lines[0].strip() in MARKERS:
            tag = MARKERS[lines.pop(0).strip()]
            tags = cell.metadata.setdefault("tags", [])
            if tag not in tags:
                tags.append(tag)
            changed += 1
        if changed:
            cell.source = "\n".join(lines)
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for p in sys.argv[1:]:
        n = convert(p)
        if n:
            print(f"{p}: {n} marker(s) moved to tags")
