r"""Gradient flow through time: step Jacobians, their products, gradient norms, bounds and experiments.

The hidden state of a vanilla RNN is :math:`h_t = f(a_t)` with the pre-activation
:math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h` (or :math:`h_t = h_{t-1} + f(a_t)` with a skip connection in
time). Its step Jacobian is

.. math:: \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(f'(a_t))\, W_{hh}
          \qquad\Bigl(\text{skip: } I + \operatorname{diag}(f'(a_t))\, W_{hh}\Bigr),

and the gradient of a loss at the last step with respect to an early state is a product of such factors,

.. math:: \frac{\partial L_T}{\partial h_k} = \Bigl(\frac{\partial h_T}{\partial h_k}\Bigr)^{\!\top}
          \frac{\partial L_T}{\partial h_T}, \qquad
          \frac{\partial h_T}{\partial h_k} = \prod_{t=k+1}^{T} \frac{\partial h_t}{\partial h_{t-1}} .

Conventions used by every function here (chapter 9, gradient flow and long-term dependencies):

- arrays are batch-first: ``x (B, T, D)``, ``h0 (B, H)``, ``hs (B, T, H)``, with ``hs[:, t - 1]`` the state
  :math:`h_t`;
- ``J (B, T, H, H)`` holds the step Jacobians, ``J[:, t - 1]`` = :math:`\partial h_t / \partial h_{t-1}`, with
  ``J[b, t - 1, i, j]`` = :math:`\partial h_{t,i} / \partial h_{t-1,j}` (column-vector math);
- ``P (B, T + 1, H, H)`` holds the products, ``P[:, k]`` = :math:`\partial h_T / \partial h_k` for
  ``k = 0..T`` (``P[:, T]`` is the identity);
- experiments return arrays indexed by the *lag* ``T - k`` (lag 0 is the last step).

The closed-form functions compute in float64 numpy and accept numpy arrays or torch tensors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._validate import check_array, check_choice, check_dim, check_positive_int
from .data import adding_problem
from .modules import RNN, RNNCell

__all__ = [
    "activation_derivative",
    "unroll",
    "step_jacobians",
    "rnn_weights",
    "module_step_jacobians",
    "autograd_step_jacobians",
    "jacobian_products",
    "spectral_norms",
    "singular_values",
    "hidden_gradients",
    "gradient_norms_through_time",
    "autograd_hidden_gradients",
    "GradientDecomposition",
    "gradient_decomposition",
    "GradientBounds",
    "gradient_flow_bounds",
    "orthogonal_matrix",
    "LagExperiment",
    "gradient_norms_by_lag",
    "ClippingResult",
    "clipping_experiment",
    "MODELS",
    "make_rnn",
    "ReachResult",
    "reach_experiment",
    "AddingResult",
    "adding_experiment",
]

NONLINEARITIES = ("tanh", "relu", "linear")
#: The largest value of ``|f'(a)|``: 1 for tanh (at ``a = 0``), relu (``a > 0``) and the identity.
GAMMA = {"tanh": 1.0, "relu": 1.0, "linear": 1.0}


# ----------------------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------------------


def _float64(name: str, a, ndim) -> np.ndarray:
    """Check ``a`` (numpy array or torch tensor) and return it as a float64 numpy array."""
    check_array(name, a, ndim)
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}; pass {name}=True or {name}=False.")
    return value


def _check_real(name: str, value, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        want = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{name} must be {want}, got {value!r}.")
    return value


def _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip):
    """Validate the arguments of the closed-form functions; return float64 arrays (h0, b_h filled in)."""
    x = _float64("x", x, 3)
    W_xh = _float64("W_xh", W_xh, 2)
    W_hh = _float64("W_hh", W_hh, 2)
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    _check_bool("skip", skip)
    B, T, D = x.shape
    H = W_hh.shape[0]
    check_dim("W_hh", W_hh, 1, H, "W_hh must be square, shape (H, H).")
    check_dim("W_xh", W_xh, 0, H, "W_xh has shape (H, D): one row per hidden unit, as W_hh.")
    check_dim("W_xh", W_xh, 1, D, "W_xh has shape (H, D) where D = x.shape[2].")
    if T < 1:
        raise ValueError(
            f"x has T = 0 time steps (shape {x.shape}), expected T >= 1; pass at least one step."
        )
    if h0 is None:
        h0 = np.zeros((B, H))
    else:
        h0 = _float64("h0", h0, 2)
        check_dim("h0", h0, 0, B, "h0 has shape (B, H) with the batch size of x.")
        check_dim("h0", h0, 1, H, "h0 has shape (B, H) with the hidden size of W_hh.")
    if b_h is None:
        b_h = np.zeros(H)
    else:
        b_h = _float64("b_h", b_h, 1)
        check_dim("b_h", b_h, 0, H, "b_h has shape (H,).")
    return x, h0, W_xh, W_hh, b_h


def _check_jacobians(J) -> np.ndarray:
    J = _float64("J", J, 4)
    if J.shape[2] != J.shape[3]:
        raise ValueError(
            f"J must have shape (B, T, H, H) with square step Jacobians, got shape {J.shape}; "
            "compute it with step_jacobians(...)."
        )
    return J


# ----------------------------------------------------------------------------------------------------------
# closed form
# ----------------------------------------------------------------------------------------------------------


def activation_derivative(a, nonlinearity: str = "tanh") -> np.ndarray:
    r"""The derivative :math:`f'(a)` of the cell's nonlinearity, elementwise.

    Parameters
    ----------
    a : array_like, any shape
        Pre-activations :math:`a_t`.
    nonlinearity : {"tanh", "relu", "linear"}

    Returns
    -------
    ndarray of float64, the shape of ``a``
        ``1 - tanh(a)**2`` (in (0, 1]), ``1.0 * (a > 0)`` (torch's convention: 0 at ``a = 0``), or ones.

    Notes
    -----
    :math:`\tanh'(a) = 1 - \tanh^2(a) \le 1` with equality only at :math:`a = 0`, so every factor
    :math:`\operatorname{diag}(f'(a_t))` of the chain has spectral norm at most :math:`\gamma = 1`. Chapter 9.
    """
    a = _float64("a", a, tuple(range(0, 8)))
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if nonlinearity == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if nonlinearity == "relu":
        return (a > 0).astype(np.float64)
    return np.ones_like(a)


def _f(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0.0)
    return a


def _unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip):
    B, T, _ = x.shape
    H = W_hh.shape[0]
    a = np.empty((B, T, H))
    hs = np.empty((B, T, H))
    a_x = x @ W_xh.T + b_h  # (B, T, H): W_xh x_t + b_h for every t
    h = h0
    for t in range(T):
        a[:, t] = h @ W_hh.T + a_x[:, t]
        h = h + _f(a[:, t], nonlinearity) if skip else _f(a[:, t], nonlinearity)
        hs[:, t] = h
    return a, hs


def unroll(x, h0, W_xh, W_hh, b_h, *, nonlinearity: str = "tanh", skip: bool = False):
    r"""Run a single-layer vanilla RNN in float64 and return its pre-activations and hidden states.

    Parameters
    ----------
    x : array, shape (B, T, D)
    h0 : array, shape (B, H), or None for zeros
    W_xh : array, shape (H, D)
    W_hh : array, shape (H, H)
    b_h : array, shape (H,), or None for zeros
    nonlinearity : {"tanh", "relu", "linear"}
    skip : bool
        Residual connection in time.

    Returns
    -------
    a : ndarray, shape (B, T, H)
        ``a[:, t - 1]`` = :math:`a_t`.
    hs : ndarray, shape (B, T, H)
        ``hs[:, t - 1]`` = :math:`h_t`.

    Notes
    -----
    :math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h`, :math:`h_t = f(a_t)` or, with skip,
    :math:`h_t = h_{t-1} + f(a_t)`. Chapter 9.
    """
    args = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    return _unroll(*args, nonlinearity, skip)


def _step_jacobians(fprime: np.ndarray, W_hh: np.ndarray, skip: bool) -> np.ndarray:
    J = fprime[..., :, None] * W_hh  # (B, T, H, H): row i scaled by f'(a_t)_i = diag(f'(a_t)) W_hh
    if skip:
        J = J + np.eye(W_hh.shape[0])
    return J


def step_jacobians(x, h0, W_xh, W_hh, b_h, *, nonlinearity: str = "tanh", skip: bool = False) -> np.ndarray:
    r"""Closed-form step Jacobians :math:`\partial h_t / \partial h_{t-1}` along a sequence.

    Parameters
    ----------
    x : array, shape (B, T, D)
    h0 : array, shape (B, H), or None for zeros
    W_xh : array, shape (H, D)
    W_hh : array, shape (H, H)
    b_h : array, shape (H,), or None for zeros
    nonlinearity : {"tanh", "relu", "linear"}
    skip : bool
        Residual connection in time, :math:`h_t = h_{t-1} + f(a_t)`.

    Returns
    -------
    J : ndarray of float64, shape (B, T, H, H)
        ``J[b, t - 1, i, j]`` = :math:`\partial h_{t,i} / \partial h_{t-1,j}` for example ``b``.

    Notes
    -----
    With :math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h`,

    .. math:: \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(f'(a_t))\, W_{hh}
              \quad\text{or, with skip,}\quad I + \operatorname{diag}(f'(a_t))\, W_{hh},

    where :math:`f' = 1 - \tanh^2` for tanh, :math:`\mathbb{1}[a > 0]` for relu and 1 for the linear cell,
    which therefore has the constant Jacobian :math:`W_{hh}`. Chapter 9.
    """
    x, h0, W_xh, W_hh, b_h = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    a, _ = _unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    return _step_jacobians(activation_derivative(a, nonlinearity), W_hh, skip)


def rnn_weights(rnn) -> dict:
    r"""The weights and cell type of a single-layer recurrent module, as float64 numpy arrays.

    Parameters
    ----------
    rnn : rnncourse.modules.RNN (num_layers=1), rnncourse.modules.RNNCell or torch.nn.RNN (one layer,
        one direction)

    Returns
    -------
    dict
        ``W_xh`` (H, D), ``W_hh`` (H, H), ``b_h`` (H,) as float64 arrays, ``nonlinearity`` (str) and ``skip``
        (bool): the keyword arguments of :func:`step_jacobians`, :func:`unroll`, :func:`gradient_flow_bounds`
        and :func:`gradient_decomposition`.

    Notes
    -----
    ``torch.nn.RNN`` keeps two biases; :math:`b_h` is their sum. Chapter 9.
    """
    if isinstance(rnn, RNN):
        if rnn.num_layers != 1:
            raise ValueError(
                f"rnn must have num_layers=1, got num_layers={rnn.num_layers}; analyse one layer at a time, "
                "e.g. rnn.cells[0]."
            )
        rnn = rnn.cells[0]
    if isinstance(rnn, RNNCell):
        H = rnn.hidden_size
        b_h = rnn.b_h if rnn.b_h is not None else torch.zeros(H)
        return {
            "W_xh": _float64("W_xh", rnn.W_xh, 2),
            "W_hh": _float64("W_hh", rnn.W_hh, 2),
            "b_h": _float64("b_h", b_h, 1),
            "nonlinearity": rnn.nonlinearity,
            "skip": rnn.skip,
        }
    if isinstance(rnn, nn.RNN):
        if rnn.num_layers != 1 or rnn.bidirectional:
            raise ValueError(
                f"rnn must be a single-layer unidirectional torch.nn.RNN, got num_layers={rnn.num_layers}, "
                f"bidirectional={rnn.bidirectional}; build it with num_layers=1."
            )
        if rnn.bias:
            b_h = rnn.bias_ih_l0 + rnn.bias_hh_l0
        else:
            b_h = torch.zeros(rnn.hidden_size)
        return {
            "W_xh": _float64("W_xh", rnn.weight_ih_l0, 2),
            "W_hh": _float64("W_hh", rnn.weight_hh_l0, 2),
            "b_h": _float64("b_h", b_h, 1),
            "nonlinearity": rnn.nonlinearity,
            "skip": False,
        }
    raise TypeError(
        f"rnn must be an rnncourse.modules.RNN, RNNCell or torch.nn.RNN, got {type(rnn).__name__}; for any "
        "other step function use autograd_step_jacobians(step, x, h0)."
    )


def module_step_jacobians(rnn, x, h0=None) -> np.ndarray:
    r"""Closed-form step Jacobians of a single-layer module (see :func:`rnn_weights`).

    Parameters
    ----------
    rnn : rnncourse.modules.RNN (num_layers=1), RNNCell or torch.nn.RNN
    x : array or Tensor, shape (B, T, D)
    h0 : array or Tensor, shape (B, H) or (1, B, H), optional

    Returns
    -------
    J : ndarray of float64, shape (B, T, H, H)

    Notes
    -----
    :math:`\partial h_t / \partial h_{t-1} = \operatorname{diag}(f'(a_t)) W_{hh}` (plus :math:`I` with skip),
    evaluated in float64 with the module's weights. Chapter 9.
    """
    weights = rnn_weights(rnn)
    if h0 is not None and getattr(h0, "ndim", 0) == 3:
        h0 = h0[0]
    return step_jacobians(x, h0, **weights)


def _as_step_function(step) -> Callable:
    """Turn a module or callable into ``f(x_t (B, D), h_prev (B, H)) -> h_t (B, H)``."""
    if isinstance(step, RNN) or isinstance(step, nn.RNNBase):
        if step.num_layers != 1 or getattr(step, "bidirectional", False):
            raise ValueError(
                "step must be a single-layer, one-direction recurrent module, got "
                f"num_layers={step.num_layers}; pass one layer (e.g. rnn.cells[0]) or a step function."
            )
        if isinstance(step, nn.RNNBase) and not step.batch_first:
            return lambda x_t, h: step(x_t[None], h[None])[0][0]
        return lambda x_t, h: step(x_t[:, None], h[None])[0][:, 0]
    if callable(step):
        return step
    raise TypeError(
        f"step must be a recurrent module or a callable f(x_t, h_prev) -> h_t, got {type(step).__name__}."
    )


def _module_dtype(step) -> torch.dtype | None:
    if isinstance(step, nn.Module):
        for p in step.parameters():
            return p.dtype
    return None


def _step_inputs(step, x, h0) -> tuple[Callable, torch.Tensor, torch.Tensor]:
    """The step function, ``x`` (B, T, D) in the module's dtype, and ``h0`` (B, H), zeros if None."""
    f = _as_step_function(step)
    x = _as_tensor("x", x, 3, _module_dtype(step))
    B = x.shape[0]
    if h0 is None:
        hidden = getattr(step, "hidden_size", None)
        if hidden is None:
            raise ValueError("h0 is None and the step function has no hidden_size; pass h0 of shape (B, H).")
        return f, x, x.new_zeros(B, hidden)
    h0 = _as_tensor("h0", h0, 2, x.dtype)
    check_dim("h0", h0, 0, B, "h0 has shape (B, H) with the batch size of x.")
    return f, x, h0


def _as_tensor(name: str, a, ndim, dtype) -> torch.Tensor:
    check_array(name, a, ndim)
    a = torch.as_tensor(a)
    return a.to(dtype) if dtype is not None else a


def autograd_step_jacobians(step, x, h0=None) -> np.ndarray:
    r"""Step Jacobians :math:`\partial h_t / \partial h_{t-1}` by automatic differentiation, for any cell.

    Parameters
    ----------
    step : RNNCell, rnncourse.modules.RNN (one layer), torch.nn.RNN (one layer) or callable
        A callable is called as ``step(x_t, h_prev) -> h_t`` with ``x_t (B, D)``, ``h_prev (B, H)``.
    x : array or Tensor, shape (B, T, D)
        Converted to the dtype of the module's parameters (a callable gets ``torch.as_tensor(x)``).
    h0 : array or Tensor, shape (B, H), optional
        Zeros when None.

    Returns
    -------
    J : ndarray, shape (B, T, H, H)
        In the dtype of the computation; ``J[b, t - 1]`` = :math:`\partial h_t / \partial h_{t-1}`.

    Notes
    -----
    Each step calls ``torch.autograd.functional.jacobian`` of :math:`h_{t-1} \mapsto h_t` at the states of the
    forward pass and keeps the diagonal blocks (examples do not interact). It checks the closed form
    :math:`\operatorname{diag}(f'(a_t)) W_{hh}` and serves cells that have no closed form here. Chapter 9.
    """
    f, x, h0 = _step_inputs(step, x, h0)
    B, T, _ = x.shape
    h = h0.detach()
    Js = []
    for t in range(T):
        x_t = x[:, t].detach()
        J_full = torch.autograd.functional.jacobian(lambda h_prev, x_t=x_t: f(x_t, h_prev), h)  # (B,H,B,H)
        Js.append(torch.diagonal(J_full, dim1=0, dim2=2).permute(2, 0, 1))  # (B, H, H)
        with torch.no_grad():
            h = f(x_t, h)
    return torch.stack(Js, 1).detach().cpu().numpy()


def jacobian_products(J) -> np.ndarray:
    r"""Products :math:`\partial h_T / \partial h_k` of the step Jacobians, for every ``k = 0..T``.

    Parameters
    ----------
    J : array, shape (B, T, H, H)
        Step Jacobians, ``J[:, t - 1]`` = :math:`\partial h_t / \partial h_{t-1}`.

    Returns
    -------
    P : ndarray of float64, shape (B, T + 1, H, H)
        ``P[:, k]`` = :math:`\partial h_T / \partial h_k`; ``P[:, T]`` is the identity.

    Notes
    -----
    .. math:: \frac{\partial h_T}{\partial h_k} = \frac{\partial h_T}{\partial h_{T-1}} \cdots
              \frac{\partial h_{k+1}}{\partial h_k}, \qquad
              \frac{\partial h_T}{\partial h_k} = \frac{\partial h_T}{\partial h_{k+1}} J_{k+1}.

    For the linear cell :math:`\partial h_T / \partial h_k = W_{hh}^{T-k}`. Chapter 9.
    """
    J = _check_jacobians(J)
    B, T, H, _ = J.shape
    P = np.empty((B, T + 1, H, H))
    P[:, T] = np.eye(H)
    for k in range(T - 1, -1, -1):
        P[:, k] = P[:, k + 1] @ J[:, k]
    return P


def singular_values(M) -> np.ndarray:
    r"""Singular values of a stack of square or rectangular matrices, largest first.

    Parameters
    ----------
    M : array, shape (..., m, n)

    Returns
    -------
    ndarray of float64, shape (..., min(m, n))

    Notes
    -----
    For the products :math:`\partial h_T / \partial h_k` they tell in how many directions the gradient
    survives :math:`T - k` steps: :math:`\sigma_i(W^{n}) = \sigma^n` for :math:`W = \sigma Q` with
    :math:`Q` orthogonal. Chapter 9.
    """
    M = _float64("M", M, tuple(range(2, 8)))
    return np.linalg.svd(M, compute_uv=False)


def spectral_norms(M) -> np.ndarray:
    r"""Spectral norms :math:`\|M\|_2 = \sigma_{\max}(M)` of a stack of matrices.

    Parameters
    ----------
    M : array, shape (..., m, n)

    Returns
    -------
    ndarray of float64, shape (...)

    Notes
    -----
    :math:`\|M\|_2 = \max_{\|v\| = 1} \|M v\|`; it is submultiplicative, which gives the bounds of
    :func:`gradient_flow_bounds`. Chapter 9.
    """
    return singular_values(M)[..., 0]


def hidden_gradients(J, dh_T) -> np.ndarray:
    r"""Backpropagate :math:`\partial L_T / \partial h_T` through the step Jacobians to every earlier state.

    Parameters
    ----------
    J : array, shape (B, T, H, H)
        Step Jacobians from :func:`step_jacobians` or :func:`autograd_step_jacobians`.
    dh_T : array, shape (B, H)
        :math:`\partial L_T / \partial h_T`, the gradient of a loss on the last state.

    Returns
    -------
    dhs : ndarray of float64, shape (B, T + 1, H)
        ``dhs[:, k]`` = :math:`\partial L_T / \partial h_k` for ``k = 0..T`` (``dhs[:, T]`` is ``dh_T``).

    Notes
    -----
    .. math:: \frac{\partial L_T}{\partial h_{k}} = \Bigl(\frac{\partial h_{k+1}}{\partial h_k}\Bigr)^{\!\top}
              \frac{\partial L_T}{\partial h_{k+1}}

    (in rows: ``dh_k = dh_{k+1} @ J_{k+1}``). Chapter 9.
    """
    J = _check_jacobians(J)
    dh_T = _float64("dh_T", dh_T, 2)
    B, T, H, _ = J.shape
    check_dim("dh_T", dh_T, 0, B, "dh_T has shape (B, H) with the batch size of J.")
    check_dim("dh_T", dh_T, 1, H, "dh_T has shape (B, H) with the hidden size of J.")
    dhs = np.empty((B, T + 1, H))
    dhs[:, T] = dh_T
    for k in range(T - 1, -1, -1):
        dhs[:, k] = np.einsum("bi,bij->bj", dhs[:, k + 1], J[:, k])
    return dhs


def gradient_norms_through_time(J, dh_T) -> np.ndarray:
    r"""Norms :math:`\|\partial L_T / \partial h_k\|` for every ``k = 0..T``.

    Parameters
    ----------
    J : array, shape (B, T, H, H)
    dh_T : array, shape (B, H)

    Returns
    -------
    ndarray of float64, shape (B, T + 1)
        Entry ``k`` is the Euclidean norm of :math:`\partial L_T / \partial h_k`; reverse the last axis
        (``[:, ::-1]``) to index by the lag ``T - k``.

    Notes
    -----
    See :func:`hidden_gradients`. Chapter 9.
    """
    return np.linalg.norm(hidden_gradients(J, dh_T), axis=-1)


def autograd_hidden_gradients(step, x, loss_fn: Callable, h0=None) -> np.ndarray:
    r"""Gradients :math:`\partial L / \partial h_k` of a loss on the last state, by automatic differentiation.

    Parameters
    ----------
    step : RNNCell, rnncourse.modules.RNN (one layer), torch.nn.RNN (one layer) or callable
        As in :func:`autograd_step_jacobians`.
    x : array or Tensor, shape (B, T, D)
    loss_fn : callable
        ``loss_fn(h_T (B, H)) -> scalar Tensor``; sum (not average) over the batch to get per-example
        gradients.
    h0 : array or Tensor, shape (B, H), optional
        Zeros when None (then ``step`` must be an ``RNNCell`` or a module).

    Returns
    -------
    ndarray, shape (B, T + 1, H)
        Entry ``[:, k]`` = :math:`\partial L / \partial h_k`, in the dtype of the computation.

    Notes
    -----
    Keeps every state :math:`h_k` in the graph (``retain_grad``) and calls ``backward`` once; the closed form
    is :func:`hidden_gradients`. Chapter 9.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}; e.g. lambda h: h.sum().")
    f, x, h0 = _step_inputs(step, x, h0)
    B, T, _ = x.shape
    h = h0.detach().clone().requires_grad_(True)
    states = [h]
    for t in range(T):
        h = f(x[:, t], h)
        h.retain_grad()
        states.append(h)
    loss = loss_fn(h)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar Tensor; sum the per-example losses, e.g. h.sum().")
    loss.backward()
    return torch.stack([s.grad for s in states], 1).detach().cpu().numpy()


# ----------------------------------------------------------------------------------------------------------
# dL/dW = sum_t dL_t/dW, split by time lag
# ----------------------------------------------------------------------------------------------------------


@dataclass
class GradientDecomposition:
    r"""The gradient of :math:`L = \sum_t L_t` split by loss term and by time lag.

    Attributes
    ----------
    dW_xh : ndarray, shape (H, D)
    dW_hh : ndarray, shape (H, H)
    db_h : ndarray, shape (H,)
        The total gradient :math:`\partial L / \partial W` (summed over the batch).
    dW_xh_by_lag, dW_hh_by_lag, db_h_by_lag : ndarray, shape (T, H, D), (T, H, H), (T, H)
        Entry ``l``: the contributions that travelled ``l`` steps, summed over every loss term.
    dW_xh_by_loss, dW_hh_by_loss, db_h_by_loss : ndarray, shape (T, H, D), (T, H, H), (T, H)
        Entry ``t - 1``: :math:`\partial L_t / \partial W`.
    dh0 : ndarray, shape (B, H)
        :math:`\partial L / \partial h_0`.
    """

    dW_xh: np.ndarray
    dW_hh: np.ndarray
    db_h: np.ndarray
    dW_xh_by_lag: np.ndarray
    dW_hh_by_lag: np.ndarray
    db_h_by_lag: np.ndarray
    dW_xh_by_loss: np.ndarray
    dW_hh_by_loss: np.ndarray
    db_h_by_loss: np.ndarray
    dh0: np.ndarray

    def lag_norms(self) -> np.ndarray:
        r"""Frobenius norms of ``dW_hh_by_lag``, shape (T,): what each lag adds to ``dW_hh``."""
        return np.linalg.norm(self.dW_hh_by_lag, axis=(1, 2))


def gradient_decomposition(
    x, h0, W_xh, W_hh, b_h, dhs, *, nonlinearity: str = "tanh", skip: bool = False
) -> GradientDecomposition:
    r"""Split :math:`\partial L / \partial W` into the terms :math:`\partial L_t / \partial W` and by lag.

    Parameters
    ----------
    x : array, shape (B, T, D)
    h0 : array, shape (B, H), or None for zeros
    W_xh : array, shape (H, D)
    W_hh : array, shape (H, H)
    b_h : array, shape (H,), or None for zeros
    dhs : array, shape (B, T, H)
        ``dhs[:, t - 1]`` = :math:`\partial L_t / \partial h_t`, the direct gradient of the loss term at step
        ``t`` with respect to the state it reads (zeros where a step has no loss).
    nonlinearity : {"tanh", "relu", "linear"}
    skip : bool

    Returns
    -------
    GradientDecomposition
        Totals, per-lag and per-loss-term gradients of ``W_xh``, ``W_hh`` and ``b_h``.

    Notes
    -----
    The weights are shared by every step, so the gradient is a double sum over loss terms :math:`t` and the
    steps :math:`s \le t` that used the weights:

    .. math:: \frac{\partial L}{\partial W_{hh}} = \sum_t \frac{\partial L_t}{\partial W_{hh}}, \qquad
              \frac{\partial L_t}{\partial W_{hh}} = \sum_{s \le t} \delta_{t,s}\, h_{s-1}^{\top}, \qquad
              \delta_{t,s} = \operatorname{diag}(f'(a_s))
              \Bigl(\frac{\partial h_t}{\partial h_s}\Bigr)^{\!\top} \frac{\partial L_t}{\partial h_t},

    and likewise :math:`\delta_{t,s} x_s^\top` for :math:`W_{xh}` and :math:`\delta_{t,s}` for :math:`b_h`.
    The term with lag :math:`t - s` carries information from :math:`s` to :math:`t`; when the products of
    Jacobians vanish, the long lags contribute nothing and the model cannot learn long-term dependencies.
    Chapter 9.
    """
    x, h0, W_xh, W_hh, b_h = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    B, T, D = x.shape
    H = W_hh.shape[0]
    dhs = _float64("dhs", dhs, 3)
    check_dim("dhs", dhs, 0, B, "dhs has shape (B, T, H) like the hidden states.")
    check_dim("dhs", dhs, 1, T, "dhs has shape (B, T, H) like the hidden states.")
    check_dim("dhs", dhs, 2, H, "dhs has shape (B, T, H) like the hidden states.")
    a, hs = _unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    fprime = activation_derivative(a, nonlinearity)
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], 1)  # h_prev[:, s - 1] = h_{s-1}
    out = {
        "dW_xh_by_lag": np.zeros((T, H, D)),
        "dW_hh_by_lag": np.zeros((T, H, H)),
        "db_h_by_lag": np.zeros((T, H)),
        "dW_xh_by_loss": np.zeros((T, H, D)),
        "dW_hh_by_loss": np.zeros((T, H, H)),
        "db_h_by_loss": np.zeros((T, H)),
    }
    dh0 = np.zeros((B, H))
    G = dhs.copy()  # G[:, t] = dL_{t+1}/dh_{t+1-lag}, for the loss terms t >= lag
    for lag in range(T):
        n = T - lag  # loss terms t = lag..T-1 (0-based) reach back to the steps s = 0..n-1
        Gt = G[:, lag:]  # (B, n, H)
        delta = Gt * fprime[:, :n]  # dL_t/da_s with s = t - lag
        dW_hh_terms = np.einsum("bni,bnj->nij", delta, h_prev[:, :n])
        dW_xh_terms = np.einsum("bni,bnj->nij", delta, x[:, :n])
        db_terms = delta.sum(0)
        out["dW_hh_by_lag"][lag] = dW_hh_terms.sum(0)
        out["dW_xh_by_lag"][lag] = dW_xh_terms.sum(0)
        out["db_h_by_lag"][lag] = db_terms.sum(0)
        out["dW_hh_by_loss"][lag:] += dW_hh_terms
        out["dW_xh_by_loss"][lag:] += dW_xh_terms
        out["db_h_by_loss"][lag:] += db_terms
        back = delta @ W_hh  # dL_t/dh_{s-1} through a_s
        if skip:
            back = back + Gt
        dh0 += back[:, 0]  # the loss term t = lag reaches h_0 (s = 0)
        G = np.concatenate([G[:, : lag + 1], back[:, 1:]], 1)  # now G[:, t] = dL_t/dh_{t-lag-1}
    return GradientDecomposition(
        dW_xh=out["dW_xh_by_lag"].sum(0),
        dW_hh=out["dW_hh_by_lag"].sum(0),
        db_h=out["db_h_by_lag"].sum(0),
        dh0=dh0,
        **out,
    )


# ----------------------------------------------------------------------------------------------------------
# bounds
# ----------------------------------------------------------------------------------------------------------


@dataclass
class GradientBounds:
    r"""Actual norms of :math:`\partial h_T / \partial h_k` and their two upper bounds, for ``k = 0..T``.

    Attributes
    ----------
    norms : ndarray, shape (B, T + 1)
        :math:`\|\partial h_T / \partial h_k\|_2`.
    product_bound : ndarray, shape (B, T + 1)
        :math:`\prod_{t=k+1}^{T} \|\operatorname{diag}(f'(a_t))\|\, \sigma_{\max}(W_{hh})` (with skip,
        :math:`\prod (1 + \|\operatorname{diag}(f'(a_t))\|\, \sigma_{\max})`).
    power_bound : ndarray, shape (T + 1,)
        :math:`(\gamma\, \sigma_{\max})^{T-k}` (with skip, :math:`(1 + \gamma\, \sigma_{\max})^{T-k}`).
    sigma_max : float
        :math:`\sigma_{\max}(W_{hh})`.
    gamma : float
        :math:`\max_a |f'(a)|`: 1 for tanh, relu and linear.
    """

    norms: np.ndarray
    product_bound: np.ndarray
    power_bound: np.ndarray
    sigma_max: float
    gamma: float

    def holds(self, rtol: float = 1e-10) -> bool:
        """Whether ``norms <= product_bound <= power_bound`` everywhere (up to the relative tolerance)."""
        tol = 1.0 + rtol
        return bool(
            np.all(self.norms <= self.product_bound * tol + 1e-300)
            and np.all(self.product_bound <= self.power_bound * tol + 1e-300)
        )


def gradient_flow_bounds(
    x, h0, W_xh, W_hh, b_h, *, nonlinearity: str = "tanh", skip: bool = False
) -> GradientBounds:
    r"""The norms :math:`\|\partial h_T / \partial h_k\|` and their upper bounds, for every ``k = 0..T``.

    Parameters
    ----------
    x : array, shape (B, T, D)
    h0 : array, shape (B, H), or None for zeros
    W_xh : array, shape (H, D)
    W_hh : array, shape (H, H)
    b_h : array, shape (H,), or None for zeros
    nonlinearity : {"tanh", "relu", "linear"}
    skip : bool

    Returns
    -------
    GradientBounds

    Notes
    -----
    The spectral norm is submultiplicative and :math:`\|\operatorname{diag}(v)\|_2 = \max_i |v_i|`, so

    .. math:: \Bigl\|\frac{\partial h_T}{\partial h_k}\Bigr\|
              \le \prod_{t=k+1}^{T} \|\operatorname{diag}(f'(a_t))\|\, \sigma_{\max}(W_{hh})
              \le (\gamma\, \sigma_{\max})^{T-k},

    with :math:`\gamma = \max |f'| = 1` for tanh, relu and the linear cell (Bengio, Simard & Frasconi 1994;
    Pascanu, Mikolov & Bengio 2013). If :math:`\gamma\sigma_{\max} < 1` the gradient vanishes at least
    geometrically. Chapter 9.
    """
    x, h0, W_xh, W_hh, b_h = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    a, _ = _unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    fprime = activation_derivative(a, nonlinearity)
    P = jacobian_products(_step_jacobians(fprime, W_hh, skip))
    norms = spectral_norms(P)
    sigma_max = float(np.linalg.norm(W_hh, 2))
    gamma = GAMMA[nonlinearity]
    step_bound = np.abs(fprime).max(-1) * sigma_max  # (B, T)
    if skip:
        step_bound = 1.0 + step_bound
    B, T = step_bound.shape
    # product_bound[:, k] = prod_{t=k+1..T} step_bound[:, t-1]: reverse cumulative product
    product_bound = np.ones((B, T + 1))
    product_bound[:, :T] = np.cumprod(step_bound[:, ::-1], axis=1)[:, ::-1]
    base = (1.0 + gamma * sigma_max) if skip else gamma * sigma_max
    power_bound = base ** np.arange(T, -1, -1, dtype=np.float64)
    return GradientBounds(norms, product_bound, power_bound, sigma_max, gamma)


# ----------------------------------------------------------------------------------------------------------
# experiments (data for the chapter; no plotting here)
# ----------------------------------------------------------------------------------------------------------


def orthogonal_matrix(H: int, sigma: float = 1.0, *, seed: int = 0) -> np.ndarray:
    r"""A random matrix :math:`\sigma Q` with :math:`Q` orthogonal: every singular value equals ``sigma``.

    Parameters
    ----------
    H : int
    sigma : float
        The common singular value (and :math:`\sigma_{\max}`).
    seed : int

    Returns
    -------
    ndarray of float64, shape (H, H)

    Notes
    -----
    :math:`Q` comes from the QR decomposition of a Gaussian matrix with the signs of :math:`R`'s diagonal
    moved into :math:`Q` (a Haar-distributed orthogonal matrix). Since :math:`\|Q v\| = \|v\|`, a linear RNN
    with :math:`W_{hh} = \sigma Q` scales every gradient by exactly :math:`\sigma` per step. Chapter 9.
    """
    H = check_positive_int("H", H)
    sigma = _check_real("sigma", sigma)
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((H, H)))
    Q = Q * np.sign(np.diag(R))
    return sigma * Q


@dataclass
class LagExperiment:
    r"""Gradient norms :math:`\|\partial L_T / \partial h_{T-l}\|` against the lag ``l``, several ``sigma``.

    Attributes
    ----------
    lags : ndarray of int, shape (T + 1,)
        ``0..T``.
    sigmas : tuple of float
    nonlinearity : str
    norms : dict float -> ndarray, shape (B, T + 1)
        Per example, entry ``l`` = :math:`\|\partial L_T / \partial h_{T-l}\|`.
    ratios : dict float -> ndarray, shape (B, T + 1)
        ``norms / norms[:, :1]``: the factor by which ``l`` steps multiplied the gradient norm.
    typical : dict float -> ndarray, shape (T + 1,)
        Geometric mean of ``ratios`` over the batch.
    bounds : dict float -> ndarray, shape (T + 1,)
        :math:`(\gamma\sigma)^{l}`.
    """

    lags: np.ndarray
    sigmas: tuple
    nonlinearity: str
    norms: dict = field(default_factory=dict)
    ratios: dict = field(default_factory=dict)
    typical: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)


def _geometric_mean(r: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(np.log(r).mean(0))


def gradient_norms_by_lag(
    sigmas: Sequence[float] = (0.5, 0.9, 1.0, 1.1, 1.5),
    *,
    nonlinearity: str = "tanh",
    T: int = 50,
    H: int = 32,
    D: int = 4,
    B: int = 8,
    input_scale: float = 1.0,
    seed: int = 0,
) -> LagExperiment:
    r"""How :math:`\|\partial L_T / \partial h_k\|` changes with the lag ``T - k`` when ``W_hh = sigma Q``.

    Parameters
    ----------
    sigmas : sequence of float
        Values of :math:`\sigma_{\max}(W_{hh})`; ``W_hh = sigma * orthogonal_matrix(H, seed=seed)``.
    nonlinearity : {"tanh", "relu", "linear"}
    T, H, D, B : int
        Sequence length, hidden size, input size, batch size.
    input_scale : float
        ``W_xh`` has entries from N(0, input_scale^2 / D); inputs are N(0, 1); ``b_h = 0``, ``h_0 = 0``.
    seed : int

    Returns
    -------
    LagExperiment

    Notes
    -----
    The loss on the last state has a random unit gradient :math:`\partial L_T / \partial h_T` per example, and
    :math:`\partial L_T / \partial h_k = (\partial h_T / \partial h_k)^\top \partial L_T / \partial h_T`.
    For the linear cell :math:`\partial h_T/\partial h_k = W_{hh}^{T-k} = \sigma^{T-k} Q^{T-k}`, so the norm
    is multiplied by exactly :math:`\sigma^{T-k}`; with tanh it is at most that. Chapter 9.
    """
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    T, H, D, B = (check_positive_int(n, v) for n, v in (("T", T), ("H", H), ("D", D), ("B", B)))
    sigmas = tuple(_check_real("sigma", s) for s in sigmas)
    if not sigmas:
        raise ValueError(
            "sigmas must hold at least one value, got an empty sequence; e.g. sigmas=(0.9, 1.1)."
        )
    input_scale = _check_real("input_scale", input_scale)
    rng = np.random.default_rng(seed)
    Q = orthogonal_matrix(H, 1.0, seed=seed)
    W_xh = rng.normal(0.0, input_scale / math.sqrt(D), (H, D))
    x = rng.standard_normal((B, T, D))
    dh_T = rng.standard_normal((B, H))
    dh_T /= np.linalg.norm(dh_T, axis=1, keepdims=True)
    out = LagExperiment(lags=np.arange(T + 1), sigmas=sigmas, nonlinearity=nonlinearity)
    for sigma in sigmas:
        J = step_jacobians(x, None, W_xh, sigma * Q, None, nonlinearity=nonlinearity)
        norms = gradient_norms_through_time(J, dh_T)[:, ::-1].copy()  # index by lag
        out.norms[sigma] = norms
        out.ratios[sigma] = norms / norms[:, :1]
        out.typical[sigma] = _geometric_mean(out.ratios[sigma])
        out.bounds[sigma] = (GAMMA[nonlinearity] * sigma) ** out.lags.astype(np.float64)
    return out


def _adding_batches(batch_size: int, steps: int, T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` fresh adding-problem batches, one seed per step (the first k do not depend on ``steps``)."""
    seeds = np.random.SeedSequence(seed).generate_state(steps)
    xs, ys = zip(*(adding_problem(batch_size, T, seed=int(s)) for s in seeds), strict=True)
    return torch.as_tensor(np.concatenate(xs)), torch.as_tensor(np.concatenate(ys))


@contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` intra-op threads, then restore torch's setting."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(check_positive_int("num_threads", num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _params_norm(tensors) -> float:
    return math.sqrt(sum(float((t.detach() ** 2).sum()) for t in tensors))


def _scaled_orthogonal_rnn(nonlinearity: str, sigma: float, D: int, H: int, seed: int, dtype) -> RNN:
    rnn = RNN(D, H, nonlinearity=nonlinearity, dtype=dtype, seed=seed)
    with torch.no_grad():
        rnn.cells[0].W_hh.copy_(torch.as_tensor(orthogonal_matrix(H, sigma, seed=seed), dtype=dtype))
    return rnn


@dataclass
class ClippingResult:
    r"""Per-step records of the same training run without and with gradient clipping by norm.

    Attributes
    ----------
    threshold : float
        The clipping threshold :math:`c`.
    lr : float
        The SGD learning rate :math:`\eta`.
    grad_norm : dict str -> ndarray, shape (steps,)
        ``"none"`` / ``"clipped"``: :math:`\|g\|` before clipping.
    applied_norm : dict str -> ndarray, shape (steps,)
        Norm of the gradient used in the update: :math:`\min(\|g\|, c)` when clipped.
    update_norm : dict str -> ndarray, shape (steps,)
        :math:`\|\theta_{k+1} - \theta_k\|`, measured on the parameters (:math:`\eta` times ``applied_norm``).
    loss : dict str -> ndarray, shape (steps,)
    diverged_at : dict str -> int or None
        The first step whose loss or gradient was not finite (the record stops there), or None.
    """

    threshold: float
    lr: float
    grad_norm: dict = field(default_factory=dict)
    applied_norm: dict = field(default_factory=dict)
    update_norm: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)
    diverged_at: dict = field(default_factory=dict)


def clipping_experiment(
    threshold: float = 1.0,
    *,
    sigma: float = 2.0,
    nonlinearity: str = "tanh",
    T: int = 50,
    H: int = 16,
    batch_size: int = 32,
    steps: int = 100,
    lr: float = 0.1,
    seed: int = 0,
    num_threads: int | None = 1,
) -> ClippingResult:
    r"""Train one RNN on the adding problem with plain SGD, without and with gradient clipping by norm.

    Parameters
    ----------
    threshold : float
        Clipping threshold :math:`c > 0`.
    sigma : float
        The initial ``W_hh = sigma * orthogonal_matrix(H, seed=seed)``; ``sigma > 1`` makes gradients explode.
    nonlinearity : {"tanh", "relu", "linear"}
    T, H, batch_size, steps : int
        Sequence length, hidden size, examples per step and number of SGD steps.
    lr : float
        SGD learning rate :math:`\eta`.
    seed : int
        Seeds the weights and the data; both runs start from the same weights and see the same batches.
    num_threads : int or None
        Torch intra-op threads while training (restored afterwards); one thread is fastest for these tiny
        matrices, None keeps torch's setting.

    Returns
    -------
    ClippingResult

    Notes
    -----
    The model reads the last state, :math:`\hat y = w^\top h_T + b`, with the squared error. Clipping by norm
    (Pascanu, Mikolov & Bengio 2013) rescales the gradient :math:`g` of all parameters together,

    .. math:: g \leftarrow g \cdot \min\Bigl(1, \frac{c}{\|g\|}\Bigr), \qquad
              \|\theta_{k+1} - \theta_k\| = \eta \min(\|g\|, c) \le \eta c,

    which keeps the direction of :math:`g` and bounds every update, however steep the loss surface. Computed
    in float64; a run whose loss or gradient becomes non-finite stops there. Chapter 9.
    """
    threshold = _check_real("threshold", threshold, positive=True)
    sigma = _check_real("sigma", sigma)
    lr = _check_real("lr", lr, positive=True)
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    T, H = check_positive_int("T", T, minimum=2), check_positive_int("H", H)
    batch_size, steps = check_positive_int("batch_size", batch_size), check_positive_int("steps", steps)
    x, y = _adding_batches(batch_size, steps, T, seed)
    result = ClippingResult(threshold=threshold, lr=lr)
    with _torch_threads(num_threads):
        for mode in ("none", "clipped"):
            _clipping_run(result, mode, x, y, nonlinearity, sigma, H, batch_size, steps, lr, threshold, seed)
    return result


def _clipping_run(result, mode, x, y, nonlinearity, sigma, H, batch_size, steps, lr, threshold, seed) -> None:
    """One run of :func:`clipping_experiment` (``mode`` is "none" or "clipped"); fills ``result``."""
    rnn = _scaled_orthogonal_rnn(nonlinearity, sigma, 2, H, seed, torch.float64)
    readout = nn.Linear(H, 1, dtype=torch.float64)
    with torch.no_grad():
        readout.weight.copy_(torch.full((1, H), 1.0 / H, dtype=torch.float64))
        readout.bias.zero_()
    params = list(rnn.parameters()) + list(readout.parameters())
    grad_norms, applied, updates, losses = [], [], [], []
    result.diverged_at[mode] = None
    for k in range(steps):
        xb, yb = x[k * batch_size : (k + 1) * batch_size], y[k * batch_size : (k + 1) * batch_size]
        hs, _ = rnn(xb)
        loss = ((readout(hs[:, -1]).squeeze(-1) - yb) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        g_norm = _params_norm(p.grad for p in params)
        if not (math.isfinite(loss.item()) and math.isfinite(g_norm)):
            result.diverged_at[mode] = k
            break
        if mode == "clipped":
            nn.utils.clip_grad_norm_(params, threshold)
        before = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
        grad_norms.append(g_norm)
        applied.append(_params_norm(p.grad for p in params))
        updates.append(_params_norm(p.detach() - b for p, b in zip(params, before, strict=True)))
        losses.append(loss.item())
        if not all(bool(torch.isfinite(p).all()) for p in params):
            result.diverged_at[mode] = k + 1
            break
    result.grad_norm[mode] = np.array(grad_norms)
    result.applied_norm[mode] = np.array(applied)
    result.update_norm[mode] = np.array(updates)
    result.loss[mode] = np.array(losses)


#: The models compared by :func:`reach_experiment` and :func:`adding_experiment`.
MODELS = {
    "tanh": "plain tanh RNN, torch's uniform initialisation",
    "tanh-orthogonal": "tanh RNN with an orthogonal W_hh",
    "irnn": "ReLU RNN with W_hh = I, b_h = 0 (Le, Jaitly & Hinton 2015)",
    "tanh-skip": "tanh RNN with a skip connection in time, uniform initialisation",
    "relu-skip": "ReLU RNN with a skip connection in time and W_hh = 0 at the start",
}


def make_rnn(kind: str, input_size: int, hidden_size: int, *, seed: int = 0, dtype=None) -> RNN:
    r"""Build one of the single-layer RNNs of chapter 9 (see ``MODELS``).

    Parameters
    ----------
    kind : {"tanh", "tanh-orthogonal", "irnn", "tanh-skip", "relu-skip"}
    input_size, hidden_size : int
        ``D`` and ``H``.
    seed : int
    dtype : torch.dtype, optional

    Returns
    -------
    rnncourse.modules.RNN

    Notes
    -----
    ``"irnn"`` starts with :math:`\partial h_t/\partial h_{t-1} = \operatorname{diag}(\mathbb{1}[a_t > 0])`,
    the identity on the active units; ``"relu-skip"`` (:math:`h_t = h_{t-1} + \mathrm{relu}(a_t)` with
    :math:`W_{hh} = 0`) starts with exactly :math:`I`, so gradients reach every step unchanged. Chapter 9.
    """
    check_choice("kind", kind, tuple(MODELS))
    D, H = check_positive_int("input_size", input_size), check_positive_int("hidden_size", hidden_size)
    if kind == "tanh":
        return RNN(D, H, nonlinearity="tanh", seed=seed, dtype=dtype)
    if kind == "tanh-orthogonal":
        return RNN(D, H, nonlinearity="tanh", init="orthogonal", seed=seed, dtype=dtype)
    if kind == "irnn":
        return RNN(D, H, nonlinearity="relu", init="identity", seed=seed, dtype=dtype)
    if kind == "tanh-skip":
        return RNN(D, H, nonlinearity="tanh", skip=True, seed=seed, dtype=dtype)
    rnn = RNN(D, H, nonlinearity="relu", skip=True, seed=seed, dtype=dtype)
    with torch.no_grad():
        rnn.cells[0].W_hh.zero_()
    return rnn


@dataclass
class ReachResult:
    r"""How far gradients reach back in time at initialisation, per model.

    Attributes
    ----------
    lags : ndarray of int, shape (T + 1,)
    typical : dict str -> ndarray, shape (T + 1,)
        Geometric mean over the batch of
        :math:`\|\partial L_T/\partial h_{T-l}\| / \|\partial L_T/\partial h_T\|`.
    reach : dict str -> int
        The first lag at which ``typical`` falls below ``tol``, or ``T`` if it never does.
    tol : float
    """

    lags: np.ndarray
    typical: dict = field(default_factory=dict)
    reach: dict = field(default_factory=dict)
    tol: float = 1e-3


def reach_experiment(
    kinds: Sequence[str] = ("tanh", "tanh-orthogonal", "irnn", "tanh-skip", "relu-skip"),
    *,
    T: int = 100,
    H: int = 32,
    B: int = 16,
    tol: float = 1e-3,
    seed: int = 0,
) -> ReachResult:
    r"""Gradient norm against lag at initialisation for models of :func:`make_rnn` (adding-problem inputs).

    Parameters
    ----------
    kinds : sequence of str
        Keys of ``MODELS``.
    T, H, B : int
        Sequence length, hidden size, number of sequences.
    tol : float
        The relative norm below which a gradient counts as vanished.
    seed : int

    Returns
    -------
    ReachResult

    Notes
    -----
    For each model, :math:`\partial L_T / \partial h_k = (\partial h_T/\partial h_k)^\top u` with a random
    unit vector :math:`u` per sequence, from the closed-form Jacobians of the module's weights
    (:func:`module_step_jacobians`). Chapter 9.
    """
    kinds = tuple(check_choice("kind", k, tuple(MODELS)) for k in kinds)
    T, H, B = check_positive_int("T", T, minimum=2), check_positive_int("H", H), check_positive_int("B", B)
    tol = _check_real("tol", tol, positive=True)
    x, _ = adding_problem(B, T, seed=seed)
    rng = np.random.default_rng(seed)
    dh_T = rng.standard_normal((B, H))
    dh_T /= np.linalg.norm(dh_T, axis=1, keepdims=True)
    out = ReachResult(lags=np.arange(T + 1), tol=tol)
    for kind in kinds:
        rnn = make_rnn(kind, 2, H, seed=seed, dtype=torch.float64)
        norms = gradient_norms_through_time(module_step_jacobians(rnn, x), dh_T)[:, ::-1]
        typical = _geometric_mean(norms / norms[:, :1])
        below = np.flatnonzero(typical < tol)
        out.typical[kind] = typical
        out.reach[kind] = int(below[0]) if below.size else T
    return out


class _LastStateRegressor(nn.Module):
    """An RNN followed by a linear read-out of its last state: ``y_hat = w^T h_T + b``."""

    def __init__(self, rnn: RNN, *, seed: int = 0):
        super().__init__()
        self.rnn = rnn
        self.readout = nn.Linear(rnn.hidden_size, 1, dtype=rnn.dtype)
        generator = torch.Generator().manual_seed(seed)
        bound = 1.0 / math.sqrt(rnn.hidden_size)  # torch's default range, drawn from our own generator
        with torch.no_grad():
            nn.init.uniform_(self.readout.weight, -bound, bound, generator=generator)
            nn.init.uniform_(self.readout.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hs, _ = self.rnn(x)
        return self.readout(hs[:, -1]).squeeze(-1)


@dataclass
class AddingResult:
    r"""The adding problem: a plain tanh RNN against a model built for long-range gradient flow.

    Attributes
    ----------
    T : int
    baseline_mse : float
        Test MSE of always predicting 1.0 (about 1/6).
    plain_mse, fixed_mse : float
        Test MSE of the plain tanh RNN and of the fixed model.
    plain_time, fixed_time : float
        Wall-clock training time in seconds.
    plain_losses, fixed_losses : ndarray, shape (steps,)
        Training loss at every step.
    plain, fixed : str
        The model kinds (keys of ``MODELS``).
    config : dict
        The hyperparameters.
    """

    T: int
    baseline_mse: float
    plain_mse: float
    fixed_mse: float
    plain_time: float
    fixed_time: float
    plain_losses: np.ndarray
    fixed_losses: np.ndarray
    plain: str
    fixed: str
    config: dict


def _train_regressor(model, x, y, *, steps, batch_size, lr, clip_norm, optimizer, momentum):
    if optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = np.empty(steps)
    start = time.perf_counter()
    for k in range(steps):
        xb, yb = x[k * batch_size : (k + 1) * batch_size], y[k * batch_size : (k + 1) * batch_size]
        loss = ((model(xb) - yb) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        losses[k] = loss.item()
    return losses, time.perf_counter() - start


def adding_experiment(
    T: int = 100,
    *,
    H: int = 32,
    batch_size: int = 64,
    steps: int = 300,
    lr: float = 0.02,
    clip_norm: float | None = 1.0,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    n_test: int = 1000,
    plain: str = "tanh",
    fixed: str = "relu-skip",
    seed: int = 0,
    num_threads: int | None = 1,
) -> AddingResult:
    r"""Train a plain tanh RNN and a fixed model on the adding problem with the same budget; test both.

    Parameters
    ----------
    T : int
        Sequence length (the two marked values are on average about ``T / 2`` steps apart).
    H, batch_size, steps : int
        Hidden size, sequences per step (fresh ones every step), number of optimiser steps.
    lr : float
        Learning rate.
    clip_norm : float or None
        Gradient clipping by norm, applied to both models before every step.
    optimizer : {"sgd", "adam"}
        SGD with momentum (the default: with clipping every step is bounded), or Adam.
    momentum : float
        Momentum of SGD.
    n_test : int
        Held-out sequences for the test MSE.
    plain, fixed : str
        Keys of ``MODELS``; by default ``"tanh"`` against ``"relu-skip"``.
    seed : int
        Seeds the weights, the training data and (offset by one) the test data.
    num_threads : int or None
        Torch intra-op threads while training (restored afterwards); None keeps torch's setting.

    Returns
    -------
    AddingResult

    Notes
    -----
    Task (Hochreiter & Schmidhuber 1997): :math:`y = \sum_t v_t m_t` with values :math:`v_t \sim U(0, 1)` and
    two markers :math:`m_t = 1`; the model predicts :math:`\hat y = w^\top h_T + b` and minimises
    :math:`(\hat y - y)^2`. Predicting the mean 1 gives MSE :math:`1/6`. Solving it needs
    :math:`\partial L / \partial h_k` for :math:`k` far from :math:`T`; in a plain tanh RNN it vanishes and
    the model settles at the baseline. Float32; the two models share data, optimiser, clipping and budget.
    Chapter 9.
    """
    T = check_positive_int("T", T, minimum=2)
    H, batch_size = check_positive_int("H", H), check_positive_int("batch_size", batch_size)
    steps, n_test = check_positive_int("steps", steps), check_positive_int("n_test", n_test)
    lr = _check_real("lr", lr, positive=True)
    if clip_norm is not None:
        clip_norm = _check_real("clip_norm", clip_norm, positive=True)
    check_choice("optimizer", optimizer, ("sgd", "adam"))
    momentum = _check_real("momentum", momentum)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}; 0.9 is the usual value.")
    check_choice("plain", plain, tuple(MODELS))
    check_choice("fixed", fixed, tuple(MODELS))
    x, y = (a.to(torch.float32) for a in _adding_batches(batch_size, steps, T, seed))
    x_test, y_test = adding_problem(n_test, T, seed=seed + 1)
    x_test, y_test = (
        torch.as_tensor(x_test, dtype=torch.float32),
        torch.as_tensor(y_test, dtype=torch.float32),
    )
    results = {}
    for kind in (plain, fixed):
        model = _LastStateRegressor(make_rnn(kind, 2, H, seed=seed, dtype=torch.float32), seed=seed)
        with _torch_threads(num_threads):
            losses, seconds = _train_regressor(
                model,
                x,
                y,
                steps=steps,
                batch_size=batch_size,
                lr=lr,
                clip_norm=clip_norm,
                optimizer=optimizer,
                momentum=momentum,
            )
            with torch.no_grad():
                mse = float(((model(x_test) - y_test) ** 2).mean())
        results[kind] = (mse, seconds, losses)
    return AddingResult(
        T=T,
        baseline_mse=float(((1.0 - y_test) ** 2).mean()),
        plain_mse=results[plain][0],
        fixed_mse=results[fixed][0],
        plain_time=results[plain][1],
        fixed_time=results[fixed][1],
        plain_losses=results[plain][2],
        fixed_losses=results[fixed][2],
        plain=plain,
        fixed=fixed,
        config={
            "H": H,
            "batch_size": batch_size,
            "steps": steps,
            "lr": lr,
            "clip_norm": clip_norm,
            "optimizer": optimizer,
            "momentum": momentum,
            "n_test": n_test,
            "seed": seed,
        },
    )
