r"""The one training loop: :func:`fit` = ``steps`` calls of :func:`train_step`, recorded in :class:`History`.

Pieces: batch sources (:func:`minibatches`, :func:`random_windows`, :func:`~rnncourse.bptt.stream_windows`),
loss functions ``loss_fn(model, batch, step)`` (:func:`supervised`, :func:`~rnncourse.bptt.carried_state`),
the course's clip :func:`clip_grad_norm_` (chapter 9) and callbacks. A fixed number of steps: a seeded run
gives the same :class:`History` every time. Chapters 2, 4-9.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ._validate import check_array, check_positive_int, check_real, check_seed

__all__ = [
    "History", "train_step", "fit", "default_loss", "accuracy", "supervised", "minibatches", "random_windows",
    "grad_norm", "clip_grad_norm_", "clip_grad_value_", "InverseSigmoidSchedule", "LinearSchedule",
    "ExponentialSchedule", "schedule_values",
]


@dataclass
class History:
    r"""What :func:`fit` records; entry ``i`` of every per-step list belongs to update ``i + 1``.

    Attributes
    ----------
    loss : list of float
        The batch loss, computed before update ``i + 1`` (entry ``i``).
    grad_norm : list of float
        :math:`\lVert \nabla_\theta \mathcal{L} \rVert_2` over all parameters, before clipping.
    metrics : dict of str -> list of float
        Per-step extras returned by the loss function (``"accuracy"``, ``"teacher_forcing"``, ...).
    eval_steps : list of int
        Steps after which ``eval_fn`` ran; ``evals`` (dict of str -> list of float) holds its values.
    stop_reason : str
        ``"steps"``, ``"callback"``, ``"non-finite"`` (NaN/inf loss or norm) or ``"data"`` (no more batches).
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    stop_reason: str = ""

    def __len__(self) -> int:
        return len(self.loss)


def _grads(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(grads) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads]))


def grad_norm(parameters) -> float:
    r"""The global norm :math:`\lVert g \rVert_2 = (\sum_\theta \lVert \partial\mathcal{L}/\partial\theta
    \rVert_F^2)^{1/2}` of the gradients of ``parameters`` (Tensor or iterable; 0.0 if none has a grad)."""
    grads = _grads(parameters)
    return float(_norm(grads)) if grads else 0.0


def clip_grad_norm_(parameters, max_norm: float) -> float:
    r"""Rescale the gradients of ``parameters`` in place to a global norm of at most ``max_norm`` :math:`= c`:
    :math:`g \leftarrow g \min(1, c / (\lVert g \rVert_2 + 10^{-6}))`, the rule (and the :math:`10^{-6}`) of
    ``torch.nn.utils.clip_grad_norm_`` (Pascanu et al. 2013). Returns the norm before clipping. Chapter 9."""
    max_norm = check_real("max_norm", max_norm, low=0.0, low_open=True)
    grads = _grads(parameters)
    if not grads:
        return 0.0
    total = _norm(grads)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.detach().mul_(coef.to(g.dtype))
    return float(total)


def clip_grad_value_(parameters, clip_value: float) -> float:
    r"""Clamp every gradient entry to :math:`[-c, c]` in place (``clip_value`` :math:`= c > 0`); returns the
    largest absolute entry before clipping. Unlike clipping by norm it turns the direction of g. Chapter 9."""
    clip_value = check_real("clip_value", clip_value, low=0.0, low_open=True)
    grads = _grads(parameters)
    if not grads:
        return 0.0
    largest = max(float(g.detach().abs().max()) for g in grads)
    for g in grads:
        g.detach().clamp_(-clip_value, clip_value)
    return largest


def default_loss(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy for int64 targets, mean squared error for float targets; shape ().

    ``y (..., V)`` logits and ``target (...)`` int64 give :math:`\mathcal{L} = -\frac{1}{N}\sum_n \log
    \operatorname{softmax}(y_n)_{\text{target}_n}` over the ``N`` positions; float targets give
    :math:`\frac{1}{N}\sum_n (y_n - \text{target}_n)^2` (``y`` reshaped to ``target``'s shape). Chapters 2, 6.
    """
    if target.is_floating_point():
        return F.mse_loss(y.reshape(target.shape) if y.numel() == target.numel() else y, target)
    return F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1))


def accuracy(y: torch.Tensor, target: torch.Tensor) -> float:
    r"""Fraction of positions where :math:`\arg\max_v y_{n,v} = \text{target}_n`; y (..., V), target (...)."""
    return float((y.detach().argmax(-1) == target).double().mean())


def supervised(loss=default_loss, *, metrics: Mapping | None = None, teacher_forcing=None, seed: int = 0):
    r"""The loss function of batches ``(x, target)``: ``y = model(x)``, then ``loss(y, target)``.

    Parameters
    ----------
    loss : callable
        ``loss(y, target) -> Tensor`` of shape (); default :func:`default_loss`.
    metrics : dict of str -> callable, optional
        ``f(y, target) -> float`` recorded every step, e.g. ``{"accuracy": accuracy}``.
    teacher_forcing : float in [0, 1] or callable ``step -> ratio``, optional
        The probability :math:`\epsilon_i` of feeding the ground truth at step ``i`` (1.0: always, 0.0: the
        model's own predictions) or a schedule (:class:`InverseSigmoidSchedule`); the model is then called as
        ``model.forward_train(x, target, ratio, generator)`` (``OneToMany``, ``Seq2Seq``) and the ratio is
        recorded as the metric ``"teacher_forcing"``. ``seed`` seeds the draws (its generator is made here).

    Returns
    -------
    callable
        ``loss_fn(model, batch, step) -> (loss, {name: value})`` for :func:`fit`.
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(y, target), got {loss!r}.")
    metrics = dict(metrics or {})
    for name, f in metrics.items():
        if not isinstance(name, str) or not callable(f):
            raise TypeError(f"metrics must map names (str) to callables f(y, target), got {name!r}: {f!r}.")
    schedule = None if teacher_forcing is None else _as_schedule(teacher_forcing)
    generator = torch.Generator().manual_seed(check_seed(seed))

    def loss_fn(model, batch, step):
        if not isinstance(batch, tuple | list) or len(batch) != 2:
            raise ValueError(f"supervised() reads batches (x, target), got {type(batch).__name__}.")
        x, target = batch
        values = {}
        if schedule is None:
            y = model(x)
        elif not hasattr(model, "forward_train"):
            raise TypeError(f"teacher_forcing needs a model with forward_train (OneToMany, Seq2Seq): {model}")
        else:
            ratio = check_real(f"the teacher-forcing ratio at step {step}", schedule(step), low=0.0, high=1.0)
            y = model.forward_train(x, target, ratio, generator)
            values["teacher_forcing"] = ratio
        values.update({name: float(f(y.detach(), target)) for name, f in metrics.items()})
        return loss(y, target), values

    return loss_fn


def train_step(model, batch, optimizer, loss_fn=None, *, step: int = 0, clip_norm=None):
    r"""One update: the gradient of the batch loss, its norm, the clip, the optimiser step.

    ``loss_fn(model, batch, step) -> loss`` or ``(loss, metrics)`` (default ``supervised()``) reads the batch
    (e.g. ``(x, target)``); ``step`` is the index :math:`i \ge 0` of the update (read by teacher-forcing
    schedules); ``clip_norm`` clips the global gradient norm with :func:`clip_grad_norm_`. Returns ``(loss,
    norm, metrics)``, the norm taken *before* clipping.
    :math:`\theta \leftarrow \mathrm{update}(\theta, \mathrm{clip}(\nabla_\theta \mathcal{L}))`, skipped when
    the loss or the norm is not finite.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer (e.g. torch.optim.Adam): {optimizer!r}.")
    if clip_norm is not None:
        clip_norm = check_real("clip_norm", clip_norm, low=0.0, low_open=True)
    step = check_positive_int("step", step, minimum=0)
    optimizer.zero_grad(set_to_none=True)
    out = (supervised() if loss_fn is None else loss_fn)(model, batch, step)
    loss, metrics = out if isinstance(out, tuple) else (out, {})
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise TypeError(f"loss_fn must return a scalar tensor or (tensor, dict), got {type(loss).__name__}.")
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    norm = grad_norm(params)
    if clip_norm is not None:
        clip_grad_norm_(params, clip_norm)
    value = float(loss.detach())
    if math.isfinite(value) and math.isfinite(norm):
        optimizer.step()
    return value, norm, {name: float(v) for name, v in metrics.items()}


def fit(model, batches, optimizer, *, steps: int, loss_fn=None, clip_norm: float | None = None,
        callbacks: Iterable[Callable] = (), eval_fn: Callable | None = None, eval_every: int | None = None,
        progress: bool = False) -> History:
    r"""Train ``model`` for ``steps`` updates of :func:`train_step` and return the :class:`History`.

    Parameters
    ----------
    model : torch.nn.Module
    batches : iterable of tuples
        Read with ``next``: :func:`minibatches`, :func:`random_windows`,
        :func:`rnncourse.bptt.stream_windows`, a list, a ``DataLoader``.
    optimizer : torch.optim.Optimizer
    steps : int
        Number of updates (fewer if the batches run out, a callback stops or a value is not finite).
    loss_fn, clip_norm
        As in :func:`train_step`.
    callbacks : iterable of callables
        ``callback(step, history, model) -> bool | None`` after every step (``step`` counts from 1); True
        stops the training. A learning-rate scheduler is stepped in one.
    eval_fn : callable, optional
        ``eval_fn(model) -> dict of str -> float``, run under ``torch.no_grad()`` and ``model.eval()`` every
        ``eval_every`` steps (int, optional) and after the last step.
    progress : bool
        Show a ``tqdm`` progress bar.

    Returns
    -------
    History
        The same seeds, initial model and optimizer give the same history.
    """
    steps = check_positive_int("steps", steps)
    eval_every = None if eval_every is None else check_positive_int("eval_every", eval_every)
    callbacks = list(callbacks)
    for cb in callbacks + ([] if eval_fn is None else [eval_fn]):
        if not callable(cb):
            raise TypeError(f"callbacks and eval_fn must be callable, got {cb!r}.")
    if not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of batches, got {type(batches).__name__}.")
    batches = iter(batches)
    history = History()

    def run_eval(step):
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

    stop = "steps"
    with tqdm(total=steps, disable=not progress, leave=False, desc="fit") as bar:
        for i in range(steps):
            batch = next(batches, None)
            if batch is None:
                stop = "data"
                break
            loss, norm, metrics = train_step(model, batch, optimizer, loss_fn, step=i, clip_norm=clip_norm)
            step = i + 1
            history.loss.append(loss)
            history.grad_norm.append(norm)
            for name, v in metrics.items():
                history.metrics.setdefault(name, []).append(v)
            bar.update(1)
            if eval_fn is not None and eval_every is not None and step % eval_every == 0:
                run_eval(step)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                stop = "non-finite"
                break
            if any([bool(cb(step, history, model)) for cb in callbacks]):
                stop = "callback"
                break
    if eval_fn is not None and len(history) and history.eval_steps[-1:] != [len(history)]:
        run_eval(len(history))
    history.stop_reason = stop
    return history


def _as_tensor(name, a, dtype):
    check_array(name, a, max(len(getattr(a, "shape", ())), 1), dtype_kind="any")
    t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
    if t.dtype == torch.bool:
        raise TypeError(f"{name} has dtype bool; convert it to integers or floats.")
    return t.to(dtype) if t.is_floating_point() else t.long()


def minibatches(*arrays, batch_size: int, seed: int = 0, dtype: torch.dtype | None = None):
    r"""Shuffled mini-batches of aligned arrays, forever (reshuffled every epoch, seeded by ``seed``).

    ``arrays`` (numpy or torch) have the same ``N`` examples along axis 0, e.g. ``x (N, T, D)`` and
    ``target (N, T)``; floats are converted to ``dtype`` (default ``torch.get_default_dtype()``), integers to
    int64. Yields ``(x[idx], target[idx], ...)`` with ``batch_size`` indices (the last batch of an epoch has
    the ``N mod B`` remaining ones).
    """
    if not arrays:
        raise ValueError("minibatches needs at least one array, e.g. minibatches(x, target, batch_size=32).")
    batch_size = check_positive_int("batch_size", batch_size)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    tensors = [_as_tensor(f"arrays[{i}]", a, dtype) for i, a in enumerate(arrays)]
    n = tensors[0].shape[0]
    for i, t in enumerate(tensors):
        if t.shape[0] != n or n == 0:
            raise ValueError(f"arrays need the same N > 0 examples; arrays[0]: {n}, arrays[{i}]: {len(t)}.")
    generator = torch.Generator().manual_seed(check_seed(seed))

    def generate():
        while True:
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                yield tuple(t[idx] for t in tensors)

    return generate()


def random_windows(ids, batch_size: int, seq_len: int, *, seed: int = 0):
    r"""Windows at random offsets of a 1-D stream of token ids ``ids (N,)``, forever (character LM).

    Yields ``x (B, T)`` and ``target (B, T)`` int64 with ``B = batch_size``, ``T = seq_len`` (``N >= T +
    1``): ``x[b, t] = ids[o_b + t]``, ``target[b, t] = ids[o_b + t + 1]``, the offsets :math:`o_b` uniform in
    ``0..N-T-1`` (seeded by ``seed``).
    """
    ids = _as_tensor("ids", check_array("ids", ids, 1, dtype_kind="i", shape="(N,)"), None)
    batch_size = check_positive_int("batch_size", batch_size)
    seq_len = check_positive_int("seq_len", seq_len)
    if ids.shape[0] < seq_len + 1:
        raise ValueError(f"ids has {ids.shape[0]} tokens; a window of seq_len={seq_len} needs seq_len + 1.")
    generator = torch.Generator().manual_seed(check_seed(seed))
    span = torch.arange(seq_len + 1)

    def generate():
        while True:
            offsets = torch.randint(0, ids.shape[0] - seq_len, (batch_size,), generator=generator)
            window = ids[offsets[:, None] + span]
            yield window[:, :-1], window[:, 1:]

    return generate()


@dataclass(frozen=True)
class InverseSigmoidSchedule:
    r"""Inverse-sigmoid decay of the teacher-forcing ratio (Bengio et al. 2015), chapter 6.

    :math:`\epsilon_i = \beta / (\beta + \exp(i / \beta))` with :math:`\beta` = ``k >= 1`` (Bengio et al.'s
    :math:`k`): it starts near :math:`\beta / (\beta + 1)` and falls to 1/2 at :math:`i = \beta \ln \beta`.
    """

    k: float

    def __post_init__(self):
        check_real("k", self.k, low=1.0, hint="Bengio et al. (2015) use k >= 1; larger k decays later.")

    def __call__(self, i: int) -> float:
        z = i / self.k
        return 0.0 if z > 700 else self.k / (self.k + math.exp(z))


@dataclass(frozen=True)
class LinearSchedule:
    r"""Linear decay :math:`\epsilon_i = \max(\epsilon_{\min}, \epsilon_0 - \nu\,i)` of the teacher-forcing
    ratio: slope :math:`\nu` = ``c >= 0``, start :math:`\epsilon_0` = ``k`` and floor ``minimum``
    :math:`= \epsilon_{\min}` in [0, 1] (``k``, ``c`` are Bengio et al.'s names). Chapter 6."""

    c: float
    k: float = 1.0
    minimum: float = 0.0

    def __post_init__(self):
        check_real("c", self.c, low=0.0)
        check_real("k", self.k, low=0.0, high=1.0)
        check_real("minimum", self.minimum, low=0.0, high=1.0)

    def __call__(self, i: int) -> float:
        return max(self.minimum, self.k - self.c * i)


@dataclass(frozen=True)
class ExponentialSchedule:
    r"""Exponential decay :math:`\epsilon_i = \beta^i`, :math:`\beta` = ``k`` in (0, 1]. Chapter 6."""

    k: float

    def __post_init__(self):
        check_real("k", self.k, low=0.0, high=1.0, low_open=True, hint="Use a value such as 0.99.")

    def __call__(self, i: int) -> float:
        return self.k**i


def schedule_values(schedule, steps: int) -> np.ndarray:
    r"""The ratios :math:`(\epsilon_0, \dots, \epsilon_{n-1})`, float64 of shape (steps,), of a schedule (or a
    constant in [0, 1]), e.g. to plot it. Chapter 6."""
    steps = check_positive_int("steps", steps)
    f = _as_schedule(schedule)
    return np.array([f(i) for i in range(steps)], dtype=np.float64)


def _as_schedule(teacher_forcing):
    if callable(teacher_forcing):
        return teacher_forcing
    hint = "Pass a ratio (1.0: always the ground truth, 0.0: the model's own prediction) or a schedule."
    value = check_real("teacher_forcing", teacher_forcing, low=0.0, high=1.0, hint=hint)
    return lambda i: value
