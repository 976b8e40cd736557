"""fit, train_step, History, loss functions, batch sources, clipping, teacher forcing and its schedules."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from rnncourse import data
from rnncourse.topologies import ManyToMany, ManyToOne, OneToMany, Seq2Seq
from rnncourse.training import (
    ExponentialSchedule,
    History,
    InverseSigmoidSchedule,
    LinearSchedule,
    accuracy,
    clip_grad_norm_,
    clip_grad_value_,
    default_loss,
    fit,
    grad_norm,
    minibatches,
    random_windows,
    schedule_values,
    supervised,
    train_step,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run fastest on one thread; several threads on a shared CPU slow them down many times."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _echo(n=64, T=8):
    return data.delayed_echo(n, T, delay=2, V=4, seed=0)


def _model_opt(lr=0.1, dtype=None):
    model = ManyToMany(4, 8, 4, dtype=dtype, seed=0)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


# ------------------------------------------------------------------------------------------------------------
# History, fit and determinism
# ------------------------------------------------------------------------------------------------------------


def _run_seq2seq(seed, tf=0.5):
    model = Seq2Seq(10, 10, 8, 16, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, target = data.reverse_digits(256, 3, seed=0)
    loss_fn = supervised(metrics={"accuracy": accuracy}, teacher_forcing=tf, seed=seed)
    return fit(model, minibatches(x, target, batch_size=32, seed=seed), opt, steps=12, loss_fn=loss_fn,
               clip_norm=1.0)  # fmt: skip


def test_same_seed_gives_the_same_history_twice():
    a, b, c = _run_seq2seq(3), _run_seq2seq(3), _run_seq2seq(4)
    assert a == b and dataclasses.asdict(a) == dataclasses.asdict(b)
    assert a.loss != c.loss  # the seed matters


def test_history_fields():
    h = _run_seq2seq(0)
    assert isinstance(h, History) and len(h) == 12 and h.stop_reason == "steps"
    assert {f.name for f in dataclasses.fields(History)} == {
        "loss", "grad_norm", "metrics", "eval_steps", "evals", "stop_reason"}  # fmt: skip
    assert set(h.metrics) == {"accuracy", "teacher_forcing"}
    assert all(len(v) == 12 for v in (h.loss, h.grad_norm, *h.metrics.values()))
    assert h.metrics["teacher_forcing"] == [0.5] * 12
    assert not hasattr(h, "time") and not hasattr(h, "accuracy")  # no clock, no attribute magic


def test_fit_reduces_the_loss():
    x, target = _echo(256)
    model = ManyToMany(4, 16, 4, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    h = fit(model, minibatches(x, target, batch_size=64), opt, steps=24)
    assert len(h) == 24 and np.mean(h.loss[-4:]) < 0.5 * np.mean(h.loss[:4])


def test_fit_stops_when_the_batches_run_out():
    x, target = _echo(64)
    model, opt = _model_opt()
    batches = [(torch.as_tensor(x[:32]), torch.as_tensor(target[:32])), (torch.as_tensor(x[32:]),
               torch.as_tensor(target[32:]))]  # fmt: skip
    h = fit(model, batches, opt, steps=10)
    assert len(h) == 2 and h.stop_reason == "data"


def test_callback_stops_and_sees_the_history():
    seen = []

    def cb(step, history, model):
        seen.append((step, len(history), isinstance(model, ManyToMany)))
        return step >= 3

    model, opt = _model_opt()
    h = fit(model, minibatches(*_echo(), batch_size=16), opt, steps=10, callbacks=[cb])
    assert len(h) == 3 and h.stop_reason == "callback"
    assert seen == [(1, 1, True), (2, 2, True), (3, 3, True)]


def test_lr_scheduler_stepped_in_a_callback():
    model, opt = _model_opt()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []

    def record_lr(model, batch, step):
        lrs.append(opt.param_groups[0]["lr"])
        return supervised()(model, batch, step)

    fit(model, minibatches(*_echo(), batch_size=16), opt, steps=5, loss_fn=record_lr,
        callbacks=[lambda step, history, model: sched.step()])  # fmt: skip
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_eval_fn_every_k_steps_and_after_the_last():
    x, target = _echo()
    xt, tt = torch.as_tensor(x), torch.as_tensor(target)
    model, opt = _model_opt()
    modes = []

    def eval_fn(m):
        modes.append((m.training, torch.is_grad_enabled()))
        return {"acc": accuracy(m(xt), tt)}

    h = fit(model, minibatches(x, target, batch_size=16), opt, steps=5, eval_fn=eval_fn, eval_every=2)
    assert h.eval_steps == [2, 4, 5] and len(h.evals["acc"]) == 3
    assert modes == [(False, False)] * 3 and model.training  # eval mode and no_grad, then restored
    h = fit(model, minibatches(x, target, batch_size=16), opt, steps=4, eval_fn=eval_fn, eval_every=2)
    assert h.eval_steps == [2, 4]  # the last step is not evaluated twice


def test_non_finite_loss_stops_without_updating():
    model, opt = _model_opt()
    before = [p.detach().clone() for p in model.parameters()]

    def nan_loss(model, batch, step):
        return model(batch[0]).sum() * float("nan")

    h = fit(model, minibatches(*_echo(), batch_size=16), opt, steps=5, loss_fn=nan_loss)
    assert len(h) == 1 and h.stop_reason == "non-finite" and math.isnan(h.loss[0])
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_progress_bar_on_and_off(capsys):
    model, opt = _model_opt()
    fit(model, minibatches(*_echo(), batch_size=16), opt, steps=2)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    fit(model, minibatches(*_echo(), batch_size=16), opt, steps=2, progress=True)
    assert "fit" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------
# train_step: one update, the norm before clipping
# ------------------------------------------------------------------------------------------------------------


def _raw_gradient(x, target):
    fresh = ManyToMany(4, 8, 4, dtype=torch.float64, seed=0)
    loss = torch.nn.functional.cross_entropy(fresh(x).reshape(-1, 4), target.reshape(-1))
    return torch.autograd.grad(loss, list(fresh.parameters()))


def test_train_step_records_the_norm_before_clipping_and_clips_by_norm():
    x, target = (torch.as_tensor(a) for a in _echo())
    model, opt = _model_opt(lr=1.0, dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    loss, norm, metrics = train_step(model, (x, target), opt, clip_norm=0.1)
    raw = _raw_gradient(x, target)
    raw_norm = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in raw])))
    assert raw_norm > 0.1 and norm == pytest.approx(raw_norm, rel=1e-10) and metrics == {}
    fresh = ManyToMany(4, 8, 4, dtype=torch.float64, seed=0)
    assert loss == pytest.approx(float(default_loss(fresh(x), target).detach()), rel=1e-12)
    for b, p, g in zip(before, model.parameters(), raw, strict=True):  # SGD with lr = 1: minus the clipped g
        assert torch.allclose(b - p.detach(), g * (0.1 / (raw_norm + 1e-6)), rtol=1e-10, atol=1e-14)


def test_train_step_accepts_a_bare_loss_and_passes_the_step():
    model, opt = _model_opt()
    steps = []

    def loss_fn(model, batch, step):
        steps.append(step)
        return default_loss(model(batch[0]), batch[1])

    batch = next(minibatches(*_echo(), batch_size=16))
    assert train_step(model, batch, opt, loss_fn, step=7)[2] == {} and steps == [7]


# ------------------------------------------------------------------------------------------------------------
# loss functions
# ------------------------------------------------------------------------------------------------------------


def test_default_loss_is_cross_entropy_or_mse():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 3, 5, generator=g)
    target = torch.randint(0, 5, (2, 3), generator=g)
    expected = -torch.log_softmax(y, -1).gather(-1, target[..., None]).mean()
    assert torch.allclose(default_loss(y, target), expected)
    y, target = torch.randn(4, 1, generator=g), torch.randn(4, generator=g)
    assert torch.allclose(default_loss(y, target), ((y[:, 0] - target) ** 2).mean())


def test_accuracy():
    y = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(y, torch.tensor([1, 0, 0, 1])) == 0.5


def test_supervised_returns_the_loss_and_the_metrics():
    x, target = (torch.as_tensor(a) for a in _echo(16))
    model = ManyToMany(4, 8, 4, seed=0)
    loss, metrics = supervised(metrics={"accuracy": accuracy})(model, (x, target), 0)
    y = model(x)
    assert torch.allclose(loss, default_loss(y, target)) and metrics == {"accuracy": accuracy(y, target)}


def test_supervised_teacher_forcing_passes_and_records_the_ratio():
    seen = []

    class Spy(OneToMany):
        def forward_train(self, x, target, teacher_forcing=1.0, generator=None):
            seen.append(teacher_forcing)
            return super().forward_train(x, target, teacher_forcing, generator)

    start, target = data.counting(64, 5, seed=0)
    model = Spy(10, 8, 10, feed="output", seed=0)
    schedule = InverseSigmoidSchedule(5)
    h = fit(model, minibatches(start, target, batch_size=16), torch.optim.SGD(model.parameters(), lr=0.1),
            steps=30, loss_fn=supervised(teacher_forcing=schedule))  # fmt: skip
    expected = [5 / (5 + math.exp(i / 5)) for i in range(30)]
    assert h.metrics["teacher_forcing"] == pytest.approx(expected, rel=1e-12)
    assert seen == h.metrics["teacher_forcing"]


def test_schedule_formulas():
    sig = InverseSigmoidSchedule(10)
    assert sig(0) == pytest.approx(10 / 11)
    assert sig(10 * math.log(10)) == pytest.approx(0.5)
    assert sig(10**6) == 0.0
    vals = schedule_values(sig, 200)
    assert vals.shape == (200,) and np.all(np.diff(vals) < 0)
    lin = LinearSchedule(0.01, k=0.9, minimum=0.2)
    assert [lin(0), lin(30), lin(1000)] == pytest.approx([0.9, 0.6, 0.2])
    assert ExponentialSchedule(0.9)(3) == pytest.approx(0.729)
    assert np.array_equal(schedule_values(0.3, 4), np.full(4, 0.3))


# ------------------------------------------------------------------------------------------------------------
# batch sources
# ------------------------------------------------------------------------------------------------------------


def test_minibatches_cover_every_example_once_per_epoch_and_reshuffle():
    x = np.arange(10, dtype=np.float64)[:, None]
    target = np.arange(10)
    it = minibatches(x, target, batch_size=4, seed=1)
    epochs = [[next(it) for _ in range(3)] for _ in range(2)]
    for batches in epochs:
        assert [len(b[0]) for b in batches] == [4, 4, 2]
        got = torch.cat([b[1] for b in batches])
        assert sorted(got.tolist()) == list(range(10))
        assert all(torch.equal(b[0][:, 0].long(), b[1]) for b in batches)  # rows stay aligned
    assert torch.cat([b[1] for b in epochs[0]]).tolist() != torch.cat([b[1] for b in epochs[1]]).tolist()
    xb, tb = epochs[0][0]
    assert xb.dtype == torch.get_default_dtype() and tb.dtype == torch.int64
    assert next(minibatches(x, batch_size=3, dtype=torch.float64))[0].dtype == torch.float64
    again = minibatches(x, target, batch_size=4, seed=1)
    assert torch.equal(next(again)[1], epochs[0][0][1])  # seeded


def test_random_windows_are_shifted_by_one():
    ids = np.arange(100) % 7
    x, target = next(random_windows(ids, 5, 12, seed=0))
    assert x.shape == target.shape == (5, 12) and x.dtype == target.dtype == torch.int64
    assert torch.equal(x[:, 1:], target[:, :-1])
    assert torch.equal(target, (x + 1) % 7)
    a, b = random_windows(ids, 5, 12, seed=3), random_windows(ids, 5, 12, seed=3)
    assert all(torch.equal(next(a)[0], next(b)[0]) for _ in range(3))
    x, _ = next(random_windows(np.arange(11), 2, 10))  # N = T + 1: the only window
    assert x.tolist() == [list(range(10))] * 2


# ------------------------------------------------------------------------------------------------------------
# clipping
# ------------------------------------------------------------------------------------------------------------


def _grads_after(clip):
    model = ManyToMany(3, 5, 2, dtype=torch.float64, seed=0)
    x = torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    (model(x) ** 2).sum().mul(50).backward()
    norm = clip(list(model.parameters()))
    return norm, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_equals_torch(max_norm):
    ours_norm, ours = _grads_after(lambda ps: clip_grad_norm_(ps, max_norm))
    torch_norm, theirs = _grads_after(lambda ps: float(torch.nn.utils.clip_grad_norm_(ps, max_norm)))
    assert ours_norm == pytest.approx(torch_norm, rel=1e-12)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=0)
    total = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in ours])))
    assert total == pytest.approx(min(max_norm, ours_norm), rel=1e-5)


def test_clip_grad_value_equals_torch():
    largest, ours = _grads_after(lambda ps: clip_grad_value_(ps, 0.05))
    _, theirs = _grads_after(lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.05))
    assert largest > 0.05
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_grad_norm_matches_definition():
    model = ManyToOne(2, 3, 2, dtype=torch.float64, seed=0)
    model(torch.ones(1, 2, 2, dtype=torch.float64)).sum().backward()
    expected = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()))
    assert grad_norm(model.parameters()) == pytest.approx(expected, rel=1e-12)
    w = torch.zeros(3, requires_grad=True)
    assert grad_norm(w) == clip_grad_norm_([w], 1.0) == clip_grad_value_(w, 1.0) == 0.0  # no gradient yet


# ------------------------------------------------------------------------------------------------------------
# validation: one raises per rule
# ------------------------------------------------------------------------------------------------------------


def _batches():
    return minibatches(*_echo(16), batch_size=16)


@pytest.mark.parametrize("ratio", [1.5, -0.1])
def test_teacher_forcing_ratio_outside_unit_interval(ratio):
    with pytest.raises(ValueError, match=r"teacher_forcing must be <= 1.0|teacher_forcing must be >= 0.0"):
        supervised(teacher_forcing=ratio)


def test_teacher_forcing_ratio_type():
    with pytest.raises(TypeError, match=r"teacher_forcing must be a finite real number, got '0.5'"):
        supervised(teacher_forcing="0.5")


def test_schedule_leaving_unit_interval_is_caught():
    model = Seq2Seq(10, 10, 8, 16, seed=0)
    batch = next(minibatches(*data.reverse_digits(8, 3, seed=0), batch_size=8))
    with pytest.raises(ValueError, match=r"teacher-forcing ratio at step 0 must be <= 1.0, got 2.0"):
        supervised(teacher_forcing=lambda i: 2.0)(model, batch, 0)


def test_teacher_forcing_needs_forward_train():
    model, _ = _model_opt()
    with pytest.raises(TypeError, match=r"teacher_forcing needs a model with forward_train"):
        supervised(teacher_forcing=0.5)(model, next(_batches()), 0)


def test_supervised_batch_must_be_a_pair():
    model, _ = _model_opt()
    with pytest.raises(ValueError, match=r"supervised\(\) reads batches \(x, target\)"):
        supervised()(model, (torch.zeros(1, 2, 4),), 0)


def test_supervised_loss_and_metrics_must_be_callable():
    with pytest.raises(TypeError, match=r"loss must be callable"):
        supervised(loss="mse")
    with pytest.raises(TypeError, match=r"metrics must map names \(str\) to callables"):
        supervised(metrics={"acc": 1.0})


def test_steps_must_be_positive():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got 0"):
        fit(model, _batches(), opt, steps=0)


def test_eval_every_must_be_positive():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"eval_every must be an integer >= 1, got 0"):
        fit(model, _batches(), opt, steps=1, eval_every=0)


def test_callbacks_must_be_callable():
    model, opt = _model_opt()
    with pytest.raises(TypeError, match=r"callbacks and eval_fn must be callable"):
        fit(model, _batches(), opt, steps=1, callbacks=[1])


def test_eval_fn_must_return_a_dict():
    model, opt = _model_opt()
    with pytest.raises(TypeError, match=r"eval_fn must return a dict of str -> float, got float"):
        fit(model, _batches(), opt, steps=1, eval_fn=lambda m: 1.0)


def test_batches_must_be_iterable():
    model, opt = _model_opt()
    with pytest.raises(TypeError, match=r"batches must be an iterable of batches, got int"):
        fit(model, 3, opt, steps=1)


def test_clip_norm_must_be_positive():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"clip_norm must be > 0.0, got -1.0"):
        train_step(model, next(_batches()), opt, clip_norm=-1.0)


def test_step_must_be_non_negative():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"step must be an integer >= 0, got -1"):
        train_step(model, next(_batches()), opt, step=-1)


def test_optimizer_and_model_types():
    model, opt = _model_opt()
    with pytest.raises(TypeError, match=r"optimizer must be a torch.optim.Optimizer"):
        train_step(model, next(_batches()), [])
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module, got function"):
        train_step(lambda x: x, next(_batches()), opt)


def test_loss_fn_must_return_a_scalar_tensor():
    model, opt = _model_opt()
    with pytest.raises(TypeError, match=r"loss_fn must return a scalar tensor"):
        train_step(model, next(_batches()), opt, lambda m, b, s: 1.0)


def test_clip_parameters_must_be_positive():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"max_norm must be > 0.0, got 0.0"):
        clip_grad_norm_(w, 0.0)
    with pytest.raises(ValueError, match=r"clip_value must be > 0.0, got -1.0"):
        clip_grad_value_(w, -1.0)


def test_minibatches_validation():
    with pytest.raises(ValueError, match=r"minibatches needs at least one array"):
        minibatches(batch_size=2)
    with pytest.raises(ValueError, match=r"same N > 0 examples; arrays\[0\]: 4, arrays\[1\]: 3"):
        minibatches(np.zeros((4, 2)), np.zeros(3), batch_size=2)
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        minibatches(np.zeros(4), batch_size=0)
    with pytest.raises(TypeError, match=r"arrays\[0\] must be an array"):
        minibatches([1, 2], batch_size=1)
    with pytest.raises(TypeError, match=r"arrays\[0\] has dtype bool"):
        minibatches(np.zeros(3, dtype=bool), batch_size=1)
    with pytest.raises(ValueError, match=r"arrays\[0\] contains NaN"):
        minibatches(np.array([1.0, np.nan]), batch_size=1)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):
        minibatches(np.zeros(4), batch_size=2, seed=-1)


def test_random_windows_validation():
    with pytest.raises(ValueError, match=r"ids must have 1 dimensions, got 2 .* expected shape \(N,\)"):
        random_windows(np.zeros((2, 5), dtype=np.int64), 1, 2)
    with pytest.raises(TypeError, match=r"ids must hold integer ids"):
        random_windows(np.zeros(5), 1, 2)
    with pytest.raises(ValueError, match=r"ids has 5 tokens; a window of seq_len=5 needs seq_len \+ 1"):
        random_windows(np.arange(5), 1, 5)
    with pytest.raises(ValueError, match=r"seq_len must be an integer >= 1, got 0"):
        random_windows(np.arange(5), 1, 0)


def test_schedule_parameters():
    with pytest.raises(ValueError, match=r"k must be >= 1.0, got 0.5"):
        InverseSigmoidSchedule(0.5)
    with pytest.raises(ValueError, match=r"k must be > 0.0, got 0.0"):
        ExponentialSchedule(0.0)
    with pytest.raises(ValueError, match=r"k must be <= 1.0, got 1.2"):
        LinearSchedule(0.1, k=1.2)
    with pytest.raises(ValueError, match=r"c must be >= 0.0, got -0.1"):
        LinearSchedule(-0.1)
    with pytest.raises(ValueError, match=r"minimum must be <= 1.0, got 2.0"):
        LinearSchedule(0.1, minimum=2.0)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got 0"):
        schedule_values(0.5, 0)
