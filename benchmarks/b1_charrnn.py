"""B1: the numpy reference (``rnncourse.reference``) against a classic single-sequence character RNN.

Both sides train a character model with full forward + backward + Adagrad per step at the classic settings
V = 65, H = 100, T = 25. The baseline (:mod:`benchmarks.charrnn_baseline`) loops over characters with
column vectors and one-hot inputs; the rnncourse side runs ``embedding_forward -> rnn_forward ->
affine_forward -> softmax_cross_entropy`` and their backward functions on batches of B sequences (B = 1
and B = 32). The embedding has D = V = 65 columns, so with ``W_embed = I`` it computes exactly the
baseline's ``W_xh x_t`` (same number of multiply-adds per character). Throughput is characters per
second: ``B * T * steps / seconds``.
"""

from __future__ import annotations

import cProfile
import pstats
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
    """Character model built from ``rnncourse.reference`` functions, trained with Adagrad on batches.

    Parameters: ``W_embed (V, D)``, ``W_xh (H, D)``, ``W_hh (H, H)``, ``b_h (H,)``, ``W_hy (V, H)``,
    ``b_y (V,)`` (float64). The loss is the mean cross-entropy over the ``B * T`` positions.
    """

    names = ("W_embed", "W_xh", "W_hh", "b_h", "W_hy", "b_y")

    def __init__(self, V: int = V, H: int = H, D: int | None = None, *, learning_rate=0.1, seed: int = 0):
        D = V if D is None else D
        rng = np.random.default_rng(seed)
        self.learning_rate = learning_rate
        self.W_embed = np.eye(V, D) if D == V else rng.standard_normal((V, D)) * 0.01
        self.W_xh = rng.standard_normal((H, D)) * 0.01
        self.W_hh = rng.standard_normal((H, H)) * 0.01
        self.b_h = np.zeros(H)
        self.W_hy = rng.standard_normal((V, H)) * 0.01
        self.b_y = np.zeros(V)
        self.memory = {name: np.zeros_like(getattr(self, name)) for name in self.names}

    def loss_and_gradients(self, ids, targets, h0):
        """Forward and backward through the reference layers; ``ids, targets (B, T)``, ``h0 (B, H)``.

        Returns ``(loss, grads, h_last)`` with ``grads`` keyed by parameter name and ``h_last (B, H)``.
        """
        from rnncourse import reference as ref

        x, cache_e = ref.embedding_forward(ids, self.W_embed)
        hs, cache_r = ref.rnn_forward(x, h0, self.W_xh, self.W_hh, self.b_h)
        logits, cache_a = ref.affine_forward(hs, self.W_hy, self.b_y)
        loss, dlogits = ref.softmax_cross_entropy(logits, targets)
        dhs, dW_hy, db_y = ref.affine_backward(dlogits, cache_a)
        dx, _, dW_xh, dW_hh, db_h = ref.rnn_backward(dhs, cache_r)
        dW_embed = ref.embedding_backward(dx, cache_e)
        grads = {"W_embed": dW_embed, "W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h, "W_hy": dW_hy, "b_y": db_y}
        return float(loss), grads, hs[:, -1]

    def train_step(self, ids, targets, h0):
        """One forward + backward + Adagrad (gradients clipped to [-5, 5]); returns ``(loss, h_last)``."""
        loss, grads, h_last = self.loss_and_gradients(ids, targets, h0)
        for name in self.names:
            g = np.clip(grads[name], -5.0, 5.0)
            m = self.memory[name]
            m += g * g
            param = getattr(self, name)
            param -= self.learning_rate * g / np.sqrt(m + 1e-8)
        return loss, h_last


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


def run(*, quick: bool = False) -> dict:
    """Run B1 and return its result payload (rows: one per implementation)."""
    steps = (
        {"baseline": 60, "ref_b1": 60, "ref_b32": 12}
        if not quick
        else {"baseline": 4, "ref_b1": 4, "ref_b32": 2}
    )
    repeats = 15 if not quick else 2
    ids = corpus_ids()
    base, _ = _baseline_runner(ids, steps["baseline"])
    ref1, _ = _reference_runner(ids, 1, steps["ref_b1"])
    ref32, _ = _reference_runner(ids, 32, steps["ref_b32"])
    t0 = time.perf_counter()
    times = time_alternating({"baseline": base, "ref_b1": ref1, "ref_b32": ref32}, repeats=repeats, warmup=1)
    chars = {
        "baseline": T * steps["baseline"],
        "ref_b1": T * steps["ref_b1"],
        "ref_b32": 32 * T * steps["ref_b32"],
    }
    cps = {k: [chars[k] / s for s in v] for k, v in times.items()}
    med = {k: median(v) for k, v in cps.items()}
    labels = {
        "baseline": ("classic char RNN (column vectors, one-hot, loop per char)", 1),
        "ref_b1": ("rnncourse.reference, batch 1", 1),
        "ref_b32": ("rnncourse.reference, batch 32", 32),
    }
    rows = [
        {
            "implementation": labels[k][0],
            "batch": labels[k][1],
            "chars/s (median)": round(med[k], 1),
            "chars/s (min)": round(min(cps[k]), 1),
            "chars/s (max)": round(max(cps[k]), 1),
            "ms/step (median)": round(1e3 * median(times[k]) / steps[k], 3),
            "speed-up vs baseline": round(med[k] / med["baseline"], 2),
        }
        for k in ("baseline", "ref_b1", "ref_b32")
    ]
    paired_b1 = [a / b for a, b in zip(cps["ref_b1"], cps["baseline"], strict=True)]
    paired_b32 = [a / b for a, b in zip(cps["ref_b32"], cps["baseline"], strict=True)]
    summary = {
        "speed-up at batch 1 (target >= 2)": round(med["ref_b1"] / med["baseline"], 2),
        "speed-up at batch 32 (target >= 20)": round(med["ref_b32"] / med["baseline"], 2),
        "median of paired ratios, batch 1": round(median(paired_b1), 2),
        "median of paired ratios, batch 32": round(median(paired_b32), 2),
        "ratio of best throughputs, batch 1": round(max(cps["ref_b1"]) / max(cps["baseline"]), 2),
        "ratio of best throughputs, batch 32": round(max(cps["ref_b32"]) / max(cps["baseline"]), 2),
    }
    return {
        "title": "B1: numpy reference vs a classic character RNN",
        "description": (
            f"Training throughput (characters per second) of one forward + backward + Adagrad step at "
            f"V = {V}, H = {H}, T = {T} (float64). The baseline processes one sequence with column vectors "
            "and one-hot inputs in a Python loop per character; rnncourse runs embedding -> rnn_forward -> "
            "affine -> softmax cross-entropy and back on batches of 1 and 32 sequences. "
            f"{repeats} alternating repeats; speed-up = ratio of median throughputs."
        ),
        "settings": {"V": V, "H": H, "T": T, "D": V, "repeats": repeats, "steps_per_repeat": steps},
        "summary": summary,
        "rows": rows,
        "raw": {"chars_per_second": cps},
        "profile": {
            "batch 1": profile_reference(1, 40 if not quick else 2),
            "batch 32": profile_reference(32, 10 if not quick else 2),
        },
        "seconds": round(time.perf_counter() - t0, 2),
    }
