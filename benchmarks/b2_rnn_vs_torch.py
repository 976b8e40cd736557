"""B2: ``rnncourse.modules.RNN`` (a readable loop over time) against ``torch.nn.RNN`` on the CPU.

Both modules hold the same weights (``RNN.from_torch``), run batch-first in float32, and are timed for one
forward + backward pass (``loss = sum(hs * G)`` for a fixed random ``G``), alternating, with the machine's
default number of torch threads.
"""

from __future__ import annotations

import time

from ._harness import median, time_alternating

CONFIGS = ((32, 100, 64, 256), (64, 200, 128, 512))


def _runner(model, x, G):
    def run():
        for p in model.parameters():
            p.grad = None
        hs, _ = model(x)
        (hs * G).sum().backward()

    return run


def run(*, quick: bool = False) -> dict:
    """Run B2 and return its result payload (rows: one per configuration)."""
    import torch

    from rnncourse.modules import RNN

    configs = CONFIGS if not quick else ((4, 10, 8, 16),)
    rows = []
    t0 = time.perf_counter()
    for B, T, D, H in configs:
        repeats = (15 if B * T * H < 2_000_000 else 5) if not quick else 2
        gen = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        reference = torch.nn.RNN(D, H, batch_first=True)
        ours = RNN.from_torch(reference)
        x = torch.randn(B, T, D, generator=gen)
        G = torch.randn(B, T, H, generator=gen)
        with torch.no_grad():
            same = torch.allclose(ours(x)[0], reference(x)[0], atol=1e-5)
        times = time_alternating(
            {"torch": _runner(reference, x, G), "rnncourse": _runner(ours, x, G)}, repeats=repeats, warmup=1
        )
        paired = [a / b for a, b in zip(times["rnncourse"], times["torch"], strict=True)]
        rows.append(
            {
                "(B, T, D, H)": f"({B}, {T}, {D}, {H})",
                "torch.nn.RNN ms": round(1e3 * median(times["torch"]), 2),
                "rnncourse RNN ms": round(1e3 * median(times["rnncourse"]), 2),
                "ratio (rnncourse / torch)": round(median(times["rnncourse"]) / median(times["torch"]), 3),
                "median paired ratio": round(median(paired), 3),
                "ratio of best times": round(min(times["rnncourse"]) / min(times["torch"]), 3),
                "same outputs": bool(same),
            }
        )
    return {
        "title": "B2: rnncourse.modules.RNN vs torch.nn.RNN (CPU, forward + backward)",
        "description": (
            "Time of one forward + backward pass, batch-first float32, same weights; "
            "15 (first size) and 5 (second size) alternating repeats after one warm-up round, medians. "
            "The ratio of the best (fastest) times is less sensitive to other programs running on the "
            "machine. "
            f"torch threads: {torch.get_num_threads()} (the machine default)."
        ),
        "settings": {
            "repeats": [15, 5] if not quick else [2],
            "torch_threads": torch.get_num_threads(),
            "dtype": "float32",
        },
        "summary": {f"ratio at {r['(B, T, D, H)']}": r["ratio (rnncourse / torch)"] for r in rows},
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }
