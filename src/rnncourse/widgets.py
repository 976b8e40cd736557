"""Interactive figures for the chapters (ipywidgets 8), each with a static counterpart for the rendered book.

:func:`interactive_figure` turns a plotting function ``plot_fn(**params) -> Figure`` into sliders and
drop-downs plus an ``Output`` area that redraws the figure whenever a control changes. The rendered book
cannot run Python, so every interactive is shown next to its static fallback, :func:`static_grid`, which
draws the same function for a few parameter values as small multiples.

The figure is stored in the ``Output`` widget as a PNG ``display_data`` item (no kernel-side capture is
needed), so the widget also works outside a running notebook, e.g. in tests.
"""

from __future__ import annotations

import base64
import inspect
import io
import numbers
from collections.abc import Sequence

__all__ = [
    "interactive_figure",
    "static_grid",
    "figure_to_png",
    "gradient_flow_figure",
    "gradient_flow_widget",
    "scheduled_sampling_figure",
    "scheduled_sampling_widget",
    "temperature_figure",
    "temperature_widget",
]


def figure_to_png(fig, *, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default 100

    Returns
    -------
    bytes
        The PNG file.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}.")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _control(name: str, spec):
    """Build one ipywidgets control from a simple spec (see :func:`interactive_figure`)."""
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
    if isinstance(spec, tuple) and len(spec) in (3, 4):
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in spec):
            raise TypeError(f"{name}: a slider spec (min, max, step[, value]) holds numbers, got {spec!r}.")
        lo, hi, step = spec[:3]
        value = spec[3] if len(spec) == 4 else lo
        if not lo < hi or step <= 0 or not lo <= value <= hi:
            raise ValueError(
                f"{name}: a slider spec needs min < max, step > 0 and min <= value <= max, got "
                f"(min, max, step, value) = ({lo}, {hi}, {step}, {value})."
            )
        style = {"description_width": "initial"}
        if all(isinstance(v, numbers.Integral) for v in (lo, hi, step, value)):
            return widgets.IntSlider(
                min=lo, max=hi, step=step, value=value, description=name, continuous_update=False, style=style
            )
        return widgets.FloatSlider(
            min=lo,
            max=hi,
            step=step,
            value=value,
            description=name,
            continuous_update=False,
            style=style,
            readout_format=".3g",
        )
    raise TypeError(
        f"{name}: expected a slider spec (min, max, step, value), a list of options, a bool, an ipywidgets "
        f"control or ipywidgets.fixed(value), got {spec!r} of type {type(spec).__name__}."
    )


def interactive_figure(plot_fn, *, dpi: int = 90, **sliders):
    """An interactive figure: controls for the parameters of ``plot_fn`` and an output that redraws it.

    Parameters
    ----------
    plot_fn : callable
        ``plot_fn(**params) -> matplotlib.figure.Figure``; the figure is rendered to PNG and closed.
    dpi : int, default 90
        Resolution of the rendered figure.
    **sliders
        One spec per keyword parameter of ``plot_fn``:

        * ``(min, max, step, value)`` or ``(min, max, step)``: an ``IntSlider`` when all four are integers,
          else a ``FloatSlider`` (e.g. ``sigma=(0.5, 1.5, 0.05, 1.0)``);
        * a list of options: a ``Dropdown`` starting at the first option;
        * a bool: a ``Checkbox``;
        * an ipywidgets control: used as is;
        * ``ipywidgets.fixed(value)``: passed unchanged, no control.

    Returns
    -------
    ipywidgets.VBox
        ``children[:-1]`` are the controls (in the order of ``sliders``), ``children[-1]`` is the ``Output``
        holding the current figure as one PNG ``display_data`` item. The figure is drawn once on creation
        (errors raise there); later errors from ``plot_fn`` are shown as text in the output.

    Notes
    -----
    The rendered book shows the static counterpart, :func:`static_grid`, next to the widget. Sliders update
    on release (``continuous_update=False``) so that a slow figure does not queue redraws.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    if not callable(plot_fn):
        raise TypeError(
            f"plot_fn must be a callable returning a matplotlib Figure, got {type(plot_fn).__name__}."
        )
    if not sliders:
        raise ValueError(
            "interactive_figure needs at least one control spec, e.g. interactive_figure(f, sigma=(0.5, 1.5, "
            "0.05, 1.0))."
        )
    controls = {name: _control(name, spec) for name, spec in sliders.items()}
    fixed = {name: sliders[name].value for name, c in controls.items() if c is None}
    controls = {name: c for name, c in controls.items() if c is not None}
    out = widgets.Output()

    def values():
        return {**fixed, **{name: c.value for name, c in controls.items()}}

    def render(params):
        fig = plot_fn(**params)
        if not isinstance(fig, Figure):
            raise TypeError(
                f"plot_fn must return a matplotlib Figure, got {type(fig).__name__}; "
                "end it with `return fig`."
            )
        try:
            png = figure_to_png(fig, dpi=dpi)
        finally:
            plt.close(fig)
        text = ", ".join(f"{k}={v!r}" for k, v in params.items())
        data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<Figure: {text}>"}
        out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

    def redraw(change=None):
        params = values()
        try:
            render(params)
        except Exception as err:  # show the error where the reader looks, not in the kernel log
            out.outputs = (
                {"output_type": "stream", "name": "stderr", "text": f"{type(err).__name__}: {err}\n"},
            )

    render(values())
    for c in controls.values():
        c.observe(redraw, names="value")
    return widgets.VBox([*controls.values(), out])


def static_grid(
    plot_fn,
    param_name: str,
    values: Sequence,
    *,
    ncols: int | None = None,
    dpi: int = 90,
    panel_width: float = 4.0,
    **fixed,
):
    """The static counterpart of an interactive figure: ``plot_fn`` drawn for several values of one parameter.

    Parameters
    ----------
    plot_fn : callable
        ``plot_fn(**params) -> Figure``. If it accepts an ``ax`` keyword, it draws directly into the panels
        of the grid; otherwise each figure is rendered to an image and placed in its panel.
    param_name : str
        The parameter that varies.
    values : sequence
        Its values, one panel each (1 to 12).
    ncols : int, optional
        Columns of the grid (default ``min(len(values), 3)``).
    dpi : int, default 90
        Resolution of the rendered panels (image mode only).
    panel_width : float, default 4.0
        Width of one panel in inches.
    **fixed
        The other parameters of ``plot_fn``, the same in every panel.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(values)`` axes titled ``"<param_name> = <value>"`` (in image mode only when the figure of
        ``plot_fn`` has no title of its own, which then names the panel).

    Notes
    -----
    The rendered book cannot run the kernel behind :func:`interactive_figure`; every chapter with an
    interactive shows this grid beside it, e.g. ``static_grid(plot_fn, "sigma", [0.9, 1.0, 1.1])`` for the
    gradient-norm slider of chapter 9.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from ._validate import check_positive_int

    if not callable(plot_fn):
        raise TypeError(
            f"plot_fn must be a callable returning a matplotlib Figure, got {type(plot_fn).__name__}."
        )
    if not isinstance(param_name, str):
        raise TypeError(f"param_name must be the name (str) of a parameter of plot_fn, got {param_name!r}.")
    if param_name in fixed:
        raise ValueError(f"{param_name!r} is both the varying parameter and a fixed one; pass it only once.")
    if isinstance(values, str) or not isinstance(values, Sequence) or not 1 <= len(values) <= 12:
        raise ValueError(f"values must be a list of 1 to 12 parameter values, got {values!r:.80}.")
    ncols = min(len(values), 3) if ncols is None else check_positive_int("ncols", ncols)
    ncols = min(ncols, len(values))
    nrows = -(-len(values) // ncols)
    try:
        takes_ax = "ax" in inspect.signature(plot_fn).parameters
    except (TypeError, ValueError):
        takes_ax = False
    images, own_titles = [], []
    if not takes_ax:  # render every panel first: the grid takes the aspect ratio of the images
        for value in values:
            sub = plot_fn(**{**fixed, param_name: value})
            if not isinstance(sub, Figure):
                raise TypeError(f"plot_fn must return a matplotlib Figure, got {type(sub).__name__}.")
            try:
                own_titles.append(any(a.get_title() for a in sub.axes) or bool(sub.get_suptitle()))
                images.append(plt.imread(io.BytesIO(figure_to_png(sub, dpi=dpi)), format="png"))
            finally:
                plt.close(sub)
        aspect = max(im.shape[0] / im.shape[1] for im in images)
    else:
        aspect = 0.75
    figsize = (panel_width * ncols, (aspect * panel_width + 0.3) * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    try:
        for i, (ax, value) in enumerate(zip(flat, values, strict=False)):
            if takes_ax:
                result = plot_fn(ax=ax, **{**fixed, param_name: value})
                if not isinstance(result, Figure):
                    raise TypeError(f"plot_fn must return a matplotlib Figure, got {type(result).__name__}.")
            else:
                ax.imshow(images[i])
                ax.axis("off")
            if takes_ax or not own_titles[i]:
                number = isinstance(value, numbers.Real) and not isinstance(value, bool)
                label = f"{value:g}" if number else value
                ax.set_title(f"{param_name} = {label}", fontsize=11)
    except BaseException:
        plt.close(fig)
        raise
    for ax in flat[len(values) :]:
        fig.delaxes(ax)
    return fig


def gradient_flow_figure(sigma: float = 1.0, T: int = 50, *, ax=None):
    r"""Gradient norm against the lag for a linear and a tanh RNN with :math:`W_{hh} = \sigma Q` (chapter 9).

    Parameters
    ----------
    sigma : float, default 1.0
        :math:`\sigma_{\max}(W_{hh})`; ``Q`` is a seeded random orthogonal matrix (H = 32).
    T : int, default 50
        Sequence length; the lags run from 0 to ``T``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two solid curves (linear, tanh) and the dashed bound :math:`\sigma^{l}`.

    Notes
    -----
    Without a nonlinearity :math:`\partial h_T / \partial h_{T-l} = W_{hh}^{l}` and the gradient norm is
    exactly :math:`\sigma^{l}` times its value at the last step (the curve lies on the bound); tanh multiplies
    every step by :math:`\operatorname{diag}(1 - h_t^2)` and falls below it. Data from
    :func:`rnncourse.gradients.gradient_norms_by_lag`; drawn by :func:`rnncourse.plots.plot_gradient_norms`.
    """
    from . import gradients, plots

    linear = gradients.gradient_norms_by_lag((sigma,), nonlinearity="linear", T=T)
    tanh = gradients.gradient_norms_by_lag((sigma,), nonlinearity="tanh", T=T)
    sigma = linear.sigmas[0]
    return plots.plot_gradient_norms(
        linear.lags,
        {"linear": linear.typical[sigma], "tanh": tanh.typical[sigma]},
        bounds={r"$\sigma^{l}$": linear.bounds[sigma]},
        ax=ax,
        title=rf"$\sigma_{{\max}} = {sigma:g}$, $T = {T}$",
    )


def gradient_flow_widget(*, sigma: float = 1.0, T: int = 50):
    r"""Sliders over :math:`\sigma_{\max}(W_{hh})` and ``T`` for :func:`gradient_flow_figure` (chapter 9).

    Parameters
    ----------
    sigma : float, default 1.0
        Initial value of the ``sigma`` slider (0.5 to 1.5).
    T : int, default 50
        Initial value of the ``T`` slider (10 to 100).

    Returns
    -------
    ipywidgets.VBox
        The two sliders and the output holding the figure (see :func:`interactive_figure`). The static
        counterpart in the rendered book is one panel per ``sigma``, e.g.
        ``static_grid(gradient_flow_figure, "sigma", [0.5, 0.9, 1.0, 1.1, 1.5])``.

    Notes
    -----
    :math:`\|\partial L_T/\partial h_{T-l}\| = \sigma^{l}\, \|\partial L_T/\partial h_T\|` for the linear RNN:
    it explodes for :math:`\sigma > 1` and vanishes for :math:`\sigma < 1`.
    """
    return interactive_figure(
        gradient_flow_figure, sigma=(0.5, 1.5, 0.05, float(sigma)), T=(10, 100, 10, int(T))
    )


def scheduled_sampling_figure(k: float = 20.0, steps: int = 300, *, ax=None):
    r"""The inverse-sigmoid teacher-forcing schedule of scheduled sampling for one ``k`` (chapter 6).

    Parameters
    ----------
    k : float, default 20.0
        ``k >= 1``; larger values keep the ratio near 1 longer.
    steps : int, default 300
        Training steps drawn, ``i = 0..steps-1``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        The curve :math:`\epsilon_i` and a dashed line at :math:`\epsilon = 1/2`, reached at
        :math:`i = k \ln k`.

    Notes
    -----
    .. math:: \epsilon_i = \frac{k}{k + \exp(i / k)}

    the probability of feeding the ground truth at step ``i`` (Bengio et al. 2015); data from
    :class:`rnncourse.training.InverseSigmoidSchedule`, drawn by :func:`rnncourse.plots.plot_lines`.
    """
    import math

    from . import plots
    from ._validate import check_positive_int
    from .training import InverseSigmoidSchedule, schedule_values

    steps = check_positive_int("steps", steps)
    schedule = InverseSigmoidSchedule(k)
    half = float(k) * math.log(float(k))
    fig = plots.plot_lines(
        None,
        {rf"$\epsilon_i$, k = {float(k):g}": schedule_values(schedule, steps)},
        xlabel="training step $i$",
        ylabel="teacher-forcing ratio",
        title=rf"inverse sigmoid: $\epsilon = 1/2$ at $i = k \ln k \approx {half:.0f}$",
        ax=ax,
    )
    axes = fig.axes[0] if ax is None else ax
    axes.axhline(0.5, color="#999999", linestyle="--", linewidth=0.9)
    axes.set_ylim(-0.02, 1.02)
    return fig


def scheduled_sampling_widget(*, k: float = 20.0, steps: int = 300):
    """A slider over ``k`` for :func:`scheduled_sampling_figure` (chapter 6).

    Parameters
    ----------
    k : float, default 20.0
        Initial value of the ``k`` slider (1 to 100).
    steps : int, default 300
        Training steps drawn (fixed).

    Returns
    -------
    ipywidgets.VBox
        The slider and the output holding the figure (see :func:`interactive_figure`). The static counterpart
        is ``static_grid(scheduled_sampling_figure, "k", [5, 20, 60])``.
    """
    import ipywidgets

    return interactive_figure(
        scheduled_sampling_figure, k=(1.0, 100.0, 1.0, float(k)), steps=ipywidgets.fixed(int(steps))
    )


def temperature_figure(
    model, prefix: str, temperature: float = 1.0, top_k: int = 0, *, length: int = 160, seed: int = 0
):
    r"""Next-character distribution after ``prefix`` at temperature :math:`\tau`, and a sample (chapter 4).

    Parameters
    ----------
    model : rnncourse.charlm.CharRNN
        Built with ``vocab=...`` so that it reads and writes strings.
    prefix : str
        The prompt that primes the hidden state.
    temperature : float, default 1.0
        :math:`\tau > 0`.
    top_k : int, default 0
        Keep only the ``top_k`` most likely characters (0: all of them).
    length : int, default 160
        Characters sampled.
    seed : int, default 0

    Returns
    -------
    matplotlib.figure.Figure
        Bars of :math:`\mathrm{softmax}(y / \tau)` (the 20 most likely characters), the entropy in the title
        and ``prefix`` + the sample underneath; drawn by :func:`rnncourse.plots.plot_char_distribution`.
    """
    from . import plots, sampling

    if getattr(model, "vocab", None) is None:
        raise ValueError(
            "model must carry its vocabulary to print samples, got vocab=None; build it with "
            "CharRNN(..., vocab=Vocab(text))."
        )
    k = None if top_k == 0 else top_k
    _, logits = model.prime(prefix)
    p = sampling.probabilities(logits[0].double(), temperature, k)
    H = float(sampling.entropy_bits(p))
    text = model.generate(prefix, length, temperature=temperature, top_k=k, seed=seed)
    title = rf"$\tau = {temperature:g}$" + ("" if k is None else f", top-{k}") + f": entropy {H:.2f} bits"
    return plots.plot_char_distribution(model.vocab.chars, p.numpy(), title=title, text=prefix + text)


def temperature_widget(model, prefix: str, *, temperature: float = 1.0, length: int = 160, seed: int = 0):
    r"""Sliders over the temperature and top-k for :func:`temperature_figure` (chapter 4).

    Parameters
    ----------
    model : rnncourse.charlm.CharRNN
    prefix : str
    temperature : float, default 1.0
        Initial value of the ``temperature`` slider (0.05 to 2).
    length : int, default 160
    seed : int, default 0

    Returns
    -------
    ipywidgets.VBox
        The ``temperature`` and ``top_k`` sliders (``top_k = 0``: no truncation) and the output holding the
        figure. The rendered book shows a static table of samples at several temperatures instead.
    """
    import functools

    plot_fn = functools.partial(temperature_figure, model, prefix, length=length, seed=seed)
    return interactive_figure(plot_fn, temperature=(0.05, 2.0, 0.05, float(temperature)), top_k=(0, 20, 1, 0))
