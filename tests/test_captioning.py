"""Tests of rnncourse.captioning: scenes and grammar, the encoder-decoder, teacher forcing, greedy decoding,
the accuracy measures, the majority-word fallback measure and a short training run."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from rnncourse.captioning import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    WORDS,
    Captioner,
    CNNEncoder,
    attribute_words,
    caption_accuracy,
    caption_text,
    decode_caption,
    encode_caption,
    fallback_rates,
    majority_word,
    make_scenes,
    train_captioner,
)

END = WORDS.index("<end>")
PAD = WORDS.index("<pad>")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(200, ambiguous_fraction=0.3, noise=0.0, seed=0)


# ------------------------------------------------------------------------------------------------ scenes


def test_scene_arrays(scenes):
    assert scenes.images.shape == (200, 32, 32, 3) and scenes.images.dtype == np.float32
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1
    assert scenes.tokens.shape == (200, 8) and scenes.tokens.dtype == np.int64
    assert (scenes.tokens[:, -1] == END).all()
    assert len(scenes) == 200 and len(scenes[:5]) == 5 and scenes[3].captions == [scenes.captions[3]]


def test_captions_follow_the_grammar(scenes):
    for i in range(len(scenes)):
        s, c, z, p = (
            SHAPES[scenes.shape[i]],
            COLOURS[scenes.colour[i]],
            SIZES[scenes.size[i]],
            POSITIONS[scenes.position[i]],
        )
        prep = "on" if p in ("left", "right") else "at"
        assert scenes.captions[i] == f"a {z} {c} {s} {prep} the {p}"
        assert decode_caption(scenes.tokens[i]) == scenes.captions[i]
    assert caption_text("circle", "red", "small", "left") == "a small red circle on the left"
    assert caption_text("triangle", "blue", "large", "top") == "a large blue triangle at the top"


def test_pixels_show_the_attributes(scenes):
    """Without noise: the shape has its colour (grey when ambiguous), its size and its position."""
    from rnncourse.captioning import _GREY, _RGB

    background = np.isclose(scenes.images, 0.1).all(-1)
    for i in range(len(scenes)):
        mask = ~background[i]
        pixels = scenes.images[i][mask]
        expected = _GREY if scenes.ambiguous[i] else _RGB[COLOURS[scenes.colour[i]]]
        assert np.allclose(pixels, expected, atol=1e-6)
        rows, cols = np.nonzero(mask)
        position = POSITIONS[scenes.position[i]]
        centre = {
            "left": cols.mean() < 13,
            "right": cols.mean() > 18,
            "top": rows.mean() < 14,
            "bottom": rows.mean() > 17,
        }
        assert centre[position]
        area = mask.sum()
        assert (area > 60) if SIZES[scenes.size[i]] == "large" else (area < 90)


def test_scenes_are_seeded_and_frequencies_follow_colour_probs():
    a, b = make_scenes(5, seed=3), make_scenes(5, seed=3)
    assert np.array_equal(a.images, b.images) and a.captions == b.captions
    s = make_scenes(4000, colour_probs=(0.7, 0.1, 0.1, 0.1), ambiguous_fraction=0.25, seed=1)
    assert abs((s.colour == 0).mean() - 0.7) < 0.03 and abs(s.ambiguous.mean() - 0.25) < 0.03
    assert majority_word(s, "colour") == "red"


def test_encode_decode_caption():
    ids = encode_caption("a small red circle on the left")
    assert ids.dtype == np.int64 and ids[-1] == END and len(ids) == 8
    assert decode_caption(ids) == "a small red circle on the left"
    assert decode_caption(np.concatenate([ids, [PAD, PAD]])) == "a small red circle on the left"
    assert (
        decode_caption(torch.as_tensor([WORDS.index("<start>"), WORDS.index("a"), END, WORDS.index("red")]))
        == "a"
    )


def test_encode_caption_names_unknown_words():
    with pytest.raises(ValueError, match=r"'purple' \(word 2\), 'blob' \(word 3\)"):
        encode_caption("a small purple blob")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ambiguous_fraction": 1.5}, r"ambiguous_fraction must be a number in \[0, 1\], got 1.5"),
        ({"noise": -0.1}, "noise must be a number >= 0, got -0.1"),
        ({"colour_probs": (1, 0)}, r"colour_probs must be 4 non-negative numbers .* got \(1, 0\)"),
        ({"colour_probs": (1, -1, 0, 1)}, "colour_probs must be 4 non-negative numbers"),
    ],
)
def test_make_scenes_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_scenes(3, **kwargs)


def test_caption_text_rejects_unknown_shape():
    with pytest.raises(ValueError, match="shape must be one of .* got 'hexagon'"):
        caption_text("hexagon", "red", "small", "left")


# ------------------------------------------------------------------------------------------------ model


def test_encoder_and_initial_state(scenes):
    model = Captioner(6, 10, 12, num_layers=2, channels=(4, 8), dtype=torch.float64, seed=0)
    v = model.encoder(scenes.images[:3])
    assert v.shape == (3, 12) and (v >= 0).all()
    h0 = model.init_state(scenes.images[:3])
    assert h0.shape == (2, 3, 10)
    expected = (v @ model.W_ih.T + model.b_i).reshape(3, 2, 10).transpose(0, 1)
    assert torch.allclose(h0, expected, atol=1e-12)


def test_teacher_forcing_is_causal(scenes):
    model = Captioner(6, 10, 12, channels=(4, 8), dtype=torch.float64, seed=1)
    inputs = torch.as_tensor(scenes.tokens[:4]).clone()
    a = model(scenes.images[:4], inputs)
    inputs[:, 5] = WORDS.index("blue")
    b = model(scenes.images[:4], inputs)
    assert a.shape == (4, 8, len(WORDS))
    assert torch.allclose(a[:, :5], b[:, :5]) and not torch.allclose(a[:, 5:], b[:, 5:])


def test_decoder_recurrence_by_hand(scenes):
    """h_t = h_{t-1} + tanh(W_hh h_{t-1} + W_xh x_t + b_h) from h_0 = W_ih v + b_i; y_t = W_hy h_t + b_y."""
    model = Captioner(5, 7, 9, channels=(4, 8), dtype=torch.float64, seed=2)
    tokens = torch.as_tensor(scenes.tokens[:2])
    logits = model(scenes.images[:2], tokens)
    cell = model.rnn.cells[0]
    h = model.init_state(scenes.images[:2])[0]
    for t in range(tokens.shape[1]):
        x = model.W_embed[tokens[:, t]]
        h = h + torch.tanh(h @ cell.W_hh.T + x @ cell.W_xh.T + cell.b_h)
        assert torch.allclose(logits[:, t], h @ model.W_hy.T + model.b_y, atol=1e-12)


def test_greedy_decode_matches_argmax_of_teacher_forcing_on_its_own_output(scenes):
    model = Captioner(6, 10, 12, channels=(4, 8), dtype=torch.float64, seed=3)
    pred = model.greedy_decode(scenes.images[:6], max_len=8)
    assert pred.shape == (6, 8)
    start = torch.full((6, 1), WORDS.index("<start>"))
    logits = model(scenes.images[:6], torch.cat([start, pred[:, :-1]], 1))
    for i in range(6):
        row = pred[i].tolist()
        n = row.index(END) + 1 if END in row else 8
        assert row[:n] == logits[i, :n].argmax(-1).tolist()
        assert all(w == PAD for w in row[n:])
    assert len(model.caption(scenes.images[:6])) == 6


def test_same_seed_same_model():
    a, b = Captioner(seed=7), Captioner(seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_encoder_rejects_grayscale_images():
    with pytest.raises(ValueError, match=r"images has size 1 along axis 3 .* channels last"):
        CNNEncoder()(np.zeros((2, 32, 32, 1), dtype=np.float32))


def test_encoder_rejects_wrong_size():
    with pytest.raises(ValueError, match=r"images must be 32 x 32"):
        CNNEncoder()(np.zeros((2, 16, 16, 3), dtype=np.float32))


def test_forward_rejects_one_caption_too_many(scenes):
    with pytest.raises(
        ValueError, match="tokens_in has size 3 along axis 0.*expected 2. Pass one caption per image"
    ):
        Captioner(seed=0)(scenes.images[:2], scenes.tokens[:3])


# ------------------------------------------------------------------------------------------------ measures


def test_caption_accuracy_oracles():
    target = np.stack(
        [encode_caption("a small red circle on the left"), encode_caption("a large blue square at the top")]
    )
    assert caption_accuracy(target, target) == {"exact": 1.0, "per_word": 1.0}
    pred = target.copy()
    pred[1, 2] = WORDS.index("red")  # one wrong word of 16
    assert caption_accuracy(pred, target) == {"exact": 0.5, "per_word": 15 / 16}
    short = target[:, :4]  # missing words count as wrong
    assert caption_accuracy(short, target) == {"exact": 0.0, "per_word": 0.5}
    padded = np.concatenate([target, np.full((2, 2), PAD)], 1)  # extra pads after <end> are ignored
    assert caption_accuracy(padded, target)["exact"] == 1.0


def test_caption_accuracy_rejects_mismatched_counts():
    with pytest.raises(ValueError, match="pred_ids has size 1 along axis 0"):
        caption_accuracy(np.zeros((1, 8), dtype=np.int64), np.zeros((2, 8), dtype=np.int64))


def test_fallback_rates_oracle():
    s = make_scenes(40, ambiguous_fraction=0.5, seed=4)
    truth = [COLOURS[c] for c in s.colour]
    # a "model" that says red on every ambiguous scene and the true colour otherwise
    captions = [
        caption_text(
            SHAPES[s.shape[i]],
            "red" if s.ambiguous[i] else truth[i],
            SIZES[s.size[i]],
            POSITIONS[s.position[i]],
        )
        for i in range(40)
    ]
    pred = np.stack([encode_caption(c) for c in captions])
    assert attribute_words(pred, "colour") == ["red" if s.ambiguous[i] else truth[i] for i in range(40)]
    rates = fallback_rates(pred, s, "red")
    assert rates["ambiguous"] == 1.0
    clear = ~s.ambiguous
    assert rates["clear"] == pytest.approx((s.colour[clear] == 0).mean()) == rates["true_clear"]
    assert rates["accuracy_clear"] == 1.0
    assert rates["accuracy_ambiguous"] == pytest.approx((s.colour[s.ambiguous] == 0).mean())


def test_fallback_rates_rejects_a_word_of_another_attribute(scenes):
    with pytest.raises(ValueError, match="majority must be one of .* got 'circle'"):
        fallback_rates(scenes.tokens, scenes, "circle")


# ------------------------------------------------------------------------------------------------ training


@pytest.mark.slow
def test_short_training_uses_the_image():
    """An image-blind decoder cannot go below about 0.55 nats per word (the entropy of the attributes spread
    over 8 words) nor above about 0.67 per-word accuracy; 200 short steps already do much better."""
    train = make_scenes(1024, seed=5)
    test = make_scenes(300, seed=6)
    model = Captioner(8, 32, 32, channels=(8, 16), seed=0)
    history = train_captioner(model, train, 200, batch_size=32, lr=1e-2, final_lr=1e-3, seed=0)
    assert len(history["loss"]) == 200 and history["stop_reason"] == "steps"
    assert history["lr"][0] == 1e-2 and history["lr"][-1] == pytest.approx(1e-3)
    assert np.mean(history["loss"][-20:]) < 0.45
    acc = caption_accuracy(model.greedy_decode(test.images), test.tokens)
    assert acc["per_word"] > 0.8 and acc["exact"] > 0.2


def test_training_with_fresh_scenes_and_time_cap():
    model = Captioner(4, 8, 8, channels=(2, 4), seed=0)
    history = train_captioner(
        model, functools.partial(make_scenes, ambiguous_fraction=0.5), 10_000, batch_size=4, max_seconds=0.2
    )
    assert history["stop_reason"] == "max_seconds" and 0 < len(history["loss"]) < 10_000


def test_train_rejects_bad_data():
    with pytest.raises(TypeError, match="scenes must be a Scenes .* or a function .* got list"):
        train_captioner(Captioner(seed=0), [1, 2], 1)


def test_train_rejects_bad_final_lr():
    with pytest.raises(ValueError, match="final_lr must be a number > 0 or None, got 0"):
        train_captioner(Captioner(seed=0), make_scenes(4), 1, final_lr=0)


def test_plot_scene_grid(scenes):
    import matplotlib.pyplot as plt

    from rnncourse.plots import plot_scene_grid

    fig = plot_scene_grid(
        scenes.images[:7], scenes.captions[:7], predicted=scenes.captions[:6] + ["a"], ncols=4
    )
    try:
        assert len(fig.axes) == 7
        assert fig.axes[0].get_title().replace("\n", " ") == scenes.captions[0]
        assert fig.axes[6].xaxis.label.get_color() == "#b8322a"  # a wrong caption is drawn in red
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="captions must be a list of 3 strings"):
        plot_scene_grid(scenes.images[:3], scenes.captions[:2])
    with pytest.raises(ValueError, match=r"images must have shape \(n, height, width, 3\)"):
        plot_scene_grid(scenes.images[:3, ..., 0], scenes.captions[:3])
