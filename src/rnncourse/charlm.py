r"""A character-level language model: embedding -> recurrent network -> softmax over characters (chapter 4).

:class:`CharRNN` predicts the next character of a text from all the previous ones. Losses are reported in bits
per character (bpc, :func:`bits_per_char`), the unit in which Shannon (1951) measured the entropy of English,
so that they compare directly with the entropy of the unigram distribution (:func:`unigram_entropy`,
:func:`unigram_bpc`). :func:`evaluate_bpc` measures a stream with the hidden state carried along.

The model trains with the course's one loop, on random windows of the text::

    history = training.fit(model, training.random_windows(train_ids, 32, 64, seed=0),
                           torch.optim.Adam(model.parameters(), lr=3e-3), steps=1000,
                           loss_fn=training.supervised(bits_per_char), clip_norm=1.0)

and generates through :mod:`rnncourse.sampling` (it is a decoder: :meth:`CharRNN.step`,
:meth:`CharRNN.next_input`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import sampling
from ._validate import check_array, check_ids, check_positive_int, check_real, check_seed, check_tensor
from .modules import RNN
from .topologies import _check_state, readout_parameters

__all__ = ["CharRNN", "bits_per_char", "unigram_entropy", "unigram_bpc", "evaluate_bpc"]

LN2 = math.log(2.0)


def _as_ids(name: str, ids, ndim, shape: str) -> torch.Tensor:
    if isinstance(ids, np.ndarray):
        ids = torch.from_numpy(ids)
    return check_array(name, ids, ndim, dtype_kind="i", shape=shape).to(torch.int64)


class CharRNN(nn.Module):
    r"""Embedding -> :class:`rnncourse.modules.RNN` -> affine read-out, over a character vocabulary.

    ``vocab_size`` ``V`` characters, ``embed_dim`` ``D``, ``hidden_size`` ``H`` and ``num_layers`` ``L``;
    ``nonlinearity`` the recurrent one; ``dtype`` (torch's default when None); ``vocab`` (a
    :class:`rnncourse.data.Vocab`) lets :meth:`generate` read and write strings; ``seed`` seeds the initial
    weights (torch's global generator when None); ``cell`` is ``"rnn"``, ``"lstm"`` (a state is then the pair
    ``(h, c)``) or ``"gru"`` (chapter 11). Attributes ``W_embed`` (V, D) (row ``w`` embeds character ``w``;
    from N(0, 1)), ``rnn``, ``W_hy`` (V, H), ``b_y`` (V,).

    Notes
    -----
    Chapter 4. With :math:`w_t` the character read at step :math:`t`, :math:`e_w` the one-hot vector of
    :math:`w` and :math:`W_{embed}[w] = W_{embed}^\top e_w` the row :math:`w` of :math:`W_{embed}`,

    .. math:: x_t = W_{embed}[w_t], \qquad h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \qquad
              y_t = W_{hy} h_t + b_y, \qquad p(w_{t+1} \mid w_{\le t}) = \mathrm{softmax}(y_t).

    The embedding is the one-hot input multiplied by a weight matrix, computed as a row lookup. As a decoder
    (:func:`rnncourse.sampling.decode`), :meth:`step` is one step of the recurrence and :meth:`next_input`
    the embedding.
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
        cell: str = "rnn",
    ):
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        seed = check_seed(seed, allow_none=True)
        if vocab is not None and len(vocab) != self.vocab_size:
            raise ValueError(
                f"vocab has {len(vocab)} characters but vocab_size={vocab_size}; pass vocab_size=len(vocab)."
            )
        self.vocab = vocab
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.rnn = RNN(
            embed_dim, hidden_size, num_layers, nonlinearity, dtype=dtype, generator=generator, cell=cell
        )
        self.W_embed = nn.Parameter(torch.empty(self.vocab_size, self.embed_dim, dtype=self.dtype))
        with torch.no_grad():
            nn.init.normal_(self.W_embed, 0.0, 1.0, generator=generator)
        self.W_hy, self.b_y = readout_parameters(self.hidden_size, self.vocab_size, self.dtype, generator)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
        return self.rnn.dtype

    @property
    def num_layers(self) -> int:
        """``L``, the number of recurrent layers."""
        return self.rnn.num_layers

    def forward(self, ids, h0: torch.Tensor | None = None, return_state: bool = False):
        """Next-character logits ``y`` (B, T, V) for ``ids`` (B, T) int64 (Tensor or ndarray): ``y[:, t]``
        scores the character that follows ``ids[:, t]``. ``h0`` (L, B, H) is the initial state (zeros when
        None), e.g. the ``h_n`` of the previous chunk of a stream; ``return_state`` also returns ``h_n``.
        """
        if isinstance(ids, np.ndarray):
            ids = torch.from_numpy(ids)
        ids = check_ids("ids", ids, 2, self.vocab_size, shape="(B, T)")
        x = F.embedding(ids.to(self.W_embed.device), self.W_embed)  # (B, T, D): rows of W_embed
        hs, h_n = self.rnn(x, _check_state("h0", h0, self.dtype))
        y = F.linear(hs, self.W_hy, self.b_y)
        return (y, h_n) if return_state else y

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""One step: :math:`h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)`, :math:`y_t = W_{hy} h_t + b_y`.

        ``x_t`` (B, D) is the embedded input (:meth:`next_input` of a character), ``h`` (L, B, H) the previous
        state (zeros when None). Returns the logits ``y_t`` (B, V) of the next character and the new state.
        """
        check_tensor("x_t", x_t, 2, self.dtype, shape="(B, D)")
        hs, h = self.rnn(x_t[:, None, :], _check_state("h", h, self.dtype))
        return F.linear(hs[:, 0], self.W_hy, self.b_y), h

    def next_input(self, token: torch.Tensor) -> torch.Tensor:
        """The input that follows ``token`` (B,) int64: its embedding ``W_embed[token]``, shape (B, D)."""
        token = check_ids("token", token, 1, self.vocab_size, shape="(B,)")
        return F.embedding(token.to(self.W_embed.device), self.W_embed)

    def generate(self, prefix: str, length: int, temperature: float = 1.0, top_k: int | None = None, seed=0):
        r"""Sample ``length`` characters after the string ``prefix`` (needs ``vocab``).

        ``temperature`` :math:`\tau \ge 0` (0: greedy), ``top_k`` and ``seed`` as in
        :func:`rnncourse.sampling.sample`, which this calls; the same seed gives the same text.
        Returns the continuation, without the prefix (str).
        """
        if self.vocab is None or not isinstance(prefix, str):
            raise TypeError(
                f"generate reads a str prefix with the model's vocabulary, got {type(prefix).__name__} with "
                f"vocab={'None' if self.vocab is None else 'set'}; build the model with CharRNN(..., "
                "vocab=Vocab(text)) or call rnncourse.sampling.sample(model, ids, length) on ids."
            )
        ids = sampling.sample(self, self.vocab.encode(prefix), length, temperature, top_k, seed)
        return self.vocab.decode(ids)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, hidden_size={self.hidden_size}"


def bits_per_char(y: torch.Tensor, target) -> torch.Tensor:
    r"""Mean cross-entropy in bits per character, differentiable (a loss for :func:`training.supervised`).

    ``y`` (..., V) logits, ``target`` (...) int64 the true next characters, the targets :math:`\hat y_t =
    w_{t+1}` (Tensor or ndarray); returns a scalar Tensor (multiply by :math:`\ln 2` for nats). Chapter 4:
    with :math:`\mathcal{L}` the cross-entropy in nats averaged over the :math:`N` predicted positions,
    :math:`\mathrm{bpc} = \mathcal{L} / \ln 2 = -\frac{1}{N} \sum_t \log_2 p(w_{t+1} \mid w_{\le t})`, and the
    perplexity is :math:`2^{\mathrm{bpc}} = e^{\mathcal{L}}`.
    """
    check_array("y", y, range(1, 8), finite=False, shape="(..., V)")  # NaN logits give a NaN loss
    target = _as_ids("target", target, range(0, 7), shape="(...), the shape of y without its last axis")
    if tuple(y.shape[:-1]) != tuple(target.shape):
        raise ValueError(
            f"target must have the shape of y without its last axis, got y {tuple(y.shape)} and target "
            f"{tuple(target.shape)}; pass y (B, T, V) with target (B, T)."
        )
    return F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1).to(y.device)) / LN2


def _counts(ids, vocab_size):
    ids = _as_ids("ids", ids, 1, shape="(N,)").cpu().numpy()
    if ids.size == 0:
        raise ValueError("ids must hold at least one id, got an empty array.")
    V = int(ids.max()) + 1 if vocab_size is None else check_positive_int("vocab_size", vocab_size)
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(
            f"ids must lie in 0..{V - 1}, got values in {ids.min()}..{ids.max()}; check vocab_size."
        )
    return np.bincount(ids, minlength=V).astype(np.float64)


def unigram_entropy(ids, vocab_size: int | None = None) -> float:
    r"""Entropy in bits of the character frequencies of ``ids`` (N,): the best bpc without context.

    ``vocab_size`` ``V`` defaults to ``max(ids) + 1``. Chapter 4: :math:`H_1 = -\sum_w \hat p(w) \log_2 \hat
    p(w)` with :math:`\hat p(w)` the relative frequency of character :math:`w`; a model that ignores context
    cannot beat it on the same text.
    """
    counts = _counts(ids, vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def unigram_bpc(train_ids, eval_ids, vocab_size: int, alpha: float = 1.0) -> float:
    r"""Bits per character on ``eval_ids`` (M,) of the unigram model fitted (add-``alpha``) on ``train_ids``
    (N,).

    ``alpha > 0`` is additive smoothing, so that characters unseen in training keep a finite loss. Chapter 4:
    :math:`\hat p(w) = (n_w + \alpha) / (N + \alpha V)`, :math:`\mathrm{bpc} = -\frac{1}{M} \sum_t \log_2
    \hat p(w_t)`.
    """
    alpha = check_real("alpha", alpha, low=0.0, low_open=True, hint="e.g. alpha=1.0 (Laplace smoothing).")
    counts = _counts(train_ids, vocab_size) + alpha
    logp = np.log2(counts / counts.sum())
    eval_counts = _counts(eval_ids, vocab_size)
    return float(-(eval_counts * logp).sum() / eval_counts.sum())


def evaluate_bpc(model: CharRNN, ids, batch_size: int = 16, seq_len: int = 256, max_chars: int | None = None):
    r"""Bits per character of ``model`` on a stream ``ids`` (N,), the hidden state carried between chunks.

    The stream is cut into ``batch_size`` contiguous rows read in parallel, chunk by chunk of ``seq_len``
    steps, so that every prediction (but those at the start of a row) sees a long context; ``max_chars``
    evaluates the first characters only. ``model`` is a :class:`CharRNN` or any
    ``model(x, h, return_state=True) -> (y, h)``. Returns :math:`-\frac{1}{N'} \sum_t \log_2 p(w_{t+1} \mid
    w_{\le t})` over the :math:`N'` predictions made (float).
    """
    ids = _as_ids("ids", ids, 1, shape="(N,)")
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
    target = ids[1 : B * m + 1].reshape(B, m)
    was_training = model.training
    model.eval()
    total, h = 0.0, None
    try:
        with torch.no_grad():
            for s in range(0, m, seq_len):
                y, h = model(x[:, s : s + seq_len], h, return_state=True)
                total += float(bits_per_char(y, target[:, s : s + seq_len])) * y.shape[0] * y.shape[1]
    finally:
        model.train(was_training)
    return total / (B * m)
