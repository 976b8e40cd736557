"""Baseline for benchmark B1: a character RNN in the classic single-sequence style.

One sequence at a time, column vectors, one-hot inputs multiplied by ``W_xh``, a Python loop over the
characters for the forward and the backward pass, gradients clipped to [-5, 5] and an Adagrad update; the
classic settings are V = 65 characters, H = 100 hidden units and T = 25 characters per step. Written from
the equations of the book (chapter 4):

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),   y_t = W_hy h_t + b_y,   p_t = softmax(y_t),
    L = - sum_t log p_t[c_{t+1}],

with ``x_t`` the one-hot column vector of character ``c_t``. The loss is a sum over the T characters (not a
mean), as in the classic formulation.
"""

from __future__ import annotations

import numpy as np

PARAMETERS = ("W_xh", "W_hh", "W_hy", "b_h", "b_y")


class ClassicCharRNN:
    """A single-sequence character RNN with column vectors and Adagrad (benchmark baseline).

    Parameters
    ----------
    V : int
        Vocabulary size (number of distinct characters).
    H : int
        Hidden size.
    learning_rate : float
        Adagrad step size.
    seed : int
        Seed of the weight initialisation (normal, standard deviation 0.01; biases zero).

    Attributes
    ----------
    W_xh : ndarray, shape (H, V)
    W_hh : ndarray, shape (H, H)
    W_hy : ndarray, shape (V, H)
    b_h : ndarray, shape (H, 1)
    b_y : ndarray, shape (V, 1)
    """

    def __init__(self, V: int = 65, H: int = 100, *, learning_rate: float = 0.1, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.V, self.H, self.learning_rate = V, H, learning_rate
        self.W_xh = rng.standard_normal((H, V)) * 0.01
        self.W_hh = rng.standard_normal((H, H)) * 0.01
        self.W_hy = rng.standard_normal((V, H)) * 0.01
        self.b_h = np.zeros((H, 1))
        self.b_y = np.zeros((V, 1))
        self.memory = {name: np.zeros_like(getattr(self, name)) for name in PARAMETERS}

    def loss_and_gradients(self, inputs, targets, h_prev):
        """Forward and backward pass over one sequence.

        Parameters
        ----------
        inputs, targets : sequence of int, length T
            Character ids; ``targets[t]`` is the character that follows ``inputs[t]``.
        h_prev : ndarray, shape (H, 1)
            Hidden state before the first character.

        Returns
        -------
        loss : float
            Summed cross-entropy ``-sum_t log p_t[targets[t]]``.
        grads : dict of name -> ndarray
            ``dW_xh (H, V)``, ``dW_hh (H, H)``, ``dW_hy (V, H)``, ``db_h (H, 1)``, ``db_y (V, 1)``
            (not clipped).
        h_last : ndarray, shape (H, 1)
            Hidden state after the last character (carried into the next sequence).
        """
        W_xh, W_hh, W_hy, b_h, b_y = self.W_xh, self.W_hh, self.W_hy, self.b_h, self.b_y
        T = len(inputs)
        xs, hs, ps = [None] * T, [None] * T, [None] * T
        h = h_prev
        loss = 0.0
        for t in range(T):
            x = np.zeros((self.V, 1))
            x[inputs[t]] = 1.0
            h = np.tanh(W_xh @ x + W_hh @ h + b_h)
            y = W_hy @ h + b_y
            e = np.exp(y - np.max(y))
            p = e / np.sum(e)
            loss -= np.log(p[targets[t], 0])
            xs[t], hs[t], ps[t] = x, h, p
        dW_xh, dW_hh, dW_hy = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(W_hy)
        db_h, db_y = np.zeros_like(b_h), np.zeros_like(b_y)
        dh_next = np.zeros_like(h_prev)
        for t in reversed(range(T)):
            dy = ps[t].copy()
            dy[targets[t]] -= 1.0  # d L / d y_t = p_t - onehot(target)
            dW_hy += dy @ hs[t].T
            db_y += dy
            dh = W_hy.T @ dy + dh_next
            da = (1.0 - hs[t] * hs[t]) * dh  # through tanh
            db_h += da
            dW_xh += da @ xs[t].T
            dW_hh += da @ (hs[t - 1] if t > 0 else h_prev).T
            dh_next = W_hh.T @ da
        grads = {"W_xh": dW_xh, "W_hh": dW_hh, "W_hy": dW_hy, "b_h": db_h, "b_y": db_y}
        return float(loss), grads, hs[T - 1]

    def adagrad_update_(self, grads, clip: float = 5.0) -> float:
        """Clip every gradient to ``[-clip, clip]`` and apply one Adagrad step in place.

        ``m += g * g``, ``theta -= lr * g / sqrt(m + 1e-8)``. Returns the largest absolute gradient entry
        before clipping (the diagnostic).
        """
        largest = 0.0
        for name in PARAMETERS:
            g = grads[name]
            largest = max(largest, float(np.max(np.abs(g))))
            np.clip(g, -clip, clip, out=g)
            m = self.memory[name]
            m += g * g
            param = getattr(self, name)
            param -= self.learning_rate * g / np.sqrt(m + 1e-8)
        return largest

    def train_step(self, inputs, targets, h_prev):
        """One full forward + backward + Adagrad update on a sequence; returns ``(loss, h_last)``."""
        loss, grads, h_last = self.loss_and_gradients(inputs, targets, h_prev)
        self.adagrad_update_(grads)
        return loss, h_last
