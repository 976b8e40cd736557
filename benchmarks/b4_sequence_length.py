"""B4: the cost of a recurrent layer against layers that process all positions at once, as T grows.

Forward time (no gradient) of one layer over a batch of sequences, ``x (B, T, H)``, for

* ``rnncourse.modules.RNN`` and ``torch.nn.RNN``: T sequential steps, ``h_t`` needs ``h_{t-1}``;
* ``torch.nn.Conv1d`` (kernel 3, "same" padding) over time: every output position at once, 1 step;
* one self-attention layer (``torch.nn.MultiheadAttention``, 1 head): every position at once, 1 step,
  but T^2 scores.

The data for chapter 10: the RNN's time grows linearly with T because its steps run one after another;
the other two layers have a depth of one step whatever T is (their work still grows, with T for the
convolution and T^2 for attention, but it is parallel across positions).
"""

from __future__ import annotations

import time

import numpy as np

from ._harness import median, time_alternating

T_VALUES = (32, 128, 512, 2048)
B, H = 4, 64
THREADS = 1  # per-step overheads and depth are compared; on a shared 2-core CPU a 2nd thread mostly waits


def _slope_us_per_step(ts, ms) -> float:
    """Least-squares slope of time (ms) against T, returned in microseconds per additional position."""
    slope, _ = np.polyfit(np.asarray(ts, float), np.asarray(ms, float), 1)
    return float(slope * 1e3)


def run(*, quick: bool = False) -> dict:
    """Run B4 and return its result payload (rows: one per layer and T)."""
    import torch

    from rnncourse.modules import RNN

    t_values = T_VALUES if not quick else (8, 16)
    repeats = 7 if not quick else 2
    torch.manual_seed(0)
    torch_rnn = torch.nn.RNN(H, H, batch_first=True)
    ours = RNN.from_torch(torch_rnn)
    conv = torch.nn.Conv1d(H, H, kernel_size=3, padding=1)
    attn = torch.nn.MultiheadAttention(H, num_heads=1, batch_first=True)
    layers = {
        "rnncourse RNN": lambda x: ours(x)[0],
        "torch.nn.RNN": lambda x: torch_rnn(x)[0],
        "Conv1d (k = 3)": lambda x: conv(x.transpose(1, 2)).transpose(1, 2),
        "self-attention (1 head)": lambda x: attn(x, x, x, need_weights=False)[0],
    }
    steps = {"rnncourse RNN": "T", "torch.nn.RNN": "T", "Conv1d (k = 3)": 1, "self-attention (1 head)": 1}
    ms = {name: [] for name in layers}
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with torch.no_grad():
            for T in t_values:
                x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(T))
                fns = {name: (lambda f=f, x=x: f(x)) for name, f in layers.items()}
                times = time_alternating(fns, repeats=repeats, warmup=1)
                for name in layers:
                    ms[name].append(1e3 * median(times[name]))
    finally:
        torch.set_num_threads(threads)
    rows = []
    for name in layers:
        for T, m in zip(t_values, ms[name], strict=True):
            rows.append(
                {
                    "layer": name,
                    "T": T,
                    "sequential steps": T if steps[name] == "T" else 1,
                    "forward ms": round(m, 3),
                    "us per position": round(1e3 * m / T, 2),
                }
            )
    slopes = {name: round(_slope_us_per_step(t_values, ms[name]), 2) for name in layers}
    ratio = [a / b for a, b in zip(ms["rnncourse RNN"], ms["Conv1d (k = 3)"], strict=True)]
    summary = {f"slope of {name}, us per extra position": s for name, s in slopes.items()}
    summary["rnncourse RNN / Conv1d time, smallest T -> largest T"] = f"{ratio[0]:.1f} -> {ratio[-1]:.1f}"
    return {
        "title": "B4: cost against sequence length, recurrent vs all-positions-at-once layers",
        "description": (
            f"Forward time (no gradient, float32) of one layer on x of shape (B, T, H) with B = {B}, "
            f"H = {H}; {repeats} alternating repeats, medians. 'sequential steps' is the number of steps "
            "that must run one after another (the depth of the computation in time). "
            f"torch threads: {THREADS} (a second thread on a busy 2-core machine mostly adds waiting)."
        ),
        "settings": {
            "B": B,
            "H": H,
            "T": list(t_values),
            "repeats": repeats,
            "torch_threads": THREADS,
        },
        "summary": summary,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }
