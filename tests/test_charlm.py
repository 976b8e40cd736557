"""Tests of rnncourse.charlm: the CharRNN against a hand-written recurrence, bits per character, the unigram
baselines, stateful evaluation, a tiny training run, generation and the memory-decay measurement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse.charlm import (
    CharRNN,
    bits_per_char,
    evaluate_bpc,
    memory_decay,
    train_charlm,
    unigram_bpc,
    unigram_entropy,
)
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
    """A small model trained for a few seconds on a periodic text."""
    vocab = Vocab(TEXT)
    ids = vocab.encode(TEXT)
    model = CharRNN(len(vocab), 8, 32, vocab=vocab, seed=0)
    history = train_charlm(model, ids, 150, batch_size=16, seq_len=24, lr=1e-2, val_ids=ids[:300], seed=0)
    return model, vocab, ids, history


def test_forward_matches_a_hand_written_recurrence():
    model = CharRNN(11, 4, 6, num_layers=2, dtype=torch.float64, seed=3)
    ids = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(0))
    h0 = torch.randn(2, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    logits, h_n = model(ids, h0)
    assert logits.shape == (3, 5, 11) and h_n.shape == (2, 3, 6)
    c0, c1 = model.rnn.cells
    h = [h0[0], h0[1]]
    for t in range(5):
        x = model.W_embed[ids[:, t]]  # one-hot times W_embed
        h[0] = torch.tanh(h[0] @ c0.W_hh.T + x @ c0.W_xh.T + c0.b_h)
        h[1] = torch.tanh(h[1] @ c1.W_hh.T + h[0] @ c1.W_xh.T + c1.b_h)
        y = h[1] @ model.W_hy.T + model.b_y
        assert torch.allclose(logits[:, t], y, atol=1e-12)
    assert torch.allclose(h_n, torch.stack(h), atol=1e-12)


def test_embedding_equals_one_hot_product():
    model = CharRNN(5, 3, 4, dtype=torch.float64, seed=0)
    ids = torch.tensor([[0, 4, 2]])
    one_hot = torch.nn.functional.one_hot(ids, 5).double()
    a, _ = model(ids)
    b, _ = model.forward_embedded(one_hot @ model.W_embed)
    assert torch.allclose(a, b, atol=1e-14)


def test_same_seed_same_weights():
    a, b = CharRNN(7, 3, 5, seed=4), CharRNN(7, 3, 5, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = CharRNN(7, 3, 5, seed=5)
    assert not torch.equal(a.W_embed, c.W_embed)


def test_bits_per_char_oracles():
    V = 8
    uniform = torch.zeros(2, 3, V)
    assert float(bits_per_char(uniform, torch.zeros(2, 3, dtype=torch.int64))) == pytest.approx(3.0, abs=1e-6)
    logits = torch.randn(4, V, dtype=torch.float64)
    targets = torch.tensor([0, 3, 7, 1])
    nats = torch.nn.functional.cross_entropy(logits, targets)
    assert float(bits_per_char(logits, targets)) == pytest.approx(float(nats) / math.log(2), abs=1e-12)


def test_unigram_entropy_oracles():
    assert unigram_entropy(np.array([0, 0, 1, 1])) == pytest.approx(1.0, abs=1e-12)
    assert unigram_entropy(np.array([2, 2, 2]), vocab_size=5) == 0.0
    assert unigram_entropy(np.array([0, 1, 2, 3])) == pytest.approx(2.0, abs=1e-12)
    # add-one model fitted on {0, 0, 1}: p = (3/5, 2/5); on [0, 1] the loss is the mean of -log2 p
    expected = -(math.log2(3 / 5) + math.log2(2 / 5)) / 2
    assert unigram_bpc(np.array([0, 0, 1]), np.array([0, 1]), 2) == pytest.approx(expected, abs=1e-12)


def test_unigram_bpc_is_at_least_the_entropy_on_the_same_text():
    ids = Vocab(TEXT).encode(TEXT)
    H = unigram_entropy(ids)
    assert H < unigram_bpc(ids, ids, int(ids.max()) + 1) < H + 0.05


def test_evaluate_bpc_carries_the_state_across_chunks():
    model = CharRNN(6, 3, 8, dtype=torch.float64, seed=1)
    ids = torch.randint(0, 6, (101,), generator=torch.Generator().manual_seed(0))
    logits, _ = model(ids[None, :-1])
    whole = bits_per_char(logits, ids[None, 1:]).item()
    assert evaluate_bpc(model, ids, batch_size=1, seq_len=7) == pytest.approx(whole, abs=1e-10)
    assert evaluate_bpc(model, ids, batch_size=1, seq_len=100) == pytest.approx(whole, abs=1e-10)


def test_tiny_training_beats_the_unigram_entropy(trained):
    model, vocab, ids, history = trained
    H1 = unigram_entropy(ids, len(vocab))
    assert len(history["loss"]) == 150 and history["stop_reason"] == "steps"
    assert history["eval_steps"] == [150]
    assert history["eval_bpc"][-1] < H1 - 2.0  # the text is periodic: context makes it nearly predictable
    assert np.mean(history["loss"][-20:]) < history["loss"][0] - 2.0
    assert len(history["grad_norm"]) == len(history["time"]) == 150


def test_generate_is_seeded_and_greedy_continues_the_pattern(trained):
    model, vocab, _, _ = trained
    a = model.generate("the cat ", 40, temperature=1.0, seed=3)
    assert isinstance(a, str) and len(a) == 40 and set(a) <= set(vocab.chars)
    assert a == model.generate("the cat ", 40, temperature=1.0, seed=3)
    assert model.generate("the cat ", 15, temperature=0.0) == "sat on the mat."
    ids = model.generate(vocab.encode("sat on "), 5, temperature=0.0)
    assert isinstance(ids, np.ndarray) and vocab.decode(ids) == "the m"


def test_prime_returns_the_state_after_the_prefix(trained):
    model, vocab, _, _ = trained
    h, logits = model.prime("the mat")
    full, h_n = model(torch.as_tensor(vocab.encode("the mat"))[None])
    assert torch.allclose(h, h_n) and torch.allclose(logits, full[:, -1])
    assert vocab.chars[int(logits.argmax())] == "."


def test_callbacks_see_every_step():
    vocab = Vocab(TEXT)
    seen = []
    model = CharRNN(len(vocab), 4, 8, seed=0)
    train_charlm(
        model, vocab.encode(TEXT), 3, batch_size=2, seq_len=5, callbacks=[lambda s, m, h: seen.append(s)]
    )
    assert seen == [1, 2, 3]


def test_time_cap_stops_early():
    vocab = Vocab(TEXT)
    model = CharRNN(len(vocab), 4, 8, seed=0)
    history = train_charlm(model, vocab.encode(TEXT), 10_000, batch_size=2, seq_len=5, max_seconds=0.05)
    assert history["stop_reason"] == "max_seconds" and len(history["loss"]) < 10_000


def test_memory_decay_of_a_linear_rnn_halves_every_step():
    """With h_t = 0.5 h_{t-1} + W_xh x_t, d log p / d x_{t-k} = W_xh^T (0.5)^k g: s(k) = 0.5^k s(0)."""
    model = CharRNN(9, 5, 5, nonlinearity="linear", dtype=torch.float64, seed=0)
    with torch.no_grad():
        model.rnn.cells[0].W_hh.copy_(0.5 * torch.eye(5, dtype=torch.float64))
    ids = np.random.default_rng(0).integers(0, 9, 500)
    out = memory_decay(model, ids, k_max=12, n_positions=16, warmup=10)
    assert out["k"].tolist() == list(range(13))
    assert np.allclose(out["relative"], 0.5 ** np.arange(13), rtol=1e-9)
    assert out["half_life"] == pytest.approx(1.0, abs=1e-9)
    assert out["sensitivity"][0] > 0


def test_memory_decay_of_the_trained_model_decreases(trained):
    model, _, ids, _ = trained
    out = memory_decay(model, ids, k_max=20, n_positions=32, warmup=20, seed=1)
    s = out["sensitivity"]
    assert s.shape == (21,) and out["relative"][0] == 1.0
    assert s[0] > 10 * s[-1]
    assert 0 < out["half_life"] < 20


def test_memory_decay_without_warmup_and_never_halving():
    model = CharRNN(4, 3, 3, nonlinearity="linear", dtype=torch.float64, seed=0)
    with torch.no_grad():
        model.rnn.cells[0].W_hh.copy_(torch.eye(3, dtype=torch.float64))
    out = memory_decay(model, np.arange(40) % 4, k_max=5, n_positions=4, warmup=0)
    assert np.allclose(out["relative"], 1.0) and math.isinf(out["half_life"])


def test_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"ids must lie in 0..4 \(vocab_size=5\), got values in 0..5"):
        CharRNN(5, 2, 3)(torch.tensor([[0, 5]]))


def test_rejects_1d_ids():
    with pytest.raises(ValueError, match=r"ids must have 2 dimensions, got 1 \(shape \(3,\)\)"):
        CharRNN(5, 2, 3)(torch.tensor([0, 1, 2]))


def test_rejects_vocab_of_another_size():
    with pytest.raises(ValueError, match="vocab has 3 characters but vocab_size=5"):
        CharRNN(5, 2, 3, vocab=Vocab("abc"))


def test_string_prefix_needs_a_vocab():
    with pytest.raises(ValueError, match="a string prefix needs the model's vocabulary, got vocab=None"):
        CharRNN(5, 2, 3).generate("ab", 3)


def test_rejects_empty_prefix():
    with pytest.raises(ValueError, match=r"prefix must hold at least one character, got shape \(0,\)"):
        CharRNN(5, 2, 3).prime([])


def test_bits_per_char_rejects_mismatched_targets():
    with pytest.raises(ValueError, match=r"got logits \(2, 3, 4\) and targets \(2, 4\)"):
        bits_per_char(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.int64))


def test_unigram_rejects_ids_beyond_vocab_size():
    with pytest.raises(ValueError, match=r"ids must lie in 0..1, got values in 0..2"):
        unigram_entropy(np.array([0, 2]), vocab_size=2)


def test_unigram_bpc_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha must be a number > 0, got 0"):
        unigram_bpc(np.array([0]), np.array([0]), 1, alpha=0)


def test_evaluate_rejects_too_short_stream():
    with pytest.raises(ValueError, match="ids has 5 characters, too few for batch_size=16: need at least 17"):
        evaluate_bpc(CharRNN(5, 2, 3), np.arange(5))


def test_train_rejects_too_short_stream():
    with pytest.raises(ValueError, match="ids has 10 characters, need at least seq_len \\+ 2 = 66"):
        train_charlm(CharRNN(10, 2, 3), np.arange(10), 1)


def test_train_rejects_bad_learning_rate():
    with pytest.raises(ValueError, match="lr must be a number > 0, got -0.1"):
        train_charlm(CharRNN(10, 2, 3), np.arange(100) % 10, 1, lr=-0.1)


def test_train_rejects_other_models():
    with pytest.raises(TypeError, match="model must be a CharRNN, got Linear"):
        train_charlm(torch.nn.Linear(2, 2), np.arange(100) % 10, 1)


def test_memory_decay_rejects_too_short_stream():
    with pytest.raises(ValueError, match=r"need more than warmup \+ k_max \+ 1 = 30"):
        memory_decay(CharRNN(5, 2, 3), np.arange(30) % 5, k_max=9, warmup=20)


# ------------------------------------------------------------------------------------------------ figures


def test_plot_memory_decay_draws_the_relative_curve():
    import matplotlib.pyplot as plt

    from rnncourse.plots import plot_memory_decay

    fig = plot_memory_decay(np.arange(5), 2.0 * 0.5 ** np.arange(5), half_life=1.0)
    try:
        (line,) = [l for l in fig.axes[0].lines if len(l.get_xdata()) == 5]
        assert np.allclose(line.get_ydata(), 0.5 ** np.arange(5))
        assert fig.axes[0].get_yscale() == "log"
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="sensitivity has 3 values but k has 5"):
        plot_memory_decay(np.arange(5), [1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match=r"sensitivity\[0\] must be > 0"):
        plot_memory_decay(np.arange(2), [0.0, 0.5])


def test_plot_char_distribution_sorts_bars():
    import matplotlib.pyplot as plt

    from rnncourse.plots import plot_char_distribution

    fig = plot_char_distribution(["a", " ", "\n"], [0.2, 0.5, 0.3], top=2, text="a b\nc")
    try:
        ax = fig.axes[0]
        assert [p.get_height() for p in ax.patches] == [0.5, 0.3]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["␣", "⏎"]
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="probs has 2 entries but chars has 3"):
        plot_char_distribution(["a", "b", "c"], [0.5, 0.5])


def test_temperature_widget_and_figure(trained):
    import matplotlib.pyplot as plt

    from rnncourse.widgets import temperature_figure, temperature_widget

    model, _, _, _ = trained
    fig = temperature_figure(model, "the ", temperature=0.5, top_k=3, length=20)
    try:
        assert "top-3" in fig.axes[0].get_title()
        assert sum(p.get_height() > 0 for p in fig.axes[0].patches) <= 3
    finally:
        plt.close(fig)
    w = temperature_widget(model, "the ", length=20)
    sliders = {c.description: c for c in w.children[:-1]}
    assert set(sliders) == {"temperature", "top_k"}
    sliders["temperature"].value = 1.5  # redraws
    assert w.children[-1].outputs[0]["output_type"] == "display_data"
    with pytest.raises(ValueError, match="model must carry its vocabulary"):
        temperature_figure(CharRNN(5, 2, 3), "ab")
