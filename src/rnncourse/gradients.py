r"""Gradient flow through time: step Jacobians, their products, gradient norms and their bounds.

The hidden state of a vanilla RNN is :math:`h_t = f(a_t)` with the pre-activation
:math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h` (or :math:`h_t = h_{t-1} + f(a_t)` with a skip connection in
time). Its step Jacobian is

.. math:: \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(f'(a_t))\, W_{hh}
          \qquad\Bigl(\text{skip: } I + \operatorname{diag}(f'(a_t))\, W_{hh}\Bigr),

and the gradient of a loss :math:`\mathcal{L}_T` at the last step with respect to an early state is a product
of such factors,

.. math:: \frac{\partial \mathcal{L}_T}{\partial h_s} = \Bigl(\frac{\partial h_T}{\partial h_s}\Bigr)^{\!\top}
          \frac{\partial \mathcal{L}_T}{\partial h_T}, \qquad
          \frac{\partial h_T}{\partial h_s} = \prod_{t=s+1}^{T} \frac{\partial h_t}{\partial h_{t-1}} .

Chapter 9 (its experiments are written in the chapter from these blocks). Arrays are batch-first:
``x (B, T, D)``, ``h0 (B, H)``, ``hs (B, T, H)`` with ``hs[:, t - 1]`` = :math:`h_t`; ``J (B, T, H, H)``
holds the step Jacobians, ``J[b, t - 1, i, j]`` = :math:`\partial h_{t,i} / \partial h_{t-1,j}`;
the products array ``(B, T + 1, H, H)`` holds :math:`\partial h_T / \partial h_s` at index ``s`` (:math:`I`
at ``s = T``). The closed-form functions compute in float64 numpy and accept numpy arrays or torch tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._validate import (
    NONLINEARITIES,
    check_array,
    check_bool,
    check_choice,
    check_dim,
    check_positive_int,
    check_real,
    check_seed,
)
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
]


def _float64(name: str, a, ndim) -> np.ndarray:
    """Check ``a`` (numpy array or torch tensor) and return it as a float64 numpy array."""
    check_array(name, a, ndim)
    return np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)


def _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip):
    """Validate the arguments of the closed-form functions; return float64 arrays (h0, b_h filled in)."""
    x, W_xh, W_hh = _float64("x", x, 3), _float64("W_xh", W_xh, 2), _float64("W_hh", W_hh, 2)
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    check_bool("skip", skip)
    B, T, D = x.shape
    H = W_hh.shape[0]
    check_dim("W_hh", W_hh, 1, H, "W_hh must be square, shape (H, H).")
    check_dim("W_xh", W_xh, 0, H, "W_xh has shape (H, D): one row per hidden unit, as W_hh.")
    check_dim("W_xh", W_xh, 1, D, "W_xh has shape (H, D) where D = x.shape[2].")
    if T < 1:
        raise ValueError(f"x has T = 0 time steps (shape {x.shape}); pass at least one step.")
    h0 = np.zeros((B, H)) if h0 is None else _float64("h0", h0, 2)
    check_dim("h0", h0, 0, B, "h0 has shape (B, H) with the batch size of x.")
    check_dim("h0", h0, 1, H, "h0 has shape (B, H) with the hidden size of W_hh.")
    b_h = np.zeros(H) if b_h is None else _float64("b_h", b_h, 1)
    check_dim("b_h", b_h, 0, H, "b_h has shape (H,).")
    return x, h0, W_xh, W_hh, b_h


def _check_jacobians(J) -> np.ndarray:
    J = _float64("J", J, 4)
    if J.shape[2] != J.shape[3]:
        raise ValueError(f"J must have shape (B, T, H, H) (square step Jacobians), got shape {J.shape}.")
    return J


def activation_derivative(a, nonlinearity: str = "tanh") -> np.ndarray:
    r"""The derivative :math:`f'(a)` of the cell's nonlinearity, elementwise.

    Parameters
    ----------
    a : array, any shape
        Pre-activations :math:`a_t`.
    nonlinearity : {"tanh", "relu", "linear"}

    Returns
    -------
    ndarray of float64, the shape of ``a``: ``1 - tanh(a)**2``, ``1.0 * (a > 0)`` (0 at ``a = 0``) or ones.
        :math:`\tanh'(a) = 1 - \tanh^2(a) \le 1` with equality only at :math:`a = 0`, so every factor
        :math:`\operatorname{diag}(f'(a_t))` of the chain has spectral norm at most :math:`\gamma = 1`.
    """
    a = _float64("a", a, tuple(range(0, 8)))
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if nonlinearity == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if nonlinearity == "relu":
        return (a > 0).astype(np.float64)
    return np.ones_like(a)


def _f(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    return {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}[nonlinearity](a)


def _unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip):
    B, T, _ = x.shape
    a, hs = np.empty((B, T, W_hh.shape[0])), np.empty((B, T, W_hh.shape[0]))
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
    W_xh, W_hh, b_h : array, shape (H, D), (H, H) and (H,) (``b_h`` None for zeros)
    nonlinearity : {"tanh", "relu", "linear"}
    skip : bool
        Residual connection in time.

    Returns
    -------
    a, hs : ndarray, shape (B, T, H)
        ``a[:, t - 1]`` = :math:`a_t`, ``hs[:, t - 1]`` = :math:`h_t`.

    Notes
    -----
    :math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h`, :math:`h_t = f(a_t)` or, with skip,
    :math:`h_t = h_{t-1} + f(a_t)`. Chapter 9.
    """
    args = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    return _unroll(*args, nonlinearity, skip)


def _step_jacobians(fprime: np.ndarray, W_hh: np.ndarray, skip: bool) -> np.ndarray:
    J = fprime[..., :, None] * W_hh  # (B, T, H, H): row i scaled by f'(a_t)_i = diag(f'(a_t)) W_hh
    return J + np.eye(W_hh.shape[0]) if skip else J


def step_jacobians(x, h0, W_xh, W_hh, b_h, *, nonlinearity: str = "tanh", skip: bool = False) -> np.ndarray:
    r"""Closed-form step Jacobians :math:`\partial h_t / \partial h_{t-1}` along a sequence.

    Parameters
    ----------
    x, h0, W_xh, W_hh, b_h, nonlinearity, skip
        As in :func:`unroll`.

    Returns
    -------
    J : ndarray of float64, shape (B, T, H, H)
        ``J[b, t - 1, i, j]`` = :math:`\partial h_{t,i} / \partial h_{t-1,j}` for example ``b``.

    Notes
    -----
    .. math:: \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(f'(a_t))\, W_{hh}
              \quad\text{or, with skip,}\quad I + \operatorname{diag}(f'(a_t))\, W_{hh},

    where :math:`f' = 1 - \tanh^2` for tanh, the Iverson bracket :math:`[a > 0]` for relu and 1 for the linear
    cell, which therefore has the constant Jacobian :math:`W_{hh}`. Chapter 9.
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
        ``W_xh`` (H, D), ``W_hh`` (H, H), ``b_h`` (H,) as float64 arrays, ``nonlinearity`` and ``skip``: the
        keyword arguments of :func:`step_jacobians`, :func:`unroll`, :func:`gradient_flow_bounds`. For a
        ``torch.nn.RNN``, :math:`b_h` is the sum of its two biases. Chapter 9.
    """
    if isinstance(rnn, RNN | nn.RNN) and (rnn.num_layers != 1 or getattr(rnn, "bidirectional", False)):
        raise ValueError(
            f"rnn must have num_layers=1 and one direction, got num_layers={rnn.num_layers}; analyse one "
            "layer at a time, e.g. rnn.cells[0]."
        )
    given = f"RNN(cell={rnn.cell!r})" if isinstance(rnn, RNN) else type(rnn).__name__
    rnn = rnn.cells[0] if isinstance(rnn, RNN) else rnn
    if isinstance(rnn, RNNCell):
        W_xh, W_hh, b_h, skip = rnn.W_xh, rnn.W_hh, rnn.b_h, rnn.skip
    elif isinstance(rnn, nn.RNN):
        W_xh, W_hh, skip = rnn.weight_ih_l0, rnn.weight_hh_l0, False
        b_h = rnn.bias_ih_l0 + rnn.bias_hh_l0 if rnn.bias else None
    else:
        raise TypeError(
            f"rnn must be an rnncourse.modules.RNN, RNNCell or torch.nn.RNN, got {given}: the closed form "
            "J_t = diag(f'(a_t)) W_hh is the vanilla cell's only. For a GRU use autograd_step_jacobians(rnn, "
            "x, h0); for an LSTM, whose state is (h, c), give autograd_step_jacobians a step function."
        )
    return {
        "W_xh": _float64("W_xh", W_xh, 2),
        "W_hh": _float64("W_hh", W_hh, 2),
        "b_h": np.zeros(W_hh.shape[0]) if b_h is None else _float64("b_h", b_h, 1),
        "nonlinearity": rnn.nonlinearity,
        "skip": bool(skip),
    }


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
        :func:`step_jacobians` evaluated with the module's weights. Chapter 9. Vanilla cells only: a gated
        module (LSTM, GRU) raises ``TypeError``; see :func:`autograd_step_jacobians`.
    """
    h0 = h0[0] if getattr(h0, "ndim", 0) == 3 else h0
    return step_jacobians(x, h0, **rnn_weights(rnn))


def _as_step_function(step) -> Callable:
    """Turn a module or callable into ``f(x_t (B, D), h_prev (B, H)) -> h_t (B, H)``."""
    if isinstance(step, RNN | nn.RNNBase):
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


def _step_inputs(step, x, h0) -> tuple[Callable, torch.Tensor, torch.Tensor]:
    """The step function, ``x`` (B, T, D) in the module's dtype, and ``h0`` (B, H), zeros if None."""
    f = _as_step_function(step)
    dtype = next(step.parameters()).dtype if isinstance(step, nn.Module) else None
    x = torch.as_tensor(check_array("x", x, 3))
    x = x if dtype is None else x.to(dtype)
    if h0 is None:
        if getattr(step, "hidden_size", None) is None:
            raise ValueError("h0 is None and the step function has no hidden_size; pass h0 of shape (B, H).")
        return f, x, x.new_zeros(x.shape[0], step.hidden_size)
    h0 = torch.as_tensor(check_array("h0", h0, 2, shape="(B, H)")).to(x.dtype)
    check_dim("h0", h0, 0, x.shape[0], "h0 has shape (B, H) with the batch size of x.")
    return f, x, h0


def autograd_step_jacobians(step, x, h0=None) -> np.ndarray:
    r"""Step Jacobians :math:`\partial h_t / \partial h_{t-1}` by automatic differentiation, for any cell.

    Parameters
    ----------
    step : RNNCell, rnncourse.modules.RNN (one layer), torch.nn.RNN (one layer) or callable
        A callable is called as ``step(x_t, h_prev) -> h_t`` with ``x_t (B, D)``, ``h_prev (B, H)``.
    x : array or Tensor, shape (B, T, D)
        Converted to the dtype of the module's parameters.
    h0 : array or Tensor, shape (B, H), optional
        Zeros when None (a callable then needs h0).

    Returns
    -------
    J : ndarray, shape (B, T, H, H)
        In the dtype of the computation; ``J[b, t - 1]`` = :math:`\partial h_t / \partial h_{t-1}`:
        ``torch.autograd.functional.jacobian`` of :math:`h_{t-1} \mapsto h_t` at the states of the forward
        pass, diagonal blocks kept (examples do not interact). It checks the closed form; any cell. Chapter 9.
    """
    f, x, h = _step_inputs(step, x, h0)
    Js = []
    for t in range(x.shape[1]):
        x_t = x[:, t].detach()
        J_full = torch.autograd.functional.jacobian(lambda h_prev, x_t=x_t: f(x_t, h_prev), h)  # (B,H,B,H)
        Js.append(torch.diagonal(J_full, dim1=0, dim2=2).permute(2, 0, 1))  # (B, H, H)
        with torch.no_grad():
            h = f(x_t, h)
    return torch.stack(Js, 1).detach().cpu().numpy()


def jacobian_products(J) -> np.ndarray:
    r"""Products :math:`\partial h_T / \partial h_s` of the step Jacobians, for every ``s = 0..T``.

    Parameters
    ----------
    J : array, shape (B, T, H, H)
        Step Jacobians, ``J[:, t - 1]`` = :math:`\partial h_t / \partial h_{t-1}`.

    Returns
    -------
    products : ndarray of float64, shape (B, T + 1, H, H)
        The products array, ``[:, s]`` = :math:`\partial h_T / \partial h_s`; ``[:, T]`` is the identity:

    .. math:: \frac{\partial h_T}{\partial h_s} = \frac{\partial h_T}{\partial h_{T-1}} \cdots
              \frac{\partial h_{s+1}}{\partial h_s}, \qquad
              \frac{\partial h_T}{\partial h_s} = \frac{\partial h_T}{\partial h_{s+1}} J_{s+1}.

    For the linear cell :math:`\partial h_T / \partial h_s = (W_{hh})^{T-s}`. Chapter 9.
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
        For the products :math:`\partial h_T / \partial h_s` they tell in how many directions the gradient
        survives :math:`T - s` steps; :math:`\sigma_i(A^{l}) = \sigma^l` for :math:`A = \sigma Q`. Chapter 9.
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
        :math:`\|M\|_2 = \max_{\|v\| = 1} \|M v\|`, submultiplicative (the bounds of
        :func:`gradient_flow_bounds`). Chapter 9.
    """
    return singular_values(M)[..., 0]


def hidden_gradients(J, dh_T) -> np.ndarray:
    r"""Backpropagate :math:`\partial \mathcal{L}_T / \partial h_T` through the step Jacobians to every state.

    Parameters
    ----------
    J : array, shape (B, T, H, H)
        Step Jacobians from :func:`step_jacobians` or :func:`autograd_step_jacobians`.
    dh_T : array, shape (B, H)
        :math:`\partial \mathcal{L}_T / \partial h_T`, the gradient of a loss on the last state.

    Returns
    -------
    dhs : ndarray of float64, shape (B, T + 1, H)
        ``dhs[:, s]`` = :math:`\partial \mathcal{L}_T / \partial h_s`, ``s = 0..T``:

    .. math:: \frac{\partial \mathcal{L}_T}{\partial h_{s}}
              = \Bigl(\frac{\partial h_{s+1}}{\partial h_s}\Bigr)^{\!\top}
              \frac{\partial \mathcal{L}_T}{\partial h_{s+1}}

    (in rows: ``dh_s = dh_{s+1} @ J_{s+1}``). Chapter 9.
    """
    J = _check_jacobians(J)
    dh_T = _float64("dh_T", dh_T, 2)
    B, T, H, _ = J.shape
    for axis, n in ((0, B), (1, H)):
        check_dim("dh_T", dh_T, axis, n, "dh_T has shape (B, H) with the batch and hidden sizes of J.")
    dhs = np.empty((B, T + 1, H))
    dhs[:, T] = dh_T
    for k in range(T - 1, -1, -1):
        dhs[:, k] = np.einsum("bi,bij->bj", dhs[:, k + 1], J[:, k])
    return dhs


def gradient_norms_through_time(J, dh_T) -> np.ndarray:
    r"""Norms :math:`\|\partial \mathcal{L}_T / \partial h_s\|` for every ``s = 0..T``.

    Parameters
    ----------
    J, dh_T : array, shape (B, T, H, H) and (B, H), as in :func:`hidden_gradients`

    Returns
    -------
    ndarray of float64, shape (B, T + 1)
        Entry ``s``: the norm of :math:`\partial \mathcal{L}_T / \partial h_s` (:func:`hidden_gradients`);
        ``[:, ::-1]`` indexes by the lag ``T - s``. Chapter 9.
    """
    return np.linalg.norm(hidden_gradients(J, dh_T), axis=-1)


def autograd_hidden_gradients(step, x, loss_fn: Callable, h0=None) -> np.ndarray:
    r"""Gradients :math:`\partial \mathcal{L} / \partial h_s` of a loss on the last state, by autograd.

    Parameters
    ----------
    step, x, h0
        As in :func:`autograd_step_jacobians`.
    loss_fn : callable
        ``loss_fn(h_T (B, H)) -> scalar Tensor``; sum (not average) over the batch for per-example gradients.

    Returns
    -------
    ndarray, shape (B, T + 1, H)
        Entry ``[:, s]`` = :math:`\partial \mathcal{L} / \partial h_s`, every state kept in the graph with
        ``retain_grad`` (the closed form is :func:`hidden_gradients`). Chapter 9.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}; e.g. lambda h: h.sum().")
    f, x, h0 = _step_inputs(step, x, h0)
    h = h0.detach().clone().requires_grad_(True)
    states = [h]
    for t in range(x.shape[1]):
        h = f(x[:, t], h)
        h.retain_grad()
        states.append(h)
    loss = loss_fn(h)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar Tensor; sum the per-example losses, e.g. h.sum().")
    loss.backward()
    return torch.stack([s.grad for s in states], 1).detach().cpu().numpy()


@dataclass
class GradientDecomposition:
    r"""The gradient of :math:`\mathcal{L} = \sum_t \mathcal{L}_t` split by loss term and by time lag.

    Attributes
    ----------
    dW_xh, dW_hh, db_h : ndarray, shape (H, D), (H, H), (H,)
        The gradient :math:`\partial \mathcal{L} / \partial \theta`, :math:`\theta = (W_{xh}, W_{hh}, b_h)`.
    dW_xh_by_lag, dW_hh_by_lag, db_h_by_lag : ndarray, shape (T, H, D), (T, H, H), (T, H)
        Entry ``l``: the contributions that travelled ``l`` steps, summed over every loss term.
    dW_xh_by_loss, dW_hh_by_loss, db_h_by_loss : ndarray, shape (T, H, D), (T, H, H), (T, H)
        Entry ``t - 1``: :math:`\partial \mathcal{L}_t / \partial \theta`.
    dh0 : ndarray, shape (B, H)
        :math:`\partial \mathcal{L} / \partial h_0`.
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
    r"""Split :math:`\partial \mathcal{L} / \partial \theta` by loss term :math:`\mathcal{L}_t` and by lag.

    Parameters
    ----------
    x, h0, W_xh, W_hh, b_h, nonlinearity, skip
        As in :func:`unroll`.
    dhs : array, shape (B, T, H)
        ``dhs[:, t - 1]`` = :math:`\partial \mathcal{L}_t / \partial h_t`, the direct gradient of the loss
        term at step ``t`` with respect to the state it reads (zeros where a step has no loss).

    Returns
    -------
    GradientDecomposition

    Notes
    -----
    The weights are shared by every step, so the gradient is a double sum over loss terms :math:`t` and the
    steps :math:`s \le t` that used the weights:

    .. math:: \frac{\partial \mathcal{L}}{\partial W_{hh}}
              = \sum_t \frac{\partial \mathcal{L}_t}{\partial W_{hh}}, \qquad
              \frac{\partial \mathcal{L}_t}{\partial W_{hh}} = \sum_{s \le t} \delta_{t,s}\, h_{s-1}^{\top},
              \qquad \delta_{t,s} = \operatorname{diag}(f'(a_s))
              \Bigl(\frac{\partial h_t}{\partial h_s}\Bigr)^{\!\top}
              \frac{\partial \mathcal{L}_t}{\partial h_t},

    and likewise :math:`\delta_{t,s} x_s^\top` for :math:`W_{xh}` and :math:`\delta_{t,s}` for :math:`b_h`.
    The term with lag :math:`t - s` carries information from :math:`s` to :math:`t`; when the products of
    Jacobians vanish, the long lags contribute nothing and the model cannot learn long-term dependencies.
    Chapter 9.
    """
    x, h0, W_xh, W_hh, b_h = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    (B, T, D), H = x.shape, W_hh.shape[0]
    dhs = _float64("dhs", dhs, 3)
    for axis, n in enumerate((B, T, H)):
        check_dim("dhs", dhs, axis, n, "dhs has shape (B, T, H) like the hidden states.")
    a, hs = _unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    fprime = activation_derivative(a, nonlinearity)
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], 1)  # h_prev[:, s - 1] = h_{s-1}
    shapes = {"dW_xh": (T, H, D), "dW_hh": (T, H, H), "db_h": (T, H)}
    out = {f"{k}_by_{by}": np.zeros(v) for by in ("lag", "loss") for k, v in shapes.items()}
    dh0 = np.zeros((B, H))
    G = dhs.copy()  # G[:, t] = dL_{t+1}/dh_{t+1-lag}, for the loss terms t >= lag
    for lag in range(T):
        n = T - lag  # loss terms t = lag..T-1 (0-based) reach back to the steps s = 0..n-1
        Gt = G[:, lag:]  # (B, n, H)
        delta = Gt * fprime[:, :n]  # dL_t/da_s with s = t - lag
        terms = {  # the contribution of each loss term t = lag..T-1 (rows n), summed over the batch
            "dW_hh": np.einsum("bni,bnj->nij", delta, h_prev[:, :n]),
            "dW_xh": np.einsum("bni,bnj->nij", delta, x[:, :n]),
            "db_h": delta.sum(0),
        }
        for k, v in terms.items():
            out[f"{k}_by_lag"][lag] = v.sum(0)
            out[f"{k}_by_loss"][lag:] += v
        back = delta @ W_hh + (Gt if skip else 0.0)  # dL_t/dh_{s-1} through a_s (and the skip path)
        dh0 += back[:, 0]  # the loss term t = lag reaches h_0 (s = 0)
        G = np.concatenate([G[:, : lag + 1], back[:, 1:]], 1)  # now G[:, t] = dL_t/dh_{t-lag-1}
    return GradientDecomposition(**{k: out[f"{k}_by_lag"].sum(0) for k in shapes}, dh0=dh0, **out)


@dataclass
class GradientBounds:
    r"""Actual norms of :math:`\partial h_T / \partial h_s` and their two upper bounds, for ``s = 0..T``.

    Attributes
    ----------
    norms : ndarray, shape (B, T + 1)
        :math:`\|\partial h_T / \partial h_s\|_2`.
    product_bound : ndarray, shape (B, T + 1)
        :math:`\prod_{t=s+1}^{T} \|\operatorname{diag}(f'(a_t))\|\, \sigma_{\max}(W_{hh})` (with skip,
        :math:`\prod (1 + \|\operatorname{diag}(f'(a_t))\|\, \sigma_{\max})`).
    power_bound : ndarray, shape (T + 1,)
        :math:`(\gamma\, \sigma_{\max})^{T-s}` (with skip, :math:`(1 + \gamma\, \sigma_{\max})^{T-s}`).
    sigma_max, gamma : float
        :math:`\sigma_{\max}(W_{hh})` and :math:`\gamma = \max_a |f'(a)|` (1 for tanh, relu and linear).
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
    r"""The norms :math:`\|\partial h_T / \partial h_s\|` and their upper bounds, for every ``s = 0..T``.

    Parameters
    ----------
    x, h0, W_xh, W_hh, b_h, nonlinearity, skip
        As in :func:`unroll`.

    Returns
    -------
    GradientBounds

    Notes
    -----
    The spectral norm is submultiplicative and :math:`\|\operatorname{diag}(v)\|_2 = \max_i |v_i|`, so

    .. math:: \Bigl\|\frac{\partial h_T}{\partial h_s}\Bigr\|
              \le \prod_{t=s+1}^{T} \|\operatorname{diag}(f'(a_t))\|\, \sigma_{\max}(W_{hh})
              \le (\gamma\, \sigma_{\max})^{T-s},

    with :math:`\gamma = \max |f'| = 1` for tanh, relu and the linear cell (Bengio, Simard & Frasconi 1994;
    Pascanu, Mikolov & Bengio 2013). If :math:`\gamma\sigma_{\max} < 1` the gradient vanishes at least
    geometrically. Chapter 9.
    """
    x, h0, W_xh, W_hh, b_h = _check_rnn_inputs(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)
    fprime = activation_derivative(_unroll(x, h0, W_xh, W_hh, b_h, nonlinearity, skip)[0], nonlinearity)
    norms = spectral_norms(jacobian_products(_step_jacobians(fprime, W_hh, skip)))
    sigma_max, gamma = float(np.linalg.norm(W_hh, 2)), 1.0  # gamma = max |f'(a)| = 1 for every cell here
    step_bound = float(skip) + np.abs(fprime).max(-1) * sigma_max  # (B, T)
    B, T = step_bound.shape
    # product_bound[:, k] = prod_{t=k+1..T} step_bound[:, t-1]: reverse cumulative product
    product_bound = np.ones((B, T + 1))
    product_bound[:, :T] = np.cumprod(step_bound[:, ::-1], axis=1)[:, ::-1]
    power_bound = (float(skip) + gamma * sigma_max) ** np.arange(T, -1, -1, dtype=np.float64)
    return GradientBounds(norms, product_bound, power_bound, sigma_max, gamma)


def orthogonal_matrix(H: int, sigma: float = 1.0, *, seed: int = 0) -> np.ndarray:
    r"""A random matrix :math:`\sigma Q` with :math:`Q` orthogonal: every singular value equals ``sigma``.

    Parameters
    ----------
    H : int
    sigma : float
        The common singular value :math:`\sigma_{\max}`.
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
    sigma = check_real("sigma", sigma)
    rng = np.random.default_rng(check_seed(seed))
    Q, R = np.linalg.qr(rng.standard_normal((H, H)))
    return sigma * Q * np.sign(np.diag(R))
