"""Figures for every chapter: computational graphs, truncation windows, training curves, heat maps.

Matplotlib only (safe with the ``Agg`` backend). Every function returns the :class:`~matplotlib.figure.Figure`
it drew on (a new one when ``ax`` is None, otherwise ``ax.figure``), validates its arguments at the boundary
and never calls ``plt.show()``: the caller shows or saves the figure and closes it. No global matplotlib
settings are changed; the light house style is applied per axes by private helpers.

Graph figures (chapters 2, 6, 7, 8) use one colour per role: inputs, hidden states, outputs, losses. Their
patches carry a ``gid`` such as ``"node:h:3"`` (kind ``h``, time step 3) or ``"edge:W_hh:3"`` so that tests
and readers can find the elements of a drawing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from ._validate import check_choice, check_positive_int

__all__ = [
    "TOPOLOGIES",
    "plot_unrolled",
    "plot_all_topologies",
    "plot_tbptt_segments",
    "plot_layer_grid",
    "plot_history",
    "plot_lines",
    "plot_heatmap",
    "plot_small_multiples",
    "plot_gradient_norms",
    "plot_memory_decay",
    "plot_char_distribution",
    "plot_scene_grid",
]

#: The recurrent topologies that :func:`plot_unrolled` draws.
TOPOLOGIES = (
    "one-to-one",
    "many-to-many",
    "many-to-one",
    "one-to-many-zeros",
    "one-to-many-output",
    "seq2seq",
)

# Role colours (fill, edge): inputs, hidden states, outputs, losses, plus neutral greys.
_FILL = MappingProxyType(
    {
        "x": "#dbe8f6",
        "zero": "#f2f2f2",
        "feedback": "#dbe8f6",
        "h": "#d9efdc",
        "h0": "#eef7ef",
        "y": "#fbe3d3",
        "L": "#ead9f0",
    }
)
_EDGE = MappingProxyType(
    {
        "x": "#2f6aa8",
        "zero": "#9a9a9a",
        "feedback": "#2f6aa8",
        "h": "#2e8540",
        "h0": "#2e8540",
        "y": "#c4622d",
        "L": "#7b4a93",
    }
)
_ARROW = MappingProxyType(
    {"W_xh": "#2f6aa8", "W_hh": "#2e8540", "W_hy": "#c4622d", "loss": "#7b4a93", "feedback": "#c4622d"}
)
_TEXT = "#222222"
_NODE_W, _NODE_H = 0.8, 0.52
_DX = 1.45
_ROWS = MappingProxyType({"x": 0.0, "h": 1.3, "y": 2.6, "L": 3.65})
_MAX_T = 16


# ----------------------------------------------------------------------------------------------------
# private helpers: style, figures, validation
# ----------------------------------------------------------------------------------------------------


def _new_axes(ax, figsize):
    """Return ``(fig, ax)``: a new pyplot figure with one axes when ``ax`` is None, else ``ax.figure``."""
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    _check_axes(ax)
    return ax.figure, ax


def _check_axes(ax, name: str = "ax"):
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(
            f"{name} must be a matplotlib Axes (or None to create a new figure), got {type(ax).__name__}; "
            "pass e.g. `fig, ax = plt.subplots()` and then `ax=ax`."
        )


def _style_axes(ax, *, grid: bool = True):
    """The light house style for data plots: no top/right spines, a faint grid, grey ticks."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")
    ax.tick_params(colors="#444444", labelsize=9)
    ax.xaxis.label.set_color(_TEXT)
    ax.yaxis.label.set_color(_TEXT)
    ax.title.set_fontsize(11)
    if grid:
        ax.grid(True, color="#dddddd", linewidth=0.7)
        ax.set_axisbelow(True)


def _check_bool(name: str, value):
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}.")
    return bool(value)


def _check_str(name: str, value, *, allow_none: bool = True):
    if value is None and allow_none:
        return value
    if not isinstance(value, str):
        expected = "a string or None" if allow_none else "a string"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}.")
    return value


def _as_1d(name: str, values) -> np.ndarray:
    """Convert a list, numpy array or torch tensor of numbers to a 1-D float64 array."""
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be a 1-D sequence of numbers (list, numpy array or torch tensor), got "
            f"{type(values).__name__} that cannot be converted to floats ({err})."
        ) from None
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D, got shape {arr.shape}; pass one curve per entry (flatten or index it)."
        )
    return arr


def _as_2d(name: str, values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be a 2-D array of numbers (numpy array, torch tensor or nested list), got "
            f"{type(values).__name__} that cannot be converted to floats ({err})."
        ) from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, columns), got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one row and one column.")
    return arr


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average that ignores NaNs; the first ``window - 1`` points average what exists."""
    valid = np.isfinite(y)
    y0 = np.where(valid, y, 0.0)
    csum = np.cumsum(np.concatenate([[0.0], y0]))
    ccount = np.cumsum(np.concatenate([[0], valid.astype(np.int64)]))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - window, 0)
    count = ccount[idx] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[idx] - csum[lo]) / np.maximum(count, 1), np.nan)


# ----------------------------------------------------------------------------------------------------
# graph drawing helpers
# ----------------------------------------------------------------------------------------------------


def _node(ax, x, y, label, kind, t, *, fontsize=11):
    from matplotlib.patches import FancyBboxPatch

    dashed = kind == "zero"
    patch = FancyBboxPatch(
        (x - _NODE_W / 2, y - _NODE_H / 2),
        _NODE_W,
        _NODE_H,
        boxstyle="round,pad=0,rounding_size=0.14",
        facecolor=_FILL[kind],
        edgecolor=_EDGE[kind],
        linewidth=1.4,
        linestyle="--" if dashed else "-",
        zorder=3,
    )
    patch.set_gid(f"node:{kind}:{t}")
    ax.add_patch(patch)
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, color=_TEXT, zorder=4)
    return patch


def _arrow(ax, pA, pB, kind, t, *, rad=0.0, dashed=False, color=None):
    from matplotlib.patches import FancyArrowPatch

    a = FancyArrowPatch(
        posA=_center(pA),
        posB=_center(pB),
        patchA=pA,
        patchB=pB,
        arrowstyle="-|>",
        mutation_scale=12,
        linewidth=1.3,
        linestyle="--" if dashed else "-",
        color=color or _ARROW.get(kind, "#555555"),
        connectionstyle=f"arc3,rad={rad}",
        shrinkA=1.5,
        shrinkB=1.5,
        zorder=2,
    )
    a.set_gid(f"edge:{kind}:{t}")
    ax.add_patch(a)
    return a


def _feedback_arrow(ax, src, dst, t):
    """Dashed arrow from the bottom-right of output ``src`` to the top-left of input ``dst``.

    It crosses the recurrent arrow half-way between two hidden states, away from the vertical arrows.
    """
    from matplotlib.patches import FancyArrowPatch

    (xa, ya), (xb, yb) = _center(src), _center(dst)
    a = FancyArrowPatch(
        posA=(xa + 0.2, ya - _NODE_H / 2),
        posB=(xb - 0.2, yb + _NODE_H / 2),
        arrowstyle="-|>",
        mutation_scale=11,
        linewidth=1.2,
        linestyle="--",
        color=_ARROW["feedback"],
        connectionstyle="arc3,rad=0.08",
        shrinkA=1.5,
        shrinkB=1.5,
        zorder=2,
    )
    a.set_gid(f"edge:feedback:{t}")
    ax.add_patch(a)
    return a


def _center(patch):
    return (patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2)


def _weight_label(ax, x, y, text, *, ha="center", va="center", fontsize=10):
    ax.text(
        x,
        y,
        text,
        ha=ha,
        va=va,
        fontsize=fontsize,
        color="#333333",
        zorder=5,
        bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
    )


def _finish_graph_axes(ax, xmin, xmax, ymin, ymax):
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.axis("off")


def _check_T(T, name="T"):
    T = check_positive_int(name, T)
    if T > _MAX_T:
        raise ValueError(
            f"{name} must be at most {_MAX_T} for a readable drawing, got {T}; the graph repeats the same "
            "step, so draw a few steps (e.g. T=4)."
        )
    return T


def _draw_chain(
    ax,
    *,
    x0,
    T,
    inputs,
    outputs,
    show_loss,
    h_symbol,
    h_prev_patch,
    t_offset,
    weights,
    first_input_label=None,
):
    """Draw one recurrent chain of ``T`` steps starting at column ``x0``; return the hidden patches.

    ``inputs``: "all", "first-zeros" (x at step 1, 0 afterwards), "first-feedback" (x at step 1, the previous
    output afterwards) or "none". ``outputs``: "all", "last" or "none". ``weights``: labels for W_xh, W_hh,
    W_hy. ``t_offset`` shifts the gid time index (the decoder of seq2seq continues the count).
    """
    W_xh, W_hh, W_hy = weights
    hs, ys = [], {}
    prev = h_prev_patch
    for i in range(1, T + 1):
        gx = x0 + (i - 1) * _DX
        t = t_offset + i
        h = _node(ax, gx, _ROWS["h"], f"${h_symbol}_{{{i}}}$", "h", t)
        hs.append(h)
        # input
        xin = None
        if inputs == "all" or i == 1 and inputs != "none":
            label = first_input_label if (i == 1 and first_input_label) else f"$x_{{{i}}}$"
            xin = _node(ax, gx, _ROWS["x"], label, "x", t)
        elif inputs == "first-zeros":
            xin = _node(ax, gx, _ROWS["x"], "$0$", "zero", t)
        elif inputs == "first-feedback":
            xin = _node(ax, gx, _ROWS["x"], f"$y_{{{i - 1}}}$", "feedback", t)
            _feedback_arrow(ax, ys[i - 1], xin, t)
        if xin is not None:
            _arrow(ax, xin, h, "W_xh", t)
            if i == 1:
                _weight_label(ax, gx - 0.1, (_ROWS["x"] + _ROWS["h"]) / 2, W_xh, ha="right")
        # recurrence
        if prev is not None:
            _arrow(ax, prev, h, "W_hh", t)
            if i == 1:
                _weight_label(ax, (_center(prev)[0] + gx) / 2, _ROWS["h"] + 0.2, W_hh, va="bottom")
        prev = h
        # output and loss
        if outputs == "all" or (outputs == "last" and i == T):
            y = _node(ax, gx, _ROWS["y"], f"$y_{{{i}}}$", "y", t)
            ys[i] = y
            _arrow(ax, h, y, "W_hy", t)
            if not ys.get("labelled"):
                _weight_label(ax, gx - 0.1, (_ROWS["h"] + _ROWS["y"]) / 2, W_hy, ha="right")
                ys["labelled"] = True
            if show_loss:
                loss = _node(ax, gx, _ROWS["L"], rf"$\mathcal{{L}}_{{{i}}}$", "L", t)
                _arrow(ax, y, loss, "loss", t)
    return hs


# ----------------------------------------------------------------------------------------------------
# 1. unrolled computational graphs
# ----------------------------------------------------------------------------------------------------


def plot_unrolled(
    topology: str,
    T: int = 4,
    *,
    ax=None,
    show_loss: bool = True,
    title: str | None = None,
    T_out: int | None = None,
):
    """Draw the computational graph of an RNN topology unrolled over ``T`` time steps.

    Inputs :math:`x_t` sit at the bottom, hidden states :math:`h_t` in the middle (chained left to right
    by :math:`W_{hh}`, starting from the initial state :math:`h_0`), outputs :math:`y_t` above them and the
    losses :math:`\\mathcal{L}_t` on top where the topology has a loss. Each weight is labelled once: the same
    matrices are used at every step.

    Parameters
    ----------
    topology : str
        One of ``"one-to-one"`` (a feed-forward step, no recurrence: ``T`` is ignored), ``"many-to-many"``,
        ``"many-to-one"`` (one output from the last state), ``"one-to-many-zeros"`` (``x_1`` then zero
        inputs), ``"one-to-many-output"`` (``y_{t-1}`` fed back as the input of step ``t``: dashed feedback
        arrows), ``"seq2seq"`` (a many-to-one encoder over ``T`` steps whose final state :math:`h_T` is the
        initial state :math:`s_0` of a one-to-many decoder over ``T_out`` steps).
    T : int, default 4
        Number of time steps drawn (1 to 16).
    ax : matplotlib Axes, optional
        Draw into this axes; a new figure is created when None.
    show_loss : bool, default True
        Draw the loss nodes :math:`\\mathcal{L}_t` above the outputs.
    title : str, optional
        Axes title; None uses the topology name, ``""`` draws no title.
    T_out : int, optional
        Decoder length of ``"seq2seq"`` (default ``T``); ignored by the other topologies.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The drawn graph computes (chapter 2, computational graphs)

    .. math:: h_t = \\tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \\quad y_t = W_{hy} h_t + b_y,
              \\quad \\mathcal{L} = \\sum_t \\mathcal{L}_t(y_t).

    Patches carry gids ``"node:<kind>:<t>"`` with kind in ``x`` (input), ``zero`` (zero input), ``feedback``
    (fed-back output), ``h0``, ``h`` (one per hidden state), ``y``, ``L``; arrows ``"edge:<weight>:<t>"``.
    For ``"seq2seq"`` the decoder's steps continue the count: ``t = T + 1, ..., T + T_out``.
    """
    topology = check_choice("topology", topology, TOPOLOGIES)
    T = _check_T(T)
    show_loss = _check_bool("show_loss", show_loss)
    title = _check_str("title", title)
    if T_out is None:
        T_out = T
    T_out = _check_T(T_out, "T_out")
    if topology == "one-to-one":
        T = 1
    n_cols = T + (T_out if topology == "seq2seq" else 0)
    has_h0 = topology != "one-to-one"
    seq_gap = 0.35 if topology == "seq2seq" else 0.0
    xmin = (-_DX if has_h0 else 0.0) - _NODE_W / 2 - 0.75
    xmax = (n_cols - 1) * _DX + seq_gap + _NODE_W / 2 + 0.25
    ymax = (_ROWS["L"] if show_loss else _ROWS["y"]) + _NODE_H / 2 + 0.15
    ymin = _ROWS["x"] - _NODE_H / 2 - (0.55 if topology == "seq2seq" else 0.15)
    fig, ax = _new_axes(ax, figsize=(0.62 * (xmax - xmin) + 0.2, 0.62 * (ymax - ymin) + 0.45))

    h0 = None
    if has_h0:
        h0 = _node(ax, -_DX, _ROWS["h"], "$h_0$", "h0", 0)
    weights = ("$W_{xh}$", "$W_{hh}$", "$W_{hy}$")
    wiring = {  # topology -> (inputs, outputs) of a single chain
        "one-to-one": ("all", "all"),
        "many-to-many": ("all", "all"),
        "many-to-one": ("all", "last"),
        "one-to-many-zeros": ("first-zeros", "all"),
        "one-to-many-output": ("first-feedback", "all"),
    }
    if topology in wiring:
        inputs, outputs = wiring[topology]
        _draw_chain(
            ax,
            x0=0.0,
            T=T,
            inputs=inputs,
            outputs=outputs,
            show_loss=show_loss,
            h_symbol="h",
            h_prev_patch=h0,
            t_offset=0,
            weights=weights,
        )
    else:  # seq2seq
        enc = _draw_chain(
            ax,
            x0=0.0,
            T=T,
            inputs="all",
            outputs="none",
            show_loss=False,
            h_symbol="h",
            h_prev_patch=h0,
            t_offset=0,
            weights=("$W^{e}_{xh}$", "$W^{e}_{hh}$", ""),
        )
        x_dec = T * _DX + seq_gap
        _draw_chain(
            ax,
            x0=x_dec,
            T=T_out,
            inputs="first-feedback",
            outputs="all",
            show_loss=show_loss,
            h_symbol="s",
            h_prev_patch=enc[-1],
            t_offset=T,
            weights=("$W^{d}_{xh}$", "$W^{d}_{hh}$", "$W^{d}_{hy}$"),
            first_input_label=r"$\langle s\rangle$",
        )
        _weight_label(ax, x_dec - (_DX + seq_gap) / 2, _ROWS["h"] - 0.2, "$s_0{=}h_T$", va="top", fontsize=9)
        y_txt = _ROWS["x"] - _NODE_H / 2 - 0.12
        ax.text(
            (T - 1) * _DX / 2,
            y_txt,
            "encoder",
            ha="center",
            va="top",
            fontsize=10,
            color="#555555",
            style="italic",
        )
        ax.text(
            x_dec + (T_out - 1) * _DX / 2,
            y_txt,
            "decoder",
            ha="center",
            va="top",
            fontsize=10,
            color="#555555",
            style="italic",
        )
        ax.plot(
            [x_dec - (_DX + seq_gap) / 2] * 2,
            [ymin + 0.05, _ROWS["x"] + _NODE_H / 2],
            color="#bbbbbb",
            linewidth=1.0,
            linestyle=":",
            zorder=1,
        )
    _finish_graph_axes(ax, xmin, xmax, ymin, ymax)
    if title is None:
        title = topology
    if title:
        ax.set_title(title, fontsize=12, color=_TEXT)
    return fig


def plot_all_topologies(T: int = 4, *, show_loss: bool = True):
    """Small multiples of every topology in :data:`TOPOLOGIES`, drawn by :func:`plot_unrolled`.

    Parameters
    ----------
    T : int, default 4
        Time steps of each recurrent graph (``seq2seq``: ``T`` encoder steps and ``T - 1`` decoder steps,
        at least 1).
    show_loss : bool, default True
        Draw the loss nodes.

    Returns
    -------
    matplotlib.figure.Figure
        Six axes, one per topology, in the order of :data:`TOPOLOGIES`.

    Notes
    -----
    Chapter 2 (computational graphs): the same step :math:`h_t = \\tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)`
    wired into the different input/output patterns.
    """
    import matplotlib.pyplot as plt

    T = _check_T(T)
    show_loss = _check_bool("show_loss", show_loss)
    T_out = max(T - 1, 1)
    # widths in graph columns (h_0 included) so that every panel has the same scale
    widths = {name: T + 1 for name in TOPOLOGIES}
    widths["one-to-one"] = 1.6
    widths["seq2seq"] = T + T_out + 1.3
    rows = (
        ("one-to-one", "many-to-many", "many-to-one"),
        ("one-to-many-zeros", "one-to-many-output"),
        ("seq2seq",),
    )
    unit = 0.62 * _DX
    fig_w = max(sum(widths[n] for n in row) for row in rows) * unit + 1.2
    row_h = 0.62 * 5.0 if show_loss else 0.62 * 4.0
    fig = plt.figure(figsize=(fig_w, row_h * len(rows) + 0.6), layout="constrained")
    sub_rows = fig.subfigures(len(rows), 1)
    for sub, row in zip(sub_rows, rows, strict=True):
        axes = sub.subplots(1, len(row), width_ratios=[widths[n] for n in row], squeeze=False)[0]
        for ax, name in zip(axes, row, strict=True):
            plot_unrolled(name, T, ax=ax, show_loss=show_loss, T_out=T_out if name == "seq2seq" else None)
    return fig


# ----------------------------------------------------------------------------------------------------
# 2. truncated BPTT windows
# ----------------------------------------------------------------------------------------------------


def plot_tbptt_segments(T: int, k1: int, k2: int | None = None, *, ax=None):
    """Draw the forward pass over a sequence and the backward windows of truncated BPTT.

    Parameters
    ----------
    T : int
        Sequence length (time steps ``1..T``; at most 64).
    k1 : int
        With ``k2=None``: the reach ``k`` of every loss, as in ``rnn_backward(dhs, cache, k)``: the gradient
        of :math:`\\mathcal{L}_t` flows back through steps ``t-k+1..t`` (``k1 >= T``: full BPTT). One row per
        loss. With ``k2`` given: the number of forward steps between two parameter updates (``k1 <= T``).
    k2 : int, optional
        TBPTT(k1, k2): at every ``t = k1, 2 k1, ...`` the gradient is back-propagated ``k2`` steps
        (``t-k2+1..t``) from the losses of the last ``k1`` steps. One row per update.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        The axes holds one patch with gid ``"window:<t>"`` per backward window, ``t`` being the step where it
        starts (the loss or the update time).

    Notes
    -----
    Chapter 7 (truncated BPTT). With reach :math:`k` the gradient kept from loss :math:`t` is

    .. math:: \\frac{\\partial \\mathcal{L}_t}{\\partial W_{hh}} \\approx \\sum_{s=t-k+1}^{t}
              \\frac{\\partial \\mathcal{L}_t}{\\partial h_t}
              \\Big(\\prod_{j=s+1}^{t} \\frac{\\partial h_j}{\\partial h_{j-1}}\\Big)
              \\frac{\\partial^+ h_s}{\\partial W_{hh}}.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
    from matplotlib.transforms import offset_copy

    T = check_positive_int("T", T)
    if T > 64:
        raise ValueError(f"T must be at most 64 for a readable drawing, got {T}; draw a shorter sequence.")
    k1 = check_positive_int("k1", k1)
    if k2 is not None:
        k2 = check_positive_int("k2", k2)
        if k1 > T:
            raise ValueError(
                f"k1 (steps between updates) must be at most T={T}, got k1={k1}; with k1 > T no update "
                "happens inside the sequence."
            )
        ends = list(range(k1, T + 1, k1))
        windows = [(t, max(1, t - k2 + 1), list(range(t - k1 + 1, t + 1))) for t in ends]
        row_label = "update at $t$"
        title = f"TBPTT($k_1$={k1}, $k_2$={k2}): update every {k1} steps,\nback-propagate {k2} steps"
    else:
        windows = [(t, max(1, t - k1 + 1), [t]) for t in range(1, T + 1)]
        row_label = "loss $\\mathcal{L}_t$"
        reach = "full BPTT" if k1 >= T else f"each loss reaches back {k1} step{'s' if k1 > 1 else ''}"
        title = f"k = {k1}: {reach}"
    n_rows = len(windows)
    fig, ax = _new_axes(ax, figsize=(min(max(0.32 * T + 1.6, 5.0), 14), min(0.28 * n_rows, 5.0) + 2.0))
    # forward pass bar on top
    y_fwd = n_rows + 0.6
    fwd = FancyArrowPatch(
        (0.55, y_fwd), (T + 0.45, y_fwd), arrowstyle="-|>", mutation_scale=14, color=_EDGE["h"], linewidth=2.0
    )
    fwd.set_gid("forward")
    ax.add_patch(fwd)
    for row, (t, start, losses) in enumerate(windows):
        y = n_rows - row - 0.5
        rect = Rectangle(
            (start - 0.45, y - 0.32),
            t - start + 0.9,
            0.64,
            facecolor=_FILL["L"],
            edgecolor=_EDGE["L"],
            linewidth=1.0,
            zorder=2,
        )
        rect.set_gid(f"window:{t}")
        ax.add_patch(rect)
        if t > start:
            ax.add_patch(
                FancyArrowPatch(
                    (t + 0.2, y),
                    (start - 0.2, y),
                    arrowstyle="-|>",
                    mutation_scale=8,
                    color=_EDGE["L"],
                    linewidth=1.0,
                    zorder=3,
                )
            )
        ax.plot(losses, [y] * len(losses), "o", color=_EDGE["y"], markersize=4, zorder=4)
    if k2 is not None:
        for t, _, _ in windows:
            ax.axvline(t + 0.5, color="#999999", linestyle=":", linewidth=0.9, zorder=1)
    handles = [
        Line2D([], [], color=_EDGE["h"], linewidth=2.0, label="forward pass"),
        Patch(facecolor=_FILL["L"], edgecolor=_EDGE["L"], label="backward reach"),
        Line2D(
            [], [], marker="o", linestyle="", color=_EDGE["y"], markersize=4, label="losses back-propagated"
        ),
    ]
    below_xlabel = offset_copy(ax.transAxes, fig=fig, y=-36, units="points")
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=below_xlabel,
        ncol=3,
        frameon=False,
        fontsize=9,
        handlelength=1.6,
        columnspacing=1.2,
    )
    ax.set_xlim(0.3, T + 0.7)
    ax.set_ylim(-0.2, y_fwd + 0.5)
    step = max(1, int(np.ceil(T / 16)))
    ax.set_xticks(range(1, T + 1, step))
    if n_rows <= 20:
        ax.set_yticks([n_rows - r - 0.5 for r in range(n_rows)], [str(w[0]) for w in windows])
    else:
        ax.set_yticks([])
    ax.set_xlabel("time step $t$")
    ax.set_ylabel(row_label)
    ax.set_title(title)
    _style_axes(ax, grid=False)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return fig


# ----------------------------------------------------------------------------------------------------
# 3. multilayer grid
# ----------------------------------------------------------------------------------------------------


def plot_layer_grid(L: int, T: int, *, ax=None, show_io: bool = True):
    """Draw the states :math:`h^l_t` of an ``L``-layer RNN over depth (rows) and time (columns).

    Parameters
    ----------
    L : int
        Number of layers (1 to 8).
    T : int
        Number of time steps (1 to 16).
    ax : matplotlib Axes, optional
    show_io : bool, default True
        Draw the inputs :math:`x_t` below the first layer and the outputs :math:`y_t` above the last.

    Returns
    -------
    matplotlib.figure.Figure
        Patches with gids ``"node:h:<l>,<t>"`` (``L * T`` of them), ``"node:h0:<l>,0"``, ``"node:x:<t>"``,
        ``"node:y:<t>"``; arrows ``"edge:W_hh:<l>,<t>"`` (horizontal) and ``"edge:W_xh:<l>,<t>"`` (vertical).

    Notes
    -----
    Chapter 8 (multilayer RNNs). Layer :math:`l` reads the state of layer :math:`l-1` at the same step
    (:math:`h^0_t = x_t`):

    .. math:: h^l_t = \\tanh(W^l_{hh} h^l_{t-1} + W^l_{xh} h^{l-1}_t + b^l_h).
    """
    L = check_positive_int("L", L)
    if L > 8:
        raise ValueError(f"L must be at most 8 for a readable drawing, got {L}; draw a few layers.")
    T = _check_T(T)
    show_io = _check_bool("show_io", show_io)
    dy = 1.25
    row_of = {l: l * dy for l in range(0, L + 2)}  # 0: inputs, 1..L: layers, L+1: outputs
    ymin = (row_of[0] if show_io else row_of[1]) - _NODE_H / 2 - 0.15
    ymax = (row_of[L + 1] if show_io else row_of[L]) + _NODE_H / 2 + (0.15 if show_io else 0.35)
    xmin, xmax = -_DX - _NODE_W / 2 - 0.75, (T - 1) * _DX + _NODE_W / 2 + 0.2
    fig, ax = _new_axes(ax, figsize=(0.62 * (xmax - xmin) + 0.3, 0.62 * (ymax - ymin) + 0.45))

    def node(x, y, label, kind, gid):
        p = _node(ax, x, y, label, kind, 0, fontsize=10 if kind in ("h", "h0") else 11)
        p.set_gid(f"node:{kind}:{gid}")
        return p

    below = {}
    if show_io:
        for t in range(1, T + 1):
            below[t] = node((t - 1) * _DX, row_of[0], f"$x_{{{t}}}$", "x", t)
    for l in range(1, L + 1):
        prev = node(-_DX, row_of[l], f"$h^{{{l}}}_0$", "h0", f"{l},0")
        for t in range(1, T + 1):
            gx = (t - 1) * _DX
            h = node(gx, row_of[l], f"$h^{{{l}}}_{{{t}}}$", "h", f"{l},{t}")
            a = _arrow(ax, prev, h, "W_hh", 0)
            a.set_gid(f"edge:W_hh:{l},{t}")
            if t == 1:
                _weight_label(
                    ax, gx - _DX / 2, row_of[l] + 0.17, f"$W^{{{l}}}_{{hh}}$", va="bottom", fontsize=9
                )
            if t in below:
                a = _arrow(ax, below[t], h, "W_xh", 0)
                a.set_gid(f"edge:W_xh:{l},{t}")
                if t == 1:
                    _weight_label(
                        ax, gx - 0.08, row_of[l] - dy / 2, f"$W^{{{l}}}_{{xh}}$", ha="right", fontsize=9
                    )
            below[t] = h
            prev = h
    if show_io:
        for t in range(1, T + 1):
            y = node((t - 1) * _DX, row_of[L + 1], f"$y_{{{t}}}$", "y", t)
            a = _arrow(ax, below[t], y, "W_hy", 0)
            a.set_gid(f"edge:W_hy:{t}")
        _weight_label(ax, -0.08, row_of[L] + dy / 2, "$W_{hy}$", ha="right", fontsize=9)
    if L > 1:
        ax.annotate(
            "",
            xy=(xmin + 0.15, row_of[L] + 0.3),
            xytext=(xmin + 0.15, row_of[1] - 0.3),
            arrowprops={"arrowstyle": "-|>", "color": "#888888", "linewidth": 1.0},
        )
        ax.text(
            xmin + 0.3,
            (row_of[1] + row_of[L]) / 2,
            "layer $l$",
            rotation=90,
            ha="left",
            va="center",
            fontsize=9,
            color="#666666",
        )
    _finish_graph_axes(ax, xmin, xmax, ymin, ymax)
    ax.set_title(f"{L} layer{'s' if L > 1 else ''} × {T} time steps", fontsize=11, color=_TEXT)
    return fig


# ----------------------------------------------------------------------------------------------------
# 4. training curves
# ----------------------------------------------------------------------------------------------------


def _history_value(history, key: str, name: str):
    if isinstance(history, Mapping):
        if key not in history:
            raise ValueError(
                f"{name} has no key {key!r}; available keys: {sorted(map(str, history))}. "
                "Pass keys=(...) naming recorded metrics."
            )
        return history[key]
    if not hasattr(history, key):
        fields = vars(history) if hasattr(history, "__dict__") else {}
        available = [k for k, v in fields.items() if not k.startswith("_") and isinstance(v, list)]
        for group in ("metrics", "evals"):  # rnncourse.training.History exposes these names as attributes
            if isinstance(fields.get(group), Mapping):
                available += list(fields[group])
        raise ValueError(
            f"{name} (a {type(history).__name__}) has no attribute {key!r}; available: {sorted(available)}. "
            "Pass keys=(...) naming recorded metrics."
        )
    return getattr(history, key)


def _history_steps(history, key: str, n: int) -> np.ndarray:
    """The x values of a metric: ``eval_steps`` for evaluation metrics, else ``0..n-1``."""
    if isinstance(history, Mapping):
        steps = history.get("eval_steps") if key.startswith("eval_") else None
    else:
        evals = getattr(history, "evals", None)
        in_evals = isinstance(evals, Mapping) and key in evals and key not in vars(history)
        steps = getattr(history, "eval_steps", None) if in_evals else None
    if steps is not None and len(steps) == n:
        return np.asarray(steps, dtype=np.float64)
    return np.arange(n, dtype=np.float64)


def _is_history_collection(histories, key: str) -> bool:
    """A mapping of name -> history (rather than one history stored as a dict of lists)."""
    if not isinstance(histories, Mapping) or len(histories) == 0:
        return False
    values = list(histories.values())
    return all(isinstance(v, Mapping) or hasattr(v, key) for v in values)


def plot_history(
    histories,
    *,
    keys: Sequence[str] = ("loss",),
    logy: bool = False,
    ax=None,
    smooth: int | None = None,
    xlabel: str = "training step",
):
    """Plot training curves from one history or a dict of named histories.

    Parameters
    ----------
    histories : History, dict of lists, or dict of str -> (History or dict of lists)
        A history exposes per-step lists (attributes, as ``rnncourse.training.History``, or dict keys) such as
        ``loss`` and ``grad_norm``, each of length ``n_steps``. A dict whose values are histories draws one
        labelled curve per entry. Evaluation metrics (``History.evals[key]``, or ``"eval_<name>"`` in a dict
        from ``History.to_dict()``) are drawn at their ``eval_steps``.
    keys : sequence of str, default ("loss",)
        Metrics to plot, one axes per key.
    logy : bool, default False
        Logarithmic y axis (non-positive values are not drawn).
    ax : matplotlib Axes or sequence of Axes, optional
        One axes per key; a new figure with ``len(keys)`` side-by-side axes when None.
    smooth : int, optional
        Window of a trailing moving average; the raw curve is drawn faintly behind the smoothed one.
    xlabel : str, default "training step"

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Chapters 4, 6, 7, 9. ``grad_norm`` is the norm before clipping,

    .. math:: \\lVert g \\rVert_2 = \\Big(\\sum_\\theta \\lVert \\partial\\mathcal{L}/\\partial\\theta
              \\rVert_F^2\\Big)^{1/2}.
    """
    import matplotlib.pyplot as plt

    if isinstance(keys, str):
        keys = (keys,)
    if not isinstance(keys, Sequence) or len(keys) == 0 or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a non-empty sequence of metric names (str), got {keys!r}.")
    logy = _check_bool("logy", logy)
    if smooth is not None:
        smooth = check_positive_int("smooth", smooth)
    if histories is None or isinstance(histories, str | bytes):
        raise TypeError(
            f"histories must be a History, a dict of lists or a dict of named histories, got "
            f"{type(histories).__name__}."
        )
    if _is_history_collection(histories, keys[0]):
        runs = dict(histories)
    else:
        runs = {None: histories}
    if ax is None:
        fig, axes = plt.subplots(
            1, len(keys), figsize=(4.6 * len(keys), 3.3), layout="constrained", squeeze=False
        )
        axes = list(axes[0])
    else:
        axes = list(ax) if isinstance(ax, Sequence | np.ndarray) else [ax]
        for a in axes:
            _check_axes(a)
        if len(axes) != len(keys):
            raise ValueError(
                f"ax must hold one axes per key: got {len(axes)} axes for {len(keys)} keys {tuple(keys)}; "
                "pass as many axes as keys or ax=None."
            )
        fig = axes[0].figure
    colors = [f"C{i}" for i in range(10)]
    for a, key in zip(axes, keys, strict=True):
        for i, (name, hist) in enumerate(runs.items()):
            label = "history" if name is None else str(name)
            y = _as_1d(f"{label}[{key!r}]", _history_value(hist, key, label))
            steps = _history_steps(hist, key, len(y))
            if logy:
                y = np.where(y > 0, y, np.nan)
            color = colors[i % len(colors)]
            if smooth is not None and smooth > 1:
                a.plot(steps, y, color=color, alpha=0.25, linewidth=0.8)
                a.plot(
                    steps,
                    _moving_average(y, smooth),
                    color=color,
                    linewidth=1.6,
                    label=None if name is None else label,
                )
            else:
                a.plot(steps, y, color=color, linewidth=1.4, label=None if name is None else label)
        if logy:
            a.set_yscale("log")
        a.set_xlabel(xlabel)
        a.set_ylabel(key.replace("_", " "))
        a.set_title(
            key.replace("_", " ") + (f" (moving average over {smooth})" if smooth and smooth > 1 else "")
        )
        if len(runs) > 1 or None not in runs:
            a.legend(frameon=False, fontsize=9)
        _style_axes(a)
    return fig


# ----------------------------------------------------------------------------------------------------
# 5. generic data plots
# ----------------------------------------------------------------------------------------------------


def plot_lines(
    x,
    ys,
    *,
    logy: bool = False,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    ax=None,
    markers: bool = False,
):
    """Plot several named curves against a shared x axis.

    Parameters
    ----------
    x : array-like, shape (n,), or None
        Shared abscissa; None uses ``0..n-1``.
    ys : dict of str -> array-like, shape (n,)
        One curve per entry, labelled with its key.
    logy : bool, default False
        Logarithmic y axis (non-positive values are not drawn).
    xlabel, ylabel, title : str
    ax : matplotlib Axes, optional
    markers : bool, default False
        Mark every point (useful for short sweeps).

    Returns
    -------
    matplotlib.figure.Figure
        The axes holds one ``Line2D`` per entry of ``ys``.

    Notes
    -----
    Used in every chapter for sweeps such as the gradient norm :math:`\\lVert \\partial \\mathcal{L} /
    \\partial h_{T-k} \\rVert` against the distance :math:`k` (chapter 9).
    """
    if not isinstance(ys, Mapping) or len(ys) == 0:
        raise TypeError(
            f"ys must be a non-empty dict of label -> values, got {type(ys).__name__}"
            f"{' (empty)' if isinstance(ys, Mapping) else ''}; e.g. ys={{'tanh': y1, 'relu': y2}}."
        )
    logy = _check_bool("logy", logy)
    markers = _check_bool("markers", markers)
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _check_str(name, value, allow_none=False)
    curves = {str(k): _as_1d(f"ys[{k!r}]", v) for k, v in ys.items()}
    n = len(next(iter(curves.values())))
    xs = np.arange(n, dtype=np.float64) if x is None else _as_1d("x", x)
    for k, v in curves.items():
        if len(v) != len(xs):
            raise ValueError(
                f"ys[{k!r}] has {len(v)} values but x has {len(xs)}; every curve needs one value per x."
            )
    fig, ax = _new_axes(ax, figsize=(5.2, 3.4))
    for k, v in curves.items():
        if logy:
            v = np.where(v > 0, v, np.nan)
        ax.plot(xs, v, marker="o" if markers else None, markersize=3.5, linewidth=1.5, label=k)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(curves) > 1 or next(iter(curves)) != "":
        ax.legend(frameon=False, fontsize=9)
    _style_axes(ax)
    return fig


def plot_heatmap(
    matrix,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    cmap: str = "viridis",
    ax=None,
    colorbar: bool = True,
    log: bool = False,
    colorbar_label: str = "",
    extent=None,
):
    """Show a matrix as a heat map (row 0 at the top).

    Parameters
    ----------
    matrix : array-like, shape (rows, cols)
        Finite values (NaN cells are left blank); e.g. gradient norms, shape (T, T), or a weight matrix
        ``W_hh`` of shape (H, H).
    xlabel, ylabel, title : str
    cmap : str, default "viridis"
        A matplotlib colormap name.
    ax : matplotlib Axes, optional
    colorbar : bool, default True
    log : bool, default False
        Logarithmic colour scale (needs positive values; non-positive cells are left blank).
    colorbar_label : str, default ""
    extent : tuple (left, right, bottom, top), optional
        Data coordinates of the image, passed to ``imshow``.

    Returns
    -------
    matplotlib.figure.Figure
        The axes holds one ``AxesImage``; with ``colorbar=True`` the figure has one more axes.

    Notes
    -----
    Chapter 9 (gradient flow) shows :math:`\\lVert \\partial h_t / \\partial h_s \\rVert` for all
    :math:`s \\le t` this way.
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    M = _as_2d("matrix", matrix)
    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(f"cmap must be a matplotlib colormap name such as 'viridis', got {cmap!r}.")
    colorbar = _check_bool("colorbar", colorbar)
    log = _check_bool("log", log)
    for name, value in (
        ("xlabel", xlabel),
        ("ylabel", ylabel),
        ("title", title),
        ("colorbar_label", colorbar_label),
    ):
        _check_str(name, value, allow_none=False)
    norm = None
    if log:
        M = np.where(M > 0, M, np.nan)
        if not np.isfinite(M).any():
            raise ValueError("log=True needs at least one positive entry in matrix; all entries are <= 0.")
        norm = LogNorm(vmin=np.nanmin(M), vmax=np.nanmax(M))
    fig, ax = _new_axes(ax, figsize=(5.0, 4.0))
    im = ax.imshow(M, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest", extent=extent)
    from matplotlib.ticker import MaxNLocator

    if extent is None:  # cells are indexed by integers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if colorbar:
        cb = fig.colorbar(im, ax=ax)
        cb.ax.tick_params(labelsize=9)
        if colorbar_label:
            cb.set_label(colorbar_label)
    _style_axes(ax, grid=False)
    return fig


def plot_small_multiples(
    panels,
    ncols: int = 3,
    logy: bool = False,
    sharey: bool = False,
    *,
    xlabel: str = "",
    ylabel: str = "",
    suptitle: str = "",
    panel_size=(3.4, 2.6),
):
    """A grid of small line plots, one per panel.

    Parameters
    ----------
    panels : list of (title, x, y) or (title, x, dict of label -> y)
        ``x`` of shape (n,) or None (``0..n-1``); ``y`` of shape (n,), or a dict of curves of shape (n,).
    ncols : int, default 3
        Number of columns (the number of rows follows).
    logy : bool, default False
    sharey : bool, default False
        Share the y axis between panels.
    xlabel, ylabel, suptitle : str
    panel_size : (float, float), default (3.4, 2.6)
        Width and height of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(panels)`` visible axes (unused grid cells are removed).

    Notes
    -----
    Used for sweeps over a hyperparameter, e.g. one panel per spectral radius :math:`\\sigma_{\\max}(W_{hh})`
    in chapter 9.
    """
    import matplotlib.pyplot as plt

    if not isinstance(panels, Sequence) or isinstance(panels, str) or len(panels) == 0:
        raise TypeError(
            f"panels must be a non-empty list of (title, x, y) tuples, got {type(panels).__name__}."
        )
    for i, p in enumerate(panels):
        if not isinstance(p, tuple | list) or len(p) != 3:
            raise ValueError(
                f"panels[{i}] must be a (title, x, y) tuple with y an array or a dict of arrays, "
                f"got {p!r:.80}."
            )
        _check_str(f"panels[{i}] title", p[0], allow_none=False)
    ncols = check_positive_int("ncols", ncols)
    logy = _check_bool("logy", logy)
    sharey = _check_bool("sharey", sharey)
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.3),
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for i, (ax, (title, x, y)) in enumerate(zip(flat, panels, strict=False)):
        ys = y if isinstance(y, Mapping) else {"": y}
        plot_lines(x, ys, logy=logy, title=title, ax=ax)
        if i // ncols == nrows - 1 or i + ncols >= len(panels):
            ax.set_xlabel(xlabel)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
    for ax in flat[len(panels) :]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_gradient_norms(
    lags,
    norms_by_label,
    *,
    logy: bool = True,
    bounds=None,
    ax=None,
    title: str = "",
    ylabel: str = r"$\|\partial L_T / \partial h_{T-l}\|$ (relative)",
):
    r"""Gradient norm against the lag ``l = T - k`` (steps back in time), one curve per label.

    Parameters
    ----------
    lags : array-like, shape (n,)
        The lags ``l``, usually ``0..T``.
    norms_by_label : dict of str -> array-like, shape (n,)
        One curve per model or setting, e.g. ``{"sigma = 0.9": norms}``.
    logy : bool, default True
        Logarithmic y axis: geometric decay or growth is a straight line.
    bounds : dict of str -> array-like, shape (n,), optional
        Upper bounds drawn as dashed grey lines, e.g. ``{"(gamma sigma)^l": bound}``.
    ax : matplotlib Axes, optional
    title, ylabel : str

    Returns
    -------
    matplotlib.figure.Figure
        The axes holds one solid ``Line2D`` per curve, then one dashed line per bound.

    Notes
    -----
    Chapter 9 (gradient flow): :math:`\|\partial L_T/\partial h_{T-l}\| \le (\gamma\,\sigma_{\max})^{l}
    \|\partial L_T/\partial h_T\|`, a straight line of slope :math:`\log(\gamma\sigma_{\max})` on a log axis.
    """
    fig = plot_lines(
        lags,
        norms_by_label,
        logy=logy,
        xlabel="lag $l = T - k$ (steps back in time)",
        ylabel=ylabel,
        title=title,
        ax=ax,
    )
    ax = fig.axes[0] if ax is None else ax
    if bounds is not None:
        if not isinstance(bounds, Mapping):
            raise TypeError(f"bounds must be a dict of label -> values or None, got {type(bounds).__name__}.")
        xs = _as_1d("lags", lags)
        for label, values in bounds.items():
            b = _as_1d(f"bounds[{label!r}]", values)
            if len(b) != len(xs):
                raise ValueError(
                    f"bounds[{label!r}] has {len(b)} values but lags has {len(xs)}; pass one value per lag."
                )
            if logy:
                b = np.where(b > 0, b, np.nan)
            ax.plot(xs, b, linestyle="--", linewidth=1.2, color="#777777", label=str(label))
        ax.legend(frameon=False, fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------------
# chapters 4 and 5: character model and captioning
# ----------------------------------------------------------------------------------------------------


def plot_memory_decay(k, sensitivity, *, half_life: float | None = None, logy: bool = True, ax=None):
    r"""How strongly the next-character prediction depends on the input ``k`` steps back (chapter 4).

    Parameters
    ----------
    k : array-like, shape (K,)
        The lags.
    sensitivity : array-like, shape (K,)
        :math:`s(k)`, e.g. ``rnncourse.charlm.memory_decay(...)["sensitivity"]``; drawn relative to
        :math:`s(0)`.
    half_life : float, optional
        Marked with a dashed vertical line and the level 1/2.
    logy : bool, default True
        Logarithmic y axis: an exponential decay is a straight line.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    :math:`s(k) = \mathbb{E}_t \lVert \partial \log p(c_{t+1} \mid c_{\le t}) / \partial x_{t-k} \rVert`.
    """
    ks = _as_1d("k", k)
    s = _as_1d("sensitivity", sensitivity)
    if len(s) != len(ks) or len(s) == 0:
        raise ValueError(f"sensitivity has {len(s)} values but k has {len(ks)}; pass one value per lag.")
    if not s[0] > 0:
        raise ValueError(f"sensitivity[0] must be > 0 (the curve is drawn relative to it), got {s[0]}.")
    fig = plot_lines(
        ks,
        {"": s / s[0]},
        logy=logy,
        xlabel="lag $k$ (characters back)",
        ylabel="$s(k) / s(0)$",
        title="influence of the input $k$ steps back",
        ax=ax,
        markers=True,
    )
    ax = fig.axes[0] if ax is None else ax
    if half_life is not None:
        if isinstance(half_life, bool) or not isinstance(half_life, int | float) or not half_life >= 0:
            raise ValueError(f"half_life must be a number >= 0 or None, got {half_life!r}.")
        ax.axhline(0.5, color="#777777", linestyle=":", linewidth=1.0)
        if np.isfinite(half_life):
            ax.axvline(half_life, color="#777777", linestyle="--", linewidth=1.2)
            ax.annotate(
                f"half-life {half_life:.1f} steps",
                (half_life, 0.5),
                xytext=(8, 8),
                textcoords="offset points",
                fontsize=9,
                color=_TEXT,
            )
    return fig


def plot_char_distribution(chars, probs, *, top: int = 20, title: str = "", text: str | None = None, ax=None):
    """Bar chart of the most likely next characters, with an optional sample printed below (chapter 4).

    Parameters
    ----------
    chars : sequence of str, length V
        The vocabulary (``Vocab.chars``).
    probs : array-like, shape (V,)
        A distribution over ``chars``.
    top : int, default 20
        Number of bars (the most likely characters).
    title : str
    text : str, optional
        A generated sample, printed under the axes (wrapped, newlines shown as ``⏎``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import textwrap

    p = _as_1d("probs", probs)
    chars = list(chars)
    if len(chars) != len(p):
        raise ValueError(
            f"probs has {len(p)} entries but chars has {len(chars)}; pass one probability per character."
        )
    top = min(check_positive_int("top", top), len(p))
    _check_str("title", title, allow_none=False)
    _check_str("text", text)
    order = np.argsort(-p, kind="stable")[:top]
    visible = {" ": "␣", "\n": "⏎"}  # whitespace shown with a visible symbol
    labels = [visible.get(chars[i], chars[i] if chars[i].isprintable() else "·") for i in order]
    fig, ax = _new_axes(ax, figsize=(6.4, 3.6 if text is None else 5.0))
    ax.bar(np.arange(top), p[order], color=_EDGE["y"], alpha=0.85)
    ax.set_xticks(np.arange(top), labels, fontfamily="monospace")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    _style_axes(ax)
    if text is not None:
        shown = text.replace("\n", "⏎")
        wrapped = "\n".join(textwrap.wrap(shown, 70, replace_whitespace=False, drop_whitespace=False)[:6])
        ax.text(
            0.0,
            -0.2,
            wrapped,
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=8.5,
            fontfamily="monospace",
            color=_TEXT,
        )
    return fig


def plot_scene_grid(images, captions, *, predicted=None, ncols: int = 6, panel_size: float = 1.9):
    """A grid of scene images titled with their captions (chapter 5).

    Parameters
    ----------
    images : array-like, shape (n, 32, 32, 3)
        RGB images in [0, 1], channels last (``Scenes.images``).
    captions : sequence of str, length n
        Shown above each image (the true captions).
    predicted : sequence of str, length n, optional
        Model captions shown under each image, green where they equal the caption and red otherwise.
    ncols : int, default 6
    panel_size : float, default 1.9
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        ``n`` visible axes.
    """
    import matplotlib.pyplot as plt

    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    imgs = np.asarray(images, dtype=np.float64)
    if imgs.ndim != 4 or imgs.shape[-1] != 3 or len(imgs) == 0:
        raise ValueError(
            f"images must have shape (n, height, width, 3) with n >= 1, got {imgs.shape}; pass Scenes.images."
        )
    n = len(imgs)
    if isinstance(captions, str) or len(captions) != n:
        raise ValueError(f"captions must be a list of {n} strings (one per image), got {captions!r:.80}.")
    if predicted is not None and (isinstance(predicted, str) or len(predicted) != n):
        raise ValueError(f"predicted must be None or a list of {n} strings, got {predicted!r:.80}.")
    ncols = min(check_positive_int("ncols", ncols), n)
    nrows = -(-n // ncols)
    height = panel_size * (1.25 if predicted is None else 1.45)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for i, ax in enumerate(flat[:n]):
        ax.imshow(np.clip(imgs[i], 0.0, 1.0), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        words = str(captions[i]).split()
        ax.set_title("\n".join([" ".join(words[:4]), " ".join(words[4:])]), fontsize=7.5, color=_TEXT)
        if predicted is not None:
            ok = str(predicted[i]) == str(captions[i])
            pw = str(predicted[i]).split()
            ax.set_xlabel(
                "\n".join([" ".join(pw[:4]), " ".join(pw[4:])]),
                fontsize=7.5,
                color="#2e8540" if ok else "#b8322a",
            )
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig
