"""Tests of rnncourse.data: vocabulary, corpus loading (offline default, files, checksummed URLs), split, and
the synthetic tasks."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest
import torch

from rnncourse import data
from rnncourse.data import Vocab, load_corpus, train_val_split

TEXT = "hello, world\n"


@pytest.fixture
def no_network(monkeypatch):
    """Make every socket connection fail, as on a machine without network."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# ------------------------------------------------------------------------------------------------ Vocab


def test_vocab_is_sorted_set_and_round_trips():
    v = Vocab(TEXT)
    assert v.chars == tuple(sorted(set(TEXT)))
    assert len(v) == len(set(TEXT))
    ids = v.encode(TEXT)
    assert ids.dtype == np.int64 and ids.shape == (len(TEXT),)
    assert v.decode(ids) == TEXT
    assert v.decode(torch.as_tensor(ids)) == TEXT
    assert v.decode(list(ids)) == TEXT
    assert v.decode([]) == ""


def test_vocab_known_ids():
    v = Vocab("cab")
    assert v.encode("abcab").tolist() == [0, 1, 2, 0, 1]
    assert v.decode([2, 0, 1]) == "cab"
    assert "a" in v and "z" not in v


def test_vocab_encode_names_unknown_characters_and_positions():
    v = Vocab("abc")
    with pytest.raises(ValueError, match=r"'x' at positions 1, 3; 'y' at position 4"):
        v.encode("axaxy")


def test_vocab_encode_truncates_long_position_lists():
    v = Vocab("a")
    with pytest.raises(ValueError, match=r"'z' at positions 0, 1, 2, 3, 4 and 2 more"):
        v.encode("zzzzzzz")


def test_vocab_rejects_non_string_text():
    with pytest.raises(TypeError, match="text must be a str, got list"):
        Vocab(["a", "b"])


def test_vocab_rejects_empty_text():
    with pytest.raises(ValueError, match="text must not be empty"):
        Vocab("")


def test_vocab_encode_rejects_non_string():
    with pytest.raises(TypeError, match="text must be a str, got ndarray"):
        Vocab("ab").encode(np.array([0, 1]))


def test_vocab_decode_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match=r"ids must lie in 0..2 \(V=3\), got 3 at position 1"):
        Vocab("abc").decode([0, 3])


def test_vocab_decode_rejects_float_ids():
    with pytest.raises(TypeError, match="integer ids, got dtype float64"):
        Vocab("abc").decode(np.array([0.0, 1.0]))


# ------------------------------------------------------------------------------------------------ corpus


def test_default_corpus_is_the_pydoc_topics_offline(no_network):
    from pydoc_data import topics

    text = load_corpus()
    assert text == "\n".join(topics.topics[k] for k in sorted(topics.topics))
    assert len(text) > 400_000
    assert load_corpus() == text  # deterministic
    with pytest.raises(OSError, match="network disabled"):  # the fixture does cut the network
        socket.create_connection(("127.0.0.1", 9))


def test_all_tasks_load_offline(no_network):
    from rnncourse.captioning import make_scenes

    assert len(Vocab(load_corpus())) > 60
    data.copy_task(2, 3, seed=0)
    data.delayed_echo(2, 5, seed=0)
    data.parity(2, 4, seed=0)
    data.adding_problem(2, 6, seed=0)
    data.reverse_digits(2, 4, seed=0)
    data.counting(2, 4, seed=0)
    data.sine_waves(2, 5, seed=0)
    assert make_scenes(3, seed=0).images.shape == (3, 32, 32, 3)


def test_default_corpus_checksum_verified():
    digest = hashlib.sha256(load_corpus().encode("utf-8")).hexdigest()
    assert load_corpus(sha256=digest.upper()) == load_corpus()
    with pytest.raises(ValueError, match="checksum mismatch for the bundled corpus"):
        load_corpus(sha256="0" * 64)


def test_local_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("ünïcode text\n", encoding="utf-8")
    assert load_corpus(path) == "ünïcode text\n"
    assert load_corpus(str(path)) == "ünïcode text\n"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_corpus(path, sha256=digest) == "ünïcode text\n"
    with pytest.raises(ValueError, match=f"expected sha256 {'1' * 64}, got {digest}"):
        load_corpus(path, sha256="1" * 64)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither an existing file nor a URL"):
        load_corpus(tmp_path / "nope.txt")


def test_bad_source_type():
    with pytest.raises(TypeError, match="source must be None, a path or a URL string, got int"):
        load_corpus(3)


def test_bad_sha256_format():
    with pytest.raises(ValueError, match="sha256 must be a hex SHA-256 digest of 64 characters, got 'abc'"):
        load_corpus(sha256="abc")


def test_url_needs_sha256(tmp_path):
    with pytest.raises(ValueError, match="a URL source needs sha256=..., got sha256=None"):
        load_corpus("file:///corpus.txt", cache_dir=tmp_path)


def test_file_url_downloads_verifies_and_caches(tmp_path):
    src = tmp_path / "remote.txt"
    src.write_bytes(b"remote corpus\n")
    digest = hashlib.sha256(b"remote corpus\n").hexdigest()
    cache = tmp_path / "cache"
    assert load_corpus(src.as_uri(), sha256=digest, cache_dir=cache) == "remote corpus\n"
    cached = list(cache.iterdir())
    assert len(cached) == 1 and cached[0].read_bytes() == b"remote corpus\n"
    src.unlink()  # the second call must not need the source
    assert load_corpus(src.as_uri(), sha256=digest, cache_dir=cache) == "remote corpus\n"


def test_url_checksum_mismatch_is_refused_and_not_cached(tmp_path):
    src = tmp_path / "remote.txt"
    src.write_bytes(b"tampered\n")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"checksum mismatch for URL .*expected sha256 0{64}, got"):
        load_corpus(src.as_uri(), sha256="0" * 64, cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_corrupted_cache_is_downloaded_again(tmp_path):
    src = tmp_path / "remote.txt"
    src.write_bytes(b"good\n")
    digest = hashlib.sha256(b"good\n").hexdigest()
    cache = tmp_path / "cache"
    load_corpus(src.as_uri(), sha256=digest, cache_dir=cache)
    (cached,) = cache.iterdir()
    cached.write_bytes(b"bad\n")
    assert load_corpus(src.as_uri(), sha256=digest, cache_dir=cache) == "good\n"
    assert cached.read_bytes() == b"good\n"


def test_http_url_from_a_local_server(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    (served / "corpus.txt").write_bytes(b"served over http\n")
    digest = hashlib.sha256(b"served over http\n").hexdigest()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/corpus.txt"
    try:
        assert load_corpus(url, sha256=digest, cache_dir=tmp_path / "cache") == "served over http\n"
        with pytest.raises(ValueError, match="checksum mismatch"):
            load_corpus(url, sha256="f" * 64, cache_dir=tmp_path / "cache2")
    finally:
        server.shutdown()
        server.server_close()
    # served from the cache once the server is gone
    assert load_corpus(url, sha256=digest, cache_dir=tmp_path / "cache") == "served over http\n"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


# ------------------------------------------------------------------------------------------------ split


def test_train_val_split_is_contiguous():
    ids = np.arange(100, dtype=np.int64)
    train, val = train_val_split(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    t_train, t_val = train_val_split(torch.arange(10), 0.3)
    assert isinstance(t_train, torch.Tensor) and t_train.tolist() == list(range(7)) and len(t_val) == 3


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, True, "0.1"])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(
        ValueError, match=f"val_fraction must be a number strictly between 0 and 1, got {fraction!r}"
    ):
        train_val_split(np.arange(10), fraction)


def test_train_val_split_rejects_too_short_stream():
    with pytest.raises(ValueError, match="leaves 0 for validation and 3 for training"):
        train_val_split(np.arange(3), 0.1)


def test_train_val_split_rejects_float_ids():
    with pytest.raises(TypeError, match="ids must hold integer ids, got dtype float64"):
        train_val_split(np.zeros(10), 0.1)


# ------------------------------------------------------------------------------------------------ tasks


def test_copy_task_targets_repeat_the_inputs():
    x, target = data.copy_task(4, 5, V=6, seed=1)
    assert x.shape == target.shape == (4, 10)
    assert (target[:, 5:] == x[:, :5]).all() and (x[:, 5:] == 0).all() and (target[:, :5] == 0).all()
    assert x[:, :5].min() >= 1 and x.max() <= 5


def test_delayed_echo_and_parity_and_counting_oracles():
    x, target = data.delayed_echo(3, 8, delay=2, seed=0)
    assert (target[:, 2:] == x[:, :-2]).all() and (target[:, :2] == 0).all()
    bits, p = data.parity(50, 7, seed=0)
    assert (p == bits[..., 0].sum(1) % 2).all()
    start, seq = data.counting(3, 4, V=10, seed=0)
    assert (seq[:, 0] == (start + 1) % 10).all() and (np.diff(seq, axis=1) % 10 == 1).all()


def test_adding_problem_and_reverse_and_sine_oracles():
    x, target = data.adding_problem(20, 10, seed=0)
    assert (x[..., 1].sum(1) == 2).all()
    assert np.allclose(target, (x[..., 0] * x[..., 1]).sum(1))
    src, tgt = data.reverse_digits(3, 5, seed=0)
    assert (tgt == src[:, ::-1]).all()
    s, s_next = data.sine_waves(2, 6, seed=0)
    assert np.allclose(s[:, 1:], s_next[:, :-1])


def test_tasks_are_seeded():
    a = data.copy_task(3, 4, seed=7)
    b = data.copy_task(3, 4, seed=7)
    c = data.copy_task(3, 4, seed=8)
    assert all((u == v).all() for u, v in zip(a, b, strict=True))
    assert not (a[0] == c[0]).all()


@pytest.mark.parametrize("task", [data.copy_task, data.parity, data.adding_problem, data.sine_waves])
def test_tasks_reject_a_bad_seed(task):
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):
        task(2, 4, seed=-1)
    with pytest.raises(TypeError, match=r"seed must be an integer >= 0, got 0.5"):
        task(2, 4, seed=0.5)


def test_load_corpus_rejects_a_bad_timeout():
    with pytest.raises(ValueError, match=r"timeout must be > 0.0, got 0.0"):
        load_corpus(timeout=0)
    with pytest.raises(TypeError, match=r"timeout must be a finite real number, got 'soon'"):
        load_corpus(timeout="soon")


# ------------------------------------------------------------------------------------------- pad_sequences


def test_pad_sequences_pads_at_the_end_and_returns_lengths():
    padded, lengths = data.pad_sequences([np.array([3, 1, 4]), np.array([1]), np.array([5, 9])], pad=0)
    assert padded.dtype == np.int64 and lengths.dtype == np.int64
    assert padded.tolist() == [[3, 1, 4], [1, 0, 0], [5, 9, 0]] and lengths.tolist() == [3, 1, 2]
    mask = np.arange(padded.shape[1]) < lengths[:, None]
    assert mask.sum() == 6 and (padded[~mask] == 0).all()


def test_pad_sequences_with_features_and_pad_value():
    a, b = np.ones((2, 3)), np.full((4, 3), 2.0)
    padded, lengths = data.pad_sequences([a, b], pad=-1.5)
    assert padded.shape == (2, 4, 3) and lengths.tolist() == [2, 4]
    assert np.array_equal(padded[0, :2], a) and (padded[0, 2:] == -1.5).all() and np.array_equal(padded[1], b)


@pytest.mark.parametrize(
    ("seqs", "pad", "error"),
    [
        ([], 0, ValueError),  # empty
        (np.zeros((2, 3)), 0, ValueError),  # an array, not a list of sequences
        ([np.array([1, 2]), np.array([], dtype=np.int64)], 0, ValueError),  # a sequence of length 0
        ([np.ones((2, 3)), np.ones((2, 4))], 0, ValueError),  # different feature sizes
        ([np.array([1, 2]), np.array([0.5])], 0, TypeError),  # ids mixed with floats
        ([np.ones((2, 3, 4))], 0, ValueError),  # 3-D sequence
        ([np.array([1, 2])], "x", TypeError),  # pad not a number
    ],
)
def test_pad_sequences_rejects_bad_input(seqs, pad, error):
    with pytest.raises(error):
        data.pad_sequences(seqs, pad=pad)
