r"""Truncated backpropagation through time (chapter 7).

Two meanings of "truncated" appear in the literature and both live here.

**The course's form, reach** ``k``. The forward pass runs over the whole sequence as usual; the gradient of
each loss :math:`L_t` is followed back at most ``k`` steps, through :math:`h_t, \dots, h_{t-k+1}`:

.. math:: \widetilde{\frac{\partial L}{\partial W}} = \sum_{t=1}^{T} \sum_{s=\max(1, t-k+1)}^{t}
          \frac{\partial L_t}{\partial h_t}
          \Big(\prod_{j=s+1}^{t} \frac{\partial h_j}{\partial h_{j-1}}\Big) \frac{\partial^+ h_s}{\partial W},

where :math:`\partial^+ h_s / \partial W` is the immediate dependence (the previous state held constant).
``k = 1`` keeps only the immediate term, ``k >= T`` is full BPTT. The sum over ``t`` is a sum of one gradient
per *window* ``[t-k+1, t]``, each for the same ``W``. Numpy: :func:`truncated_gradients` (built on
``reference.rnn_backward(dhs, cache, k)``) and :func:`window_gradients`; torch: :func:`truncated_backward`.

**TBPTT(k1, k2)** (Williams & Peng 1990). Every ``k1`` steps the losses of those ``k1`` steps are
backpropagated ``k2`` steps into the past and the parameters are updated; the state is carried forward.
``k1 = k2 = k`` is "detach the state every ``k`` steps", the usual way to train a stateful RNN on a long
stream (Sutskever 2013; Mikolov 2012). ``k2 < k1`` is not supported (the early losses of a block would lie
outside the window they are backpropagated through). See :func:`tbptt_segments`, :func:`tbptt_windows`,
:func:`tbptt_gradients`, and for one long sequence cut into ``B`` parallel streams :func:`to_streams` /
:func:`stream_batches`. :func:`train_on_sequence` trains on one sequence with TBPTT(k, k) or full BPTT (for
the benchmarks); :class:`SavedTensorMeter` measures the memory the autograd graph keeps for the backward pass.

Models. The torch functions need a *stateful* model with an output at every step: a callable
``model(x, h0=h, return_state=True) -> (y, h_n)`` such as :class:`rnncourse.topologies.ManyToMany`, or an
:class:`rnncourse.modules.RNN` (whose output is ``hs``). Inputs are batch first, ``x (B, T, ...)``, states
``(L, B, H)``. The loss is a sum of per-step terms ``step_loss(y[:, t], target[:, t])`` (default:
cross-entropy for integer targets, mean squared error for float targets).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ._validate import check_array, check_dim, check_positive_int
from .modules import RNN

__all__ = [
    "truncated_gradients",
    "window_gradients",
    "truncated_backward",
    "Segment",
    "tbptt_segments",
    "Window",
    "tbptt_windows",
    "tbptt_gradients",
    "to_streams",
    "stream_batches",
    "train_on_sequence",
    "SavedTensorMeter",
]


# ----------------------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------------------


def _check_k(name: str, k, *, allow_none: bool = False):
    if k is None and allow_none:
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive integer (the number of steps){' or None' if allow_none else ''}, "
            f"got {k!r} of type {type(k).__name__}."
        )
    if k <= 0:
        raise ValueError(
            f"{name} must be a positive integer (the number of steps), got {k}; {name} = 1 keeps only the "
            "immediate dependence, a large value gives full BPTT."
        )
    return int(k)


def _check_k1_k2(k1, k2):
    k1 = _check_k("k1", k1)
    k2 = k1 if k2 is None else _check_k("k2", k2)
    if k2 < k1:
        raise ValueError(
            f"TBPTT(k1, k2) with k2 < k1 is not supported, got k1={k1}, k2={k2}: the first k1 - k2 losses of "
            "each block would lie outside the k2-step window they are backpropagated through. Use k2 >= k1 "
            "(k2 = k1 detaches the state every k1 steps)."
        )
    return k1, k2


def _default_step_loss(y_t: torch.Tensor, target_t: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (mean over the batch) for integer targets, mean squared error for float targets."""
    if target_t.is_floating_point():
        return F.mse_loss(y_t, target_t)
    return F.cross_entropy(y_t.reshape(-1, y_t.shape[-1]), target_t.reshape(-1))


def _steps_loss(y_hat: torch.Tensor, target: torch.Tensor, step_loss: Callable | None, reduction: str):
    r"""``step_loss(y_hat[:, j], target[:, j])`` over the ``n`` steps of a window, summed or averaged.

    ``y_hat`` (B, n, ...) and ``target`` (B, n, ...); ``reduction`` "sum" gives :math:`\sum_j L_j`, "mean"
    :math:`\frac{1}{n}\sum_j L_j`. The default loss is a mean over the positions of one step and every step
    has as many, so the mean over the steps is one mean over the whole window: one call (times ``n`` for
    the sum). Slicing the steps one by one instead would make the backward pass fill a gradient buffer the
    size of ``y_hat`` for every step (work growing with :math:`n^2`). A custom ``step_loss`` is called once
    per step, on the views of one ``unbind`` (a single backward node).
    """
    n = y_hat.shape[1]
    if step_loss is None:
        mean = _default_step_loss(y_hat, target)
        return mean if reduction == "mean" else mean * n
    total = sum(step_loss(y_j, target[:, j]) for j, y_j in enumerate(y_hat.unbind(1)))
    return total / n if reduction == "mean" else total


def _check_model(model):
    if not callable(model):
        raise TypeError(f"model must be a callable torch module, got {type(model).__name__}.")
    if not isinstance(model, RNN) and (
        getattr(model, "teacher_forced", False) or not getattr(model, "per_step_output", True)
    ):
        raise TypeError(
            f"{type(model).__name__} has no output at every step of its input; truncated BPTT needs a "
            "stateful model with model(x, h0=h, return_state=True) -> (y (B, T, ...), h_n), e.g. ManyToMany."
        )
    return model


def _run(model, x, h):
    """One call of a stateful model: (y (B, T, ...), h_n (L, B, H))."""
    if isinstance(model, RNN):
        return model(x, h)
    out = model(x, h0=h, return_state=True)
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(
            f"{type(model).__name__}(x, h0=h, return_state=True) must return (y, h_n), got "
            f"{type(out).__name__}; truncated BPTT needs a stateful model such as ManyToMany or RNN."
        )
    return out


def _check_sequence_pair(x, y):
    for name, a in (("x", x), ("y", y)):
        if not isinstance(a, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor, got {type(a).__name__}; "
                f"convert it with torch.as_tensor({name})."
            )
        if a.ndim < 2:
            raise ValueError(
                f"{name} must be batch first with a time axis, shape (B, T, ...), got shape "
                f"{tuple(a.shape)}; add a batch axis with a[None]."
            )
    check_dim("y", y, 0, x.shape[0], "x and y must have the same batch size B.")
    check_dim("y", y, 1, x.shape[1], "x and y must have the same number of time steps T.")
    if x.shape[1] == 0:
        raise ValueError(f"x has T = 0 time steps (shape {tuple(x.shape)}), expected T >= 1.")
    for name, a in (("x", x), ("y", y)):
        if a.is_floating_point() and not bool(torch.isfinite(a).all()):
            raise ValueError(f"{name} contains NaN or infinite values; all entries must be finite.")
    return x.shape[1]


# ----------------------------------------------------------------------------------------------------------
# the course's form: numpy
# ----------------------------------------------------------------------------------------------------------


def truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, k=None):
    r"""Gradients of a vanilla RNN where the upstream gradient of each step travels at most ``k`` steps back.

    A thin wrapper: :func:`rnncourse.reference.rnn_forward` then
    :func:`rnncourse.reference.rnn_backward` with ``k``.

    Parameters
    ----------
    x : ndarray, shape (B, T, D)
    h0 : ndarray, shape (B, H)
    W_xh : ndarray, shape (H, D)
    W_hh : ndarray, shape (H, H)
    b_h : ndarray, shape (H,)
    dhs : ndarray, shape (B, T, H)
        :math:`\partial L_t / \partial h_t` for every step (the upstream gradient of each loss).
    k : int or None
        The reach: ``dhs[:, t]`` flows through steps ``t-k+1..t``; None or ``k >= T`` is full BPTT.

    Returns
    -------
    dx : ndarray, shape (B, T, D)
    dh0 : ndarray, shape (B, H)
        Non-zero only from the losses whose window reaches the start (``t < k``).
    dW_xh : ndarray, shape (H, D)
    dW_hh : ndarray, shape (H, H)
    db_h : ndarray, shape (H,)

    Notes
    -----
    .. math:: \widetilde{\frac{\partial L}{\partial W}} = \sum_{t} \sum_{s=\max(1,t-k+1)}^{t}
              \frac{\partial L_t}{\partial h_t}
              \Big(\prod_{j=s+1}^{t} \frac{\partial h_j}{\partial h_{j-1}}\Big)
              \frac{\partial^+ h_s}{\partial W},
              \qquad \frac{\partial h_j}{\partial h_{j-1}} = \operatorname{diag}(1 - h_j^2)\, W_{hh}.

    Cost: one forward and one backward of ``O(T k)`` step products. Chapter 7.
    """
    from .reference import _check_grad, _rnn_backward, rnn_forward

    k = _check_k("k", k, allow_none=True)
    check_array("dhs", dhs, 3, finite=False)
    hs, cache = rnn_forward(x, h0, W_xh, W_hh, b_h)
    if dhs.shape != hs.shape:
        raise ValueError(
            f"dhs must have the shape of the hidden states (B, T, H) = {hs.shape}, got {dhs.shape}; pass one "
            "upstream gradient per step."
        )
    _check_grad("dhs", dhs, hs.shape, hs)  # a finite numpy array of the forward pass's dtype (checked once)
    return _rnn_backward(dhs, cache, k)


def window_gradients(x, h0, W_xh, W_hh, b_h, dhs, k):
    r"""The truncated gradient split into one gradient per window, each computed from scratch.

    For every step ``t`` the window ``[s, t]`` with ``s = max(0, t-k+1)`` (0-based) is run forward again
    from the state :math:`h_{s-1}` of the full forward pass (a constant), and only ``dhs[:, t]`` is
    backpropagated, through the whole window. Summing the windows gives :func:`truncated_gradients`.

    Parameters
    ----------
    x, h0, W_xh, W_hh, b_h, dhs
        As in :func:`truncated_gradients`.
    k : int
        The reach, ``k >= 1``.

    Returns
    -------
    list of tuple (dW_xh (H, D), dW_hh (H, H), db_h (H,))
        One entry per step ``t = 0..T-1``: the contribution of :math:`L_t`.

    Notes
    -----
    .. math:: g_t = \sum_{s=\max(1,t-k+1)}^{t} \frac{\partial L_t}{\partial h_t}
              \Big(\prod_{j=s+1}^{t} \frac{\partial h_j}{\partial h_{j-1}}\Big)
              \frac{\partial^+ h_s}{\partial W}, \qquad \widetilde{\nabla_W L} = \sum_t g_t.

    ``T`` windows of at most ``k`` steps: ``O(T k)`` work, the same as the direct computation but with one
    backward per loss. Chapter 7.
    """
    from .reference import _check_grad, _rnn_backward, _rnn_forward, rnn_forward

    k = _check_k("k", k)
    check_array("dhs", dhs, 3, finite=False)
    hs, _ = rnn_forward(x, h0, W_xh, W_hh, b_h)
    if dhs.shape != hs.shape:
        raise ValueError(
            f"dhs must have the shape of the hidden states (B, T, H) = {hs.shape}, got {dhs.shape}; pass one "
            "upstream gradient per step."
        )
    _check_grad("dhs", dhs, hs.shape, hs)
    out = []
    for t in range(hs.shape[1]):  # the arrays are checked: the windows use the unchecked internals
        s = max(0, t - k + 1)
        h_start = h0 if s == 0 else hs[:, s - 1]
        _, cache = _rnn_forward(x[:, s : t + 1], h_start, W_xh, W_hh, b_h)
        d = np.zeros((hs.shape[0], t + 1 - s, hs.shape[2]), dtype=hs.dtype)
        d[:, -1] = dhs[:, t]
        _, _, dW_xh, dW_hh, db_h = _rnn_backward(d, cache)
        out.append((dW_xh, dW_hh, db_h))
    return out


# ----------------------------------------------------------------------------------------------------------
# the course's form: torch
# ----------------------------------------------------------------------------------------------------------


def _states_before(model, x, h0):
    """With no graph: the state before every step, ``S[t]`` (L, B, H) for t = 0..T, and the outputs."""
    T = x.shape[1]
    with torch.no_grad():
        h = None if h0 is None else h0.detach()
        states, ys = [], []
        for t in range(T):
            y_t, h_next = _run(model, x[:, t : t + 1], h)
            if h is None:
                h = torch.zeros_like(h_next)
            states.append(h)
            ys.append(y_t)
            h = h_next
        states.append(h)
    return states, torch.cat(ys, 1)


def truncated_backward(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    k: int | None,
    *,
    h0: torch.Tensor | None = None,
    step_loss: Callable | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Accumulate into ``.grad`` the gradient where each loss :math:`L_t` flows back at most ``k`` steps.

    The torch counterpart of :func:`truncated_gradients` for any stateful model (the course's form; not
    TBPTT(k1, k2), see :func:`tbptt_windows`). Like ``loss.backward()`` it adds to existing ``.grad``.

    Parameters
    ----------
    model : ManyToMany, RNN, or a callable ``model(x, h0=h, return_state=True) -> (y, h_n)``
    x : Tensor, shape (B, T, ...)
        Inputs, as the model takes them.
    y : Tensor, shape (B, T, ...)
        Targets of every step.
    k : int or None
        The reach; None or ``k >= T`` gives full BPTT.
    h0 : Tensor, shape (L, B, H), optional
        Initial state (zeros when None); receives a gradient from the windows that reach step 0.
    step_loss : callable, optional
        ``step_loss(y_t (B, ...), target_t (B, ...)) -> scalar``; default cross-entropy (integer targets) or
        mean squared error (float targets).
    reduction : {"mean", "sum"}
        :math:`L = \frac{1}{T}\sum_t L_t` or :math:`L = \sum_t L_t`.

    Returns
    -------
    loss : Tensor, shape ()
        The loss of the whole sequence (no graph).

    Notes
    -----
    .. math:: \widetilde{\nabla_W L} = \sum_t \sum_{s=\max(1,t-k+1)}^{t} \frac{\partial L_t}{\partial h_t}
              \Big(\prod_{j=s+1}^{t} \frac{\partial h_j}{\partial h_{j-1}}\Big)
              \frac{\partial^+ h_s}{\partial W}

    Algorithm and cost. A forward pass without a graph records the state before every step. Windows
    ``[t-k+1, t]`` with ``t < k`` start at step 0: one ordinary BPTT over the first ``min(k, T)`` steps
    covers them all. The other windows are grouped by ``t mod k``: windows of one group do not overlap, so
    they are stacked along the batch axis, each started from its recorded (constant, detached) state, and
    run as one batch of ``k`` steps with the loss only at their last step; one ``backward`` per group.
    Work: about ``k T`` recurrent steps in ``k + 1`` batched passes (``k`` times a full BPTT); memory:
    one group's graph, about ``T`` steps of activations, like full BPTT. Chapter 7.
    """
    _check_model(model)
    T = _check_sequence_pair(x, y)
    k = T if k is None else _check_k("k", k)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}.")
    scale = 1.0 / T if reduction == "mean" else 1.0
    B = x.shape[0]

    # windows that start at step 0: t = 0..min(k, T)-1, one ordinary BPTT over that prefix
    P = min(k, T)
    out, _ = _run(model, x[:, :P], h0)
    loss = _steps_loss(out, y[:, :P], step_loss, "sum") * scale  # sum_{t < P} L_t (times 1/T for "mean")
    loss.backward()
    total = loss.detach()
    if k >= T:
        return total

    states, _ = _states_before(model, x, h0)
    for r in range(k):
        ts = list(range(k + r, T, k))  # windows [t-k+1, t] with t-k+1 >= 1 and t = k + r (mod k)
        if not ts:
            continue
        xw = torch.cat([x[:, t - k + 1 : t + 1] for t in ts], 0)
        hw = torch.cat([states[t - k + 1] for t in ts], 1)
        out, _ = _run(model, xw, hw)
        last = out[:, -1].reshape(len(ts), B, *out.shape[2:]).transpose(0, 1)  # (B, len(ts), ...): y_hat_t
        loss = _steps_loss(last, y[:, ts], step_loss, "sum") * scale  # the sum of the group's L_t
        loss.backward()
        total = total + loss.detach()
    return total


# ----------------------------------------------------------------------------------------------------------
# TBPTT(k1, k2)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    r"""One update of TBPTT(k1, k2), in 0-based, half-open step indices.

    Attributes
    ----------
    start : int
        First step of the backward window (the state before it is a constant).
    loss_start : int
        First step whose loss belongs to this update (``stop - loss_start <= k1``).
    stop : int
        One past the last step (the update time is ``stop - 1``).

    Notes
    -----
    In 1-based math notation the update at :math:`\tau = \text{stop}` backpropagates the losses
    :math:`L_{\text{loss\_start}+1}, \dots, L_\tau` through :math:`h_\tau, \dots, h_{\text{start}+1}`.
    Chapter 7.
    """

    start: int
    loss_start: int
    stop: int


def tbptt_segments(T: int, k1: int, k2: int | None = None) -> list[Segment]:
    r"""The update plan of TBPTT(k1, k2) over a sequence of ``T`` steps.

    Parameters
    ----------
    T : int
        Sequence length, at least ``k1`` (one segment).
    k1 : int
        Steps between two updates; the losses of these steps are used at the update.
    k2 : int, optional
        Steps the gradient is backpropagated from the update time (default ``k1``); ``k2 >= k1``.

    Returns
    -------
    list of Segment
        Update ``m`` takes the losses of steps ``[m k1, min((m+1) k1, T))`` and backpropagates them through
        ``[max(0, m k1 - (k2 - k1)), stop)``. A last block shorter than ``k1`` keeps the same start rule, so
        that TBPTT(k, k) is exactly "detach every ``k`` steps".

    Notes
    -----
    Williams & Peng (1990): at :math:`\tau = k_1, 2k_1, \dots`,

    .. math:: \Delta W \propto -\sum_{t=\tau-k_1+1}^{\tau} \sum_{s=\tau-k_2+1}^{t}
              \frac{\partial L_t}{\partial h_t}
              \Big(\prod_{j=s+1}^{t}\frac{\partial h_j}{\partial h_{j-1}}\Big)
              \frac{\partial^+ h_s}{\partial W}.

    Chapter 7.
    """
    T = check_positive_int("T", T)
    k1, k2 = _check_k1_k2(k1, k2)
    if T < k1:
        raise ValueError(
            f"The sequence has T={T} steps, shorter than one segment of k1={k1} steps; use k1 <= T "
            "(or a longer sequence)."
        )
    out = []
    for loss_start in range(0, T, k1):
        out.append(Segment(max(0, loss_start - (k2 - k1)), loss_start, min(loss_start + k1, T)))
    return out


@dataclass
class Window:
    """What :func:`tbptt_windows` yields for one update.

    Attributes
    ----------
    index : int
    segment : Segment
    loss : Tensor, shape ()
        Mean of ``step_loss`` over the block's steps, with its graph back to ``segment.start``.
    y : Tensor, shape (B, stop - start, ...)
        The model's outputs over the window.
    h_start : Tensor, shape (L, B, H) or None
        The state the window started from: ``h0`` for a window at step 0, else a carried, detached state.
    h_end : Tensor, shape (L, B, H)
        The state after the window (with its graph).

    Notes
    -----
    ``window.loss.backward()`` computes the TBPTT gradient of this update; the next window starts from a
    detached copy of the state. Chapter 7.
    """

    index: int
    segment: Segment
    loss: torch.Tensor
    y: torch.Tensor
    h_start: torch.Tensor | None
    h_end: torch.Tensor


def tbptt_windows(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    k1: int,
    k2: int | None = None,
    *,
    h0: torch.Tensor | None = None,
    step_loss: Callable | None = None,
) -> Iterator[Window]:
    r"""Run TBPTT(k1, k2) over a batch of sequences, one :class:`Window` per update.

    A generator: the caller calls ``window.loss.backward()`` and, when training, updates the parameters
    before asking for the next window. The state is carried forward detached.

    Parameters
    ----------
    model : ManyToMany, RNN, or a callable ``model(x, h0=h, return_state=True) -> (y, h_n)``
    x : Tensor, shape (B, T, ...)
    y : Tensor, shape (B, T, ...)
    k1, k2 : int
        See :func:`tbptt_segments`.
    h0 : Tensor, shape (L, B, H), optional
    step_loss : callable, optional
        As in :func:`truncated_backward`.

    Yields
    ------
    Window

    Notes
    -----
    For ``k2 > k1`` consecutive windows overlap by ``k2 - k1`` steps: each window is run again from the
    detached state at its start, recorded during the previous window, so the overlap is computed twice
    (work :math:`\approx T k_2 / k_1` steps, memory ``k2`` steps of graph). When the parameters change
    between windows, the carried state was computed with the previous parameters (as in any stateful
    training); with fixed parameters the gradients are exact (see :func:`tbptt_gradients`). Chapter 7.
    """
    _check_model(model)
    T = _check_sequence_pair(x, y)
    segments = tbptt_segments(T, k1, k2)
    h_carry = h0
    for m, seg in enumerate(segments):
        nxt = segments[m + 1].start if m + 1 < len(segments) else None
        h_start = h_carry
        if nxt is not None and seg.start < nxt < seg.stop:
            out1, h_mid = _run(model, x[:, seg.start : nxt], h_start)
            out2, h_end = _run(model, x[:, nxt : seg.stop], h_mid)
            out = torch.cat([out1, out2], 1)
            h_next = h_mid.detach()
        else:
            out, h_end = _run(model, x[:, seg.start : seg.stop], h_start)
            h_next = h_end.detach() if nxt == seg.stop else h_start
        # the mean of the block's losses L_t, t in [loss_start, stop), in one call over its outputs
        y_hat, target = out[:, seg.loss_start - seg.start :], y[:, seg.loss_start : seg.stop]
        loss = _steps_loss(y_hat, target, step_loss, "mean")
        yield Window(m, seg, loss, out, h_start, h_end)
        h_carry = h_next


def tbptt_gradients(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    k1: int,
    k2: int | None = None,
    *,
    h0: torch.Tensor | None = None,
    step_loss: Callable | None = None,
) -> list[dict[str, torch.Tensor]]:
    """The gradient of every TBPTT(k1, k2) update, with the parameters held fixed.

    Parameters
    ----------
    model, x, y, k1, k2, h0, step_loss
        As in :func:`tbptt_windows`.

    Returns
    -------
    list of dict
        One dict per update (see :func:`tbptt_segments`), parameter name -> gradient of the window loss
        (same shape as the parameter; zeros for a parameter the window does not reach). ``.grad`` is left
        untouched.

    Notes
    -----
    Chapter 7.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    out = []
    for w in tbptt_windows(model, x, y, k1, k2, h0=h0, step_loss=step_loss):
        grads = torch.autograd.grad(w.loss, [p for _, p in named], allow_unused=True)
        out.append(
            {n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(named, grads, strict=True)}
        )
    return out


# ----------------------------------------------------------------------------------------------------------
# stream batching
# ----------------------------------------------------------------------------------------------------------


def to_streams(seq, batch_size: int):
    """Cut one long sequence into ``B`` parallel streams, row ``b`` holding the ``b``-th contiguous piece.

    Parameters
    ----------
    seq : Tensor or ndarray, shape (N, ...)
    batch_size : int
        ``B``; the last ``N mod B`` items are dropped.

    Returns
    -------
    Tensor or ndarray, shape (B, N // B, ...)
        ``out[b, j] = seq[b * (N // B) + j]``.

    Notes
    -----
    Chapter 7 (and the character language model of chapter 4).
    """
    B = check_positive_int("batch_size", batch_size)
    if not hasattr(seq, "shape") or len(seq.shape) < 1:
        raise TypeError(
            f"seq must be an array or tensor of shape (N, ...), got {type(seq).__name__}; convert it with "
            "numpy.asarray or torch.as_tensor."
        )
    N = seq.shape[0]
    if N < B:
        raise ValueError(
            f"The sequence has N={N} items, fewer than batch_size={B} streams; use a smaller batch_size."
        )
    L = N // B
    return seq[: B * L].reshape(B, L, *seq.shape[1:])


def stream_batches(x, y=None, *, batch_size: int, seq_len: int, drop_last: bool = False):
    """Batches for stateful training on one long sequence: row ``b`` of batch ``i`` continues row ``b`` of
    batch ``i - 1``.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, ...)
        The inputs, one long sequence.
    y : Tensor or ndarray, shape (N, ...), optional
        Targets aligned with ``x`` (e.g. ``x = ids[:-1]``, ``y = ids[1:]`` for next-token prediction).
    batch_size : int
        ``B`` streams.
    seq_len : int
        ``k``, steps per batch (the TBPTT segment).
    drop_last : bool
        Drop a last batch shorter than ``seq_len``.

    Returns
    -------
    list of Tensor/ndarray (B, seq_len, ...), or of tuples (x_i, y_i) when ``y`` is given

    Notes
    -----
    With ``L = N // B``, batch ``i`` holds ``x[b L + i k + j]`` at ``[b, j]``. Carry the final state of batch
    ``i - 1`` into batch ``i``, detached (TBPTT(k, k)): :func:`tbptt_windows` does this on
    ``to_streams(x, B)``. Chapter 7.
    """
    k = _check_k("seq_len", seq_len)
    xs = to_streams(x, batch_size)
    L = xs.shape[1]
    if L < k:
        raise ValueError(
            f"Each of the {batch_size} streams has {L} steps, shorter than one segment of seq_len={k}; use a "
            "smaller batch_size or seq_len."
        )
    if y is not None:
        if not hasattr(y, "shape") or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"y must have the length of x (N = {x.shape[0]}), got shape {tuple(getattr(y, 'shape', ()))}."
            )
        ys = to_streams(y, batch_size)
    stops = range(k, L + 1, k) if drop_last else range(k, L + k, k)
    out = []
    for stop in stops:
        start, stop = stop - k, min(stop, L)
        if start >= L:
            break
        out.append(xs[:, start:stop] if y is None else (xs[:, start:stop], ys[:, start:stop]))
    return out


# ----------------------------------------------------------------------------------------------------------
# training on one sequence (benchmarks) and memory measurement
# ----------------------------------------------------------------------------------------------------------


def train_on_sequence(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    k: int | None = None,
    *,
    h0: torch.Tensor | None = None,
    step_loss: Callable | None = None,
    clip_norm: float | None = None,
) -> list[float]:
    """One pass over a batch of sequences with TBPTT(k, k) (an update every ``k`` steps) or full BPTT.

    Parameters
    ----------
    model : ManyToMany, RNN, or a stateful callable (see :func:`tbptt_windows`)
    x : Tensor, shape (B, T, ...)
    y : Tensor, shape (B, T, ...)
    optimizer : torch.optim.Optimizer
    k : int, optional
        Segment length; None (or ``k >= T``) is full BPTT: one backward through all ``T`` steps, one update.
    h0 : Tensor, shape (L, B, H), optional
    step_loss : callable, optional
    clip_norm : float, optional
        Clip the gradient norm (``torch.nn.utils.clip_grad_norm_``) before each update.

    Returns
    -------
    list of float
        The loss of every update.

    Notes
    -----
    The graph kept for the backward pass spans ``k`` steps (TBPTT) or ``T`` steps (full BPTT): memory is
    flat in ``T`` for TBPTT and grows linearly for full BPTT; the work is ``T`` steps either way. Used by the
    benchmarks and chapter 7.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    T = _check_sequence_pair(x, y)
    k = T if k is None else min(_check_k("k", k), T)
    losses = []
    for w in tbptt_windows(model, x, y, k, k, h0=h0, step_loss=step_loss):
        optimizer.zero_grad(set_to_none=True)
        w.loss.backward()
        if clip_norm is not None:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()
        losses.append(float(w.loss.detach()))
    return losses


class _Packed:
    __slots__ = ("tensor", "key", "meter", "__weakref__")

    def __init__(self, tensor, key, meter):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self):
        self.meter._release(self.key)


class SavedTensorMeter:
    """Measure the bytes of tensors the autograd graph saves for the backward pass (live and peak).

    Use as a context manager around forward and backward passes; each distinct tensor (or view) counts once,
    with its own size, and is released when the graph that saved it is freed (after ``backward``).

    Attributes
    ----------
    current_bytes : int
        Bytes held now.
    peak_bytes : int
        The largest value of ``current_bytes`` seen.

    Notes
    -----
    A deterministic, device-independent measure of the activation memory of BPTT: it grows linearly with
    the number of steps in the graph (``T`` for full BPTT, ``k`` for TBPTT(k, k)), plus the parameters
    the graph saves. Chapter 7.

    Examples
    --------
    >>> with SavedTensorMeter() as meter:                                      # doctest: +SKIP
    ...     model(x).sum().backward()
    >>> meter.peak_bytes                                                        # doctest: +SKIP
    """

    def __init__(self):
        self.current_bytes = 0
        self.peak_bytes = 0
        self._refs: dict[tuple, int] = {}
        self._sizes: dict[tuple, int] = {}
        self._ctx = None

    def _pack(self, t: torch.Tensor):
        # a view counts with its own size (a slice of a long target sequence is not the whole sequence)
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key not in self._refs:
            nbytes = t.numel() * t.element_size()
            self._refs[key] = 0
            self._sizes[key] = nbytes
            self.current_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        self._refs[key] += 1
        return _Packed(t, key, self)

    @staticmethod
    def _unpack(packed: _Packed) -> torch.Tensor:
        return packed.tensor

    def _release(self, key):
        n = self._refs.get(key)
        if n is None:
            return
        if n <= 1:
            del self._refs[key]
            self.current_bytes -= self._sizes.pop(key)
        else:
            self._refs[key] = n - 1

    def reset_peak(self) -> None:
        """Set ``peak_bytes`` to ``current_bytes``."""
        self.peak_bytes = self.current_bytes

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        self._ctx = None
        return False
