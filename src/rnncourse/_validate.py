"""Input validation shared by the public functions: clear errors at the boundary.

Every message says what was expected, what arrived, and how to fix it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: The nonlinearities of the vanilla cell: ``tanh`` (the course's), ``relu`` (IRNN) and ``linear``.
NONLINEARITIES = ("tanh", "relu", "linear")


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", ()))


def check_array(
    name: str,
    a,
    ndim: int | tuple[int, ...],
    *,
    finite: bool = True,
    dtype_kind: str = "f",
    shape: str | None = None,
):
    """Check that ``a`` is a numpy array or torch tensor with ``ndim`` dimensions and the right dtype kind.

    ``dtype_kind`` is ``"f"`` for floating point or ``"i"`` for integer ids; ``shape`` names the expected
    shape in the error, e.g. ``"(B, H)"``. Returns ``a`` unchanged.
    """
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise TypeError(
            f"{name} must be an array (numpy.ndarray or torch.Tensor), got {type(a).__name__}; "
            f"convert it with numpy.asarray(...) or torch.as_tensor(...)."
        )
    if len(a.shape) not in ndims:
        want = " or ".join(str(n) for n in ndims)
        expected = f"shape {shape}" if shape else "the shape given in the docstring"
        raise ValueError(
            f"{name} must have {want} dimensions, got {len(a.shape)} (shape {_shape(a)}); "
            f"expected {expected}."
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


def check_bool(name: str, value) -> bool:
    """Check that ``value`` is True or False (numpy booleans accepted)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}.")
    return bool(value)


def check_real(name: str, value, *, low=None, high=None, low_open: bool = False, hint: str = "") -> float:
    """Check that ``value`` is a finite real number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        got = f"got {value!r} of type {type(value).__name__}"
        raise TypeError(f"{name} must be a finite real number, {got}. {hint}".rstrip())
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}. {hint}".rstrip())
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}. {hint}".rstrip())
    return value


def check_seed(seed, *, allow_none: bool = False):
    """Check that ``seed`` is an integer >= 0 (or None when allowed)."""
    if seed is None and allow_none:
        return None
    return check_positive_int("seed", seed, minimum=0)


def check_tensor(name: str, a, ndim=None, dtype=None, *, shape: str | None = None, finite: bool = True):
    """Check that ``a`` is a torch tensor (with ``ndim`` dimensions and ``dtype``, when given).

    ``dtype`` is the module's parameter dtype: a floating input of another dtype gets an error that says how
    to convert it. Returns ``a`` unchanged.
    """
    import torch

    if not isinstance(a, torch.Tensor):
        hint = f", dtype={dtype}" if dtype is not None else ""
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(a).__name__}; convert it with "
            f"torch.as_tensor({name}{hint})."
        )
    if ndim is not None:
        check_array(name, a, ndim, finite=False, dtype_kind="f" if dtype is not None else "any", shape=shape)
    if dtype is not None and a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype} but the model's parameters are {dtype}; convert the input with "
            f"{name}.to({dtype}) or build the model with dtype={a.dtype}."
        )
    if finite and a.is_floating_point() and not bool(torch.isfinite(a.detach()).all()):
        raise ValueError(
            f"{name} contains NaN or infinite values (shape {tuple(a.shape)}); all entries must be finite. "
            "Check the data, or lower the learning rate if the values blew up during training."
        )
    return a


def check_ids(name: str, ids, ndim, vocab: int, *, shape: str | None = None):
    """Integer token ids (numpy or torch), ``ndim`` dimensions, values in ``0..vocab-1``; an int64 tensor."""
    import torch

    if isinstance(ids, np.ndarray):
        ids = torch.from_numpy(ids)
    check_tensor(name, ids)
    check_array(name, ids, ndim, dtype_kind="i", shape=shape)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise ValueError(
            f"{name} must hold ids in 0..{vocab - 1}, got values in {int(ids.min())}..{int(ids.max())}; "
            f"build the model with a vocabulary of at least {int(ids.max()) + 1} (or fix the data)."
        )
    return ids.long()


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
    if isinstance(a, np.ndarray):  # the ufunc's reduce: ndarray.all() adds a Python-level call per check
        return bool(np.logical_and.reduce(np.isfinite(a), axis=None))
    import torch

    return bool(torch.isfinite(a.detach()).all())
