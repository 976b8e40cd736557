"""Numpy reference implementation of the vanilla RNN, LSTM and GRU: forward/backward pairs with caches.

Each layer is a pair ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache) -> gradients``, in the
style of CS231n's ``rnn_layers.py``: the step functions are the readable teaching version, one step of the
equations; the sequence functions keep only the recurrence in their loop over time: :func:`rnn_forward`
computes the input part ``W_xh x_t + b_h`` of every step with one product before its loop, and
:func:`rnn_backward` computes each parameter gradient, a sum over the steps, as one product over batch and
time after its loop. Everything is plain numpy in the book's notation (column-vector math, batch-first rows,
so the code applies ``x @ W_xh.T``). The dtype follows the inputs (float64 or float32; one dtype per call);
use float64 when comparing with finite differences. The torch modules and the graders are checked against
these functions.

Shapes: ``B`` batch, ``T`` time, ``D`` input size, ``H`` hidden size, ``V`` vocabulary / output size.
Chapters 1 (the recurrent state), 3 (backpropagation through time), 7 (truncated BPTT) and 11 (the gated
cells, whose weights stack the gates' blocks in torch's order: LSTM ``i, f, g, o``, GRU ``r, z, n``).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import check_array, check_dim, check_positive_int

__all__ = [
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "lstm_step_forward",
    "lstm_step_backward", "lstm_forward", "lstm_backward", "gru_step_forward", "gru_step_backward",
    "gru_forward", "gru_backward", "embedding_forward", "embedding_backward", "affine_forward",
    "affine_backward", "softmax", "softmax_cross_entropy",
]


# ----------------------------------------------------------------------------------------------- validation
def _check_np(name: str, a, ndim, shape: str, *, dtype_kind: str = "f") -> np.ndarray:
    """A finite numpy array with ``ndim`` dimensions and a float (or int) dtype; ``shape`` for the error."""
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray, got {type(a).__name__}; convert it with "
            f"np.asarray({name}, dtype=np.float64)."
        )
    return check_array(name, a, ndim, dtype_kind=dtype_kind, shape=shape)


def _check_same_dtype(reference_name: str, reference: np.ndarray, **others: np.ndarray) -> None:
    for name, a in others.items():
        if a.dtype != reference.dtype:
            raise TypeError(
                f"{name} has dtype {a.dtype} but {reference_name} has dtype {reference.dtype}; the arrays of "
                f"one call must share a dtype: convert with {name}.astype(np.{reference.dtype})."
            )


def _check_weights(W_xh, W_hh, D: int, G: int = 1, **biases):
    """Check ``W_xh (G H, D)``, ``W_hh (G H, H)`` and every bias ``(G H,)`` (``G`` gates); return ``H``."""
    g = "" if G == 1 else str(G)
    _check_np("W_xh", W_xh, 2, f"({g}H, D)")
    _check_np("W_hh", W_hh, 2, f"({g}H, H)")
    for name, b in biases.items():
        _check_np(name, b, 1, f"({g}H,)")
    H = W_hh.shape[0] if G == 1 else W_hh.shape[1]
    check_dim("W_hh", W_hh, 1, H, "W_hh must be square, shape (H, H).")
    check_dim("W_hh", W_hh, 0, G * H, f"W_hh must have shape ({g}H, H): the {G} gates' blocks stacked.")
    check_dim("W_xh", W_xh, 0, G * H, f"W_xh must have shape ({g}H, D) with H the hidden size of W_hh.")
    for name, b in biases.items():
        check_dim(name, b, 0, G * H, f"{name} must have shape ({g}H,) with H the hidden size of W_hh.")
    check_dim("W_xh", W_xh, 1, D, f"W_xh must have shape ({g}H, D) with D the input size of x.")
    _check_same_dtype("W_hh", W_hh, W_xh=W_xh, **biases)
    return H


def _check_inputs(x, states: dict, W_xh, W_hh, G: int = 1, **biases) -> int:
    """Validate a step's ``x (B, D)`` or a sequence's ``x (B, T, D)`` (when ``h0`` is a state), the states
    ``(B, H)`` and the weights of a cell with ``G`` gates; return ``H``."""
    seq = "h0" in states
    _check_np("x", x, 3 if seq else 2, "(B, T, D)" if seq else "(B, D)")
    for name, s in states.items():
        _check_np(name, s, 2, "(B, H)")
    if seq and x.shape[1] == 0:
        raise ValueError(f"x has T = 0 time steps (shape {x.shape}), expected T >= 1; pass at least 1 step.")
    H = _check_weights(W_xh, W_hh, x.shape[-1], G, **biases)
    for name, s in states.items():
        check_dim(name, s, 0, x.shape[0], f"{name} must have the batch size of x: shape (B, H).")
        check_dim(name, s, 1, H, f"{name} must have shape (B, H) with H the hidden size of W_hh.")
    _check_same_dtype("x", x, W_xh=W_xh, **states)
    return H


def _check_grad(name: str, d, expected_shape: tuple, like: np.ndarray) -> np.ndarray:
    _check_np(name, d, len(expected_shape), str(tuple(expected_shape)))
    if d.shape != tuple(expected_shape):
        raise ValueError(
            f"{name} has shape {d.shape}, expected {tuple(expected_shape)} (the shape of the forward "
            "output); pass the upstream gradient of that output."
        )
    _check_same_dtype("the forward pass", like, **{name: d})
    return d


def _check_cache(name: str, cache, length: int, producer: str) -> tuple:
    if not isinstance(cache, tuple) or len(cache) != length:
        raise TypeError(
            f"cache must be the tuple of {length} items returned by {producer}, got "
            f"{type(cache).__name__}{'' if not isinstance(cache, tuple) else f' of {len(cache)} items'}; "
            f"pass the second value returned by {producer} to {name}."
        )
    return cache


# ------------------------------------------------------------------------------------------------- RNN step
def _step_forward(x, h_prev, W_xh, W_hh, b_h):
    h = np.tanh(h_prev @ W_hh.T + x @ W_xh.T + b_h)
    return h, (x, h_prev, W_xh, W_hh, h)


def _step_backward(dh, cache):
    x, h_prev, W_xh, W_hh, h = cache
    da = dh * (1.0 - h**2)  # through tanh: tanh'(a) = 1 - tanh(a)^2
    return da @ W_xh, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
    r"""One step of a vanilla RNN: ``x`` (B, D), ``h_prev`` (B, H), ``W_xh`` (H, D), ``W_hh`` (H, H), ``b_h``
    (H,).

    Returns ``h`` (B, H) and the cache ``(x, h_prev, W_xh, W_hh, h)`` (references, not copies) for
    :func:`rnn_step_backward`.

    Notes
    -----
    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)

    Chapter 1 (the recurrent state).
    """
    _check_inputs(x, {"h_prev": h_prev}, W_xh, W_hh, b_h=b_h)
    return _step_forward(x, h_prev, W_xh, W_hh, b_h)


def rnn_step_backward(dh, cache):
    r"""Backward pass of :func:`rnn_step_forward`: ``dh`` (B, H) is :math:`\partial\mathcal{L}/\partial h_t`.

    Returns ``dx`` (B, D), ``dh_prev`` (B, H), ``dW_xh`` (H, D), ``dW_hh`` (H, H), ``db_h`` (H,).

    Notes
    -----
    With :math:`\delta_t = dh_t \odot (1 - h_t^2)` (the gradient on the pre-activation),

    .. math:: dx_t = W_{xh}^\top \delta_t,\quad dh_{t-1} = W_{hh}^\top \delta_t,\quad
              dW_{xh} = \delta_t x_t^\top,\quad dW_{hh} = \delta_t h_{t-1}^\top,\quad db_h = \delta_t,

    each summed over the batch. Chapter 3 (backpropagation through time).
    """
    _check_cache("rnn_step_backward", cache, 5, "rnn_step_forward")
    _check_grad("dh", dh, cache[4].shape, cache[4])
    return _step_backward(dh, cache)


# --------------------------------------------------------------------------------------------- RNN sequence
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    r"""Run a vanilla RNN over a sequence: ``x`` (B, T, D), ``h0`` (B, H), weights as in
    :func:`rnn_step_forward`.

    Returns ``hs`` (B, T, H) (``hs[:, t]`` after reading ``x[:, t]``) and the cache ``(x, h0, W_xh, W_hh,
    hs)`` for :func:`rnn_backward` (its size grows linearly with ``T``).

    Notes
    -----
    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \quad t = 1, \dots, T,

    the same parameters at every step (array index ``t - 1`` holds :math:`h_t`). Only
    :math:`W_{hh} h_{t-1}` needs the previous step; the input parts :math:`W_{xh} x_t + b_h` of all steps are
    one product over batch and time before the loop (equal to repeated :func:`rnn_step_forward` calls up to
    rounding). Chapters 1 and 3.
    """
    _check_inputs(x, {"h0": h0}, W_xh, W_hh, b_h=b_h)
    return _rnn_forward(x, h0, W_xh, W_hh, b_h)


def _rnn_forward(x, h0, W_xh, W_hh, b_h):
    """:func:`rnn_forward` without validation (for callers that have checked the arrays already)."""
    B, T, D = x.shape
    # one buffer for the states: it starts as the input part W_xh x_t + b_h of every step (one product over
    # batch and time, rows (b, t)), and step t overwrites its slot with h_t (the loops over time use np.dot,
    # which costs less per call than @ on the small arrays of one step)
    hs = x.reshape(B * T, D) @ W_xh.T
    hs += b_h
    hs = hs.reshape(B, T, W_hh.shape[0])
    h = h0
    for t in range(T):
        h = np.tanh(np.dot(h, W_hh.T) + hs[:, t], out=hs[:, t])  # h_t = tanh(W_hh h_{t-1} + (W_xh x_t + b_h))
    return hs, (x, h0, W_xh, W_hh, hs)


def rnn_backward(dhs, cache, k=None):
    r"""Backpropagation through time for :func:`rnn_forward`, optionally truncated to ``k`` steps.

    ``dhs`` (B, T, H): ``dhs[:, t - 1]`` :math:`= \partial\mathcal{L}/\partial h_t` (index ``t - 1`` holds
    step :math:`t`) from the losses that read :math:`h_t` directly (zeros where none does). ``k``: what
    arrives at :math:`h_t` travels back through at most ``k`` steps (``t, ..., t-k+1``) and is then dropped;
    ``k = 1`` keeps each step's local gradient, ``None`` or ``k >= T`` is full BPTT. Returns ``dx`` (B, T, D),
    ``dh0`` (B, H) (from the steps :math:`t \le k`, which reach it), ``dW_xh`` (H, D), ``dW_hh`` (H, H),
    ``db_h`` (H,).

    Notes
    -----
    Full BPTT walks backwards once, adding the gradient from the future to the local one:

    .. math:: \bar{h}_t = \frac{\partial \mathcal{L}_t}{\partial h_t} + W_{hh}^\top \delta_{t+1}, \qquad
              \delta_t = \bar{h}_t \odot (1 - h_t^2), \qquad \bar{h}_0 = W_{hh}^\top \delta_1

    (:math:`\delta_{T+1} = 0`; :math:`\delta_t` is what :func:`rnn_step_backward` computes from
    :math:`dh = \bar{h}_t`). The parameters are shared by all steps, so their gradients are sums of every
    step's local term, each one product over batch and time after the loop:

    .. math:: dW_{xh} = \sum_t \delta_t x_t^\top,\quad dW_{hh} = \sum_t \delta_t h_{t-1}^\top,\quad
              db_h = \sum_t \delta_t,\quad dx_t = W_{xh}^\top \delta_t.

    With truncation every ``dhs[:, t - 1]`` is propagated separately through steps ``t`` down to ``t - k + 1``
    (cost :math:`O(Tk)`), and :math:`\delta_t` is the sum of those that pass step ``t``: the gradient of
    :math:`\sum_t \mathcal{L}_t` when :math:`h_{t-k}` is a constant for the loss at step ``t``. Chapters 3
    and 7.
    """
    _check_cache("rnn_backward", cache, 5, "rnn_forward")
    _check_grad("dhs", dhs, cache[4].shape, cache[4])
    if k is not None:
        k = check_positive_int("k", k)
    return _rnn_backward(dhs, cache, k)


def _rnn_backward(dhs, cache, k=None):
    """:func:`rnn_backward` without validation (``k`` None or a positive int)."""
    x, h0, W_xh, W_hh, hs = cache
    B, T, H = hs.shape
    dtanh = np.square(hs)  # tanh'(a_t) = 1 - h_t^2 for every step at once, (B, T, H), computed in one
    np.subtract(1.0, dtanh, out=dtanh)  # array (one allocation of this size, not two)
    if k is None or k >= T:  # full BPTT: one backward sweep carrying the gradient from the future
        delta = dtanh  # turned in place into delta_t = d loss / d a_t (the gradient on the pre-activation)
        dh_next = np.zeros_like(h0)  # W_hh^T delta_{t+1}: what step t+1 hands back to h_t
        for t in reversed(range(T)):
            delta[:, t] *= dhs[:, t] + dh_next  # delta_t = (dhs_t + W_hh^T delta_{t+1}) * (1 - h_t^2)
            dh_next = np.dot(delta[:, t], W_hh)  # W_hh^T delta_t, on to h_{t-1}
        dh0 = dh_next  # h_bar_0: the gradient that arrives at the initial state
    else:  # truncated: dhs[:, t] travels through steps t, t-1, ..., t-k+1 only
        delta = np.empty_like(hs)  # delta_t = d loss / d a_t, the gradient on the pre-activation
        # G[j] carries the gradient of one loss on the current state while it is within reach; loss t uses
        # slot t mod k, which it takes over from loss t + k when that one has travelled its k steps
        G = np.zeros((k, B, H), dtype=hs.dtype)
        for t in reversed(range(T)):
            G[t % k] = dhs[:, t]  # loss t enters at h_t; loss t + k is dropped
            G *= dtanh[:, t]  # through tanh: each loss's share of delta_t
            delta[:, t] = G.sum(axis=0)  # delta_t = the sum over the losses in reach
            G = G @ W_hh  # W_hh^T (each share), on to h_{t-1}
        dh0 = G.sum(axis=0)  # the losses t < k reach h_0
    dx, dW_xh, dW_hh, db_h, _ = _weight_grads(delta, delta, x, h0, hs, W_xh)
    return dx, dh0, dW_xh, dW_hh, db_h


def _weight_grads(da_x, da_h, x, h0, hs, W_xh):
    """Every step's local terms, summed over batch and time in one product each, from the gradients on the
    input and recurrent parts of the pre-activations, ``da_x``, ``da_h`` (B, T, G H) (the same array but for
    the GRU): ``dx_t = W_xh^T da_x_t``, ``dW_xh = sum_t da_x_t x_t^T``, ``dW_hh = sum_t da_h_t h_{t-1}^T``,
    ``db_x = sum_t da_x_t``, ``db_h = sum_t da_h_t``."""
    B, T, D = x.shape
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1).reshape(B * T, -1)  # h_{t-1} at index t
    da_x, da_h = da_x.reshape(B * T, -1), da_h.reshape(B * T, -1)  # one row per (b, t)
    dx = (da_x @ W_xh).reshape(B, T, D)
    return dx, da_x.T @ x.reshape(B * T, D), da_h.T @ h_prev, da_x.sum(axis=0), da_h.sum(axis=0)


# ------------------------------------------------------------------------------------ gated cells (ch. 11)
def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + e^{-a}), without overflow for large |a|


def _lstm_cell(a, c_prev):
    """The gates ``(i, f, g, o)`` (..., 4H) from the pre-activation ``a``; ``c``, ``tanh(c)`` and ``h``."""
    H = c_prev.shape[-1]
    gates = _sigmoid(a)
    gates[..., 2 * H : 3 * H] = np.tanh(a[..., 2 * H : 3 * H])  # g, the candidate, is a tanh
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = f * c_prev + i * g
    tc = np.tanh(c)
    return gates, c, tc, o * tc


def _lstm_cell_backward(dh, dc, gates, c_prev, tc):
    """The gradients on the pre-activation ``a`` (..., 4H) and on ``c_prev``, from those on ``h``, ``c``."""
    i, f, g, o = np.split(gates, 4, axis=-1)
    dc = dc + dh * o * (1.0 - tc**2)  # c_t reaches the loss directly and through h_t = o_t tanh(c_t)
    da_i, da_f = dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f)
    da_g, da_o = dc * i * (1.0 - g**2), dh * tc * o * (1.0 - o)
    return np.concatenate([da_i, da_f, da_g, da_o], axis=-1), dc * f


def lstm_step_forward(x, h_prev, c_prev, W_xh, W_hh, b_h):
    r"""One step of an LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    ``x`` (B, D), ``h_prev`` and ``c_prev`` (B, H); ``W_xh`` (4H, D), ``W_hh`` (4H, H), ``b_h`` (4H,): the
    blocks of the gates ``i, f, g, o`` stacked in torch's order (``b_h`` is the sum of torch's two biases).
    Returns ``h`` and ``c`` (B, H) and the cache for :func:`lstm_step_backward`.

    Notes
    -----
    With the gate blocks of ``W_xh``, ``W_hh``, ``b_h`` (chapter 11), :math:`i_t = \sigma(W_{xi} x_t +
    W_{hi} h_{t-1} + b_i)`, :math:`f_t = \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f)`, :math:`g_t = \tanh(W_{xg}
    x_t + W_{hg} h_{t-1} + b_g)`, :math:`o_t = \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o)`, :math:`c_t = f_t
    \odot c_{t-1} + i_t \odot g_t` and :math:`h_t = o_t \odot \tanh(c_t)` (:math:`\sigma` the logistic
    function, :math:`\odot` the elementwise product).
    """
    _check_inputs(x, {"h_prev": h_prev, "c_prev": c_prev}, W_xh, W_hh, 4, b_h=b_h)
    gates, c, tc, h = _lstm_cell(x @ W_xh.T + h_prev @ W_hh.T + b_h, c_prev)
    return h, c, (x, h_prev, c_prev, W_xh, W_hh, gates, tc)


def lstm_step_backward(dh, dc, cache):
    r"""Backward pass of :func:`lstm_step_forward`: ``dh``, ``dc`` (B, H), the gradients on ``h`` and ``c``.

    Returns ``dx`` (B, D), ``dh_prev``, ``dc_prev`` (B, H), ``dW_xh`` (4H, D), ``dW_hh`` (4H, H), ``db_h``
    (4H,).

    Notes
    -----
    The cell state gathers :math:`\bar c_t = dc_t + dh_t \odot o_t \odot (1 - \tanh^2 c_t)`; then
    :math:`dc_{t-1} = \bar c_t \odot f_t` (the additive path, gated by :math:`f_t` alone) and the gradient on
    the pre-activation is :math:`\delta_t = (\bar c_t \odot g_t \odot i_t(1-i_t),\ \bar c_t \odot c_{t-1}
    \odot f_t(1-f_t),\ \bar c_t \odot i_t \odot (1-g_t^2),\ dh_t \odot \tanh(c_t) \odot o_t(1-o_t))`, from
    which :math:`dx_t, dh_{t-1}, dW_{xh}, dW_{hh}, db_h` follow as in :func:`rnn_step_backward`. Chapter 11.
    """
    x, h_prev, c_prev, W_xh, W_hh, gates, tc = _check_cache(
        "lstm_step_backward", cache, 7, "lstm_step_forward"
    )
    _check_grad("dh", dh, tc.shape, tc)
    _check_grad("dc", dc, tc.shape, tc)
    da, dc_prev = _lstm_cell_backward(dh, dc, gates, c_prev, tc)
    return da @ W_xh, da @ W_hh, dc_prev, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def lstm_forward(x, h0, c0, W_xh, W_hh, b_h):
    r"""Run an LSTM over a sequence: ``x`` (B, T, D), ``h0`` and ``c0`` (B, H), weights as in
    :func:`lstm_step_forward`.

    Returns ``hs`` (B, T, H) (``hs[:, t]`` after reading ``x[:, t]``), ``cs`` (B, T, H), the cell states
    (``cs[:, -1]`` is the final :math:`c_T`), and the cache for :func:`lstm_backward`. The input parts
    :math:`W_{xh} x_t + b_h` of every step are one product before the loop. Chapter 11.
    """
    _check_inputs(x, {"h0": h0, "c0": c0}, W_xh, W_hh, 4, b_h=b_h)
    B, T, D = x.shape
    a_x = (x.reshape(B * T, D) @ W_xh.T + b_h).reshape(B, T, -1)  # W_xh x_t + b_h, every step at once
    gates, (hs, cs, tcs) = np.empty_like(a_x), (np.empty((B, T, h0.shape[1]), x.dtype) for _ in range(3))
    h, c = h0, c0
    for t in range(T):
        gates[:, t], cs[:, t], tcs[:, t], hs[:, t] = _lstm_cell(a_x[:, t] + h @ W_hh.T, c)
        h, c = hs[:, t], cs[:, t]
    return hs, cs, (x, h0, c0, W_xh, W_hh, gates, cs, tcs, hs)


def lstm_backward(dhs, cache):
    r"""Backpropagation through time for :func:`lstm_forward`: ``dhs`` (B, T, H), the gradient on every
    hidden state from the losses that read it.

    Returns ``dx`` (B, T, D), ``dh0``, ``dc0`` (B, H), ``dW_xh`` (4H, D), ``dW_hh`` (4H, H), ``db_h`` (4H,).

    Notes
    -----
    One backward sweep carries :math:`\bar h_t = \partial \mathcal{L}_t / \partial h_t + W_{hh}^\top
    \delta_{t+1}` and the cell gradient :math:`\bar c_t` (:func:`lstm_step_backward` with ``dh`` :math:`= \bar
    h_t`, ``dc`` :math:`= f_{t+1} \odot \bar c_{t+1}`); the weight gradients are sums over the steps.
    Chapter 11.
    """
    x, h0, c0, W_xh, W_hh, gates, cs, tcs, hs = _check_cache("lstm_backward", cache, 9, "lstm_forward")
    _check_grad("dhs", dhs, hs.shape, hs)
    c_prev = np.concatenate([c0[:, None], cs[:, :-1]], axis=1)  # c_{t-1} at index t
    da, dh, dc = np.empty_like(gates), np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(x.shape[1])):
        da[:, t], dc = _lstm_cell_backward(dhs[:, t] + dh, dc, gates[:, t], c_prev[:, t], tcs[:, t])
        dh = da[:, t] @ W_hh  # W_hh^T delta_t, on to h_{t-1}
    dx, dW_xh, dW_hh, db_h, _ = _weight_grads(da, da, x, h0, hs, W_xh)
    return dx, dh, dc, dW_xh, dW_hh, db_h


def _gru_cell(a_x, a_h, h_prev):
    """``h`` and the gates ``(r, z, n)`` (..., 3H) from ``a_x = W_xh x + b_xh``, ``a_h = W_hh h + b_hh``."""
    H = h_prev.shape[-1]
    rz = _sigmoid(a_x[..., : 2 * H] + a_h[..., : 2 * H])  # reset and update gates
    n = np.tanh(a_x[..., 2 * H :] + rz[..., :H] * a_h[..., 2 * H :])  # r scales W_hn h + b_hn
    return n + rz[..., H:] * (h_prev - n), np.concatenate([rz, n], axis=-1)  # h = (1 - z) n + z h_prev


def _gru_cell_backward(dh, gates, a_hn, h_prev):
    """The gradients on ``a_x`` and ``a_h`` (..., 3H) and the direct one on ``h_prev`` (through ``z``)."""
    r, z, n = np.split(gates, 3, axis=-1)
    dn = dh * (1.0 - z) * (1.0 - n**2)  # on n's pre-activation
    dr = dn * a_hn * r * (1.0 - r)
    dz = dh * (h_prev - n) * z * (1.0 - z)
    return np.concatenate([dr, dz, dn], axis=-1), np.concatenate([dr, dz, dn * r], axis=-1), dh * z


def gru_step_forward(x, h_prev, W_xh, W_hh, b_xh, b_hh):
    r"""One step of a GRU (Cho et al. 2014) in torch's convention.

    ``x`` (B, D), ``h_prev`` (B, H); ``W_xh`` (3H, D), ``W_hh`` (3H, H), ``b_xh`` and ``b_hh`` (3H,): the
    blocks of ``r, z, n`` stacked in torch's order (two biases, because ``r`` scales the recurrent part of
    ``n`` with its bias). Returns ``h`` (B, H) and the cache for :func:`gru_step_backward`.

    Notes
    -----
    With the gate blocks :math:`W_{xr}, \dots, b_{hn}` of ``W_xh``, ``W_hh``, ``b_xh``, ``b_hh`` (chapter 11),

    .. math:: r_t = \sigma(W_{xr} x_t + b_{xr} + W_{hr} h_{t-1} + b_{hr}), \quad
              z_t = \sigma(W_{xz} x_t + b_{xz} + W_{hz} h_{t-1} + b_{hz}),

    .. math:: n_t = \tanh(W_{xn} x_t + b_{xn} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), \qquad
              h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}.
    """
    _check_inputs(x, {"h_prev": h_prev}, W_xh, W_hh, 3, b_xh=b_xh, b_hh=b_hh)
    H = h_prev.shape[1]
    a_h = h_prev @ W_hh.T + b_hh
    h, gates = _gru_cell(x @ W_xh.T + b_xh, a_h, h_prev)
    return h, (x, h_prev, W_xh, W_hh, gates, a_h[:, 2 * H :])


def gru_step_backward(dh, cache):
    r"""Backward pass of :func:`gru_step_forward`: ``dh`` (B, H).

    Returns ``dx`` (B, D), ``dh_prev`` (B, H), ``dW_xh`` (3H, D), ``dW_hh`` (3H, H), ``db_xh``, ``db_hh``
    (3H,).

    Notes
    -----
    With the gradients on the gates' pre-activations :math:`\delta_n = dh_t \odot (1 - z_t) \odot (1 -
    n_t^2)`, :math:`\delta_r = \delta_n \odot (W_{hn} h_{t-1} + b_{hn}) \odot r_t (1 - r_t)`,
    :math:`\delta_z = dh_t \odot (h_{t-1} - n_t) \odot z_t(1-z_t)`: :math:`dx_t = W_{xh}^\top (\delta_r,
    \delta_z, \delta_n)`, :math:`dh_{t-1} = z_t \odot dh_t + W_{hh}^\top (\delta_r, \delta_z, r_t \odot
    \delta_n)`. Chapter 11.
    """
    x, h_prev, W_xh, W_hh, gates, a_hn = _check_cache("gru_step_backward", cache, 6, "gru_step_forward")
    _check_grad("dh", dh, h_prev.shape, h_prev)
    da_x, da_h, dh_prev = _gru_cell_backward(dh, gates, a_hn, h_prev)
    dx, dh_prev = da_x @ W_xh, dh_prev + da_h @ W_hh
    return dx, dh_prev, da_x.T @ x, da_h.T @ h_prev, da_x.sum(axis=0), da_h.sum(axis=0)


def gru_forward(x, h0, W_xh, W_hh, b_xh, b_hh):
    r"""Run a GRU over a sequence: ``x`` (B, T, D), ``h0`` (B, H), weights as in :func:`gru_step_forward`.

    Returns ``hs`` (B, T, H) and the cache for :func:`gru_backward`. Chapter 11.
    """
    _check_inputs(x, {"h0": h0}, W_xh, W_hh, 3, b_xh=b_xh, b_hh=b_hh)
    B, T, D = x.shape
    H = h0.shape[1]
    a_x = (x.reshape(B * T, D) @ W_xh.T + b_xh).reshape(B, T, 3 * H)  # W_xh x_t + b_xh, all steps at once
    gates, hs, a_hn = np.empty_like(a_x), np.empty((B, T, H), x.dtype), np.empty((B, T, H), x.dtype)
    h = h0
    for t in range(T):
        a_h = h @ W_hh.T + b_hh
        h, gates[:, t] = _gru_cell(a_x[:, t], a_h, h)
        hs[:, t], a_hn[:, t] = h, a_h[:, 2 * H :]
    return hs, (x, h0, W_xh, W_hh, gates, a_hn, hs)


def gru_backward(dhs, cache):
    r"""Backpropagation through time for :func:`gru_forward`: ``dhs`` (B, T, H).

    Returns ``dx`` (B, T, D), ``dh0`` (B, H), ``dW_xh`` (3H, D), ``dW_hh`` (3H, H), ``db_xh``, ``db_hh``
    (3H,): :func:`gru_step_backward` in one backward sweep, its ``dh`` the sum of ``dhs[:, t - 1]`` and of
    what step :math:`t+1` hands back; the weight gradients are sums over the steps, one product each.
    Chapter 11.
    """
    x, h0, W_xh, W_hh, gates, a_hn, hs = _check_cache("gru_backward", cache, 7, "gru_forward")
    _check_grad("dhs", dhs, hs.shape, hs)
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    da_x, da_h, dh = np.empty_like(gates), np.empty_like(gates), np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        da_x[:, t], da_h[:, t], dh = _gru_cell_backward(dhs[:, t] + dh, gates[:, t], a_hn[:, t], h_prev[:, t])
        dh += da_h[:, t] @ W_hh  # the direct path z_t dh_t plus the one through the gates
    dx, dW_xh, dW_hh, db_xh, db_hh = _weight_grads(da_x, da_h, x, h0, hs, W_xh)
    return dx, dh, dW_xh, dW_hh, db_xh, db_hh


# ------------------------------------------------------------------------------------------------ embedding
def embedding_forward(ids, W_embed):
    r"""Look up one row of ``W_embed`` (V, D) per token id of ``ids`` (B, T) or (B,), integers in ``0..V-1``.

    Returns ``x`` (B, T, D) (or (B, D)) and the cache ``(ids, V)`` for :func:`embedding_backward`.
    :math:`x_t = W_{embed}[w_t] = W_{embed}^\top e_{w_t}`, row :math:`w_t` of :math:`W_{embed}` (:math:`e_w`
    the one-hot vector of token :math:`w`). Chapter 4 (character language model).
    """
    _check_np("ids", ids, (1, 2), "(B, T) or (B,)", dtype_kind="i")
    _check_np("W_embed", W_embed, 2, "(V, D)")
    V = W_embed.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(
            f"ids must lie in 0..{V - 1} (W_embed has V = {V} rows), got values in {ids.min()}..{ids.max()}; "
            "encode the text with the same vocabulary as W_embed or enlarge W_embed."
        )
    return W_embed[ids], (ids, V)


def embedding_backward(dx, cache):
    r"""Backward pass of :func:`embedding_forward`: ``dx`` (B, T, D) (or (B, D)) -> ``dW_embed`` (V, D).

    :math:`dW_{embed}[i] = \sum_{(b, t):\, i_{bt} = i} dx_{bt}`: rows of tokens that appear several times
    accumulate, rows of absent tokens are zero. Chapter 4.
    """
    ids, V = _check_cache("embedding_backward", cache, 2, "embedding_forward")
    _check_np("dx", dx, ids.ndim + 1, "(B, T, D)" if ids.ndim == 2 else "(B, D)")
    if dx.shape[:-1] != ids.shape:
        raise ValueError(
            f"dx has shape {dx.shape}, expected {ids.shape + ('D',)} (the shape of the embedded ids); pass "
            "the gradient of the output of embedding_forward."
        )
    D = dx.shape[-1]
    # entry (i, j) of dW_embed has the flat index i D + j; one weighted count over the flat indices adds every
    # dx[..., j] into row ids[...] (the same sums as np.add.at(dW_embed, ids, dx), several times faster)
    i = ids.reshape(-1, 1).astype(np.intp, copy=False)  # one row per position (b, t)
    flat = (i * D + np.arange(D)).reshape(-1)  # i_{bt} D + j for every position and column j
    dW_embed = np.bincount(flat, weights=dx.reshape(-1), minlength=V * D).reshape(V, D)
    return dW_embed.astype(dx.dtype, copy=False)  # bincount sums in float64


# ---------------------------------------------------------------------------------------------- output layer
def affine_forward(h, W_hy, b_y):
    """Output layer at every position, :math:`y_t = W_{hy} h_t + b_y`: ``h`` (..., H), ``W_hy`` (V, H),
    ``b_y`` (V,) -> ``y`` (..., V) and the cache ``(h, W_hy)`` for :func:`affine_backward`. Chapters 1 and 4.
    """
    _check_np("h", h, tuple(range(1, 6)), "(..., H)")
    _check_np("W_hy", W_hy, 2, "(V, H)")
    _check_np("b_y", b_y, 1, "(V,)")
    check_dim("h", h, h.ndim - 1, W_hy.shape[1], "The last axis of h must match W_hy, shape (V, H).")
    check_dim("b_y", b_y, 0, W_hy.shape[0], "b_y must have shape (V,) with V = W_hy.shape[0].")
    _check_same_dtype("h", h, W_hy=W_hy, b_y=b_y)
    y = h.reshape(-1, h.shape[-1]) @ W_hy.T  # W_hy h_t for every position: one product, a row per position
    y += b_y  # + b_y, in place (no second array of this size)
    return y.reshape(h.shape[:-1] + (W_hy.shape[0],)), (h, W_hy)


def affine_backward(dy, cache):
    r"""Backward pass of :func:`affine_forward`: ``dy`` (..., V) -> ``dh`` (..., H), ``dW_hy`` (V, H),
    ``db_y`` (V,).

    :math:`dh_t = W_{hy}^\top dy_t`, :math:`dW_{hy} = \sum_t dy_t h_t^\top`, :math:`db_y = \sum_t dy_t`
    (sums over every position). Chapter 4.
    """
    h, W_hy = _check_cache("affine_backward", cache, 2, "affine_forward")
    _check_grad("dy", dy, h.shape[:-1] + (W_hy.shape[0],), h)
    dy2, h2 = dy.reshape(-1, dy.shape[-1]), h.reshape(-1, h.shape[-1])  # a row per position
    return (dy2 @ W_hy).reshape(h.shape), dy2.T @ h2, dy2.sum(axis=0)


# ------------------------------------------------------------------------------------------------- softmax
def softmax(z, axis=-1):
    r"""Numerically stable softmax of ``z`` (finite logits) along ``axis``; non-negative, sums to 1.

    For logits :math:`y_t` (``z``), :math:`p_{t,i} = \exp(y_{t,i} - \max_j y_{t,j}) / \sum_j \exp(y_{t,j} -
    \max_k y_{t,k})`, equal to :math:`\exp(y_{t,i}) / \sum_j \exp(y_{t,j})` but never overflowing. Chapter 4.
    """
    _check_np("z", z, tuple(range(1, 9)), "(..., V)")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -z.ndim <= axis < z.ndim:
        raise ValueError(
            f"axis must be an integer in {-z.ndim}..{z.ndim - 1} for z of shape {z.shape}, got {axis!r}; "
            "use axis=-1 for the last axis."
        )
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_cross_entropy(logits, targets, mask=None):
    r"""Mean softmax cross-entropy over the (unmasked) positions, and its gradient.

    ``logits`` (..., V), e.g. (B, T, V); ``targets`` (...) int ids in ``0..V-1``; ``mask`` (...) bool (or
    0/1), the positions that count (all when None). Returns ``loss`` (float) and ``dlogits`` (..., V), zero at
    masked positions.

    Notes
    -----
    With :math:`p_{bt} = \mathrm{softmax}(y_{bt})` at step :math:`t` of sequence :math:`b`, the targets
    :math:`\hat y_{bt}`, the mask :math:`m_{bt}` (:math:`[t \le T_b]` for a padded batch) and :math:`N =
    \sum_{b,t} m_{bt}`, the loss is the mean cross-entropy in nats :math:`\frac{1}{N}\sum_{b,t} m_{bt}
    \mathcal{L}_{bt}`, :math:`\mathcal{L}_{bt} = -\log p_{bt,\hat y_{bt}}`, with the gradient
    :math:`\frac{m_{bt}}{N}(p_{bt} - e_{\hat y_{bt}})` on :math:`y_{bt}`.

    Chapter 4 (character language model).
    """
    _check_np("logits", logits, tuple(range(1, 9)), "(..., V)")
    _check_np("targets", targets, logits.ndim - 1, "(...), logits without its last axis", dtype_kind="i")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"targets has shape {targets.shape}, expected {logits.shape[:-1]} (logits without its last "
            "axis); pass one target id per position."
        )
    V = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(
            f"targets must lie in 0..{V - 1} (logits have V = {V} classes), got values in "
            f"{targets.min()}..{targets.max()}; use the same vocabulary for the targets and the output layer."
        )
    if mask is None:
        m = np.ones(targets.shape, dtype=logits.dtype)
    else:
        if not isinstance(mask, np.ndarray):
            raise TypeError(
                f"mask must be a numpy.ndarray of bool, got {type(mask).__name__}; use np.asarray(mask)."
            )
        if mask.shape != targets.shape:
            raise ValueError(
                f"mask has shape {mask.shape}, expected {targets.shape} (the shape of targets); "
                "pass one flag per position."
            )
        if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
            raise ValueError(
                f"mask must hold booleans or 0/1 values, got dtype {mask.dtype} with other values; "
                "use mask.astype(bool)."
            )
        m = mask.astype(logits.dtype)
    N = m.sum()
    if N == 0:
        raise ValueError(
            f"mask selects 0 of {targets.size} positions, expected at least 1; the mean over no positions is "
            "undefined, so leave at least one position unmasked."
        )
    # one array of the size of logits is allocated (z) and becomes dlogits: fewer passes over memory
    z = logits - logits.max(axis=-1, keepdims=True)  # z_t = y_t - max_j y_tj: exp(z) cannot overflow
    rows = z.reshape(-1, V)  # a view: one row per position t
    target_entry = (np.arange(rows.shape[0]), targets.reshape(-1))  # entry (t, c_t) of every row
    z_target = rows[target_entry]  # z_{t, c_t}
    p = np.exp(z, out=z)  # e^{z_t} (in z's memory)
    sum_e = p.sum(axis=-1, keepdims=True)  # sum_j e^{z_tj}
    log_p_target = z_target - np.log(sum_e.reshape(-1))  # log p_{t, c_t} = z_{t, c_t} - log sum_j e^{z_tj}
    weight = (m / N).reshape(-1, 1)  # m_t / N, one per row
    loss = -(weight[:, 0] * log_p_target).sum()
    p /= sum_e  # p_t = softmax(y_t)
    rows[target_entry] -= 1.0  # p_t - e_{c_t}
    rows *= weight  # (m_t / N) (p_t - e_{c_t})
    dlogits = p
    return float(loss), dlogits
