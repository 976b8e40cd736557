"""The checks that the tests of every exercise use: a wrong answer says what was expected and what arrived.

``expect_close(name, got, want, atol, rtol, shape_names=...)``, ``expect_array(name, got, shape, ...)``,
``expect_equal(name, got, want, hint)`` and ``expect_true(condition, message)`` raise ``AssertionError``
with that message; ``using_reference(func, name=impl)`` grades a function with an earlier question's
function replaced by the reference, so that one mistake costs points once. They live in the instructor
package :mod:`rnncourse_grading`, beside this library, which also grades a folder of submissions::

    python -m rnncourse_grading SUBMISSIONS_DIR --out grades.csv
"""

from rnncourse_grading.checks import expect_array, expect_close, expect_equal, expect_true, using_reference

__all__ = ["expect_array", "expect_close", "expect_equal", "expect_true", "using_reference"]
