"""Finite-difference gradient checks: the oracle every backward pass of the course is tested against.

Chapters 2 (computational graphs) and 3 (backpropagation through time).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import check_array, check_choice, check_real

__all__ = ["numerical_gradient", "rel_error"]


def numerical_gradient(f, x, df, eps=1e-5, *, order=2):
    r"""Gradient of ``sum(f(x) * df)`` with respect to ``x`` by central differences.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns an array (or a number) of the shape of ``df``; it reads ``x``, which is perturbed in
        place one entry at a time.
    x : ndarray of float, any shape
        The point; restored to its original values on return (also if ``f`` raises).
    df : ndarray or float, shape of ``f(x)``
        Upstream gradient (use ``1.0`` for a scalar ``f``).
    eps : float
        Step of the central difference.
    order : {2, 4}
        Accuracy order: 2 is the usual two-point central difference; 4 combines steps ``eps`` and ``2 eps``
        (Richardson extrapolation), whose truncation error is :math:`O(\varepsilon^4)` (use it with a larger
        step such as ``eps=1e-3``; it calls ``f`` twice as often).

    Returns
    -------
    grad : ndarray, shape of ``x``

    Notes
    -----
    .. math:: \frac{\partial}{\partial x_i} \sum_j f_j(x)\, df_j \approx
              \sum_j \big(f_j(x + \varepsilon e_i) - f_j(x - \varepsilon e_i)\big)\, df_j / (2 \varepsilon),

    with error :math:`O(\varepsilon^2)` from truncation plus about
    :math:`\text{machine eps} \cdot |f| / \varepsilon` from rounding, hence float64 and
    :math:`\varepsilon = 10^{-5}`. ``order=4`` uses

    .. math:: \frac{-f(x + 2\varepsilon e_i) + 8 f(x + \varepsilon e_i)
              - 8 f(x - \varepsilon e_i) + f(x - 2\varepsilon e_i)}{12 \varepsilon}.

    ``2 x.size`` calls of ``f`` (``4 x.size`` with ``order=4``), so keep ``x`` small. Chapter 3.
    """
    if not callable(f):
        raise TypeError(
            f"f must be a callable f(x) -> array, got {type(f).__name__}; pass e.g. lambda x: g(x)."
        )
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"x must be a numpy.ndarray (it is perturbed in place), got {type(x).__name__}; "
            "convert it with np.asarray(x, dtype=np.float64)."
        )
    check_array("x", x, tuple(range(0, 9)))
    if isinstance(df, numbers.Real) and not isinstance(df, bool):
        df = np.asarray(df, dtype=np.float64)
    if not isinstance(df, np.ndarray):
        raise TypeError(
            f"df must be a numpy.ndarray or a number, got {type(df).__name__}; use np.asarray(df)."
        )
    check_array("df", df, tuple(range(0, 9)))
    eps = check_real("eps", eps, low=0.0, low_open=True, hint="The usual choice is eps=1e-5.")
    order = check_choice("order", order, (2, 4))

    def evaluate():
        out = np.array(f(x), dtype=np.float64)  # a copy: f may return a buffer that it reuses
        if out.shape != df.shape:
            raise ValueError(
                f"f(x) has shape {out.shape} but df has shape {df.shape}; they must agree: pass df with the "
                "shape of f(x) (df=1.0 for a scalar f)."
            )
        return out

    def central(i, old, step):
        """``f(x + step e_i) - f(x - step e_i)``, entrywise."""
        x[i] = old + step
        plus = evaluate()
        x[i] = old - step
        minus = evaluate()
        # difference first: outputs that do not depend on x[i] cancel exactly (less rounding error)
        return plus - minus

    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            if order == 2:
                grad[i] = np.sum(central(i, old, eps) * df) / (2 * eps)
            else:
                grad[i] = np.sum((8 * central(i, old, eps) - central(i, old, 2 * eps)) * df) / (12 * eps)
        finally:
            x[i] = old
    return grad.astype(x.dtype, copy=False)


def rel_error(a, b):
    r"""Largest elementwise relative error between ``a`` and ``b``.

    Parameters
    ----------
    a, b : ndarray, torch.Tensor or number, same shape

    Returns
    -------
    float
        :math:`\max_i |a_i - b_i| / \max(10^{-12}, |a_i| + |b_i|)`; 0 where both are exactly equal.

    Notes
    -----
    In float64, an analytic gradient that agrees with central differences to below about :math:`10^{-7}` is
    correct; a bug typically gives :math:`10^{-2}` or more. Chapter 3.
    """
    a, b = _as_float_array("a", a), _as_float_array("b", b)
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {a.shape} and {b.shape}; compare arrays of equal shape "
            "(e.g. an analytic and a numerical gradient of the same parameter)."
        )
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-12, np.abs(a) + np.abs(b))))


def _as_float_array(name, a) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        a = a.detach().cpu().numpy()
    elif isinstance(a, numbers.Real) and not isinstance(a, bool):
        a = np.asarray(a)
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray, a torch.Tensor or a number, got {type(a).__name__}; "
            f"use np.asarray({name})."
        )
    if a.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold numbers, got dtype {a.dtype}; convert it with .astype(np.float64)."
        )
    a = a.astype(np.float64, copy=False)
    check_array(name, a, tuple(range(0, 9)))
    return a
