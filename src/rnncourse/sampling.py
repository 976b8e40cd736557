"""Choosing the next token from a model's scores: greedy, temperature and top-k sampling (chapter 4).

A language model outputs a score vector (logits) ``z`` of size ``V`` per step. The functions here turn it into
a distribution ``p = softmax(z / tau)``, optionally keep only the ``k`` most likely tokens, and draw from it
with an explicit ``torch.Generator``; :func:`sample` runs the autoregressive loop that feeds every drawn token
back into the model.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ._validate import check_array, check_positive_int

__all__ = ["greedy", "top_k_filter", "probabilities", "entropy_bits", "sample_next", "sample"]


def _as_logits(logits) -> torch.Tensor:
    if isinstance(logits, np.ndarray):
        logits = torch.from_numpy(logits)
    check_array("logits", logits, (1, 2))
    if logits.shape[-1] == 0:
        raise ValueError(
            f"logits must have at least one entry along the last axis, got shape {tuple(logits.shape)}."
        )
    return logits


def _check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature >= 0:
        raise ValueError(
            f"temperature must be a real number >= 0, got {temperature!r}; use 1.0 for the model's own "
            "distribution, values below 1 to sharpen it and 0 for greedy decoding."
        )
    if not np.isfinite(float(temperature)):
        raise ValueError(f"temperature must be finite, got {temperature!r}; use a large finite value.")
    return float(temperature)


def _check_top_k(top_k, V: int):
    if top_k is None:
        return None
    top_k = check_positive_int("top_k", top_k)
    if top_k > V:
        raise ValueError(f"top_k must be at most the vocabulary size V={V}, got top_k={top_k}; lower it.")
    return top_k


def greedy(logits) -> torch.Tensor:
    """The most likely token: ``argmax_i z_i``.

    Parameters
    ----------
    logits : Tensor or ndarray, shape (V,) or (B, V)

    Returns
    -------
    ids : Tensor of int64, shape () or (B,)

    Notes
    -----
    Chapter 4. Greedy decoding is the limit of temperature sampling as the temperature goes to 0.
    """
    return _as_logits(logits).argmax(-1)


def top_k_filter(logits, k: int) -> torch.Tensor:
    """Keep the ``k`` largest scores and set the others to ``-inf``.

    Parameters
    ----------
    logits : Tensor or ndarray, shape (V,) or (B, V)
    k : int
        Number of tokens kept, ``1 <= k <= V``. Exactly ``k`` entries stay finite (ties broken by
        ``torch.topk``).

    Returns
    -------
    Tensor, shape of ``logits``

    Notes
    -----
    Chapter 4. After the filter, ``softmax`` gives zero probability to every token outside the top ``k``
    (Fan, Lewis & Dauphin 2018).
    """
    z = _as_logits(logits)
    k = _check_top_k(k, z.shape[-1])
    keep = z.topk(k, dim=-1).indices
    out = torch.full_like(z, float("-inf"))
    return out.scatter(-1, keep, z.gather(-1, keep))


def probabilities(logits, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """The sampling distribution ``p = softmax(z / tau)``, restricted to the top ``k`` tokens if asked.

    Parameters
    ----------
    logits : Tensor or ndarray, shape (V,) or (B, V)
    temperature : float
        ``tau >= 0``. ``tau = 1`` is the model's distribution; ``tau -> 0`` concentrates it on the argmax
        (``tau = 0`` returns that one-hot vector); ``tau -> inf`` flattens it towards uniform.
    top_k : int, optional
        Keep only the ``k`` most likely tokens, renormalised.

    Returns
    -------
    p : Tensor, shape of ``logits``, rows summing to 1

    Notes
    -----
    Chapter 4. :math:`p_i = \\exp(z_i / \\tau) / \\sum_j \\exp(z_j / \\tau)`. The entropy of :math:`p`
    increases with :math:`\\tau`.
    """
    z = _as_logits(logits)
    tau = _check_temperature(temperature)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if tau == 0.0:
        return torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).to(z.dtype)
    return torch.softmax(z / tau, dim=-1)


def entropy_bits(p) -> torch.Tensor:
    """Entropy in bits of distributions over the last axis, with ``0 log 0 = 0``.

    Parameters
    ----------
    p : Tensor or ndarray, shape (..., V)
        Non-negative, summing to 1 along the last axis.

    Returns
    -------
    Tensor, shape (...)

    Notes
    -----
    Chapter 4. :math:`H(p) = -\\sum_i p_i \\log_2 p_i`; 0 for a one-hot distribution, :math:`\\log_2 V` for
    the uniform one.
    """
    if isinstance(p, np.ndarray):
        p = torch.from_numpy(p)
    check_array("p", p, (1, 2, 3))
    if bool((p < 0).any()):
        raise ValueError("p must be a probability distribution, got negative entries; pass softmax outputs.")
    logp = torch.where(p > 0, torch.log2(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))
    return -(p * logp).sum(-1)


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, generator=None) -> torch.Tensor:
    """Draw the next token from ``softmax(z / tau)`` (restricted to the top ``k``).

    Parameters
    ----------
    logits : Tensor or ndarray, shape (V,) or (B, V)
    temperature : float
        ``tau >= 0``; ``0`` is greedy decoding (no randomness).
    top_k : int, optional
        Draw only among the ``k`` most likely tokens.
    generator : torch.Generator, optional
        Source of randomness; the same generator state gives the same draw.

    Returns
    -------
    ids : Tensor of int64, shape () or (B,)

    Notes
    -----
    Chapter 4. :math:`y \\sim \\mathrm{Categorical}(p)`, :math:`p = \\mathrm{softmax}(z / \\tau)`.
    """
    z = _as_logits(logits)
    tau = _check_temperature(temperature)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "create one with torch.Generator().manual_seed(seed)."
        )
    if tau == 0.0:
        z = z if top_k is None else top_k_filter(z, top_k)
        return z.argmax(-1)
    p = probabilities(z.to(torch.float64), tau, top_k)
    flat = p.reshape(-1, p.shape[-1])
    ids = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    return ids.reshape(p.shape[:-1])


def _model_device(model) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def sample(model, prefix_ids, steps: int, temperature: float = 1.0, top_k: int | None = None, seed: int = 0):
    """Generate ``steps`` tokens autoregressively: every drawn token is fed back as the next input.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(ids, h) -> (logits, h)`` with ``ids`` (B, t) int64, ``logits`` (B, t, V) and ``h``
        the recurrent state (None at the start), e.g. :class:`rnncourse.charlm.CharRNN`.
    prefix_ids : sequence of int, ndarray or Tensor of integers, shape (P,) or (B, P), P >= 1
        The prompt; the model reads all of it first (priming the hidden state).
    steps : int
        Number of tokens to generate.
    temperature : float
        ``tau >= 0`` (``0``: greedy).
    top_k : int, optional
        Draw only among the ``k`` most likely tokens at each step.
    seed : int
        Seed of the ``torch.Generator`` used for the draws: the same seed gives the same sample.

    Returns
    -------
    ids : ndarray of int64, shape (steps,) or (B, steps)
        The generated tokens (without the prefix).

    Notes
    -----
    Chapter 4. With :math:`h_P` the state after the prefix, for :math:`t = P, P+1, \\dots`:
    :math:`p_t = \\mathrm{softmax}(W_{hy} h_t + b_y)`, :math:`x_{t+1} \\sim p_t`,
    :math:`h_{t+1} = \\tanh(W_{hh} h_t + W_{xh} \\mathrm{embed}(x_{t+1}) + b_h)`.
    The model runs in eval mode without gradients; its training flag is restored afterwards.
    """
    if hasattr(prefix_ids, "detach"):
        prefix = prefix_ids.detach().cpu()
    else:
        prefix = np.asarray(prefix_ids)
    check_array("prefix_ids", prefix, (1, 2), dtype_kind="i")
    if prefix.shape[-1] == 0:
        raise ValueError(
            f"prefix_ids must hold at least one token, got shape {tuple(prefix.shape)}; start from a "
            "character such as a newline."
        )
    steps = check_positive_int("steps", steps, minimum=0)
    tau = _check_temperature(temperature)
    seed = check_positive_int("seed", seed, minimum=0)
    single = prefix.ndim == 1
    prefix = torch.as_tensor(prefix, dtype=torch.int64).reshape(-1, prefix.shape[-1])
    generator = torch.Generator().manual_seed(seed)
    device = _model_device(model)
    out = torch.empty(prefix.shape[0], steps, dtype=torch.int64)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, h = model(prefix.to(device), None)
            for t in range(steps):
                nxt = sample_next(logits[:, -1].cpu(), tau, top_k, generator)
                out[:, t] = nxt
                if t + 1 < steps:
                    logits, h = model(nxt[:, None].to(device), h)
    finally:
        model.train(was_training)
    ids = out.numpy()
    return ids[0] if single else ids
