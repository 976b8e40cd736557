"""Tests of rnncourse.widgets: controls built from specs, redraw on change, the static player."""

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnncourse import plots  # noqa: E402
from rnncourse import widgets as W  # noqa: E402
from rnncourse.widgets import figure_to_png, interactive_figure  # noqa: E402

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


def player(box):
    """The player's JSON data (names, labels, frames) and its HTML, from the displayed MIME bundle."""
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # Jupyter: the live widget
    html = bundle["text/html"]
    data = json.loads(re.search(r'<script type="application/json">(.*?)</script>', html).group(1))
    return data, html


def frame_png(data, key):
    prefix = "data:image/png;base64,"
    assert data["frames"][key].startswith(prefix)
    return base64.b64decode(data["frames"][key][len(prefix) :])


def test_player_frames_equal_the_figures():
    f = Recorder()
    box = interactive_figure(f, sigma=(0.5, 1.5, 0.25, 1.0), kind=["a", "b"], scale=widgets.fixed(2.0))
    data, html = player(box)
    assert data["names"] == ["sigma", "kind"]
    assert data["labels"] == [["0.5", "0.75", "1", "1.25", "1.5"], ["a", "b"]]
    assert sorted(data["frames"]) == [f"{i},{j}" for i in range(5) for j in range(2)]
    assert {(c["sigma"], c["kind"], c["scale"]) for c in f.calls[1:]} == {
        (s, k, 2.0) for s in (0.5, 0.75, 1.0, 1.25, 1.5) for k in "ab"
    }
    # the frame for (sigma = 1.25, kind = b) is the figure the widget draws for those values
    box.children[0].value, box.children[1].value = 1.25, "b"
    assert frame_png(data, "3,1") == current(box)[1]
    # one range input and one select, starting at the widget's values; the first frame shown is theirs
    assert re.search(r'<input type="range" min="0" max="4" step="1" value="2" data-control="sigma"', html)
    assert (
        '<select data-control="kind" aria-label="kind"><option selected>a</option><option>b</option>' in html
    )
    assert f'<img src="{data["frames"]["2,0"]}"' in html
    assert "<script>(function(){" in html and "http" not in html.replace(data["frames"]["2,0"], "")
    assert box.player_html() is html and plt.get_fignums() == []  # rendered once; figures closed


def grid_labels(box):
    """The player's labels per control, without rendering its frames."""
    return [labels for _, labels, _ in box._player[0].values()]


def test_player_grid_is_coarse_and_keeps_the_start_value():
    f = Recorder()
    labels = grid_labels(interactive_figure(f, sigma=(0.1, 2.0, 0.05, 1.0), max_frames=30))
    assert labels[0] == [f"{0.1 * i:.3g}" for i in range(1, 21)]  # every other value; 1.0 is kept
    box = interactive_figure(f, sigma=(0.5, 1.5, 0.05, 1.1), n=(10, 100, 10, 50), flag=True)
    # 30 frames over two sliders and a check box: about sqrt(15) values per slider
    assert grid_labels(box) == [["0.75", "1.1", "1.45"], ["20", "50", "80"], ["False", "True"]]
    box = interactive_figure(
        f, sigma=(0.5, 1.5, 0.05, 1.1), n=(1, 3, 1, 2), player_values={"sigma": [0.5, 1.1]}
    )
    data, html = player(box)
    assert data["labels"] == [["0.5", "1.1"], ["1", "2", "3"]] and len(data["frames"]) == 6
    assert 'max="1" step="1" value="1" data-control="sigma"' in html


def test_player_validation():
    f = Recorder()
    with pytest.raises(ValueError, match=r"player_values names no control: \['tau'\]"):
        interactive_figure(f, sigma=(0.5, 1.5, 0.05, 1.0), player_values={"tau": [1.0]})
    with pytest.raises(ValueError, match=r"player_values\['sigma'\] must be a non-empty list .* got \[2.0\]"):
        interactive_figure(f, sigma=(0.5, 1.5, 0.05, 1.0), player_values={"sigma": [2.0]})
    with pytest.raises(ValueError, match=r"player_values\['kind'\] must be a non-empty list .* got \[\]"):
        interactive_figure(f, kind=["a", "b"], player_values={"kind": []})
    with pytest.raises(ValueError, match="max_frames must be an integer >= 1, got 0"):
        interactive_figure(f, sigma=(0.5, 1.5, 0.05, 1.0), max_frames=0)


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


def test_scheduled_sampling_player_values():
    box = W.scheduled_sampling_widget(k=40, steps=20)
    assert grid_labels(box) == [["1"] + [f"{5 * i}" for i in range(1, 21)]]
    assert W.scheduled_sampling_widget(k=12, steps=20)._player[0]["k"][0][:4] == [1.0, 5.0, 10.0, 12.0]
