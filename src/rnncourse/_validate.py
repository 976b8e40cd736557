"""Input validation shared by the public functions: clear errors at the boundary.

Every message says what was expected, what arrived, and how to fix it.
"""

from __future__ import annotations

import numbers

import numpy as np


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", ()))


def check_array(name: str, a, ndim: int | tuple[int, ...], *, finite: bool = True, dtype_kind: str = "f"):
    """Check that ``a`` is a numpy array or torch tensor with ``ndim`` dimensions and the right dtype kind.

    ``dtype_kind`` is ``"f"`` for floating point or ``"i"`` for integer ids. Returns ``a`` unchanged.
    """
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise TypeError(
            f"{name} must be an array (numpy.ndarray or torch.Tensor), got {type(a).__name__}; "
            f"convert it with numpy.asarray(...) or torch.as_tensor(...)."
        )
    if len(a.shape) not in ndims:
        want = " or ".join(str(n) for n in ndims)
        raise ValueError(
            f"{name} must have {want} dimensions, got {len(a.shape)} (shape {_shape(a)}); "
            "see the docstring for the expected shape, e.g. (B, T, D) for a batch of sequences."
        )
    kind = _dtype_kind(a)
    if dtype_kind == "f" and kind != "f":
        raise TypeError(
            f"{name} must hold floating-point numbers, got dtype {a.dtype}; convert it with "
            f".astype(np.float64) or .to(torch.float32)."
        )
    if dtype_kind == "i" and kind not in ("i", "u"):
        raise TypeError(
            f"{name} must hold integer ids, got dtype {a.dtype}; convert it with .astype(np.int64) "
            "or .long()."
        )
    if finite and kind == "f" and not _all_finite(a):
        raise ValueError(
            f"{name} contains NaN or infinite values (shape {_shape(a)}); all entries must be finite. "
            "Check the data or lower the learning rate if values blew up during training."
        )
    return a


def check_dim(name: str, a, axis: int, expected: int, hint: str = ""):
    """Check that ``a.shape[axis] == expected``."""
    got = a.shape[axis]
    if got != expected:
        raise ValueError(
            f"{name} has size {got} along axis {axis} (shape {_shape(a)}), expected {expected}. "
            + (hint or "Make the sizes of the arrays agree.")
        )


def check_positive_int(name: str, value, *, minimum: int = 1):
    """Check that ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def check_choice(name: str, value, choices):
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)!r}, got {value!r}.")
    return value


def check_probability(name: str, value):
    """Check that ``value`` is a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
    return float(value)


def _dtype_kind(a) -> str:
    if isinstance(a, np.ndarray) or isinstance(getattr(a, "dtype", None), np.dtype):
        return a.dtype.kind
    # torch tensors
    if getattr(a, "is_floating_point", None) and a.is_floating_point():
        return "f"
    if getattr(a, "dtype", None) is not None and "bool" in str(a.dtype):
        return "b"
    return "i"


def _all_finite(a) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.isfinite(a).all())
    import torch

    return bool(torch.isfinite(a.detach()).all())
