r"""Truncated backpropagation through time (chapter 7).

**The course's form, reach** ``k``: the forward pass runs over the whole sequence; the gradient of each loss
:math:`\mathcal{L}_t` is followed back at most ``k`` steps, through :math:`h_t, \dots, h_{t-k+1}`:

.. math:: \widetilde{\nabla}_{\theta} \mathcal{L} = \sum_{t=1}^{T} \sum_{s=\max(1, t-k+1)}^{t}
          \frac{\partial \mathcal{L}_t}{\partial h_t}
          \Big(\prod_{j=s+1}^{t} J_j\Big) \frac{\partial^+ h_s}{\partial \theta},

with the Jacobians :math:`J_j = \partial h_j / \partial h_{j-1}` and :math:`\partial^+ h_s / \partial \theta`
the immediate dependence on the parameters. ``k = 1`` keeps the immediate term, ``k >= T`` is full BPTT.
Numpy: :func:`truncated_gradients`, :func:`window_gradients`; torch: :func:`truncated_backward`.

**TBPTT(k1, k2)** (Williams & Peng 1990): every ``k1`` steps the losses of those steps are backpropagated
``k2 >= k1`` steps and the parameters updated, the state carried forward (:func:`tbptt_segments`,
:func:`tbptt_windows`, :func:`tbptt_gradients`). ``k1 = k2 = k`` is "detach the state every ``k`` steps",
the usual stateful training on a long stream: :func:`stream_windows` cuts it into ``B`` parallel streams
(:func:`to_streams`) and :func:`carried_state` is the loss function of :func:`rnncourse.training.fit`
that carries the state. :class:`SavedTensorMeter` counts the memory the graph keeps for the backward pass.

Models are stateful, ``model(x, h0=h, return_state=True) -> (y, h_n)`` (``ManyToMany``) or an
:class:`rnncourse.modules.RNN`; batch first, ``x (B, T, ...)``, states ``(L, B, H)`` or, for the LSTM,
:class:`~rnncourse.modules.LSTMState` ``(h, c)`` of two such tensors (chapter 11).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_array, check_dim, check_positive_int, check_tensor
from .modules import RNN, LSTMState
from .training import _as_tensor, default_loss

__all__ = [
    "truncated_gradients", "window_gradients", "truncated_backward", "Segment", "tbptt_segments", "Window",
    "tbptt_windows", "tbptt_gradients", "to_streams", "stream_windows", "carried_state", "SavedTensorMeter",
]


def _check_k1_k2(k1, k2):
    k1 = check_positive_int("k1", k1)
    k2 = k1 if k2 is None else check_positive_int("k2", k2)
    if k2 < k1:
        raise ValueError(
            f"TBPTT(k1, k2) with k2 < k1 is not supported, got k1={k1}, k2={k2}: the first k1 - k2 losses of "
            "each block would lie outside the k2-step window they are backpropagated through. Use k2 >= k1 "
            "(k2 = k1 detaches the state every k1 steps)."
        )
    return k1, k2


def _steps_loss(y: torch.Tensor, target: torch.Tensor, step_loss: Callable | None, reduction: str):
    r"""``step_loss(y[:, j], target[:, j])`` over the ``n`` steps of a window, summed or averaged. The default
    (a mean over the positions of a step) is one :func:`~rnncourse.training.default_loss` over the window:
    ``n`` slices would each make the backward fill a buffer the size of ``y``."""
    n = y.shape[1]
    if step_loss is None:
        mean = default_loss(y, target)
        return mean if reduction == "mean" else mean * n
    total = sum(step_loss(y_j, target[:, j]) for j, y_j in enumerate(y.unbind(1)))
    return total / n if reduction == "mean" else total


def _run(model, x, h):
    """One call of a stateful model: (y (B, T, ...), h_n (L, B, H))."""
    if isinstance(model, RNN):
        return model(x, h)
    ok = callable(model) and getattr(model, "per_step_output", True)
    out = model(x, h0=h, return_state=True) if ok and not getattr(model, "teacher_forced", False) else None
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(
            "truncated BPTT needs a stateful model with an output at every step, model(x, h0=h, return_state="
            f"True) -> (y (B, T, ...), h_n), such as ManyToMany or RNN; got {type(model).__name__}."
        )
    return out


def _check_sequence_pair(x, target):
    for name, a in (("x", x), ("target", target)):
        check_tensor(name, a)
        check_array(name, a, tuple(range(2, 6)), finite=False, dtype_kind="any", shape="(B, T, ...)")
    check_dim("target", target, 0, x.shape[0], "x and target must have the same batch size B.")
    check_dim("target", target, 1, x.shape[1], "x and target must have the same number of time steps T.")
    if x.shape[1] == 0:
        raise ValueError(f"x has T = 0 time steps (shape {tuple(x.shape)}), expected T >= 1.")
    return x.shape[1]


def truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, k=None):
    r"""Gradients of a vanilla RNN where the upstream gradient ``dhs[:, t - 1]`` :math:`= \partial
    \mathcal{L}_t / \partial h_t` (B, T, H) of each step travels back through steps ``t-k+1..t`` only.

    ``x (B, T, D)``, ``h0 (B, H)``, ``W_xh (H, D)``, ``W_hh (H, H)``, ``b_h (H,)`` as in
    :func:`rnncourse.reference.rnn_forward`; ``k`` None or ``k >= T`` is full BPTT. Returns ``dx (B, T,
    D), dh0 (B, H), dW_xh, dW_hh, db_h`` (``dh0`` only from the losses whose window reaches the start,
    :math:`t \le k`): ``reference.rnn_backward(dhs, cache, k)``, ``O(T k)`` work, with the step Jacobians
    :math:`J_t = \operatorname{diag}(1 - h_t^2) W_{hh}`. Chapter 7.
    """
    from .reference import _check_grad, _rnn_backward, rnn_forward

    k = None if k is None else check_positive_int("k", k)
    hs, cache = rnn_forward(x, h0, W_xh, W_hh, b_h)
    _check_grad("dhs", dhs, hs.shape, hs)
    return _rnn_backward(dhs, cache, k)


def window_gradients(x, h0, W_xh, W_hh, b_h, dhs, k):
    r"""The truncated gradient split into one gradient per window, each computed from scratch.

    For every step ``t`` the window ``[s, t]``, ``s = max(0, t-k+1)``, is run forward again from the state
    :math:`h_{s-1}` of the full forward pass (a constant) and only ``dhs[:, t]`` is backpropagated through
    it. Arguments as in :func:`truncated_gradients` (``k >= 1``). Returns one tuple ``(dW_xh, dW_hh, db_h)``
    per step, the contribution of :math:`\mathcal{L}_t`; their sum is the truncated gradient.
    """
    from .reference import _check_grad, _rnn_backward, _rnn_forward, rnn_forward

    k = check_positive_int("k", k)
    hs, _ = rnn_forward(x, h0, W_xh, W_hh, b_h)
    _check_grad("dhs", dhs, hs.shape, hs)
    out = []
    for t in range(hs.shape[1]):  # the arrays are checked: the windows use the unchecked internals
        s = max(0, t - k + 1)
        _, cache = _rnn_forward(x[:, s : t + 1], h0 if s == 0 else hs[:, s - 1], W_xh, W_hh, b_h)
        d = np.zeros((hs.shape[0], t + 1 - s, hs.shape[2]), dtype=hs.dtype)
        d[:, -1] = dhs[:, t]
        out.append(_rnn_backward(d, cache)[2:])
    return out


def _map_state(fn, *states):
    """``fn`` applied to states part by part: tensors (L, B, H) or LSTM pairs ``(h, c)`` (-> LSTMState)."""
    if isinstance(states[0], tuple):
        return LSTMState(*(fn(*parts) for parts in zip(*states, strict=True)))
    return fn(*states)


def _states_before(model, x, h0):
    """With no graph: the state before every step, ``S[t]`` (L, B, H) or ``(h, c)``, for t = 0..T."""
    with torch.no_grad():
        h = None if h0 is None else _map_state(torch.Tensor.detach, h0)
        states = []
        for t in range(x.shape[1]):
            _, h_next = _run(model, x[:, t : t + 1], h)
            states.append(_map_state(torch.zeros_like, h_next) if h is None else h)
            h = h_next
    return states + [h]


def truncated_backward(model, x, target, k, *, h0=None, step_loss=None, reduction="mean") -> torch.Tensor:
    r"""Accumulate into ``.grad`` the gradient where each loss :math:`\mathcal{L}_t` flows back at most ``k``
    steps: the torch counterpart of :func:`truncated_gradients` for any stateful model.

    ``model`` is stateful (``ManyToMany``, ``RNN``); ``x, target (B, T, ...)`` the inputs and the targets of
    every step; ``k`` None or ``k >= T`` gives full BPTT; ``h0 (L, B, H)`` the initial state (zeros when
    None; for the LSTM ``(h0, c0)``, and the states carried are :class:`~rnncourse.modules.LSTMState`);
    ``step_loss(y_t, target_t)`` defaults to :func:`~rnncourse.training.default_loss`; ``reduction``
    "sum" gives :math:`\mathcal{L} = \sum_t \mathcal{L}_t`, "mean" its mean over the T steps. Returns that
    loss (no graph); like ``loss.backward()`` it adds to existing ``.grad``.

    The windows ``[t-k+1, t]`` with ``t < k`` start at step 0: one ordinary BPTT over the first
    ``min(k, T)`` steps covers them. The others are grouped by ``t mod k``; windows of a group do not
    overlap, so they run side by side as one batch of ``k`` steps, each from its recorded (detached) state,
    with the loss only at their last step. About ``k`` times the work of full BPTT. Chapter 7.
    """
    T = _check_sequence_pair(x, target)
    k = T if k is None else check_positive_int("k", k)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}.")
    scale = 1.0 / T if reduction == "mean" else 1.0
    B, P = x.shape[0], min(k, T)
    y, _ = _run(model, x[:, :P], h0)
    loss = _steps_loss(y, target[:, :P], step_loss, "sum") * scale  # sum_{t < P} L_t
    loss.backward()
    total = loss.detach()
    if k >= T:
        return total
    states = _states_before(model, x, h0)
    for r in range(k):
        ts = list(range(k + r, T, k))  # windows [t-k+1, t] with t-k+1 >= 1 and t = k + r (mod k)
        if not ts:
            continue
        xw = torch.cat([x[:, t - k + 1 : t + 1] for t in ts], 0)
        h_start = _map_state(lambda *parts: torch.cat(parts, 1), *(states[t - k + 1] for t in ts))
        y, _ = _run(model, xw, h_start)
        last = y[:, -1].reshape(len(ts), B, *y.shape[2:]).transpose(0, 1)  # (B, len(ts), ...): y_t
        loss = _steps_loss(last, target[:, ts], step_loss, "sum") * scale
        loss.backward()
        total = total + loss.detach()
    return total


@dataclass(frozen=True)
class Segment:
    r"""One update of TBPTT(k1, k2), in 0-based, half-open step indices: the losses of steps
    ``[loss_start, stop)`` are backpropagated through ``[start, stop)`` (the state before ``start`` is a
    constant; ``stop - loss_start <= k1``)."""

    start: int
    loss_start: int
    stop: int


def tbptt_segments(T: int, k1: int, k2: int | None = None) -> list[Segment]:
    r"""The update plan of TBPTT(k1, k2) over ``T >= k1`` steps (``k2`` defaults to ``k1``, ``k2 >= k1``).

    Update ``m`` takes the losses of steps ``[m k1, min((m+1) k1, T))`` and backpropagates them through
    ``[max(0, m k1 - (k2 - k1)), stop)``; a last, shorter block keeps the same start rule, so TBPTT(k, k)
    is exactly "detach every ``k`` steps". Williams & Peng (1990): at :math:`t_u = k_1, 2k_1, \dots`,

    .. math:: \Delta \theta \propto -\sum_{t=t_u-k_1+1}^{t_u} \sum_{s=t_u-k_2+1}^{t}
              \frac{\partial \mathcal{L}_t}{\partial h_t}
              \Big(\prod_{j=s+1}^{t}\frac{\partial h_j}{\partial h_{j-1}}\Big)
              \frac{\partial^+ h_s}{\partial \theta}.
    """
    T = check_positive_int("T", T)
    k1, k2 = _check_k1_k2(k1, k2)
    if T < k1:
        raise ValueError(
            f"The sequence has T={T} steps, shorter than one segment of k1={k1} steps; use k1 <= T "
            "(or a longer sequence)."
        )
    return [Segment(max(0, s - (k2 - k1)), s, min(s + k1, T)) for s in range(0, T, k1)]


@dataclass
class Window:
    """What :func:`tbptt_windows` yields for update ``index``: its :class:`Segment`, the ``loss`` (mean of
    the block's step losses, with its graph back to ``segment.start``), the outputs ``y (B, stop - start,
    ...)``, the state ``h_start`` (L, B, H) it started from (``h0`` or a carried, detached state) and the
    state ``h_end`` after it (with its graph)."""

    index: int
    segment: Segment
    loss: torch.Tensor
    y: torch.Tensor
    h_start: torch.Tensor | None
    h_end: torch.Tensor


def tbptt_windows(model, x, target, k1, k2=None, *, h0=None, step_loss=None) -> Iterator[Window]:
    r"""Run TBPTT(k1, k2) over a batch of sequences ``x, target (B, T, ...)``, one :class:`Window` per update.

    A generator: the caller calls ``window.loss.backward()`` (and updates the parameters) before asking for
    the next window; the state is carried forward detached. ``h0 (L, B, H)`` and ``step_loss`` as in
    :func:`truncated_backward`. For ``k2 > k1`` consecutive windows overlap by ``k2 - k1`` steps, run again
    from the detached state recorded in the previous window (work about :math:`T k_2 / k_1` steps, a graph of
    ``k2`` steps). With fixed parameters the gradients are exact (:func:`tbptt_gradients`).
    """
    segments = tbptt_segments(_check_sequence_pair(x, target), k1, k2)
    h_carry = h0
    for m, seg in enumerate(segments):
        nxt = segments[m + 1].start if m + 1 < len(segments) else None
        h_start = h_carry
        if nxt is not None and seg.start < nxt < seg.stop:
            y1, h_mid = _run(model, x[:, seg.start : nxt], h_start)
            y2, h_end = _run(model, x[:, nxt : seg.stop], h_mid)
            y, h_carry = torch.cat([y1, y2], 1), h_mid.detach()
        else:
            y, h_end = _run(model, x[:, seg.start : seg.stop], h_start)
            h_carry = h_end.detach() if nxt == seg.stop else h_start
        block = y[:, seg.loss_start - seg.start :]
        loss = _steps_loss(block, target[:, seg.loss_start : seg.stop], step_loss, "mean")
        yield Window(m, seg, loss, y, h_start, h_end)


def tbptt_gradients(model, x, target, k1, k2=None, *, h0=None, step_loss=None) -> list[dict]:
    """The gradient of every TBPTT(k1, k2) update with the parameters held fixed (arguments as in
    :func:`tbptt_windows`): one dict per update, parameter name -> gradient (zeros for a parameter the
    window does not reach). ``.grad`` is left untouched."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    out = []
    for w in tbptt_windows(model, x, target, k1, k2, h0=h0, step_loss=step_loss):
        grads = torch.autograd.grad(w.loss, [p for _, p in named], allow_unused=True)
        out.append({n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(named, grads, strict=1)})
    return out


def to_streams(seq, batch_size: int):
    """Cut one long sequence ``seq (N, ...)`` into ``B = batch_size`` parallel streams ``(B, N // B, ...)``,
    ``out[b, j] = seq[b (N // B) + j]`` (the last ``N mod B`` items are dropped). Chapters 4 and 7."""
    B = check_positive_int("batch_size", batch_size)
    if not hasattr(seq, "shape") or len(seq.shape) < 1:
        raise TypeError(
            f"seq must be an array or tensor of shape (N, ...), got {type(seq).__name__}; convert it with "
            "numpy.asarray or torch.as_tensor."
        )
    N = seq.shape[0]
    if N < B:
        raise ValueError(f"The sequence has N={N} items, fewer than batch_size={B} streams.")
    return seq[: B * (N // B)].reshape(B, N // B, *seq.shape[1:])


def stream_windows(x, target, batch_size: int, k: int, *, epochs: int | None = None, dtype=None):
    r"""Consecutive windows of ``k`` steps of one long sequence cut into ``batch_size`` streams.

    ``x, target (N, ...)`` (numpy or torch) are one long sequence and its targets (e.g. ``x = ids[:-1]``,
    ``target = ids[1:]``), cut into ``B`` streams of ``N // B`` steps (:func:`to_streams`); floats are
    converted to ``dtype`` (default ``torch.get_default_dtype()``), integers to int64. Yields ``(x (B, k,
    ...), target (B, k, ...), reset)`` for ``epochs`` passes (forever when None); the last window of a pass
    may be shorter. ``reset`` is True for the first window of a pass; otherwise row ``b`` continues row ``b``
    of the previous window, so a state can be carried across (:func:`carried_state`). Chapter 7.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    xs = to_streams(_as_tensor("x", x, dtype), batch_size)
    ts = to_streams(_as_tensor("target", target, dtype), batch_size)
    check_dim("target", ts, 1, xs.shape[1], "x and target must have the same length N.")
    k = check_positive_int("k", k)
    epochs = None if epochs is None else check_positive_int("epochs", epochs)
    L = xs.shape[1]
    if L < k:
        raise ValueError(f"Each of the {batch_size} streams has {L} steps, fewer than k={k}; lower k.")

    def generate():
        epoch = 0
        while epochs is None or epoch < epochs:
            for s in range(0, L, k):
                yield xs[:, s : s + k], ts[:, s : s + k], s == 0
            epoch += 1

    return generate()


def carried_state(loss=default_loss, metrics=None) -> Callable:
    r"""The loss function of stateful TBPTT(k, k) for :func:`rnncourse.training.fit`, on the batches
    ``(x, target, reset)`` of :func:`stream_windows`.

    Each call runs ``y, h = model(x, h0=h, return_state=True)`` from the state ``h`` left by the previous
    window, detached (``h = h.detach()``: the forward pass continues, the gradient stops at the window's
    start), or from zeros when ``reset`` is True, and returns ``(loss(y, target), {name: f(y, target)})``
    as :func:`~rnncourse.training.supervised`. The carried state is ``loss_fn.h`` (L, B, H). Chapter 7.
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(y, target), got {loss!r}.")
    metrics = dict(metrics or {})
    if not all(isinstance(name, str) and callable(f) for name, f in metrics.items()):
        raise TypeError(f"metrics must map names (str) to callables f(y, target), got {metrics!r}.")

    def loss_fn(model, batch, step):
        if not isinstance(batch, tuple | list) or len(batch) != 3:
            raise ValueError(f"carried_state reads batches (x, target, reset), got {type(batch).__name__}.")
        x, target, reset = batch
        h = None if reset or loss_fn.h is None else loss_fn.h.detach()
        y, h = _run(model, x, h)
        loss_fn.h = h.detach()
        return loss(y, target), {name: float(f(y.detach(), target)) for name, f in metrics.items()}

    loss_fn.h = None
    return loss_fn


class _Packed:
    __slots__ = ("tensor", "key", "meter", "__weakref__")

    def __init__(self, tensor, key, meter):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self):
        self.meter._release(self.key)


class SavedTensorMeter:
    """Bytes of the tensors the autograd graph saves for the backward pass, live (``current_bytes``) and peak
    (``peak_bytes``), in a ``with`` block around forward and backward passes.

    Each distinct tensor (or view) counts once, with its own size, until the graph that saved it is freed
    (after ``backward``). Deterministic: the activation memory of BPTT grows with the steps in the graph
    (``T`` for full BPTT, ``k`` for TBPTT(k, k)). Chapter 7.
    """

    def __init__(self):
        self.current_bytes = self.peak_bytes = 0
        self._refs: dict[tuple, tuple[int, int]] = {}  # key -> (references, bytes)

    def _pack(self, t: torch.Tensor):
        # a view counts with its own size (a slice of a long target sequence is not the whole sequence)
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        n, size = self._refs.get(key, (0, t.numel() * t.element_size()))
        if n == 0:
            self.current_bytes += size
            self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        self._refs[key] = (n + 1, size)
        return _Packed(t, key, self)

    def _release(self, key):
        n, size = self._refs.pop(key)
        if n > 1:
            self._refs[key] = (n - 1, size)
        else:
            self.current_bytes -= size

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda packed: packed.tensor)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False
