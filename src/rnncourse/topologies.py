r"""Input/output topologies of a recurrent network, built on :class:`rnncourse.modules.RNN` (Karpathy 2015).

Every topology takes ``cell="rnn" | "lstm" | "gru"`` (chapter 11); with the LSTM a state is the pair
:class:`~rnncourse.modules.LSTMState` ``(h, c)`` wherever one is passed or returned.

* :class:`ManyToMany`: an output :math:`y_t = W_{hy} h_t + b_y` at every step (tagging, delayed echo);
* :class:`ManyToOne`: one output from the last state, :math:`y = W_{hy} h_T + b_y` (parity, sentiment);
* :class:`OneToMany`: one input vector, ``T`` outputs (counting, captioning); the later steps read zeros or
  an embedding of the previous token, which makes generation autoregressive;
* :class:`Seq2Seq`: a many-to-one encoder whose final state starts a one-to-many decoder.

One-to-one is the degenerate case ``T = 1``. All outputs are logits. :class:`OneToMany` is **the**
autoregressive decoder of the course: ``step(x_t, h) -> (y_t, h)`` and ``next_input(token) -> x``, with
``forward`` a loop over them; the decoders of :class:`Seq2Seq` and :class:`rnncourse.captioning.Captioner`
are ``OneToMany`` and :func:`rnncourse.sampling.decode` drives the same two methods. Chapters 2, 5 and 6.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._validate import (
    check_choice,
    check_dim,
    check_ids,
    check_positive_int,
    check_probability,
    check_seed,
    check_tensor,
)
from .modules import RNN

__all__ = ["ManyToMany", "ManyToOne", "OneToMany", "Seq2Seq", "BiRNN", "FEEDS", "readout_parameters"]

#: What :class:`OneToMany` feeds at steps ``t >= 1``.
FEEDS = ("zeros", "output")


def _generator(seed, generator):
    """The generator of the initial weights: ``generator``, else one seeded with ``seed``, else None."""
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                "create one with torch.Generator().manual_seed(seed)."
            )
        return generator
    seed = check_seed(seed, allow_none=True)
    return None if seed is None else torch.Generator().manual_seed(seed)


def readout_parameters(hidden_size: int, output_size: int, dtype=None, generator=None):
    r"""The read-out :math:`y = W_{hy} h + b_y` of every topology: ``W_hy`` (V, H) and ``b_y`` (V,) Parameters
    drawn from :math:`U(-1/\sqrt{H}, 1/\sqrt{H})` as ``torch.nn.Linear`` (``generator``: torch's global one
    when None)."""
    H, V = check_positive_int("hidden_size", hidden_size), check_positive_int("output_size", output_size)
    bound = 1.0 / math.sqrt(H)
    W_hy, b_y = torch.empty(V, H, dtype=dtype), torch.empty(V, dtype=dtype)
    for w in (W_hy, b_y):
        nn.init.uniform_(w, -bound, bound, generator=generator)
    return nn.Parameter(W_hy), nn.Parameter(b_y)


def _check_state(name, h, dtype):
    """A torch state ``(L, B, H)``, or the LSTM's pair of them; the RNN checks the sizes."""
    for s in h if isinstance(h, tuple) else () if h is None else (h,):
        check_tensor(name, s, 3, dtype, shape="(L, B, H)", finite=False)
    return h


_INPUT_SHAPES = {1: ("(B, D)", "(B,)"), 2: ("(B, T, D)", "(B, T)")}


def _as_input(x, input_size, dtype, ids_ndim):
    """Floats (B, [T,] D) as they are, or integer ids (B, [T]) one-hot encoded to D = input_size."""
    floats, ids = _INPUT_SHAPES[ids_ndim]
    check_tensor("x", x)
    if x.dtype == torch.bool:
        raise TypeError(
            f"x must hold floats {floats} or integer ids {ids}, got dtype torch.bool; use x.long()."
        )
    if not x.is_floating_point():
        return F.one_hot(check_ids("x", x, ids_ndim, input_size, shape=ids), input_size).to(dtype)
    check_tensor("x", x, ids_ndim + 1, dtype, shape=f"{floats} floats or {ids} integer ids")
    check_dim("x", x, ids_ndim, input_size, f"The model was built with input_size={input_size}.")
    return x


class _Readout(nn.Module):
    """An RNN followed by the affine read-out ``y = W_hy h + b_y`` (the base of the topologies)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        *,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        cell: str = "rnn",
    ):
        super().__init__()
        generator = _generator(seed, generator)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.output_size = check_positive_int("output_size", output_size)
        self.rnn = RNN(
            input_size, hidden_size, num_layers, nonlinearity, dtype=dtype, generator=generator, cell=cell
        )
        self.W_hy, self.b_y = readout_parameters(hidden_size, output_size, self.rnn.dtype, generator)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
        return self.rnn.dtype

    def _states(self, x, h0):
        x = _as_input(x, self.input_size, self.dtype, 2)  # the RNN rejects T = 0
        return self.rnn(x, _check_state("h0", h0, self.dtype))


class ManyToMany(_Readout):
    r"""Many-to-many: one output at every step.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        ``D`` (integer inputs ``(B, T)`` are one-hot encoded to ``D`` entries), ``H``, ``V`` logits per step.
    num_layers : int
        ``L``, stacked layers of :class:`rnncourse.modules.RNN`.
    nonlinearity : {"tanh", "relu", "linear"}
    dtype, seed, generator
        Parameter dtype (torch's default when None); seed or generator of the initial weights.
    cell : {"rnn", "lstm", "gru"}
        The recurrent cell (chapter 11); the equations below are the vanilla one's.

    Attributes: ``rnn`` (RNN), ``W_hy`` (V, H), ``b_y`` (V,).

    Notes
    -----
    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \qquad y_t = W_{hy} h_t + b_y,
              \qquad \mathcal{L} = \sum_{t=1}^{T} \mathcal{L}_t(y_t, \hat y_t).

    A loss at every step; each :math:`\mathcal{L}_t` reaches the parameters through every earlier step.
    Chapter 2 (computational graphs).
    """

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, return_state: bool = False):
        """Logits ``y`` (B, T, V) at every step of ``x`` (B, T, D) floats or (B, T) int64 ids (one-hot
        encoded), from ``h0`` (L, B, H) (zeros when None; the LSTM's ``(h0, c0)``); with ``return_state``
        also the last state ``h_n`` (for stateful training, :mod:`rnncourse.bptt`).
        """
        hs, h_n = self._states(x, h0)
        y = F.linear(hs, self.W_hy, self.b_y)
        return (y, h_n) if return_state else y


class ManyToOne(_Readout):
    r"""Many-to-one: read the whole sequence, output once from the last state.

    Parameters are those of :class:`ManyToMany`.

    Notes
    -----
    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \qquad y = W_{hy} h_T + b_y,
              \qquad \mathcal{L} = \mathcal{L}(y, \hat y).

    A single loss at the end: every input reaches it only through the chain :math:`h_T \leftarrow \dots
    \leftarrow h_1`. With ``T = 1`` this is the one-to-one (feed-forward) network
    :math:`y = W_{hy}\tanh(W_{xh} x + b_h) + b_y`. Chapter 2.
    """

    #: One output per sequence, not per step (truncated BPTT in :mod:`rnncourse.bptt` needs one per step).
    per_step_output = False

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, return_state: bool = False):
        """Logits from the last state, ``y`` (B, V); the arguments and ``h_n`` are those of
        :meth:`ManyToMany.forward`."""
        hs, h_n = self._states(x, h0)
        y = F.linear(hs[:, -1], self.W_hy, self.b_y)
        return (y, h_n) if return_state else y


class OneToMany(_Readout):
    r"""One-to-many: one input vector, ``T`` outputs; the course's autoregressive decoder.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        ``D`` (integer inputs ``(B,)`` are one-hot encoded), ``H`` and ``V`` logits per step (a vocabulary).
    feed : {"zeros", "output"}
        What steps ``t >= 2`` read: zeros, or the embedding ``W_embed[token]`` of the previous token.
    num_layers, nonlinearity, dtype, seed, generator, cell
        As in :class:`ManyToMany`.
    num_embeddings : int, optional
        Rows of ``W_embed`` (default ``V``; :class:`Seq2Seq` adds one row for its BOS token).

    Attributes: ``rnn``, ``W_hy`` (V, H), ``b_y`` (V,), ``W_embed`` (num_embeddings, D) or None (``"zeros"``).

    Notes
    -----
    Step 1 reads the input, :math:`x_1 = x`, and for :math:`t = 1, \dots, T` (from :math:`h_0`)

    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \quad y_t = W_{hy} h_t + b_y,

    with, for :math:`t \ge 2`, :math:`x_t = 0` (``feed="zeros"``: the model must keep the whole plan in its
    state) or (``feed="output"``) the embedding of the target, :math:`x_t = W_{embed}[\hat y_{t-1}]`, with
    probability ``teacher_forcing`` :math:`\epsilon_i` (drawn per example and step), else of the model's own
    prediction, :math:`x_t = W_{embed}[\tilde w_{t-1}]`, :math:`\tilde w_{t-1} = \arg\max_i y_{t-1,i}`.
    Without ``targets`` (inference) the model always reads its own predictions: generation is autoregressive.
    The fed token is a discrete choice, so no gradient flows through it. One step is :meth:`step`, the fed
    input :meth:`next_input`; :meth:`forward` is the loop over the two. Chapters 2, 5 and 6.
    """

    #: Trained through ``forward_train`` (no per-step output of a given input sequence: no truncated BPTT).
    teacher_forced = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        feed: str = "zeros",
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        *,
        num_embeddings: int | None = None,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        cell: str = "rnn",
    ):
        generator = _generator(seed, generator)
        super().__init__(
            input_size, hidden_size, output_size, num_layers, nonlinearity, dtype=dtype, generator=generator,
            cell=cell,
        )
        self.feed = check_choice("feed", feed, FEEDS)
        if feed == "output":
            n = output_size
            if num_embeddings is not None:
                n = check_positive_int("num_embeddings", num_embeddings)
            if n < output_size:
                raise ValueError(
                    f"num_embeddings must be >= output_size={output_size} (every output token is fed back), "
                    f"got {n}."
                )
            w = torch.empty(n, input_size, dtype=self.rnn.dtype)
            nn.init.normal_(w, 0.0, 1.0, generator=generator)
            self.W_embed = nn.Parameter(w)
        else:
            self.register_parameter("W_embed", None)

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""One step: :math:`h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)`, :math:`y_t = W_{hy} h_t + b_y`.

        ``x_t`` (B, D) is the input of the step (the first input, or :meth:`next_input` of the previous
        token); ``h`` (L, B, H) the previous state (zeros when None; the LSTM's is a pair ``(h, c)``).
        Returns the logits ``y_t`` (B, V) of the next token and the new state ``h`` (L, B, H).
        """
        check_tensor("x_t", x_t, 2, self.dtype, shape="(B, D)", finite=False)
        hs, h = self.rnn(x_t[:, None, :], _check_state("h", h, self.dtype))
        return F.linear(hs[:, 0], self.W_hy, self.b_y), h

    def next_input(self, token: torch.Tensor) -> torch.Tensor:
        """The input ``x`` (B, D) that follows ``token`` (B,) int64: zeros (``feed="zeros"``) or the embedding
        ``W_embed[token]`` (``feed="output"``)."""
        if self.feed == "zeros":
            check_tensor("token", token, 1, shape="(B,)")
            return torch.zeros(token.shape[0], self.input_size, dtype=self.dtype, device=token.device)
        token = check_ids("token", token, 1, self.W_embed.shape[0], shape="(B,)")
        return F.embedding(token, self.W_embed)

    def forward(
        self,
        x: torch.Tensor,
        steps: int,
        targets: torch.Tensor | None = None,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
        *,
        h0: torch.Tensor | None = None,
        return_inputs: bool = False,
    ):
        """Generate ``steps`` outputs from one input vector: a loop over :meth:`step` and :meth:`next_input`.

        ``x`` (B, D) float or (B,) int64 ids (one-hot encoded) is the input of step 0; ``steps`` ``T >= 1``;
        ``targets`` (B, T) int64, the ground truth, used only by ``feed="output"``: each step and example
        reads it with probability ``teacher_forcing`` (else its own argmax), drawn with ``generator``
        (needed only for 0 < teacher_forcing < 1); ``h0`` (L, B, H) the initial state (zeros when None;
        :class:`Seq2Seq` passes the encoder's). Returns the logits ``y`` (B, T, V); with ``return_inputs``
        also a dict of what was fed (tests, chapter 6): ``"x"`` (B, T, D) the input of every step,
        ``"tokens"`` (B, T-1) the tokens fed at steps 1..T-1 and ``"from_target"`` (B, T-1) bool, whether
        each was the ground truth (both None for ``feed="zeros"``).
        """
        x_t = _as_input(x, self.input_size, self.dtype, 1)
        B = x_t.shape[0]
        T = check_positive_int("steps", steps)
        tf = check_probability("teacher_forcing", teacher_forcing)
        if targets is not None:
            targets = check_ids("targets", targets, 2, self.output_size, shape="(B, T)")
            check_dim("targets", targets, 0, B, "targets must have the batch size of x: shape (B, T).")
            check_dim("targets", targets, 1, T, f"targets must have T = steps = {T} columns.")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                "create one with torch.Generator().manual_seed(seed)."
            )
        use_targets = self.feed == "output" and targets is not None and tf > 0.0
        h = _check_state("h0", h0, self.dtype)
        ys, xs, tokens, from_target = [], [], [], []
        for t in range(T):
            xs.append(x_t)
            y_t, h = self.step(x_t, h)
            ys.append(y_t)
            if t == T - 1:
                break
            token = y_t.detach().argmax(-1)
            truth = torch.zeros(B, dtype=torch.bool, device=token.device)
            if use_targets:  # feed the ground truth with probability tf, per example
                truth = ~truth if tf >= 1.0 else torch.rand(B, generator=generator, dtype=torch.float64) < tf
                token = torch.where(truth, targets[:, t], token)
            tokens.append(token)
            from_target.append(truth)
            x_t = self.next_input(token)
        y = torch.stack(ys, 1)
        if not return_inputs:
            return y
        fed = truth = None
        if self.feed == "output":
            fed = torch.stack(tokens, 1) if tokens else torch.zeros(B, 0, dtype=torch.long)
            truth = torch.stack(from_target, 1) if from_target else torch.zeros(B, 0, dtype=torch.bool)
        return y, {"x": torch.stack(xs, 1).detach(), "tokens": fed, "from_target": truth}

    def forward_train(self, x, target, teacher_forcing=1.0, generator=None):
        """``forward(x, T, target, teacher_forcing, generator)`` with ``T`` from ``target`` (B, T) int64."""
        target = check_ids("target", target, 2, self.output_size, shape="(B, T)")
        return self(x, target.shape[1], targets=target, teacher_forcing=teacher_forcing, generator=generator)


class Seq2Seq(nn.Module):
    r"""Encoder-decoder: a many-to-one encoder whose final state starts a one-to-many decoder.

    Parameters
    ----------
    src_vocab, tgt_vocab : int
        ``V_src`` source and ``V`` target tokens; the decoder's embedding has one extra row, BOS = ``V``.
    embed_dim, hidden_size : int
        ``D``, the size of the token embeddings (the RNNs' input size), and ``H`` (encoder and decoder).
    num_layers, nonlinearity, dtype, seed, generator, cell
        As in :class:`ManyToMany`.

    Attributes: ``W_embed`` (V_src, D), the source embedding; ``encoder`` (RNN); ``decoder`` (OneToMany,
    ``feed="output"``, ``decoder.W_embed`` (V + 1, D)); ``bos`` = ``V``.

    Notes
    -----
    .. math:: h^{enc}_s = \tanh(W^{enc}_{hh} h^{enc}_{s-1} + W^{enc}_{xh} W^{enc}_{embed}[w_s] + b^{enc}_h),
              \qquad h^{dec}_0 = h^{enc}_S,

    .. math:: h^{dec}_t = \tanh(W^{dec}_{hh} h^{dec}_{t-1} + W^{dec}_{xh} x_t + b^{dec}_h), \qquad
              y_t = W_{hy} h^{dec}_t + b_y,

    with :math:`w_s` the source token of step :math:`s`, :math:`x_1 = W^{dec}_{embed}[w_0]` for the start
    token :math:`w_0 = \langle start \rangle` (``bos``), and for :math:`t \ge 2` :math:`x_t =
    W^{dec}_{embed}[\hat y_{t-1}]` (the target, probability ``teacher_forcing``) or
    :math:`W^{dec}_{embed}[\tilde w_{t-1}]` (the decoder's own argmax), as in :class:`OneToMany`. The
    fixed-size vector :math:`h^{enc}_S` is the only path from the source to the target (Sutskever et al.
    2014; Cho et al. 2014). Greedy decoding is
    ``sampling.decode(model.decoder, model.decoder.next_input(BOS ids), T, h0=model.encode(src))``.
    Chapters 2 and 6.
    """

    #: Trained through ``forward_train`` (see :class:`OneToMany`).
    teacher_forced = True

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        *,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        cell: str = "rnn",
    ):
        super().__init__()
        generator = _generator(seed, generator)
        self.src_vocab = check_positive_int("src_vocab", src_vocab)
        self.tgt_vocab = check_positive_int("tgt_vocab", tgt_vocab)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.encoder = RNN(
            embed_dim, hidden_size, num_layers, nonlinearity, dtype=dtype, generator=generator, cell=cell
        )
        w = torch.empty(src_vocab, embed_dim, dtype=self.encoder.dtype)
        nn.init.normal_(w, 0.0, 1.0, generator=generator)
        self.W_embed = nn.Parameter(w)
        self.decoder = OneToMany(
            embed_dim,
            hidden_size,
            tgt_vocab,
            feed="output",
            num_layers=num_layers,
            nonlinearity=nonlinearity,
            num_embeddings=tgt_vocab + 1,
            dtype=dtype,
            generator=generator,
            cell=cell,
        )
        self.bos = tgt_vocab

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
        return self.encoder.dtype

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """The encoder's final state ``h`` (L, B, H) (the LSTM's ``(h, c)``) from ``src`` (B, S) int64 ids."""
        src = check_ids("src", src, 2, self.src_vocab, shape="(B, S)")
        if src.shape[1] == 0:
            raise ValueError(f"src has S = 0 tokens (shape {tuple(src.shape)}), expected S >= 1.")
        _, h = self.encoder(F.embedding(src, self.W_embed))
        return h

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor | None = None,
        steps: int | None = None,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
        *,
        return_inputs: bool = False,
    ):
        """Encode ``src`` (B, S) int64, then decode ``T`` tokens: logits ``y`` (B, T, V).

        ``tgt`` (B, T) int64 is fed for teacher forcing (``T`` taken from it), else ``steps`` gives ``T``
        (inference); ``teacher_forcing`` and ``generator`` as in :meth:`OneToMany.forward`. With
        ``return_inputs`` also a dict: ``"tokens"`` (B, T) the token the decoder read at every step (BOS
        first), ``"from_target"`` (B, T) bool (False for BOS).
        """
        h = self.encode(src)
        B = src.shape[0]
        if tgt is not None:
            check_tensor("tgt", tgt, 2, shape="(B, T) integer ids")
            check_dim("tgt", tgt, 0, B, "tgt must have the batch size of src: shape (B, T).")
            if steps is not None and steps != tgt.shape[1]:
                raise ValueError(
                    f"steps={steps} disagrees with tgt, which has T = {tgt.shape[1]} columns; drop steps or "
                    "make them agree."
                )
            steps = tgt.shape[1]
        elif steps is None:
            raise ValueError(
                "Seq2Seq needs tgt (B, T) or steps=T to know how many tokens to decode; got neither."
            )
        bos = torch.full((B,), self.bos, dtype=torch.long)
        x0 = self.decoder.next_input(bos)
        out = self.decoder(x0, steps, tgt, teacher_forcing, generator, h0=h, return_inputs=return_inputs)
        if not return_inputs:
            return out
        y, info = out
        tokens = torch.cat([bos[:, None], info["tokens"]], 1)
        from_target = torch.cat([torch.zeros(B, 1, dtype=torch.bool), info["from_target"]], 1)
        return y, {"tokens": tokens, "from_target": from_target}

    def forward_train(self, x, target, teacher_forcing=1.0, generator=None):
        """``forward(x, target, teacher_forcing=..., generator=...)``: the teacher-forced call of training."""
        return self(x, target, teacher_forcing=teacher_forcing, generator=generator)


class BiRNN(nn.Module):
    r"""Bidirectional many-to-many RNN: one :class:`~rnncourse.modules.RNN` reads the sequence forward,
    a second one reads it backward, and every output reads both states (Schuster and Paliwal, 1997).

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        ``D`` (integer inputs ``(B, T)`` are one-hot encoded), ``H`` per direction, ``V`` logits per step.
    nonlinearity : {"tanh", "relu", "linear"}
    dtype : torch.dtype, optional
    seed : int, optional
        Seed for the initial weights of ``forward_rnn``, ``backward_rnn`` and ``W_hy (V, 2H)``, ``b_y (V,)``.

    Notes
    -----
    .. math:: \overrightarrow{h}_t = \tanh(\overrightarrow{W}_{hh} \overrightarrow{h}_{t-1}
              + \overrightarrow{W}_{xh} x_t + \overrightarrow{b}_h), \quad
              \overleftarrow{h}_t = \tanh(\overleftarrow{W}_{hh} \overleftarrow{h}_{t+1}
              + \overleftarrow{W}_{xh} x_t + \overleftarrow{b}_h), \quad
              y_t = W_{hy} [\overrightarrow{h}_t; \overleftarrow{h}_t] + b_y.

    Each :math:`y_t` depends on the whole input :math:`x_1, \dots, x_T`: usable only when the whole sequence
    is known before the first output (tagging, encoding), never for generation. Chapter 8.
    """

    def __init__(self, input_size, hidden_size, output_size, nonlinearity="tanh", *, dtype=None, seed=None):
        super().__init__()
        generator = _generator(seed, None)
        self.input_size = check_positive_int("input_size", input_size)
        self.forward_rnn, self.backward_rnn = (
            RNN(input_size, hidden_size, nonlinearity=nonlinearity, dtype=dtype, generator=generator)
            for _ in range(2)
        )
        dtype = self.forward_rnn.dtype
        self.W_hy, self.b_y = readout_parameters(2 * hidden_size, output_size, dtype, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``y (B, T, V)`` of ``x (B, T, D)`` floats or ``(B, T)`` int64 ids."""
        x = _as_input(x, self.input_size, self.forward_rnn.dtype, 2)
        h_forward = self.forward_rnn(x)[0]
        h_backward = self.backward_rnn(x.flip(1))[0].flip(1)  # h_backward[:, t] has read x_T, ..., x_t
        return F.linear(torch.cat([h_forward, h_backward], -1), self.W_hy, self.b_y)
