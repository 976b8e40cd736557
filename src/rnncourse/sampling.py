r"""Choosing the next token from a model's scores, and the autoregressive loop that feeds it back (chapter 4).

A decoder outputs a score vector (logits) ``y`` of size ``V`` per step. :func:`probabilities` turns it into
``p = softmax(y / tau)``, optionally restricted to the ``top_k`` most likely tokens (:func:`top_k_filter`),
and :func:`sample_next` draws from it with an explicit ``torch.Generator`` (``tau = 0``: :func:`greedy`).

:func:`decode` is the one autoregressive loop of the course. It drives any decoder that has the two methods
of :class:`rnncourse.topologies.OneToMany` (the Seq2Seq and captioning decoders) and
:class:`rnncourse.charlm.CharRNN`::

    step(x_t, h) -> (y_t, h)      # x_t (B, D), h (L, B, H) or None -> logits (B, V), state (L, B, H)
    next_input(token) -> x        # token (B,) int64 -> the next input (B, D)

:func:`sample` primes a language model on a prefix, then decodes. :func:`beam_search` keeps the :math:`K` most
probable partial sequences instead of one (chapter 5; its argument ``k``).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from ._validate import check_array, check_dim, check_positive_int, check_real, check_seed, check_tensor

__all__ = ["greedy", "top_k_filter", "probabilities", "entropy_bits", "sample_next", "decode", "sample"]
__all__ += ["beam_search"]


def _as_logits(logits) -> torch.Tensor:
    if isinstance(logits, np.ndarray):
        logits = torch.from_numpy(logits)
    check_array("logits", logits, (1, 2), shape="(V,) or (B, V)")
    if logits.shape[-1] == 0:
        raise ValueError(
            f"logits must have at least one entry along the last axis, got shape {tuple(logits.shape)}."
        )
    return logits


def _check_temperature(temperature) -> float:
    hint = "use 1.0 for the model's own distribution, values below 1 to sharpen it and 0 for greedy decoding."
    return check_real("temperature", temperature, low=0.0, hint=hint)


def _check_top_k(top_k, V: int):
    if top_k is None:
        return None
    top_k = check_positive_int("top_k", top_k)
    if top_k > V:
        raise ValueError(f"top_k must be at most the vocabulary size V={V}, got top_k={top_k}; lower it.")
    return top_k


def greedy(logits) -> torch.Tensor:
    r"""The most likely token :math:`\arg\max_i y_{t,i}`: logits (V,) or (B, V) -> ids () or (B,) int64.

    Chapter 4. Greedy decoding is the limit of temperature sampling as :math:`\tau \to 0`.
    """
    return _as_logits(logits).argmax(-1)


def top_k_filter(logits, k: int) -> torch.Tensor:
    """Keep the ``k`` largest scores of logits (V,) or (B, V) and set the others to ``-inf`` (same shape).

    ``1 <= k <= V``; exactly ``k`` entries stay finite (ties broken by ``torch.topk``). Chapter 4: after the
    filter, ``softmax`` gives zero probability outside the top ``k`` (Fan, Lewis & Dauphin 2018).
    """
    y = _as_logits(logits)
    keep = y.topk(_check_top_k(k, y.shape[-1]), dim=-1).indices
    return torch.full_like(y, float("-inf")).scatter(-1, keep, y.gather(-1, keep))


def probabilities(logits, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    r"""The sampling distribution :math:`p_{t,i}(\tau) = \exp(y_{t,i} / \tau) / \sum_j \exp(y_{t,j} / \tau)`.

    Parameters
    ----------
    logits : Tensor or ndarray, shape (V,) or (B, V)
    temperature : float
        :math:`\tau \ge 0`. 1 is the model's distribution; :math:`\tau \to 0` concentrates it on the argmax
        (``0`` returns that one-hot vector); :math:`\tau \to \infty` flattens it towards uniform.
    top_k : int, optional
        Keep only the ``top_k`` most likely tokens, :math:`\mathcal{K}_t`: :math:`p'_{t,i} = p_{t,i}(\tau)\,
        [i \in \mathcal{K}_t] / \sum_{j \in \mathcal{K}_t} p_{t,j}(\tau)`.

    Returns
    -------
    p : Tensor, shape of ``logits``, rows summing to 1. Chapter 4: its entropy increases with :math:`\tau`.
    """
    y = _as_logits(logits)
    tau = _check_temperature(temperature)
    if top_k is not None:
        y = top_k_filter(y, top_k)
    if tau == 0.0:
        return torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
    return torch.softmax(y / tau, dim=-1)


def entropy_bits(p) -> torch.Tensor:
    r"""Entropy in bits :math:`-\sum_i p_{t,i} \log_2 p_{t,i}` of each distribution :math:`p_t` (last axis).

    ``p`` (..., V) non-negative, summing to 1 along the last axis -> Tensor (...), with :math:`0 \log 0 = 0`.
    Chapter 4: 0 for a one-hot distribution, :math:`\log_2 V` for the uniform one.
    """
    if isinstance(p, np.ndarray):
        p = torch.from_numpy(p)
    check_array("p", p, (1, 2, 3), shape="(V,), (B, V) or (B, T, V)")
    if bool((p < 0).any()):
        raise ValueError("p must be a probability distribution, got negative entries; pass softmax outputs.")
    return -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum(-1)


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, generator=None) -> torch.Tensor:
    r"""Draw the next token from :math:`\mathrm{softmax}(y_t / \tau)` (restricted to the ``top_k`` best).

    ``logits`` (V,) or (B, V) -> ids () or (B,) int64, :math:`\tilde w_t \sim p_t(\tau)` (or :math:`p'_t`),
    the distribution of :func:`probabilities` (``temperature`` 0: the argmax, no randomness). ``generator``
    (torch.Generator, optional) is the source of randomness: the same state gives the same draw. Chapter 4.
    """
    y = _as_logits(logits)
    tau = _check_temperature(temperature)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "create one with torch.Generator().manual_seed(seed)."
        )
    if tau == 0.0:
        return (y if top_k is None else top_k_filter(y, top_k)).argmax(-1)
    p = probabilities(y.to(torch.float64), tau, top_k)
    ids = torch.multinomial(p.reshape(-1, p.shape[-1]), 1, generator=generator)
    return ids.reshape(p.shape[:-1])


@contextmanager
def _inference(model):
    """Eval mode and no gradients inside; the training flag of a ``torch.nn.Module`` is restored after."""
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training is not None:
            model.train(was_training)


def _state_parts(h) -> tuple:
    """The tensors of a decoder state: ``()`` for None, ``(h, c)`` for the LSTM's pair, else ``(h,)``."""
    return () if h is None else tuple(h) if isinstance(h, tuple) else (h,)


def _map_state(f, h, *args):
    """``f(s, *args)`` for every tensor ``s`` of a state (None stays None, the LSTM's pair a pair)."""
    if h is None or not isinstance(h, tuple):
        return h if h is None else f(h, *args)
    parts = [f(s, *args) for s in h]
    return type(h)(*parts) if hasattr(h, "_fields") else tuple(parts)


def _check_decoder(decoder):
    for name in ("step", "next_input"):
        if not callable(getattr(decoder, name, None)):
            raise TypeError(
                "decoder must have the methods step(x_t, h) and next_input(token) (a OneToMany or a "
                f"CharRNN), got {type(decoder).__name__} without {name}."
            )


def decode(
    decoder, x, steps: int, *, h0=None, temperature: float = 0.0, top_k: int | None = None, seed: int = 0
):
    r"""Generate ``steps`` tokens: every chosen token is fed back through ``decoder.next_input``.

    Parameters
    ----------
    decoder : object with ``step(x_t, h) -> (y_t, h)`` and ``next_input(token) -> x``
        :class:`rnncourse.topologies.OneToMany` (also the Seq2Seq and captioning decoders) or
        :class:`rnncourse.charlm.CharRNN`.
    x : Tensor, shape (B, D)
        The first input.
    steps : int
        Number of tokens ``T`` to generate (``>= 0``).
    h0 : Tensor, shape (L, B, H), optional
        The initial state (None: the decoder's zeros), e.g. an encoder's or a prefix's final state.
    temperature : float
        :math:`\tau \ge 0`; ``0`` (default) is greedy decoding.
    top_k : int, optional
        Choose only among the ``top_k`` most likely tokens at each step.
    seed : int
        Seed of the ``torch.Generator`` of the draws: the same seed gives the same tokens.

    Returns
    -------
    tokens : Tensor of int64, shape (B, steps)

    Notes
    -----
    Chapters 4-6. With :math:`x_1 = x`, for :math:`t = 1, \dots, T`:
    :math:`(y_t, h_t) = \mathrm{step}(x_t, h_{t-1})`, :math:`\tilde w_t \sim \mathrm{softmax}(y_t / \tau)`
    (the argmax when :math:`\tau = 0`), :math:`x_{t+1} = \mathrm{next\_input}(\tilde w_t)`. Runs without
    gradients, in eval mode (the training flag of a module is restored).
    """
    _check_decoder(decoder)
    check_tensor("x", x, 2, shape="(B, D)")
    steps = check_positive_int("steps", steps, minimum=0)
    tau = _check_temperature(temperature)
    generator = torch.Generator().manual_seed(check_seed(seed))
    for s in _state_parts(h0):  # the LSTM's state is a pair (h, c)
        check_tensor("h0", s, 3, shape="(L, B, H)")
        check_dim("h0", s, 1, x.shape[0], "h0 must have the batch size B of x: shape (L, B, H).")
    tokens = torch.zeros(x.shape[0], steps, dtype=torch.int64)
    x_t, h = x, h0
    with _inference(decoder):
        for t in range(steps):
            y_t, h = decoder.step(x_t, h)
            tokens[:, t] = sample_next(y_t.cpu(), tau, top_k, generator)
            if t + 1 < steps:
                x_t = decoder.next_input(tokens[:, t].to(y_t.device))
    return tokens


def sample(model, prefix_ids, steps: int, temperature: float = 1.0, top_k: int | None = None, seed: int = 0):
    r"""Continue ``prefix_ids``: prime the state on the prefix, then :func:`decode` from its last token.

    Chapter 4. Priming: :math:`(\cdot, h_t) = \mathrm{step}(\mathrm{next\_input}(w_t), h_{t-1})` for the
    prefix tokens :math:`w_1, \dots, w_{P-1}`; then ``decode(model, next_input(w_P), steps, h0=h_{P-1})``.

    Parameters
    ----------
    model : a decoder (``step`` and ``next_input``) over tokens, e.g. :class:`rnncourse.charlm.CharRNN`
    prefix_ids : sequence of int, ndarray or Tensor of integers, shape (P,) or (B, P), P >= 1
        The prompt, read entirely before the first draw.
    steps : int
        Number of tokens to generate.
    temperature, top_k, seed
        As in :func:`decode` (default temperature 1: the model's own distribution).

    Returns
    -------
    ids : Tensor of int64, shape (steps,) or (B, steps)
        The generated tokens, without the prefix.
    """
    _check_decoder(model)
    if not isinstance(prefix_ids, torch.Tensor):
        prefix_ids = np.asarray(prefix_ids, dtype=np.int64 if len(prefix_ids) == 0 else None)
    prefix = torch.as_tensor(prefix_ids)
    check_array("prefix_ids", prefix, (1, 2), dtype_kind="i", shape="(P,) or (B, P)")
    if prefix.shape[-1] == 0:
        raise ValueError(
            f"prefix_ids must hold at least one token, got shape {tuple(prefix.shape)}; start from a "
            "character such as a newline."
        )
    params = getattr(model, "parameters", None)
    weight = next(iter(params()), None) if callable(params) else None
    ids = prefix.long().reshape(-1, prefix.shape[-1]).to("cpu" if weight is None else weight.device)
    h = None
    with _inference(model):
        for t in range(ids.shape[1] - 1):
            _, h = model.step(model.next_input(ids[:, t]), h)
        x = model.next_input(ids[:, -1])
    tokens = decode(model, x, steps, h0=h, temperature=temperature, top_k=top_k, seed=seed)
    return tokens[0] if prefix.ndim == 1 else tokens


def beam_search(decoder, x, steps: int, k: int, *, h0=None, end: int | None = None):
    r"""Beam search of width :math:`K` (``k``): the most probable sequence among :math:`K` kept at every step.

    Parameters
    ----------
    decoder, x, steps, h0
        As in :func:`decode`.
    k : int
        Beam width :math:`K`, ``1 <= k <= V``; ``k = 1`` is greedy decoding.
    end : int, optional
        The end token: a sequence that has emitted it is finished and is continued by ``end`` at no cost.

    Returns
    -------
    tokens : Tensor of int64, shape (B, steps)
    log_prob : Tensor of float64, shape (B,)
        :math:`\log p(w_1, \dots, w_T \mid x) = \sum_t \log p(w_t \mid w_{<t}, x)` of ``tokens`` (up to
        ``end``).

    Notes
    -----
    Chapter 5. Each of the :math:`K` partial sequences is extended by each of the :math:`V` tokens, and
    the :math:`K` best of the :math:`KV` sums of log-probabilities are kept (one sequence at the first step).
    No length normalisation: compare sequences of equal length. Runs without gradients, in eval mode.
    """
    _check_decoder(decoder)
    check_tensor("x", x, 2, shape="(B, D)")
    steps, k = check_positive_int("steps", steps, minimum=0), check_positive_int("k", k)
    B = x.shape[0]
    for s in _state_parts(h0):  # the LSTM's state is a pair (h, c)
        check_tensor("h0", s, 3, shape="(L, B, H)")
        check_dim("h0", s, 1, B, "h0 must have the batch size B of x: shape (L, B, H).")
    h0 = _map_state(torch.repeat_interleave, h0, k, 1)  # (L, B k, H): k copies of every state
    if end is not None:
        end = check_positive_int("end", end, minimum=0)
    score = torch.full((B, k), -torch.inf, dtype=torch.float64)
    score[:, 0] = 0.0  # one live sequence at the start
    tokens = torch.zeros(B, k, 0, dtype=torch.int64)
    done = torch.zeros(B, k, dtype=torch.bool)
    x_t, h, rows = x.repeat_interleave(k, 0), h0, torch.arange(B)[:, None]
    with _inference(decoder):
        for _ in range(steps):
            y_t, h = decoder.step(x_t, h)
            log_p = torch.log_softmax(y_t.double().cpu(), -1).view(B, k, -1)  # (B, k, V)
            V = log_p.shape[-1]
            if k > V or (end is not None and end >= V):
                raise ValueError(f"k = {k} and end = {end} must be <= V and < V = {V} (the vocabulary size).")
            if end is not None:  # a finished sequence only continues with `end`, at cost 0
                finished = torch.full((V,), -torch.inf, dtype=torch.float64)
                finished[end] = 0.0
                log_p = torch.where(done[..., None], finished, log_p)
            score, best = (score[..., None] + log_p).view(B, k * V).topk(k, -1)  # (B, k)
            beam, token = best // V, best % V  # which sequence each survivor extends, and with what
            tokens = torch.cat([tokens[rows, beam], token[..., None]], 2)
            done = done[rows, beam] | (token == end)
            h = _map_state(torch.index_select, h, 1, (rows * k + beam).view(-1).to(y_t.device))  # survivors
            x_t = decoder.next_input(token.view(-1).to(y_t.device))
    return tokens[:, 0], score[:, 0]
