"""Assertion helpers for exercise tests: a failed check says what was expected and what was received.

The tests of every exercise (public ones that students run with ``grader.check("q1")`` and hidden ones
that only the grader runs) use these helpers instead of bare ``assert`` or doctest output, so that a wrong
answer produces a message such as::

    rnn_step(x, h_prev, W_xh, W_hh, b_h) returned shape (2, 3); expected shape (2, 4) = (B, H).

Each helper raises ``AssertionError`` on a wrong answer and returns the checked value otherwise.
"""

from __future__ import annotations

import contextlib
import numbers

import numpy as np

__all__ = ["expect_array", "expect_close", "expect_equal", "expect_true", "using_reference"]

_MISSING_HINT = "Replace the `...` placeholder with your answer and run the cell again."


def _describe(value) -> str:
    """Short description of ``value`` for an error message (type, shape, dtype; never a huge dump)."""
    if value is None:
        return "None (did the function forget to `return`?)"
    if value is Ellipsis:
        return "... (the placeholder; the answer is not written yet)"
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def _to_numpy(name: str, got) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested list to a float64 array, or fail with a clear message."""
    if got is None or got is Ellipsis or isinstance(got, (str, bytes, dict)):
        raise AssertionError(f"{name} returned {_describe(got)}; expected an array.")
    if hasattr(got, "detach") and hasattr(got, "cpu"):  # torch tensor
        got = got.detach().cpu().numpy()
    try:
        arr = np.asarray(got)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{name} returned {_describe(got)}, which is not an array: {exc}.") from None
    if arr.dtype == object:
        raise AssertionError(f"{name} returned {_describe(got)}, which is not a numeric array.")
    return arr


def _fmt_shape(shape) -> str:
    return str(tuple(int(s) for s in shape))


def expect_array(name: str, got, shape=None, *, shape_names: str = "", finite: bool = True) -> np.ndarray:
    """Check that ``got`` is a numeric array (numpy or torch) with the given shape and finite entries.

    Parameters
    ----------
    name : str
        What produced ``got``, as the student would write it, e.g. ``"rnn_step(x, h_prev, W_xh, W_hh, b_h)"``.
    got : array_like
        The student's value.
    shape : tuple of int, optional
        The expected shape; not checked when None.
    shape_names : str
        The shape in the book's letters, e.g. ``"(B, H)"``, added to the message.
    finite : bool
        Whether NaN and infinite entries are an error.

    Returns
    -------
    numpy.ndarray
        ``got`` as a numpy array.

    Raises
    ------
    AssertionError
        With a message that names the expected and the received shape or the first non-finite entry.
    """
    arr = _to_numpy(name, got)
    if shape is not None and tuple(arr.shape) != tuple(shape):
        letters = f" = {shape_names}" if shape_names else ""
        raise AssertionError(
            f"{name} returned shape {_fmt_shape(arr.shape)}; expected shape {_fmt_shape(shape)}{letters}."
        )
    if finite and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise AssertionError(
            f"{name} contains non-finite values: entry {bad} is {arr[bad].item()}; expected finite numbers "
            "(look for a division by zero, an overflow or an uninitialised array such as np.empty)."
        )
    return arr


def expect_close(name: str, got, want, atol: float = 1e-8, rtol: float = 1e-6, *, shape_names: str = ""):
    """Check that ``got`` equals ``want`` entrywise within ``atol + rtol * |want|``.

    Parameters
    ----------
    name : str
        What produced ``got``, e.g. ``"rnn_step(x, h_prev, W_xh, W_hh, b_h)"``.
    got : array_like or float
        The student's value (numpy array, torch tensor, list or number).
    want : array_like or float
        The correct value, usually computed with the library (``rnncourse.reference``, ``rnncourse.modules``).
    atol, rtol : float
        Absolute and relative tolerance.
    shape_names : str
        The expected shape in the book's letters, e.g. ``"(B, T, H)"``.

    Returns
    -------
    numpy.ndarray
        ``got`` as a numpy array.

    Raises
    ------
    AssertionError
        If the shapes differ, ``got`` is not finite, or an entry is off; the message gives the expected
        and the received value of the worst entry.
    """
    want_arr = np.asarray(want, dtype=np.float64)
    if want_arr.ndim == 0 and (got is None or got is Ellipsis or not hasattr(got, "shape")):
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            raise AssertionError(f"{name} is {_describe(got)}; expected the number {float(want_arr):.6g}.")
    arr = expect_array(name, got, want_arr.shape, shape_names=shape_names).astype(np.float64)
    err = np.abs(arr - want_arr) - (atol + rtol * np.abs(want_arr))
    if (err > 0).any():
        idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        where = f" at index {tuple(int(i) for i in idx)}" if idx else ""
        n_bad = int((err > 0).sum())
        total = f" ({n_bad} of {err.size} entries are off)" if err.size > 1 else ""
        raise AssertionError(
            f"{name} is wrong{where}: expected {want_arr[idx]:.6g}, received {arr[idx]:.6g}{total}."
        )
    return arr


def expect_equal(name: str, got, want, hint: str = ""):
    """Check that ``got == want`` for a number, string or boolean answer.

    Integers compare equal to integral floats (``3 == 3.0``); booleans and strings compare exactly.

    Parameters
    ----------
    name : str
        The variable or call that holds the answer, e.g. ``"param_count(3, 4, 5, T=10)"``.
    got : object
        The student's value.
    want : object
        The correct value.
    hint : str
        Added to the message on failure, e.g. a pointer to the relevant equation.

    Raises
    ------
    AssertionError
        With the expected and the received value.
    """
    suffix = f" {hint}" if hint else ""
    if got is Ellipsis:
        raise AssertionError(f"{name} is still the placeholder `...`; expected {want!r}. {_MISSING_HINT}")
    is_bool = isinstance(got, (bool, np.bool_))
    if isinstance(want, (bool, np.bool_)):
        ok = is_bool and bool(got) == bool(want)
    elif isinstance(want, numbers.Number):
        ok = isinstance(got, numbers.Number) and not is_bool and got == want
    else:
        ok = type(got) is type(want) and got == want
    if not ok:
        raise AssertionError(f"{name} is {_describe(got)}; expected {want!r}.{suffix}")
    return got


def expect_true(condition: bool, message: str):
    """Raise ``AssertionError(message)`` unless ``condition`` holds (a readable ``assert`` for tests)."""
    if not bool(condition):
        raise AssertionError(message)


@contextlib.contextmanager
def using_reference(func, **references):
    """Run ``func`` with the names it calls from earlier questions replaced by reference implementations.

    ``with using_reference(run_rnn, rnn_step=rnn_step_forward_h): run_rnn(...)`` grades ``run_rnn`` (q2) on
    its own: a mistake in the student's ``rnn_step`` (q1) is graded once, in q1, and not again in q2. The
    names are looked up in ``func``'s module globals (the notebook's namespace) and restored afterwards.
    """
    namespace = getattr(func, "__globals__", None)
    if namespace is None:
        yield
        return
    saved = {name: namespace[name] for name in references if name in namespace}
    namespace.update(references)
    try:
        yield
    finally:
        for name in references:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)
