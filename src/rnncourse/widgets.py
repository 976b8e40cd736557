"""Interactive figures (ipywidgets 8) that also respond in the rendered book, offline and without a kernel.

:func:`interactive_figure` turns a plotting function ``plot_fn(**params) -> Figure`` into sliders and
drop-downs plus an ``Output`` that redraws the figure whenever a control changes (a PNG ``display_data`` item,
so a widget also works outside a notebook: tests). Displayed, it also offers a ``text/html`` player: the
figure pre-rendered over a grid of control values, with one HTML control per parameter and a few lines of
inline JavaScript that swap the frames. Jupyter shows the widget; the book prefers ``text/html``
(``nb_mime_priority_overrides`` in ``_config.yml``) and shows the player. Single-chapter figures live in
their chapter.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import numbers

from ._validate import check_positive_int

__all__ = ["interactive_figure", "figure_to_png"]
__all__ += ["scheduled_sampling_figure", "scheduled_sampling_widget"]


def figure_to_png(fig, *, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes (``bbox_inches="tight"``)."""
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}.")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _check_plot_fn(value, returned: bool = False):
    """``plot_fn`` must be callable; what it returns (``returned=True``) must be a matplotlib Figure."""
    from matplotlib.figure import Figure

    if not (isinstance(value, Figure) if returned else callable(value)):
        what = "return a matplotlib Figure" if returned else "be a callable returning a matplotlib Figure"
        hint = "; end it with `return fig`" if returned else ""
        raise TypeError(f"plot_fn must {what}, got {type(value).__name__}{hint}.")
    return value


def _control(name: str, spec):
    """One ipywidgets control from a spec (see :func:`interactive_figure`); None for ``fixed(value)``."""
    import ipywidgets as widgets

    if isinstance(spec, widgets.fixed):
        return None
    if isinstance(spec, widgets.ValueWidget):
        return spec
    if isinstance(spec, bool):
        return widgets.Checkbox(value=spec, description=name)
    if isinstance(spec, list):
        if len(spec) == 0:
            raise ValueError(f"{name}: a list spec holds the options of a drop-down and must not be empty.")
        return widgets.Dropdown(options=spec, value=spec[0], description=name)
    if not (isinstance(spec, tuple) and len(spec) in (3, 4)):
        raise TypeError(
            f"{name}: expected a slider spec (min, max, step, value), a list of options, a bool, an "
            f"ipywidgets control or ipywidgets.fixed(value), got {spec!r} of type {type(spec).__name__}."
        )
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in spec):
        raise TypeError(f"{name}: a slider spec (min, max, step[, value]) holds numbers, got {spec!r}.")
    lo, hi, step = spec[:3]
    value = spec[3] if len(spec) == 4 else lo
    if not lo < hi or step <= 0 or not lo <= value <= hi:
        raise ValueError(
            f"{name}: a slider spec needs min < max, step > 0 and min <= value <= max, got "
            f"(min, max, step, value) = ({lo}, {hi}, {step}, {value})."
        )
    kwargs = dict(min=lo, max=hi, step=step, value=value, description=name, continuous_update=False)
    kwargs["style"] = {"description_width": "initial"}
    if all(isinstance(v, numbers.Integral) for v in (lo, hi, step, value)):
        return widgets.IntSlider(**kwargs)
    return widgets.FloatSlider(readout_format=".3g", **kwargs)


def interactive_figure(plot_fn, *, dpi: int = 90, max_frames: int = 30, player_values=None, **sliders):
    """Controls for the parameters of ``plot_fn``: live in Jupyter, pre-rendered frames in the book.

    Parameters
    ----------
    plot_fn : callable
        ``plot_fn(**params) -> matplotlib.figure.Figure``; the figure is rendered to PNG (``dpi``) and closed.
    max_frames : int, default 30
        Frames of the static player (below): each slider keeps about ``max_frames ** (1 / n_sliders)``
        evenly spaced values (divided by what the drop-downs and check boxes need), always its start value.
    player_values : dict, optional
        ``{name: [values]}``: the values of a control in the player, instead of the even grid.
    **sliders
        One spec per keyword parameter of ``plot_fn``: ``(min, max, step, value)`` or ``(min, max, step)``
        (an ``IntSlider`` when all are integers, else a ``FloatSlider``: ``sigma=(0.5, 1.5, 0.05, 1.0)``);
        a list of options (a ``Dropdown``); a bool (a ``Checkbox``); an ipywidgets control (used as is); or
        ``ipywidgets.fixed(value)`` (passed unchanged, no control).

    Returns
    -------
    InteractiveFigure
        An ``ipywidgets.VBox``: ``children[:-1]`` are the controls in the order of ``sliders``,
        ``children[-1]`` the ``Output`` holding the figure as one PNG ``display_data`` item. The figure is
        drawn once on creation (errors raise there); later errors of ``plot_fn`` are shown as text in the
        output. Sliders update on release. Displayed, it also offers ``text/html``: a player of the figures
        pre-rendered over a grid of control values, swapped by a few lines of inline JavaScript, which the
        rendered book (no kernel) shows instead of the widget; Jupyter shows the widget.
    """
    import ipywidgets as widgets

    _check_plot_fn(plot_fn)
    if not sliders:
        raise ValueError(
            "interactive_figure needs at least one control spec, e.g. sigma=(0.5, 1.5, 0.05, 1.0)."
        )
    max_frames = check_positive_int("max_frames", max_frames)
    controls = {name: _control(name, spec) for name, spec in sliders.items()}
    fixed = {name: sliders[name].value for name, c in controls.items() if c is None}
    controls = {name: c for name, c in controls.items() if c is not None}
    grid = _player_grid(controls, max_frames, dict(player_values or {}))
    out = widgets.Output()

    def render(params):
        fig = _check_plot_fn(plot_fn(**fixed, **params), returned=True)
        try:
            return figure_to_png(fig, dpi=dpi)
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)

    def show():
        params = {name: c.value for name, c in controls.items()}
        png = render(params)
        text = ", ".join(f"{k}={v!r}" for k, v in {**fixed, **params}.items())
        data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<Figure: {text}>"}
        out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

    def redraw(change=None):
        try:
            show()
        except Exception as err:  # show the error where the reader looks, not in the kernel log
            text = f"{type(err).__name__}: {err}\n"
            out.outputs = ({"output_type": "stream", "name": "stderr", "text": text},)

    show()
    for c in controls.values():
        c.observe(redraw, names="value")
    return _figure_class()([*controls.values(), out], player=(grid, render))


def _player_grid(controls, max_frames, chosen):
    """``{name: (values, labels, start index)}``: the values of each control in the static player."""
    import ipywidgets as widgets

    unknown = set(chosen) - set(controls)
    if unknown:
        raise ValueError(f"player_values names no control: {sorted(unknown)}; controls: {list(controls)}.")
    sliders = [n for n, c in controls.items() if isinstance(c, widgets.IntSlider | widgets.FloatSlider)]
    n_opts = math.prod(len(_options(c)) for n, c in controls.items() if n not in sliders and n not in chosen)
    n_chosen = math.prod(max(len(v), 1) for v in chosen.values())
    free = [n for n in sliders if n not in chosen]
    per = max(2, int((max_frames / (n_opts * n_chosen)) ** (1 / max(len(free), 1)) + 1e-9))
    grid = {}
    for name, c in controls.items():
        if name in chosen:
            values = list(chosen[name])
            options = None if name in sliders else _options(c)
            bad = [
                v for v in values if (v not in options if options is not None else not c.min <= v <= c.max)
            ]
            if not values or bad:
                raise ValueError(
                    f"player_values[{name!r}] must be a non-empty list of values of the control, "
                    f"got {values!r}."
                )
        elif name in sliders:
            n = round((c.max - c.min) / c.step)
            stride = max(1, -(-n // per))  # every stride-th value, anchored at the start value
            k = round((c.value - c.min) / c.step)
            idx = range(k - (k // stride) * stride, n + 1, stride)
            values = [c.min + i * c.step for i in idx]
            values = values if isinstance(c, widgets.IntSlider) else [round(v, 10) for v in values]
            values = [c.value if abs(v - c.value) <= 1e-9 * c.step else v for v in values]
        else:
            values = list(_options(c))
        labels = [f"{v:.3g}" if isinstance(c, widgets.FloatSlider) else _label(c, v) for v in values]
        start = min(range(len(values)), key=lambda i: (values[i] != c.value, i))
        grid[name] = (values, labels, start)
    return grid


def _options(c):
    """The values a non-slider control can take (its current value alone for an unknown control)."""
    import ipywidgets as widgets

    if isinstance(c, widgets.widgets.widget_selection._Selection):
        return c._options_values
    return (False, True) if isinstance(c, widgets.widgets.widget_bool._Bool) else (c.value,)


def _label(c, v):
    import ipywidgets as widgets

    if isinstance(c, widgets.widgets.widget_selection._Selection):
        return str(c._options_labels[c._options_values.index(v)])
    return str(v)


_PLAYER_JS = (
    "(function(){var r=document.getElementById('%s'),d=JSON.parse(r.querySelector('script').textContent),"
    "c=r.querySelectorAll('[data-control]'),img=r.querySelector('img');function show(){var k=[];"
    "c.forEach(function(e,i){var j=e.tagName=='SELECT'?e.selectedIndex:+e.value;k.push(j);"
    "var o=e.parentNode.querySelector('output');if(o)o.textContent=d.labels[i][j];});"
    "img.src=d.frames[k.join(',')];}c.forEach(function(e){e.addEventListener('input',show);});})();"
)


def _player_html(grid, render) -> str:
    """The static player: one ``<input type=range>`` or ``<select>`` per control, frames in a JSON script."""
    import hashlib
    import itertools
    import json
    from html import escape

    names = list(grid)
    frames = {}
    for idx in itertools.product(*(range(len(grid[n][0])) for n in names)):
        png = render({n: grid[n][0][i] for n, i in zip(names, idx, strict=True)})
        frames[",".join(map(str, idx))] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    data = {"names": names, "labels": [grid[n][1] for n in names], "frames": frames}
    payload = json.dumps(data).replace("</", "<\\/")
    uid = "rnncourse-player-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
    rows = []
    for name, (values, labels, start) in grid.items():
        attrs = f'data-control="{escape(name)}" aria-label="{escape(name)}"'
        if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values) and len(values) > 1:
            ctl = f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{start}" {attrs}>'
        else:
            opts = "".join(
                f"<option{' selected' if i == start else ''}>{escape(lab)}</option>"
                for i, lab in enumerate(labels)
            )
            ctl = f"<select {attrs}>{opts}</select>"
        out = f"<output>{escape(labels[start])}</output>"
        rows.append(f'<label style="display:block">{escape(name)} {ctl} {out}</label>')
    first = frames[",".join(str(grid[n][2]) for n in names)]
    return (
        f'<div class="rnncourse-player" id="{uid}">{"".join(rows)}<img src="{first}" alt="figure" '
        f'style="max-width:100%"><script type="application/json">{payload}</script>'
        f"<script>{_PLAYER_JS % uid}</script></div>"
    )


@functools.cache
def _figure_class():
    """The ``VBox`` subclass that :func:`interactive_figure` returns (made on first use)."""
    import ipywidgets as widgets

    class InteractiveFigure(widgets.VBox):
        """Controls and figure (a ``VBox``) whose display also offers the static player as ``text/html``."""

        def __init__(self, children, player):
            super().__init__(children)
            self._player, self._html = player, None

        def player_html(self) -> str:
            """The static player (rendered on first call): frames over the grid of control values."""
            if self._html is None:
                self._html = _player_html(*self._player)
            return self._html

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            if data is not None:
                data["text/html"] = self.player_html()
            return data

    return InteractiveFigure


def scheduled_sampling_figure(k: float = 20.0, steps: int = 300, *, ax=None):
    r"""The inverse-sigmoid teacher-forcing schedule of scheduled sampling for one ``k`` (chapter 6).

    :math:`\epsilon_i = \beta / (\beta + \exp(i / \beta))` with :math:`\beta` = ``k >= 1`` (larger values keep
    it near 1 longer) is the probability of feeding the ground truth at step ``i = 0..steps-1`` (Bengio et al.
    2015; :class:`rnncourse.training.InverseSigmoidSchedule`). Returns the figure: the curve and a dashed line
    at :math:`\epsilon = 1/2`, reached at :math:`i = \beta \ln \beta`.
    """
    import math

    from . import plots
    from .training import InverseSigmoidSchedule, schedule_values

    steps = check_positive_int("steps", steps)
    curve = {rf"$\epsilon_i$, $\beta = {float(k):g}$": schedule_values(InverseSigmoidSchedule(k), steps)}
    half = float(k) * math.log(float(k))
    title = rf"inverse sigmoid: $\epsilon = 1/2$ at $i = \beta \ln \beta \approx {half:.0f}$"
    fig = plots.plot_lines(
        None, curve, xlabel="training step $i$", ylabel="teacher-forcing ratio", title=title, ax=ax
    )
    axes = fig.axes[0] if ax is None else ax
    axes.axhline(0.5, color="#999999", linestyle="--", linewidth=0.9)
    axes.set_ylim(-0.02, 1.02)
    return fig


def scheduled_sampling_widget(*, k: float = 20.0, steps: int = 300):
    """A slider over ``k`` (1 to 100) for :func:`scheduled_sampling_figure`, ``steps`` fixed (chapter 6).

    Returns the widget of :func:`interactive_figure` (its player: ``k = 1, 5, 10, ..., 100`` and ``k``).
    """
    import ipywidgets

    frames = sorted({1.0, float(k), *(5.0 * i for i in range(1, 21))})
    return interactive_figure(
        scheduled_sampling_figure,
        k=(1.0, 100.0, 1.0, float(k)),
        steps=ipywidgets.fixed(int(steps)),
        player_values={"k": frames},
    )
