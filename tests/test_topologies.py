"""Topologies: shapes, equations, teacher forcing, validation, and one small task each (acceptance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rnncourse import data
from rnncourse.sampling import beam_search, decode
from rnncourse.topologies import ManyToMany, ManyToOne, OneToMany, Seq2Seq, readout_parameters
from rnncourse.training import accuracy, fit, minibatches, supervised


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run fastest on one thread; several threads on a shared CPU slow them down many times."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------------------------
# acceptance: one small task per topology (each a few seconds)
# ------------------------------------------------------------------------------------------------------------


def _sign_of_sum(bits):
    """Sign of the sum of the +-1 values 2 b_t - 1 (odd T: never zero), as a class 0/1."""
    return ((2 * bits[..., 0] - 1).sum(1) > 0).astype(np.int64)


def test_many_to_one_sign_of_a_sum():
    T = 9
    x, _ = data.parity(3000, T, seed=0)
    x_test, _ = data.parity(1000, T, seed=1)
    ids, ids_test = x[..., 0].astype(np.int64), torch.as_tensor(x_test[..., 0].astype(np.int64))
    model = ManyToOne(2, 32, 2, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, minibatches(ids, _sign_of_sum(x), batch_size=64), opt, steps=150, loss_fn=supervised())
    with torch.no_grad():
        acc = accuracy(model(ids_test), torch.as_tensor(_sign_of_sum(x_test)))
    assert acc > 0.95


def test_many_to_many_delayed_echo():
    x, target = data.delayed_echo(2000, 12, delay=3, V=4, seed=0)
    x_test, target_test = data.delayed_echo(500, 12, delay=3, V=4, seed=1)
    model = ManyToMany(4, 32, 4, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, minibatches(x, target, batch_size=64), opt, steps=300, loss_fn=supervised())
    with torch.no_grad():
        acc = accuracy(model(torch.as_tensor(x_test)), torch.as_tensor(target_test))
    assert acc > 0.95


@pytest.mark.parametrize("feed", ["output", "zeros"])
def test_one_to_many_counting(feed):
    """Autoregressive feed over 95%; the zeros feed, measured beside it, also counts (the state alone can
    carry the +1 map), and both keep counting beyond the trained length."""
    T, T_long = 8, 24
    start, target = data.counting(2000, T, seed=0)
    start_test, target_test = data.counting(500, T_long, seed=1)
    model = OneToMany(10, 32, 10, feed=feed, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(
        model,
        minibatches(start, target, batch_size=64),
        opt,
        steps=200,
        loss_fn=supervised(teacher_forcing=1.0),
    )
    with torch.no_grad():
        y = model(torch.as_tensor(start_test), T_long)  # no targets: generation reads its own predictions
    target_test = torch.as_tensor(target_test)
    assert accuracy(y[:, :T], target_test[:, :T]) > 0.95
    assert accuracy(y[:, T:], target_test[:, T:]) > 0.9


def test_seq2seq_reverses_digits():
    src, tgt = data.reverse_digits(4000, 4, seed=0)
    src_test, tgt_test = data.reverse_digits(500, 4, seed=1)
    model = Seq2Seq(10, 10, 16, 64, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, minibatches(src, tgt, batch_size=64), opt, steps=400, loss_fn=supervised(teacher_forcing=1.0))
    with torch.no_grad():
        y = model(torch.as_tensor(src_test), steps=4)  # inference: no ground truth fed
    assert accuracy(y, torch.as_tensor(tgt_test)) > 0.9


# ------------------------------------------------------------------------------------------------------------
# equations and shapes
# ------------------------------------------------------------------------------------------------------------


def _manual_states(model, x):
    cell = model.rnn.cells[0]
    h = torch.zeros(x.shape[0], cell.hidden_size, dtype=x.dtype)
    hs = []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ cell.W_xh.T + h @ cell.W_hh.T + cell.b_h)
        hs.append(h)
    return torch.stack(hs, 1)


def test_many_to_many_equation_and_shapes():
    model = ManyToMany(3, 5, 4, dtype=torch.float64, seed=0)
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y, h_n = model(x, return_state=True)
    hs = _manual_states(model, x)
    assert y.shape == (2, 6, 4) and h_n.shape == (1, 2, 5)
    assert torch.allclose(y, hs @ model.W_hy.T + model.b_y, rtol=0, atol=1e-12)
    assert torch.allclose(h_n[0], hs[:, -1], rtol=0, atol=1e-12)


def test_many_to_one_reads_the_last_state():
    model = ManyToOne(3, 5, 4, num_layers=2, dtype=torch.float64, seed=0)
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y, h_n = model(x, return_state=True)
    assert y.shape == (2, 4) and h_n.shape == (2, 2, 5)
    assert torch.allclose(y, h_n[-1] @ model.W_hy.T + model.b_y, rtol=0, atol=1e-12)


def test_one_to_one_is_the_degenerate_case_T_1():
    """T = 1: y = W_hy tanh(W_xh x + b_h) + b_y, a feed-forward network."""
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    m2o = ManyToOne(3, 5, 2, dtype=torch.float64, seed=0)
    cell = m2o.rnn.cells[0]
    expected = torch.tanh(x @ cell.W_xh.T + cell.b_h) @ m2o.W_hy.T + m2o.b_y
    assert torch.allclose(m2o(x[:, None, :]), expected, rtol=0, atol=1e-12)
    o2m = OneToMany(3, 5, 2, dtype=torch.float64, seed=0)
    cell = o2m.rnn.cells[0]
    expected = torch.tanh(x @ cell.W_xh.T + cell.b_h) @ o2m.W_hy.T + o2m.b_y
    assert torch.allclose(o2m(x, 1)[:, 0], expected, rtol=0, atol=1e-12)


def test_integer_ids_are_one_hot_inputs():
    model = ManyToMany(5, 6, 3, seed=0)
    ids = torch.tensor([[0, 4, 2], [1, 1, 3]])
    assert torch.equal(model(ids), model(F.one_hot(ids, 5).float()))


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (Seq2Seq(5, 6, 4, 8, seed=s) for s in (0, 0, 1))
    for (n, p), (_, q), (_, r) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert torch.equal(p, q), n
        assert not torch.equal(p, r), n


def test_one_to_many_zeros_feed_reads_zeros():
    model = OneToMany(4, 6, 5, feed="zeros", seed=0)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    y, info = model(x, 5, return_inputs=True)
    assert y.shape == (3, 5, 5)
    assert torch.equal(info["x"][:, 0], x)
    assert torch.count_nonzero(info["x"][:, 1:]) == 0
    assert info["tokens"] is None


def test_one_to_many_feed_output_is_autoregressive():
    model = OneToMany(10, 16, 10, feed="output", seed=0)
    y, info = model(torch.tensor([3, 7]), 6, return_inputs=True)
    assert torch.equal(info["tokens"], y.argmax(-1)[:, :-1])
    assert torch.equal(info["x"][:, 1:], model.W_embed.detach()[info["tokens"]])
    assert not info["from_target"].any()


# ------------------------------------------------------------------------------------------------------------
# the decoder interface: step, next_input, and forward as the loop over them
# ------------------------------------------------------------------------------------------------------------


def test_step_is_one_recurrence_and_readout():
    model = OneToMany(3, 5, 4, feed="output", num_layers=2, dtype=torch.float64, seed=0)
    g = torch.Generator().manual_seed(0)
    x_t, h = (
        torch.randn(2, 3, dtype=torch.float64, generator=g),
        torch.randn(2, 2, 5, dtype=torch.float64, generator=g),
    )
    y_t, h_new = model.step(x_t, h)
    c0, c1 = model.rnn.cells
    h0 = torch.tanh(x_t @ c0.W_xh.T + h[0] @ c0.W_hh.T + c0.b_h)
    h1 = torch.tanh(h0 @ c1.W_xh.T + h[1] @ c1.W_hh.T + c1.b_h)
    assert torch.allclose(h_new, torch.stack([h0, h1]), rtol=0, atol=1e-12)
    assert torch.allclose(y_t, h1 @ model.W_hy.T + model.b_y, rtol=0, atol=1e-12)
    assert torch.equal(
        model.step(x_t, None)[1], model.step(x_t, torch.zeros(2, 2, 5, dtype=torch.float64))[1]
    )


def test_next_input_is_zeros_or_the_embedding():
    token = torch.tensor([4, 0, 2])
    output = OneToMany(3, 5, 6, feed="output", seed=0)
    assert torch.equal(output.next_input(token), output.W_embed[token])
    zeros = OneToMany(3, 5, 6, feed="zeros", seed=0)
    assert torch.equal(zeros.next_input(token), torch.zeros(3, 3))


@pytest.mark.parametrize("feed", ["output", "zeros"])
def test_forward_is_the_loop_over_step_and_next_input(feed):
    model = OneToMany(4, 6, 5, feed=feed, num_layers=2, dtype=torch.float64, seed=1)
    g = torch.Generator().manual_seed(1)
    x, h0 = (
        torch.randn(3, 4, dtype=torch.float64, generator=g),
        torch.randn(2, 3, 6, dtype=torch.float64, generator=g),
    )
    x_t, h, ys = x, h0, []
    for _ in range(7):
        y_t, h = model.step(x_t, h)
        ys.append(y_t)
        x_t = model.next_input(y_t.argmax(-1))
    assert torch.equal(model(x, 7, h0=h0), torch.stack(ys, 1))


def test_teacher_forcing_one_reads_the_targets():
    """forward_train(x, target, 1.0): step t reads next_input(target[:, t-1]), whatever the model predicts."""
    model = OneToMany(6, 8, 6, feed="output", dtype=torch.float64, seed=2)
    x, target = torch.tensor([1, 5, 0]), _targets(3, 5, 6, 7)
    x_t, h, ys = F.one_hot(x, 6).double(), None, []
    for t in range(5):
        y_t, h = model.step(x_t, h)
        ys.append(y_t)
        x_t = model.next_input(target[:, t])
    assert torch.equal(model.forward_train(x, target, 1.0), torch.stack(ys, 1))
    assert torch.equal(model.forward_train(x, target, 0.0), model(x, 5))  # 0: its own predictions only


def test_greedy_generation_equals_sampling_decode():
    """Without targets, OneToMany and Seq2Seq decode greedily: sampling.decode on the same decoder."""
    model = OneToMany(7, 9, 7, feed="output", seed=3)
    x = F.one_hot(torch.tensor([2, 6, 0]), 7).float()
    assert torch.equal(model(x, 6).argmax(-1), decode(model, x, 6))
    s2s = Seq2Seq(6, 5, 4, 8, seed=4)
    src = _targets(3, 4, 6, 8)
    bos = torch.full((3,), s2s.bos)
    tokens = decode(s2s.decoder, s2s.decoder.next_input(bos), 5, h0=s2s.encode(src))
    assert torch.equal(s2s(src, steps=5).argmax(-1), tokens)


def test_readout_parameters_shapes_bound_and_seed():
    W_hy, b_y = readout_parameters(16, 3, torch.float64, torch.Generator().manual_seed(0))
    assert W_hy.shape == (3, 16) and b_y.shape == (3,) and W_hy.dtype == torch.float64
    assert W_hy.abs().max() <= 0.25 and b_y.abs().max() <= 0.25 and W_hy.std() > 0.1  # U(-1/4, 1/4)
    again, _ = readout_parameters(16, 3, torch.float64, torch.Generator().manual_seed(0))
    assert torch.equal(W_hy, again)
    model = ManyToMany(2, 16, 3, dtype=torch.float64, seed=0)
    assert model.W_hy.shape == (3, 16) and model.W_hy.abs().max() <= 0.25


# ------------------------------------------------------------------------------------------------------------
# teacher forcing: what the decoder sees
# ------------------------------------------------------------------------------------------------------------


def _targets(B, T, V, seed):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_teacher_forcing_one_feeds_only_the_ground_truth():
    model = OneToMany(10, 16, 10, feed="output", seed=0)
    tgt = _targets(50, 7, 10, 1)
    y, info = model(torch.arange(50) % 10, 7, targets=tgt, teacher_forcing=1.0, return_inputs=True)
    assert torch.equal(info["tokens"], tgt[:, :-1])
    assert info["from_target"].all()
    assert not torch.equal(info["tokens"], y.argmax(-1)[:, :-1])  # the own predictions differ


def test_teacher_forcing_zero_feeds_only_own_predictions():
    model = Seq2Seq(10, 10, 8, 16, seed=0)
    src, tgt = _targets(50, 5, 10, 2), _targets(50, 5, 10, 3)
    y, info = model(src, tgt, teacher_forcing=0.0, return_inputs=True)
    assert torch.all(info["tokens"][:, 0] == model.bos)
    assert torch.equal(info["tokens"][:, 1:], y.argmax(-1)[:, :-1])
    assert not info["from_target"].any()
    assert not torch.equal(info["tokens"][:, 1:], tgt[:, :-1])


def test_teacher_forcing_ratio_mixes_per_example_and_step():
    model = OneToMany(10, 16, 10, feed="output", seed=0)
    tgt = _targets(400, 9, 10, 4)
    gen = torch.Generator().manual_seed(0)
    y, info = model(torch.arange(400) % 10, 9, tgt, 0.3, gen, return_inputs=True)
    truth = info["from_target"]
    assert 0.25 < truth.double().mean() < 0.35
    own = y.argmax(-1)[:, :-1]
    assert torch.equal(info["tokens"][truth], tgt[:, :-1][truth])
    assert torch.equal(info["tokens"][~truth], own[~truth])
    # the same generator seed gives the same draws
    _, again = model(
        torch.arange(400) % 10, 9, tgt, 0.3, torch.Generator().manual_seed(0), return_inputs=True
    )
    assert torch.equal(again["from_target"], truth)


def test_seq2seq_inference_needs_no_target_and_matches_teacher_forcing_zero():
    model = Seq2Seq(6, 7, 5, 12, seed=0)
    src, tgt = _targets(8, 4, 6, 5), _targets(8, 3, 7, 6)
    assert torch.equal(model(src, steps=3), model(src, tgt, teacher_forcing=0.0))


# ------------------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------------------


def test_wrong_ndim():
    model = ManyToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"x must have 3 dimensions, got 2"):
        model(torch.zeros(2, 3))


def test_wrong_input_size():
    model = ManyToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"x has size 5 along axis 2 .* expected 3"):
        model(torch.zeros(2, 4, 5))


def test_wrong_dtype():
    model = ManyToOne(3, 4, 2, seed=0)
    with pytest.raises(
        TypeError, match=r"x has dtype torch.float64 but the model's parameters are torch.float32"
    ):
        model(torch.zeros(2, 4, 3, dtype=torch.float64))


def test_not_a_tensor():
    model = ManyToOne(3, 4, 2, seed=0)
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray"):
        model(np.zeros((2, 4, 3), dtype=np.float32))


def test_non_finite_input():
    model = ManyToMany(3, 4, 2, seed=0)
    x = torch.zeros(2, 4, 3)
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values"):
        model(x)


def test_zero_time_steps():
    model = ManyToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"x has T = 0 time steps .* expected T >= 1"):
        model(torch.zeros(2, 0, 3))


def test_ids_out_of_range():
    model = ManyToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"x must hold ids in 0..2, got values in 0..3"):
        model(torch.tensor([[0, 3]]))


def test_unknown_feed():
    with pytest.raises(ValueError, match=r"feed must be one of \['output', 'zeros'\], got 'previous'"):
        OneToMany(3, 4, 2, feed="previous")


@pytest.mark.parametrize("steps", [0, -2])
def test_steps_must_be_positive(steps):
    model = OneToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=rf"steps must be an integer >= 1, got {steps}"):
        model(torch.zeros(2, 3), steps)


def test_teacher_forcing_outside_unit_interval():
    model = OneToMany(3, 4, 3, feed="output", seed=0)
    with pytest.raises(ValueError, match=r"teacher_forcing must be a number in \[0, 1\], got 1.5"):
        model(torch.zeros(2, 3), 2, torch.zeros(2, 2, dtype=torch.long), teacher_forcing=1.5)


def test_targets_must_match_steps():
    model = OneToMany(3, 4, 3, feed="output", seed=0)
    with pytest.raises(ValueError, match=r"targets has size 3 along axis 1 .* expected 2"):
        model(torch.zeros(2, 3), 2, torch.zeros(2, 3, dtype=torch.long))


def test_float_targets_rejected():
    model = OneToMany(3, 4, 3, feed="output", seed=0)
    with pytest.raises(TypeError, match=r"targets must hold integer ids, got dtype torch.float32"):
        model(torch.zeros(2, 3), 2, torch.zeros(2, 2))


def test_seq2seq_needs_tgt_or_steps():
    model = Seq2Seq(4, 4, 3, 5, seed=0)
    with pytest.raises(ValueError, match=r"needs tgt \(B, T\) or steps=T .* got neither"):
        model(torch.zeros(2, 3, dtype=torch.long))


def test_seq2seq_steps_disagree_with_tgt():
    model = Seq2Seq(4, 4, 3, 5, seed=0)
    with pytest.raises(ValueError, match=r"steps=2 disagrees with tgt, which has T = 3"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), steps=2)


def test_seq2seq_src_out_of_vocabulary():
    model = Seq2Seq(4, 4, 3, 5, seed=0)
    with pytest.raises(ValueError, match=r"src must hold ids in 0..3, got values in 0..7"):
        model(torch.tensor([[0, 7]]), steps=2)


def test_hidden_size_must_be_positive():
    with pytest.raises(ValueError, match=r"hidden_size must be an integer >= 1, got 0"):
        ManyToOne(3, 0, 2)


def test_h0_must_be_three_dimensional():
    model = ManyToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"h0 must have 3 dimensions, got 2 .*expected shape \(L, B, H\)"):
        model(torch.zeros(2, 5, 3), torch.zeros(2, 4))
    o2m = OneToMany(3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"h0 must have 3 dimensions, got 2.*expected shape \(L, B, H\)"):
        o2m(torch.zeros(2, 3), 2, h0=torch.zeros(2, 4))


def test_step_checks_its_arguments():
    model = OneToMany(3, 4, 2, feed="output", seed=0)
    with pytest.raises(ValueError, match=r"h must have 3 dimensions, got 2 .*expected shape \(L, B, H\)"):
        model.step(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"x_t must have 2 dimensions, got 1 .*expected shape \(B, D\)"):
        model.step(torch.zeros(3), None)


def test_next_input_rejects_unknown_tokens():
    model = OneToMany(3, 4, 2, feed="output", seed=0)
    with pytest.raises(ValueError, match=r"token must hold ids in 0..1, got values in 0..2"):
        model.next_input(torch.tensor([0, 2]))
    with pytest.raises(TypeError, match=r"token must hold integer ids"):
        model.next_input(torch.zeros(2))


def test_forward_train_needs_integer_targets():
    model = OneToMany(3, 4, 3, feed="output", seed=0)
    with pytest.raises(ValueError, match=r"target must have 2 dimensions, got 1 .*expected shape \(B, T\)"):
        model.forward_train(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"target must hold integer ids, got dtype torch.float32"):
        model.forward_train(torch.zeros(2, 3), torch.zeros(2, 2))


def test_boolean_inputs_rejected():
    with pytest.raises(
        TypeError, match=r"x must hold floats \(B, T, D\) or integer ids \(B, T\), got dtype torch.bool"
    ):
        ManyToMany(3, 4, 2, seed=0)(torch.zeros(2, 4, dtype=torch.bool))


def test_generator_must_be_a_torch_generator():
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator or None, got int"):
        OneToMany(3, 4, 2, generator=3)


# ------------------------------------------------------------------------------ the cell is a choice (ch. 11)
def _models(cell):
    """One model per topology with ``cell``, and a batch source of its task."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(256, 6))
    echo = np.roll(x, 1, axis=1)  # many-to-many: the previous token
    first = x[:, 0]  # many-to-one: the first token, read through the whole sequence; one-to-many: repeat it
    return [
        (ManyToMany(4, 16, 4, seed=0, cell=cell), minibatches(x, echo, batch_size=32), supervised()),
        (
            ManyToOne(4, 16, 4, num_layers=2, seed=0, cell=cell),
            minibatches(x, first, batch_size=32),
            supervised(),
        ),
        (
            OneToMany(4, 16, 4, feed="output", seed=0, cell=cell),
            minibatches(first, np.repeat(first[:, None], 6, axis=1), batch_size=32),
            supervised(teacher_forcing=0.5),
        ),
        (
            Seq2Seq(4, 4, 8, 16, seed=0, cell=cell),
            minibatches(x, x[:, ::-1].copy(), batch_size=32),
            supervised(teacher_forcing=1.0),
        ),
    ]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_topology_trains_with_every_cell(cell):
    for model, batches, loss_fn in _models(cell):
        assert model.dtype == torch.float32
        history = fit(
            model, batches, torch.optim.Adam(model.parameters(), lr=1e-2), steps=40, loss_fn=loss_fn
        )
        assert len(history) == 40 and history.stop_reason == "steps"
        assert np.mean(history.loss[-5:]) < 0.9 * np.mean(history.loss[:5]), type(model).__name__


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_states_pass_through_step_decode_and_return_state(cell):
    from rnncourse.bptt import carried_state, stream_windows
    from rnncourse.modules import LSTMState

    m2m = ManyToMany(4, 8, 4, num_layers=2, seed=0, cell=cell)
    ids = torch.randint(0, 4, (3, 5), generator=torch.Generator().manual_seed(0))
    _, h = m2m(ids[:, :2], return_state=True)
    assert isinstance(h, LSTMState) == (cell == "lstm")
    y2, _ = m2m(ids[:, 2:], h, return_state=True)  # a carried state continues the sequence
    torch.testing.assert_close(y2, m2m(ids)[:, 2:], rtol=0, atol=1e-6)
    stream = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(1))
    loss_fn = carried_state()  # detaches the carried state (LSTMState.detach for the pair)
    history = fit(
        m2m,
        stream_windows(stream[:-1], stream[1:], 4, 10),
        torch.optim.SGD(m2m.parameters(), 0.1),
        steps=5,
        loss_fn=loss_fn,
    )
    assert len(history) == 5 and not (loss_fn.h[0] if cell == "lstm" else loss_fn.h).requires_grad
    dec = OneToMany(4, 8, 4, feed="output", num_layers=2, seed=0, cell=cell)
    y_t, h = dec.step(torch.zeros(3, 4), None)
    y_t, h = dec.step(dec.next_input(y_t.argmax(-1)), h)
    assert y_t.shape == (3, 4) and (h.h if cell == "lstm" else h).shape == (2, 3, 8)
    greedy = dec(torch.zeros(3, 4), 6).argmax(-1)
    assert torch.equal(decode(dec, torch.zeros(3, 4), 6), greedy)  # the one decoder drives every cell
    _, h0 = dec.step(torch.ones(3, 4), None)  # decode and beam search from a given (pair) state
    x0 = torch.zeros(3, 4)
    assert torch.equal(beam_search(dec, x0, 6, 1, h0=h0)[0], decode(dec, x0, 6, h0=h0))  # k = 1 is greedy
    assert beam_search(dec, torch.zeros(3, 4), 6, 3, h0=h0)[0].shape == (3, 6)
    s2s = Seq2Seq(4, 4, 8, 16, seed=0, cell=cell)
    h = s2s.encode(ids)
    assert isinstance(h, LSTMState) == (cell == "lstm")
    assert s2s(ids, steps=3).shape == (3, 3, 4)
    with pytest.raises(ValueError, match=r"cell must be one of"):
        ManyToOne(4, 8, 2, cell="transformer")
