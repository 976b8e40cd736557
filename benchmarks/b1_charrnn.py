"""B1: the numpy reference (``rnncourse.reference``) against a classic character RNN and a product bound.

Both models train the same character model, with full forward + backward + Adagrad per step, at the classic
settings V = 65, H = 100, T = 25, float64. The baseline (:mod:`benchmarks.charrnn_baseline`) is the fast
classic single-sequence style (min-char-rnn): one-hot column vectors, ``np.dot``, ``np.tanh``, a loop per
character in both passes. The rnncourse side runs ``embedding_forward -> rnn_forward -> affine_forward ->
softmax_cross_entropy`` and the backward functions on batches of B sequences (B = 1 and B = 32); its
embedding is the fixed identity (``W_embed = I``, D = V), so its inputs are the same one-hot vectors and it
trains the same five parameters as the baseline (``W_xh``, ``W_hh``, ``b_h``, ``W_hy``, ``b_y``).

The bound at batch 32 times only the matrix products of a reference step, each done once as one large
product: the input parts, logits and every backward product over the whole block of ``B * T`` rows, plus the
``T`` recurrent products of each pass that the recurrence forbids merging. Throughput is characters per
second: ``B * T * steps / seconds``. All candidates are timed in the same process, alternating.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ._harness import median, time_alternating
from .charrnn_baseline import ClassicCharRNN

V, H, T = 65, 100, 25


def corpus_ids(V: int = V, *, n: int = 200_000) -> np.ndarray:
    """The first ``n`` characters of CPython's bundled reference text as ids in ``0..V-1``.

    The ``V - 1`` most frequent characters keep their own id (sorted order); every other character maps to
    the last id. Offline and deterministic (``pydoc_data.topics`` ships with CPython).
    """
    from pydoc_data.topics import topics

    text = "".join(topics[key] for key in sorted(topics))[:n]
    keep = sorted(c for c, _ in Counter(text).most_common(V - 1))
    table = {c: i for i, c in enumerate(keep)}
    return np.array([table.get(c, V - 1) for c in text], dtype=np.int64)


class ReferenceCharRNN:
    """The baseline's model built from ``rnncourse.reference`` functions, trained with Adagrad on batches.

    Parameters ``W_xh (H, V)``, ``W_hh (H, H)``, ``b_h (H,)``, ``W_hy (V, H)``, ``b_y (V,)`` (float64) with
    the baseline's initialisation; the inputs are one-hot rows, the embedding ``W_embed = I`` (V, V) (not
    trained). The loss is the mean cross-entropy over the ``B * T`` positions.
    """

    names = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")

    def __init__(self, V: int = V, H: int = H, *, learning_rate=0.1, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.learning_rate = learning_rate
        self.W_embed = np.eye(V)  # one-hot inputs: x_t = W_embed[c_t] = e_{c_t}
        self.W_xh = rng.standard_normal((H, V)) * 0.01
        self.W_hh = rng.standard_normal((H, H)) * 0.01
        self.W_hy = rng.standard_normal((V, H)) * 0.01
        self.b_h = np.zeros(H)
        self.b_y = np.zeros(V)
        self.memory = {name: np.zeros_like(getattr(self, name)) for name in self.names}

    def loss_and_gradients(self, ids, targets, h0):
        """Forward and backward through the reference layers; ``ids, targets (B, T)``, ``h0 (B, H)``.

        Returns ``(loss, grads, h_last)`` with ``grads`` keyed by parameter name and ``h_last (B, H)``.
        """
        from rnncourse import reference as ref

        x, _ = ref.embedding_forward(ids, self.W_embed)
        hs, cache_r = ref.rnn_forward(x, h0, self.W_xh, self.W_hh, self.b_h)
        logits, cache_a = ref.affine_forward(hs, self.W_hy, self.b_y)
        loss, dlogits = ref.softmax_cross_entropy(logits, targets)
        dhs, dW_hy, db_y = ref.affine_backward(dlogits, cache_a)
        _, _, dW_xh, dW_hh, db_h = ref.rnn_backward(dhs, cache_r)
        grads = {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h, "W_hy": dW_hy, "b_y": db_y}
        return float(loss), grads, hs[:, -1]

    def train_step(self, ids, targets, h0):
        """One forward + backward + Adagrad (gradients clipped to [-5, 5]); returns ``(loss, h_last)``."""
        loss, grads, h_last = self.loss_and_gradients(ids, targets, h0)
        for name in self.names:  # the baseline's update, line for line
            g, m = grads[name], self.memory[name]
            np.clip(g, -5.0, 5.0, out=g)
            m += g * g
            param = getattr(self, name)
            param += -self.learning_rate * g / np.sqrt(m + 1e-8)
        return loss, h_last


def matrix_products(B: int, *, seed: int = 0):
    """The matrix products of one reference training step at batch ``B``, each as one large product.

    Returns a callable that computes them on random float64 arrays of the step's shapes: forward
    ``X W_xh^T`` (all ``B T`` input parts), ``T`` recurrent products ``h W_hh^T``, the logits ``H_s W_hy^T``;
    backward ``dY W_hy`` and ``dY^T H_s`` (output layer), ``T`` recurrent products ``delta W_hh``, and
    ``Delta^T X``, ``Delta^T H_prev``, ``Delta W_xh`` (the RNN's weight and input gradients).
    """
    rng = np.random.default_rng(seed)
    X, Hs, H_prev = rng.random((B * T, V)), rng.random((B * T, H)), rng.random((B * T, H))
    dY, Delta, h = rng.random((B * T, V)), rng.random((B * T, H)), rng.random((B, H))
    W_xh, W_hh, W_hy = rng.random((H, V)), rng.random((H, H)), rng.random((V, H))

    def products():
        X @ W_xh.T
        for _ in range(T):
            h @ W_hh.T
        Hs @ W_hy.T
        dY @ W_hy
        dY.T @ Hs
        for _ in range(T):
            h @ W_hh
        Delta.T @ X
        Delta.T @ H_prev
        Delta @ W_xh

    return products


def _baseline_runner(ids: np.ndarray, steps: int):
    model = ClassicCharRNN(V, H, seed=0)
    state = {"pos": 0, "h": np.zeros((H, 1))}
    inputs_all, targets_all = ids[:-1].tolist(), ids[1:].tolist()

    def run():
        for _ in range(steps):
            p = state["pos"]
            if p + T >= len(inputs_all):
                p, state["h"] = 0, np.zeros((H, 1))
            _, state["h"] = model.train_step(inputs_all[p : p + T], targets_all[p : p + T], state["h"])
            state["pos"] = p + T

    return run, model


def _reference_runner(ids: np.ndarray, B: int, steps: int):
    model = ReferenceCharRNN(V, H, seed=0)
    n_stream = (len(ids) - 1) // B
    streams = ids[: n_stream * B + 1]
    inputs = streams[:-1].reshape(B, n_stream)
    targets = streams[1:].reshape(B, n_stream)
    state = {"pos": 0, "h": np.zeros((B, H))}

    def run():
        for _ in range(steps):
            p = state["pos"]
            if p + T > n_stream:
                p, state["h"] = 0, np.zeros((B, H))
            _, state["h"] = model.train_step(inputs[:, p : p + T], targets[:, p : p + T], state["h"])
            state["pos"] = p + T

    return run, model


def _bound_runner(B: int, steps: int):
    products = matrix_products(B)

    def run():
        for _ in range(steps):
            products()

    return run


def profile_reference(B: int, steps: int, *, top: int = 6) -> list[dict]:
    """Profile ``steps`` training steps of the reference model at batch ``B`` with cProfile.

    Returns the ``top`` functions by own time (excluding the functions they call), each as
    ``{"function": "file.py:name", "calls per step": n, "own time %": share of the total}``.
    """
    run_steps, _ = _reference_runner(corpus_ids(n=20_000), B, steps)
    run_steps()  # warm-up
    profiler = cProfile.Profile()
    profiler.runcall(run_steps)
    # {(file, line, name): (primitive calls, calls, own time, cumulative time, callers)}
    stats = pstats.Stats(profiler).stats
    total = sum(v[2] for v in stats.values())
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return [
        {
            "function": f"{Path(file).name}:{name}" if file != "~" else name,
            "calls per step": round(v[1] / steps, 1),
            "own time %": round(100 * v[2] / total, 1),
        }
        for (file, _, name), v in ranked
    ]


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory in the process; True if it applied (Linux with glibc).

    By default glibc returns the free memory at the top of its heap to the system once it exceeds a threshold
    (and serves large blocks with ``mmap``), so a step that allocates and frees a few MB of temporaries
    gets fresh pages from the kernel, zeroed, on every step: at batch 32 that costs about a third of the
    step. Other allocators keep freed memory by default; so do the measurements here.
    """
    import ctypes
    import ctypes.util

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)) and bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 25))
    except (OSError, AttributeError, TypeError):
        return False


def measure(*, quick: bool = False, profile: bool = True) -> dict:
    """Time the four candidates alternately in this process: characters per second of every repeat."""
    steps = (
        {"baseline": 40, "ref_b1": 80, "ref_b32": 10, "bound_b32": 20}
        if not quick
        else {"baseline": 4, "ref_b1": 4, "ref_b32": 2, "bound_b32": 2}
    )
    repeats = 31 if not quick else 2
    ids = corpus_ids()
    candidates = {
        "baseline": _baseline_runner(ids, steps["baseline"])[0],
        "ref_b1": _reference_runner(ids, 1, steps["ref_b1"])[0],
        "ref_b32": _reference_runner(ids, 32, steps["ref_b32"])[0],
        "bound_b32": _bound_runner(32, steps["bound_b32"]),
    }
    times = time_alternating(candidates, repeats=repeats, warmup=1)
    cps = {k: [BATCH[k] * T * steps[k] / s for s in v] for k, v in times.items()}
    ms = {k: [1e3 * s / steps[k] for s in v] for k, v in times.items()}
    out = {"steps_per_repeat": steps, "repeats": repeats, "chars_per_second": cps, "ms_per_step": ms}
    if profile:
        n = 80 if not quick else 2
        out["profile"] = {"batch 1": profile_reference(1, n), "batch 32": profile_reference(32, n // 8 or 2)}
    return out


ALLOCATOR = "glibc mallopt: M_TRIM_THRESHOLD 1 GiB, M_MMAP_THRESHOLD 32 MiB"
BATCH = {"baseline": 1, "ref_b1": 1, "ref_b32": 32, "bound_b32": 32}
LABELS = {
    "baseline": "classic char RNN (min-char-rnn style: one-hot columns, np.dot, loop per char)",
    "ref_b1": "rnncourse.reference, batch 1",
    "ref_b32": "rnncourse.reference, batch 32",
    "bound_b32": "matrix products only, batch 32 (bound)",
}


def _measure_in_subprocess(allocator: str, quick: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.b1_charrnn", "--worker", "--allocator", allocator]
    cmd += ["--quick"] if quick else []
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratios(m: dict) -> dict:
    cps = m["chars_per_second"]
    med = {k: median(v) for k, v in cps.items()}
    paired_b1 = [a / b for a, b in zip(cps["ref_b1"], cps["baseline"], strict=True)]
    paired_b32 = [a / b for a, b in zip(cps["ref_b32"], cps["bound_b32"], strict=True)]
    return {
        "b1": med["ref_b1"] / med["baseline"],
        "b32_bound": med["ref_b32"] / med["bound_b32"],
        "b32": med["ref_b32"] / med["baseline"],
        "paired_b1": median(paired_b1),
        "paired_b32_bound": median(paired_b32),
    }


def run(*, quick: bool = False) -> dict:
    """Run B1 (two fresh processes: freed memory kept, then glibc's default) and return its result payload."""
    t0 = time.perf_counter()
    kept = _measure_in_subprocess("keep", quick)
    default = _measure_in_subprocess("default", quick)
    cps = kept["chars_per_second"]
    med = {k: median(v) for k, v in cps.items()}
    rows = [
        {
            "implementation": LABELS[k],
            "batch": BATCH[k],
            "chars/s (median)": round(med[k], 1),
            "chars/s (min)": round(min(cps[k]), 1),
            "chars/s (max)": round(max(cps[k]), 1),
            "ms/step (median)": round(median(kept["ms_per_step"][k]), 3),
            "vs classic": round(med[k] / med["baseline"], 2),
        }
        for k in LABELS
    ]
    r, d = _ratios(kept), _ratios(default)
    summary = {
        "batch 1: reference / classic (chars/s)": round(r["b1"], 2),
        "batch 32: reference / matrix-product bound (chars/s)": round(r["b32_bound"], 2),
        "batch 32: reference / classic (chars/s)": round(r["b32"], 2),
        "batch 1: median of paired ratios": round(r["paired_b1"], 2),
        "batch 32 / bound: median of paired ratios": round(r["paired_b32_bound"], 2),
        "glibc default allocator, batch 1: reference / classic": round(d["b1"], 2),
        "glibc default allocator, batch 32: reference / bound": round(d["b32_bound"], 2),
    }
    repeats = kept["repeats"]
    return {
        "title": "B1: numpy reference vs a classic character RNN and the matrix-product bound",
        "description": (
            f"Training throughput (characters per second) of one forward + backward + Adagrad step at "
            f"V = {V}, H = {H}, T = {T} (float64), same model and update on both sides. The classic baseline "
            "processes one sequence with one-hot column vectors, np.dot and a Python loop per character "
            "(min-char-rnn style); rnncourse runs embedding (one-hot) -> rnn_forward -> affine -> softmax "
            "cross-entropy and back on batches of 1 and 32 sequences. The bound times only the matrix "
            "products of a batch-32 step, each as one large product (the T recurrent products of each pass "
            f"stay separate). All four alternate in one fresh process, {repeats} repeats; ratios of median "
            "throughputs. glibc's allocator is set to keep freed memory in the process (mallopt); the last "
            "two lines repeat the measurement in a second process with its default, which returns the freed "
            "temporaries of every step to the system and pays for fresh pages on the next."
        ),
        "settings": {
            **{"V": V, "H": H, "T": T, "D": V, "repeats": repeats},
            "steps_per_repeat": kept["steps_per_repeat"],
            "allocator": ALLOCATOR if kept["allocator_applied"] else "default (mallopt unavailable)",
        },
        "summary": summary,
        "rows": rows,
        "raw": {"chars_per_second": cps, "default_allocator_chars_per_second": default["chars_per_second"]},
        "profile": kept["profile"],
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="measure in this process and print JSON")
    parser.add_argument("--allocator", choices=("keep", "default"), default="keep")
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    args = parser.parse_args(argv)
    if not args.worker:
        print(json.dumps(run(quick=args.quick)["summary"], indent=2))
        return
    applied = keep_freed_memory() if args.allocator == "keep" else False
    result = measure(quick=args.quick, profile=args.allocator == "keep")
    print(json.dumps({**result, "allocator_applied": applied}))


if __name__ == "__main__":
    _main()
