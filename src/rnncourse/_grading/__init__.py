"""Internals of the graded-exercise pipeline: assertion helpers, submission runner, reports.

The public entry points are re-exported by :mod:`rnncourse.grade`.
"""
