"""Tests of rnncourse.sampling: greedy, temperature and top-k draws, and the autoregressive loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse.sampling import entropy_bits, greedy, probabilities, sample, sample_next, top_k_filter


def random_logits(B=16, V=12, seed=0, dtype=torch.float64):
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2.0


class CountingModel(torch.nn.Module):
    """A fake language model over V tokens: it always puts its mass on (last token + 1) mod V.

    ``h`` counts how many tokens it has read, to check that the state is carried through the loop.
    """

    def __init__(self, V=7, sharpness=50.0):
        super().__init__()
        self.V, self.sharpness = V, sharpness
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids, h=None):
        B, T = ids.shape
        h = torch.zeros(B) if h is None else h
        logits = torch.nn.functional.one_hot((ids + 1) % self.V, self.V).double() * self.sharpness
        return logits, h + T


class UniformModel(CountingModel):
    def forward(self, ids, h=None):
        return torch.zeros(ids.shape[0], ids.shape[1], self.V, dtype=torch.float64), h


def test_greedy_is_argmax():
    z = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    assert greedy(z).tolist() == [1, 0]
    assert int(greedy(np.array([0.0, -1.0, 5.0]))) == 2


def test_temperature_to_zero_reproduces_greedy():
    z = random_logits(B=200, V=20, seed=1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(z, 1e-4, generator=g), greedy(z))
    assert torch.equal(sample_next(z, 0.0), greedy(z))
    p = probabilities(z, 1e-4)
    assert torch.allclose(p, torch.nn.functional.one_hot(greedy(z), 20).double(), atol=1e-12)
    assert torch.equal(probabilities(z, 0.0), torch.nn.functional.one_hot(greedy(z), 20).double())


def test_temperature_one_is_softmax():
    z = random_logits()
    assert torch.allclose(probabilities(z, 1.0), torch.softmax(z, -1), atol=1e-15)


def test_entropy_rises_with_temperature():
    z = random_logits(B=8, V=30, seed=2)
    temps = [0.01, 0.2, 0.5, 1.0, 2.0, 5.0, 50.0]
    H = torch.stack([entropy_bits(probabilities(z, t)) for t in temps])  # (7, 8)
    assert (H[1:] > H[:-1]).all()
    assert H[0].mean() < 0.1  # nearly one-hot (rows with a near tie keep up to 1 bit)
    assert torch.allclose(H[-1], torch.full((8,), math.log2(30), dtype=torch.float64), atol=0.05)


def test_entropy_oracles():
    assert float(entropy_bits(torch.tensor([0.25, 0.25, 0.25, 0.25]))) == pytest.approx(2.0, abs=1e-12)
    assert float(entropy_bits(torch.tensor([1.0, 0.0, 0.0]))) == 0.0
    assert float(entropy_bits(np.array([0.5, 0.5]))) == pytest.approx(1.0, abs=1e-12)


def test_empirical_frequencies_match_the_distribution():
    z = torch.tensor([1.0, 0.0, -1.0, 0.5], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    draws = sample_next(z.expand(20000, 4), 0.7, generator=g)
    freq = torch.bincount(draws, minlength=4).double() / 20000
    assert torch.allclose(freq, probabilities(z, 0.7), atol=0.015)


def test_top_k_never_samples_outside_the_k_most_likely():
    z = random_logits(B=64, V=25, seed=3)
    top = z.topk(5, dim=-1).indices
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        ids = sample_next(z, 3.0, top_k=5, generator=g)  # a hot temperature would spread mass everywhere
        assert (ids[:, None] == top).any(1).all()


def test_top_k_filter_keeps_exactly_k():
    z = torch.tensor([[1.0, 5.0, 3.0, 3.0, -2.0]])
    f = top_k_filter(z, 2)
    assert torch.isfinite(f).sum() == 2 and f[0, 1] == 5.0
    p = probabilities(z, 1.0, top_k=3)
    assert (p[0, [0, 4]] == 0).all() and p.sum().item() == pytest.approx(1.0)
    assert torch.equal(
        sample_next(random_logits(), 1.0, top_k=1, generator=torch.Generator()), greedy(random_logits())
    )


def test_same_seed_same_sample():
    z = random_logits(B=32, V=10)
    a = sample_next(z, 1.0, generator=torch.Generator().manual_seed(5))
    b = sample_next(z, 1.0, generator=torch.Generator().manual_seed(5))
    c = sample_next(z, 1.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sample_loop_feeds_predictions_back():
    model = CountingModel(V=7)
    out = sample(model, [3], steps=10, temperature=1.0, seed=0)
    assert out.tolist() == [(3 + i) % 7 for i in range(1, 11)]
    batch = sample(model, np.array([[0, 1], [5, 6]]), steps=3, temperature=0.0)
    assert batch.tolist() == [[2, 3, 4], [0, 1, 2]]


def test_sample_loop_is_seeded_and_restores_training_mode():
    model = UniformModel(V=9)
    model.train()
    a = sample(model, [0], 40, seed=11)
    assert model.training
    assert np.array_equal(a, sample(model, [0], 40, seed=11))
    assert not np.array_equal(a, sample(model, [0], 40, seed=12))
    assert len(set(a.tolist())) > 3  # a uniform model spreads its draws
    assert (sample(model, [0], 40, top_k=2, seed=11) < 9).all()


def test_sample_zero_steps():
    assert sample(CountingModel(), [1, 2], 0).shape == (0,)


def test_rejects_negative_temperature():
    with pytest.raises(ValueError, match="temperature must be a real number >= 0, got -1.0"):
        probabilities(random_logits(), -1.0)


def test_rejects_infinite_temperature():
    with pytest.raises(ValueError, match="temperature must be finite, got inf"):
        sample_next(random_logits(), float("inf"))


def test_rejects_top_k_larger_than_vocabulary():
    with pytest.raises(ValueError, match="top_k must be at most the vocabulary size V=12, got top_k=13"):
        top_k_filter(random_logits(), 13)


def test_rejects_top_k_zero():
    with pytest.raises(ValueError, match="top_k must be an integer >= 1, got 0"):
        probabilities(random_logits(), 1.0, top_k=0)


def test_rejects_3d_logits():
    with pytest.raises(ValueError, match=r"logits must have 1 or 2 dimensions, got 3 \(shape \(1, 2, 3\)\)"):
        greedy(torch.zeros(1, 2, 3))


def test_rejects_integer_logits():
    with pytest.raises(TypeError, match="logits must hold floating-point numbers, got dtype torch.int64"):
        greedy(torch.tensor([1, 2]))


def test_rejects_bad_generator():
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        sample_next(random_logits(), 1.0, generator=0)


def test_rejects_negative_probabilities():
    with pytest.raises(ValueError, match="p must be a probability distribution, got negative entries"):
        entropy_bits(torch.tensor([1.5, -0.5]))


def test_sample_rejects_empty_prefix():
    with pytest.raises(ValueError, match=r"prefix_ids must hold at least one token, got shape \(0,\)"):
        sample(CountingModel(), np.array([], dtype=np.int64), 3)


def test_sample_rejects_float_prefix():
    with pytest.raises(TypeError, match="prefix_ids must hold integer ids, got dtype float64"):
        sample(CountingModel(), np.array([1.0]), 3)


def test_sample_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        sample(CountingModel(), [1], 3, seed=-1)
