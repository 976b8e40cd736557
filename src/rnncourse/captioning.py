r"""Image captioning on procedurally generated scenes: a CNN encoder and an RNN decoder (chapter 5).

A scene is one shape on a dark, noisy background (32 x 32 RGB). Four attributes describe it: the shape
(circle, square, triangle), its colour (red, green, blue, yellow), its size (small, large) and its position
(left, right, top, bottom). The caption comes from a fixed grammar, e.g. ``"a small red circle on the left"``
or ``"a large blue triangle at the top"``.

:class:`Captioner` encodes the image into a vector ``v`` with a small convolutional network, starts the
recurrent decoder from ``h_0 = W_ih v + b_i`` and emits one word per step (Vinyals et al. 2015). It is
trained with teacher forcing (:func:`train_captioner`) and decodes greedily (:meth:`Captioner.greedy_decode`).

A controlled ambiguity tests what the decoder says when the image does not determine a word: in a fraction of
the scenes (``ambiguous_fraction``) the shape is drawn in grey, so its colour cannot be seen although the
caption still names it. The best the decoder can do is then the most frequent colour of the training data;
:func:`fallback_rates` measures how often it says it.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._validate import check_array, check_choice, check_dim, check_positive_int, check_probability
from .modules import RNN

__all__ = [
    "SHAPES",
    "COLOURS",
    "SIZES",
    "POSITIONS",
    "WORDS",
    "Scenes",
    "make_scenes",
    "caption_text",
    "encode_caption",
    "decode_caption",
    "CNNEncoder",
    "Captioner",
    "train_captioner",
    "caption_accuracy",
    "attribute_words",
    "majority_word",
    "fallback_rates",
]

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom")
ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}
#: Default colour frequencies: skewed, so that "red" is the most frequent colour word.
COLOUR_PROBS = (0.5, 0.2, 0.2, 0.1)
PAD, START, END = "<pad>", "<start>", "<end>"
#: The word vocabulary; a word's id is its index.
WORDS = (PAD, START, END, "a", "on", "at", "the", *SIZES, *COLOURS, *SHAPES, *POSITIONS)
_WORD_ID = {w: i for i, w in enumerate(WORDS)}
#: Number of words of every caption (the grammar is fixed): a SIZE COLOUR SHAPE PREP the POSITION.
CAPTION_WORDS = 7
IMAGE_SIZE = 32
_RGB = {
    "red": (0.90, 0.15, 0.15),
    "green": (0.15, 0.80, 0.20),
    "blue": (0.20, 0.30, 0.95),
    "yellow": (0.95, 0.90, 0.15),
}
_GREY = (0.55, 0.55, 0.55)
_RADIUS = {"small": 4, "large": 7}
_CENTRE = {"left": (16, 8), "right": (16, 24), "top": (8, 16), "bottom": (24, 16)}  # (row, column)
_BACKGROUND = 0.1


@dataclass
class Scenes:
    """A batch of scenes with their captions.

    Attributes
    ----------
    images : ndarray of float32, shape (n, 32, 32, 3)
        RGB in [0, 1], channels last (``plt.imshow`` order).
    tokens : ndarray of int64, shape (n, 8)
        The caption's word ids followed by ``<end>`` (the decoder's targets).
    captions : list of str, length n
    shape, colour, size, position : ndarray of int64, shape (n,)
        Indices into ``SHAPES``, ``COLOURS``, ``SIZES``, ``POSITIONS``.
    ambiguous : ndarray of bool, shape (n,)
        True where the shape is drawn in grey: its colour is named by the caption but invisible.
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
        return Scenes(
            self.images[index],
            self.tokens[index],
            [self.captions[i] for i in np.atleast_1d(index)],
            self.shape[index],
            self.colour[index],
            self.size[index],
            self.position[index],
            self.ambiguous[index],
        )


def caption_text(shape: str, colour: str, size: str, position: str) -> str:
    """The caption of a scene, from the grammar ``a SIZE COLOUR SHAPE (on|at) the POSITION``.

    ``on`` goes with left/right, ``at`` with top/bottom: ``caption_text("circle", "red", "small", "left")``
    is ``"a small red circle on the left"``.
    """
    check_choice("shape", shape, SHAPES)
    check_choice("colour", colour, COLOURS)
    check_choice("size", size, SIZES)
    check_choice("position", position, POSITIONS)
    prep = "on" if position in ("left", "right") else "at"
    return f"a {size} {colour} {shape} {prep} the {position}"


def encode_caption(caption: str) -> np.ndarray:
    """Word ids of a caption followed by ``<end>``.

    Parameters
    ----------
    caption : str
        Words separated by spaces, each in ``WORDS``.

    Returns
    -------
    ndarray of int64, shape (n_words + 1,)
    """
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
    """The words of ``ids`` up to the first ``<end>`` (``<pad>`` and ``<start>`` skipped).

    Parameters
    ----------
    ids : sequence of int, ndarray or Tensor, shape (T,)

    Returns
    -------
    str
    """
    if hasattr(ids, "detach"):
        ids = ids.detach().cpu().numpy()
    ids = np.asarray(ids)
    if ids.size == 0:
        return ""
    check_array("ids", ids, 1, dtype_kind="i")
    if ids.min() < 0 or ids.max() >= len(WORDS):
        raise ValueError(f"ids must lie in 0..{len(WORDS) - 1}, got values in {ids.min()}..{ids.max()}.")
    words = []
    for i in ids.tolist():
        if WORDS[i] == END:
            break
        if WORDS[i] not in (PAD, START):
            words.append(WORDS[i])
    return " ".join(words)


def make_scenes(
    n: int,
    *,
    ambiguous_fraction: float = 0.0,
    colour_probs=COLOUR_PROBS,
    noise: float = 0.05,
    seed: int = 0,
) -> Scenes:
    """Draw ``n`` random scenes and their captions.

    Parameters
    ----------
    n : int
        Number of scenes.
    ambiguous_fraction : float
        Probability, in [0, 1], that a scene's shape is drawn in grey (its colour invisible, yet named in
        the caption).
    colour_probs : sequence of 4 floats
        Frequencies of red, green, blue, yellow (normalised); shape, size and position are uniform.
    noise : float
        Standard deviation of the Gaussian pixel noise (>= 0); pixels are clipped to [0, 1].
    seed : int

    Returns
    -------
    Scenes
        ``images`` (n, 32, 32, 3) float32, ``tokens`` (n, 8) int64, ``captions``, the attribute indices and
        the ``ambiguous`` mask.

    Notes
    -----
    Chapter 5. The shape is centred 8 pixels from the middle towards its position (jittered by up to 2
    pixels); a circle has radius 4 (small) or 7 (large), a square the half-side, a triangle (apex up) the
    half-height.
    """
    n = check_positive_int("n", n)
    ambiguous_fraction = check_probability("ambiguous_fraction", ambiguous_fraction)
    seed = check_positive_int("seed", seed, minimum=0)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}; e.g. noise=0.05.")
    probs = np.asarray(colour_probs, dtype=np.float64)
    if (
        probs.shape != (len(COLOURS),)
        or not np.all(np.isfinite(probs))
        or (probs < 0).any()
        or probs.sum() <= 0
    ):
        raise ValueError(
            f"colour_probs must be {len(COLOURS)} non-negative numbers (for {COLOURS}) with a positive sum, "
            f"got {colour_probs!r}."
        )
    probs = probs / probs.sum()
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, len(SHAPES), n)
    colour = rng.choice(len(COLOURS), size=n, p=probs)
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
    rgb[ambiguous] = _GREY
    images = np.where(masks[..., None], rgb[:, None, None, :], np.float32(_BACKGROUND))
    images += np.float32(noise) * rng.standard_normal(images.shape, dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)

    captions = [
        caption_text(SHAPES[s], COLOURS[c], SIZES[z], POSITIONS[p])
        for s, c, z, p in zip(shape, colour, size, position, strict=True)
    ]
    tokens = np.stack([encode_caption(c) for c in captions])
    return Scenes(images, tokens, captions, shape, colour, size, position, ambiguous)


def _as_images(images, dtype) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    check_array("images", images, 4)
    check_dim("images", images, 3, 3, "images must be RGB, channels last: shape (B, 32, 32, 3).")
    return images.to(dtype)


class CNNEncoder(nn.Module):
    r"""A small convolutional encoder: image (B, 32, 32, 3) -> vector ``v`` (B, E).

    Two 4x4 convolutions with stride 2, each followed by a ReLU (32 -> 16 -> 8 pixels), then an affine layer
    and a ReLU on the flattened feature map. Flattening (rather than global pooling) keeps *where* the
    features are, which the position words need.

    Parameters
    ----------
    image_dim : int
        ``E``, the size of the image vector.
    channels : tuple of 2 ints
        Channels of the two convolutions.
    dtype : torch.dtype, optional

    Notes
    -----
    Chapter 5. :math:`v = \mathrm{ReLU}(W_v\, \mathrm{flatten}(\mathrm{conv}_2(\mathrm{conv}_1(I))) + b_v)`.
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
        """Encode images.

        Parameters
        ----------
        images : Tensor or ndarray, shape (B, 32, 32, 3)

        Returns
        -------
        v : Tensor, shape (B, E)
        """
        x = _as_images(images, self.fc.weight.dtype).to(self.fc.weight.device).permute(0, 3, 1, 2)
        x = (x - 0.5) / 0.5  # pixels from [0, 1] to [-1, 1]
        check_dim("images", x, 2, IMAGE_SIZE, "images must be 32 x 32: shape (B, 32, 32, 3).")
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return F.relu(self.fc(x.flatten(1)))


class Captioner(nn.Module):
    r"""CNN encoder + RNN decoder: the image vector sets the decoder's initial state.

    Parameters
    ----------
    embed_dim : int
        ``D``, the size of the word embeddings.
    hidden_size : int
        ``H``, the decoder's hidden size.
    image_dim : int
        ``E``, the size of the image vector ``v``.
    num_layers : int
        ``L``, decoder layers; each gets its own initial state from ``v``.
    channels : tuple of 2 ints
        Channels of the encoder's convolutions.
    dtype : torch.dtype, optional
    skip : bool
        Residual decoder, ``h_t = h_{t-1} + tanh(a_t)`` (default): the image state ``h_0`` reaches every step
        along an identity path. With ``skip=False`` (the plain ``h_t = tanh(a_t)``) the decoder can settle
        in a plateau where it ignores ``h_0`` and outputs the most frequent words.
    init : {"uniform", "identity", "orthogonal"}
        Initial recurrent weights (see :class:`rnncourse.modules.RNN`).
    seed : int, optional
        Seed of the initial weights (torch's global generator when None).

    Attributes
    ----------
    encoder : CNNEncoder
    W_ih : Parameter, shape (L H, E)
    b_i : Parameter, shape (L H,)
    W_embed : Parameter, shape (V, D), V = len(WORDS)
    rnn : rnncourse.modules.RNN
    W_hy : Parameter, shape (V, H)
    b_y : Parameter, shape (V,)

    Notes
    -----
    Chapter 5. With :math:`w_0 = \langle start \rangle` and :math:`x_t = W_{embed}^\top e_{w_{t-1}}`,

    .. math:: v = \mathrm{CNN}(I), \quad h_0 = W_{ih} v + b_i, \quad
              h_t = h_{t-1} + \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \quad
              p(w_t \mid w_{<t}, I) = \mathrm{softmax}(W_{hy} h_t + b_y)

    (without the :math:`h_{t-1}` term when ``skip=False``).
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
        skip: bool = True,
        init: str = "uniform",
        seed: int | None = None,
    ):
        super().__init__()
        args = (embed_dim, hidden_size, image_dim, num_layers, channels, dtype, skip, init)
        if seed is not None:
            seed = check_positive_int("seed", seed, minimum=0)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(*args)
        else:
            self._build(*args)

    def _build(self, embed_dim, hidden_size, image_dim, num_layers, channels, dtype, skip, init):
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.encoder = CNNEncoder(image_dim, channels, dtype)
        self.rnn = RNN(embed_dim, hidden_size, num_layers, skip=skip, init=init, dtype=dtype)
        dtype = self.rnn.dtype
        V, D, H, L, E = (
            len(WORDS),
            self.embed_dim,
            self.hidden_size,
            self.rnn.num_layers,
            self.encoder.image_dim,
        )
        bound_h, bound_e = 1.0 / H**0.5, 1.0 / E**0.5
        self.W_ih = nn.Parameter(torch.empty(L * H, E, dtype=dtype).uniform_(-bound_e, bound_e))
        self.b_i = nn.Parameter(torch.zeros(L * H, dtype=dtype))
        self.W_embed = nn.Parameter(torch.randn(V, D, dtype=dtype))
        self.W_hy = nn.Parameter(torch.empty(V, H, dtype=dtype).uniform_(-bound_h, bound_h))
        self.b_y = nn.Parameter(torch.zeros(V, dtype=dtype))

    def init_state(self, images) -> torch.Tensor:
        r"""The decoder's initial state from the images.

        Parameters
        ----------
        images : Tensor or ndarray, shape (B, 32, 32, 3)

        Returns
        -------
        h0 : Tensor, shape (L, B, H)
            :math:`h_0 = W_{ih} v + b_i`, split into one state per layer.
        """
        v = self.encoder(images)  # (B, E)
        h0 = F.linear(v, self.W_ih, self.b_i)  # (B, L H)
        return h0.reshape(v.shape[0], self.rnn.num_layers, self.hidden_size).transpose(0, 1).contiguous()

    def forward(self, images, tokens_in) -> torch.Tensor:
        """Teacher-forced scores: the decoder reads the true previous words.

        Parameters
        ----------
        images : Tensor or ndarray, shape (B, 32, 32, 3)
        tokens_in : Tensor or ndarray of int64, shape (B, T)
            ``<start>`` followed by the first ``T - 1`` words of each caption.

        Returns
        -------
        logits : Tensor, shape (B, T, V)
            ``logits[:, t]`` scores word ``t`` of the caption (``<end>`` after the last word).
        """
        if isinstance(tokens_in, np.ndarray):
            tokens_in = torch.from_numpy(tokens_in)
        check_array("tokens_in", tokens_in, 2, dtype_kind="i")
        h0 = self.init_state(images)
        check_dim("tokens_in", tokens_in, 0, h0.shape[1], "Pass one caption per image.")
        x = F.embedding(tokens_in.to(self.W_embed.device), self.W_embed)
        hs, _ = self.rnn(x, h0)
        return F.linear(hs, self.W_hy, self.b_y)

    def greedy_decode(self, images, max_len: int = CAPTION_WORDS + 1) -> torch.Tensor:
        r"""Caption images greedily: each step feeds back the most likely word.

        Parameters
        ----------
        images : Tensor or ndarray, shape (B, 32, 32, 3)
        max_len : int
            Number of words generated (``<end>`` included); positions after an ``<end>`` hold ``<pad>``.

        Returns
        -------
        ids : Tensor of int64, shape (B, max_len)

        Notes
        -----
        Chapter 5. :math:`\hat w_t = \arg\max_w p(w \mid \hat w_{<t}, I)`, :math:`\hat w_0 = \langle start
        \rangle`, until :math:`\langle end \rangle`.
        """
        max_len = check_positive_int("max_len", max_len)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                h = self.init_state(images)
                B = h.shape[1]
                word = torch.full((B, 1), _WORD_ID[START], dtype=torch.int64, device=h.device)
                done = torch.zeros(B, dtype=torch.bool, device=h.device)
                out = torch.full((B, max_len), _WORD_ID[PAD], dtype=torch.int64, device=h.device)
                for t in range(max_len):
                    hs, h = self.rnn(F.embedding(word, self.W_embed), h)
                    word = F.linear(hs[:, -1], self.W_hy, self.b_y).argmax(-1, keepdim=True)  # (B, 1)
                    out[:, t] = torch.where(done, _WORD_ID[PAD], word[:, 0])
                    done |= word[:, 0] == _WORD_ID[END]
                    if bool(done.all()):
                        break
        finally:
            self.train(was_training)
        return out

    def caption(self, images) -> list:
        """Greedy captions as strings, one per image."""
        return [decode_caption(row) for row in self.greedy_decode(images)]


def _teacher_inputs(tokens: torch.Tensor) -> torch.Tensor:
    start = torch.full((tokens.shape[0], 1), _WORD_ID[START], dtype=torch.int64)
    return torch.cat([start, tokens[:, :-1]], 1)


def train_captioner(
    model: Captioner,
    scenes: Scenes,
    steps: int,
    *,
    batch_size: int = 64,
    lr: float = 3e-3,
    final_lr: float | None = None,
    clip_norm: float | None = 5.0,
    max_seconds: float | None = None,
    seed: int = 0,
) -> dict:
    r"""Train a :class:`Captioner` with teacher forcing and Adam on random mini-batches of ``scenes``.

    Parameters
    ----------
    model : Captioner
    scenes : Scenes or callable
        The training set, sampled with replacement; or a function ``scenes(n, seed=...) -> Scenes`` (e.g.
        ``functools.partial(make_scenes, ambiguous_fraction=0.3)``) called for a fresh batch at every step, so
        that the model never sees the same scene twice.
    steps : int
        Number of optimiser steps.
    batch_size : int
    lr : float
        Adam learning rate.
    final_lr : float, optional
        When given, the learning rate decreases linearly from ``lr`` to ``final_lr`` as training progresses,
        progress being the fraction of ``steps`` done or, with ``max_seconds``, the fraction of the time used,
        whichever is larger (so a run cut short by the time cap still ends at ``final_lr``). The small final
        steps average out the noise of the words that the image does not determine.
    clip_norm : float, optional
        Global gradient-norm clipping threshold (None: no clipping).
    max_seconds : float, optional
        Stop early after this much training time.
    seed : int
        Seed of the mini-batch draws.

    Returns
    -------
    history : dict
        ``"loss"`` (mean cross-entropy per word, nats), ``"grad_norm"`` (before clipping), ``"time"``,
        ``"lr"`` (the learning rate of the step): lists, one entry per step; ``"stop_reason"``: ``"steps"`` or
        ``"max_seconds"``.

    Notes
    -----
    Chapter 5. Teacher forcing: the decoder input at step :math:`t` is the true word :math:`w_{t-1}`, not the
    model's own prediction; the loss is :math:`-\frac{1}{BT}\sum_{b,t} \log p(w^b_t \mid w^b_{<t}, I^b)`.
    """
    if not isinstance(model, Captioner):
        raise TypeError(f"model must be a Captioner, got {type(model).__name__}.")
    if not isinstance(scenes, Scenes) and not callable(scenes):
        raise TypeError(
            f"scenes must be a Scenes (from make_scenes) or a function (n, seed=...) -> Scenes, got "
            f"{type(scenes).__name__}; e.g. functools.partial(make_scenes, ambiguous_fraction=0.3)."
        )
    steps = check_positive_int("steps", steps, minimum=0)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_positive_int("seed", seed, minimum=0)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}; e.g. lr=3e-3.")
    for name, value in (("final_lr", final_lr), ("clip_norm", clip_norm), ("max_seconds", max_seconds)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0
        ):
            raise ValueError(f"{name} must be a number > 0 or None, got {value!r}.")
    rng = np.random.default_rng(seed)
    fixed = isinstance(scenes, Scenes)
    if fixed:
        images, tokens = torch.from_numpy(scenes.images), torch.from_numpy(scenes.tokens)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "grad_norm": [], "time": [], "lr": [], "stop_reason": "steps"}
    model.train()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if fixed:
            idx = torch.from_numpy(rng.integers(0, len(scenes), size=batch_size))
            batch_images, batch_tokens = images[idx], tokens[idx]
        else:
            batch = scenes(batch_size, seed=int(rng.integers(0, 2**63 - 1)))
            batch_images, batch_tokens = torch.from_numpy(batch.images), torch.from_numpy(batch.tokens)
        logits = model(batch_images, _teacher_inputs(batch_tokens))  # reads <start>, w_1, ..., w_{T-1}
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch_tokens.reshape(-1).to(logits.device)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = float("inf") if clip_norm is None else float(clip_norm)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        if final_lr is not None:
            progress = (step - 1) / max(1, steps - 1)
            if max_seconds is not None:
                progress = min(1.0, max(progress, (time.perf_counter() - start) / max_seconds))
            for group in optimizer.param_groups:
                group["lr"] = lr + (final_lr - lr) * progress
        optimizer.step()
        history["loss"].append(float(loss.detach()))
        history["lr"].append(float(optimizer.param_groups[0]["lr"]))
        history["grad_norm"].append(float(grad_norm))
        history["time"].append(time.perf_counter() - start)
        if max_seconds is not None and history["time"][-1] >= max_seconds and step < steps:
            history["stop_reason"] = "max_seconds"
            break
    return history


def caption_accuracy(pred_ids, target_ids) -> dict:
    r"""Exact-caption and per-word accuracy of predicted captions.

    Parameters
    ----------
    pred_ids : Tensor or ndarray of int64, shape (n, T_pred)
        Predicted word ids (e.g. :meth:`Captioner.greedy_decode`); shorter than the targets counts as wrong.
    target_ids : Tensor or ndarray of int64, shape (n, T)
        True word ids ending with ``<end>`` (``Scenes.tokens``).

    Returns
    -------
    dict
        ``"exact"``: fraction of captions right in every word up to and including ``<end>``;
        ``"per_word"``: fraction of target positions (``<end>`` included) predicted right.

    Notes
    -----
    Chapter 5. With :math:`T_n` the number of target words of caption :math:`n` (``<end>`` included),
    :math:`\mathrm{exact} = \frac{1}{N} \sum_n \prod_{t \le T_n} [\hat w_{n,t} = w_{n,t}]` and
    :math:`\mathrm{per\ word} = \sum_n \sum_{t \le T_n} [\hat w_{n,t} = w_{n,t}] / \sum_n T_n`.
    """
    pred = np.asarray(pred_ids.detach().cpu() if hasattr(pred_ids, "detach") else pred_ids)
    target = np.asarray(target_ids.detach().cpu() if hasattr(target_ids, "detach") else target_ids)
    check_array("pred_ids", pred, 2, dtype_kind="i")
    check_array("target_ids", target, 2, dtype_kind="i")
    check_dim("pred_ids", pred, 0, target.shape[0], "Pass one prediction per target caption.")
    T = target.shape[1]
    if pred.shape[1] < T:
        pred = np.concatenate([pred, np.full((pred.shape[0], T - pred.shape[1]), -1)], 1)
    valid = np.cumsum(target == _WORD_ID[END], 1) - (target == _WORD_ID[END]) == 0  # up to the first <end>
    right = (pred[:, :T] == target) & valid
    return {
        "exact": float((right.sum(1) == valid.sum(1)).mean()),
        "per_word": float(right.sum() / valid.sum()),
    }


def attribute_words(pred_ids, attribute: str) -> list:
    """The word each predicted caption uses for ``attribute`` (None where it names none).

    Parameters
    ----------
    pred_ids : Tensor or ndarray of int64, shape (n, T)
    attribute : {"shape", "colour", "size", "position"}

    Returns
    -------
    list of (str or None), length n

    Notes
    -----
    Chapter 5: the attribute words of the grammar are disjoint, so the first one found is the one.
    """
    check_choice("attribute", attribute, tuple(ATTRIBUTES))
    vocab = set(ATTRIBUTES[attribute])
    pred = np.asarray(pred_ids.detach().cpu() if hasattr(pred_ids, "detach") else pred_ids)
    check_array("pred_ids", pred, 2, dtype_kind="i")
    out = []
    for row in pred:
        words = decode_caption(row).split()
        out.append(next((w for w in words if w in vocab), None))
    return out


def majority_word(scenes: Scenes, attribute: str = "colour") -> str:
    r"""The most frequent value of ``attribute`` among ``scenes`` (ties: the first in the attribute's list).

    Parameters
    ----------
    scenes : Scenes
    attribute : {"shape", "colour", "size", "position"}

    Returns
    -------
    str

    Notes
    -----
    Chapter 5: :math:`\arg\max_c \hat p(c)`, the word that greedy decoding falls back on when the image does
    not determine the attribute.
    """
    check_choice("attribute", attribute, tuple(ATTRIBUTES))
    values = ATTRIBUTES[attribute]
    counts = np.bincount(getattr(scenes, attribute), minlength=len(values))
    return values[int(counts.argmax())]


def fallback_rates(pred_ids, scenes: Scenes, majority: str, attribute: str = "colour") -> dict:
    """How often the predicted ``attribute`` word is the ``majority`` word, on ambiguous vs clear scenes.

    Parameters
    ----------
    pred_ids : Tensor or ndarray of int64, shape (n, T)
        Predicted captions of ``scenes``.
    scenes : Scenes, length n
    majority : str
        The most frequent word of the training data (:func:`majority_word`).
    attribute : {"shape", "colour", "size", "position"}

    Returns
    -------
    dict
        ``"ambiguous"``, ``"clear"``: fraction of predictions equal to ``majority`` on the ambiguous / clear
        scenes (nan if there are none); ``"true_clear"``: fraction of clear scenes whose true word is
        ``majority``; ``"accuracy_ambiguous"``, ``"accuracy_clear"``: fraction of the attribute words right.

    Notes
    -----
    Chapter 5. Under cross-entropy, the best prediction for a word the image does not determine is the
    conditional distribution of that word given what the image does show; greedy decoding then outputs its
    mode, the majority word, whatever the scene.
    """
    check_choice("attribute", attribute, tuple(ATTRIBUTES))
    check_choice("majority", majority, ATTRIBUTES[attribute])
    words = np.array([w if w is not None else "" for w in attribute_words(pred_ids, attribute)])
    check_dim("pred_ids", words[:, None], 0, len(scenes), "Pass one prediction per scene.")
    truth = np.array(ATTRIBUTES[attribute])[getattr(scenes, attribute)]
    amb = scenes.ambiguous

    def frac(mask, hit):
        return float(hit[mask].mean()) if mask.any() else float("nan")

    is_major = words == majority
    right = words == truth
    return {
        "ambiguous": frac(amb, is_major),
        "clear": frac(~amb, is_major),
        "true_clear": frac(~amb, truth == majority),
        "accuracy_ambiguous": frac(amb, right),
        "accuracy_clear": frac(~amb, right),
    }
