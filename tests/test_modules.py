"""Tests of rnncourse.modules: parity with torch.nn.RNN, the reference, and hand-written recurrences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse.modules import RNN, GRUCell, LSTMCell, LSTMState, RNNCell
from rnncourse.reference import rnn_forward, rnn_step_forward

TOL = {torch.float32: 1e-6, torch.float64: 1e-10}


def scaled_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to the largest entry of b (float32 rounding makes tiny entries meaningless)."""
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def _compare_with_torch(ours: RNN, ref: torch.nn.RNN, dtype, L, seed=0):
    g = torch.Generator().manual_seed(seed)
    B, T, D, H = 3, 7, ours.input_size, ours.hidden_size
    x = torch.randn(B, T, D, dtype=dtype, generator=g)
    h0 = torch.randn(L, B, H, dtype=dtype, generator=g)
    w_hs = torch.randn(B, T, H, dtype=dtype, generator=g)
    w_hn = torch.randn(L, B, H, dtype=dtype, generator=g)
    results = []
    for model in (ours, ref):
        xi, h0i = x.clone().requires_grad_(), h0.clone().requires_grad_()
        hs, h_n = model(xi, h0i)
        ((hs * w_hs).sum() + (h_n * w_hn).sum()).backward()
        results.append((hs, h_n, xi.grad, h0i.grad))
    tol = TOL[dtype]
    for a, b in zip(*results, strict=True):
        assert a.shape == b.shape
        assert scaled_error(a, b) < tol
    for l, cell in enumerate(ours.cells):
        pairs = [
            (cell.W_xh, getattr(ref, f"weight_ih_l{l}")),
            (cell.W_hh, getattr(ref, f"weight_hh_l{l}")),
        ]
        for p, q in pairs:
            assert scaled_error(p, q) == 0.0  # same values
            assert scaled_error(p.grad, q.grad) < tol
        b_ih, b_hh = getattr(ref, f"bias_ih_l{l}"), getattr(ref, f"bias_hh_l{l}")
        assert scaled_error(cell.b_h, b_ih + b_hh) < tol
        assert scaled_error(cell.b_h.grad, b_ih.grad) < tol
        assert scaled_error(cell.b_h.grad, b_hh.grad) < tol


# ---------------------------------------------------------------------------- 3. parity with torch.nn.RNN
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("L", [1, 2, 3])
def test_from_torch_matches_torch_rnn(dtype, nonlinearity, L):
    torch.manual_seed(L)
    ref = torch.nn.RNN(4, 5, L, nonlinearity=nonlinearity, batch_first=True, dtype=dtype)
    ours = RNN.from_torch(ref)
    assert ours.dtype == dtype and ours.num_layers == L and ours.nonlinearity == nonlinearity
    _compare_with_torch(ours, ref, dtype, L)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("L", [1, 2, 3])
def test_to_torch_matches_our_rnn(dtype, nonlinearity, L):
    ours = RNN(4, 5, L, nonlinearity=nonlinearity, dtype=dtype, seed=L)
    ref = ours.to_torch()
    assert ref.batch_first and ref.weight_hh_l0.dtype == dtype
    for l in range(L):
        torch.testing.assert_close(getattr(ref, f"bias_ih_l{l}"), ours.cells[l].b_h, rtol=0, atol=0)
        assert torch.count_nonzero(getattr(ref, f"bias_hh_l{l}")) == 0
    _compare_with_torch(ours, ref, dtype, L, seed=1)


def test_torch_rnn_with_time_major_input_converts():
    torch.manual_seed(0)
    ref = torch.nn.RNN(3, 4, 2, dtype=torch.float64)  # batch_first=False
    ours = RNN.from_torch(ref)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    hs_ref, hn_ref = ref(x.transpose(0, 1))
    hs, hn = ours(x)
    assert scaled_error(hs, hs_ref.transpose(0, 1)) < 1e-12
    assert scaled_error(hn, hn_ref) < 1e-12


def test_round_trip_without_bias():
    ours = RNN(3, 4, 2, dtype=torch.float64, bias=False, seed=0)
    ref = ours.to_torch()
    assert ref.bias is False
    back = RNN.from_torch(ref)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert scaled_error(back(x)[0], ours(x)[0]) == 0.0
    assert scaled_error(ref(x)[0], ours(x)[0]) < 1e-12


# --------------------------------------------------------------------------------- the cell and the reference
def test_cell_equals_numpy_reference_step():
    cell = RNNCell(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    x, h_prev = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    h = cell(torch.as_tensor(x), torch.as_tensor(h_prev))
    W = [cell.W_xh.detach().numpy(), cell.W_hh.detach().numpy(), cell.b_h.detach().numpy()]
    h_ref, _ = rnn_step_forward(x, h_prev, *W)
    assert np.abs(h.detach().numpy() - h_ref).max() < 1e-14
    h_zero = cell(torch.as_tensor(x))  # h_prev=None means zeros
    h_ref0, _ = rnn_step_forward(x, np.zeros((2, 4)), *W)
    assert np.abs(h_zero.detach().numpy() - h_ref0).max() < 1e-14


def test_rnn_equals_numpy_reference_sequence():
    rnn = RNN(3, 4, dtype=torch.float64, seed=0)
    rng = np.random.default_rng(1)
    x, h0 = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 4))
    hs, h_n = rnn(torch.as_tensor(x), torch.as_tensor(h0)[None])
    c = rnn.cells[0]
    hs_ref, _ = rnn_forward(x, h0, c.W_xh.detach().numpy(), c.W_hh.detach().numpy(), c.b_h.detach().numpy())
    assert np.abs(hs.detach().numpy() - hs_ref).max() < 1e-14
    assert np.abs(h_n[0].detach().numpy() - hs_ref[:, -1]).max() < 1e-14


def _hand_loop(rnn: RNN, x, h0, f, skip):
    layer_input = x
    for l, cell in enumerate(rnn.cells):
        h, hs = h0[l], []
        for t in range(x.shape[1]):
            a = cell.W_hh @ h.T + cell.W_xh @ layer_input[:, t].T + cell.b_h[:, None]  # column-vector math
            h = (h + f(a.T)) if skip else f(a.T)
            hs.append(h)
        layer_input = torch.stack(hs, 1)
    return layer_input


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "linear"])
@pytest.mark.parametrize("skip", [False, True])
def test_nonlinearities_and_skip_follow_their_equations(nonlinearity, skip):
    f = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[nonlinearity]
    rnn = RNN(3, 4, 2, nonlinearity=nonlinearity, skip=skip, dtype=torch.float64, seed=2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 3, dtype=torch.float64, generator=g)
    h0 = torch.randn(2, 2, 4, dtype=torch.float64, generator=g)
    hs, h_n = rnn(x, h0)
    assert scaled_error(hs, _hand_loop(rnn, x, h0, f, skip)) < 1e-12
    assert scaled_error(h_n[-1], hs[:, -1]) == 0.0


def test_skip_adds_the_previous_state():
    rnn = RNN(1, 2, skip=True, dtype=torch.float64, seed=0)
    with torch.no_grad():
        rnn.cells[0].W_hh.zero_()
        rnn.cells[0].W_xh.zero_()
        rnn.cells[0].b_h.fill_(0.5)
    hs, _ = rnn(torch.zeros(1, 4, 1, dtype=torch.float64))
    # h_t = h_{t-1} + tanh(0.5): a ramp
    expected = torch.tanh(torch.tensor(0.5, dtype=torch.float64)) * torch.arange(1, 5, dtype=torch.float64)
    torch.testing.assert_close(hs[0, :, 0], expected, rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------------- initialisation
def test_identity_init():
    rnn = RNN(3, 5, 2, nonlinearity="relu", init="identity", dtype=torch.float64, seed=0)
    for cell in rnn.cells:
        torch.testing.assert_close(cell.W_hh, torch.eye(5, dtype=torch.float64), rtol=0, atol=0)
        assert torch.count_nonzero(cell.b_h) == 0
        assert 0 < cell.W_xh.abs().max() < 0.01
    # one layer: with zero input, ReLU and W_hh = I a non-negative state is carried unchanged
    rnn = RNN(3, 5, nonlinearity="relu", init="identity", dtype=torch.float64, seed=0)
    h0 = torch.rand(1, 2, 5, dtype=torch.float64)
    _, h_n = rnn(torch.zeros(2, 10, 3, dtype=torch.float64), h0)
    torch.testing.assert_close(h_n, h0, rtol=0, atol=1e-15)


def test_orthogonal_init():
    rnn = RNN(3, 6, init="orthogonal", dtype=torch.float64, seed=0)
    W = rnn.cells[0].W_hh.detach()
    torch.testing.assert_close(W @ W.T, torch.eye(6, dtype=torch.float64), rtol=0, atol=1e-12)
    assert not torch.allclose(W, torch.eye(6, dtype=torch.float64))


def test_uniform_init_matches_torch_default_range():
    H = 64
    rnn = RNN(8, H, dtype=torch.float64, seed=0)
    bound = 1 / math.sqrt(H)
    for p in rnn.parameters():
        assert p.abs().max() <= bound
    W = rnn.cells[0].W_hh.detach()
    assert abs(W.std().item() - bound / math.sqrt(3)) < 0.05 * bound  # std of U(-a, a) is a / sqrt(3)


def test_seed_makes_initialisation_reproducible():
    a, b, c = RNN(3, 4, 2, seed=5), RNN(3, 4, 2, seed=5), RNN(3, 4, 2, seed=6)
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(p, q)
        assert not torch.equal(p, r)


def test_dtype_and_default_dtype():
    assert RNN(2, 3).dtype == torch.get_default_dtype()
    assert all(p.dtype == torch.float64 for p in RNN(2, 3, 2, dtype=torch.float64).parameters())


# ------------------------------------------------------------------------------ 5. one set of parameters
def test_parameter_count_is_independent_of_T():
    rnn = RNN(3, 4, 2, seed=0)
    count = sum(p.numel() for p in rnn.parameters())
    assert count == (4 * 3 + 4 * 4 + 4) + (4 * 4 + 4 * 4 + 4)
    for T in (1, 3, 50):
        hs, _ = rnn(torch.randn(2, T, 3))
        assert hs.shape == (2, T, 4)
        assert sum(p.numel() for p in rnn.parameters()) == count


def test_perturbing_W_hh_once_changes_every_later_step():
    rnn = RNN(3, 4, dtype=torch.float64, seed=0)
    x = torch.randn(2, 10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    hs, _ = rnn(x)  # h0 = 0, so h_1 does not read W_hh
    with torch.no_grad():
        rnn.cells[0].W_hh[2, 1] += 1e-3
    hs2, _ = rnn(x)
    assert torch.equal(hs[:, 0], hs2[:, 0])
    for t in range(1, 10):
        assert (hs[:, t] - hs2[:, t]).abs().max() > 1e-9, t


def test_cells_and_parameter_names():
    rnn = RNN(3, 4, 2)
    names = {n for n, _ in rnn.named_parameters()}
    assert names == {f"cells.{l}.{p}" for l in range(2) for p in ("W_xh", "W_hh", "b_h")}
    assert rnn.cells[0].W_xh.shape == (4, 3) and rnn.cells[1].W_xh.shape == (4, 4)
    assert isinstance(rnn.cells[1], RNNCell)


# -------------------------------------------------------------------------------------------- 6. validation
def test_rejects_wrong_ndim():
    with pytest.raises(ValueError, match=r"x must have 3 dimensions, got 2 .*expected shape \(B, T, D\)"):
        RNN(3, 4)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"x must have 2 dimensions, got 3 .*expected shape \(B, D\)"):
        RNNCell(3, 4)(torch.zeros(2, 5, 3))


def test_rejects_wrong_input_size():
    with pytest.raises(ValueError, match=r"x has size 5 along axis 2 .* expected 3"):
        RNN(3, 4)(torch.zeros(2, 6, 5))
    with pytest.raises(ValueError, match=r"x has size 5 along axis 1 .* expected 3"):
        RNNCell(3, 4)(torch.zeros(2, 5))


def test_rejects_wrong_h0_shape():
    rnn = RNN(3, 4, num_layers=2)
    x = torch.zeros(2, 6, 3)
    with pytest.raises(ValueError, match=r"h0 has size 1 along axis 0 .* expected 2"):
        rnn(x, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"h0 has size 3 along axis 1 .* expected 2"):
        rnn(x, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"h0 has size 5 along axis 2 .* expected 4"):
        rnn(x, torch.zeros(2, 2, 5))
    with pytest.raises(ValueError, match=r"h0 must have 3 dimensions, got 2 .*expected shape \(L, B, H\)"):
        rnn(x, torch.zeros(2, 4))  # the numpy reference's (B, H) convention: the hint names torch's
    with pytest.raises(ValueError, match=r"h_prev must have 2 dimensions, got 3 .*expected shape \(B, H\)"):
        RNNCell(3, 4)(torch.zeros(2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"h_prev has size 5 along axis 1 .* expected 4"):
        RNNCell(3, 4)(torch.zeros(2, 3), torch.zeros(2, 5))


def test_rejects_float32_input_to_float64_module():
    with pytest.raises(
        TypeError, match=r"x has dtype torch.float32 but the model's parameters are torch.float64"
    ):
        RNN(3, 4, dtype=torch.float64)(torch.zeros(2, 6, 3))
    with pytest.raises(
        TypeError, match=r"h0 has dtype torch.float64 but the model's parameters are torch.float32"
    ):
        RNN(3, 4)(torch.zeros(2, 6, 3), torch.zeros(1, 2, 4, dtype=torch.float64))


def test_rejects_integer_and_numpy_input():
    with pytest.raises(TypeError, match=r"x must hold floating-point numbers, got dtype torch.int64"):
        RNN(3, 4)(torch.zeros(2, 6, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray"):
        RNN(3, 4)(np.zeros((2, 6, 3), dtype=np.float32))


def test_rejects_non_finite_input():
    x = torch.zeros(2, 6, 3)
    x[1, 2, 0] = float("inf")
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(shape \(2, 6, 3\)\)"):
        RNN(3, 4)(x)


def test_rejects_empty_sequence():
    with pytest.raises(ValueError, match=r"x has T = 0 time steps \(shape \(2, 0, 3\)\), expected T >= 1"):
        RNN(3, 4)(torch.zeros(2, 0, 3))


def test_rejects_unknown_nonlinearity_and_init():
    with pytest.raises(
        ValueError, match=r"nonlinearity must be one of \['linear', 'relu', 'tanh'\], got 'sigmoid'"
    ):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"nonlinearity must be one of .*, got 'gelu'"):
        RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(
        ValueError, match=r"init must be one of \['identity', 'orthogonal', 'uniform'\], got 'xavier'"
    ):
        RNN(3, 4, init="xavier")


def test_rejects_bad_sizes_and_dtype():
    with pytest.raises(ValueError, match=r"hidden_size must be an integer >= 1, got 0"):
        RNN(3, 0)
    with pytest.raises(ValueError, match=r"num_layers must be an integer >= 1, got 0"):
        RNN(3, 4, num_layers=0)
    with pytest.raises(TypeError, match=r"input_size must be an integer >= 1, got 2.5"):
        RNNCell(2.5, 4)
    with pytest.raises(TypeError, match=r"dtype must be a floating-point torch dtype .* got torch.int32"):
        RNN(3, 4, dtype=torch.int32)
    with pytest.raises(TypeError, match=r"skip must be True or False, got 'yes'"):
        RNN(3, 4, skip="yes")


def test_conversion_rejects_what_torch_cannot_express():
    with pytest.raises(ValueError, match=r"to_torch supports nonlinearity 'tanh' or 'relu', got 'linear'"):
        RNN(3, 4, nonlinearity="linear").to_torch()
    with pytest.raises(ValueError, match=r"to_torch expects skip=False, got skip=True"):
        RNN(3, 4, skip=True).to_torch()
    with pytest.raises(ValueError, match=r"from_torch expects bidirectional=False, got bidirectional=True"):
        RNN.from_torch(torch.nn.RNN(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match=r"from_torch expects dropout=0, got dropout=0.5"):
        RNN.from_torch(torch.nn.RNN(3, 4, num_layers=2, dropout=0.5))
    with pytest.raises(TypeError, match=r"from_torch expects a torch.nn.RNN, LSTM or GRU, got Linear"):
        RNN.from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"from_torch expects proj_size=0, got 2"):
        RNN.from_torch(torch.nn.LSTM(3, 4, proj_size=2))


# ------------------------------------------------------------------------------------- LSTM and GRU (ch. 11)
def _gated_loss(model, x, state, w):
    """Outputs, final states and a loss that reads all of them (so every gradient path is exercised)."""
    hs, h_n = model(x, state)
    parts = [hs, *(h_n if isinstance(h_n, tuple) else (h_n,))]
    return parts, sum((p * wi).sum() for p, wi in zip(parts, w, strict=True))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("direction", ["from_torch", "to_torch"])
def test_gated_equal_torch(cell, dtype, L, direction):
    """Outputs, final states and EVERY gradient (input, states, parameters) equal torch.nn.LSTM / GRU."""
    torch.manual_seed(L)
    if direction == "from_torch":
        ref = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(4, 5, L, batch_first=True, dtype=dtype)
        ours = RNN.from_torch(ref)
    else:
        ours = RNN(4, 5, L, cell=cell, dtype=dtype, seed=L)
        ref = ours.to_torch()
    assert isinstance(ref, torch.nn.LSTM if cell == "lstm" else torch.nn.GRU) and ours.cell == cell
    g = torch.Generator().manual_seed(0)
    B, T, H = 3, 6, 5
    x = torch.randn(B, T, 4, dtype=dtype, generator=g)
    states = [torch.randn(L, B, H, dtype=dtype, generator=g) for _ in range(2 if cell == "lstm" else 1)]
    w = [torch.randn(B, T, H, dtype=dtype, generator=g)]
    w += [torch.randn(L, B, H, dtype=dtype, generator=g) for _ in states]
    results = []
    for model in (ours, ref):
        xi, si = x.clone().requires_grad_(), [s.clone().requires_grad_() for s in states]
        outs, loss = _gated_loss(model, xi, tuple(si) if cell == "lstm" else si[0], w)
        loss.backward()
        results.append([*outs, xi.grad, *(s.grad for s in si)])
    for a, b in zip(*results, strict=True):
        assert a.shape == b.shape and scaled_error(a, b) < TOL[dtype]
    for l, c in enumerate(ours.cells):
        W_ih, W_hh = getattr(ref, f"weight_ih_l{l}"), getattr(ref, f"weight_hh_l{l}")
        b_ih, b_hh = getattr(ref, f"bias_ih_l{l}"), getattr(ref, f"bias_hh_l{l}")
        pairs = [(c.W_xh, W_ih), (c.W_hh, W_hh)]
        pairs += [(c.b_xh, b_ih), (c.b_hh, b_hh)] if cell == "gru" else [(c.b_h, b_ih), (c.b_h, b_hh)]
        for p, q in pairs:
            assert scaled_error(p.grad, q.grad) < TOL[dtype]
            assert q.grad.abs().max() > 1e-4  # a non-trivial gradient
        assert scaled_error(c.W_xh, W_ih) == 0.0 and scaled_error(c.W_hh, W_hh) == 0.0
        if cell == "lstm":
            assert scaled_error(c.b_h, b_ih + b_hh) < TOL[dtype]


def test_gated_cells_equal_numpy_reference():
    from rnncourse.reference import gru_step_forward, lstm_step_forward

    torch.manual_seed(0)
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, 4, 4))
    lstm, gru = LSTMCell(3, 4, dtype=torch.float64), GRUCell(3, 4, dtype=torch.float64)
    n = [a.numpy() for a in (x, h, c)]
    state = lstm(x, (h, c))
    assert isinstance(state, LSTMState)
    h_ref, c_ref, _ = lstm_step_forward(*n, *(p.detach().numpy() for p in lstm.parameters()))
    np.testing.assert_allclose(state.h.detach().numpy(), h_ref, rtol=0, atol=1e-14)
    np.testing.assert_allclose(state.c.detach().numpy(), c_ref, rtol=0, atol=1e-14)
    h_gru, _ = gru_step_forward(n[0], n[1], *(p.detach().numpy() for p in gru.parameters()))
    np.testing.assert_allclose(gru(x, h).detach().numpy(), h_gru, rtol=0, atol=1e-14)
    zero = lstm(x)  # zeros when no state is given
    assert torch.equal(zero.h, lstm(x, (torch.zeros_like(h), torch.zeros_like(c))).h)


def test_gated_parameters_state_and_detach():
    lstm, gru = RNN(3, 4, 2, cell="lstm", seed=0), RNN(3, 4, cell="gru", bias=False, seed=0)
    assert [n for n, _ in lstm.cells[0].named_parameters()] == ["W_xh", "W_hh", "b_h"]
    assert lstm.cells[1].W_xh.shape == (16, 4) and lstm.cells[0].b_h.shape == (16,)
    assert gru.cells[0].W_hh.shape == (12, 4) and gru.cells[0].b_xh is None and not gru.bias
    assert all(p.abs().max() <= 0.5 for p in lstm.parameters())  # U(-1/sqrt(H), 1/sqrt(H)), H = 4
    same_seed = [RNN(3, 4, cell="gru", seed=1).cells[0].W_hh for _ in range(2)]
    assert torch.equal(*same_seed)
    x = torch.randn(2, 5, 3, requires_grad=True)
    hs, state = lstm(x)
    assert isinstance(state, LSTMState) and state.h.shape == state.c.shape == (2, 2, 4)
    assert torch.equal(hs[:, -1], state.h[-1])
    carried = state.detach()
    assert isinstance(carried, LSTMState) and not carried.h.requires_grad and not carried.c.requires_grad
    hs2, _ = lstm(x[:, :2], carried)  # a state carried into the next window
    assert hs2.shape == (2, 2, 4)
    assert "cell='lstm'" in repr(lstm) and "bias=False" in repr(gru.cells[0])


def test_gated_rejections():
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lstm', 'rnn'\], got 'gated'"):
        RNN(3, 4, cell="gated")
    with pytest.raises(ValueError, match=r"cell='lstm' has its own gates: .* got nonlinearity='relu'"):
        RNN(3, 4, nonlinearity="relu", cell="lstm")
    with pytest.raises(ValueError, match=r"cell='gru' has its own gates: .* skip=True"):
        RNN(3, 4, skip=True, cell="gru")
    lstm = RNN(3, 4, 2, cell="lstm")
    x = torch.zeros(2, 5, 3)
    with pytest.raises(TypeError, match=r"the LSTM's state must be a pair \(h0, c0\) of tensors"):
        lstm(x, torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"c0 has size 3 along axis 1 .* expected 2"):
        lstm(x, (torch.zeros(2, 2, 4), torch.zeros(2, 3, 4)))
    with pytest.raises(ValueError, match=r"c_prev has size 5 along axis 1 .* expected 4"):
        LSTMCell(3, 4)(x[:, 0], (torch.zeros(2, 4), torch.zeros(2, 5)))
    with pytest.raises(ValueError, match=r"x has size 2 along axis 1 .* expected 3"):
        GRUCell(3, 4)(x[:, 0, :2])
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator or None, got int"):
        GRUCell(3, 4, generator=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_round_trip_without_bias(cell):
    ref = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(3, 4, 2, bias=False, batch_first=True)
    ours = RNN.from_torch(ref)
    assert not ours.bias and not ours.to_torch().bias
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    assert scaled_error(ours(x)[0], ref(x)[0]) < 1e-6
    assert scaled_error(ours.to_torch()(x)[0], ref(x)[0]) == 0.0
