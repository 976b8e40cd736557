"""Numpy reference implementation of a vanilla RNN: forward/backward pairs with caches.

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
Chapters 1 (the recurrent state), 3 (backpropagation through time) and 7 (truncated BPTT).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import check_array, check_dim, check_positive_int

__all__ = [
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "embedding_forward",
    "embedding_backward", "affine_forward", "affine_backward", "softmax", "softmax_cross_entropy",
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


def _check_weights(W_xh, W_hh, b_h, D: int | None = None):
    """Check ``W_xh (H, D)``, ``W_hh (H, H)``, ``b_h (H,)``; return ``H``."""
    _check_np("W_xh", W_xh, 2, "(H, D)")
    _check_np("W_hh", W_hh, 2, "(H, H)")
    _check_np("b_h", b_h, 1, "(H,)")
    H = W_hh.shape[0]
    check_dim("W_hh", W_hh, 1, H, "W_hh must be square, shape (H, H).")
    check_dim("W_xh", W_xh, 0, H, "W_xh must have shape (H, D) with H = W_hh.shape[0].")
    check_dim("b_h", b_h, 0, H, "b_h must have shape (H,) with H = W_hh.shape[0].")
    if D is not None:
        check_dim("W_xh", W_xh, 1, D, "W_xh must have shape (H, D) with D the input size of x.")
    _check_same_dtype("W_hh", W_hh, W_xh=W_xh, b_h=b_h)
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
    r"""One step of a vanilla RNN.

    Parameters
    ----------
    x : ndarray, shape (B, D)
        Input at this step.
    h_prev : ndarray, shape (B, H)
        Previous hidden state.
    W_xh : ndarray, shape (H, D)
    W_hh : ndarray, shape (H, H)
    b_h : ndarray, shape (H,)

    Returns
    -------
    h : ndarray, shape (B, H)
        Next hidden state.
    cache : tuple
        ``(x, h_prev, W_xh, W_hh, h)``, references (not copies) kept for :func:`rnn_step_backward`.

    Notes
    -----
    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)

    Chapter 1 (the recurrent state).
    """
    _check_np("x", x, 2, "(B, D)")
    _check_np("h_prev", h_prev, 2, "(B, H)")
    H = _check_weights(W_xh, W_hh, b_h, D=x.shape[1])
    check_dim("h_prev", h_prev, 0, x.shape[0], "h_prev must have the batch size of x: shape (B, H).")
    check_dim("h_prev", h_prev, 1, H, "h_prev must have shape (B, H) with H = W_hh.shape[0].")
    _check_same_dtype("x", x, h_prev=h_prev, W_xh=W_xh, W_hh=W_hh, b_h=b_h)
    return _step_forward(x, h_prev, W_xh, W_hh, b_h)


def rnn_step_backward(dh, cache):
    r"""Backward pass of :func:`rnn_step_forward`.

    Parameters
    ----------
    dh : ndarray, shape (B, H)
        Upstream gradient :math:`\partial\mathcal{L}/\partial h_t`.
    cache : tuple
        The cache returned by :func:`rnn_step_forward`.

    Returns
    -------
    dx : ndarray, shape (B, D)
    dh_prev : ndarray, shape (B, H)
    dW_xh : ndarray, shape (H, D)
    dW_hh : ndarray, shape (H, H)
    db_h : ndarray, shape (H,)

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
    r"""Run a vanilla RNN over a whole sequence.

    Parameters
    ----------
    x : ndarray, shape (B, T, D)
    h0 : ndarray, shape (B, H)
        Initial hidden state.
    W_xh : ndarray, shape (H, D)
    W_hh : ndarray, shape (H, H)
    b_h : ndarray, shape (H,)

    Returns
    -------
    hs : ndarray, shape (B, T, H)
        ``hs[:, t]`` is the hidden state after reading ``x[:, t]``.
    cache : tuple
        ``(x, h0, W_xh, W_hh, hs)``: the inputs and all ``T`` hidden states, so its size grows linearly with
        ``T``; for :func:`rnn_backward`.

    Notes
    -----
    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \quad t = 1, \dots, T,

    the same parameters at every step (array index ``t - 1`` holds :math:`h_t`). Only
    :math:`W_{hh} h_{t-1}` needs the previous step; the input parts :math:`W_{xh} x_t + b_h` of all steps are
    one product over batch and time before the loop (equal to repeated :func:`rnn_step_forward` calls up to
    rounding). Chapters 1 and 3.
    """
    _check_np("x", x, 3, "(B, T, D)")
    _check_np("h0", h0, 2, "(B, H)")
    B, T, D = x.shape
    if T == 0:
        raise ValueError(
            f"x has T = 0 time steps (shape {x.shape}), expected T >= 1; pass at least one step."
        )
    H = _check_weights(W_xh, W_hh, b_h, D=D)
    check_dim("h0", h0, 0, B, "h0 must have the batch size of x: shape (B, H).")
    check_dim("h0", h0, 1, H, "h0 must have shape (B, H) with H = W_hh.shape[0].")
    _check_same_dtype("x", x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h)
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

    Parameters
    ----------
    dhs : ndarray, shape (B, T, H)
        Upstream gradient on every hidden state, ``dhs[:, t]`` :math:`= \partial\mathcal{L}/\partial h_t` from
        the losses that read ``h_t`` directly (zeros where no loss reads it).
    cache : tuple
        The cache returned by :func:`rnn_forward`.
    k : int, optional
        Truncation: the gradient arriving at ``h_t`` travels back through at most ``k`` steps (steps
        ``t, t-1, ..., t-k+1``) and is then dropped. ``k = 1`` keeps only each step's own local gradient;
        ``k = None`` or ``k >= T`` is full BPTT.

    Returns
    -------
    dx : ndarray, shape (B, T, D)
    dh0 : ndarray, shape (B, H)
        Gradient on the initial state (from the ``dhs[:, t]`` with ``t < k``, the ones that reach it).
    dW_xh : ndarray, shape (H, D)
    dW_hh : ndarray, shape (H, H)
    db_h : ndarray, shape (H,)

    Notes
    -----
    Full BPTT walks backwards once, adding the gradient from the future to the local one; only this
    recurrence needs a loop over time,

    .. math:: \bar{h}_t = dhs_t + W_{hh}^\top \delta_{t+1}, \qquad
              \delta_t = \bar{h}_t \odot (1 - h_t^2), \qquad \bar{h}_0 = W_{hh}^\top \delta_1

    (:math:`\delta_{T+1} = 0`), with :math:`\delta_t` the gradient on the pre-activation of step
    :math:`t` (what :func:`rnn_step_backward` computes from :math:`dh = \bar{h}_t`). The parameters are
    shared by all steps, so their gradients are sums of every step's local term, each computed after the
    loop as one product over batch and time:

    .. math:: dW_{xh} = \sum_t \delta_t x_t^\top,\quad dW_{hh} = \sum_t \delta_t h_{t-1}^\top,\quad
              db_h = \sum_t \delta_t,\quad dx_t = W_{xh}^\top \delta_t.

    With truncation, every ``dhs[:, t]`` is propagated separately through steps ``t`` down to ``t - k + 1``
    (cost :math:`O(Tk)`: up to ``k`` gradients travel side by side), and :math:`\delta_t` is the sum of those
    that pass step ``t``; this is the gradient of :math:`\sum_t \mathcal{L}_t` when :math:`h_{t-k}` is treated
    as a constant for the loss at step ``t``. Chapters 3 (BPTT) and 7 (truncated BPTT).
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
    D = x.shape[2]
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
    # parameter and input gradients: every step's local term, summed over batch and time in one product
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # h_{t-1} at index t: (B, T, H)
    delta_bt = delta.reshape(B * T, H)  # (batch, time) flattened: one row per delta_t
    dW_xh = delta_bt.T @ x.reshape(B * T, D)  # dW_xh = sum_t delta_t x_t^T
    dW_hh = delta_bt.T @ h_prev.reshape(B * T, H)  # dW_hh = sum_t delta_t h_{t-1}^T
    db_h = delta_bt.sum(axis=0)  # db_h = sum_t delta_t
    dx = (delta_bt @ W_xh).reshape(B, T, D)  # dx_t = W_xh^T delta_t
    return dx, dh0, dW_xh, dW_hh, db_h


# ------------------------------------------------------------------------------------------------ embedding
def embedding_forward(ids, W_embed):
    r"""Look up one row of ``W_embed`` per token id.

    Parameters
    ----------
    ids : ndarray of int, shape (B, T) (or (B,))
        Token ids in ``0 .. V-1``.
    W_embed : ndarray, shape (V, D)

    Returns
    -------
    x : ndarray, shape (B, T, D) (or (B, D))
    cache : tuple
        ``(ids, V)`` for :func:`embedding_backward`.

    Notes
    -----
    :math:`x_t = W_{embed}^\top e_{i_t}`, i.e. row :math:`i_t` of :math:`W_{embed}`, with :math:`e_i` the
    one-hot vector of token :math:`i`. Chapter 4 (character language model).
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
    r"""Backward pass of :func:`embedding_forward`.

    Parameters
    ----------
    dx : ndarray, shape (B, T, D) (or (B, D))
    cache : tuple
        The cache returned by :func:`embedding_forward`.

    Returns
    -------
    dW_embed : ndarray, shape (V, D)

    Notes
    -----
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
    r"""Output layer applied to every position: ``y = W_hy h + b_y``.

    Parameters
    ----------
    h : ndarray, shape (..., H)
        Hidden states, e.g. (B, T, H) or (B, H).
    W_hy : ndarray, shape (V, H)
    b_y : ndarray, shape (V,)

    Returns
    -------
    y : ndarray, shape (..., V)
    cache : tuple
        ``(h, W_hy)`` for :func:`affine_backward`.

    Notes
    -----
    .. math:: y_t = W_{hy} h_t + b_y

    Chapters 1 and 4.
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
    r"""Backward pass of :func:`affine_forward`.

    Parameters
    ----------
    dy : ndarray, shape (..., V)
    cache : tuple
        The cache returned by :func:`affine_forward`.

    Returns
    -------
    dh : ndarray, shape (..., H)
    dW_hy : ndarray, shape (V, H)
    db_y : ndarray, shape (V,)

    Notes
    -----
    :math:`dh_t = W_{hy}^\top dy_t`, :math:`dW_{hy} = \sum_t dy_t h_t^\top`, :math:`db_y = \sum_t dy_t`
    (sums over every position). Chapter 4.
    """
    h, W_hy = _check_cache("affine_backward", cache, 2, "affine_forward")
    _check_grad("dy", dy, h.shape[:-1] + (W_hy.shape[0],), h)
    dy2, h2 = dy.reshape(-1, dy.shape[-1]), h.reshape(-1, h.shape[-1])  # a row per position
    return (dy2 @ W_hy).reshape(h.shape), dy2.T @ h2, dy2.sum(axis=0)


# ------------------------------------------------------------------------------------------------- softmax
def softmax(z, axis=-1):
    r"""Numerically stable softmax along ``axis``.

    Parameters
    ----------
    z : ndarray, any shape
        Logits (finite).
    axis : int

    Returns
    -------
    p : ndarray, shape of ``z``
        Non-negative, summing to 1 along ``axis``.

    Notes
    -----
    :math:`p_i = e^{z_i - m} / \sum_j e^{z_j - m}` with :math:`m = \max_j z_j`, which equals
    :math:`e^{z_i}/\sum_j e^{z_j}` but never overflows. Chapter 4.
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

    Parameters
    ----------
    logits : ndarray, shape (..., V)
        E.g. (B, T, V) or (N, V).
    targets : ndarray of int, shape (...)
        Target ids in ``0 .. V-1``.
    mask : ndarray of bool (or 0/1 floats), shape (...), optional
        Positions that count; all of them when None.

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (..., V)
        Gradient of ``loss``; zero at masked positions.

    Notes
    -----
    With :math:`p_t = \mathrm{softmax}(y_t)`, :math:`N` the number of unmasked positions and :math:`m_t` the
    mask,

    .. math:: \mathcal{L} = -\frac{1}{N}\sum_t m_t \log p_{t, c_t}, \qquad
              \frac{\partial \mathcal{L}}{\partial y_t} = \frac{m_t}{N}\,(p_t - e_{c_t}).

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
