"""Tests of rnncourse.captioning: scenes and grammar, the encoder and the one decoder, teacher forcing,
greedy decoding, the masked loss, the accuracy measures, the majority-word fallback and a short training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rnncourse import training
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
    caption_loss,
    caption_text,
    decode_caption,
    encode_caption,
    fallback_rates,
    majority_word,
    make_scenes,
    scene_batches,
)
from rnncourse.sampling import decode
from rnncourse.topologies import OneToMany

END = WORDS.index("<end>")
PAD = WORDS.index("<pad>")
START = WORDS.index("<start>")


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


def test_fade_blends_the_colour_toward_grey():
    """fade=f draws every shape in (1 - f) * its colour + f * grey; the rest of the scene is unchanged."""
    from rnncourse.captioning import _GREY, _RGB

    plain = make_scenes(30, noise=0.0, seed=4)
    assert np.array_equal(make_scenes(30, noise=0.0, seed=4, fade=0.0).images, plain.images)
    for f in (0.25, 1.0):
        faded = make_scenes(30, noise=0.0, seed=4, fade=f)
        shape = ~np.isclose(plain.images, 0.1).all(-1)  # the shape's pixels
        assert np.array_equal(shape, ~np.isclose(faded.images, 0.1).all(-1))
        for i in range(30):
            rgb = (1 - f) * np.array(_RGB[COLOURS[plain.colour[i]]]) + f * np.array(_GREY)
            assert np.allclose(faded.images[i][shape[i]], rgb, atol=1e-6)
        assert faded.captions == plain.captions


def test_generic_and_short_captions():
    from rnncourse.captioning import GENERIC

    s = make_scenes(4000, generic_fraction=0.3, short=True, seed=5)
    generic = np.array([c == GENERIC for c in s.captions])
    assert abs(generic.mean() - 0.3) < 0.03
    for i in np.flatnonzero(~generic)[:50]:
        assert s.captions[i] == f"a {COLOURS[s.colour[i]]} {SHAPES[s.shape[i]]}"
    assert s.tokens.shape == (4000, 6)  # "a picture of a shape <end>"; "a red circle <end> <pad> <pad>"
    assert (s.tokens[~generic, 4:] == PAD).all() and (s.tokens[~generic, 3] == END).all()
    assert all(decode_caption(t) == c for t, c in zip(s.tokens[:50], s.captions[:50], strict=True))
    full = make_scenes(200, generic_fraction=0.5, seed=6)  # the full grammar, padded to 8 tokens
    assert full.tokens.shape == (200, 8) and GENERIC in full.captions
    assert np.array_equal(full.images, make_scenes(200, seed=6).images)  # captions only: same images
    assert make_scenes(20, generic_fraction=1.0, seed=0).captions == [GENERIC] * 20
    with pytest.raises(TypeError, match="short must be True or False"):
        make_scenes(3, short="yes")


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
        ({"noise": -0.1}, r"noise must be >= 0.0, got -0.1"),
        ({"colour_probs": (1, 0)}, r"colour_probs must be 4 non-negative numbers .* got \(1, 0\)"),
        ({"colour_probs": (1, -1, 0, 1)}, "colour_probs must be 4 non-negative numbers"),
        ({"fade": 1.5}, r"fade must be a number in \[0, 1\], got 1.5"),
        ({"generic_fraction": -0.1}, r"generic_fraction must be a number in \[0, 1\], got -0.1"),
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


def test_the_decoder_is_a_vanilla_one_to_many_fed_its_output(scenes):
    model = Captioner(6, 10, 12, channels=(4, 8), dtype=torch.float64, seed=1)
    assert isinstance(model.decoder, OneToMany) and model.decoder.feed == "output"
    assert model.decoder.W_embed.shape == (len(WORDS), 6) and not model.decoder.rnn.skip
    assert torch.equal(model.start_input(3), model.decoder.W_embed[[START] * 3])


def test_decoder_recurrence_by_hand(scenes):
    """h_0 = W_ih v + b_i; h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h) with x_1 = e(<start>), x_t = e(w_{t-1});
    y_t = W_hy h_t + b_y."""
    model = Captioner(5, 7, 9, channels=(4, 8), dtype=torch.float64, seed=2)
    target = torch.as_tensor(scenes.tokens[:2])
    y = model(scenes.images[:2], target)
    dec, cell = model.decoder, model.decoder.rnn.cells[0]
    inputs = torch.cat([torch.full((2, 1), START), target[:, :-1]], 1)
    h = model.init_state(scenes.images[:2])[0]
    for t in range(target.shape[1]):
        x = dec.W_embed[inputs[:, t]]
        h = torch.tanh(h @ cell.W_hh.T + x @ cell.W_xh.T + cell.b_h)
        assert torch.allclose(y[:, t], h @ dec.W_hy.T + dec.b_y, atol=1e-12)
    assert torch.equal(model.forward_train(scenes.images[:2], target, 1.0), y)


def test_teacher_forcing_is_causal(scenes):
    model = Captioner(6, 10, 12, channels=(4, 8), dtype=torch.float64, seed=1)
    target = torch.as_tensor(scenes.tokens[:4]).clone()
    a = model(scenes.images[:4], target)
    target[:, 4] = WORDS.index("blue")  # read at step 5 only
    b = model(scenes.images[:4], target)
    assert a.shape == (4, 8, len(WORDS))
    assert torch.equal(a[:, :5], b[:, :5]) and not torch.allclose(a[:, 5:], b[:, 5:])


def test_greedy_decode_is_sampling_decode_of_the_decoder(scenes):
    model = Captioner(6, 10, 12, channels=(4, 8), dtype=torch.float64, seed=3)
    with torch.no_grad():
        model.decoder.b_y[END] += 2.0  # make some captions end early
    pred = model.greedy_decode(scenes.images[:6], max_len=8)
    h0 = model.init_state(scenes.images[:6])
    ids = decode(model.decoder, model.start_input(6), 8, h0=h0)
    assert torch.equal(model(scenes.images[:6]).argmax(-1), ids)  # free-running forward: the same words
    for row, full in zip(pred.tolist(), ids.tolist(), strict=True):
        n = full.index(END) + 1 if END in full else 8
        assert row[:n] == full[:n] and all(w == PAD for w in row[n:])
    assert any(END in row[:-1] for row in pred.tolist())
    assert model.caption(scenes.images[:6]) == [decode_caption(row) for row in pred]


def test_caption_loss_is_cross_entropy_without_pads():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(3, 5, len(WORDS), dtype=torch.float64, generator=g)
    target = torch.randint(3, len(WORDS), (3, 5), generator=g)
    assert torch.allclose(caption_loss(y, target), F.cross_entropy(y.reshape(15, -1), target.reshape(15)))
    padded = target.clone()
    padded[0, 3:] = PAD
    keep = padded != PAD
    assert torch.allclose(caption_loss(y, padded), F.cross_entropy(y[keep], target[keep]))


def test_scene_batches_are_fresh_and_seeded():
    a, b = scene_batches(4, seed=1, ambiguous_fraction=0.5), scene_batches(4, seed=1, ambiguous_fraction=0.5)
    (x1, t1), (x2, _), (y1, _) = next(a), next(a), next(b)
    assert x1.shape == (4, 32, 32, 3) and t1.shape == (4, 8) and t1.dtype == torch.int64
    assert torch.equal(x1, y1) and not torch.equal(x1, x2)


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
        ValueError, match="target has size 3 along axis 0.*expected 2. Pass one caption per image"
    ):
        Captioner(seed=0)(scenes.images[:2], scenes.tokens[:3])


def test_caption_loss_rejects_words_outside_the_vocabulary():
    V = len(WORDS)
    with pytest.raises(ValueError, match=rf"target must hold ids in 0..{V - 1}, got values in 0..{V}"):
        caption_loss(torch.zeros(1, 2, V), torch.tensor([[0, V]]))


def test_scene_batches_check_the_scene_options_at_once():
    with pytest.raises(ValueError, match=r"ambiguous_fraction must be a number in \[0, 1\], got 2"):
        scene_batches(4, ambiguous_fraction=2)


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


def _attribute_words(target):
    return target[:, [1, 2, 3, 6]]  # size, colour, shape, position in "a SIZE COLOUR SHAPE on the POSITION"


@pytest.mark.slow
def test_short_training_with_a_pretrained_encoder_uses_the_image():
    """The chapter's recipe, smaller: pretrain the encoder to name the attribute words, freeze it, train the
    decoder with fit on the masked loss and a step-driven LambdaLR. An image-blind decoder cannot go below
    about 0.55 nats per word nor above about 0.64 per-word accuracy."""
    torch.manual_seed(0)
    model = Captioner(8, 32, 32, channels=(8, 16), seed=0)
    V = len(WORDS)
    classifier = torch.nn.Sequential(model.encoder, torch.nn.Linear(32, 4 * V), torch.nn.Unflatten(1, (4, V)))
    batches = ((x, _attribute_words(t)) for x, t in scene_batches(32, seed=1))
    opt = torch.optim.Adam(classifier.parameters(), lr=3e-3)
    training.fit(classifier, batches, opt, steps=150, loss_fn=training.supervised())
    model.encoder.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - 0.9 * i / 300)
    history = training.fit(
        model, scene_batches(32, seed=2), opt, steps=300, clip_norm=5.0,
        loss_fn=training.supervised(caption_loss, teacher_forcing=1.0),
        callbacks=[lambda step, history, model: schedule.step()],
    )  # fmt: skip
    assert len(history) == 300 and history.stop_reason == "steps"
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert np.mean(history.loss[-20:]) < 0.4
    test = make_scenes(300, seed=6)
    acc = caption_accuracy(model.greedy_decode(test.images), test.tokens)
    assert acc["per_word"] > 0.75 and acc["exact"] > 0.1  # image-blind: about 0.64 and 0.02


def test_training_step_through_fit_lowers_the_loss():
    model = Captioner(4, 8, 8, channels=(2, 4), seed=0)
    batch = next(scene_batches(16, seed=0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = training.supervised(caption_loss, teacher_forcing=1.0)
    history = training.fit(model, [batch] * 20, opt, steps=20, loss_fn=loss_fn)
    assert history.loss[-1] < history.loss[0] - 0.5


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_decoders_train_and_start_from_the_image(cell):
    """The decoder's cell is a choice (chapter 11); the LSTM starts from (h_0, 0)."""
    from rnncourse.modules import LSTMState

    model = Captioner(4, 8, 8, channels=(2, 4), seed=0, cell=cell)
    batch = next(scene_batches(16, seed=0))
    h0 = model.init_state(batch[0])
    assert isinstance(h0, LSTMState) == (cell == "lstm") and model.decoder.rnn.cell == cell
    if cell == "lstm":
        assert h0.h.shape == (1, 16, 8) and not h0.c.any()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = training.supervised(caption_loss, teacher_forcing=1.0)
    history = training.fit(model, [batch] * 30, opt, steps=30, loss_fn=loss_fn)
    assert history.loss[-1] < history.loss[0] - 0.5, history.loss
    assert model(batch[0]).shape == (16, 8, len(WORDS))


def test_lstm_greedy_decode_passes_the_pair_state_to_decode():
    model = Captioner(4, 8, 8, channels=(2, 4), seed=0, cell="lstm")
    images = next(scene_batches(4, seed=0))[0]
    assert model.greedy_decode(images).shape == (4, 8)
