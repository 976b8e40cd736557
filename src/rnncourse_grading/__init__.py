"""rnncourse_grading: the instructor's grading pipeline of the rnncourse exercises, beside the library.

- ``python -m rnncourse_grading SUBMISSIONS_DIR --out grades.csv`` grades a folder of submissions
  (:mod:`rnncourse_grading.folder`), each in a sandboxed kernel (:mod:`~rnncourse_grading.runner`,
  :mod:`~rnncourse_grading.kernel`).
- :mod:`rnncourse_grading.build` turns the master notebooks of ``solutions/`` into the student notebooks and
  the grading files (``make exercises``, ``tools/exercises.py``).
- :mod:`rnncourse_grading.checks` holds the ``expect_*`` checks that every exercise's tests use; the
  exercises import them as ``from rnncourse.grade import expect_close, ...``.

Importing this package is cheap (numpy only); the runner imports jupyter_client when it grades.
"""

from .checks import expect_array, expect_close, expect_equal, expect_true

__all__ = ["expect_array", "expect_close", "expect_equal", "expect_true"]
