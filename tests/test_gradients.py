"""Tests of rnncourse.gradients: Jacobians, products, gradients through time, decomposition and bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncourse import gradients as G
from rnncourse.modules import RNN

NONLINEARITIES = ("tanh", "relu", "linear")


def random_rnn(B=3, T=7, D=2, H=4, scale=0.8, seed=0):
    """Random float64 inputs and weights of a single-layer RNN."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((B, T, D)),
        "h0": rng.standard_normal((B, H)),
        "W_xh": rng.standard_normal((H, D)),
        "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
        "b_h": rng.standard_normal(H),
    }


def torch_step(W_xh, W_hh, b_h, nonlinearity, skip):
    """An independent torch implementation of one step, h_t = f(W_hh h + W_xh x + b) (+ h with skip)."""
    f = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[nonlinearity]
    W_xh, W_hh, b_h = (torch.as_tensor(a) for a in (W_xh, W_hh, b_h))

    def step(x_t, h):
        out = f(W_hh @ h + W_xh @ x_t + b_h)
        return h + out if skip else out

    return step


def load_weights(rnn, p):
    with torch.no_grad():
        cell = rnn.cells[0]
        cell.W_xh.copy_(torch.as_tensor(p["W_xh"]))
        cell.W_hh.copy_(torch.as_tensor(p["W_hh"]))
        cell.b_h.copy_(torch.as_tensor(p["b_h"]))
    return rnn


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices run much faster on one torch thread on a shared CPU; restore the setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------------------------------------
# Jacobians
# ----------------------------------------------------------------------------------------------------------


def test_activation_derivative_known_values():
    a = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(G.activation_derivative(a, "tanh"), 1 - np.tanh(a) ** 2)
    assert G.activation_derivative(np.zeros(1), "tanh")[0] == 1.0
    np.testing.assert_array_equal(G.activation_derivative(a, "relu"), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(G.activation_derivative(a, "linear"), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("skip", [False, True])
def test_closed_form_jacobians_equal_torch_autograd_jacobian(nonlinearity, skip):
    p = random_rnn()
    J = G.step_jacobians(**p, nonlinearity=nonlinearity, skip=skip)
    _, hs = G.unroll(**p, nonlinearity=nonlinearity, skip=skip)
    step = torch_step(p["W_xh"], p["W_hh"], p["b_h"], nonlinearity, skip)
    B, T = p["x"].shape[:2]
    assert J.shape == (B, T, 4, 4) and J.dtype == np.float64
    for b in range(B):
        h_prev = p["h0"][b]
        for t in range(T):
            x_t = torch.as_tensor(p["x"][b, t])
            J_ref = torch.autograd.functional.jacobian(
                lambda h, x_t=x_t: step(x_t, h), torch.as_tensor(h_prev)
            )
            assert J_ref.dtype == torch.float64
            assert np.abs(J[b, t] - J_ref.numpy()).max() < 1e-10
            h_prev = hs[b, t]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("skip", [False, True])
def test_module_and_autograd_jacobians_agree(nonlinearity, skip):
    p = random_rnn(seed=1)
    rnn = load_weights(RNN(2, 4, nonlinearity=nonlinearity, skip=skip, dtype=torch.float64), p)
    J = G.step_jacobians(**p, nonlinearity=nonlinearity, skip=skip)
    assert np.abs(G.module_step_jacobians(rnn, p["x"], p["h0"]) - J).max() < 1e-12
    assert np.abs(G.autograd_step_jacobians(rnn, p["x"], p["h0"]) - J).max() < 1e-10
    assert np.abs(G.autograd_step_jacobians(rnn.cells[0], p["x"], p["h0"]) - J).max() < 1e-10
    # a plain callable: the same cell written as a function of (x_t (B, D), h_prev (B, H))
    W_xh, W_hh, b_h = (torch.as_tensor(p[k]) for k in ("W_xh", "W_hh", "b_h"))
    f = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[nonlinearity]

    def cell(x_t, h):
        return (h if skip else 0) + f(h @ W_hh.T + x_t @ W_xh.T + b_h)

    assert np.abs(G.autograd_step_jacobians(cell, p["x"], p["h0"]) - J).max() < 1e-10


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_torch_nn_rnn_weights_and_jacobians(nonlinearity):
    torch.manual_seed(0)
    net = torch.nn.RNN(2, 4, nonlinearity=nonlinearity, batch_first=True, dtype=torch.float64)
    w = G.rnn_weights(net)
    np.testing.assert_allclose(w["b_h"], (net.bias_ih_l0 + net.bias_hh_l0).detach().numpy(), rtol=0, atol=0)
    assert w["nonlinearity"] == nonlinearity and w["skip"] is False
    x = np.random.default_rng(2).standard_normal((2, 5, 2))
    J_auto = G.autograd_step_jacobians(net, x, np.zeros((2, 4)))
    assert np.abs(G.module_step_jacobians(net, x) - J_auto).max() < 1e-10


def test_linear_rnn_products_are_powers_of_W_hh():
    p = random_rnn(B=2, T=12, H=5, seed=3)
    p["W_hh"] = G.orthogonal_matrix(5, 0.95, seed=3) + 0.1 * np.eye(5)
    P = G.jacobian_products(G.step_jacobians(**p, nonlinearity="linear"))
    T = 12
    assert P.shape == (2, T + 1, 5, 5)
    for k in range(T + 1):
        np.testing.assert_allclose(
            P[:, k],
            np.broadcast_to(np.linalg.matrix_power(p["W_hh"], T - k), P[:, k].shape),
            rtol=1e-12,
            atol=1e-12,
        )


def test_products_match_autograd_jacobian_of_last_state():
    p = random_rnn(B=1, T=6, seed=4)
    P = G.jacobian_products(G.step_jacobians(**p, nonlinearity="tanh"))
    step = torch_step(p["W_xh"], p["W_hh"], p["b_h"], "tanh", False)
    x = torch.as_tensor(p["x"][0])

    def h_T_from(h_k, k):
        for t in range(k, 6):
            h_k = step(x[t], h_k)
        return h_k

    _, hs = G.unroll(**p, nonlinearity="tanh")
    states = np.concatenate([p["h0"][:, None], hs], 1)[0]
    for k in (0, 2, 5):
        ref = torch.autograd.functional.jacobian(lambda h, k=k: h_T_from(h, k), torch.as_tensor(states[k]))
        assert np.abs(P[0, k] - ref.numpy()).max() < 1e-10


def test_orthogonal_matrix_is_sigma_times_an_orthogonal_matrix():
    W = G.orthogonal_matrix(5, 0.7, seed=1)
    np.testing.assert_allclose(W.T @ W, 0.49 * np.eye(5), atol=1e-14)  # (sigma Q)^T (sigma Q) = sigma^2 I
    np.testing.assert_array_equal(W, G.orthogonal_matrix(5, 0.7, seed=1))  # seeded
    assert not np.allclose(W, G.orthogonal_matrix(5, 0.7, seed=2))


def test_singular_values_of_scaled_orthogonal_powers():
    W = G.orthogonal_matrix(6, 1.1, seed=5)
    np.testing.assert_allclose(G.singular_values(W), np.full(6, 1.1), rtol=1e-13)
    W10 = np.linalg.matrix_power(W, 10)
    np.testing.assert_allclose(G.singular_values(W10), np.full(6, 1.1**10), rtol=1e-12)
    assert G.spectral_norms(np.stack([W, 2 * W])).tolist() == pytest.approx([1.1, 2.2], rel=1e-13)


# ----------------------------------------------------------------------------------------------------------
# gradients through time and the decomposition dL/dW = sum_t dL_t/dW
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_hidden_gradients_match_autograd(nonlinearity):
    p = random_rnn(seed=6)
    rnn = load_weights(RNN(2, 4, nonlinearity=nonlinearity, dtype=torch.float64), p)
    u = np.random.default_rng(6).standard_normal((3, 4))
    J = G.step_jacobians(**p, nonlinearity=nonlinearity)
    dhs = G.hidden_gradients(J, u)
    ref = G.autograd_hidden_gradients(rnn, p["x"], lambda h: (h * torch.as_tensor(u)).sum(), p["h0"])
    assert dhs.shape == ref.shape == (3, 8, 4)
    assert np.abs(dhs - ref).max() < 1e-12
    np.testing.assert_allclose(G.gradient_norms_through_time(J, u), np.linalg.norm(ref, axis=-1), rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("skip", [False, True])
def test_decomposition_sums_to_autograd_gradient(nonlinearity, skip):
    p = random_rnn(B=3, T=6, seed=7)
    targets = np.random.default_rng(7).standard_normal((3, 6, 4))
    rnn = load_weights(RNN(2, 4, nonlinearity=nonlinearity, skip=skip, dtype=torch.float64), p)
    h0 = torch.as_tensor(p["h0"]).requires_grad_(True)
    hs, _ = rnn(torch.as_tensor(p["x"]), h0[None])
    L_t = 0.5 * ((hs - torch.as_tensor(targets)) ** 2).sum(dim=(0, 2))  # one loss term per step, shape (T,)
    L_t.sum().backward()
    _, hs_np = G.unroll(**p, nonlinearity=nonlinearity, skip=skip)
    dhs = hs_np - targets  # dL_t/dh_t (direct)
    dec = G.gradient_decomposition(**p, dhs=dhs, nonlinearity=nonlinearity, skip=skip)
    cell = rnn.cells[0]
    for mine, ref in ((dec.dW_hh, cell.W_hh), (dec.dW_xh, cell.W_xh), (dec.db_h, cell.b_h)):
        np.testing.assert_allclose(mine, ref.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dec.dh0, h0.grad.numpy(), rtol=1e-10, atol=1e-10)
    # the sums over loss terms and over lags are the same total
    np.testing.assert_allclose(dec.dW_hh_by_loss.sum(0), dec.dW_hh, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dec.dW_xh_by_loss.sum(0), dec.dW_xh, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dec.db_h_by_loss.sum(0), dec.db_h, rtol=1e-12, atol=1e-12)
    # each term dL_t/dW_hh equals autograd of L_t alone
    for t in (0, 3, 5):
        rnn.zero_grad()
        hs, _ = rnn(torch.as_tensor(p["x"]), torch.as_tensor(p["h0"])[None])
        (0.5 * ((hs[:, t] - torch.as_tensor(targets[:, t])) ** 2).sum()).backward()
        np.testing.assert_allclose(dec.dW_hh_by_loss[t], cell.W_hh.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_decomposition_lag_zero_is_the_truncated_gradient():
    """Lag 0 alone is BPTT truncated to one step: sum_t diag(f'(a_t)) dL_t/dh_t h_{t-1}^T."""
    p = random_rnn(seed=8)
    dhs = np.random.default_rng(8).standard_normal((3, 7, 4))
    dec = G.gradient_decomposition(**p, dhs=dhs, nonlinearity="tanh")
    a, hs = G.unroll(**p, nonlinearity="tanh")
    h_prev = np.concatenate([p["h0"][:, None], hs[:, :-1]], 1)
    delta = dhs * (1 - np.tanh(a) ** 2)
    np.testing.assert_allclose(dec.dW_hh_by_lag[0], np.einsum("bti,btj->ij", delta, h_prev), rtol=1e-12)
    assert dec.lag_norms().shape == (7,)


# ----------------------------------------------------------------------------------------------------------
# bounds
# ----------------------------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(
    nonlinearity=st.sampled_from(["tanh", "relu"]),
    skip=st.booleans(),
    B=st.integers(1, 3),
    T=st.integers(1, 8),
    D=st.integers(1, 3),
    H=st.integers(1, 5),
    scale=st.floats(0.05, 3.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_bounds_hold_for_random_weights(nonlinearity, skip, B, T, D, H, scale, seed):
    p = random_rnn(B=B, T=T, D=D, H=H, scale=scale, seed=seed)
    bounds = G.gradient_flow_bounds(**p, nonlinearity=nonlinearity, skip=skip)
    assert bounds.norms.shape == bounds.product_bound.shape == (B, T + 1)
    assert np.all(bounds.norms <= bounds.product_bound * (1 + 1e-10) + 1e-300)
    assert np.all(bounds.product_bound <= bounds.power_bound * (1 + 1e-10))
    assert bounds.holds()
    np.testing.assert_allclose(bounds.norms[:, T], 1.0, rtol=1e-12)  # dh_T/dh_T = I


def test_bounds_are_tight_for_an_orthogonal_linear_rnn():
    p = random_rnn(B=2, T=10, H=6, seed=9)
    p["W_hh"] = G.orthogonal_matrix(6, 1.2, seed=9)
    bounds = G.gradient_flow_bounds(**p, nonlinearity="linear")
    expected = 1.2 ** np.arange(10, -1, -1.0)
    np.testing.assert_allclose(bounds.norms, np.broadcast_to(expected, (2, 11)), rtol=1e-12)
    np.testing.assert_allclose(bounds.power_bound, expected, rtol=1e-12)
    assert bounds.gamma == 1.0 and bounds.sigma_max == pytest.approx(1.2, rel=1e-13)


def test_bounds_detect_a_violation():
    """holds() can fail: a norm above its bound is reported."""
    bounds = G.GradientBounds(np.array([[2.0, 1.0]]), np.array([[1.0, 1.0]]), np.array([1.0, 1.0]), 1.0, 1.0)
    assert not bounds.holds()


# ----------------------------------------------------------------------------------------------------------
# validation: one test per rule
# ----------------------------------------------------------------------------------------------------------


def test_rejects_unknown_nonlinearity():
    with pytest.raises(
        ValueError, match=r"nonlinearity must be one of \['linear', 'relu', 'tanh'\], got 'sigmoid'"
    ):
        G.step_jacobians(**random_rnn(), nonlinearity="sigmoid")


def test_rejects_non_bool_skip():
    with pytest.raises(TypeError, match="skip must be True or False, got 1"):
        G.step_jacobians(**random_rnn(), skip=1)


def test_rejects_non_array_input():
    p = random_rnn()
    p["x"] = p["x"].tolist()
    with pytest.raises(TypeError, match="x must be an array .* got list"):
        G.step_jacobians(**p)


def test_rejects_x_with_wrong_ndim():
    p = random_rnn()
    p["x"] = p["x"][0]
    with pytest.raises(ValueError, match=r"x must have 3 dimensions, got 2 \(shape \(7, 2\)\)"):
        G.unroll(**p)


def test_rejects_non_finite_input():
    p = random_rnn()
    p["x"][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        G.step_jacobians(**p)


def test_rejects_non_square_W_hh():
    p = random_rnn()
    p["W_hh"] = p["W_hh"][:, :3]
    with pytest.raises(ValueError, match=r"W_hh has size 3 along axis 1 \(shape \(4, 3\)\), expected 4"):
        G.step_jacobians(**p)


def test_rejects_W_xh_with_wrong_input_size():
    p = random_rnn()
    p["W_xh"] = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"W_xh has size 5 along axis 1 \(shape \(4, 5\)\), expected 2"):
        G.gradient_flow_bounds(**p)


def test_rejects_W_xh_with_wrong_hidden_size():
    p = random_rnn()
    p["W_xh"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"W_xh has size 3 along axis 0 \(shape \(3, 2\)\), expected 4"):
        G.step_jacobians(**p)


def test_rejects_h0_with_wrong_batch():
    p = random_rnn()
    p["h0"] = np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"h0 has size 5 along axis 0 \(shape \(5, 4\)\), expected 3"):
        G.step_jacobians(**p)


def test_rejects_h0_with_wrong_hidden_size():
    p = random_rnn()
    p["h0"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"h0 has size 2 along axis 1 \(shape \(3, 2\)\), expected 4"):
        G.step_jacobians(**p)


def test_rejects_b_h_with_wrong_size():
    p = random_rnn()
    p["b_h"] = np.zeros(6)
    with pytest.raises(ValueError, match=r"b_h has size 6 along axis 0 \(shape \(6,\)\), expected 4"):
        G.step_jacobians(**p)


def test_rejects_non_square_jacobians():
    with pytest.raises(ValueError, match=r"J must have shape \(B, T, H, H\) .* got shape \(1, 2, 3, 4\)"):
        G.jacobian_products(np.zeros((1, 2, 3, 4)))


def test_rejects_dh_T_with_wrong_hidden_size():
    J = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"dh_T has size 5 along axis 1 \(shape \(2, 5\)\), expected 4"):
        G.hidden_gradients(J, np.zeros((2, 5)))


def test_rejects_dh_T_with_wrong_batch():
    J = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"dh_T has size 1 along axis 0 \(shape \(1, 4\)\), expected 2"):
        G.gradient_norms_through_time(J, np.zeros((1, 4)))


def test_rejects_dhs_with_wrong_length():
    with pytest.raises(ValueError, match=r"dhs has size 6 along axis 1 \(shape \(3, 6, 4\)\), expected 7"):
        G.gradient_decomposition(**random_rnn(), dhs=np.zeros((3, 6, 4)))


def test_rnn_weights_rejects_multilayer_rnn():
    with pytest.raises(ValueError, match="rnn must have num_layers=1 and one direction, got num_layers=2"):
        G.rnn_weights(RNN(2, 3, num_layers=2))


def test_rnn_weights_rejects_other_modules():
    with pytest.raises(
        TypeError, match="rnn must be an rnncourse.modules.RNN, RNNCell or torch.nn.RNN, got GRU"
    ):
        G.module_step_jacobians(torch.nn.GRU(2, 3), np.zeros((1, 2, 2)))


def test_autograd_path_rejects_multilayer_module():
    with pytest.raises(ValueError, match="single-layer, one-direction recurrent module, got num_layers=2"):
        G.autograd_step_jacobians(RNN(2, 3, num_layers=2), np.zeros((1, 2, 2)))


def test_autograd_path_rejects_non_callable_step():
    with pytest.raises(TypeError, match="step must be a recurrent module or a callable .* got int"):
        G.autograd_step_jacobians(3, np.zeros((1, 2, 2)), np.zeros((1, 3)))


def test_autograd_path_needs_h0_for_a_plain_function():
    with pytest.raises(ValueError, match="h0 is None and the step function has no hidden_size"):
        G.autograd_step_jacobians(lambda x_t, h: h, np.zeros((1, 2, 2)))


def test_autograd_hidden_gradients_rejects_non_callable_loss():
    with pytest.raises(TypeError, match="loss_fn must be callable, got str"):
        G.autograd_hidden_gradients(RNN(2, 3), np.zeros((1, 2, 2)), "sum")


def test_autograd_hidden_gradients_rejects_non_scalar_loss():
    rnn = RNN(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="loss_fn must return a scalar Tensor"):
        G.autograd_hidden_gradients(rnn, np.zeros((2, 2, 2)), lambda h: h)


def test_orthogonal_matrix_rejects_bad_size():
    with pytest.raises(ValueError, match="H must be an integer >= 1, got 0"):
        G.orthogonal_matrix(0)


def test_orthogonal_matrix_rejects_non_number_sigma():
    with pytest.raises(TypeError, match="sigma must be a finite real number, got '1.1' of type str"):
        G.orthogonal_matrix(3, "1.1")


def test_orthogonal_matrix_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        G.orthogonal_matrix(3, seed=-1)


def test_rejects_x_without_time_steps():
    p = random_rnn()
    p["x"] = p["x"][:, :0]
    with pytest.raises(
        ValueError, match=r"x has T = 0 time steps \(shape \(3, 0, 2\)\); pass at least one step"
    ):
        G.step_jacobians(**p)


def test_rejects_bidirectional_torch_rnn():
    with pytest.raises(ValueError, match="rnn must have num_layers=1 and one direction, got num_layers=1"):
        G.rnn_weights(torch.nn.RNN(2, 3, bidirectional=True))
