"""Tests of rnncourse.sampling: greedy, temperature and top-k draws, and the autoregressive loop
(decode, sample) on stub decoders and on a CharRNN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse.charlm import CharRNN
from rnncourse.sampling import (
    beam_search,
    decode,
    entropy_bits,
    greedy,
    probabilities,
    sample,
    sample_next,
    top_k_filter,
)


def random_logits(B=16, V=12, seed=0, dtype=torch.float64):
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2.0


class CountingDecoder:
    """A stub decoder over V tokens (not a torch module): the input is the one-hot token, the logits put
    their mass on (token + 1) mod V, the state ``h`` (1, B, 1) counts the steps. Records every h seen."""

    def __init__(self, V=7, sharpness=50.0, uniform=False):
        self.V, self.sharpness, self.uniform, self.seen = V, sharpness, uniform, []

    def step(self, x_t, h):
        self.seen.append(None if h is None else h.clone())
        h = torch.zeros(1, x_t.shape[0], 1) if h is None else h
        y = torch.nn.functional.one_hot((x_t.argmax(-1) + 1) % self.V, self.V).double() * self.sharpness
        return (torch.zeros_like(y) if self.uniform else y), h + 1

    def next_input(self, token):
        return torch.nn.functional.one_hot(token, self.V).double()


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
    draws = sample_next(z.expand(20000, 4), 0.7, generator=torch.Generator().manual_seed(0))
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
    z = random_logits()
    assert torch.equal(sample_next(z, 1.0, top_k=1, generator=torch.Generator()), greedy(z))
    assert torch.equal(sample_next(z, 0.0, top_k=2), greedy(z))  # greedy within the top k is greedy


def test_same_seed_same_sample():
    z = random_logits(B=32, V=10)
    a = sample_next(z, 1.0, generator=torch.Generator().manual_seed(5))
    b = sample_next(z, 1.0, generator=torch.Generator().manual_seed(5))
    c = sample_next(z, 1.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ------------------------------------------------------------------------------------------------- decode


def test_decode_feeds_each_token_back_and_carries_the_state():
    stub = CountingDecoder(V=7)
    x = stub.next_input(torch.tensor([3, 6]))
    out = decode(stub, x, 5, h0=torch.full((1, 2, 1), 10.0))
    assert out.dtype == torch.int64 and out.tolist() == [[4, 5, 6, 0, 1], [0, 1, 2, 3, 4]]
    assert [float(h[0, 0, 0]) for h in stub.seen] == [10.0, 11.0, 12.0, 13.0, 14.0]
    stub.seen.clear()
    decode(stub, x, 2)
    assert stub.seen[0] is None and float(stub.seen[1][0, 0, 0]) == 1.0  # h0=None: the decoder's zeros


def test_decode_is_seeded_and_top_k_restricts_the_draws():
    stub = CountingDecoder(V=9, uniform=True)
    x = stub.next_input(torch.zeros(3, dtype=torch.int64))
    a = decode(stub, x, 40, temperature=1.0, seed=11)
    assert a.shape == (3, 40) and torch.equal(a, decode(stub, x, 40, temperature=1.0, seed=11))
    assert not torch.equal(a, decode(stub, x, 40, temperature=1.0, seed=12))
    assert len(set(a.flatten().tolist())) > 3  # a uniform decoder spreads its draws
    sharp = CountingDecoder(V=9)  # all the mass on one token: top_k=1 and sampling agree with greedy
    assert torch.equal(decode(sharp, x, 6, temperature=1.5, top_k=1, seed=3), decode(sharp, x, 6))


def test_decode_greedy_on_a_char_rnn_is_the_argmax_chain():
    model = CharRNN(11, 4, 8, num_layers=2, dtype=torch.float64, seed=0)
    start = torch.tensor([2, 7])
    out = decode(model, model.next_input(start), 12)
    seq = start[:, None]
    with torch.no_grad():
        for _ in range(12):  # by hand: rerun the whole sequence, append the argmax of the last logits
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq[:, 1:])


def test_decode_restores_the_training_flag_and_leaves_no_graph():
    model = CharRNN(5, 3, 4, seed=0).train()
    decode(model, model.next_input(torch.tensor([0])), 3, temperature=1.0)
    assert model.training
    assert decode(model, model.next_input(torch.tensor([0])), 0).shape == (1, 0)


def test_decode_rejects_an_object_without_the_decoder_methods():
    with pytest.raises(TypeError, match="decoder must have the methods step.*got Linear without step"):
        decode(torch.nn.Linear(2, 2), torch.zeros(1, 2), 3)


def test_decode_rejects_a_1d_first_input():
    with pytest.raises(ValueError, match=r"x must have 2 dimensions, got 1.*expected shape \(B, D\)"):
        decode(CountingDecoder(), torch.zeros(7), 3)


def test_decode_rejects_a_2d_state():
    with pytest.raises(ValueError, match=r"h0 must have 3 dimensions, got 2.*expected shape \(L, B, H\)"):
        decode(CountingDecoder(), torch.zeros(2, 7), 3, h0=torch.zeros(2, 1))


def test_decode_rejects_a_state_of_another_batch_size():
    with pytest.raises(ValueError, match="h0 has size 3 along axis 1.*h0 must have the batch size B of x"):
        decode(CountingDecoder(), torch.zeros(2, 7), 3, h0=torch.zeros(1, 3, 1))


def test_decode_rejects_negative_steps():
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        decode(CountingDecoder(), torch.zeros(2, 7), -1)


# ------------------------------------------------------------------------------------------------- sample


def test_sample_primes_on_the_prefix_then_decodes():
    stub = CountingDecoder(V=7)
    out = sample(stub, [1, 2, 3], steps=10, temperature=1.0, seed=0)
    assert out.shape == (10,) and out.tolist() == [(3 + i) % 7 for i in range(1, 11)]
    assert float(stub.seen[2][0, 0, 0]) == 2.0  # the first draw sees the state after 2 primed steps
    batch = sample(CountingDecoder(V=7), np.array([[0, 1], [5, 6]]), steps=3, temperature=0.0)
    assert batch.tolist() == [[2, 3, 4], [0, 1, 2]]


def test_sample_on_a_char_rnn_equals_priming_with_the_forward_pass():
    model = CharRNN(11, 4, 8, dtype=torch.float64, seed=1)
    prefix = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        y, h = model(prefix[:, :-1], return_state=True)
    expected = decode(model, model.next_input(prefix[:, -1]), 20, h0=h, temperature=0.9, seed=4)
    assert torch.equal(sample(model, prefix, 20, temperature=0.9, seed=4), expected)
    assert torch.equal(sample(model, prefix[0], 20, temperature=0.9, seed=4), expected[0])


def test_sample_is_seeded():
    stub = CountingDecoder(V=9, uniform=True)
    a = sample(stub, [0], 40, seed=11)
    assert torch.equal(a, sample(stub, [0], 40, seed=11))
    assert not torch.equal(a, sample(stub, [0], 40, seed=12))
    assert sample(stub, [1, 2], 0).shape == (0,)


def test_rejects_negative_temperature():
    with pytest.raises(ValueError, match="temperature must be >= 0.0, got -1.0"):
        probabilities(random_logits(), -1.0)


def test_rejects_infinite_temperature():
    with pytest.raises(TypeError, match="temperature must be a finite real number, got inf"):
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


def test_rejects_empty_logits():
    with pytest.raises(ValueError, match=r"logits must have at least one entry along the last axis"):
        greedy(torch.zeros(2, 0))


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
        sample(CountingDecoder(), [], 3)


def test_sample_rejects_float_prefix():
    with pytest.raises(TypeError, match="prefix_ids must hold integer ids, got dtype torch.float64"):
        sample(CountingDecoder(), np.array([1.0]), 3)


def test_sample_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        sample(CountingDecoder(), [1], 3, seed=-1)


def test_sample_rejects_a_model_without_next_input():
    class StepOnly:
        def step(self, x_t, h):
            return x_t, h

    with pytest.raises(TypeError, match="got StepOnly without next_input"):
        sample(StepOnly(), [1], 3)


# ------------------------------------------------------------------------------------------------ beam search


def small_generator(V=5, seed=0):
    from rnncourse.topologies import OneToMany

    return OneToMany(V, 8, V, feed="output", dtype=torch.float64, seed=seed)


def sequence_log_prob(decoder, x, tokens):
    """log p(tokens | x) by teacher forcing through step / next_input."""
    total, x_t, h = torch.zeros(x.shape[0], dtype=torch.float64), x, None
    with torch.no_grad():
        for t in range(tokens.shape[1]):
            y_t, h = decoder.step(x_t, h)
            total += torch.log_softmax(y_t, -1).gather(1, tokens[:, t : t + 1])[:, 0]
            x_t = decoder.next_input(tokens[:, t])
    return total


def test_beam_of_width_one_is_greedy_decoding():
    dec = small_generator()
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    tokens, log_prob = beam_search(dec, x, 6, k=1)
    assert torch.equal(tokens, decode(dec, x, 6))
    assert torch.allclose(log_prob, sequence_log_prob(dec, x, tokens), atol=1e-12)


def test_full_beam_finds_the_most_probable_sequence_and_its_log_probability():
    V, T = 4, 2  # k = V keeps every first token, so the best of all V^T sequences survives
    dec = small_generator(V, seed=3)
    x = torch.randn(5, V, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    tokens, log_prob = beam_search(dec, x, T, k=V)
    every = torch.cartesian_prod(*[torch.arange(V)] * T)  # (V^T, T)
    scores = torch.stack([sequence_log_prob(dec, x, seq.expand(5, T)) for seq in every], 1)  # (B, V^T)
    assert torch.allclose(log_prob, scores.max(1).values, atol=1e-12)
    assert torch.equal(tokens, every[scores.argmax(1)])
    greedy_lp = sequence_log_prob(dec, x, decode(dec, x, T))
    assert (log_prob >= greedy_lp - 1e-12).all()


def test_beam_with_an_initial_state_matches_greedy_decode_with_it():
    dec = small_generator()
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    h0 = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(beam_search(dec, x, 4, k=1, h0=h0)[0], decode(dec, x, 4, h0=h0))


def test_finished_sequences_repeat_end_at_no_cost():
    dec = CountingDecoder(V=7)  # certain: token + 1 at every step
    x = torch.nn.functional.one_hot(torch.tensor([2, 5]), 7).double()
    tokens, log_prob = beam_search(dec, x, 5, k=2, end=4)
    assert tokens.tolist() == [[3, 4, 4, 4, 4], [6, 0, 1, 2, 3]]
    assert torch.allclose(log_prob, torch.zeros(2, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"k": 0}, ValueError),
        ({"k": 8}, ValueError),  # k > V = 7
        ({"k": 2, "end": 7}, ValueError),  # end outside the vocabulary
        ({"k": 2, "end": -1}, ValueError),
        ({"k": 2, "steps": -1}, ValueError),
        ({"k": 2, "h0": torch.zeros(1, 3, 1)}, ValueError),  # batch 3, x has 2
        ({"k": 2, "x": torch.zeros(7)}, ValueError),  # 1-D first input
    ],
)
def test_beam_search_rejects_bad_arguments(kwargs, error):
    args = {"x": torch.nn.functional.one_hot(torch.tensor([2, 5]), 7).double(), "steps": 3} | kwargs
    with pytest.raises(error):
        beam_search(CountingDecoder(V=7), **args)


def test_beam_search_rejects_an_object_without_the_decoder_methods():
    with pytest.raises(TypeError):
        beam_search(object(), torch.zeros(2, 3), 3, k=2)
