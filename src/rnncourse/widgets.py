"""Interactive figures (ipywidgets 8), each with a static counterpart for the rendered book.

:func:`interactive_figure` turns a plotting function ``plot_fn(**params) -> Figure`` into sliders and
drop-downs plus an ``Output`` that redraws the figure whenever a control changes. The rendered book cannot run
Python, so every interactive is shown next to its static fallback, :func:`static_grid`. The figure is a PNG
``display_data`` item of the ``Output``, so a widget also works outside a notebook (tests). Single-chapter
figures live in their chapter.
"""

from __future__ import annotations

import base64
import inspect
import io
import numbers
from collections.abc import Sequence

from ._validate import check_positive_int

__all__ = ["interactive_figure", "static_grid", "figure_to_png"]
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


def interactive_figure(plot_fn, *, dpi: int = 90, **sliders):
    """An interactive figure: controls for the parameters of ``plot_fn`` and an output that redraws it.

    Parameters
    ----------
    plot_fn : callable
        ``plot_fn(**params) -> matplotlib.figure.Figure``; the figure is rendered to PNG (``dpi``) and closed.
    **sliders
        One spec per keyword parameter of ``plot_fn``: ``(min, max, step, value)`` or ``(min, max, step)``
        (an ``IntSlider`` when all are integers, else a ``FloatSlider``: ``sigma=(0.5, 1.5, 0.05, 1.0)``);
        a list of options (a ``Dropdown``); a bool (a ``Checkbox``); an ipywidgets control (used as is); or
        ``ipywidgets.fixed(value)`` (passed unchanged, no control).

    Returns
    -------
    ipywidgets.VBox
        ``children[:-1]`` are the controls in the order of ``sliders``, ``children[-1]`` the ``Output``
        holding the figure as one PNG ``display_data`` item. The figure is drawn once on creation (errors
        raise there); later errors of ``plot_fn`` are shown as text in the output. Sliders update on release.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    _check_plot_fn(plot_fn)
    if not sliders:
        raise ValueError(
            "interactive_figure needs at least one control spec, e.g. sigma=(0.5, 1.5, 0.05, 1.0)."
        )
    controls = {name: _control(name, spec) for name, spec in sliders.items()}
    fixed = {name: sliders[name].value for name, c in controls.items() if c is None}
    controls = {name: c for name, c in controls.items() if c is not None}
    out = widgets.Output()

    def render():
        params = {**fixed, **{name: c.value for name, c in controls.items()}}
        fig = _check_plot_fn(plot_fn(**params), returned=True)
        try:
            png = figure_to_png(fig, dpi=dpi)
        finally:
            plt.close(fig)
        text = ", ".join(f"{k}={v!r}" for k, v in params.items())
        data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<Figure: {text}>"}
        out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

    def redraw(change=None):
        try:
            render()
        except Exception as err:  # show the error where the reader looks, not in the kernel log
            text = f"{type(err).__name__}: {err}\n"
            out.outputs = ({"output_type": "stream", "name": "stderr", "text": text},)

    render()
    for c in controls.values():
        c.observe(redraw, names="value")
    return widgets.VBox([*controls.values(), out])


def static_grid(plot_fn, param_name: str, values: Sequence, *, ncols=None, dpi=90, panel_width=4.0, **fixed):
    """The static counterpart of an interactive figure: ``plot_fn`` drawn for several values of one parameter.

    Parameters
    ----------
    plot_fn : callable
        ``plot_fn(**params) -> Figure``. If it accepts an ``ax`` keyword it draws into the panels of the grid;
        otherwise each figure is rendered to an image (at ``dpi``) and placed in its panel.
    param_name : str
        The parameter that varies.
    values : sequence
        Its values, one panel each (1 to 12).
    ncols : int, optional
        Columns of the grid (default ``min(len(values), 3)``).
    panel_width : float, default 4.0
        Width of one panel in inches.
    **fixed
        The other parameters of ``plot_fn``, the same in every panel.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(values)`` axes titled ``"<param_name> = <value>"`` (in image mode only when the figure of
        ``plot_fn`` has no title of its own), e.g. ``static_grid(plot_fn, "sigma", [0.9, 1.0, 1.1])``.
    """
    import matplotlib.pyplot as plt

    _check_plot_fn(plot_fn)
    if not isinstance(param_name, str):
        raise TypeError(f"param_name must be the name (str) of a parameter of plot_fn, got {param_name!r}.")
    if param_name in fixed:
        raise ValueError(f"{param_name!r} is both the varying parameter and a fixed one; pass it only once.")
    if isinstance(values, str) or not isinstance(values, Sequence) or not 1 <= len(values) <= 12:
        raise ValueError(f"values must be a list of 1 to 12 parameter values, got {values!r:.80}.")
    ncols = min(min(len(values), 3) if ncols is None else check_positive_int("ncols", ncols), len(values))
    nrows = -(-len(values) // ncols)
    try:
        takes_ax = "ax" in inspect.signature(plot_fn).parameters
    except (TypeError, ValueError):
        takes_ax = False

    def draw(**params):
        return _check_plot_fn(plot_fn(**fixed, **params), returned=True)

    images, own_titles, aspect = [], [], 0.75
    if not takes_ax:  # render every panel first: the grid takes the aspect ratio of the images
        for value in values:
            sub = draw(**{param_name: value})
            try:
                own_titles.append(any(a.get_title() for a in sub.axes) or bool(sub.get_suptitle()))
                images.append(plt.imread(io.BytesIO(figure_to_png(sub, dpi=dpi)), format="png"))
            finally:
                plt.close(sub)
        aspect = max(im.shape[0] / im.shape[1] for im in images)
    figsize = (panel_width * ncols, (aspect * panel_width + 0.3) * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    try:
        for i, (ax, value) in enumerate(zip(flat, values, strict=False)):
            if takes_ax:
                draw(ax=ax, **{param_name: value})
            else:
                ax.imshow(images[i])
                ax.axis("off")
            if takes_ax or not own_titles[i]:
                label = (
                    f"{value:g}" if isinstance(value, numbers.Real) and not isinstance(value, bool) else value
                )
                ax.set_title(f"{param_name} = {label}", fontsize=11)
    except BaseException:
        plt.close(fig)
        raise
    for ax in flat[len(values) :]:
        fig.delaxes(ax)
    return fig


def scheduled_sampling_figure(k: float = 20.0, steps: int = 300, *, ax=None):
    r"""The inverse-sigmoid teacher-forcing schedule of scheduled sampling for one ``k`` (chapter 6).

    :math:`\epsilon_i = k / (k + \exp(i / k))` is the probability of feeding the ground truth at step ``i``
    (Bengio et al. 2015; :class:`rnncourse.training.InverseSigmoidSchedule`), for ``k >= 1`` (larger values
    keep it near 1 longer) and ``i = 0..steps-1``. Returns the figure: the curve and a dashed line at
    :math:`\epsilon = 1/2`, reached at :math:`i = k \ln k`.
    """
    import math

    from . import plots
    from .training import InverseSigmoidSchedule, schedule_values

    steps = check_positive_int("steps", steps)
    curve = {rf"$\epsilon_i$, k = {float(k):g}": schedule_values(InverseSigmoidSchedule(k), steps)}
    title = rf"inverse sigmoid: $\epsilon = 1/2$ at $i = k \ln k \approx {float(k) * math.log(float(k)):.0f}$"
    fig = plots.plot_lines(
        None, curve, xlabel="training step $i$", ylabel="teacher-forcing ratio", title=title, ax=ax
    )
    axes = fig.axes[0] if ax is None else ax
    axes.axhline(0.5, color="#999999", linestyle="--", linewidth=0.9)
    axes.set_ylim(-0.02, 1.02)
    return fig


def scheduled_sampling_widget(*, k: float = 20.0, steps: int = 300):
    """A slider over ``k`` (1 to 100) for :func:`scheduled_sampling_figure`, ``steps`` fixed (chapter 6).

    Returns the ``ipywidgets.VBox`` of :func:`interactive_figure`; the static counterpart is e.g.
    ``static_grid(scheduled_sampling_figure, "k", [5, 20, 60])``.
    """
    import ipywidgets

    return interactive_figure(
        scheduled_sampling_figure, k=(1.0, 100.0, 1.0, float(k)), steps=ipywidgets.fixed(int(steps))
    )
