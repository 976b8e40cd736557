"""fit, History, clipping, teacher forcing and its schedules."""

from __future__ import annotations

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
    fit,
    grad_norm,
    schedule_values,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run fastest on one thread; several threads on a shared CPU slow them down many times."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _echo(n=256, T=8):
    return data.delayed_echo(n, T, delay=2, V=4, seed=0)


def _reverse(n=256):
    return data.reverse_digits(n, 3, seed=0)


# ------------------------------------------------------------------------------------------------------------
# History and determinism
# ------------------------------------------------------------------------------------------------------------


def _run_seq2seq(seed, tf=0.5):
    model = Seq2Seq(10, 10, 8, 16, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return fit(
        model,
        _reverse(),
        opt,
        steps=12,
        batch_size=32,
        teacher_forcing=tf,
        clip_norm=1.0,
        metrics={"accuracy": accuracy},
        progress=False,
        seed=seed,
    )


def test_same_seed_gives_identical_history_except_time():
    a, b, c = _run_seq2seq(3), _run_seq2seq(3), _run_seq2seq(4)
    assert a.to_dict(include_time=False) == b.to_dict(include_time=False)
    assert a.to_dict(include_time=False) != c.to_dict(include_time=False)  # the seed matters
    assert len(a.time) == 12 and all(t2 >= t1 for t1, t2 in zip(a.time, a.time[1:], strict=False))


def test_history_fields_and_dict():
    h = _run_seq2seq(0)
    assert isinstance(h, History) and len(h) == 12
    d = h.to_dict()
    assert set(d) >= {"loss", "grad_norm", "time", "lr", "teacher_forcing", "accuracy", "stop_reason"}
    assert all(len(d[k]) == 12 for k in ("loss", "grad_norm", "time", "lr", "teacher_forcing", "accuracy"))
    assert h.accuracy == h.metrics["accuracy"]  # extra metrics as attributes
    assert h.lr == [0.01] * 12 and h.teacher_forcing == [0.5] * 12
    assert h.stop_reason == "steps"
    with pytest.raises(AttributeError, match=r"no attribute or metric 'bleu'"):
        _ = h.bleu


def test_fit_reduces_the_loss_and_epochs_count_batches():
    x, y = _echo()
    model = ManyToMany(4, 16, 4, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    h = fit(model, (x, y), opt, epochs=6, batch_size=64, progress=False)
    assert len(h) == 6 * 4 and h.stop_reason == "epochs"
    assert np.mean(h.loss[-4:]) < 0.5 * np.mean(h.loss[:4])


# ------------------------------------------------------------------------------------------------------------
# clipping
# ------------------------------------------------------------------------------------------------------------


def _grads_after(model_fn, clip):
    model = model_fn()
    x = torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    (model(x) ** 2).sum().mul(50).backward()
    norm = clip(list(model.parameters()))
    return norm, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_agrees_with_torch(max_norm):
    def make():
        return ManyToMany(3, 5, 2, dtype=torch.float64, seed=0)

    ours_norm, ours = _grads_after(make, lambda ps: clip_grad_norm_(ps, max_norm))
    torch_norm, theirs = _grads_after(make, lambda ps: float(torch.nn.utils.clip_grad_norm_(ps, max_norm)))
    assert ours_norm == pytest.approx(torch_norm, rel=1e-12)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=0)
    total = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in ours])))
    assert total == pytest.approx(min(max_norm, ours_norm), rel=1e-5)


def test_clip_grad_value_agrees_with_torch():
    def make():
        return ManyToMany(3, 5, 2, dtype=torch.float64, seed=0)

    largest, ours = _grads_after(make, lambda ps: clip_grad_value_(ps, 0.05))
    _, theirs = _grads_after(make, lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.05))
    assert largest > 0.05
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def _one_sgd_step(**kwargs):
    """One SGD step with lr = 1: the parameter change is minus the (clipped) gradient."""
    x, y = _echo(64)
    model = ManyToMany(4, 8, 4, dtype=torch.float64, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    h = fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=1.0), steps=1, progress=False, **kwargs)
    update = [b - p.detach() for b, p in zip(before, model.parameters(), strict=True)]
    # the raw gradient, recomputed
    fresh = ManyToMany(4, 8, 4, dtype=torch.float64, seed=0)
    loss = torch.nn.functional.cross_entropy(
        fresh(torch.as_tensor(x)).reshape(-1, 4), torch.as_tensor(y).reshape(-1)
    )
    raw = torch.autograd.grad(loss, list(fresh.parameters()))
    return h, update, raw


def test_fit_records_the_norm_before_clipping_and_clips_by_norm():
    h, update, raw = _one_sgd_step(clip_norm=0.1)
    raw_norm = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in raw])))
    assert raw_norm > 0.1
    assert h.grad_norm[0] == pytest.approx(raw_norm, rel=1e-10)
    expected = [g * min(1.0, 0.1 / (raw_norm + 1e-6)) for g in raw]
    for u, e in zip(update, expected, strict=True):
        assert torch.allclose(u, e, rtol=1e-10, atol=1e-14)


def test_fit_clips_by_value():
    h, update, raw = _one_sgd_step(clip_value=0.01)
    for u, g in zip(update, raw, strict=True):
        assert torch.allclose(u, g.clamp(-0.01, 0.01), rtol=1e-10, atol=1e-14)
    assert max(float(g.abs().max()) for g in raw) > 0.01


def test_grad_norm_matches_definition():
    model = ManyToOne(2, 3, 2, dtype=torch.float64, seed=0)
    model(torch.ones(1, 2, 2, dtype=torch.float64)).sum().backward()
    expected = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()))
    assert grad_norm(model.parameters()) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------------------------------------
# teacher forcing inside fit
# ------------------------------------------------------------------------------------------------------------


def _recording_forward(log):
    """A forward for fit that asks the model what it fed (return_inputs) and keeps it."""

    def forward(model, x, y, teacher_forcing, generator):
        out, info = model(x, y, teacher_forcing=teacher_forcing, generator=generator, return_inputs=True)
        log.append((y, out.detach(), info, teacher_forcing))
        return out

    return forward


def test_fit_with_ratio_zero_feeds_only_own_predictions():
    log = []
    model = Seq2Seq(10, 10, 8, 16, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, _reverse(), opt, steps=5, batch_size=64, teacher_forcing=0.0, forward=_recording_forward(log),
        progress=False)  # fmt: skip
    assert len(log) == 5
    for _, out, info, ratio in log:
        assert ratio == 0.0
        assert torch.equal(info["tokens"][:, 1:], out.argmax(-1)[:, :-1])
        assert not info["from_target"].any()


def test_fit_with_ratio_one_feeds_only_ground_truth():
    log = []
    model = Seq2Seq(10, 10, 8, 16, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, _reverse(), opt, steps=5, batch_size=64, teacher_forcing=1.0, forward=_recording_forward(log),
        progress=False)  # fmt: skip
    for y, _, info, _ in log:
        assert torch.equal(info["tokens"][:, 1:], y[:, :-1])
        assert info["from_target"][:, 1:].all()


def test_default_forward_passes_the_ratio_to_the_model():
    """Without a custom forward, fit calls model.forward_train(x, y, ratio, generator)."""
    seen = []

    class Spy(OneToMany):
        def forward_train(self, x, y, teacher_forcing=1.0, generator=None):
            seen.append(teacher_forcing)
            return super().forward_train(x, y, teacher_forcing, generator)

    start, y = data.counting(64, 5, seed=0)
    model = Spy(10, 8, 10, feed="output", seed=0)
    fit(model, (start, y), torch.optim.SGD(model.parameters(), lr=0.1), steps=4, teacher_forcing=0.25,
        progress=False)  # fmt: skip
    assert seen == [0.25] * 4


def test_scheduled_ratio_follows_its_formula():
    schedule = InverseSigmoidSchedule(5)
    start, y = data.counting(64, 5, seed=0)
    model = OneToMany(10, 8, 10, feed="output", seed=0)
    h = fit(model, (start, y), torch.optim.SGD(model.parameters(), lr=0.1), steps=30, batch_size=16,
            teacher_forcing=schedule, progress=False)  # fmt: skip
    assert h.teacher_forcing == pytest.approx([5 / (5 + math.exp(i / 5)) for i in range(30)], rel=1e-12)


def test_schedule_formulas():
    sig = InverseSigmoidSchedule(10)
    assert sig(0) == pytest.approx(10 / 11)
    assert sig(10 * math.log(10)) == pytest.approx(0.5)
    assert sig(10**6) == 0.0
    vals = schedule_values(sig, 200)
    assert vals.shape == (200,) and np.all(np.diff(vals) < 0)
    lin = LinearSchedule(0.01, k=0.9, minimum=0.2)
    assert [lin(0), lin(30), lin(1000)] == pytest.approx([0.9, 0.6, 0.2])
    exp = ExponentialSchedule(0.9)
    assert exp(3) == pytest.approx(0.729)
    assert np.array_equal(schedule_values(0.3, 4), np.full(4, 0.3))


# ------------------------------------------------------------------------------------------------------------
# data forms, callbacks, progress, evaluation
# ------------------------------------------------------------------------------------------------------------


def test_iterable_and_callable_data():
    x, y = _echo(64)
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    model = ManyToMany(4, 8, 4, seed=0)
    h = fit(model, batches, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, progress=False)
    assert len(h) == 4

    def draw(generator):
        seed = int(torch.randint(0, 10**6, (1,), generator=generator))
        return data.delayed_echo(16, 8, delay=2, V=4, seed=seed)

    model = ManyToMany(4, 8, 4, seed=0)
    h1 = fit(model, draw, torch.optim.SGD(model.parameters(), lr=0.1), steps=3, progress=False, seed=1)
    model = ManyToMany(4, 8, 4, seed=0)
    h2 = fit(model, draw, torch.optim.SGD(model.parameters(), lr=0.1), steps=3, progress=False, seed=1)
    assert h1.loss == h2.loss and len(h1) == 3


def test_callback_can_stop_and_sees_metrics():
    seen = []

    def cb(step, metrics):
        seen.append((step, sorted(metrics)))
        return step >= 3

    x, y = _echo(64)
    model = ManyToMany(4, 8, 4, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, (x, y), opt, steps=10, batch_size=16, callbacks=[cb], progress=False)
    assert len(h) == 3 and h.stop_reason == "callback"
    assert seen[0] == (1, ["grad_norm", "loss", "lr", "teacher_forcing", "time"])


def test_lr_scheduler_is_recorded():
    x, y = _echo(64)
    model = ManyToMany(4, 8, 4, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    h = fit(model, (x, y), opt, steps=5, scheduler=sched, progress=False)
    assert h.lr == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_eval_fn_every_k_steps():
    x, y = _echo(64)
    model = ManyToMany(4, 8, 4, seed=0)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    h = fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1), steps=5, eval_every=2,
            eval_fn=lambda m: {"acc": accuracy(m(xt), yt)}, progress=False)  # fmt: skip
    assert h.eval_steps == [2, 4, 5] and len(h.evals["acc"]) == 3


def test_non_finite_loss_stops_training():
    x, y = _echo(64)
    model = ManyToMany(4, 8, 4, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    h = fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1), steps=5,
            loss_fn=lambda out, t: out.sum() * float("nan"), progress=False)  # fmt: skip
    assert len(h) == 1 and h.stop_reason == "non-finite" and math.isnan(h.loss[0])
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))  # no update


def test_progress_bar_on_and_off(capsys):
    x, y = _echo(64)
    model = ManyToMany(4, 8, 4, seed=0)
    fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1), steps=2, progress=False)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1), steps=2, progress=True)
    assert "fit" in capsys.readouterr().err


def test_tbptt_on_batches_of_sequences():
    x, y = _echo(64, T=12)
    model = ManyToMany(4, 8, 4, seed=0)
    h = fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=32, tbptt=4,
            metrics={"accuracy": accuracy}, progress=False)  # fmt: skip
    assert len(h) == 2 * 3  # 2 batches, 3 windows of 4 steps each


# ------------------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------------------


def _model_opt():
    model = ManyToMany(4, 8, 4, seed=0)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize("ratio", [1.5, -0.1])
def test_teacher_forcing_ratio_outside_unit_interval(ratio):
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=rf"teacher_forcing must be in \[0, 1\] .* got {ratio}"):
        fit(model, _echo(16), opt, steps=1, teacher_forcing=ratio, progress=False)


def test_schedule_leaving_unit_interval_is_caught():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"schedule returned 2.0 at step 0; expected \[0, 1\]"):
        fit(model, _echo(16), opt, steps=1, teacher_forcing=lambda i: 2.0, progress=False)


def test_steps_must_be_positive():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got 0"):
        fit(model, _echo(16), opt, steps=0, progress=False)


def test_clip_norm_must_be_positive():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"clip_norm must be > 0.0, got -1.0"):
        fit(model, _echo(16), opt, steps=1, clip_norm=-1.0, progress=False)


def test_clip_value_must_be_positive():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"clip_value must be > 0.0, got 0.0"):
        fit(model, _echo(16), opt, steps=1, clip_value=0.0, progress=False)


def test_x_y_length_mismatch():
    model, opt = _model_opt()
    x, y = _echo(16)
    with pytest.raises(ValueError, match=r"same length along axis 0, got 16 and 15"):
        fit(model, (x, y[:15]), opt, steps=1, progress=False)


def test_callable_data_needs_steps():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"callable data\(generator\) yields batches forever: pass steps"):
        fit(model, lambda g: _echo(16), opt, progress=False)


def test_stream_needs_tbptt():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"stream=True needs tbptt=k"):
        fit(model, _echo(16), opt, steps=1, stream=True, progress=False)


def test_tbptt_k2_smaller_than_k1():
    model, opt = _model_opt()
    with pytest.raises(ValueError, match=r"k2 < k1 is not supported, got k1=4, k2=2"):
        fit(model, _echo(16), opt, steps=1, tbptt=(4, 2), progress=False)


def test_stream_shorter_than_one_segment():
    model, opt = _model_opt()
    ids = np.arange(40) % 4
    with pytest.raises(ValueError, match=r"streams has 9 steps, shorter than one segment of k1=10"):
        fit(model, (ids[:-1], ids[1:]), opt, tbptt=10, stream=True, batch_size=4, progress=False)


def test_optimizer_type():
    model, _ = _model_opt()
    with pytest.raises(TypeError, match=r"optimizer must be a torch.optim.Optimizer, got list"):
        fit(model, _echo(16), [], steps=1, progress=False)


def test_schedule_parameters():
    with pytest.raises(ValueError, match=r"k must be >= 1.0, got 0.5"):
        InverseSigmoidSchedule(0.5)
    with pytest.raises(ValueError, match=r"k must be > 0.0, got 0.0"):
        ExponentialSchedule(0.0)
    with pytest.raises(ValueError, match=r"k must be <= 1.0, got 1.2"):
        LinearSchedule(0.1, k=1.2)
