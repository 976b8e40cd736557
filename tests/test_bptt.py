"""Truncated BPTT: the course's form (reach k), TBPTT(k1, k2), stream windows, the carried state, memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse import bptt
from rnncourse.modules import RNN, LSTMState
from rnncourse.reference import rnn_backward, rnn_forward
from rnncourse.topologies import ManyToMany, ManyToOne, OneToMany
from rnncourse.training import accuracy, default_loss, fit


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run fastest on one thread; several threads on a shared CPU slow them down many times."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


B, T, D, H = 2, 9, 3, 4


def _dot_loss(h_t, g_t):
    """L_t = <h_t, g_t>: its upstream gradient on h_t is exactly g_t."""
    return (h_t * g_t).sum()


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    rnn = RNN(D, H, dtype=torch.float64, seed=0)
    cell = rnn.cells[0]
    W_xh, W_hh, b_h = (p.detach().numpy().copy() for p in (cell.W_xh, cell.W_hh, cell.b_h))
    x = rng.normal(size=(B, T, D))
    h0 = rng.normal(size=(B, H))
    dhs = rng.normal(size=(B, T, H))
    return rnn, x, h0, W_xh, W_hh, b_h, dhs


def definition_gradients(x, h0, W_xh, W_hh, b_h, dhs, k):
    """Independent reference, straight from the definition:

    sum_t sum_{s=max(0,t-k+1)}^{t} dL_t/dh_t (prod_{j=s+1}^{t} dh_j/dh_{j-1}) d+h_s/dW, with
    dh_j/dh_{j-1} = diag(1 - h_j^2) W_hh (rows: delta <- (delta * (1 - h_j^2)) @ W_hh).
    """
    Bx, Tx, _ = x.shape
    hs = np.empty((Bx, Tx, W_hh.shape[0]))
    h = h0
    for t in range(Tx):
        h = np.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)
        hs[:, t] = h
    prev = [h0] + [hs[:, t] for t in range(Tx - 1)]
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(b_h)
    for t in range(Tx):
        for s in range(max(0, t - k + 1), t + 1):
            delta = dhs[:, t]
            for j in range(t, s, -1):
                delta = (delta * (1 - hs[:, j] ** 2)) @ W_hh
            da = delta * (1 - hs[:, s] ** 2)
            dW_xh += da.T @ x[:, s]
            dW_hh += da.T @ prev[s]
            db_h += da.sum(0)
    return dW_xh, dW_hh, db_h


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(1e-300, np.max(np.abs(a) + np.abs(b))))


# ------------------------------------------------------------------------------------------------------------
# 1. k >= T is full BPTT
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [T, T + 1, 50])
def test_numpy_k_at_least_T_is_full_bptt(problem, k):
    rnn, x, h0, W_xh, W_hh, b_h, dhs = problem
    # full BPTT by autograd (float64), an implementation independent of reference.rnn_backward
    h0_t = torch.tensor(h0)[None].requires_grad_()
    hs, _ = rnn(torch.tensor(x), h0_t)
    (hs * torch.tensor(dhs)).sum().backward()
    cell = rnn.cells[0]
    dx, dh0, dW_xh, dW_hh, db_h = bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, k)
    assert _rel(dW_hh, cell.W_hh.grad.numpy()) < 1e-12
    assert _rel(dW_xh, cell.W_xh.grad.numpy()) < 1e-12
    assert _rel(db_h, cell.b_h.grad.numpy()) < 1e-12
    assert _rel(dh0, h0_t.grad[0].numpy()) < 1e-12


@pytest.mark.parametrize("k", [T, 40])
def test_torch_k_at_least_T_is_full_bptt(k):
    x = torch.randint(0, 4, (3, T), generator=torch.Generator().manual_seed(1))
    target = torch.randint(0, 4, (3, T), generator=torch.Generator().manual_seed(2))
    model = ManyToMany(4, 6, 4, num_layers=2, dtype=torch.float64, seed=0)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 4), target.reshape(-1))
    full = torch.autograd.grad(loss, list(model.parameters()))
    model.zero_grad()
    value = bptt.truncated_backward(model, x, target, k)
    assert abs(float(value) - float(loss.detach())) < 1e-12
    for g_full, p in zip(full, model.parameters(), strict=True):
        assert _rel(p.grad.numpy(), g_full.numpy()) < 1e-12


# ------------------------------------------------------------------------------------------------------------
# 2. the course's form: truncated = sum of per-window gradients = the definition
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_numpy_truncated_equals_windows_and_definition(problem, k):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    _, _, dW_xh, dW_hh, db_h = bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, k)
    windows = bptt.window_gradients(x, h0, W_xh, W_hh, b_h, dhs, k)
    assert len(windows) == T
    summed = [sum(w[i] for w in windows) for i in range(3)]
    ref = definition_gradients(x, h0, W_xh, W_hh, b_h, dhs, k)
    for ours, win, r in zip((dW_xh, dW_hh, db_h), summed, ref, strict=True):
        assert _rel(ours, r) < 1e-12
        assert _rel(win, r) < 1e-12
    # truncation changes the gradient (so the test can tell the two apart)
    full = definition_gradients(x, h0, W_xh, W_hh, b_h, dhs, T)
    assert _rel(dW_hh, full[1]) > 1e-3


@pytest.mark.parametrize("k", [1, 2, 4])
def test_torch_truncated_equals_definition(problem, k):
    rnn, x, h0, W_xh, W_hh, b_h, dhs = problem
    ref = definition_gradients(x, h0, W_xh, W_hh, b_h, dhs, k)
    bptt.truncated_backward(
        rnn,
        torch.tensor(x),
        torch.tensor(dhs),
        k,
        h0=torch.tensor(h0)[None],
        step_loss=_dot_loss,
        reduction="sum",
    )
    cell = rnn.cells[0]
    for p, r in zip((cell.W_xh, cell.W_hh, cell.b_h), ref, strict=True):
        assert _rel(p.grad.numpy(), r) < 1e-12


@pytest.mark.parametrize("k", [1, 3, 4])
def test_torch_truncated_equals_sum_of_windows_rebuilt_from_scratch(k):
    """ManyToMany with 2 layers and cross-entropy: each window [t-k+1, t] rebuilt by brute force."""
    Tn = 11
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(0, 5, (2, Tn), generator=gen)
    target = torch.randint(0, 5, (2, Tn), generator=gen)
    model = ManyToMany(5, 6, 5, num_layers=2, dtype=torch.float64, seed=1)
    params = list(model.parameters())
    ref = [torch.zeros_like(p) for p in params]
    for t in range(Tn):
        s = max(0, t - k + 1)
        with torch.no_grad():
            h = None if s == 0 else model(x[:, :s], return_state=True)[1]
        out = model(x[:, s : t + 1], h0=h)
        loss_t = torch.nn.functional.cross_entropy(out[:, -1], target[:, t]) / Tn
        for r, g in zip(ref, torch.autograd.grad(loss_t, params), strict=True):
            r += g
    model.zero_grad()
    bptt.truncated_backward(model, x, target, k)
    for p, r in zip(params, ref, strict=True):
        assert _rel(p.grad.numpy(), r.numpy()) < 1e-12


@pytest.mark.parametrize(("cell", "k", "pair"), [("lstm", 1, True), ("lstm", 3, False), ("gru", 3, False)])
def test_torch_truncated_gated_cells_equal_windows_rebuilt_from_scratch(cell, k, pair):
    """The LSTM carries LSTMState(h, c) between windows (h0 as a plain tuple or an LSTMState), the GRU h."""
    Tn, L, Bn, Hn = 10, 2, 2, 5
    gen = torch.Generator().manual_seed(4)
    x = torch.randint(0, 5, (Bn, Tn), generator=gen)
    target = torch.randint(0, 5, (Bn, Tn), generator=gen)
    model = ManyToMany(5, Hn, 5, num_layers=L, dtype=torch.float64, seed=2, cell=cell)
    h0 = torch.randn(L, Bn, Hn, generator=gen, dtype=torch.float64)
    if cell == "lstm":
        c0 = torch.randn(L, Bn, Hn, generator=gen, dtype=torch.float64)
        h0 = (h0, c0) if pair else LSTMState(h0, c0)
    params = list(model.parameters())
    ref = [torch.zeros_like(p) for p in params]
    for t in range(Tn):
        s = max(0, t - k + 1)
        with torch.no_grad():
            h = h0 if s == 0 else model(x[:, :s], h0=h0, return_state=True)[1]
        loss_t = torch.nn.functional.cross_entropy(model(x[:, s : t + 1], h0=h)[:, -1], target[:, t]) / Tn
        for r, g in zip(ref, torch.autograd.grad(loss_t, params), strict=True):
            r += g
    model.zero_grad()
    bptt.truncated_backward(model, x, target, k, h0=h0)
    for p, r in zip(params, ref, strict=True):
        assert _rel(p.grad.numpy(), r.numpy()) < 1e-12
    if cell == "lstm":  # the states recorded for the windows are pairs, detached, of shape (L, B, H)
        states = bptt._states_before(model, x, h0)
        assert all(isinstance(st, LSTMState) and st.c.shape == (L, Bn, Hn) for st in states)
        assert not any(st.h.requires_grad or st.c.requires_grad for st in states)


def test_truncated_backward_accumulates_like_backward(problem):
    rnn, x, h0, *_, dhs = problem
    args = (rnn, torch.tensor(x), torch.tensor(dhs), 2)
    bptt.truncated_backward(*args, step_loss=_dot_loss)
    once = rnn.cells[0].W_hh.grad.clone()
    bptt.truncated_backward(*args, step_loss=_dot_loss)
    assert torch.allclose(rnn.cells[0].W_hh.grad, 2 * once, rtol=1e-12, atol=0)


def test_reference_rnn_backward_k_is_what_truncated_gradients_wraps(problem):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    _, cache = rnn_forward(x, h0, W_xh, W_hh, b_h)
    direct = rnn_backward(dhs, cache, 3)
    wrapped = bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, 3)
    for a, b in zip(direct, wrapped, strict=True):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------------------------------------------------
# 3. TBPTT(k1, k2) against a brute force that rebuilds every window from scratch
# ------------------------------------------------------------------------------------------------------------


def test_tbptt_segments_plan():
    segs = bptt.tbptt_segments(10, 3, 5)
    assert [(s.start, s.loss_start, s.stop) for s in segs] == [(0, 0, 3), (1, 3, 6), (4, 6, 9), (7, 9, 10)]
    segs = bptt.tbptt_segments(10, 4)
    assert [(s.start, s.loss_start, s.stop) for s in segs] == [(0, 0, 4), (4, 4, 8), (8, 8, 10)]


@pytest.mark.parametrize(("k1", "k2"), [(1, 1), (3, 3), (2, 5), (3, 4), (4, 7), (13, 13), (5, 20)])
def test_tbptt_gradients_equal_brute_force(k1, k2):
    Tn = 13
    gen = torch.Generator().manual_seed(5)
    x = torch.randint(0, 4, (3, Tn), generator=gen)
    target = torch.randint(0, 4, (3, Tn), generator=gen)
    model = ManyToMany(4, 5, 4, num_layers=2, dtype=torch.float64, seed=2)
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    ours = bptt.tbptt_gradients(model, x, target, k1, k2)
    # brute force: update m takes the losses of steps [m k1, (m+1) k1),
    # backpropagated to step max(0, m k1 - (k2 - k1))
    expected = []
    for loss_start in range(0, Tn, k1):
        stop = min(loss_start + k1, Tn)
        start = max(0, loss_start - (k2 - k1))
        with torch.no_grad():
            h = None if start == 0 else model(x[:, :start], return_state=True)[1]
        out = model(x[:, start:stop], h0=h)
        ce = torch.nn.functional.cross_entropy
        losses = [ce(out[:, t - start], target[:, t]) for t in range(loss_start, stop)]
        expected.append(torch.autograd.grad(sum(losses) / len(losses), params))
    assert len(ours) == len(expected) == -(-Tn // k1)
    for got, exp in zip(ours, expected, strict=True):
        for n, e in zip(names, exp, strict=True):
            assert _rel(got[n].numpy(), e.numpy()) < 1e-12


def test_tbptt_k_k_is_detach_every_k_steps():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 12, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(2, 12, 4, generator=gen, dtype=torch.float64)
    rnn = RNN(3, 4, dtype=torch.float64, seed=3)
    ours = bptt.tbptt_gradients(rnn, x, target, 4)
    h = None
    for m, start in enumerate(range(0, 12, 4)):
        hs, h_n = rnn(x[:, start : start + 4], None if h is None else h.detach())
        loss = sum(torch.nn.functional.mse_loss(hs[:, j], target[:, start + j]) for j in range(4)) / 4
        g = torch.autograd.grad(loss, rnn.cells[0].W_hh)[0]
        assert _rel(ours[m]["cells.0.W_hh"].numpy(), g.numpy()) < 1e-12
        h = h_n


def test_tbptt_single_window_is_full_bptt():
    gen = torch.Generator().manual_seed(7)
    x = torch.randint(0, 4, (2, 8), generator=gen)
    target = torch.randint(0, 4, (2, 8), generator=gen)
    model = ManyToMany(4, 5, 4, dtype=torch.float64, seed=0)
    (grads,) = bptt.tbptt_gradients(model, x, target, 8)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 4), target.reshape(-1))
    full = torch.autograd.grad(loss, list(model.parameters()))
    for (n, _), g in zip(model.named_parameters(), full, strict=True):
        assert _rel(grads[n].numpy(), g.numpy()) < 1e-12


# ------------------------------------------------------------------------------------------------------------
# 4. stream batching
# ------------------------------------------------------------------------------------------------------------


def test_stream_windows_reconstruct_the_sequence():
    seq = np.arange(103)
    windows = list(bptt.stream_windows(seq, seq + 1000, 4, 6, epochs=2))
    L = 103 // 4
    assert [w[0].shape for w in windows[:5]] == [(4, 6)] * 4 + [(4, 1)]  # the last window is shorter
    assert [w[2] for w in windows] == [True, False, False, False, False] * 2  # reset at every pass
    rows = torch.cat([w[0] for w in windows[:5]], 1)
    assert torch.equal(rows.reshape(-1), torch.arange(4 * L))
    assert rows.dtype == torch.int64 and all(torch.equal(t, x + 1000) for x, t, _ in windows)
    for (prev, _, _), (nxt, _, _) in zip(windows[:4], windows[1:5], strict=True):  # row b continues row b
        assert torch.equal(nxt[:, 0], prev[:, -1] + 1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(windows[:5], windows[5:], strict=True))


def test_stream_windows_forever_and_dtype():
    signal = np.linspace(0.0, 1.0, 41)
    it = bptt.stream_windows(signal[:-1, None], signal[1:, None], 2, 5)
    windows = [next(it) for _ in range(9)]  # 20 steps per stream: 4 windows per pass, forever
    assert [w[2] for w in windows] == [True, False, False, False] * 2 + [True]
    assert windows[0][0].shape == (2, 5, 1) and windows[0][0].dtype == torch.get_default_dtype()
    x64 = next(bptt.stream_windows(signal[:-1], signal[1:], 2, 5, dtype=torch.float64))[0]
    assert x64.dtype == torch.float64 and torch.equal(x64[1], torch.as_tensor(signal[20:25]))


def test_carried_state_equals_previous_final_state_without_history():
    seq = torch.randint(0, 5, (200,), generator=torch.Generator().manual_seed(0))
    xs, ys = bptt.to_streams(seq[:-1], 4), bptt.to_streams(seq[1:], 4)
    model = ManyToMany(5, 8, 5, seed=0)
    previous = None
    n = 0
    for w in bptt.tbptt_windows(model, xs, ys, 10):
        if previous is None:
            assert w.h_start is None
        else:
            assert torch.equal(w.h_start, previous)
            assert not w.h_start.requires_grad
            assert w.h_start.grad_fn is None
        assert w.h_end.grad_fn is not None  # the window's own graph ends here
        w.loss.backward()
        previous = w.h_end.detach().clone()
        n += 1
    assert n == xs.shape[1] // 10 + (xs.shape[1] % 10 > 0)


class _Recorder(ManyToMany):
    """ManyToMany that records the state it receives and the state it returns."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def forward(self, x, h0=None, return_state=False):
        y, h_n = super().forward(x, h0, return_state=True)
        self.calls.append((h0, h_n.detach().clone()))
        return (y, h_n) if return_state else y


def test_fit_with_carried_state_carries_the_detached_state_and_resets():
    seq = torch.randint(0, 5, (121,), generator=torch.Generator().manual_seed(1))
    model = _Recorder(5, 8, 5, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = bptt.carried_state(metrics={"accuracy": accuracy})
    hist = fit(model, bptt.stream_windows(seq[:-1], seq[1:], 4, 6, epochs=2), opt, steps=20, loss_fn=loss_fn)
    assert len(hist) == 10 and hist.stop_reason == "data"  # 120 // 4 = 30 steps per stream: 5 windows a pass
    assert len(hist.metrics["accuracy"]) == 10
    starts = [h0 for h0, _ in model.calls]
    assert starts[0] is None and starts[5] is None  # reset at the start of each pass
    for m in (*range(1, 5), *range(6, 10)):
        assert torch.equal(starts[m], model.calls[m - 1][1])  # the previous window's final state ...
        assert not starts[m].requires_grad and starts[m].grad_fn is None  # ... detached
    assert torch.equal(loss_fn.h, model.calls[-1][1]) and loss_fn.h.grad_fn is None


def test_carried_state_equals_the_hand_written_loop():
    """fit + stream_windows + carried_state = carry the state, h = h.detach() every k steps, by hand."""
    ids = torch.arange(161) % 7
    xs, ts = bptt.to_streams(ids[:-1], 4), bptt.to_streams(ids[1:], 4)
    model = ManyToMany(7, 8, 7, dtype=torch.float64, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses, h = [], None
    for s in range(0, 40, 8):
        if h is not None:
            h = h.detach()
        y, h = model(xs[:, s : s + 8], h0=h, return_state=True)
        loss = default_loss(y, ts[:, s : s + 8])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    by_hand = [p.detach().clone() for p in model.parameters()]
    model = ManyToMany(7, 8, 7, dtype=torch.float64, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    windows = bptt.stream_windows(ids[:-1], ids[1:], 4, 8)
    hist = fit(model, windows, opt, steps=5, loss_fn=bptt.carried_state())
    assert hist.loss == pytest.approx(losses, rel=1e-12)
    for a, b in zip(by_hand, model.parameters(), strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_stateful_learns_next_token():
    ids = torch.arange(400) % 5  # next token = (token + 1) mod 5
    model = ManyToMany(5, 16, 5, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    windows = bptt.stream_windows(ids[:-1], ids[1:], 4, 5)
    hist = fit(model, windows, opt, steps=60, loss_fn=bptt.carried_state())
    assert hist.loss[-1] < 0.1 * hist.loss[0]


# ------------------------------------------------------------------------------------------------------------
# 5. memory: flat in T for TBPTT, growing for full BPTT
# ------------------------------------------------------------------------------------------------------------


def _peak(T_len, k):
    """One pass of stateful training over 2 streams of T_len steps, TBPTT(k, k) (k = T_len: full BPTT)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (2 * T_len,), generator=gen)
    target = torch.randint(0, 4, (2 * T_len,), generator=gen)
    model = ManyToMany(4, 16, 4, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    windows = bptt.stream_windows(x, target, 2, k or T_len, epochs=1)
    with bptt.SavedTensorMeter() as meter:
        hist = fit(model, windows, opt, steps=T_len, loss_fn=bptt.carried_state())
    assert meter.current_bytes == 0  # every graph was freed
    return meter.peak_bytes, hist.loss


def test_saved_memory_flat_for_tbptt_and_growing_for_full_bptt():
    p20, l20 = _peak(20, 5)
    p80, l80 = _peak(80, 5)
    f20, lf20 = _peak(20, None)
    f80, lf80 = _peak(80, None)
    assert len(l20) == 4 and len(l80) == 16 and len(lf20) == len(lf80) == 1
    f40, _ = _peak(40, None)
    assert p80 == p20  # TBPTT: the graph never spans more than k steps
    assert f80 - f40 == 2 * (f40 - f20) > 0  # full BPTT: linear in T
    assert f80 > 3 * f20
    assert f20 > p20


# ------------------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------------------


def test_k_must_be_positive(problem):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, 0)


def test_k_must_be_an_integer(problem):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    with pytest.raises(TypeError, match=r"k must be an integer >= 1, got 2.5 of type float"):
        bptt.window_gradients(x, h0, W_xh, W_hh, b_h, dhs, 2.5)


def test_dhs_shape_must_match(problem):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    with pytest.raises(ValueError, match=r"dhs has shape \(2, 8, 4\), expected \(2, 9, 4\)"):
        bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs[:, :8], 2)


def test_torch_k_must_be_positive():
    model = ManyToMany(3, 4, 3, seed=0)
    x = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got -1"):
        bptt.truncated_backward(model, x, x, -1)


def test_k2_smaller_than_k1_is_unsupported():
    with pytest.raises(ValueError, match=r"k2 < k1 is not supported, got k1=4, k2=2"):
        bptt.tbptt_segments(10, 4, 2)


def test_k1_must_be_positive():
    with pytest.raises(ValueError, match=r"k1 must be an integer >= 1, got 0"):
        bptt.tbptt_segments(10, 0)


def test_sequence_shorter_than_one_segment():
    with pytest.raises(ValueError, match=r"T=3 steps, shorter than one segment of k1=5"):
        bptt.tbptt_segments(3, 5)


def test_stream_windows_validation():
    with pytest.raises(ValueError, match=r"Each of the 4 streams has 5 steps, fewer than k=6"):
        bptt.stream_windows(np.arange(20), np.arange(20), 4, 6)
    with pytest.raises(ValueError, match=r"target has size 4 along axis 1 .* expected 5"):
        bptt.stream_windows(np.arange(20), np.arange(16), 4, 2)
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        bptt.stream_windows(np.arange(20), np.arange(20), 4, 0)
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got 0"):
        bptt.stream_windows(np.arange(20), np.arange(20), 4, 2, epochs=0)
    with pytest.raises(TypeError, match=r"x must be an array"):
        bptt.stream_windows(list(range(20)), np.arange(20), 4, 2)


def test_carried_state_validation():
    with pytest.raises(TypeError, match=r"loss must be callable"):
        bptt.carried_state(loss="mse")
    with pytest.raises(TypeError, match=r"metrics must map names \(str\) to callables"):
        bptt.carried_state(metrics={"accuracy": 1})
    x = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"carried_state reads batches \(x, target, reset\), got tuple"):
        bptt.carried_state()(ManyToMany(3, 4, 3, seed=0), (x, x), 0)
    with pytest.raises(TypeError, match=r"truncated BPTT needs a stateful model .* got ManyToOne"):
        bptt.carried_state()(ManyToOne(3, 4, 3, seed=0), (x, x, True), 0)


def test_fewer_items_than_streams():
    with pytest.raises(ValueError, match=r"N=3 items, fewer than batch_size=4"):
        bptt.to_streams(np.arange(3), 4)


def test_xy_time_mismatch():
    model = ManyToMany(3, 4, 3, seed=0)
    with pytest.raises(ValueError, match=r"target has size 4 along axis 1 .* expected 5"):
        bptt.truncated_backward(
            model, torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long), 2
        )


def test_model_without_per_step_output_is_rejected():
    model = OneToMany(3, 4, 3, seed=0)
    x = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(TypeError, match=r"needs a stateful model with an output at every step.* OneToMany"):
        next(bptt.tbptt_windows(model, x, x, 2))


def test_many_to_one_is_rejected():
    model = ManyToOne(3, 4, 3, seed=0)
    x = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(TypeError, match=r"needs a stateful model with an output at every step.* ManyToOne"):
        bptt.truncated_backward(model, x, x, 2)


def test_reduction_must_be_mean_or_sum():
    model = ManyToMany(3, 4, 3, seed=0)
    x = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"reduction must be 'mean' or 'sum', got 'max'"):
        bptt.truncated_backward(model, x, x, 2, reduction="max")


# ------------------------------------------------------------------------------------------------------------
# 6. window losses in one call; the numpy wrappers in float32
# ------------------------------------------------------------------------------------------------------------


def _square_error_sum(y_t, target_t):
    """A custom step loss (sum, not mean, of squared errors)."""
    return ((y_t - target_t) ** 2).sum()


@pytest.mark.parametrize(("k1", "k2"), [(4, 4), (3, 5)])
def test_tbptt_custom_step_loss_equals_per_step_definition(k1, k2):
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(2, 11, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(2, 11, 4, generator=gen, dtype=torch.float64)
    rnn = RNN(3, 4, dtype=torch.float64, seed=4)
    ours = bptt.tbptt_gradients(rnn, x, target, k1, k2, step_loss=_square_error_sum)
    for got, seg in zip(ours, bptt.tbptt_segments(11, k1, k2), strict=True):
        with torch.no_grad():
            h = None if seg.start == 0 else rnn(x[:, : seg.start])[1]
        hs, _ = rnn(x[:, seg.start : seg.stop], h)
        steps = range(seg.loss_start, seg.stop)
        loss = sum(_square_error_sum(hs[:, t - seg.start], target[:, t]) for t in steps) / len(steps)
        g = torch.autograd.grad(loss, rnn.cells[0].W_hh)[0]
        assert _rel(got["cells.0.W_hh"].numpy(), g.numpy()) < 1e-12


def test_default_window_loss_is_one_call_over_the_window():
    """The default loss of a window is a single cross-entropy (or MSE) node over all its steps, not a sum
    of per-step slices (whose backward passes each fill a buffer the size of the window's outputs)."""
    x = torch.randint(0, 4, (2, 12), generator=torch.Generator().manual_seed(0))
    model = ManyToMany(4, 5, 4, seed=0)
    names = {type(w.loss.grad_fn).__name__ for w in bptt.tbptt_windows(model, x, x, 4, 6)}
    assert names == {"NllLossBackward0"}
    rnn = RNN(3, 4, seed=0)
    xf, yf = torch.randn(2, 8, 3), torch.randn(2, 8, 4)
    assert {type(w.loss.grad_fn).__name__ for w in bptt.tbptt_windows(rnn, xf, yf, 4)} == {"MseLossBackward0"}


def test_full_bptt_window_loss_equals_mean_of_step_losses():
    gen = torch.Generator().manual_seed(9)
    x = torch.randint(0, 5, (3, 10), generator=gen)
    target = torch.randint(0, 5, (3, 10), generator=gen)
    model = ManyToMany(5, 6, 5, dtype=torch.float64, seed=1)
    (w,) = list(bptt.tbptt_windows(model, x, target, 10))
    out = model(x)
    per_step = sum(torch.nn.functional.cross_entropy(out[:, t], target[:, t]) for t in range(10)) / 10
    assert abs(w.loss.item() - per_step.item()) < 1e-12
    g_ours = torch.autograd.grad(w.loss, list(model.parameters()))
    g_def = torch.autograd.grad(per_step, list(model.parameters()))
    for a, b in zip(g_ours, g_def, strict=True):
        assert _rel(a.numpy(), b.numpy()) < 1e-12


@pytest.mark.parametrize("k", [2, None])
def test_numpy_wrappers_follow_float32(problem, k):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    args32 = [a.astype(np.float32) for a in (x, h0, W_xh, W_hh, b_h, dhs)]
    g64 = bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs, k)
    g32 = bptt.truncated_gradients(*args32, k)
    for a32, a64 in zip(g32, g64, strict=True):
        assert a32.dtype == np.float32
        assert _rel(a32, a64) < 1e-5
    if k is not None:
        windows = bptt.window_gradients(*args32, k)
        summed = [sum(w[i] for w in windows) for i in range(3)]
        for s, a32 in zip(summed, g32[2:], strict=True):
            assert s.dtype == np.float32
            assert _rel(s, a32) < 1e-5


def test_truncated_gradients_rejects_a_tensor_for_dhs(problem):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    with pytest.raises(TypeError, match=r"dhs must be a numpy.ndarray, got Tensor"):
        bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, torch.tensor(dhs), 2)


def test_truncated_gradients_rejects_a_dhs_of_another_dtype(problem):
    _, x, h0, W_xh, W_hh, b_h, dhs = problem
    with pytest.raises(TypeError, match=r"dhs has dtype float32 but the forward pass has dtype float64"):
        bptt.truncated_gradients(x, h0, W_xh, W_hh, b_h, dhs.astype(np.float32), 2)
