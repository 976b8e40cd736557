"""B3: truncated against full backpropagation through time on one long sequence: time and peak memory.

A small RNN (``rnncourse.topologies.ManyToMany``: an ``rnncourse.modules.RNN`` with D = 1, H = 128, B = 1,
plus a linear read-out) trains for one pass over a single sequence of length T (next-value prediction of a
noisy sum of sines, mean squared error at every step) with ``rnncourse.training.fit`` on the windows of
``rnncourse.bptt.stream_windows`` and the loss function ``rnncourse.bptt.carried_state``:

* full BPTT: one window of all T steps: one forward pass, one backward pass, one update;
* truncated BPTT (k = 50): T / k segments, each forward + backward + update, the hidden state carried
  across segments and detached (``h.detach()``), so no graph outlives its segment.

Every configuration runs in a fresh subprocess and records

* ``activation MB``: the peak of the live bytes of the distinct tensors autograd saves for the backward
  pass, counted with ``torch.autograd.graph.saved_tensors_hooks`` and released when the graph is freed (the
  storages of the parameters and of the input and target sequences are excluded). Deterministic: the
  activation memory of BPTT;
* ``peak RSS MB``: the rise of the process's resident set, peak during training (``VmHWM``, reset through
  ``/proc/self/clear_refs`` before training where Linux allows it, else ``ru_maxrss``) minus the resident
  set before training, measured on a separate pass without hooks (which also gives the time). Includes
  autograd's node objects and the allocator; noisier.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from ._harness import median

T_VALUES = (1_000, 2_000, 5_000, 10_000, 20_000)
K = 50
H = 128


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _sequence(T: int, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(T + 1, dtype=torch.float32)
    signal = torch.sin(0.07 * t) + 0.5 * torch.sin(0.31 * t + 1.0) + 0.1 * torch.randn(T + 1, generator=gen)
    return signal[:-1].reshape(T, 1), signal[1:].reshape(T, 1)


class _Packed:
    __slots__ = ("tensor", "key", "meter", "__weakref__")

    def __init__(self, tensor, key, meter):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self):
        self.meter.release(self.key)


class ActivationMeter:
    """Live and peak bytes of the distinct storages autograd saves, excluding some tensors' storages.

    Like ``rnncourse.bptt.SavedTensorMeter``, but the storages of ``excluded`` tensors (the parameters and
    the input and target sequences, which exist whatever the training method) are not counted, so the
    measure is the activation memory of the graph alone.
    """

    def __init__(self, excluded):
        self.excluded = {t.untyped_storage().data_ptr() for t in excluded}
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.current_bytes = 0
        self.peak_bytes = 0

    def pack(self, tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key in self.excluded:
            return tensor
        if key not in self.refs:
            self.refs[key], self.sizes[key] = 0, storage.nbytes()
            self.current_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        self.refs[key] += 1
        return _Packed(tensor, key, self)

    @staticmethod
    def unpack(packed):
        return packed.tensor if isinstance(packed, _Packed) else packed

    def release(self, key) -> None:
        n = self.refs.get(key)
        if n is None:
            return
        if n <= 1:
            del self.refs[key]
            self.current_bytes -= self.sizes.pop(key)
        else:
            self.refs[key] = n - 1


def _model_and_optimizer(hidden: int, seed: int):
    import torch

    from rnncourse.topologies import ManyToMany

    model = ManyToMany(1, hidden, 1, seed=seed)
    return model, torch.optim.SGD(model.parameters(), lr=0.01)


def worker(mode: str, T: int, k: int = K, hidden: int = H, seed: int = 0) -> dict:
    """Train for one pass over a sequence of length ``T`` with full or truncated BPTT and measure it.

    Two passes from the same initial weights: the first (no hooks) is timed and gives the rise of the
    resident set; the second counts the activation bytes with :class:`ActivationMeter`. Training goes
    through ``rnncourse.training.fit`` with ``rnncourse.bptt.stream_windows`` and ``carried_state``
    (TBPTT(k, k), or full BPTT with one window of T steps) on a ``rnncourse.topologies.ManyToMany`` model
    (an ``rnncourse.modules.RNN`` plus a linear read-out).

    Returns a dict with ``seconds``, ``activation_bytes``, ``rss_rise_kb``, ``updates`` and ``final_loss``.
    """
    import torch

    from rnncourse.bptt import carried_state, stream_windows
    from rnncourse.training import fit

    def one_pass(model, opt, x, target, window):
        """One pass: TBPTT(window, window) over the sequence (window = T: full BPTT); the losses."""
        windows = stream_windows(x, target, 1, window, epochs=1)
        return fit(model, windows, opt, steps=-(-len(x) // window), loss_fn=carried_state()).loss

    torch.manual_seed(seed)
    x, target = _sequence(T, seed)
    window = T if mode == "full" else k
    # warm-up on a short sequence: first-call allocations are not part of the measurement
    model, opt = _model_and_optimizer(hidden, seed)
    one_pass(model, opt, x[: 2 * k], target[: 2 * k], k)

    model, opt = _model_and_optimizer(hidden, seed)
    rss_before = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    losses = one_pass(model, opt, x, target, window)
    seconds = time.perf_counter() - t0
    hwm = _status_kb("VmHWM")
    if reset and rss_before is not None and hwm is not None:
        rss_rise, method = hwm - rss_before, "VmHWM after clear_refs - VmRSS before"
    else:
        rss_rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
        method = "ru_maxrss delta"

    model, opt = _model_and_optimizer(hidden, seed)
    meter = ActivationMeter([*model.parameters(), x, target])
    with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack):
        one_pass(model, opt, x, target, window)
    return {
        "mode": mode,
        "T": T,
        "k": k if mode == "truncated" else None,
        "seconds": seconds,
        "activation_bytes": meter.peak_bytes,
        "rss_rise_kb": max(rss_rise, 0),
        "rss_method": method,
        "updates": len(losses),
        "final_loss": losses[-1],
    }


def _run_subprocess(mode: str, T: int, k: int, hidden: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.b3_bptt_memory", "--worker", "--mode", mode, "--T", str(T)]
    cmd += ["--k", str(k), "--hidden", str(hidden)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(*, quick: bool = False) -> dict:
    """Run B3 (one subprocess per configuration) and return its result payload."""
    t_values = T_VALUES if not quick else (200, 400)
    k = K if not quick else 20
    hidden = H if not quick else 16
    rows = []
    t0 = time.perf_counter()
    for T in t_values:
        for mode in ("truncated", "full"):
            r = _run_subprocess(mode, T, k, hidden)
            rows.append(
                {
                    "T": T,
                    "BPTT": f"truncated (k = {k})" if mode == "truncated" else "full",
                    "updates": r["updates"],
                    "seconds": round(r["seconds"], 3),
                    "ms per 1000 steps": round(1e3 * r["seconds"] / T * 1000, 1),
                    "activation MB": round(r["activation_bytes"] / 2**20, 3),
                    "peak RSS MB": round(r["rss_rise_kb"] / 1024, 1),
                }
            )
    trunc = [r for r in rows if r["BPTT"] != "full"]
    full = [r for r in rows if r["BPTT"] == "full"]
    summary = {}
    for column in ("activation MB", "peak RSS MB"):
        for label, group in (("truncated", trunc), ("full", full)):
            summary[f"{column}, {label}, T = {t_values[0]} -> {t_values[-1]}"] = (
                f"{group[0][column]} -> {group[-1][column]}"
            )
    ms_trunc = median(r["ms per 1000 steps"] for r in trunc)
    ms_full = median(r["ms per 1000 steps"] for r in full)
    summary["median ms per 1000 steps, truncated / full"] = f"{ms_trunc} / {ms_full}"
    return {
        "title": "B3: truncated vs full BPTT, time and peak memory against sequence length",
        "description": (
            f"One training pass over a single sequence of length T (RNN with H = {hidden}, B = 1, D = 1, "
            "SGD), "
            f"full BPTT against truncated BPTT with k = {k}; each configuration in a fresh process. "
            "'activation MB' counts the distinct tensors autograd saves (saved_tensors_hooks, parameters "
            "excluded; deterministic); 'peak RSS MB' is the rise of the resident set during training."
        ),
        "settings": {"T": list(t_values), "k": k, "H": hidden, "B": 1, "D": 1, "optimizer": "SGD(lr=0.01)"},
        "summary": summary,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="measure one configuration, print JSON")
    parser.add_argument("--mode", choices=("full", "truncated"), default="truncated")
    parser.add_argument("--T", type=int, default=1000)
    parser.add_argument("--k", type=int, default=K)
    parser.add_argument("--hidden", type=int, default=H)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.mode, args.T, args.k, args.hidden)))
    else:
        print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    _main()
