"""Smoke tests of the benchmark code (the benchmarks themselves are not timed tests).

The baseline character RNN must compute correct gradients, agree with the numpy reference, and the harness
must alternate candidates and write results that the appendix can read.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import _harness  # noqa: E402
from benchmarks.b1_charrnn import ReferenceCharRNN, corpus_ids  # noqa: E402
from benchmarks.charrnn_baseline import PARAMETERS, ClassicCharRNN  # noqa: E402


def _small_problem(V=7, H=5, T=6, seed=0):
    model = ClassicCharRNN(V, H, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for name in PARAMETERS:  # larger weights than the 0.01 init, so that tanh is not linear
        setattr(model, name, rng.standard_normal(getattr(model, name).shape) * 0.5)
    inputs, targets = rng.integers(0, V, T).tolist(), rng.integers(0, V, T).tolist()
    h_prev = rng.standard_normal((H, 1)) * 0.5
    return model, inputs, targets, h_prev


@pytest.mark.parametrize("name", PARAMETERS)
def test_baseline_gradients_match_central_differences(name):
    model, inputs, targets, h_prev = _small_problem()
    _, grads, _ = model.loss_and_gradients(inputs, targets, h_prev)
    param = getattr(model, name)
    numerical = np.zeros_like(param)
    eps = 1e-6
    for idx in np.ndindex(param.shape):
        old = param[idx]
        param[idx] = old + eps
        plus = model.loss_and_gradients(inputs, targets, h_prev)[0]
        param[idx] = old - eps
        minus = model.loss_and_gradients(inputs, targets, h_prev)[0]
        param[idx] = old
        numerical[idx] = (plus - minus) / (2 * eps)
    rel = np.abs(numerical - grads[name]).max() / max(1e-12, np.abs(numerical).max())
    assert rel < 1e-6


def test_baseline_loss_of_uniform_prediction_is_T_log_V():
    V, H, T = 11, 4, 9
    model = ClassicCharRNN(V, H)
    model.W_hy[...] = 0.0  # logits all zero: p_t uniform, loss = T log V
    loss, grads, h_last = model.loss_and_gradients(list(range(T)), list(range(1, T + 1)), np.zeros((H, 1)))
    assert loss == pytest.approx(T * np.log(V), rel=1e-12)
    assert h_last.shape == (H, 1)
    assert grads["b_y"].sum() == pytest.approx(0.0, abs=1e-12)  # sum over V of (p - onehot) is 0 per step


def test_baseline_agrees_with_the_numpy_reference():
    pytest.importorskip("rnncourse.reference")
    V, H, T = 7, 5, 6
    base, inputs, targets, h_prev = _small_problem(V, H, T)
    ref = ReferenceCharRNN(V, H, seed=3)  # one-hot inputs (W_embed = I): the same model as the baseline
    ref.W_xh, ref.W_hh, ref.W_hy = base.W_xh.copy(), base.W_hh.copy(), base.W_hy.copy()
    ref.b_h, ref.b_y = base.b_h[:, 0].copy(), base.b_y[:, 0].copy()
    loss_b, grads_b, h_b = base.loss_and_gradients(inputs, targets, h_prev)
    loss_r, grads_r, h_r = ref.loss_and_gradients(np.array([inputs]), np.array([targets]), h_prev.T.copy())
    assert loss_r * T == pytest.approx(loss_b, rel=1e-12)  # the reference averages over positions
    np.testing.assert_allclose(h_r[0], h_b[:, 0], rtol=1e-12)
    for name in ("W_xh", "W_hh", "W_hy"):
        np.testing.assert_allclose(T * grads_r[name], grads_b[name], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(T * grads_r["b_h"], grads_b["b_h"][:, 0], rtol=1e-9, atol=1e-14)


def test_adagrad_update_clips_in_place_and_computes_no_diagnostic():
    model = ClassicCharRNN(3, 2, learning_rate=0.5)
    before = model.W_hh.copy()
    grads = {name: np.zeros_like(getattr(model, name)) for name in PARAMETERS}
    grads["W_hh"][0, 1] = 20.0  # clipped to 5: Adagrad's first step is lr * g / |g| = lr
    assert model.adagrad_update_(grads) is None  # nothing but the update in the timed step
    assert grads["W_hh"][0, 1] == 5.0
    assert model.W_hh[0, 1] == pytest.approx(before[0, 1] - 0.5, rel=1e-9)
    assert model.memory["W_hh"][0, 1] == 25.0
    np.testing.assert_array_equal(np.delete(model.W_hh.ravel(), 1), np.delete(before.ravel(), 1))


def test_training_steps_lower_the_loss():
    ids = corpus_ids(n=2_000)
    assert ids.min() >= 0 and ids.max() <= 64
    model = ClassicCharRNN(65, 32, seed=0)
    inputs, targets = ids[:25].tolist(), ids[1:26].tolist()
    h0 = np.zeros((32, 1))
    first = model.loss_and_gradients(inputs, targets, h0)[0]
    for _ in range(30):
        model.train_step(inputs, targets, h0)
    assert model.loss_and_gradients(inputs, targets, h0)[0] < 0.5 * first


def test_reference_trains_the_five_parameters_of_the_baseline_with_its_update():
    ref = ReferenceCharRNN(7, 5, seed=3)
    rng = np.random.default_rng(0)
    ids, targets, h0 = rng.integers(0, 7, (2, 6)), rng.integers(0, 7, (2, 6)), np.zeros((2, 5))
    _, grads, _ = ref.loss_and_gradients(ids, targets, h0)
    before = {name: getattr(ref, name).copy() for name in ref.names}
    embed = ref.W_embed.copy()
    ref.train_step(ids, targets, h0)
    assert set(ref.names) == set(PARAMETERS)
    for name in ref.names:  # Adagrad's first step from zero memory, gradients clipped to [-5, 5]
        g = np.clip(grads[name], -5.0, 5.0)
        want = before[name] - ref.learning_rate * g / np.sqrt(g * g + 1e-8)
        np.testing.assert_allclose(getattr(ref, name), want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ref.W_embed, embed)  # the one-hot embedding is not trained


def test_matrix_product_bound_runs_the_products_of_a_step():
    from benchmarks.b1_charrnn import matrix_products

    products = matrix_products(2)
    assert products() is None


def test_time_alternating_runs_candidates_in_turn():
    calls = []
    times = _harness.time_alternating(
        {"A": lambda: calls.append("A"), "B": lambda: calls.append("B")}, repeats=3, warmup=1
    )
    assert "".join(calls) == "ABABABAB"
    assert {k: len(v) for k, v in times.items()} == {"A": 3, "B": 3}
    assert all(t >= 0 for v in times.values() for t in v)


def test_time_alternating_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats must be an integer >= 1, got 0"):
        _harness.time_alternating({"A": lambda: None}, repeats=0)


def test_result_writer_round_trip(tmp_path):
    rows = [{"implementation": "baseline", "chars/s": 12345.678}, {"implementation": "ours", "chars/s": 0.5}]
    path = _harness.write_result(
        "b0_demo", {"title": "Demo", "rows": rows, "summary": {"ratio": 2.0}}, tmp_path
    )
    data = json.loads(path.read_text())
    assert path.name == "b0_demo.json" and data["name"] == "b0_demo" and data["rows"] == rows
    env = data["environment"]
    assert {"date", "cpu", "cores", "python", "numpy", "torch", "torch_threads", "blas_threads"} <= set(env)
    assert env["cores"] >= 1 and env["numpy"] == np.__version__
    readme = _harness.write_readme(tmp_path).read_text()
    assert "## Demo" in readme
    assert "| implementation | chars/s |" in readme
    assert "| baseline | 12,346 |" in readme and "| ours | 0.5 |" in readme
    assert "**ratio**: 2" in readme
    assert [r["name"] for r in _harness.load_results(tmp_path)] == ["b0_demo"]


def test_write_result_rejects_a_bad_name(tmp_path):
    with pytest.raises(ValueError, match="plain identifier such as 'b1_charrnn', got 'b1 x'"):
        _harness.write_result("b1 x", {"rows": []}, tmp_path)


def test_write_result_requires_rows(tmp_path):
    with pytest.raises(ValueError, match="must hold 'rows', a list of dicts.*got <class 'NoneType'>"):
        _harness.write_result("b1", {"title": "no rows"}, tmp_path)


def test_truncated_bptt_activation_memory_is_flat_and_full_grows():
    pytest.importorskip("rnncourse.bptt")
    from benchmarks.b3_bptt_memory import worker

    trunc = [worker("truncated", T, k=10, hidden=8)["activation_bytes"] for T in (40, 80)]
    full = [worker("full", T, k=10, hidden=8)["activation_bytes"] for T in (40, 80)]
    assert trunc[0] == trunc[1] > 0
    assert full[1] > 1.9 * full[0] and full[0] > 3 * trunc[0]


def test_notebook_runner_records_time_and_errors(tmp_path):
    from benchmarks.notebooks import execute_notebook, find_notebooks

    (tmp_path / "book").mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "book" / "01_bad.ipynb")
    (tmp_path / "book" / "notes.md").write_text("not a notebook")
    found = find_notebooks(tmp_path)
    assert [p.name for p in found] == ["01_bad.ipynb"]
    result = execute_notebook(found[0], timeout=60)
    assert result["status"] == "error"
    assert "broken on purpose" in result["error"]
    assert result["seconds"] > 0


def test_refreshed_notebook_keeps_its_figures_under_an_agg_environment(tmp_path, monkeypatch):
    from benchmarks.notebooks import refresh_notebook

    monkeypatch.setenv("MPLBACKEND", "Agg")  # as exported by the Makefile
    code = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "figure.ipynb"
    nbformat.write(nb, path)
    assert refresh_notebook(path, timeout=60) > 0
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert any("image/png" in out.get("data", {}) for out in outputs)
    assert os.environ["MPLBACKEND"] == "Agg"  # restored for the caller
