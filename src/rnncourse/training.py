r"""Training loop for the course's models: :func:`fit` returns a :class:`History` (no plotting inside).

What :func:`fit` does at step :math:`i` (one parameter update):

1. take a batch (from ``(x, y)`` arrays with ``batch_size``, an iterable of batches, or a callable);
2. run the model; models with ``forward_train`` (:class:`~rnncourse.topologies.OneToMany`,
   :class:`~rnncourse.topologies.Seq2Seq`) are given the targets and the teacher-forcing ratio
   :math:`\epsilon_i` (1.0: always the ground truth, 0.0: always the model's own prediction), either fixed or
   a schedule (scheduled sampling, Bengio et al. 2015);
3. compute the loss and the gradient :math:`g`, record :math:`\lVert g \rVert_2` *before* clipping;
4. clip by value (:math:`g \leftarrow \operatorname{clamp}(g, -c, c)`) and/or by norm
   (:math:`g \leftarrow g \min(1, c / \lVert g \rVert_2)`), then update.

With ``tbptt=k`` (or ``(k1, k2)``) each update is one window of truncated BPTT (see :mod:`rnncourse.bptt`):
on one long sequence cut into ``batch_size`` streams (``stream=True``, the hidden state carried and detached
between batches) or within each batch of sequences. Chapters 4, 6 (teacher forcing), 7 (truncated BPTT), 9.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from . import bptt as _bptt
from ._validate import check_positive_int

__all__ = [
    "History",
    "fit",
    "default_loss",
    "accuracy",
    "grad_norm",
    "clip_grad_norm_",
    "clip_grad_value_",
    "InverseSigmoidSchedule",
    "LinearSchedule",
    "ExponentialSchedule",
    "schedule_values",
]


# --------------------------------------------------------------------------------------------------------
# history
# --------------------------------------------------------------------------------------------------------


@dataclass
class History:
    r"""What :func:`fit` records, one entry per update (step).

    Attributes
    ----------
    loss : list of float
        The training loss of the batch.
    grad_norm : list of float
        :math:`\lVert g \rVert_2` over all parameters, before clipping.
    time : list of float
        Seconds since the start of :func:`fit`, at the end of the step.
    lr : list of float
        Learning rate of the first parameter group.
    teacher_forcing : list of float
        The ratio :math:`\epsilon_i` used (probability of feeding the ground truth).
    metrics : dict of str -> list of float
        Extra per-step metrics (``fit(metrics=...)``); also reachable as attributes, ``history.accuracy``.
    eval_steps : list of int
        Steps after which ``eval_fn`` ran.
    evals : dict of str -> list of float
        Values returned by ``eval_fn``, aligned with ``eval_steps``.
    stop_reason : str
        ``"steps"``, ``"epochs"``, ``"callback"`` or ``"non-finite"`` (a NaN/inf loss or gradient norm).

    Notes
    -----
    Entry ``i`` of every list belongs to update ``i``: :math:`L(\theta_i)` on its batch and
    :math:`\lVert \nabla_\theta L(\theta_i) \rVert_2`. :func:`rnncourse.plots.plot_history` draws it.
    Chapters 4, 6, 7 and 9.
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    teacher_forcing: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    stop_reason: str = ""

    def __len__(self) -> int:
        return len(self.loss)

    def __getattr__(self, name):
        # only called when normal lookup fails: expose extra metrics as attributes (for plots.plot_history)
        if name.startswith("__"):
            raise AttributeError(name)
        for group in ("metrics", "evals"):
            d = self.__dict__.get(group, {})
            if name in d:
                return d[name]
        raise AttributeError(
            f"History has no attribute or metric {name!r}; metrics: "
            f"{sorted(self.__dict__.get('metrics', {}))}, evals: {sorted(self.__dict__.get('evals', {}))}."
        )

    def to_dict(self, include_time: bool = True) -> dict:
        """A plain dict of lists (copies): the standard fields, then every metric and eval by name.

        Parameters
        ----------
        include_time : bool
            False drops ``time``, the only field that differs between two runs with the same seed.
        """
        out = {
            "loss": list(self.loss),
            "grad_norm": list(self.grad_norm),
            "lr": list(self.lr),
            "teacher_forcing": list(self.teacher_forcing),
        }
        if include_time:
            out["time"] = list(self.time)
        for name, values in self.metrics.items():
            out[name] = list(values)
        out["eval_steps"] = list(self.eval_steps)
        for name, values in self.evals.items():
            out[f"eval_{name}"] = list(values)
        out["stop_reason"] = self.stop_reason
        return out


# --------------------------------------------------------------------------------------------------------
# teacher-forcing schedules (Bengio et al. 2015)
# --------------------------------------------------------------------------------------------------------


def _check_real(name, value, *, low=None, high=None, low_open=False, hint=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}. {hint}".rstrip())
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}. {hint}".rstrip())
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}. {hint}".rstrip())
    return value


@dataclass(frozen=True)
class InverseSigmoidSchedule:
    r"""Inverse-sigmoid decay of the teacher-forcing ratio (Bengio et al. 2015).

    Parameters
    ----------
    k : float
        ``k >= 1``; the ratio stays near :math:`k / (k + 1)` for the first steps and falls to 1/2 at
        :math:`i = k \ln k`.

    Notes
    -----
    .. math:: \epsilon_i = \frac{k}{k + \exp(i / k)}

    Chapter 6 (scheduled sampling).
    """

    k: float

    def __post_init__(self):
        _check_real("k", self.k, low=1.0, hint="Bengio et al. (2015) use k >= 1; larger k decays later.")

    def __call__(self, i: int) -> float:
        z = i / self.k
        return 0.0 if z > 700 else self.k / (self.k + math.exp(z))


@dataclass(frozen=True)
class LinearSchedule:
    r"""Linear decay of the teacher-forcing ratio (Bengio et al. 2015).

    Parameters
    ----------
    c : float
        Slope per step, ``c >= 0``.
    k : float
        Starting ratio in [0, 1].
    minimum : float
        Floor :math:`\epsilon` in [0, 1].

    Notes
    -----
    .. math:: \epsilon_i = \max(\epsilon, k - c\, i)

    Chapter 6.
    """

    c: float
    k: float = 1.0
    minimum: float = 0.0

    def __post_init__(self):
        _check_real("c", self.c, low=0.0)
        _check_real("k", self.k, low=0.0, high=1.0)
        _check_real("minimum", self.minimum, low=0.0, high=1.0)

    def __call__(self, i: int) -> float:
        return max(self.minimum, self.k - self.c * i)


@dataclass(frozen=True)
class ExponentialSchedule:
    r"""Exponential decay of the teacher-forcing ratio (Bengio et al. 2015).

    Parameters
    ----------
    k : float
        Decay per step, ``0 < k <= 1``.

    Notes
    -----
    .. math:: \epsilon_i = k^i

    Chapter 6.
    """

    k: float

    def __post_init__(self):
        _check_real("k", self.k, low=0.0, high=1.0, low_open=True, hint="Use a value such as 0.99.")

    def __call__(self, i: int) -> float:
        return self.k**i


def schedule_values(schedule, steps: int) -> np.ndarray:
    r"""The ratio of a schedule (or a constant) at steps ``0..steps-1``.

    Parameters
    ----------
    schedule : float or callable ``i -> ratio``
    steps : int

    Returns
    -------
    ndarray of float64, shape (steps,)

    Notes
    -----
    :math:`(\epsilon_0, \dots, \epsilon_{n-1})`, e.g. to plot a schedule. Chapter 6.
    """
    steps = check_positive_int("steps", steps)
    f = _as_schedule(schedule)
    return np.array([f(i) for i in range(steps)], dtype=np.float64)


def _as_schedule(teacher_forcing):
    if callable(teacher_forcing):
        return teacher_forcing
    if isinstance(teacher_forcing, bool) or not isinstance(teacher_forcing, numbers.Real):
        raise TypeError(
            f"teacher_forcing must be a number in [0, 1] or a schedule (a callable step -> ratio such as "
            f"InverseSigmoidSchedule(k)), got {teacher_forcing!r}."
        )
    value = float(teacher_forcing)
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"teacher_forcing must be in [0, 1] (1.0: always the ground truth, 0.0: always the model's own "
            f"prediction), got {teacher_forcing!r}."
        )
    return lambda i: value


# --------------------------------------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------------------------------------


def _grads(parameters):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def grad_norm(parameters) -> float:
    r"""The global gradient norm :math:`\lVert g \rVert_2 = (\sum_\theta \lVert \partial L/\partial\theta
    \rVert_F^2)^{1/2}` over the parameters that have a ``.grad``.

    Parameters
    ----------
    parameters : iterable of Tensor, or a Tensor

    Returns
    -------
    float

    Notes
    -----
    The norm that :func:`fit` records (before clipping). Chapters 6, 7 and 9.
    """
    grads = _grads(parameters)
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads])))


def clip_grad_norm_(parameters, max_norm: float) -> float:
    r"""Rescale the gradients in place so that their global norm is at most ``max_norm``.

    Parameters
    ----------
    parameters : iterable of Tensor, or a Tensor
    max_norm : float
        ``c > 0``.

    Returns
    -------
    float
        The norm before clipping.

    Notes
    -----
    .. math:: g \leftarrow g \cdot \min\Big(1, \frac{c}{\lVert g \rVert_2 + 10^{-6}}\Big)

    The same rule (and the same :math:`10^{-6}`) as ``torch.nn.utils.clip_grad_norm_`` (Pascanu et al. 2013).
    Chapters 6 and 9.
    """
    max_norm = _check_real("max_norm", max_norm, low=0.0, low_open=True)
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    grads = _grads(parameters)
    if not grads:
        return 0.0
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads]))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.detach().mul_(coef.to(g.dtype))
    return float(total)


def clip_grad_value_(parameters, clip_value: float) -> float:
    r"""Clamp every gradient entry to :math:`[-c, c]` in place.

    Parameters
    ----------
    parameters : iterable of Tensor, or a Tensor
    clip_value : float
        ``c > 0``.

    Returns
    -------
    float
        The largest absolute entry before clipping.

    Notes
    -----
    :math:`g \leftarrow \operatorname{clamp}(g, -c, c)` elementwise; unlike clipping by norm this changes
    the direction of :math:`g`. Chapter 9.
    """
    clip_value = _check_real("clip_value", clip_value, low=0.0, low_open=True)
    grads = _grads(parameters)
    if not grads:
        return 0.0
    largest = max(float(g.detach().abs().max()) for g in grads)
    for g in grads:
        g.detach().clamp_(-clip_value, clip_value)
    return largest


# --------------------------------------------------------------------------------------------------------
# losses and metrics
# --------------------------------------------------------------------------------------------------------


def default_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy for integer targets, mean squared error for float targets.

    Parameters
    ----------
    output : Tensor, shape (..., V) logits, or any shape for regression
    y : Tensor, shape (...) int64, or float with ``output.numel()`` entries

    Returns
    -------
    Tensor, shape ()
        Mean over all positions.

    Notes
    -----
    :math:`L = -\frac{1}{N}\sum_n \log \operatorname{softmax}(y_n)_{\hat y_n}` over the ``N`` positions
    (every step of every example for a many-to-many output), or :math:`\frac{1}{N}\sum (y - \hat y)^2`.
    Chapters 2 and 6.
    """
    if y.is_floating_point():
        if output.shape != y.shape and output.numel() == y.numel():
            output = output.reshape(y.shape)
        return F.mse_loss(output, y)
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), y.reshape(-1))


def accuracy(output: torch.Tensor, y: torch.Tensor) -> float:
    r"""Fraction of positions where the argmax of the logits equals the target.

    Parameters
    ----------
    output : Tensor, shape (..., V)
    y : Tensor, shape (...) int64

    Returns
    -------
    float

    Notes
    -----
    :math:`\frac{1}{N}\sum_n [\arg\max_v y_{n,v} = \hat y_n]`. Chapters 2, 6 and 7.
    """
    return float((output.detach().argmax(-1) == y).double().mean())


# --------------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------------


def _param_dtype(model):
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _to_tensor(name, a, dtype):
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(a).__name__}; "
            "pass data=(x, y) with arrays of the same length."
        )
    if a.is_floating_point():
        if not bool(torch.isfinite(a).all()):
            raise ValueError(f"{name} contains NaN or infinite values; all entries must be finite.")
        return a.to(dtype)
    if a.dtype == torch.bool:
        return a.long()
    return a.long()


def _pair(data, dtype):
    if len(data) != 2:
        raise ValueError(
            f"data as a tuple must be (x, y), got a tuple of {len(data)} items; pass data=(x, y)."
        )
    x, y = _to_tensor("x", data[0], dtype), _to_tensor("y", data[1], dtype)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("x and y must have a leading axis of examples (or of time steps for stream=True).")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same length along axis 0, got {x.shape[0]} and {y.shape[0]}; "
            "pair every input with its target."
        )
    if x.shape[0] == 0:
        raise ValueError("data is empty (0 examples); pass at least one example.")
    return x, y


def _batches(x, y, batch_size, shuffle, generator):
    n = x.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


def _default_forward(model, x, y, teacher_forcing, generator):
    forward_train = getattr(model, "forward_train", None)
    if forward_train is not None:
        return forward_train(x, y, teacher_forcing, generator)
    return model(x)


def _check_tbptt(tbptt):
    if tbptt is None:
        return None
    if isinstance(tbptt, tuple | list):
        if len(tbptt) != 2:
            raise ValueError(f"tbptt must be k or a pair (k1, k2), got {tbptt!r}.")
        return _bptt._check_k1_k2(tbptt[0], tbptt[1])
    return _bptt._check_k1_k2(tbptt, None)


# --------------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------------


def fit(
    model: torch.nn.Module,
    data,
    optimizer: torch.optim.Optimizer,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    loss_fn: Callable | None = None,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    teacher_forcing=1.0,
    tbptt=None,
    stream: bool = False,
    callbacks: Iterable[Callable] = (),
    metrics: Mapping[str, Callable] | None = None,
    eval_fn: Callable | None = None,
    eval_every: int | None = None,
    scheduler=None,
    forward: Callable | None = None,
    progress: bool = True,
    seed: int = 0,
) -> History:
    r"""Train ``model`` and return the :class:`History`.

    Parameters
    ----------
    model : torch.nn.Module
    data : (x, y), iterable of (x, y) batches, or callable
        * ``(x, y)``: arrays or tensors with ``N`` examples along axis 0, cut into shuffled mini-batches of
          ``batch_size`` every epoch (the whole set when ``batch_size`` is None); numpy is converted,
          floats to the model's dtype, integers to int64.
        * an iterable of ``(x, y)`` batches (a list, a ``DataLoader``), walked once per epoch.
        * a callable ``data(generator) -> (x, y)`` drawing a fresh batch each step (needs ``steps``).
        * with ``tbptt`` and ``stream=True``: ``(x, y)`` is ONE long sequence, ``x (N, ...)``,
          ``y (N, ...)``, cut into ``batch_size`` streams (:func:`rnncourse.bptt.to_streams`).
    optimizer : torch.optim.Optimizer
    steps : int, optional
        Number of updates; training stops at ``steps`` even inside an epoch.
    epochs : int, optional
        Passes over the data (default 1 when neither is given).
    batch_size : int, optional
        Examples per batch (``(x, y)`` data), or the number of streams with ``stream=True`` (default 1).
    shuffle : bool
        Reshuffle ``(x, y)`` data every epoch (with the ``seed``).
    loss_fn : callable, optional
        ``loss_fn(output, y) -> scalar``; default :func:`default_loss` (cross-entropy or MSE). With ``tbptt``:
        a per-step loss ``loss_fn(y_t (B, V), target_t (B,))``, averaged over the block.
    clip_norm : float, optional
        Clip the global gradient norm to this value (:func:`clip_grad_norm_`).
    clip_value : float, optional
        Clamp every gradient entry to ``[-clip_value, clip_value]`` (applied before ``clip_norm``).
    teacher_forcing : float in [0, 1] or callable ``step -> ratio``
        Probability of feeding the ground truth to models with ``forward_train`` (1.0: always, 0.0: never,
        the model reads its own predictions); a schedule such as :class:`InverseSigmoidSchedule` gives
        scheduled sampling. Ignored by other models (still recorded).
    tbptt : int or (k1, k2), optional
        Truncated BPTT: every update is one window of TBPTT(k1, k2) (:func:`rnncourse.bptt.tbptt_windows`);
        the model must be stateful (``model(x, h0=h, return_state=True)``, e.g. ``ManyToMany``).
    stream : bool
        With ``tbptt``: ``data`` is one long sequence, trained as ``batch_size`` parallel streams whose hidden
        state is carried (detached) from one batch to the next; reset at every epoch. Without ``stream``
        every mini-batch of sequences starts from a zero state.
    callbacks : iterable of callables
        ``callback(step, metrics) -> bool | None`` after every step, with ``metrics`` a dict of this step's
        ``loss``, ``grad_norm``, ``lr``, ``teacher_forcing``, ``time`` and extra metrics; returning True
        stops training.
    metrics : dict of str -> callable, optional
        ``f(output, y) -> float`` recorded every step, e.g. ``{"accuracy": accuracy}``.
    eval_fn : callable, optional
        ``eval_fn(model) -> dict of str -> float``, run under ``torch.no_grad()`` every ``eval_every`` steps
        and after the last step.
    eval_every : int, optional
        Default: only after the last step.
    scheduler : torch.optim.lr_scheduler.LRScheduler, optional
        Stepped after every update.
    forward : callable, optional
        ``forward(model, x, y, teacher_forcing, generator) -> output``; the default calls
        ``model.forward_train(...)`` when the model has one, else ``model(x)``.
    progress : bool
        Show a ``tqdm`` progress bar.
    seed : int
        Seeds the generator of the shuffling, the teacher-forcing draws and callable data. The same seed,
        initial model and optimizer give the same history (except ``time``).

    Returns
    -------
    History

    Notes
    -----
    Each step: :math:`\theta \leftarrow \mathrm{update}(\theta, \mathrm{clip}(\nabla_\theta L))`, the norm
    :math:`\lVert\nabla_\theta L\rVert_2` recorded before clipping. Chapters 4, 6, 7 and 9.
    """
    from tqdm.auto import tqdm

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}; e.g. "
            "torch.optim.Adam(model.parameters(), lr=1e-2)."
        )
    steps = None if steps is None else check_positive_int("steps", steps)
    epochs = None if epochs is None else check_positive_int("epochs", epochs)
    batch_size = None if batch_size is None else check_positive_int("batch_size", batch_size)
    eval_every = None if eval_every is None else check_positive_int("eval_every", eval_every)
    if clip_norm is not None:
        clip_norm = _check_real("clip_norm", clip_norm, low=0.0, low_open=True)
    if clip_value is not None:
        clip_value = _check_real("clip_value", clip_value, low=0.0, low_open=True)
    schedule = _as_schedule(teacher_forcing)
    k1k2 = _check_tbptt(tbptt)
    if stream and k1k2 is None:
        raise ValueError("stream=True needs tbptt=k (or (k1, k2)): the streams are trained in segments.")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"every callback must be callable as callback(step, metrics), got {cb!r}.")
    metrics = dict(metrics or {})
    for name, f in metrics.items():
        if not isinstance(name, str) or not callable(f):
            raise TypeError(f"metrics must map names (str) to callables f(output, y), got {name!r}: {f!r}.")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"eval_fn must be callable as eval_fn(model) -> dict, got {eval_fn!r}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    forward = _default_forward if forward is None else forward
    loss_fn_given = loss_fn
    loss_fn = default_loss if loss_fn is None else loss_fn
    generator = torch.Generator().manual_seed(int(seed))
    dtype = _param_dtype(model)

    # ---- the data as a function epoch -> iterator of batches
    if callable(data) and not isinstance(data, tuple | list | torch.Tensor | np.ndarray):
        if steps is None:
            raise ValueError("A callable data(generator) yields batches forever: pass steps=... to fit.")
        if k1k2 is not None and stream:
            raise ValueError("stream=True needs data=(x, y), one long sequence, not a callable.")

        def epoch_batches():
            while True:
                xb, yb = data(generator)
                yield _to_tensor("x", xb, dtype), _to_tensor("y", yb, dtype)

        n_per_epoch = None
        epochs_total = None
    elif isinstance(data, tuple):
        x_all, y_all = _pair(data, dtype)
        if stream:
            B = 1 if batch_size is None else batch_size
            xs, ys = _bptt.to_streams(x_all, B), _bptt.to_streams(y_all, B)
            if xs.shape[1] < k1k2[0]:
                raise ValueError(
                    f"Each of the {B} streams has {xs.shape[1]} steps, shorter than one segment of "
                    f"k1={k1k2[0]}; use a smaller batch_size or k1."
                )

            def epoch_batches():
                yield xs, ys

            n_per_epoch = 1
        else:
            bs = x_all.shape[0] if batch_size is None else batch_size

            def epoch_batches():
                yield from _batches(x_all, y_all, bs, shuffle, generator)

            n_per_epoch = math.ceil(x_all.shape[0] / bs)
        epochs_total = epochs if epochs is not None else (None if steps is not None else 1)
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        if stream:
            raise ValueError("stream=True needs data=(x, y), one long sequence.")

        def epoch_batches():
            for batch in data:
                if not isinstance(batch, tuple | list) or len(batch) != 2:
                    raise ValueError(f"every batch must be a pair (x, y), got {type(batch).__name__}.")
                yield _to_tensor("x", batch[0], dtype), _to_tensor("y", batch[1], dtype)

        n_per_epoch = len(data) if hasattr(data, "__len__") else None
        epochs_total = epochs if epochs is not None else (None if steps is not None else 1)
    else:
        raise TypeError(
            f"data must be a tuple (x, y), an iterable of (x, y) batches or a callable, got "
            f"{type(data).__name__}."
        )

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no trainable parameters (none with requires_grad=True).")

    total = steps
    if total is None and n_per_epoch is not None and epochs_total is not None and k1k2 is None:
        total = n_per_epoch * epochs_total
    history = History()
    for name in metrics:
        history.metrics[name] = []
    bar = tqdm(total=total, disable=not progress, leave=False, desc="fit")
    t0 = time.perf_counter()
    step = 0

    def updates(batch_iter):
        """Yield (output, y, loss) for every update of a batch iterator."""
        for xb, yb in batch_iter:
            if k1k2 is None:
                ratio = float(schedule(step))
                output = forward(model, xb, yb, ratio, generator)
                yield output, yb, loss_fn(output, yb), ratio
            else:
                step_loss = loss_fn_given
                for w in _bptt.tbptt_windows(model, xb, yb, k1k2[0], k1k2[1], step_loss=step_loss):
                    seg = w.segment
                    yield (
                        w.y[:, seg.loss_start - seg.start :],
                        yb[:, seg.loss_start : seg.stop],
                        w.loss,
                        float(schedule(step)),
                    )

    def run_eval():
        if eval_fn is None:
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            values = eval_fn(model)
        model.train(was_training)
        if not isinstance(values, Mapping):
            raise TypeError(f"eval_fn must return a dict of str -> float, got {type(values).__name__}.")
        history.eval_steps.append(step)
        for name, v in values.items():
            history.evals.setdefault(name, []).append(float(v))

    stop = ""
    epoch = 0
    try:
        while not stop:
            if epochs_total is not None and epoch >= epochs_total:
                stop = "epochs"
                break
            n_in_epoch = 0
            for output, yb, loss, ratio in updates(epoch_batches()):
                n_in_epoch += 1
                if not 0.0 <= ratio <= 1.0 or not math.isfinite(ratio):
                    raise ValueError(
                        f"The teacher-forcing schedule returned {ratio} at step {step}; expected [0, 1]."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = grad_norm(params)
                if clip_value is not None:
                    clip_grad_value_(params, clip_value)
                if clip_norm is not None:
                    clip_grad_norm_(params, clip_norm)
                lr = float(optimizer.param_groups[0]["lr"])
                loss_value = float(loss.detach())
                finite = math.isfinite(loss_value) and math.isfinite(norm)
                if finite:
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                step += 1
                history.loss.append(loss_value)
                history.grad_norm.append(norm)
                history.lr.append(lr)
                history.teacher_forcing.append(ratio)
                for name, f in metrics.items():
                    history.metrics[name].append(float(f(output.detach(), yb)))
                history.time.append(time.perf_counter() - t0)
                bar.update(1)
                if progress and step % 10 == 0:
                    bar.set_postfix(loss=f"{loss_value:.4f}")
                if eval_every is not None and step % eval_every == 0:
                    run_eval()
                info = {
                    "loss": loss_value,
                    "grad_norm": norm,
                    "lr": lr,
                    "teacher_forcing": ratio,
                    "time": history.time[-1],
                }
                info.update({name: history.metrics[name][-1] for name in metrics})
                requested = [bool(cb(step, info)) for cb in callbacks]
                if not finite:
                    stop = "non-finite"
                elif any(requested):
                    stop = "callback"
                elif steps is not None and step >= steps:
                    stop = "steps"
                if stop:
                    break
            epoch += 1
            if not stop and n_in_epoch == 0:
                raise ValueError("data yielded no batch in an epoch; pass a non-empty dataset.")
    finally:
        bar.close()
    if eval_fn is not None and (not history.eval_steps or history.eval_steps[-1] != step):
        run_eval()
    history.stop_reason = stop
    return history
