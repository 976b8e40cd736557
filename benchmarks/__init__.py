"""Performance comparisons of rnncourse against baselines (not timed tests).

Run everything with ``python -m benchmarks.run`` (``make bench``); execute every notebook with
``python -m benchmarks.notebooks`` (``make bench-notebooks``). Results are JSON files in
``benchmarks/results/`` plus a markdown summary ``benchmarks/results/README.md``; the book's performance
appendix renders them.
"""
