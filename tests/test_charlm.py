"""Tests of rnncourse.charlm: the CharRNN against a hand-written recurrence, its decoder interface (step,
next_input), bits per character, the unigram baselines, stateful evaluation, a short run of training.fit and
generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse import training
from rnncourse.charlm import CharRNN, bits_per_char, evaluate_bpc, unigram_bpc, unigram_entropy
from rnncourse.data import Vocab

TEXT = "the cat sat on the mat. " * 60


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; restore the setting afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained():
    """A small model trained with training.fit on random windows of a periodic text."""
    vocab = Vocab(TEXT)
    ids = vocab.encode(TEXT)
    model = CharRNN(len(vocab), 8, 32, vocab=vocab, seed=0)
    history = training.fit(
        model,
        training.random_windows(ids, 16, 24, seed=0),
        torch.optim.Adam(model.parameters(), lr=1e-2),
        steps=150,
        loss_fn=training.supervised(bits_per_char),
        clip_norm=1.0,
        eval_fn=lambda m: {"bpc": evaluate_bpc(m, ids[:300])},
        eval_every=50,
    )
    return model, vocab, ids, history


def test_forward_matches_a_hand_written_recurrence():
    model = CharRNN(11, 4, 6, num_layers=2, dtype=torch.float64, seed=3)
    ids = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(0))
    h0 = torch.randn(2, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, h_n = model(ids, h0, return_state=True)
    assert y.shape == (3, 5, 11) and h_n.shape == (2, 3, 6)
    assert torch.equal(model(ids, h0), y)
    c0, c1 = model.rnn.cells
    h = [h0[0], h0[1]]
    for t in range(5):
        x = model.W_embed[ids[:, t]]  # one-hot times W_embed
        h[0] = torch.tanh(h[0] @ c0.W_hh.T + x @ c0.W_xh.T + c0.b_h)
        h[1] = torch.tanh(h[1] @ c1.W_hh.T + h[0] @ c1.W_xh.T + c1.b_h)
        assert torch.allclose(y[:, t], h[1] @ model.W_hy.T + model.b_y, atol=1e-12)
    assert torch.allclose(h_n, torch.stack(h), atol=1e-12)


def test_next_input_is_the_one_hot_product_and_steps_reproduce_the_forward_pass():
    model = CharRNN(5, 3, 4, num_layers=2, dtype=torch.float64, seed=0)
    ids = torch.tensor([[0, 4, 2, 2], [1, 3, 0, 4]])
    one_hot = torch.nn.functional.one_hot(ids[:, 0], 5).double()
    assert torch.equal(model.next_input(ids[:, 0]), one_hot @ model.W_embed)
    y, h_n = model(ids, return_state=True)
    h = None
    for t in range(4):
        y_t, h = model.step(model.next_input(ids[:, t]), h)
        assert y_t.shape == (2, 5) and torch.allclose(y_t, y[:, t], atol=1e-12)
    assert torch.allclose(h, h_n, atol=1e-12)


def test_same_seed_same_weights():
    a, b = CharRNN(7, 3, 5, seed=4), CharRNN(7, 3, 5, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.W_embed, CharRNN(7, 3, 5, seed=5).W_embed)
    assert a.num_layers == 1 and a.dtype == torch.get_default_dtype() and "vocab_size=7" in repr(a)


def test_bits_per_char_oracles():
    V = 8
    uniform = torch.zeros(2, 3, V)
    assert float(bits_per_char(uniform, torch.zeros(2, 3, dtype=torch.int64))) == pytest.approx(3.0, abs=1e-6)
    y = torch.randn(4, V, dtype=torch.float64)
    target = torch.tensor([0, 3, 7, 1])
    nats = torch.nn.functional.cross_entropy(y, target)
    assert float(bits_per_char(y, target)) == pytest.approx(float(nats) / math.log(2), abs=1e-12)
    assert float(bits_per_char(y, target.numpy())) == pytest.approx(float(nats) / math.log(2), abs=1e-12)


def test_unigram_entropy_oracles():
    assert unigram_entropy(np.array([0, 0, 1, 1])) == pytest.approx(1.0, abs=1e-12)
    assert unigram_entropy(np.array([2, 2, 2]), vocab_size=5) == 0.0
    assert unigram_entropy(torch.tensor([0, 1, 2, 3])) == pytest.approx(2.0, abs=1e-12)
    # add-one model fitted on {0, 0, 1}: p = (3/5, 2/5); on [0, 1] the loss is the mean of -log2 p
    expected = -(math.log2(3 / 5) + math.log2(2 / 5)) / 2
    assert unigram_bpc(np.array([0, 0, 1]), np.array([0, 1]), 2) == pytest.approx(expected, abs=1e-12)


def test_unigram_bpc_is_at_least_the_entropy_on_the_same_text():
    ids = Vocab(TEXT).encode(TEXT)
    H = unigram_entropy(ids)
    assert H < unigram_bpc(ids, ids, int(ids.max()) + 1) < H + 0.05


def test_evaluate_bpc_carries_the_state_across_chunks():
    model = CharRNN(6, 3, 8, dtype=torch.float64, seed=1).train()
    ids = torch.randint(0, 6, (101,), generator=torch.Generator().manual_seed(0))
    whole = bits_per_char(model(ids[None, :-1]), ids[None, 1:]).item()
    assert evaluate_bpc(model, ids, batch_size=1, seq_len=7) == pytest.approx(whole, abs=1e-10)
    assert evaluate_bpc(model, ids.numpy(), batch_size=1, seq_len=100) == pytest.approx(whole, abs=1e-10)
    assert evaluate_bpc(model, ids, batch_size=1, max_chars=11) == pytest.approx(
        bits_per_char(model(ids[None, :10]), ids[None, 1:11]).item(), abs=1e-10
    )
    assert model.training  # the training flag is restored


def test_fit_lowers_the_loss_below_the_unigram_entropy(trained):
    model, vocab, ids, history = trained
    H1 = unigram_entropy(ids, len(vocab))
    assert len(history) == 150 and history.stop_reason == "steps"
    assert history.eval_steps == [50, 100, 150] and history.evals["bpc"][-1] < history.evals["bpc"][0]
    assert history.evals["bpc"][-1] < H1 - 2.0  # the text is periodic: context makes it nearly predictable
    assert np.mean(history.loss[-20:]) < history.loss[0] - 2.0
    assert len(history.grad_norm) == 150 and all(math.isfinite(g) for g in history.grad_norm)


def test_a_few_dozen_fit_steps_lower_the_loss():
    vocab = Vocab(TEXT)
    model = CharRNN(len(vocab), 4, 16, vocab=vocab, seed=1)
    history = training.fit(
        model,
        training.random_windows(vocab.encode(TEXT), 8, 16, seed=1),
        torch.optim.Adam(model.parameters(), lr=1e-2),
        steps=30,
        loss_fn=training.supervised(bits_per_char),
        clip_norm=1.0,
    )
    assert np.mean(history.loss[-5:]) < np.mean(history.loss[:5]) - 0.5


def test_generate_is_seeded_and_greedy_continues_the_pattern(trained):
    model, vocab, _, _ = trained
    a = model.generate("the cat ", 40, temperature=1.0, seed=3)
    assert isinstance(a, str) and len(a) == 40 and set(a) <= set(vocab.chars)
    assert a == model.generate("the cat ", 40, temperature=1.0, seed=3)
    assert model.generate("the cat ", 15, temperature=0.0) == "sat on the mat."
    assert model.generate("sat on ", 5, temperature=0.0, top_k=3) == "the m"


def test_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"ids must hold ids in 0..4, got values in 0..5"):
        CharRNN(5, 2, 3)(torch.tensor([[0, 5]]))


def test_rejects_1d_ids():
    with pytest.raises(
        ValueError, match=r"ids must have 2 dimensions, got 1 \(shape \(3,\)\); expected shape \(B, T\)"
    ):
        CharRNN(5, 2, 3)(torch.tensor([0, 1, 2]))


def test_rejects_a_2d_initial_state():
    with pytest.raises(ValueError, match=r"h0 must have 3 dimensions, got 2.*expected shape \(L, B, H\)"):
        CharRNN(5, 2, 3)(torch.tensor([[0, 1]]), torch.zeros(1, 3))


def test_step_rejects_ids_instead_of_embedded_inputs():
    with pytest.raises(ValueError, match=r"x_t must have 2 dimensions, got 1.*expected shape \(B, D\)"):
        CharRNN(5, 2, 3).step(torch.zeros(2), None)


def test_step_rejects_a_state_of_another_dtype():
    with pytest.raises(
        TypeError, match=r"h has dtype torch.float64 but the model's parameters are torch.float32"
    ):
        CharRNN(5, 2, 3, dtype=torch.float32).step(
            torch.zeros(1, 2), torch.zeros(1, 1, 3, dtype=torch.float64)
        )


def test_next_input_rejects_tokens_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"token must hold ids in 0..4, got values in 0..7"):
        CharRNN(5, 2, 3).next_input(torch.tensor([0, 7]))


def test_rejects_vocab_of_another_size():
    with pytest.raises(ValueError, match="vocab has 3 characters but vocab_size=5"):
        CharRNN(5, 2, 3, vocab=Vocab("abc"))


def test_generate_needs_a_vocab_and_a_string():
    with pytest.raises(
        TypeError, match="generate reads a str prefix with the model's vocabulary, got str with vocab=None"
    ):
        CharRNN(5, 2, 3).generate("ab", 3)
    with pytest.raises(TypeError, match="got list with vocab=set"):
        CharRNN(3, 2, 3, vocab=Vocab("abc")).generate([0, 1], 3)


def test_bits_per_char_of_non_finite_logits_is_nan():
    assert math.isnan(bits_per_char(torch.full((2, 3), float("nan")), torch.tensor([0, 1])).item())


def test_bits_per_char_rejects_mismatched_target():
    with pytest.raises(ValueError, match=r"got y \(2, 3, 4\) and target \(2, 4\)"):
        bits_per_char(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.int64))


def test_bits_per_char_rejects_float_target():
    with pytest.raises(TypeError, match="target must hold integer ids"):
        bits_per_char(torch.zeros(2, 4), torch.zeros(2))


def test_unigram_rejects_ids_beyond_vocab_size():
    with pytest.raises(ValueError, match=r"ids must lie in 0..1, got values in 0..2"):
        unigram_entropy(np.array([0, 2]), vocab_size=2)


def test_unigram_rejects_an_empty_stream():
    with pytest.raises(ValueError, match="ids must hold at least one id, got an empty array"):
        unigram_entropy(np.array([], dtype=np.int64))


def test_unigram_bpc_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha must be > 0.0, got 0.0"):
        unigram_bpc(np.array([0]), np.array([0]), 1, alpha=0)


def test_evaluate_rejects_too_short_stream():
    with pytest.raises(ValueError, match="ids has 5 characters, too few for batch_size=16: need at least 17"):
        evaluate_bpc(CharRNN(5, 2, 3), np.arange(5))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_char_models_train_evaluate_and_decode(cell):
    """CharRNN with a gated cell (chapter 11): fit lowers the loss, evaluate_bpc carries the state (the LSTM's
    pair) from chunk to chunk, and sampling.decode drives it."""
    from rnncourse.sampling import decode

    vocab = Vocab(TEXT)
    ids = vocab.encode(TEXT)
    model = CharRNN(len(vocab), 8, 16, num_layers=2, vocab=vocab, seed=0, cell=cell)
    assert model.rnn.cell == cell
    before = evaluate_bpc(model, ids[:300], batch_size=4, seq_len=16)
    history = training.fit(
        model,
        training.random_windows(ids, 16, 24, seed=0),
        torch.optim.Adam(model.parameters(), lr=1e-2),
        steps=60,
        loss_fn=training.supervised(bits_per_char),
    )
    assert np.mean(history.loss[-5:]) < 0.8 * np.mean(history.loss[:5])
    assert evaluate_bpc(model, ids[:300], batch_size=4, seq_len=16) < before
    y, h = model(torch.as_tensor(ids[None, :10]), return_state=True)
    y2 = model(torch.as_tensor(ids[None, 5:10]), model(torch.as_tensor(ids[None, :5]), return_state=True)[1])
    torch.testing.assert_close(y2, y[:, 5:], rtol=0, atol=1e-5)
    start = model.next_input(torch.as_tensor(ids[:2]))
    tokens = decode(model, start, 12, temperature=0.5, seed=1)
    assert tokens.shape == (2, 12) and torch.equal(tokens, decode(model, start, 12, temperature=0.5, seed=1))
    assert len(model.generate("t", 20, temperature=0.0)) == 20


def test_lstm_sample_after_a_prefix_passes_the_pair_state_to_decode():
    vocab = Vocab(TEXT)
    model = CharRNN(len(vocab), 8, 16, vocab=vocab, seed=0, cell="lstm")
    assert len(model.generate("the ", 10)) == 10
