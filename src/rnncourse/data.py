"""Data for the course: synthetic sequence tasks, character vocabularies and text corpora.

Every task returns numpy arrays ``(x, target)`` and takes ``n`` (number of examples) and ``seed``; convert
with ``torch.as_tensor`` for the torch models. Inputs are batch-first: ``(n, T, D)`` floats or ``(n, T)``
int64 ids. The tasks serve chapters 2 (one per topology), 6, 7 and 9.

The text part serves the character-level language model of chapter 4: :class:`Vocab` maps characters to ids,
:func:`load_corpus` returns a text (offline by default: the Python reference text that ships with CPython),
:func:`train_val_split` cuts an id stream into a training and a validation part. :func:`pad_sequences` makes
one batch of sequences of different lengths (chapters 2 and 5).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from ._validate import check_array, check_positive_int, check_real, check_seed

__all__ = [
    "Vocab",
    "load_corpus",
    "train_val_split",
    "pad_sequences",
    "copy_task",
    "delayed_echo",
    "parity",
    "adding_problem",
    "reverse_digits",
    "counting",
    "sine_waves",
]


def copy_task(n: int, T: int, V: int = 8, *, seed: int = 0):
    """Copy a random token sequence after a blank gap.

    The input is ``T`` random tokens in ``1..V-1``, then ``T`` blanks (token 0); the target is ``T`` blanks,
    then the same ``T`` tokens. A many-to-many task whose difficulty grows with ``T``.

    Returns
    -------
    x : ndarray of int64, shape (n, 2T)
    target : ndarray of int64, shape (n, 2T)
    """
    n, T, V = check_positive_int("n", n), check_positive_int("T", T), check_positive_int("V", V, minimum=2)
    rng = np.random.default_rng(check_seed(seed))
    tokens = rng.integers(1, V, size=(n, T))
    blank = np.zeros((n, T), dtype=np.int64)
    return np.concatenate([tokens, blank], 1), np.concatenate([blank, tokens], 1)


def delayed_echo(n: int, T: int, delay: int = 3, V: int = 4, *, seed: int = 0):
    r"""Repeat each token ``delay`` steps later: the target :math:`\hat y_t = w_{t-d}`, :math:`d` = ``delay``.

    The first :math:`d` targets are 0 (chapters 2 and 7; a model reads :math:`w_t` one-hot or embedded).

    Returns
    -------
    x : ndarray of int64, shape (n, T), the token ids :math:`w_t` in ``0..V-1``
    target : ndarray of int64, shape (n, T)
    """
    n, T = check_positive_int("n", n), check_positive_int("T", T)
    delay, V = check_positive_int("delay", delay, minimum=0), check_positive_int("V", V, minimum=2)
    if delay >= T:
        raise ValueError(f"delay must be smaller than T, got delay={delay} and T={T}; use a longer T.")
    rng = np.random.default_rng(check_seed(seed))
    x = rng.integers(0, V, size=(n, T))
    target = np.zeros_like(x)
    target[:, delay:] = x[:, : T - delay]
    return x, target


def parity(n: int, T: int, *, seed: int = 0):
    """Parity of a bit string: the target is 1 if the input holds an odd number of ones.

    Returns
    -------
    x : ndarray of float64, shape (n, T, 1), entries in {0, 1}
    target : ndarray of int64, shape (n,)
    """
    n, T = check_positive_int("n", n), check_positive_int("T", T)
    rng = np.random.default_rng(check_seed(seed))
    bits = rng.integers(0, 2, size=(n, T))
    return bits[..., None].astype(np.float64), (bits.sum(1) % 2).astype(np.int64)


def adding_problem(n: int, T: int, *, seed: int = 0):
    """The adding problem of Hochreiter & Schmidhuber (1997).

    Each step carries two numbers: a value drawn from U(0, 1) and a marker in {0, 1}. Exactly two markers are
    1, one in the first half of the sequence and one in the second; the target is the sum of the two marked
    values. Predicting the mean (1.0) gives the trivial baseline mean squared error of 1/6 (about 0.167).

    Returns
    -------
    x : ndarray of float64, shape (n, T, 2), ``x[..., 0]`` values, ``x[..., 1]`` markers
    target : ndarray of float64, shape (n,)
    """
    n, T = check_positive_int("n", n), check_positive_int("T", T, minimum=2)
    rng = np.random.default_rng(check_seed(seed))
    values = rng.uniform(0.0, 1.0, size=(n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    markers, rows = np.zeros((n, T)), np.arange(n)
    markers[rows, first] = markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return np.stack([values, markers], -1), target


def reverse_digits(n: int, length: int, V: int = 10, *, seed: int = 0):
    """Reverse a string of digits: a sequence-to-sequence task for an encoder-decoder.

    Returns
    -------
    src : ndarray of int64, shape (n, length), digits in ``0..V-1``
    tgt : ndarray of int64, shape (n, length), ``src`` reversed along time
    """
    n, length = check_positive_int("n", n), check_positive_int("length", length)
    V = check_positive_int("V", V, minimum=2)
    rng = np.random.default_rng(check_seed(seed))
    src = rng.integers(0, V, size=(n, length))
    return src, src[:, ::-1].copy()


def counting(n: int, T: int, V: int = 10, *, seed: int = 0):
    """Count on from a start digit: the one-to-many task ``target_t = (start + t + 1) mod V``.

    Returns
    -------
    start : ndarray of int64, shape (n,)
    target : ndarray of int64, shape (n, T)
    """
    n, T, V = check_positive_int("n", n), check_positive_int("T", T), check_positive_int("V", V, minimum=2)
    rng = np.random.default_rng(check_seed(seed))
    start = rng.integers(0, V, size=n)
    target = (start[:, None] + np.arange(1, T + 1)[None, :]) % V
    return start.astype(np.int64), target.astype(np.int64)


def sine_waves(n: int, T: int, *, seed: int = 0):
    """Next-value prediction on sine waves with random frequency and phase.

    ``s_t = sin(omega * t + phi)``, omega ~ U(0.1, 0.5), phi ~ U(0, 2 pi); the input is ``s_0..s_{T-1}`` and
    the target ``s_1..s_T``.

    Returns
    -------
    x : ndarray of float64, shape (n, T, 1)
    target : ndarray of float64, shape (n, T, 1)
    """
    n, T = check_positive_int("n", n), check_positive_int("T", T)
    rng = np.random.default_rng(check_seed(seed))
    omega, phi = rng.uniform(0.1, 0.5, size=(n, 1)), rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    s = np.sin(omega * np.arange(T + 1)[None, :] + phi)
    return s[:, :-1, None], s[:, 1:, None]


# ---------------------------------------------------------------- text: vocabulary, corpus, split (chapter 4)
_URL_SCHEMES = ("http", "https", "ftp", "file")
_MAX_POSITIONS_SHOWN = 5


class Vocab:
    """A character vocabulary: ``chars = sorted(set(text))``; character ``chars[i]`` has id ``i``.

    Parameters
    ----------
    text : str
        The text whose distinct characters form the vocabulary (not empty).

    Attributes
    ----------
    chars : tuple of str, length V
        The characters in sorted (code point) order, so the same text always gives the same ids.

    Notes
    -----
    Chapter 4. A character becomes the id :math:`w` with ``chars[w]`` that character; the model reads it as
    the one-hot vector :math:`e_w \\in \\{0, 1\\}^V` or, equivalently, as the embedding
    :math:`W_{embed}[w] = W_{embed}^\\top e_w`, the row ``W_embed[w]`` of ``W_embed`` (V, D).

    Examples
    --------
    >>> v = Vocab("hello")
    >>> v.chars
    ('e', 'h', 'l', 'o')
    >>> v.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> v.decode([1, 0, 2, 2, 3])
    'hello'
    """

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(
                f"text must be a str, got {type(text).__name__}; pass the corpus as a string "
                "(e.g. the result of load_corpus())."
            )
        if not text:
            raise ValueError("text must not be empty, got ''; pass a text with at least one character.")
        self.chars = tuple(sorted(set(text)))
        self._index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char) -> bool:
        return char in self._index

    def __repr__(self) -> str:
        return f"Vocab(V={len(self)})"

    def encode(self, text: str) -> np.ndarray:
        """Map a string to its ids.

        Parameters
        ----------
        text : str, length N

        Returns
        -------
        ids : ndarray of int64, shape (N,)

        Raises
        ------
        ValueError
            If ``text`` holds characters outside the vocabulary; the message names each unknown character
            and its positions.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}; decode ids with Vocab.decode.")
        index = self._index
        try:
            return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            pass
        unknown: dict[str, list[int]] = {}
        for pos, c in enumerate(text):
            if c not in index:
                unknown.setdefault(c, []).append(pos)
        parts = []
        for c, positions in unknown.items():
            shown = ", ".join(str(p) for p in positions[:_MAX_POSITIONS_SHOWN])
            more = f" and {len(positions) - _MAX_POSITIONS_SHOWN} more" if len(positions) > 5 else ""
            parts.append(f"{c!r} at position{'s' if len(positions) > 1 else ''} {shown}{more}")
        raise ValueError(
            f"text holds {len(unknown)} character{'s' if len(unknown) > 1 else ''} not in the vocabulary of "
            f"{len(self)} characters: {'; '.join(parts)}. Remove them, or build the Vocab from a text that "
            "contains them."
        )

    def decode(self, ids) -> str:
        """Map ids back to a string.

        Parameters
        ----------
        ids : sequence of int, ndarray or torch.Tensor of integers, shape (N,)
            Each id in ``0..V-1``.

        Returns
        -------
        text : str, length N
        """
        ids = np.asarray(ids.detach().cpu() if hasattr(ids, "detach") else ids)
        if ids.size == 0:
            return ""
        check_array("ids", ids, 1, dtype_kind="i", shape="(N,)")
        bad = (ids < 0) | (ids >= len(self))
        if bad.any():
            pos = np.flatnonzero(bad)
            raise ValueError(
                f"ids must lie in 0..{len(self) - 1} (V={len(self)}), got {ids[pos[0]]} at position {pos[0]} "
                f"({bad.sum()} ids out of range); decode only ids produced by this vocabulary."
            )
        chars = self.chars
        return "".join(chars[i] for i in ids.tolist())


def load_corpus(source=None, *, sha256: str | None = None, cache_dir=None, timeout: float = 30.0) -> str:
    """Return a text corpus: the bundled default, a local text file, or a checksummed and cached URL.

    Parameters
    ----------
    source : None, str or os.PathLike
        ``None`` (default): the Python reference text that ships with CPython (``pydoc_data.topics``, about
        465,000 characters of English prose and code), its topics joined in sorted-key order; no network.
        A path: a UTF-8 text file. A URL (``http://``, ``https://``, ``ftp://``, ``file://``): downloaded once
        with :mod:`urllib`, verified against ``sha256`` and cached.
    sha256 : str, optional
        Hex SHA-256 digest of the file's bytes (64 characters). Required for a URL; optional otherwise, where
        it verifies the text.
    cache_dir : str or os.PathLike, optional
        Where downloaded files are kept; default ``$RNNCOURSE_CACHE`` or ``~/.cache/rnncourse``. A cached file
        whose checksum matches is read without touching the network.
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    text : str

    Raises
    ------
    ValueError
        If the checksum does not match (a downloaded file that fails the check is not cached) or a URL comes
        without ``sha256``.

    Notes
    -----
    Chapter 4. The default corpus depends only on the Python version, so every reader trains on the same text
    offline.
    """
    digest = _check_sha256(sha256)
    timeout = check_real("timeout", timeout, low=0.0, low_open=True, hint="Pass seconds, e.g. 30.")
    if source is None:
        from pydoc_data import topics

        text = "\n".join(topics.topics[key] for key in sorted(topics.topics))
        if digest is not None:
            _verify(text.encode("utf-8"), digest, "the bundled corpus (pydoc_data.topics)")
        return text
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be None, a path or a URL string, got {type(source).__name__}; "
            "e.g. load_corpus('novel.txt') or load_corpus('https://.../file.txt', sha256='...')."
        )
    if isinstance(source, str) and urllib.parse.urlsplit(source).scheme.lower() in _URL_SCHEMES:
        return _load_url(source, digest, cache_dir, timeout)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"source {str(source)!r} is neither an existing file nor a URL with a scheme in {_URL_SCHEMES}; "
            "check the path, or pass None for the bundled corpus."
        )
    data = path.read_bytes()
    if digest is not None:
        _verify(data, digest, f"file {str(source)!r}")
    return data.decode("utf-8")


def _check_sha256(sha256):
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or re.fullmatch(r"[0-9a-fA-F]{64}", sha256) is None:
        raise ValueError(
            f"sha256 must be a hex SHA-256 digest of 64 characters, got {sha256!r}; compute it with "
            "hashlib.sha256(open(path, 'rb').read()).hexdigest() on a trusted copy."
        )
    return sha256.lower()


def _verify(data: bytes, digest: str, what: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise ValueError(
            f"checksum mismatch for {what}: expected sha256 {digest}, got {got} ({len(data)} bytes). "
            "The content is not the expected file; check the URL or the checksum (nothing was cached)."
        )


def _load_url(url: str, digest, cache_dir, timeout: float) -> str:
    if digest is None:
        raise ValueError(
            f"a URL source needs sha256=..., got sha256=None for {url!r}; pass the hex SHA-256 digest of the "
            "file so that the download can be verified."
        )
    if cache_dir is None:
        cache_dir = os.environ.get("RNNCOURSE_CACHE") or Path.home() / ".cache" / "rnncourse"
    cache_dir = Path(cache_dir)
    name = Path(urllib.parse.urlsplit(url).path).name or "corpus.txt"
    cached = cache_dir / f"{digest[:16]}-{name}"
    if cached.is_file():
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == digest:
            return data.decode("utf-8")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    _verify(data, digest, f"URL {url!r}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return data.decode("utf-8")


def train_val_split(ids, val_fraction: float = 0.1):
    """Cut an id stream into a leading training part and a trailing validation part.

    The split is contiguous (not shuffled): characters close in the text are strongly dependent, so a random
    split would leak validation text into training.

    Parameters
    ----------
    ids : ndarray or torch.Tensor of integers, shape (N,)
    val_fraction : float
        Fraction of the stream for validation, in (0, 1).

    Returns
    -------
    train : same type as ``ids``, shape (N - N_val,)
    val : same type as ``ids``, shape (N_val,), ``N_val = round(val_fraction * N)``

    Notes
    -----
    Chapter 4: ``train = ids[:N - N_val]``, ``val = ids[N - N_val:]``.
    """
    check_array("ids", ids, 1, dtype_kind="i", shape="(N,)")
    numeric = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
    if not numeric or not 0 < val_fraction < 1:
        raise ValueError(
            f"val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}; e.g. 0.1."
        )
    n = len(ids)
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"val_fraction={val_fraction} of {n} ids leaves {n_val} for validation and {n - n_val} for "
            "training; both parts need at least one id: use a longer stream or another fraction."
        )
    return ids[: n - n_val], ids[n - n_val :]


def pad_sequences(seqs, pad=0):
    """Stack sequences of different lengths into one batch, padded at the end with ``pad``.

    Parameters
    ----------
    seqs : non-empty sequence of ndarrays, each shape (T_b,) or (T_b, D), T_b >= 1
        Same trailing shape and dtype kind (integers or floats) for all.
    pad : number
        The value of the padded positions (e.g. the id of ``<pad>``).

    Returns
    -------
    padded : ndarray, shape (B, T_max) or (B, T_max, D)
    lengths : ndarray of int64, shape (B,)

    Notes
    -----
    ``np.arange(T_max) < lengths[:, None]``, shape (B, T_max), is the mask :math:`m_{bt}` of the real
    positions. Chapters 2 and 5.
    """
    if isinstance(seqs, np.ndarray) or not hasattr(seqs, "__len__") or len(seqs) == 0:
        raise ValueError("seqs must be a non-empty list of arrays, one per sequence, e.g. [a, b].")
    seqs = [np.asarray(s) for s in seqs]
    kind = "i" if seqs[0].dtype.kind in "iu" else "f"
    for b, s in enumerate(seqs):
        check_array(f"seqs[{b}]", s, (1, 2), dtype_kind=kind, shape="(T_b,) or (T_b, D), like seqs[0]")
        if s.shape[1:] != seqs[0].shape[1:] or len(s) == 0:
            raise ValueError(
                f"seqs[{b}] has shape {s.shape}, expected (T_b, ...) with T_b >= 1 and the trailing shape "
                f"{seqs[0].shape[1:]} of seqs[0]; give every sequence >= 1 step and the same features."
            )
    check_real("pad", pad)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    dtype = np.result_type(*seqs)
    padded = np.full((len(seqs), lengths.max()) + seqs[0].shape[1:], pad, dtype=dtype)
    for b, s in enumerate(seqs):
        padded[b, : len(s)] = s
    return padded, lengths
