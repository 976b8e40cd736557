"""Tests of rnncourse.plots: every figure function draws what it promises and validates its arguments."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from rnncourse import plots  # noqa: E402
from rnncourse.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("library code must not call plt.show()")

    monkeypatch.setattr(plt, "show", fail)


def gids(fig, prefix):
    """Gids of the patches of ``fig`` that start with ``prefix``."""
    out = []
    for ax in fig.axes:
        out += [p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith(prefix)]
    return out


# ----------------------------------------------------------------------------------------------------
# plot_unrolled
# ----------------------------------------------------------------------------------------------------

# topology -> (hidden nodes, loss nodes, zero inputs, fed-back inputs) for T=4 (seq2seq: T_out=3)
EXPECTED = {
    "one-to-one": (1, 1, 0, 0),
    "many-to-many": (4, 4, 0, 0),
    "many-to-one": (4, 1, 0, 0),
    "one-to-many-zeros": (4, 4, 3, 0),
    "one-to-many-output": (4, 4, 0, 3),
    "seq2seq": (7, 3, 0, 2),
}


@pytest.mark.parametrize("topology", plots.TOPOLOGIES)
def test_unrolled_node_counts(topology):
    n_h, n_loss, n_zero, n_fb = EXPECTED[topology]
    fig = plots.plot_unrolled(topology, 4, T_out=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    assert len(gids(fig, "node:h:")) == n_h
    assert len(gids(fig, "node:L:")) == n_loss
    assert len(gids(fig, "node:y:")) == n_loss  # every output has its loss
    assert len(gids(fig, "node:zero:")) == n_zero
    assert len(gids(fig, "node:feedback:")) == n_fb
    assert len(gids(fig, "edge:feedback:")) == n_fb
    assert len(gids(fig, "node:h0:")) == (0 if topology == "one-to-one" else 1)
    # the recurrence: one W_hh arrow into every hidden node except in the feed-forward case
    assert len(gids(fig, "edge:W_hh:")) == (0 if topology == "one-to-one" else n_h)
    assert fig.axes[0].get_title() == topology


def test_unrolled_show_loss_false_has_no_loss_nodes():
    fig = plots.plot_unrolled("many-to-many", 5, show_loss=False)
    assert gids(fig, "node:L:") == []
    assert len(gids(fig, "node:y:")) == 5


def test_unrolled_many_to_one_output_only_at_last_step():
    fig = plots.plot_unrolled("many-to-one", 6)
    assert gids(fig, "node:y:") == ["node:y:6"]
    assert gids(fig, "node:L:") == ["node:L:6"]


def test_unrolled_hidden_count_follows_T():
    for T in (1, 2, 7):
        fig = plots.plot_unrolled("many-to-many", T)
        assert len(gids(fig, "node:h:")) == T
        plt.close(fig)


def test_unrolled_weights_labelled_once():
    fig = plots.plot_unrolled("many-to-many", 4)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for w in ("$W_{xh}$", "$W_{hh}$", "$W_{hy}$"):
        assert texts.count(w) == 1


def test_unrolled_into_given_axes_and_title():
    fig, axes = plt.subplots(1, 2)
    out = plots.plot_unrolled("many-to-one", 3, ax=axes[1], title="")
    assert out is fig
    assert len(gids(fig, "node:h:")) == 3
    assert axes[1].get_title() == ""
    assert len(axes[0].patches) == 0


def _overlaps(a, b, tol=0.5):
    return a.x0 < b.x1 - tol and b.x0 < a.x1 - tol and a.y0 < b.y1 - tol and b.y0 < a.y1 - tol


def assert_no_text_overlap(fig):
    """No two labels overlap, and labels outside the node boxes stay clear of every node box."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text()]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not _overlaps(boxes[i], boxes[j]), (texts[i].get_text(), texts[j].get_text())
    nodes = [p for p in ax.patches if (p.get_gid() or "").startswith("node:")]
    node_boxes = [p.get_window_extent(renderer) for p in nodes]
    for t, box in zip(texts, boxes, strict=True):
        inside = [nb for nb in node_boxes if nb.contains(*box.get_points().mean(0))]
        if inside:  # a node's own label
            continue
        for nb in node_boxes:
            assert not _overlaps(box, nb), t.get_text()


@pytest.mark.parametrize("topology", plots.TOPOLOGIES)
def test_unrolled_text_does_not_overlap(topology):
    assert_no_text_overlap(plots.plot_unrolled(topology, 3))


def test_no_text_overlap_detects_an_overlap():
    fig = plots.plot_unrolled("many-to-many", 3)
    fig.axes[0].text(0.3, 1.3, "$W_{zz}$")  # on the edge of the h_1 box
    with pytest.raises(AssertionError, match="W_{zz}"):
        assert_no_text_overlap(fig)


def test_unrolled_rejects_unknown_topology():
    with pytest.raises(ValueError, match=r"topology must be one of .*'many-to-many'.*got 'two-to-two'"):
        plots.plot_unrolled("two-to-two")


def test_unrolled_rejects_bad_T():
    with pytest.raises(ValueError, match="T must be an integer >= 1, got 0"):
        plots.plot_unrolled("many-to-many", 0)
    with pytest.raises(ValueError, match="T must be at most 16 for a readable drawing, got 17"):
        plots.plot_unrolled("many-to-many", 17)
    with pytest.raises(TypeError, match="T must be an integer >= 1, got '4' of type str"):
        plots.plot_unrolled("many-to-many", "4")


def test_unrolled_rejects_bad_T_out_and_flags():
    with pytest.raises(ValueError, match="T_out must be an integer >= 1, got 0"):
        plots.plot_unrolled("seq2seq", 3, T_out=0)
    with pytest.raises(TypeError, match="show_loss must be True or False, got 'yes'"):
        plots.plot_unrolled("many-to-many", show_loss="yes")
    with pytest.raises(TypeError, match="title must be a string or None, got int"):
        plots.plot_unrolled("many-to-many", title=3)


def test_unrolled_rejects_non_axes():
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes .* got str"):
        plots.plot_unrolled("many-to-many", ax="left")


def test_all_topologies_one_panel_each():
    fig = plots.plot_all_topologies(3)
    assert [ax.get_title() for ax in fig.axes] == list(plots.TOPOLOGIES)
    # seq2seq: 3 encoder + 3 decoder states; the other recurrent panels 3 each, one-to-one 1
    assert len(gids(fig, "node:h:")) == 1 + 4 * 3 + 6
    with pytest.raises(ValueError, match="T must be an integer >= 1, got -1"):
        plots.plot_all_topologies(-1)


# ----------------------------------------------------------------------------------------------------
# plot_tbptt_segments
# ----------------------------------------------------------------------------------------------------


def windows(fig):
    """gid -> number of time steps covered by that backward window."""
    out = {}
    for p in fig.axes[0].patches:
        gid = p.get_gid() or ""
        if gid.startswith("window:"):
            out[int(gid.split(":")[1])] = round(p.get_width() + 0.1)
            assert p.get_x() + p.get_width() == pytest.approx(int(gid.split(":")[1]) + 0.45)
    return out


def test_tbptt_reach_per_loss():
    fig = plots.plot_tbptt_segments(10, 3)
    assert windows(fig) == {t: min(t, 3) for t in range(1, 11)}
    assert len(gids(fig, "forward")) == 1


def test_tbptt_full_bptt_when_k_exceeds_T():
    fig = plots.plot_tbptt_segments(6, 50)
    assert windows(fig) == {t: t for t in range(1, 7)}
    assert "full BPTT" in fig.axes[0].get_title()


def test_tbptt_k1_k2_updates():
    fig = plots.plot_tbptt_segments(20, 5, 8)
    assert windows(fig) == {5: 5, 10: 8, 15: 8, 20: 8}
    # the losses of the last k1 steps are marked in each window: 4 windows x 5 markers
    markers = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    assert sum(len(ln.get_xdata()) for ln in markers) == 20


def test_tbptt_incomplete_last_chunk_has_no_update():
    fig = plots.plot_tbptt_segments(7, 3, 3)
    assert windows(fig) == {3: 3, 6: 3}


def test_tbptt_validation():
    with pytest.raises(ValueError, match="T must be an integer >= 1, got 0"):
        plots.plot_tbptt_segments(0, 2)
    with pytest.raises(ValueError, match="T must be at most 64 .* got 65"):
        plots.plot_tbptt_segments(65, 2)
    with pytest.raises(ValueError, match="k1 must be an integer >= 1, got 0"):
        plots.plot_tbptt_segments(5, 0)
    with pytest.raises(ValueError, match="k2 must be an integer >= 1, got 0"):
        plots.plot_tbptt_segments(5, 2, 0)
    with pytest.raises(ValueError, match="k1 .* must be at most T=5, got k1=6"):
        plots.plot_tbptt_segments(5, 6, 2)


# ----------------------------------------------------------------------------------------------------
# plot_layer_grid
# ----------------------------------------------------------------------------------------------------


def test_layer_grid_counts():
    L, T = 3, 5
    fig = plots.plot_layer_grid(L, T)
    assert len(gids(fig, "node:h:")) == L * T
    assert sorted(gids(fig, "node:h0:")) == [f"node:h0:{l},0" for l in range(1, L + 1)]
    assert len(gids(fig, "edge:W_hh:")) == L * T
    assert len(gids(fig, "edge:W_xh:")) == L * T  # x -> layer 1 and layer l-1 -> layer l
    assert len(gids(fig, "node:x:")) == T and len(gids(fig, "node:y:")) == T
    texts = [t.get_text() for t in fig.axes[0].texts]
    for l in range(1, L + 1):
        assert f"$W^{{{l}}}_{{hh}}$" in texts and f"$W^{{{l}}}_{{xh}}$" in texts


@pytest.mark.parametrize(("L", "T", "show_io"), [(3, 4, True), (1, 3, False)])
def test_layer_grid_text_does_not_overlap(L, T, show_io):
    assert_no_text_overlap(plots.plot_layer_grid(L, T, show_io=show_io))


def test_layer_grid_without_io():
    fig = plots.plot_layer_grid(2, 3, show_io=False)
    assert len(gids(fig, "node:h:")) == 6
    assert gids(fig, "node:x:") == [] and gids(fig, "node:y:") == []
    assert len(gids(fig, "edge:W_xh:")) == 3  # only layer 1 -> layer 2


def test_layer_grid_validation():
    with pytest.raises(ValueError, match="L must be an integer >= 1, got 0"):
        plots.plot_layer_grid(0, 3)
    with pytest.raises(ValueError, match="L must be at most 8 .* got 9"):
        plots.plot_layer_grid(9, 3)
    with pytest.raises(TypeError, match="T must be an integer >= 1, got 2.5"):
        plots.plot_layer_grid(2, 2.5)


# ----------------------------------------------------------------------------------------------------
# plot_history
# ----------------------------------------------------------------------------------------------------


def test_history_single_run():
    fig = plots.plot_history(History(loss=[3.0, 2.0, 1.0]))
    assert len(fig.axes) == 1
    (line,) = fig.axes[0].lines
    np.testing.assert_array_equal(line.get_ydata(), [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])  # fit counts steps from 1
    assert fig.axes[0].get_legend() is None


def test_history_dict_of_runs():
    runs = {"a": History(loss=[1.0, 0.5], grad_norm=[2.0, 1.0]), "b": History([2.0, 1.0, 0.1], [1, 2, 3])}
    fig = plots.plot_history(runs, keys=("loss", "grad_norm"), logy=True)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.lines) == 2
        assert ax.get_yscale() == "log"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    np.testing.assert_array_equal(fig.axes[1].lines[1].get_ydata(), [1.0, 2.0, 3.0])


def test_history_smoothing_is_a_trailing_mean():
    fig = plots.plot_history(History(loss=[1.0, 2.0, 3.0, 4.0, 5.0]), smooth=2)
    raw, smooth = fig.axes[0].lines
    np.testing.assert_allclose(raw.get_ydata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(smooth.get_ydata(), [1.0, 1.5, 2.5, 3.5, 4.5])


def test_history_into_given_axes():
    fig, ax = plt.subplots()
    assert plots.plot_history(History(loss=[1.0, 0.5]), ax=ax) is fig
    assert len(ax.lines) == 1


def test_history_metrics_and_evals():
    h = History(loss=[3.0, 2.0, 1.0, 0.5], metrics={"accuracy": [0.1, 0.2, 0.3, 0.4]}, eval_steps=[1, 3],
                evals={"val_loss": [2.5, 1.0]})  # fmt: skip
    fig = plots.plot_history(h, keys=("accuracy", "val_loss"))
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_xdata(), [1, 3])  # drawn at the eval steps
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), [2.5, 1.0])


def test_history_validation():
    with pytest.raises(
        ValueError, match=r"has no metric 'foo'; available: \['accuracy', 'grad_norm', 'loss'\]"
    ):
        plots.plot_history(History([1.0], [1.0], metrics={"accuracy": [0.5]}), keys=("foo",))
    with pytest.raises(TypeError, match="keys must be a non-empty sequence of metric names"):
        plots.plot_history(History([1.0]), keys=())
    with pytest.raises(ValueError, match="smooth must be an integer >= 1, got 0"):
        plots.plot_history(History([1.0]), smooth=0)
    with pytest.raises(TypeError, match="histories must be a History or a non-empty dict .* got NoneType"):
        plots.plot_history(None)
    with pytest.raises(TypeError, match="histories must be a History or a non-empty dict .* got dict"):
        plots.plot_history({"loss": [1.0, 0.5]})  # a dict of lists is not a History
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax must hold one axes per key: got 1 axes for 2 keys"):
        plots.plot_history(History([1.0], [1.0]), keys=("loss", "grad_norm"), ax=ax)
    with pytest.raises(ValueError, match=r"must be 1-D .*, got shape \(1, 2\)"):
        plots.plot_history(History(loss=[[1.0, 2.0]]))


# ----------------------------------------------------------------------------------------------------
# plot_lines, plot_heatmap, plot_small_multiples
# ----------------------------------------------------------------------------------------------------


def test_lines_draws_one_line_per_curve():
    x = np.arange(1, 5)
    fig = plots.plot_lines(x, {"a": x**2, "b": np.ones(4)}, logy=True, xlabel="k", ylabel="n", title="t")
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["a", "b"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [1, 4, 9, 16])
    assert ax.get_yscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("k", "n", "t")


def test_lines_default_x_and_torch_input():
    torch = pytest.importorskip("torch")
    fig = plots.plot_lines(None, {"y": torch.tensor([0.5, 0.25, 0.125])})
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [0, 1, 2])
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [0.5, 0.25, 0.125])


def test_lines_validation():
    with pytest.raises(ValueError, match=r"ys\['a'\] has 3 values but x has 4"):
        plots.plot_lines(np.arange(4), {"a": [1, 2, 3]})
    with pytest.raises(TypeError, match="ys must be a non-empty dict of label -> values, got list"):
        plots.plot_lines(None, [1, 2, 3])
    with pytest.raises(TypeError, match=r"ys must be a non-empty dict .* got dict \(empty\)"):
        plots.plot_lines(None, {})
    with pytest.raises(ValueError, match=r"ys\['a'\] must be 1-D .*, got shape \(2, 2\)"):
        plots.plot_lines(None, {"a": np.ones((2, 2))})
    with pytest.raises(TypeError, match="ys\\['a'\\] must be a 1-D sequence of numbers"):
        plots.plot_lines(None, {"a": ["x", "y"]})
    with pytest.raises(TypeError, match="logy must be True or False, got 1"):
        plots.plot_lines(None, {"a": [1.0]}, logy=1)


def test_heatmap_shows_the_matrix():
    M = np.arange(12, dtype=float).reshape(3, 4)
    fig = plots.plot_heatmap(M, xlabel="s", ylabel="t", title="m")
    assert len(fig.axes) == 2  # the heat map and its colour bar
    (im,) = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    np.testing.assert_array_equal(im.get_array(), M)
    assert fig.axes[1].get_ylabel() == ""
    assert plots.plot_heatmap(M, colorbar="norm").axes[1].get_ylabel() == "norm"  # a string labels the bar
    fig2 = plots.plot_heatmap(M, colorbar=False, log=True, cmap="magma")
    assert len(fig2.axes) == 1
    im2 = fig2.axes[0].images[0]
    assert np.isnan(np.ma.filled(im2.get_array(), np.nan)[0, 0])  # the 0 entry cannot be shown on a log scale
    assert im2.norm.vmin == 1.0 and im2.norm.vmax == 11.0


def test_heatmap_validation():
    with pytest.raises(ValueError, match=r"matrix must be 2-D \(rows, columns\), got shape \(3,\)"):
        plots.plot_heatmap(np.ones(3))
    with pytest.raises(ValueError, match="cmap must be a matplotlib colormap name .* got 'nope'"):
        plots.plot_heatmap(np.ones((2, 2)), cmap="nope")
    with pytest.raises(ValueError, match="log=True needs at least one positive entry"):
        plots.plot_heatmap(-np.ones((2, 2)), log=True)
    with pytest.raises(ValueError, match=r"matrix is empty \(shape \(0, 3\)\)"):
        plots.plot_heatmap(np.ones((0, 3)))
    with pytest.raises(TypeError, match="colorbar must be True or False, got 1"):
        plots.plot_heatmap(np.ones((2, 2)), colorbar=1)


def test_small_multiples_layout():
    x = np.arange(5)
    panels = [(f"p{i}", x, x * i) for i in range(4)] + [("two", None, {"u": x, "v": -x})]
    fig = plots.plot_small_multiples(panels, ncols=3, logy=False, sharey=True, xlabel="k")
    assert [ax.get_title() for ax in fig.axes] == ["p0", "p1", "p2", "p3", "two"]
    assert [len(ax.lines) for ax in fig.axes] == [1, 1, 1, 1, 2]
    assert fig.axes[4].get_xlabel() == "k" and fig.axes[2].get_xlabel() == "k"  # p2 has no panel below it
    assert fig.axes[0].get_xlabel() == ""


def test_small_multiples_validation():
    with pytest.raises(TypeError, match="panels must be a non-empty list of"):
        plots.plot_small_multiples([])
    with pytest.raises(ValueError, match=r"panels\[0\] must be a \(title, x, y\) tuple"):
        plots.plot_small_multiples([("a", [1, 2])])
    with pytest.raises(ValueError, match="ncols must be an integer >= 1, got 0"):
        plots.plot_small_multiples([("a", None, [1, 2])], ncols=0)
