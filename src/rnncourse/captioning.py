r"""Image captioning on generated scenes: a CNN encoder and the course's one decoder (chapter 5).

A scene is one shape on a dark, noisy 32 x 32 RGB background, described by its shape, colour, size and
position in a fixed grammar, e.g. ``"a small red circle on the left"``. :class:`Captioner` encodes the image
into a vector ``v`` and starts :class:`rnncourse.topologies.OneToMany` (``feed="output"``) from
``h_0 = W_vh v + b_vh``; greedy captions are :func:`rnncourse.sampling.decode` of that decoder; training is
:func:`rnncourse.training.fit` on the masked cross-entropy :func:`caption_loss`. In a fraction of the scenes
(``ambiguous_fraction``) the shape is grey: the caption names a colour the image does not show, and
:func:`fallback_rates` measures how often the decoder then says the most frequent colour. ``fade`` blends the
colours toward grey and ``generic_fraction`` mixes in the generic caption ``GENERIC`` (chapter 5, last part).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._validate import (
    check_array,
    check_bool,
    check_choice,
    check_dim,
    check_ids,
    check_positive_int,
    check_probability,
    check_real,
    check_seed,
)
from .data import pad_sequences
from .modules import LSTMState
from .sampling import decode
from .topologies import OneToMany

__all__ = [
    "SHAPES", "COLOURS", "SIZES", "POSITIONS", "WORDS", "Scenes", "make_scenes", "scene_batches",
    "caption_text", "encode_caption", "decode_caption", "CNNEncoder", "Captioner", "caption_loss",
    "caption_accuracy", "attribute_words", "majority_word", "fallback_rates", "GENERIC",
]  # fmt: skip

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom")
ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}
#: Default colour frequencies: skewed, so that "red" is the most frequent colour word.
COLOUR_PROBS = (0.5, 0.2, 0.2, 0.1)
PAD, START, END = "<pad>", "<start>", "<end>"
#: The word vocabulary; a word's id is its index.
WORDS = (PAD, START, END, "a", "on", "at", "the", *SIZES, *COLOURS, *SHAPES, *POSITIONS,
         "picture", "of", "shape")  # fmt: skip
GENERIC = "a picture of a shape"  #: the generic caption of ``make_scenes(generic_fraction=...)``
_WORD_ID = {w: i for i, w in enumerate(WORDS)}
#: Number of words of every caption (the grammar is fixed): a SIZE COLOUR SHAPE PREP the POSITION.
CAPTION_WORDS = 7
IMAGE_SIZE = 32
_RGB = {"red": (0.9, 0.15, 0.15), "green": (0.15, 0.8, 0.2), "blue": (0.2, 0.3, 0.95)}
_RGB["yellow"] = (0.95, 0.9, 0.15)
_GREY = (0.55, 0.55, 0.55)
_RADIUS = {"small": 4, "large": 7}
_CENTRE = {"left": (16, 8), "right": (16, 24), "top": (8, 16), "bottom": (24, 16)}  # (row, column)
_BACKGROUND = 0.1


@dataclass
class Scenes:
    """A batch of ``n`` scenes with their captions.

    ``images`` (n, 32, 32, 3) float32, RGB in [0, 1], channels last; ``tokens`` (n, T) int64, the caption's
    word ids followed by ``<end>``, then ``<pad>`` (the decoder's targets; T = 8 for the full grammar);
    ``captions``, n strings; ``shape``, ``colour``, ``size``, ``position`` (n,) int64, indices into
    ``SHAPES``, ``COLOURS``, ``SIZES``, ``POSITIONS``; ``ambiguous`` (n,) bool, True where the shape is grey:
    its colour is named by the caption but invisible.
    """

    images: np.ndarray
    tokens: np.ndarray
    captions: list
    shape: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    position: np.ndarray
    ambiguous: np.ndarray

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index) -> Scenes:
        index = np.arange(len(self))[index]
        captions = [self.captions[i] for i in np.atleast_1d(index)]
        arrays = (self.shape, self.colour, self.size, self.position, self.ambiguous)
        return Scenes(self.images[index], self.tokens[index], captions, *(a[index] for a in arrays))


def caption_text(shape: str, colour: str, size: str, position: str) -> str:
    """The caption ``a SIZE COLOUR SHAPE (on|at) the POSITION`` (``on`` for left/right, ``at`` top/bottom):
    ``caption_text("circle", "red", "small", "left")`` is ``"a small red circle on the left"``."""
    for name, value in zip(ATTRIBUTES, (shape, colour, size, position), strict=True):
        check_choice(name, value, ATTRIBUTES[name])
    prep = "on" if position in ("left", "right") else "at"
    return f"a {size} {colour} {shape} {prep} the {position}"


def encode_caption(caption: str) -> np.ndarray:
    """Word ids (n_words + 1,) int64 of a caption (words in ``WORDS`` separated by spaces) and ``<end>``."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}.")
    words = caption.split()
    unknown = [(i, w) for i, w in enumerate(words) if w not in _WORD_ID]
    if unknown:
        listed = ", ".join(f"{w!r} (word {i})" for i, w in unknown)
        raise ValueError(
            f"caption holds words outside the vocabulary: {listed}; the vocabulary is WORDS = {WORDS}."
        )
    return np.array([_WORD_ID[w] for w in words] + [_WORD_ID[END]], dtype=np.int64)


def decode_caption(ids) -> str:
    """The words of ``ids`` (sequence, ndarray or Tensor of shape (T,)) up to the first ``<end>``, with
    ``<pad>`` and ``<start>`` skipped."""
    ids = np.asarray(ids.detach().cpu() if hasattr(ids, "detach") else ids)
    if ids.size == 0:
        return ""
    ids = check_ids("ids", ids, 1, len(WORDS), shape="(T,)").tolist()
    if _WORD_ID[END] in ids:
        ids = ids[: ids.index(_WORD_ID[END])]
    return " ".join(WORDS[i] for i in ids if WORDS[i] not in (PAD, START))


def make_scenes(
    n: int, *, ambiguous_fraction: float = 0.0, colour_probs=COLOUR_PROBS, noise: float = 0.05, seed: int = 0,
    fade: float = 0.0, generic_fraction: float = 0.0, short: bool = False,
) -> Scenes:  # fmt: skip
    """Draw ``n`` random scenes and their captions (chapter 5).

    ``ambiguous_fraction`` is the probability that a scene's shape is drawn in grey (its colour invisible, yet
    named in the caption); ``colour_probs`` the frequencies of red, green, blue, yellow (normalised; shape,
    size and position are uniform); ``noise`` the standard deviation of the Gaussian pixel noise (pixels are
    clipped to [0, 1]). Returns :class:`Scenes`. The shape is centred 8 pixels from the middle towards its
    position (jittered by up to 2 pixels); a circle has radius 4 (small) or 7 (large), a square that
    half-side, a triangle (apex up) that half-height. ``fade`` blends every shape's colour toward grey by that
    fraction (0: its colour, 1: grey); ``generic_fraction`` is the probability that a caption is ``GENERIC``,
    whatever the image; ``short`` makes the others ``a COLOUR SHAPE``; shorter captions end in ``<pad>``.
    """
    n = check_positive_int("n", n)
    ambiguous_fraction = check_probability("ambiguous_fraction", ambiguous_fraction)
    fade, short = np.float32(check_probability("fade", fade)), check_bool("short", short)
    generic_fraction = check_probability("generic_fraction", generic_fraction)
    rng = np.random.default_rng(check_seed(seed))
    noise = check_real("noise", noise, low=0.0, hint="e.g. noise=0.05.")
    probs = np.asarray(colour_probs, dtype=np.float64)
    valid = np.isfinite(probs).all() and (probs >= 0).all() and probs.sum() > 0
    if probs.shape != (len(COLOURS),) or not valid:
        raise ValueError(
            f"colour_probs must be {len(COLOURS)} non-negative numbers (for {COLOURS}) with a positive sum, "
            f"got {colour_probs!r}."
        )
    shape = rng.integers(0, len(SHAPES), n)
    colour = rng.choice(len(COLOURS), size=n, p=probs / probs.sum())
    size = rng.integers(0, len(SIZES), n)
    position = rng.integers(0, len(POSITIONS), n)
    ambiguous = rng.random(n) < ambiguous_fraction
    jitter = rng.integers(-2, 3, size=(n, 2))

    centre = np.array([_CENTRE[p] for p in POSITIONS])[position] + jitter  # (n, 2): row, column
    r = np.array([_RADIUS[s] for s in SIZES], dtype=np.float32)[size][:, None, None]
    grid = np.arange(IMAGE_SIZE, dtype=np.float32)
    dy = grid[None, :, None] - centre[:, 0, None, None].astype(np.float32)  # (n, 32, 1)
    dx = grid[None, None, :] - centre[:, 1, None, None].astype(np.float32)  # (n, 1, 32)
    masks = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for k, name in enumerate(SHAPES):
        sel = shape == k
        y, x, rk = dy[sel], dx[sel], r[sel]
        if name == "circle":
            masks[sel] = y**2 + x**2 <= rk**2
        elif name == "square":
            masks[sel] = (np.abs(y) <= rk) & (np.abs(x) <= rk)
        else:  # apex at the top, base 2r wide at the bottom
            masks[sel] = (np.abs(y) <= rk) & (np.abs(x) <= (y + rk) / 2)

    rgb = np.array([_RGB[c] for c in COLOURS], dtype=np.float32)[colour]  # (n, 3)
    rgb = (1 - fade) * rgb + fade * np.float32(_GREY)  # faded toward grey
    rgb[ambiguous] = _GREY
    images = np.where(masks[..., None], rgb[:, None, None, :], np.float32(_BACKGROUND))
    images += np.float32(noise) * rng.standard_normal(images.shape, dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)

    captions, generic = [], rng.random(n) < generic_fraction
    for s, c, z, p, g in zip(shape, colour, size, position, generic, strict=True):
        full = caption_text(SHAPES[s], COLOURS[c], SIZES[z], POSITIONS[p])
        captions.append(GENERIC if g else f"a {COLOURS[c]} {SHAPES[s]}" if short else full)
    tokens = pad_sequences([encode_caption(c) for c in captions], pad=_WORD_ID[PAD])[0]
    return Scenes(images, tokens, captions, shape, colour, size, position, ambiguous)


def scene_batches(batch_size: int, *, seed: int = 0, **scene_options):
    """Fresh scenes forever, a batch source for :func:`rnncourse.training.fit`: tensors ``(images (B, 32, 32,
    3), target (B, 8) int64)`` of ``make_scenes(batch_size, seed=s, **scene_options)``, a new seed ``s``
    drawn from ``seed`` for every batch, so that training never sees the same scene twice."""
    batch_size = check_positive_int("batch_size", batch_size)
    make_scenes(1, **scene_options)  # check the options now, not at the first batch
    seeds = np.random.default_rng(check_seed(seed))

    def generate():
        while True:
            s = make_scenes(batch_size, seed=int(seeds.integers(2**63 - 1)), **scene_options)
            yield torch.from_numpy(s.images), torch.from_numpy(s.tokens)

    return generate()


class CNNEncoder(nn.Module):
    r"""A small convolutional encoder: image (B, 32, 32, 3) -> vector ``v`` (B, E).

    Two 4x4 convolutions with stride 2, each followed by a ReLU (32 -> 16 -> 8 pixels), then an affine layer
    and a ReLU on the flattened feature map. Flattening (rather than global pooling) keeps *where* the
    features are, which the position words need. ``image_dim`` is ``E``; ``channels`` the channels of the
    two convolutions. Chapter 5.
    """

    def __init__(self, image_dim: int = 64, channels=(16, 32), dtype: torch.dtype | None = None):
        super().__init__()
        self.image_dim = check_positive_int("image_dim", image_dim)
        if len(tuple(channels)) != 2:
            raise ValueError(f"channels must hold 2 integers, got {channels!r}; e.g. channels=(16, 32).")
        c1, c2 = (check_positive_int("channels", c) for c in channels)
        self.conv1 = nn.Conv2d(3, c1, 4, stride=2, padding=1, dtype=dtype)  # 32 -> 16 pixels
        self.conv2 = nn.Conv2d(c1, c2, 4, stride=2, padding=1, dtype=dtype)  # 16 -> 8 pixels
        self.fc = nn.Linear(c2 * (IMAGE_SIZE // 4) ** 2, self.image_dim, dtype=dtype)
        for layer in (self.conv1, self.conv2, self.fc):  # He initialisation: keeps the signal's scale
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, images) -> torch.Tensor:
        """The image vectors ``v`` (B, E) of ``images`` (Tensor or ndarray, shape (B, 32, 32, 3))."""
        images = torch.as_tensor(images)
        check_array("images", images, 4, shape="(B, 32, 32, 3)")
        check_dim("images", images, 3, 3, "images must be RGB, channels last: shape (B, 32, 32, 3).")
        x = images.to(self.fc.weight).permute(0, 3, 1, 2)
        check_dim("images", x, 2, IMAGE_SIZE, "images must be 32 x 32: shape (B, 32, 32, 3).")
        x = (x - 0.5) / 0.5  # pixels from [0, 1] to [-1, 1]
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return F.relu(self.fc(x.flatten(1)))


class Captioner(nn.Module):
    r"""CNN encoder + the one-to-many decoder, whose initial state is a projection of the image vector.

    ``embed_dim`` is ``D``, the size of the word embeddings (the decoder's input size); ``hidden_size``
    ``H``; ``image_dim`` ``E``, the size of the image vector ``v``; ``num_layers`` ``L``, decoder layers, each
    with its own initial state from ``v``; ``channels`` those of the encoder's convolutions; ``seed`` seeds
    the initial weights (torch's global generator when None); ``cell`` the decoder's cell (``"rnn"``,
    ``"lstm"``, whose initial state is ``(h_0, 0)``, or ``"gru"``; chapter 11).

    Attributes: ``encoder`` (:class:`CNNEncoder`), ``W_ih`` (L H, E) and ``b_i`` (L H,) (the :math:`W_{vh}`,
    :math:`b_{vh}` of chapter 5), ``decoder``, a :class:`~rnncourse.topologies.OneToMany` (``feed="output"``):
    ``decoder.W_embed`` (V, D), ``decoder.rnn``, ``decoder.W_hy`` (V, H), ``decoder.b_y``, ``V = len(WORDS)``.

    Notes
    -----
    Chapter 5. For an image :math:`\mathcal{I}`, with :math:`w_0 = \langle start \rangle` and
    :math:`x_t = W_{embed}[w_{t-1}]`,

    .. math:: v = \mathrm{CNN}(\mathcal{I}), \quad h_0 = W_{vh} v + b_{vh}, \quad
              h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \quad
              p(w_t \mid w_{<t}, \mathcal{I}) = \mathrm{softmax}(W_{hy} h_t + b_y).

    The initial state from a projection of the CNN features is the design of CS231n's captioning
    assignment; Show and Tell (Vinyals et al. 2015) feeds the image as the decoder's first input instead,
    and Karpathy and Fei-Fei (2015) add it as a bias at the first step.
    """

    def __init__(
        self,
        embed_dim: int = 16,
        hidden_size: int = 64,
        image_dim: int = 64,
        num_layers: int = 1,
        channels=(16, 32),
        dtype: torch.dtype | None = None,
        *,
        seed: int | None = None,
        cell: str = "rnn",
    ):
        super().__init__()
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(check_seed(seed))
            self.encoder = CNNEncoder(image_dim, channels, dtype)
            self.decoder = OneToMany(
                embed_dim, hidden_size, len(WORDS), "output", num_layers, dtype=dtype, cell=cell
            )
            L, H, E = self.decoder.rnn.num_layers, self.decoder.hidden_size, self.encoder.image_dim
            bound = 1.0 / E**0.5
            self.W_ih = nn.Parameter(torch.empty(L * H, E, dtype=self.decoder.dtype).uniform_(-bound, bound))
            self.b_i = nn.Parameter(torch.zeros(L * H, dtype=self.decoder.dtype))

    def init_state(self, images):
        r"""The decoder's initial state ``h0`` (L, B, H): :math:`h_0 = W_{vh} v + b_{vh}` (``W_ih``, ``b_i``),
        one state per layer, from ``images`` (Tensor or ndarray (B, 32, 32, 3)); the LSTM's is ``(h0, 0)``."""
        v = self.encoder(images)  # (B, E)
        h0 = F.linear(v, self.W_ih, self.b_i)  # (B, L H)
        L, H = self.decoder.rnn.num_layers, self.decoder.hidden_size
        h0 = h0.reshape(v.shape[0], L, H).transpose(0, 1).contiguous()
        return LSTMState(h0, torch.zeros_like(h0)) if self.decoder.rnn.cell == "lstm" else h0

    def start_input(self, batch_size: int) -> torch.Tensor:
        """The decoder's first input, the embedding of ``<start>``: ``decoder.next_input`` (B, D)."""
        start = torch.full((batch_size,), _WORD_ID[START], dtype=torch.int64, device=self.b_i.device)
        return self.decoder.next_input(start)

    def forward(self, images, target=None, steps: int | None = None, teacher_forcing=1.0, generator=None):
        """Scores ``y`` (B, T, V) of the words of the captions of ``images`` (B, 32, 32, 3), ``T = steps``
        (default 8: the caption and its ``<end>``). With ``target`` (B, T) int64 (``Scenes.tokens``) step
        ``t`` reads ``target[:, t-1]`` with probability ``teacher_forcing``, else the decoder's own argmax."""
        h0 = self.init_state(images)
        B = (h0[0] if isinstance(h0, tuple) else h0).shape[1]
        if target is not None:  # the decoder checks that target has `steps` columns
            target = check_ids("target", target, 2, len(WORDS), shape="(B, T)").to(self.b_i.device)
            check_dim("target", target, 0, B, "Pass one caption per image.")
        steps = (CAPTION_WORDS + 1 if target is None else target.shape[1]) if steps is None else steps
        return self.decoder(self.start_input(B), steps, target, teacher_forcing, generator, h0=h0)

    def forward_train(self, images, target, teacher_forcing=1.0, generator=None):
        """``forward(images, target, teacher_forcing=..., generator=...)``: the teacher-forced call."""
        return self(images, target, teacher_forcing=teacher_forcing, generator=generator)

    def greedy_decode(self, images, max_len: int = CAPTION_WORDS + 1) -> torch.Tensor:
        r"""Greedy captions :math:`\tilde w_t = \arg\max_w p(w \mid \tilde w_{<t}, \mathcal{I})`:
        ``sampling.decode`` (temperature 0) of the decoder from ``h_0`` and ``<start>``. Returns ids
        (B, max_len) int64, with ``<pad>`` after the first ``<end>``."""
        max_len = check_positive_int("max_len", max_len)
        with torch.no_grad():
            h0 = self.init_state(images)
            B = (h0[0] if isinstance(h0, tuple) else h0).shape[1]
            ids = decode(self.decoder, self.start_input(B), max_len, h0=h0)
        is_end = (ids == _WORD_ID[END]).long()
        return ids.masked_fill(is_end.cumsum(1) - is_end > 0, _WORD_ID[PAD])  # <pad> after the first <end>

    def caption(self, images) -> list:
        """Greedy captions as strings, one per image."""
        return [decode_caption(row) for row in self.greedy_decode(images)]


def caption_loss(y: torch.Tensor, target) -> torch.Tensor:
    r"""Masked cross-entropy of the scores ``y`` (B, T, V) against ``target`` (B, T) int64, in nats per word:
    ``<pad>`` positions are ignored. Chapter 5: with the mask :math:`m_{bt} = [t \le T_b]`, :math:`T_b` the
    length of caption :math:`b` with its ``<end>``, it is :math:`\frac{1}{N} \sum_{b,t} m_{bt}
    \mathcal{L}_{bt}`, :math:`\mathcal{L}_{bt} = -\log p_{bt, \hat y_{bt}}`, :math:`N = \sum_{b,t} m_{bt}`.
    """
    target = check_ids("target", target, 2, len(WORDS), shape="(B, T)").to(y.device)
    check_dim("y", y, 1, target.shape[1], "y and target must have the same number of steps T.")
    return F.cross_entropy(y.flatten(0, 1), target.flatten(), ignore_index=_WORD_ID[PAD])


def _ids(name, a):
    return check_array(name, np.asarray(a.detach().cpu() if hasattr(a, "detach") else a), 2, dtype_kind="i")


def caption_accuracy(pred_ids, target_ids) -> dict:
    r"""Exact-caption and per-word accuracy of predicted ids (n, T_pred) against targets (n, T) (chapter 5).

    Returns ``{"exact": ..., "per_word": ...}``: the fraction of captions right in every word up to and
    including the first ``<end>`` of the target, and the fraction of those target positions predicted right
    (a prediction shorter than its target is wrong where it is missing). With :math:`T_n` the target words
    of caption :math:`n`, :math:`\mathrm{exact} = \frac{1}{N} \sum_n \prod_{t \le T_n} [\tilde w_{n,t} =
    w_{n,t}]`, :math:`\mathrm{per\ word} = \sum_n \sum_{t \le T_n} [\tilde w_{n,t} = w_{n,t}] / \sum_n T_n`.
    """
    pred, target = _ids("pred_ids", pred_ids), _ids("target_ids", target_ids)
    check_dim("pred_ids", pred, 0, target.shape[0], "Pass one prediction per target caption.")
    T = target.shape[1]
    if pred.shape[1] < T:
        pred = np.concatenate([pred, np.full((pred.shape[0], T - pred.shape[1]), -1)], 1)
    is_end = target == _WORD_ID[END]
    valid = np.cumsum(is_end, 1) - is_end == 0  # up to and including the first <end>
    right = (pred[:, :T] == target) & valid
    exact = float((right.sum(1) == valid.sum(1)).mean())
    return {"exact": exact, "per_word": float(right.sum() / valid.sum())}


def attribute_words(pred_ids, attribute: str) -> list:
    """The word each predicted caption (ids (n, T)) uses for ``attribute`` ("shape", "colour", "size" or
    "position"), None where it names none; the attribute words are disjoint (chapter 5)."""
    vocab = set(ATTRIBUTES[check_choice("attribute", attribute, tuple(ATTRIBUTES))])
    words = (decode_caption(row).split() for row in _ids("pred_ids", pred_ids))
    return [next((w for w in row if w in vocab), None) for row in words]


def majority_word(scenes: Scenes, attribute: str = "colour") -> str:
    r"""The most frequent value of ``attribute`` among ``scenes`` (ties: the first in the attribute's list).

    Chapter 5: :math:`\arg\max_w \hat p(w)`, the word that greedy decoding falls back on when the image does
    not determine the attribute.
    """
    values = ATTRIBUTES[check_choice("attribute", attribute, tuple(ATTRIBUTES))]
    return values[int(np.bincount(getattr(scenes, attribute), minlength=len(values)).argmax())]


def fallback_rates(pred_ids, scenes: Scenes, majority: str, attribute: str = "colour") -> dict:
    """How often the predicted ``attribute`` word is the ``majority`` word, on ambiguous vs clear scenes.

    ``pred_ids`` (n, T) are the predicted captions of ``scenes`` (n of them); ``majority`` the most frequent
    word of the training data (:func:`majority_word`). Returns the fractions ``"ambiguous"``, ``"clear"`` of
    predictions equal to ``majority`` on the ambiguous / clear scenes (nan if none), ``"true_clear"`` of
    clear scenes whose true word is ``majority``, and ``"accuracy_ambiguous"``, ``"accuracy_clear"`` of the
    attribute words right. Chapter 5: under cross-entropy the best prediction for a word the image does not
    determine is its conditional distribution given what the image shows; greedy decoding says its mode.
    """
    check_choice("attribute", attribute, tuple(ATTRIBUTES))
    check_choice("majority", majority, ATTRIBUTES[attribute])
    words = np.array([w if w is not None else "" for w in attribute_words(pred_ids, attribute)])
    check_dim("pred_ids", words[:, None], 0, len(scenes), "Pass one prediction per scene.")
    truth = np.array(ATTRIBUTES[attribute])[getattr(scenes, attribute)]
    amb, is_major, right = scenes.ambiguous, words == majority, words == truth
    rates = {"ambiguous": (amb, is_major), "clear": (~amb, is_major), "true_clear": (~amb, truth == majority)}
    rates |= {"accuracy_ambiguous": (amb, right), "accuracy_clear": (~amb, right)}
    return {k: float(hit[mask].mean()) if mask.any() else float("nan") for k, (mask, hit) in rates.items()}
