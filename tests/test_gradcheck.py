"""Tests of rnncourse.gradcheck on functions with known derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.gradcheck import numerical_gradient, rel_error


def test_numerical_gradient_of_linear_map_is_exact_up_to_rounding():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 3))
    x = rng.normal(size=3)
    df = rng.normal(size=4)
    grad = numerical_gradient(lambda v: A @ v, x, df)
    np.testing.assert_allclose(grad, A.T @ df, rtol=1e-9, atol=1e-10)


def test_numerical_gradient_of_elementwise_function_with_upstream_gradient():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    df = np.array([[1.0, 2.0], [-1.0, 0.5]])
    grad = numerical_gradient(np.sin, x, df)
    assert rel_error(grad, np.cos(x) * df) < 1e-9
    assert grad.shape == x.shape


def test_scalar_function_with_float_upstream_gradient():
    x = np.array([1.0, -2.0, 3.0])
    grad = numerical_gradient(lambda v: np.sum(v**3), x, 1.0)
    assert rel_error(grad, 3 * x**2) < 1e-9


def test_fourth_order_is_more_accurate_than_second_order():
    x = np.array([0.7, -0.4])
    exact = np.exp(x)
    err2 = rel_error(numerical_gradient(np.exp, x, np.ones(2), eps=1e-3), exact)
    err4 = rel_error(numerical_gradient(np.exp, x, np.ones(2), eps=1e-3, order=4), exact)
    assert err2 > 1e-8  # truncation error eps^2 / 6 ~ 1.7e-7
    assert err4 < 1e-11
    # a polynomial of degree 4 is differentiated exactly (up to rounding) by the fourth-order formula
    assert rel_error(numerical_gradient(lambda v: v**4, x, np.ones(2), eps=1e-2, order=4), 4 * x**3) < 1e-11


def test_x_is_restored_bitwise():
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    numerical_gradient(np.tanh, x, np.ones(3))
    np.testing.assert_array_equal(x, before)


def test_x_is_restored_when_f_raises():
    x = np.array([0.1, 0.2])
    before = x.copy()

    def f(v):
        if v[0] > 0.1:
            raise RuntimeError("boom")
        return v

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x, np.ones(2))
    np.testing.assert_array_equal(x, before)


def test_rel_error_known_answers():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([3.0, 2.0])) == pytest.approx(0.5)  # |1-3| / (1+3)
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(1.0, -1.0) == pytest.approx(1.0)
    assert rel_error(torch.tensor([1.0], requires_grad=True), np.array([1.0])) == 0.0
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_rel_error_is_elementwise():
    # the small entry is 10% off: the elementwise maximum reports it even though the large entry agrees
    a, b = np.array([1000.0, 1.0]), np.array([1000.0, 1.1])
    assert rel_error(a, b) == pytest.approx(0.1 / 2.1)


# ------------------------------------------------------------------------------------------ validation
def test_rejects_non_callable():
    with pytest.raises(TypeError, match=r"f must be a callable f\(x\) -> array, got int"):
        numerical_gradient(3, np.zeros(2), np.ones(2))


def test_rejects_non_array_x():
    with pytest.raises(TypeError, match=r"x must be a numpy.ndarray \(it is perturbed in place\), got list"):
        numerical_gradient(np.sin, [0.0, 1.0], np.ones(2))


def test_rejects_integer_x():
    with pytest.raises(TypeError, match=r"x must hold floating-point numbers, got dtype int64"):
        numerical_gradient(np.sin, np.zeros(2, dtype=np.int64), np.ones(2))


def test_rejects_non_finite_x():
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(shape \(2,\)\)"):
        numerical_gradient(np.sin, np.array([0.0, np.inf]), np.ones(2))


def test_rejects_df_of_wrong_shape():
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(2,\) but df has shape \(3,\)"):
        numerical_gradient(np.sin, np.zeros(2), np.ones(3))


def test_rejects_bad_eps_and_order():
    with pytest.raises(ValueError, match=r"eps must be > 0.0, got 0.0. The usual choice is eps=1e-5"):
        numerical_gradient(np.sin, np.zeros(2), np.ones(2), eps=0)
    with pytest.raises(TypeError, match=r"eps must be a finite real number, got nan"):
        numerical_gradient(np.sin, np.zeros(2), np.ones(2), eps=float("nan"))
    with pytest.raises(ValueError, match=r"order must be one of \[2, 4\], got 3"):
        numerical_gradient(np.sin, np.zeros(2), np.ones(2), order=3)


def test_rel_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_rel_error_rejects_non_numbers():
    with pytest.raises(TypeError, match=r"a must be a numpy.ndarray, a torch.Tensor or a number, got str"):
        rel_error("1", np.zeros(1))
    with pytest.raises(TypeError, match=r"b must hold numbers, got dtype bool"):
        rel_error(np.zeros(1), np.zeros(1, dtype=bool))
    with pytest.raises(ValueError, match=r"b contains NaN or infinite values"):
        rel_error(np.zeros(1), np.array([np.nan]))
