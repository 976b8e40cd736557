r"""A character-level language model: embedding -> recurrent network -> softmax over characters (chapter 4).

:class:`CharRNN` predicts the next character of a text from all the previous ones. Losses are reported in bits
per character (bpc), the unit in which Shannon (1951) measured the entropy of English, so that they compare
directly with the entropy of the unigram distribution (:func:`unigram_entropy`). :func:`train_charlm` is a
compact training loop on random windows of the text, :func:`evaluate_bpc` measures the validation loss with
the hidden state carried along the whole stream, and :func:`memory_decay` measures how far back the hidden
state remembers.
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._validate import check_array, check_dim, check_positive_int
from .modules import RNN
from .sampling import sample as _sample

__all__ = [
    "CharRNN",
    "bits_per_char",
    "unigram_entropy",
    "unigram_bpc",
    "evaluate_bpc",
    "train_charlm",
    "memory_decay",
]

LN2 = math.log(2.0)


def _as_ids(name: str, ids, ndim) -> torch.Tensor:
    if isinstance(ids, np.ndarray):
        ids = torch.from_numpy(ids)
    check_array(name, ids, ndim, dtype_kind="i")
    return ids.to(torch.int64)


def _check_seed(seed):
    if seed is None:
        return None
    return check_positive_int("seed", seed, minimum=0)


class CharRNN(nn.Module):
    r"""Embedding -> :class:`rnncourse.modules.RNN` -> affine output layer, over a character vocabulary.

    Parameters
    ----------
    vocab_size : int
        ``V``, the number of characters.
    embed_dim : int
        ``D``, the size of the character embeddings.
    hidden_size : int
        ``H``, the hidden size of every recurrent layer.
    num_layers : int
        ``L``, the number of stacked recurrent layers.
    nonlinearity : {"tanh", "relu", "linear"}
        The recurrent nonlinearity.
    dtype : torch.dtype, optional
        Floating-point dtype of the parameters (float32 when None).
    vocab : rnncourse.data.Vocab, optional
        When given, :meth:`generate` accepts and returns strings.
    seed : int, optional
        Seed for the initial weights (torch's global generator when None).

    Attributes
    ----------
    W_embed : Parameter, shape (V, D)
        Row ``i`` is the embedding of character ``i``; from N(0, 1) at the start.
    rnn : rnncourse.modules.RNN
    W_hy : Parameter, shape (V, H)
    b_y : Parameter, shape (V,)

    Notes
    -----
    Chapter 4. With :math:`e_{c_t}` the one-hot vector of character :math:`c_t`,

    .. math:: x_t = W_{embed}^\top e_{c_t}, \qquad h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \qquad
              y_t = W_{hy} h_t + b_y, \qquad p(c_{t+1} \mid c_{\le t}) = \mathrm{softmax}(y_t).

    The embedding is the one-hot input multiplied by a weight matrix, computed as a row lookup.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        dtype: torch.dtype | None = None,
        *,
        vocab=None,
        seed: int | None = None,
    ):
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        seed = _check_seed(seed)
        if vocab is not None and len(vocab) != self.vocab_size:
            raise ValueError(
                f"vocab has {len(vocab)} characters but vocab_size={vocab_size}; pass vocab_size=len(vocab)."
            )
        self.vocab = vocab
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.rnn = RNN(embed_dim, hidden_size, num_layers, nonlinearity, dtype=dtype, generator=generator)
        dtype = self.rnn.dtype
        V, D, H = self.vocab_size, self.embed_dim, self.hidden_size
        self.W_embed = nn.Parameter(torch.empty(V, D, dtype=dtype))
        self.W_hy = nn.Parameter(torch.empty(V, H, dtype=dtype))
        self.b_y = nn.Parameter(torch.empty(V, dtype=dtype))
        bound = 1.0 / math.sqrt(H)
        with torch.no_grad():
            nn.init.normal_(self.W_embed, 0.0, 1.0, generator=generator)
            nn.init.uniform_(self.W_hy, -bound, bound, generator=generator)
            nn.init.uniform_(self.b_y, -bound, bound, generator=generator)

    @property
    def num_layers(self) -> int:
        """``L``, the number of recurrent layers."""
        return self.rnn.num_layers

    def forward(self, ids, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-character scores for every position.

        Parameters
        ----------
        ids : Tensor or ndarray of int64, shape (B, T)
            Character ids in ``0..V-1``.
        h0 : Tensor, shape (L, B, H), optional
            Initial hidden state (zeros when None), e.g. the ``h_n`` of the previous chunk of a stream.

        Returns
        -------
        logits : Tensor, shape (B, T, V)
            ``logits[:, t]`` scores the character that follows ``ids[:, t]``.
        h_n : Tensor, shape (L, B, H)
        """
        ids = _as_ids("ids", ids, 2)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(
                f"ids must lie in 0..{self.vocab_size - 1} (vocab_size={self.vocab_size}), got values in "
                f"{int(ids.min())}..{int(ids.max())}; encode the text with the model's vocabulary."
            )
        x = F.embedding(ids.to(self.W_embed.device), self.W_embed)  # (B, T, D): rows of W_embed
        return self.forward_embedded(x, h0)

    def forward_embedded(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        """The network after the embedding: ``x`` (B, T, D) -> (logits (B, T, V), h_n (L, B, H)).

        Used to differentiate with respect to the embedded inputs (:func:`memory_decay`).
        """
        hs, h_n = self.rnn(x, h0)
        return F.linear(hs, self.W_hy, self.b_y), h_n

    def prime(self, prefix_ids) -> tuple[torch.Tensor, torch.Tensor]:
        """Warm up the hidden state on a prefix (no gradients).

        Parameters
        ----------
        prefix_ids : str (needs ``vocab``), sequence of int, ndarray or Tensor, shape (P,) or (B, P)

        Returns
        -------
        h : Tensor, shape (L, B, H)
            The state after reading the prefix (B = 1 for a 1-D prefix).
        logits : Tensor, shape (B, V)
            The scores of the character that follows the prefix.
        """
        ids = self._prefix_ids(prefix_ids)
        ids = ids.reshape(-1, ids.shape[-1])
        with torch.no_grad():
            logits, h = self(ids)
        return h, logits[:, -1]

    def generate(
        self,
        prefix,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
    ):
        r"""Sample a continuation of ``prefix``, feeding every sampled character back in.

        Parameters
        ----------
        prefix : str (needs ``vocab``), sequence of int, ndarray or Tensor of ids, shape (P,) or (B, P)
        length : int
            Number of characters to generate.
        temperature : float
            ``tau >= 0``; 0 is greedy decoding.
        top_k : int, optional
            Sample only among the ``k`` most likely characters.
        seed : int
            The same seed gives the same text.

        Returns
        -------
        str (when ``prefix`` is a str) or ndarray of int64, shape (length,) or (B, length)
            The continuation, without the prefix.

        Notes
        -----
        Chapter 4. The prefix primes the hidden state (:meth:`prime`); then
        :math:`c_{t+1} \sim \mathrm{softmax}(y_t / \tau)` and :math:`c_{t+1}` is the next input
        (:func:`rnncourse.sampling.sample`).
        """
        ids = self._prefix_ids(prefix)
        out = _sample(self, ids, length, temperature=temperature, top_k=top_k, seed=seed)
        return self.vocab.decode(out) if isinstance(prefix, str) else out

    def _prefix_ids(self, prefix) -> torch.Tensor:
        if isinstance(prefix, str):
            if self.vocab is None:
                raise ValueError(
                    "a string prefix needs the model's vocabulary, got vocab=None; build the model with "
                    "CharRNN(..., vocab=Vocab(text)) or pass ids (vocab.encode(prefix))."
                )
            prefix = self.vocab.encode(prefix)
        if not hasattr(prefix, "shape"):
            prefix = np.asarray(prefix, dtype=np.int64 if len(prefix) == 0 else None)
        ids = _as_ids("prefix", prefix, (1, 2))
        if ids.shape[-1] == 0:
            raise ValueError(
                f"prefix must hold at least one character, got shape {tuple(ids.shape)}; start from "
                "e.g. a newline."
            )
        return ids

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, hidden_size={self.hidden_size}"


def bits_per_char(logits: torch.Tensor, targets) -> torch.Tensor:
    r"""Mean cross-entropy in bits per character.

    Parameters
    ----------
    logits : Tensor, shape (..., V)
    targets : Tensor or ndarray of int64, shape (...)

    Returns
    -------
    Tensor, shape ()
        Differentiable; multiply by :math:`\ln 2` for nats.

    Notes
    -----
    Chapter 4. :math:`\mathrm{bpc} = -\frac{1}{N} \sum_t \log_2 p(c_{t+1} \mid c_{\le t})`.
    """
    check_array("logits", logits, range(1, 8))
    targets = _as_ids("targets", targets, range(0, 7))
    if tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(
            f"targets must have the shape of logits without its last axis, got logits {tuple(logits.shape)} "
            f"and targets {tuple(targets.shape)}; pass logits (B, T, V) with targets (B, T)."
        )
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).to(logits.device)) / LN2


def _counts(ids, vocab_size):
    ids = _as_ids("ids", ids, 1).cpu().numpy()
    if ids.size == 0:
        raise ValueError("ids must hold at least one id, got an empty array.")
    V = int(ids.max()) + 1 if vocab_size is None else check_positive_int("vocab_size", vocab_size)
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(
            f"ids must lie in 0..{V - 1}, got values in {ids.min()}..{ids.max()}; check vocab_size."
        )
    return np.bincount(ids, minlength=V).astype(np.float64)


def unigram_entropy(ids, vocab_size: int | None = None) -> float:
    r"""Entropy in bits of the character frequencies of ``ids``: the best bpc without context.

    Parameters
    ----------
    ids : ndarray or Tensor of integers, shape (N,)
    vocab_size : int, optional
        ``V`` (default: ``max(ids) + 1``).

    Returns
    -------
    float

    Notes
    -----
    Chapter 4. :math:`H_1 = -\sum_c \hat p(c) \log_2 \hat p(c)` with :math:`\hat p(c)` the relative frequency
    of character :math:`c`. A model that ignores context cannot beat it on the same text.
    """
    counts = _counts(ids, vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def unigram_bpc(train_ids, eval_ids, vocab_size: int, alpha: float = 1.0) -> float:
    r"""Bits per character on ``eval_ids`` of the unigram model fitted on ``train_ids`` (add-``alpha``).

    Parameters
    ----------
    train_ids, eval_ids : ndarray or Tensor of integers, shapes (N,) and (M,)
    vocab_size : int
    alpha : float
        Additive smoothing, so that characters unseen in training keep a finite loss.

    Returns
    -------
    float

    Notes
    -----
    Chapter 4. :math:`\hat p(c) = (n_c + \alpha) / (N + \alpha V)`,
    :math:`\mathrm{bpc} = -\frac{1}{M} \sum_t \log_2 \hat p(c_t)`.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha must be a number > 0, got {alpha!r}; e.g. alpha=1.0 (Laplace smoothing).")
    counts = _counts(train_ids, vocab_size) + alpha
    logp = np.log2(counts / counts.sum())
    eval_counts = _counts(eval_ids, vocab_size)
    return float(-(eval_counts * logp).sum() / eval_counts.sum())


def evaluate_bpc(model: CharRNN, ids, batch_size: int = 16, seq_len: int = 256, max_chars: int | None = None):
    r"""Bits per character of ``model`` on a stream, carrying the hidden state from chunk to chunk.

    The stream is cut into ``batch_size`` contiguous rows read in parallel, chunk by chunk of ``seq_len``
    steps, so that every prediction (but those at the start of a row) sees a long context.

    Parameters
    ----------
    model : CharRNN
    ids : ndarray or Tensor of integers, shape (N,)
    batch_size : int
        ``B``, the number of parallel rows.
    seq_len : int
        Steps per chunk.
    max_chars : int, optional
        Evaluate on the first ``max_chars`` characters only (faster estimates during training).

    Returns
    -------
    float
        :math:`-\frac{1}{N'} \sum_t \log_2 p(c_{t+1} \mid c_{\le t})` over the :math:`N'` predictions made.
    """
    ids = _as_ids("ids", ids, 1)
    B = check_positive_int("batch_size", batch_size)
    seq_len = check_positive_int("seq_len", seq_len)
    if max_chars is not None:
        ids = ids[: check_positive_int("max_chars", max_chars, minimum=2)]
    m = (len(ids) - 1) // B
    if m < 1:
        raise ValueError(
            f"ids has {len(ids)} characters, too few for batch_size={B}: need at least {B + 1}; "
            "lower batch_size or pass a longer stream."
        )
    x = ids[: B * m].reshape(B, m)
    y = ids[1 : B * m + 1].reshape(B, m)
    was_training = model.training
    model.eval()
    total, h = 0.0, None
    try:
        with torch.no_grad():
            for s in range(0, m, seq_len):
                logits, h = model(x[:, s : s + seq_len], h)
                total += (
                    float(bits_per_char(logits, y[:, s : s + seq_len])) * logits.shape[0] * logits.shape[1]
                )
    finally:
        model.train(was_training)
    return total / (B * m)


def train_charlm(
    model: CharRNN,
    ids,
    steps: int,
    *,
    batch_size: int = 32,
    seq_len: int = 64,
    lr: float = 3e-3,
    clip_norm: float | None = 1.0,
    val_ids=None,
    eval_every: int | None = None,
    eval_chars: int | None = 20_000,
    max_seconds: float | None = None,
    callbacks=(),
    seed: int = 0,
) -> dict:
    r"""Train a :class:`CharRNN` with Adam on random windows of a character stream.

    Each step draws ``batch_size`` windows of ``seq_len + 1`` characters at random positions, starts from
    ``h_0 = 0``, and minimises the bits per character of the next-character predictions (full BPTT through
    the window).

    Parameters
    ----------
    model : CharRNN
    ids : ndarray or Tensor of integers, shape (N,)
        The training stream.
    steps : int
        Number of optimiser steps.
    batch_size, seq_len : int
        ``B`` windows of ``T = seq_len`` inputs per step.
    lr : float
        Adam learning rate.
    clip_norm : float, optional
        Rescale the gradient to this global norm when it is larger (None: no clipping).
    val_ids : ndarray or Tensor of integers, shape (M,), optional
        Validation stream, evaluated with :func:`evaluate_bpc` every ``eval_every`` steps and at the end.
    eval_every : int, optional
        Evaluation period in steps (None: only at the end).
    eval_chars : int, optional
        Characters of ``val_ids`` used by the periodic evaluations (the final one uses all of them).
    max_seconds : float, optional
        Stop early when the training has run this long (a time cap; the history says where it stopped).
    callbacks : sequence of callables
        Each is called as ``callback(step, model, history)`` after every step (``step`` counts from 1),
        e.g. to record samples.
    seed : int
        Seed of the window positions.

    Returns
    -------
    history : dict
        The keys of :meth:`rnncourse.training.History.to_dict`: ``"loss"`` (training bpc), ``"grad_norm"``
        (before clipping), ``"time"`` (seconds since the start): lists, one entry per step; ``"eval_steps"``,
        ``"eval_bpc"``: the validation evaluations (the last one on all of ``val_ids``, after the last step);
        ``"stop_reason"``: ``"steps"``, or ``"max_seconds"`` when the time cap ended the training.

    Notes
    -----
    Chapter 4. Loss per step: :math:`\frac{1}{BT} \sum_{b,t} -\log_2 p(c^b_{t+1} \mid c^b_{\le t})`.
    """
    if not isinstance(model, CharRNN):
        raise TypeError(f"model must be a CharRNN, got {type(model).__name__}.")
    ids = _as_ids("ids", ids, 1)
    steps = check_positive_int("steps", steps, minimum=0)
    B = check_positive_int("batch_size", batch_size)
    T = check_positive_int("seq_len", seq_len)
    seed = check_positive_int("seed", seed, minimum=0)
    if len(ids) < T + 2:
        raise ValueError(
            f"ids has {len(ids)} characters, need at least seq_len + 2 = {T + 2}; lower seq_len."
        )
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}; e.g. lr=3e-3.")
    if clip_norm is not None and (
        isinstance(clip_norm, bool) or not isinstance(clip_norm, numbers.Real) or not clip_norm > 0
    ):
        raise ValueError(f"clip_norm must be a number > 0 or None, got {clip_norm!r}.")
    if eval_every is not None:
        eval_every = check_positive_int("eval_every", eval_every)
    if val_ids is not None:
        val_ids = _as_ids("val_ids", val_ids, 1)
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, numbers.Real) or not max_seconds > 0
    ):
        raise ValueError(f"max_seconds must be a number > 0 or None, got {max_seconds!r}.")
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"every callback must be callable, got {type(cb).__name__}.")

    rng = np.random.default_rng(seed)
    device = model.W_embed.device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    offsets = torch.arange(T + 1)
    history = {
        "loss": [],
        "grad_norm": [],
        "time": [],
        "eval_steps": [],
        "eval_bpc": [],
        "stop_reason": "steps",
    }
    model.train()
    start = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        starts = torch.from_numpy(rng.integers(0, len(ids) - T - 1, size=B))
        window = ids[starts[:, None] + offsets].to(device)  # (B, T + 1)
        logits, _ = model(window[:, :-1])
        loss = bits_per_char(logits, window[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = float("inf") if clip_norm is None else float(clip_norm)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        history["loss"].append(float(loss.detach()))
        history["grad_norm"].append(float(grad_norm))
        history["time"].append(time.perf_counter() - start)
        if val_ids is not None and eval_every is not None and step % eval_every == 0 and step < steps:
            history["eval_steps"].append(step)
            history["eval_bpc"].append(evaluate_bpc(model, val_ids, max_chars=eval_chars))
        for cb in callbacks:
            cb(step, model, history)
        if max_seconds is not None and history["time"][-1] >= max_seconds and step < steps:
            history["stop_reason"] = "max_seconds"
            break
    if val_ids is not None and steps > 0:
        history["eval_steps"].append(step)
        history["eval_bpc"].append(evaluate_bpc(model, val_ids))
    return history


def memory_decay(
    model: CharRNN,
    ids,
    k_max: int = 40,
    n_positions: int = 64,
    warmup: int = 64,
    seed: int = 0,
) -> dict:
    r"""How strongly the prediction of the next character depends on the input ``k`` steps back.

    For ``n_positions`` random positions ``t`` of the stream, the model first reads ``warmup`` characters
    (without gradients) so that its state is typical, then the window ``c_{t-k_max} .. c_t``; the sensitivity
    at lag ``k`` is the norm of the gradient of the log-probability of the true next character with respect to
    the embedded input ``k`` steps back, averaged over the positions.

    Parameters
    ----------
    model : CharRNN
    ids : ndarray or Tensor of integers, shape (N,)
        A stream (e.g. the validation text), ``N > warmup + k_max + 1``.
    k_max : int
        Largest lag.
    n_positions : int
        Number of positions averaged over.
    warmup : int
        Characters read before the window (0: the window starts from ``h = 0``).
    seed : int
        Seed of the positions.

    Returns
    -------
    dict
        ``"k"``: ndarray (k_max + 1,), the lags 0..k_max; ``"sensitivity"``: ndarray (k_max + 1,), the mean
        gradient norm :math:`s(k)`; ``"relative"``: :math:`s(k) / s(0)`; ``"half_life"``: float, the lag at
        which :math:`s(k)` first falls to half of :math:`s(0)` (interpolated geometrically between integer
        lags; ``inf`` if it never does within ``k_max``).

    Notes
    -----
    Chapter 4.

    .. math:: s(k) = \mathbb{E}_t \left\| \frac{\partial \log p(c_{t+1} \mid c_{\le t})}{\partial x_{t-k}}
              \right\|_2, \qquad
              \frac{\partial h_t}{\partial x_{t-k}} = \Big(\prod_{j=t-k+1}^{t} \frac{\partial h_j}{\partial
              h_{j-1}}\Big) \frac{\partial h_{t-k}}{\partial x_{t-k}},

    so :math:`s(k)` shrinks with :math:`k` as fast as the product of Jacobians does.
    """
    if not isinstance(model, CharRNN):
        raise TypeError(f"model must be a CharRNN, got {type(model).__name__}.")
    ids = _as_ids("ids", ids, 1)
    k_max = check_positive_int("k_max", k_max)
    n_positions = check_positive_int("n_positions", n_positions)
    warmup = check_positive_int("warmup", warmup, minimum=0)
    seed = check_positive_int("seed", seed, minimum=0)
    span = warmup + k_max + 1  # characters read before the target
    if len(ids) < span + 1:
        raise ValueError(
            f"ids has {len(ids)} characters, need more than warmup + k_max + 1 = {span}; "
            "pass a longer stream or lower k_max/warmup."
        )
    rng = np.random.default_rng(seed)
    t0 = torch.from_numpy(rng.integers(0, len(ids) - span, size=n_positions))  # first character read
    windows = ids[t0[:, None] + torch.arange(span + 1)].to(model.W_embed.device)  # (n, span + 1)
    was_training = model.training
    model.eval()
    try:
        h = None
        if warmup:
            with torch.no_grad():
                _, h = model(windows[:, :warmup])
        x = (
            F.embedding(windows[:, warmup:span], model.W_embed).detach().requires_grad_(True)
        )  # (n, k_max+1, D)
        logits, _ = model.forward_embedded(x, h)
        logp = torch.log_softmax(logits[:, -1], dim=-1).gather(1, windows[:, span : span + 1])
        (grad,) = torch.autograd.grad(logp.sum(), x)
    finally:
        model.train(was_training)
    check_dim("grad", grad, 1, k_max + 1)
    s = grad.norm(dim=-1).mean(0).flip(0).double().cpu().numpy()  # s[k]: input k steps before the last
    relative = s / s[0]
    return {
        "k": np.arange(k_max + 1),
        "sensitivity": s,
        "relative": relative,
        "half_life": _half_life(relative),
    }


def _half_life(relative: np.ndarray) -> float:
    below = np.flatnonzero(relative <= 0.5)
    if below.size == 0:
        return math.inf
    k = int(below[0])
    if k == 0:
        return 0.0
    r0, r1 = relative[k - 1], relative[k]
    # geometric interpolation: r(k - 1 + u) = r0 * (r1 / r0) ** u = 0.5
    return float(k - 1 + math.log(0.5 / r0) / math.log(r1 / r0)) if r1 > 0 else float(k)
