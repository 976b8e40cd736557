"""Baseline for benchmark B1: a character RNN in the fast classic single-sequence style (min-char-rnn).

One sequence at a time, one-hot column vectors multiplied by ``W_xh`` with ``np.dot``, ``np.tanh``, a Python
loop over the characters for the forward and the backward pass, gradients clipped to [-5, 5] and an Adagrad
update, nothing else in the step (no diagnostics); the classic settings are V = 65 characters, H = 100
hidden units and T = 25 characters per step. The equations of the book (chapter 4):

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),   y_t = W_hy h_t + b_y,   p_t = softmax(y_t),
    loss = - sum_t log p_t[c_{t+1}],

with ``x_t`` the one-hot column vector of character ``c_t``. The loss is a sum over the T characters (not a
mean), as in the classic formulation; like the classic code, the softmax does not subtract the maximum (the
logits of this small model stay far from overflow).
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
        xs, hs, ps = {}, {-1: h_prev}, {}
        loss = 0.0
        for t in range(len(inputs)):
            xs[t] = np.zeros((self.V, 1))  # one-hot column vector of character inputs[t]
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(np.dot(W_xh, xs[t]) + np.dot(W_hh, hs[t - 1]) + b_h)
            e = np.exp(np.dot(W_hy, hs[t]) + b_y)  # e^{y_t}
            ps[t] = e / np.sum(e)
            loss += -np.log(ps[t][targets[t], 0])
        dW_xh, dW_hh, dW_hy = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(W_hy)
        db_h, db_y = np.zeros_like(b_h), np.zeros_like(b_y)
        dh_next = np.zeros_like(h_prev)
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1  # d loss / d y_t = p_t - onehot(target)
            dW_hy += np.dot(dy, hs[t].T)
            db_y += dy
            dh = np.dot(W_hy.T, dy) + dh_next
            da = (1 - hs[t] * hs[t]) * dh  # through tanh
            db_h += da
            dW_xh += np.dot(da, xs[t].T)
            dW_hh += np.dot(da, hs[t - 1].T)
            dh_next = np.dot(W_hh.T, da)
        grads = {"W_xh": dW_xh, "W_hh": dW_hh, "W_hy": dW_hy, "b_h": db_h, "b_y": db_y}
        return float(loss), grads, hs[len(inputs) - 1]

    def adagrad_update_(self, grads, clip: float = 5.0) -> None:
        """Clip every gradient to ``[-clip, clip]`` in place and apply one Adagrad step to the parameters.

        ``m += g * g``, ``theta -= lr * g / sqrt(m + 1e-8)``.
        """
        for name in PARAMETERS:
            g, m = grads[name], self.memory[name]
            np.clip(g, -clip, clip, out=g)
            m += g * g
            param = getattr(self, name)
            param += -self.learning_rate * g / np.sqrt(m + 1e-8)

    def train_step(self, inputs, targets, h_prev):
        """One full forward + backward + Adagrad update on a sequence; returns ``(loss, h_last)``."""
        loss, grads, h_last = self.loss_and_gradients(inputs, targets, h_prev)
        self.adagrad_update_(grads)
        return loss, h_last
