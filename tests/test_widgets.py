"""Tests of rnncourse.widgets: controls built from specs, redraw on change, the static grid."""

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnncourse import plots  # noqa: E402
from rnncourse import widgets as W  # noqa: E402
from rnncourse.widgets import figure_to_png, interactive_figure, static_grid  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class Recorder:
    """A plot function that records its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, sigma=1.0, n=3, kind="a", flag=False, scale=1.0):
        self.calls.append({"sigma": sigma, "n": n, "kind": kind, "flag": flag, "scale": scale})
        x = np.arange(n + 1)
        return plots.plot_lines(x, {kind: scale * sigma**x}, title=f"sigma={sigma}")


def current(box):
    """(text/plain, png bytes) of the figure in the widget's Output."""
    (item,) = box.children[-1].outputs
    assert item["output_type"] == "display_data"
    return item["data"]["text/plain"], base64.b64decode(item["data"]["image/png"])


def test_controls_from_specs():
    f = Recorder()
    box = interactive_figure(
        f, sigma=(0.5, 1.5, 0.05, 1.0), n=(1, 10, 1, 3), kind=["a", "b"], flag=True, scale=widgets.fixed(2.0)
    )
    assert isinstance(box, widgets.VBox)
    sigma, n, kind, flag, out = box.children
    assert isinstance(sigma, widgets.FloatSlider) and (sigma.min, sigma.max, sigma.step, sigma.value) == (
        0.5,
        1.5,
        0.05,
        1.0,
    )
    assert isinstance(n, widgets.IntSlider) and n.value == 3
    assert isinstance(kind, widgets.Dropdown) and kind.options == ("a", "b") and kind.value == "a"
    assert isinstance(flag, widgets.Checkbox) and flag.value is True
    assert isinstance(out, widgets.Output)
    assert f.calls == [{"sigma": 1.0, "n": 3, "kind": "a", "flag": True, "scale": 2.0}]
    text, png = current(box)
    assert png.startswith(PNG_MAGIC)
    assert text == "<Figure: scale=2.0, sigma=1.0, n=3, kind='a', flag=True>"


def test_three_number_spec_starts_at_min():
    box = interactive_figure(Recorder(), n=(2, 8, 2))
    assert isinstance(box.children[0], widgets.IntSlider) and box.children[0].value == 2


def test_redraw_on_change():
    f = Recorder()
    box = interactive_figure(f, sigma=(0.5, 1.5, 0.05, 1.0), kind=["a", "b"])
    text0, png0 = current(box)
    box.children[0].value = 1.25
    assert f.calls[-1]["sigma"] == 1.25
    text1, png1 = current(box)
    assert text1 == "<Figure: sigma=1.25, kind='a'>" and text0 != text1
    assert png1.startswith(PNG_MAGIC) and png1 != png0
    box.children[1].value = "b"
    assert f.calls[-1] == {"sigma": 1.25, "n": 3, "kind": "b", "flag": False, "scale": 1.0}
    assert len(f.calls) == 3
    assert plt.get_fignums() == []  # every rendered figure was closed


def test_existing_widget_is_used_as_is():
    slider = widgets.FloatSlider(min=0.0, max=2.0, value=0.5)
    f = Recorder()
    box = interactive_figure(f, sigma=slider)
    assert box.children[0] is slider
    slider.value = 1.5
    assert f.calls[-1]["sigma"] == 1.5


def test_error_during_redraw_is_shown_in_the_output():
    def plot_fn(sigma=1.0):
        if sigma > 1.0:
            raise ValueError(f"sigma too large: {sigma}")
        return plots.plot_lines(None, {"a": [1.0, sigma]})

    box = interactive_figure(plot_fn, sigma=(0.5, 1.5, 0.5, 1.0))
    box.children[0].value = 1.5
    (item,) = box.children[-1].outputs
    assert item["output_type"] == "stream" and item["text"] == "ValueError: sigma too large: 1.5\n"
    box.children[0].value = 0.5
    assert current(box)[0] == "<Figure: sigma=0.5>"


def test_interactive_figure_validation():
    f = Recorder()
    with pytest.raises(TypeError, match="plot_fn must be a callable returning a matplotlib Figure, got int"):
        interactive_figure(3, sigma=(0.0, 1.0, 0.1, 0.5))
    with pytest.raises(ValueError, match="needs at least one control spec"):
        interactive_figure(f)
    with pytest.raises(ValueError, match=r"sigma: a slider spec needs min < max.*\(2.0, 1.0, 0.1, 1.5\)"):
        interactive_figure(f, sigma=(2.0, 1.0, 0.1, 1.5))
    with pytest.raises(ValueError, match=r"sigma: .*min <= value <= max.*\(0.0, 1.0, 0.1, 3.0\)"):
        interactive_figure(f, sigma=(0.0, 1.0, 0.1, 3.0))
    with pytest.raises(TypeError, match=r"sigma: a slider spec \(min, max, step\[, value\]\) holds numbers"):
        interactive_figure(f, sigma=(0.0, "1", 0.1))
    with pytest.raises(ValueError, match="kind: a list spec holds the options of a drop-down"):
        interactive_figure(f, kind=[])
    with pytest.raises(TypeError, match="kind: expected a slider spec .* got 'a' of type str"):
        interactive_figure(f, kind="a")
    with pytest.raises(TypeError, match="plot_fn must return a matplotlib Figure, got NoneType"):
        interactive_figure(lambda sigma: None, sigma=(0.0, 1.0, 0.1, 0.5))


def test_figure_to_png():
    fig = plots.plot_lines(None, {"a": [1.0, 2.0]})
    assert figure_to_png(fig).startswith(PNG_MAGIC)
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got str"):
        figure_to_png("fig")


def test_static_grid_draws_into_axes_when_plot_fn_takes_ax():
    def plot_fn(T=4, ax=None):
        return plots.plot_unrolled("many-to-many", T, ax=ax)

    fig = static_grid(plot_fn, "T", [2, 3, 4, 5])
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["T = 2", "T = 3", "T = 4", "T = 5"]
    hidden = [sum((p.get_gid() or "").startswith("node:h:") for p in ax.patches) for ax in fig.axes]
    assert hidden == [2, 3, 4, 5]
    assert plt.get_fignums() == [fig.number]


def test_static_grid_image_mode():
    f = Recorder()

    def untitled(sigma, kind):
        fig = f(sigma=sigma, kind=kind)
        fig.axes[0].set_title("")
        return fig

    fig = static_grid(untitled, "sigma", [0.5, 1.0], kind="b", ncols=1)
    assert [c["sigma"] for c in f.calls] == [0.5, 1.0] and {c["kind"] for c in f.calls} == {"b"}
    assert [len(ax.images) for ax in fig.axes] == [1, 1]
    assert [ax.get_title() for ax in fig.axes] == ["sigma = 0.5", "sigma = 1"]
    assert plt.get_fignums() == [fig.number]  # the panel figures were closed
    # a plot function that titles its own figure keeps that title and gets no second one
    fig2 = static_grid(f, "sigma", [0.5])
    assert fig2.axes[0].get_title() == ""


def test_static_grid_validation():
    f = Recorder()
    with pytest.raises(TypeError, match="plot_fn must be a callable"):
        static_grid(None, "sigma", [1.0])
    with pytest.raises(TypeError, match="param_name must be the name"):
        static_grid(f, 1, [1.0])
    with pytest.raises(ValueError, match="values must be a list of 1 to 12 parameter values, got \\[\\]"):
        static_grid(f, "sigma", [])
    with pytest.raises(ValueError, match="'sigma' is both the varying parameter and a fixed one"):
        static_grid(f, "sigma", [1.0], sigma=2.0)
    with pytest.raises(TypeError, match="plot_fn must return a matplotlib Figure, got NoneType"):
        static_grid(lambda sigma: None, "sigma", [1.0])


def test_scheduled_sampling_figure_draws_the_inverse_sigmoid():
    fig = W.scheduled_sampling_figure(k=20.0, steps=100)
    curve, half = fig.axes[0].lines
    i = np.arange(100)
    np.testing.assert_allclose(curve.get_ydata(), 20.0 / (20.0 + np.exp(i / 20.0)), rtol=1e-12)
    assert list(half.get_ydata()) == [0.5, 0.5]
    assert "approx 60" in fig.axes[0].get_title()  # epsilon = 1/2 at i = k ln k = 59.9
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        W.scheduled_sampling_figure(steps=0)


def test_scheduled_sampling_widget_has_one_slider():
    box = W.scheduled_sampling_widget(k=40, steps=50)
    (slider,) = box.children[:-1]
    assert (slider.description, slider.value) == ("k", 40.0)
    slider.value = 10.0
    assert current(box)[0] == "<Figure: steps=50, k=10.0>"
