"""Tests of rnncourse.reference: every backward against central differences and against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rnncourse.gradcheck import numerical_gradient, rel_error
from rnncourse.reference import (
    affine_backward,
    affine_forward,
    embedding_backward,
    embedding_forward,
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    softmax,
    softmax_cross_entropy,
)

# Fourth-order central differences (steps 1e-3 and 2e-3) are accurate to about 1e-12 on these small problems,
# so an elementwise relative error below 1e-7 separates a correct backward from a wrong one. The examples are
# derandomized so that every run checks the same shapes and values.
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)
GRAD_TOL = 1e-7
size = st.integers(min_value=1, max_value=4)


def numgrad(f, x, df):
    return numerical_gradient(f, x, df, eps=1e-3, order=4)


def rnn_params(rng, B, T, D, H):
    """Inputs and weights of moderate size, so that tanh is neither linear nor saturated."""
    return (
        rng.normal(size=(B, T, D)),
        rng.normal(size=(B, H)),
        rng.normal(size=(H, D)) / np.sqrt(D),
        rng.normal(size=(H, H)) / np.sqrt(H),
        rng.normal(size=H) * 0.5,
    )


# ---------------------------------------------------------------------------------- 1. central differences
@PROPERTY
@given(B=size, D=size, H=size, seed=st.integers(0, 2**31 - 1))
@example(B=1, D=1, H=1, seed=0)
def test_rnn_step_backward_matches_central_differences(B, D, H, seed):
    rng = np.random.default_rng(seed)
    x, h_prev, W_xh, W_hh, b_h = rnn_params(rng, B, 1, D, H)
    x = x[:, 0]
    h, cache = rnn_step_forward(x, h_prev, W_xh, W_hh, b_h)
    dh = rng.normal(size=h.shape)
    grads = rnn_step_backward(dh, cache)
    arrays = (x, h_prev, W_xh, W_hh, b_h)
    for name, arr, grad in zip(("x", "h_prev", "W_xh", "W_hh", "b_h"), arrays, grads, strict=True):
        num = numgrad(lambda _: rnn_step_forward(x, h_prev, W_xh, W_hh, b_h)[0], arr, dh)
        assert grad.shape == arr.shape, name
        assert rel_error(grad, num) < GRAD_TOL, name


@PROPERTY
@given(B=size, T=size, D=size, H=size, seed=st.integers(0, 2**31 - 1))
@example(B=1, T=1, D=2, H=3, seed=1)
@example(B=1, T=4, D=1, H=2, seed=2)
@example(B=3, T=1, D=2, H=2, seed=3)
def test_rnn_backward_matches_central_differences(B, T, D, H, seed):
    rng = np.random.default_rng(seed)
    x, h0, W_xh, W_hh, b_h = params = rnn_params(rng, B, T, D, H)
    hs, cache = rnn_forward(*params)
    dhs = rng.normal(size=hs.shape)
    grads = rnn_backward(dhs, cache)
    for name, arr, grad in zip(("x", "h0", "W_xh", "W_hh", "b_h"), params, grads, strict=True):
        num = numgrad(lambda _: rnn_forward(x, h0, W_xh, W_hh, b_h)[0], arr, dhs)
        assert grad.shape == arr.shape, name
        assert rel_error(grad, num) < GRAD_TOL, name


@PROPERTY
@given(B=size, T=size, V=size, D=size, seed=st.integers(0, 2**31 - 1))
@example(B=1, T=1, V=1, D=1, seed=0)
def test_embedding_backward_matches_central_differences(B, T, V, D, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(B, T))
    W_embed = rng.normal(size=(V, D))
    x, cache = embedding_forward(ids, W_embed)
    dx = rng.normal(size=x.shape)
    dW_embed = embedding_backward(dx, cache)
    num = numgrad(lambda _: embedding_forward(ids, W_embed)[0], W_embed, dx)
    assert x.shape == (B, T, D)
    assert rel_error(dW_embed, num) < GRAD_TOL


@PROPERTY
@given(B=size, T=size, H=size, V=size, seed=st.integers(0, 2**31 - 1))
@example(B=1, T=1, H=1, V=1, seed=0)
def test_affine_backward_matches_central_differences(B, T, H, V, seed):
    rng = np.random.default_rng(seed)
    h, W_hy, b_y = rng.normal(size=(B, T, H)), rng.normal(size=(V, H)), rng.normal(size=V)
    y, cache = affine_forward(h, W_hy, b_y)
    dy = rng.normal(size=y.shape)
    grads = affine_backward(dy, cache)
    for name, arr, grad in zip(("h", "W_hy", "b_y"), (h, W_hy, b_y), grads, strict=True):
        num = numgrad(lambda _: affine_forward(h, W_hy, b_y)[0], arr, dy)
        assert grad.shape == arr.shape, name
        assert rel_error(grad, num) < GRAD_TOL, name


@PROPERTY
@given(B=size, T=size, V=st.integers(2, 5), seed=st.integers(0, 2**31 - 1), masked=st.booleans())
@example(B=1, T=1, V=2, seed=0, masked=False)
def test_softmax_cross_entropy_gradient_matches_central_differences(B, T, V, seed, masked):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(B, T, V))
    targets = rng.integers(0, V, size=(B, T))
    mask = None
    if masked:
        mask = rng.random((B, T)) < 0.6
        mask[0, 0] = True
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    num = numgrad(lambda _: softmax_cross_entropy(logits, targets, mask)[0], logits, 1.0)
    assert rel_error(dlogits, num) < GRAD_TOL
    if masked:
        assert np.all(dlogits[~mask] == 0.0)


# ---------------------------------------------------------------------------- known answers (oracles)
def test_rnn_step_forward_known_answer():
    x = np.array([[1.0, 2.0]])
    h_prev = np.array([[0.5, -1.0]])
    W_xh = np.array([[0.1, 0.2], [0.0, -0.3]])
    W_hh = np.array([[1.0, 0.0], [0.5, 0.5]])
    b_h = np.array([0.0, 0.1])
    h, _ = rnn_step_forward(x, h_prev, W_xh, W_hh, b_h)
    # a = W_hh h_prev + W_xh x + b_h = [0.5 + 0.5, -0.25 - 0.6 + 0.1] = [1.0, -0.75]
    np.testing.assert_allclose(h, np.tanh([[1.0, -0.75]]), rtol=0, atol=1e-15)


def test_rnn_forward_equals_repeated_steps():
    rng = np.random.default_rng(0)
    x, h0, W_xh, W_hh, b_h = rnn_params(rng, 2, 5, 3, 4)
    hs, cache = rnn_forward(x, h0, W_xh, W_hh, b_h)
    h = h0
    for t in range(5):
        h, _ = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        np.testing.assert_allclose(hs[:, t], h, rtol=0, atol=1e-14)
    assert cache[4] is hs


def test_softmax_is_stable_and_normalised():
    z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]])
    p = softmax(z)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(p[0], softmax(np.array([0.0, 1.0, 2.0])), rtol=1e-15)
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-15)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), 1.0, rtol=0, atol=1e-15)


def test_softmax_cross_entropy_known_answer_and_mask():
    logits = np.zeros((1, 3, 4))  # uniform prediction: loss log 4 at every position
    targets = np.array([[0, 1, 2]])
    loss, dlogits = softmax_cross_entropy(logits, targets)
    assert loss == pytest.approx(np.log(4.0), rel=1e-15)
    logits[0, 2] = [0.0, 0.0, 50.0, 0.0]  # confident and right: loss ~ 0 at position 2
    mask = np.array([[False, False, True]])
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    assert loss < 1e-20
    assert np.all(dlogits[0, :2] == 0.0)


def test_embedding_backward_accumulates_repeated_ids():
    W_embed = np.arange(6.0).reshape(3, 2)
    ids = np.array([[2, 2, 0]])
    x, cache = embedding_forward(ids, W_embed)
    np.testing.assert_array_equal(x[0], W_embed[[2, 2, 0]])
    dW = embedding_backward(np.ones((1, 3, 2)), cache)
    np.testing.assert_array_equal(dW, [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])


# --------------------------------------------------------------------------------- 2. torch autograd
def _torch_pipeline_grads(ids, h0, W_embed, W_xh, W_hh, b_h, W_hy, b_y, mask):
    """Embedding -> tanh RNN -> affine -> mean cross-entropy, differentiated by torch autograd."""
    P = {
        k: torch.tensor(v, requires_grad=True)
        for k, v in dict(h0=h0, W_embed=W_embed, W_xh=W_xh, W_hh=W_hh, b_h=b_h, W_hy=W_hy, b_y=b_y).items()
    }
    x = P["W_embed"][torch.as_tensor(ids)]
    h, logits = P["h0"], []
    for t in range(ids.shape[1]):
        h = torch.tanh(x[:, t] @ P["W_xh"].T + h @ P["W_hh"].T + P["b_h"])
        logits.append(h @ P["W_hy"].T + P["b_y"])
    logits = torch.stack(logits, 1)
    m = torch.as_tensor(mask)
    targets = torch.as_tensor(ids)
    loss = torch.nn.functional.cross_entropy(logits[m], targets[m])  # the next token is the current one
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in P.items()}


@pytest.mark.parametrize("last_only", [False, True])
def test_reference_pipeline_equals_torch_autograd(last_only):
    rng = np.random.default_rng(3)
    B, T, V, D, H = 3, 6, 5, 4, 7
    ids = rng.integers(0, V, size=(B, T))
    h0, W_embed = rng.normal(size=(B, H)), rng.normal(size=(V, D))
    W_xh, W_hh, b_h = rng.normal(size=(H, D)) / 2, rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=H)
    W_hy, b_y = rng.normal(size=(V, H)), rng.normal(size=V)
    mask = np.zeros((B, T), dtype=bool)
    mask[:, -1] = True
    if not last_only:
        mask[:] = True

    x, c_embed = embedding_forward(ids, W_embed)
    hs, c_rnn = rnn_forward(x, h0, W_xh, W_hh, b_h)
    logits, c_aff = affine_forward(hs, W_hy, b_y)
    loss, dlogits = softmax_cross_entropy(logits, ids, mask)
    dhs, dW_hy, db_y = affine_backward(dlogits, c_aff)
    dx, dh0, dW_xh, dW_hh, db_h = rnn_backward(dhs, c_rnn)
    dW_embed = embedding_backward(dx, c_embed)
    ours = dict(h0=dh0, W_embed=dW_embed, W_xh=dW_xh, W_hh=dW_hh, b_h=db_h, W_hy=dW_hy, b_y=db_y)

    torch_loss, theirs = _torch_pipeline_grads(ids, h0, W_embed, W_xh, W_hh, b_h, W_hy, b_y, mask)
    assert abs(loss - torch_loss) < 1e-12
    for name in ours:
        assert ours[name].shape == theirs[name].shape, name
        assert np.abs(ours[name] - theirs[name]).max() < 1e-10, name
        assert np.abs(theirs[name]).max() > 1e-6, name  # every gradient is non-trivial
    if last_only:  # losses only at the last step: the last step's states still reach every parameter
        assert np.abs(dx[:, 0]).max() > 0


# --------------------------------------------------------------------------------------- 4. truncation
def _setup_truncation(T=6, seed=0):
    rng = np.random.default_rng(seed)
    params = rnn_params(rng, 2, T, 3, 4)
    hs, cache = rnn_forward(*params)
    return params, cache, rng.normal(size=hs.shape)


@pytest.mark.parametrize("k", [6, 7, 100])
def test_truncation_with_k_at_least_T_is_full_bptt(k):
    _, cache, dhs = _setup_truncation(T=6)
    for full, truncated in zip(rnn_backward(dhs, cache), rnn_backward(dhs, cache, k=k), strict=True):
        np.testing.assert_array_equal(full, truncated)


def test_truncation_k1_is_sum_of_local_step_gradients():
    (x, h0, W_xh, W_hh, b_h), cache, dhs = _setup_truncation(T=5)
    dx, dh0, dW_xh, dW_hh, db_h = rnn_backward(dhs, cache, k=1)
    # From the definition: run the steps, backpropagate each dhs[:, t] through its own step only.
    h = h0
    want = {"dW_xh": 0.0, "dW_hh": 0.0, "db_h": 0.0}
    for t in range(5):
        h, step_cache = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        dx_t, dh_prev, dW_xh_t, dW_hh_t, db_h_t = rnn_step_backward(dhs[:, t], step_cache)
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-13, atol=1e-15)
        want["dW_xh"] = want["dW_xh"] + dW_xh_t
        want["dW_hh"] = want["dW_hh"] + dW_hh_t
        want["db_h"] = want["db_h"] + db_h_t
        if t == 0:  # the gradient of h_1 travels one step and arrives at h_0; later dh_prev are discarded
            np.testing.assert_allclose(dh0, dh_prev, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dW_xh, want["dW_xh"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dW_hh, want["dW_hh"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db_h, want["db_h"], rtol=1e-12, atol=1e-14)
    full = rnn_backward(dhs, cache)
    assert np.abs(full[3] - dW_hh).max() > 1e-3  # truncation changes the answer


def _autograd_truncated(params, dhs, k):
    """Gradient of sum_t <dhs_t, h_t> where, for the term at t, h_{t-k} is a constant (detached)."""
    P = [torch.tensor(p, requires_grad=True) for p in params]
    x, h0, W_xh, W_hh, b_h = P
    T = x.shape[1]

    def step(h, t):
        return torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)

    hs = []
    h = h0
    for t in range(T):
        h = step(h, t)
        hs.append(h)
    total = 0.0
    for t in range(T):
        start = t - k + 1  # first step the gradient may pass through
        h = h0 if start <= 0 else hs[start - 1].detach()
        for s in range(max(start, 0), t + 1):
            h = step(h, s)
        total = total + (torch.as_tensor(dhs[:, t]) * h).sum()
    total.backward()
    return [p.grad.numpy() for p in P]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_truncation_intermediate_k_equals_autograd_with_detached_state(k):
    params, cache, dhs = _setup_truncation(T=6, seed=1)
    ours = rnn_backward(dhs, cache, k=k)
    theirs = _autograd_truncated(params, dhs, k)
    for name, a, b in zip(("dx", "dh0", "dW_xh", "dW_hh", "db_h"), ours, theirs, strict=True):
        assert np.abs(a - b).max() < 1e-10, name
    full = rnn_backward(dhs, cache)
    assert np.abs(full[3] - ours[3]).max() > 1e-6  # k < T really truncates


# -------------------------------------------------------------------------- 5. shared parameters
def test_perturbing_W_hh_changes_every_step_after_the_first():
    rng = np.random.default_rng(0)
    x, _, W_xh, W_hh, b_h = rnn_params(rng, 2, 8, 3, 4)
    h0 = np.zeros((2, 4))
    hs, _ = rnn_forward(x, h0, W_xh, W_hh, b_h)
    W_hh2 = W_hh.copy()
    W_hh2[1, 2] += 1e-3
    hs2, _ = rnn_forward(x, h0, W_xh, W_hh2, b_h)
    np.testing.assert_array_equal(hs[:, 0], hs2[:, 0])  # h_1 = tanh(W_xh x_1 + b_h) does not read W_hh
    for t in range(1, 8):
        assert np.abs(hs[:, t] - hs2[:, t]).max() > 1e-8, t


# ------------------------------------------------------------------------------------ 6. validation
def _good():
    rng = np.random.default_rng(0)
    return rnn_params(rng, 2, 3, 3, 4)


def test_step_rejects_wrong_ndim():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"x must have 2 dimensions, got 3"):
        rnn_step_forward(x, h0, W_xh, W_hh, b_h)


def test_step_rejects_mismatched_hidden_size():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"h_prev has size 3 along axis 1 .* expected 4"):
        rnn_step_forward(x[:, 0], h0[:, :3], W_xh, W_hh, b_h)


def test_step_rejects_mismatched_input_size():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"W_xh has size 3 along axis 1 .* expected 2"):
        rnn_step_forward(x[:, 0, :2], h0, W_xh, W_hh, b_h)


def test_step_rejects_non_square_W_hh():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"W_hh has size 3 along axis 1 .* expected 4"):
        rnn_step_forward(x[:, 0], h0, W_xh, W_hh[:, :3], b_h)


def test_step_rejects_int_array():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(TypeError, match=r"x must hold floating-point numbers, got dtype int64"):
        rnn_step_forward(np.ones((2, 3), dtype=np.int64), h0, W_xh, W_hh, b_h)


def test_step_rejects_mixed_dtypes():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(TypeError, match=r"W_xh has dtype float32 but x has dtype float64"):
        W32 = [W.astype(np.float32) for W in (W_xh, W_hh, b_h)]
        rnn_step_forward(x[:, 0], h0, *W32)


def test_step_rejects_non_numpy_input():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(TypeError, match=r"x must be a numpy.ndarray, got list"):
        rnn_step_forward(x[:, 0].tolist(), h0, W_xh, W_hh, b_h)


def test_forward_rejects_non_finite():
    x, h0, W_xh, W_hh, b_h = _good()
    x[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(shape \(2, 3, 3\)\)"):
        rnn_forward(x, h0, W_xh, W_hh, b_h)


def test_forward_rejects_empty_sequence():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"x has T = 0 time steps \(shape \(2, 0, 3\)\), expected T >= 1"):
        rnn_forward(x[:, :0], h0, W_xh, W_hh, b_h)


def test_shape_hints_name_the_shape_of_each_argument():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"h0 must have 2 dimensions, got 3 .*expected shape \(B, H\)"):
        rnn_forward(x, h0[None], W_xh, W_hh, b_h)  # torch's (L, B, H) convention: the hint names numpy's
    with pytest.raises(ValueError, match=r"x must have 3 dimensions, got 2 .*expected shape \(B, T, D\)"):
        rnn_forward(x[:, 0], h0, W_xh, W_hh, b_h)
    with pytest.raises(ValueError, match=r"h_prev must have 2 dimensions, got 1 .*expected shape \(B, H\)"):
        rnn_step_forward(x[:, 0], h0[0], W_xh, W_hh, b_h)
    with pytest.raises(ValueError, match=r"b_h must have 1 dimensions, got 2 .*expected shape \(H,\)"):
        rnn_step_forward(x[:, 0], h0, W_xh, W_hh, b_h[None])
    with pytest.raises(ValueError, match=r"W_hy must have 2 dimensions, got 1 .*expected shape \(V, H\)"):
        affine_forward(h0, b_h, b_h)


def test_forward_rejects_mismatched_batch():
    x, h0, W_xh, W_hh, b_h = _good()
    with pytest.raises(ValueError, match=r"h0 has size 1 along axis 0 .* expected 2"):
        rnn_forward(x, h0[:1], W_xh, W_hh, b_h)


def test_backward_rejects_wrong_shape_of_upstream_gradient():
    hs, cache = rnn_forward(*_good())
    with pytest.raises(ValueError, match=r"dhs has shape \(2, 2, 4\), expected \(2, 3, 4\)"):
        rnn_backward(np.zeros((2, 2, 4)), cache)


def test_backward_rejects_bad_k():
    hs, cache = rnn_forward(*_good())
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        rnn_backward(np.zeros_like(hs), cache, k=0)
    with pytest.raises(TypeError, match=r"k must be an integer >= 1, got 1.5"):
        rnn_backward(np.zeros_like(hs), cache, k=1.5)


def test_backward_rejects_foreign_cache():
    hs, cache = rnn_forward(*_good())
    with pytest.raises(TypeError, match=r"tuple of 5 items returned by rnn_forward, got list"):
        rnn_backward(np.zeros_like(hs), list(cache))


def test_step_backward_rejects_wrong_dtype_gradient():
    x, h0, W_xh, W_hh, b_h = _good()
    h, cache = rnn_step_forward(x[:, 0], h0, W_xh, W_hh, b_h)
    with pytest.raises(TypeError, match=r"dh has dtype float32 but the forward pass has dtype float64"):
        rnn_step_backward(np.zeros(h.shape, dtype=np.float32), cache)


def test_embedding_rejects_out_of_range_and_float_ids():
    W_embed = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"ids must lie in 0..4 .* got values in 0..7"):
        embedding_forward(np.array([[0, 7]]), W_embed)
    with pytest.raises(TypeError, match=r"ids must hold integer ids, got dtype float64"):
        embedding_forward(np.array([[0.0, 1.0]]), W_embed)


def test_embedding_backward_rejects_wrong_shape():
    _, cache = embedding_forward(np.array([[0, 1]]), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"dx has shape \(1, 3, 2\), expected \(1, 2, 'D'\)"):
        embedding_backward(np.zeros((1, 3, 2)), cache)


def test_affine_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match=r"h has size 3 along axis 2 .* expected 4"):
        affine_forward(np.zeros((2, 5, 3)), np.zeros((6, 4)), np.zeros(6))
    with pytest.raises(ValueError, match=r"b_y has size 5 along axis 0 .* expected 6"):
        affine_forward(np.zeros((2, 5, 4)), np.zeros((6, 4)), np.zeros(5))


def test_affine_backward_rejects_wrong_shape():
    _, cache = affine_forward(np.zeros((2, 5, 4)), np.zeros((6, 4)), np.zeros(6))
    with pytest.raises(ValueError, match=r"dy has shape \(2, 5, 4\), expected \(2, 5, 6\)"):
        affine_backward(np.zeros((2, 5, 4)), cache)


def test_softmax_rejects_bad_axis_and_ints():
    with pytest.raises(ValueError, match=r"axis must be an integer in -2..1 .* got 2"):
        softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match=r"z must hold floating-point numbers, got dtype int64"):
        softmax(np.zeros((2, 3), dtype=np.int64))


def test_cross_entropy_rejects_bad_targets_and_mask():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"targets must lie in 0..3 .* got values in 0..4"):
        softmax_cross_entropy(logits, np.array([[0, 1, 2], [3, 4, 0]]))
    with pytest.raises(ValueError, match=r"targets has shape \(2, 2\), expected \(2, 3\)"):
        softmax_cross_entropy(logits, np.zeros((2, 2), dtype=np.int64))
    targets = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"mask has shape \(2,\), expected \(2, 3\)"):
        softmax_cross_entropy(logits, targets, np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match=r"mask selects 0 of 6 positions, expected at least 1"):
        softmax_cross_entropy(logits, targets, np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"mask must hold booleans or 0/1 values, got dtype float64"):
        softmax_cross_entropy(logits, targets, np.full((2, 3), 0.5))


# ------------------------------------------------------------------ 7. the vectorised sequence functions
@pytest.mark.parametrize(("B", "T", "D", "H"), [(1, 7, 5, 6), (3, 4, 2, 5), (32, 3, 65, 100)])
def test_rnn_forward_equals_repeated_steps_to_rounding(B, T, D, H):
    """rnn_forward computes the input parts of all steps in one product: repeated rnn_step_forward calls give
    the same states up to rounding (a few units in the last place), for every shape."""
    rng = np.random.default_rng(B + T)
    x, h0, W_xh, W_hh, b_h = rnn_params(rng, B, T, D, H)
    hs, _ = rnn_forward(x, h0, W_xh, W_hh, b_h)
    h = h0
    for t in range(T):
        h, _ = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        np.testing.assert_allclose(hs[:, t], h, rtol=0, atol=1e-14)


@pytest.mark.parametrize(("B", "T"), [(1, 1), (1, 6), (3, 5)])
def test_rnn_backward_equals_chained_step_backward(B, T):
    """Full BPTT (one product per parameter after the loop) equals the teaching version: rnn_step_backward
    chained backwards with dh = dhs_t + dh_prev of the next step, the step gradients summed."""
    rng = np.random.default_rng(T)
    x, h0, W_xh, W_hh, b_h = rnn_params(rng, B, T, 3, 4)
    hs, cache = rnn_forward(x, h0, W_xh, W_hh, b_h)
    dhs = rng.normal(size=hs.shape)
    dx, dh0, dW_xh, dW_hh, db_h = rnn_backward(dhs, cache)
    steps, h = [], h0
    for t in range(T):
        h, step_cache = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        steps.append(step_cache)
    want = {"dW_xh": 0.0, "dW_hh": 0.0, "db_h": 0.0}
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        dx_t, dh_next, dW_xh_t, dW_hh_t, db_h_t = rnn_step_backward(dhs[:, t] + dh_next, steps[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-12, atol=1e-14)
        want["dW_xh"] = want["dW_xh"] + dW_xh_t
        want["dW_hh"] = want["dW_hh"] + dW_hh_t
        want["db_h"] = want["db_h"] + db_h_t
    np.testing.assert_allclose(dh0, dh_next, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dW_xh, want["dW_xh"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dW_hh, want["dW_hh"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db_h, want["db_h"], rtol=1e-12, atol=1e-14)
    assert np.abs(dW_hh).max() > 1e-3  # a non-trivial gradient


@pytest.mark.parametrize(("T", "k"), [(13, 4), (13, 6), (13, 12), (7, 2)])
def test_truncation_with_several_losses_in_reach_equals_autograd(T, k):
    """Up to k losses travel back side by side; a loss is dropped after exactly k steps (k not dividing T)."""
    params, cache, dhs = _setup_truncation(T=T, seed=T + k)
    ours = rnn_backward(dhs, cache, k=k)
    theirs = _autograd_truncated(params, dhs, k)
    for name, a, b in zip(("dx", "dh0", "dW_xh", "dW_hh", "db_h"), ours, theirs, strict=True):
        assert np.abs(a - b).max() < 1e-10, name
    assert np.abs(ours[1]).max() > 1e-6  # the losses t < k reach h_0


def test_embedding_backward_equals_add_at_and_keeps_dtype():
    rng = np.random.default_rng(0)
    V, D = 7, 3
    for ids in (rng.integers(0, V, size=(4, 9)), rng.integers(0, V, size=5).astype(np.uint8)):
        W_embed = rng.normal(size=(V, D))
        x, cache = embedding_forward(ids, W_embed)
        dx = rng.normal(size=x.shape)
        want = np.zeros((V, D))
        np.add.at(want, ids, dx)  # the definition: every position adds its row
        np.testing.assert_allclose(embedding_backward(dx, cache), want, rtol=1e-14, atol=1e-15)
        dW32 = embedding_backward(dx.astype(np.float32), cache)
        assert dW32.dtype == np.float32
        np.testing.assert_allclose(dW32, want, rtol=1e-5, atol=1e-5)


def test_reference_pipeline_follows_float32_inputs():
    """dtype follows the inputs: float32 in, float32 out, within float32 rounding of the float64 result."""
    rng = np.random.default_rng(5)
    B, T, V, D, H = 2, 5, 6, 4, 8
    ids = rng.integers(0, V, size=(B, T))
    params64 = dict(
        h0=rng.normal(size=(B, H)),
        W_embed=rng.normal(size=(V, D)),
        W_xh=rng.normal(size=(H, D)) / 2,
        W_hh=rng.normal(size=(H, H)) / np.sqrt(H),
        b_h=rng.normal(size=H),
        W_hy=rng.normal(size=(V, H)),
        b_y=rng.normal(size=V),
    )

    def pipeline(P, k):
        x, c_embed = embedding_forward(ids, P["W_embed"])
        hs, c_rnn = rnn_forward(x, P["h0"], P["W_xh"], P["W_hh"], P["b_h"])
        logits, c_aff = affine_forward(hs, P["W_hy"], P["b_y"])
        loss, dlogits = softmax_cross_entropy(logits, ids)
        dhs, dW_hy, db_y = affine_backward(dlogits, c_aff)
        dx, dh0, dW_xh, dW_hh, db_h = rnn_backward(dhs, c_rnn, k=k)
        dW_embed = embedding_backward(dx, c_embed)
        return loss, [x, hs, logits, dlogits, dhs, dW_hy, db_y, dx, dh0, dW_xh, dW_hh, db_h, dW_embed]

    for k in (None, 2):
        loss64, out64 = pipeline(params64, k)
        loss32, out32 = pipeline({n: p.astype(np.float32) for n, p in params64.items()}, k)
        assert abs(loss32 - loss64) < 1e-5 * abs(loss64)
        for a32, a64 in zip(out32, out64, strict=True):
            assert a32.dtype == np.float32
            assert np.abs(a32 - a64).max() < 1e-4 * max(1.0, np.abs(a64).max())


# ------------------------------------------------------------------------------------- 8. LSTM and GRU
def gated_params(rng, cell, B, T, D, H):
    """x (B, T, D), the initial states (B, H) and the weights of a cell with 4 (LSTM) or 3 (GRU) gates."""
    G = 4 if cell == "lstm" else 3
    states = [rng.normal(size=(B, H)) for _ in range(2 if cell == "lstm" else 1)]
    W = [rng.normal(size=(G * H, D)) / np.sqrt(2 * D), rng.normal(size=(G * H, H)) / np.sqrt(2 * H)]
    biases = [rng.normal(size=G * H) * 0.3 for _ in range(1 if cell == "lstm" else 2)]
    return [rng.normal(size=(B, T, D)), *states, *W, *biases]


def assert_gradcheck(grad, num, name):
    """Relative error below GRAD_TOL entry by entry, but for entries so small that the absolute rounding floor
    of central differences (about 1e-13 here) dominates: a product of gates can make single entries of a
    gated cell's gradient arbitrarily small (a saturated gate, an input near zero)."""
    assert grad.shape == num.shape, name
    assert np.all(np.abs(grad - num) <= GRAD_TOL * (np.abs(grad) + np.abs(num)) + 1e-12), name


GATED_NAMES = {
    "lstm": ("x", "h0", "c0", "W_xh", "W_hh", "b_h"),
    "gru": ("x", "h0", "W_xh", "W_hh", "b_xh", "b_hh"),
}
SEQ = {"lstm": (lstm_forward, lstm_backward), "gru": (gru_forward, gru_backward)}


def _gated_outputs(cell, params):
    """Every output of the sequence function, concatenated (the LSTM's hs and cs)."""
    out = SEQ[cell][0](*params)
    return np.concatenate(out[:2], -1) if cell == "lstm" else out[0]


@PROPERTY
@given(cell=st.sampled_from(["lstm", "gru"]), B=size, D=size, H=size, seed=st.integers(0, 2**31 - 1))
@example(cell="lstm", B=1, D=1, H=1, seed=0)
@example(cell="gru", B=1, D=1, H=1, seed=0)
def test_gated_step_backward_matches_central_differences(cell, B, D, H, seed):
    rng = np.random.default_rng(seed)
    params = gated_params(rng, cell, B, 1, D, H)
    params[0] = params[0][:, 0]
    forward, backward = (
        (lstm_step_forward, lstm_step_backward) if cell == "lstm" else (gru_step_forward, gru_step_backward)
    )
    out = forward(*params)
    d_out = [rng.normal(size=o.shape) for o in out[:-1]]  # dh (and dc)
    grads = backward(*d_out, out[-1])
    names = (
        ("x", "h_prev", "c_prev", "W_xh", "W_hh", "b_h")
        if cell == "lstm"
        else ("x", "h_prev", "W_xh", "W_hh", "b_xh", "b_hh")
    )
    for name, arr, grad in zip(names, params, grads, strict=True):
        num = numgrad(lambda _: np.concatenate(forward(*params)[:-1], -1), arr, np.concatenate(d_out, -1))
        assert_gradcheck(grad, num, name)


@PROPERTY
@given(cell=st.sampled_from(["lstm", "gru"]), B=size, T=size, D=size, H=size, seed=st.integers(0, 2**31 - 1))
@example(cell="lstm", B=1, T=4, D=1, H=2, seed=2)
@example(cell="gru", B=3, T=4, D=2, H=3, seed=3)
def test_gated_backward_matches_central_differences(cell, B, T, D, H, seed):
    """The loss reads every hidden state (and, for a check of c, the LSTM's cell states through dhs only)."""
    rng = np.random.default_rng(seed)
    params = gated_params(rng, cell, B, T, D, H)
    hs = SEQ[cell][0](*params)[0]
    dhs = rng.normal(size=hs.shape)
    grads = SEQ[cell][1](dhs, SEQ[cell][0](*params)[-1])
    for name, arr, grad in zip(GATED_NAMES[cell], params, grads, strict=True):
        num = numgrad(lambda _: SEQ[cell][0](*params)[0], arr, dhs)
        assert_gradcheck(grad, num, name)
        assert np.abs(grad).max() > 1e-8, name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("T", [1, 5])
def test_gated_sequence_equals_torch_autograd(cell, T):
    """Outputs and every gradient equal those of torch.nn.LSTM / torch.nn.GRU with the same weights (float64);
    the LSTM's b_h is torch's bias_ih (bias_hh = 0), the GRU's biases are torch's two."""
    rng = np.random.default_rng(T)
    B, D, H = 3, 4, 5
    params = gated_params(rng, cell, B, T, D, H)
    out = SEQ[cell][0](*params)
    dhs = rng.normal(size=out[0].shape)
    ours = SEQ[cell][1](dhs, out[-1])
    net = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(D, H, batch_first=True, dtype=torch.float64)
    b = [params[-1], np.zeros_like(params[-1])] if cell == "lstm" else params[-2:]
    W = params[3:5] if cell == "lstm" else params[2:4]
    with torch.no_grad():
        for name, a in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), [*W, *b], strict=True
        ):
            getattr(net, name).copy_(torch.from_numpy(a))
    x = torch.tensor(params[0], requires_grad=True)
    states = [torch.tensor(s[None], requires_grad=True) for s in params[1 : 3 if cell == "lstm" else 2]]
    hs, state = net(x, tuple(states) if cell == "lstm" else states[0])
    (hs * torch.from_numpy(dhs)).sum().backward()
    np.testing.assert_allclose(out[0], hs.detach().numpy(), rtol=0, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(out[1][:, -1], state[1][0].detach().numpy(), rtol=0, atol=1e-12)
    theirs = [
        x.grad.numpy(),
        *(s.grad[0].numpy() for s in states),
        net.weight_ih_l0.grad.numpy(),
        net.weight_hh_l0.grad.numpy(),
        net.bias_ih_l0.grad.numpy(),
    ]
    if cell == "gru":
        theirs.append(net.bias_hh_l0.grad.numpy())
    for name, a, b_ in zip(GATED_NAMES[cell], ours, theirs, strict=True):
        assert np.abs(a - b_).max() < 1e-10, name
        assert np.abs(b_).max() > 1e-6, name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_sequence_equals_chained_steps(cell):
    """The sequence functions equal the step functions chained forwards and backwards (to rounding)."""
    rng = np.random.default_rng(7)
    params = gated_params(rng, cell, 2, 4, 3, 3)
    x, states, weights = (
        params[0],
        params[1 : 3 if cell == "lstm" else 2],
        params[3 if cell == "lstm" else 2 :],
    )
    out = SEQ[cell][0](*params)
    dhs = rng.normal(size=out[0].shape)
    grads = SEQ[cell][1](dhs, out[-1])
    step_forward, step_backward = (
        (lstm_step_forward, lstm_step_backward) if cell == "lstm" else (gru_step_forward, gru_step_backward)
    )
    caches, s = [], states
    for t in range(x.shape[1]):
        *s, cache = step_forward(x[:, t], *s, *weights)
        caches.append(cache)
        np.testing.assert_allclose(out[0][:, t], s[0], rtol=0, atol=1e-14)
    ds, dw = [np.zeros_like(a) for a in states], [0.0] * len(weights)
    for t in reversed(range(x.shape[1])):
        ds[0] = ds[0] + dhs[:, t]
        dx_t, *rest = step_backward(*ds, caches[t])
        ds, dw = rest[: len(states)], [a + b for a, b in zip(dw, rest[len(states) :], strict=True)]
        np.testing.assert_allclose(grads[0][:, t], dx_t, rtol=1e-12, atol=1e-14)
    for a, b in zip(grads[1:], [*ds, *dw], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_lstm_known_answer_and_forget_gate_path():
    """Zero weights: every gate is sigmoid(b); with f = 1, i = 0 the cell state passes unchanged and the
    gradient on c_prev equals dc (the additive path)."""
    B, D, H = 2, 3, 2
    W_xh, W_hh = np.zeros((4 * H, D)), np.zeros((4 * H, H))
    b_h = np.concatenate([np.full(H, -50.0), np.full(H, 50.0), np.zeros(H), np.full(H, 50.0)])
    c_prev = np.array([[0.5, -1.0], [2.0, 0.1]])
    h, c, cache = lstm_step_forward(np.ones((B, D)), np.ones((B, H)), c_prev, W_xh, W_hh, b_h)
    np.testing.assert_allclose(c, c_prev, rtol=1e-15)
    np.testing.assert_allclose(h, np.tanh(c_prev), rtol=1e-15)
    dc = np.array([[1.0, 2.0], [3.0, 4.0]])
    _, _, dc_prev, *_ = lstm_step_backward(np.zeros((B, H)), dc, cache)
    np.testing.assert_allclose(dc_prev, dc, rtol=1e-15)


def test_gru_update_gate_one_keeps_the_state():
    """z = 1 (large b_z): h_t = h_{t-1} whatever the input; z = 0: h_t = n_t."""
    B, D, H = 2, 3, 2
    rng = np.random.default_rng(0)
    W_xh, W_hh, h_prev, x = (
        rng.normal(size=(3 * H, D)),
        rng.normal(size=(3 * H, H)),
        rng.normal(size=(B, H)),
        rng.normal(size=(B, D)),
    )
    W_xh[H : 2 * H] = W_hh[H : 2 * H] = 0.0
    for bz, want in ((50.0, h_prev), (-50.0, None)):
        b_xh = np.zeros(3 * H)
        b_xh[H : 2 * H] = bz
        h, cache = gru_step_forward(x, h_prev, W_xh, W_hh, b_xh, np.zeros(3 * H))
        if want is None:
            r = 1 / (1 + np.exp(-(x @ W_xh[:H].T + h_prev @ W_hh[:H].T)))
            want = np.tanh(x @ W_xh[2 * H :].T + r * (h_prev @ W_hh[2 * H :].T))
        np.testing.assert_allclose(h, want, rtol=1e-13, atol=1e-15)


def test_gated_follow_float32():
    rng = np.random.default_rng(1)
    for cell in ("lstm", "gru"):
        params = gated_params(rng, cell, 2, 3, 2, 3)
        out64 = SEQ[cell][0](*params)
        out32 = SEQ[cell][0](*(p.astype(np.float32) for p in params))
        grads32 = SEQ[cell][1](np.ones_like(out32[0]), out32[-1])
        assert out32[0].dtype == np.float32 and all(g.dtype == np.float32 for g in grads32)
        assert np.abs(out32[0] - out64[0]).max() < 1e-5


def test_gated_validation():
    rng = np.random.default_rng(0)
    x, h0, c0, W_xh, W_hh, b_h = gated_params(rng, "lstm", 2, 3, 3, 4)
    with pytest.raises(
        ValueError, match=r"W_hh has size 12 along axis 0 .* expected 16. W_hh must have shape \(4H, H\)"
    ):
        lstm_forward(x, h0, c0, W_xh, W_hh[:12], b_h)
    with pytest.raises(ValueError, match=r"W_xh must have 2 dimensions, got 1 .*expected shape \(4H, D\)"):
        lstm_forward(x, h0, c0, b_h, W_hh, b_h)
    with pytest.raises(ValueError, match=r"b_h has size 8 along axis 0 .* expected 16"):
        lstm_step_forward(x[:, 0], h0, c0, W_xh, W_hh, b_h[:8])
    with pytest.raises(ValueError, match=r"c0 has size 1 along axis 0 .* expected 2"):
        lstm_forward(x, h0, c0[:1], W_xh, W_hh, b_h)
    with pytest.raises(ValueError, match=r"c_prev must have 2 dimensions, got 3 .*expected shape \(B, H\)"):
        lstm_step_forward(x[:, 0], h0, c0[None], W_xh, W_hh, b_h)
    with pytest.raises(ValueError, match=r"x has T = 0 time steps"):
        lstm_forward(x[:, :0], h0, c0, W_xh, W_hh, b_h)
    hs, cs, cache = lstm_forward(x, h0, c0, W_xh, W_hh, b_h)
    with pytest.raises(TypeError, match=r"tuple of 9 items returned by lstm_forward"):
        lstm_backward(np.zeros_like(hs), cache[:5])
    with pytest.raises(ValueError, match=r"dhs has shape \(2, 2, 4\), expected \(2, 3, 4\)"):
        lstm_backward(np.zeros((2, 2, 4)), cache)
    h, c, step_cache = lstm_step_forward(x[:, 0], h0, c0, W_xh, W_hh, b_h)
    with pytest.raises(ValueError, match=r"dc has shape \(2, 3\), expected \(2, 4\)"):
        lstm_step_backward(np.zeros_like(h), np.zeros((2, 3)), step_cache)
    x, h0, W_xh, W_hh, b_xh, b_hh = gated_params(rng, "gru", 2, 3, 3, 4)
    with pytest.raises(ValueError, match=r"b_hh must have 1 dimensions, got 2 .*expected shape \(3H,\)"):
        gru_forward(x, h0, W_xh, W_hh, b_xh, b_hh[None])
    with pytest.raises(TypeError, match=r"b_xh has dtype float32 but W_hh has dtype float64"):
        gru_step_forward(x[:, 0], h0, W_xh, W_hh, b_xh.astype(np.float32), b_hh)
    with pytest.raises(ValueError, match=r"W_xh has size 2 along axis 1 .* expected 3"):
        gru_forward(x, h0, W_xh[:, :2], W_hh, b_xh, b_hh)
    h, step_cache = gru_step_forward(x[:, 0], h0, W_xh, W_hh, b_xh, b_hh)
    with pytest.raises(TypeError, match=r"tuple of 6 items returned by gru_step_forward"):
        gru_step_backward(h, list(step_cache))
    hs, cache = gru_forward(x, h0, W_xh, W_hh, b_xh, b_hh)
    with pytest.raises(TypeError, match=r"dhs has dtype float32 but the forward pass has dtype float64"):
        gru_backward(hs.astype(np.float32), cache)
