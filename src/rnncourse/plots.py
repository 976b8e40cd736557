"""Figures reused across chapters: computational graphs, truncation windows, training curves, line plots.

Matplotlib only (safe with the ``Agg`` backend). Every function returns the :class:`~matplotlib.figure.Figure`
it drew on (a new one when ``ax`` is None, otherwise ``ax.figure``), validates its arguments and never calls
``plt.show()``. No global matplotlib settings are changed. Graph figures (chapters 2, 7, 8) use one colour
per role (inputs, hidden states, outputs, losses); their patches carry a ``gid`` such as ``"node:h:3"``
(kind ``h``, time step 3) or ``"edge:W_hh:3"`` so that tests and readers can find the elements of a drawing.
A figure that only one chapter draws lives in that chapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._validate import check_bool, check_choice, check_positive_int

__all__ = ["TOPOLOGIES", "plot_unrolled", "plot_all_topologies", "plot_tbptt_segments", "plot_layer_grid"]
__all__ += ["plot_history", "plot_lines", "plot_heatmap", "plot_small_multiples"]

#: The recurrent topologies that :func:`plot_unrolled` draws.
TOPOLOGIES = tuple("one-to-one many-to-many many-to-one one-to-many-zeros one-to-many-output seq2seq".split())

# Role colours (fill, edge): inputs, zero inputs, fed-back outputs, hidden states, outputs, losses.
_COLORS = {
    "x": ("#dbe8f6", "#2f6aa8"),
    "zero": ("#f2f2f2", "#9a9a9a"),
    "feedback": ("#dbe8f6", "#2f6aa8"),
    "h": ("#d9efdc", "#2e8540"),
    "h0": ("#eef7ef", "#2e8540"),
    "y": ("#fbe3d3", "#c4622d"),
    "L": ("#ead9f0", "#7b4a93"),
}
_ARROW = {"W_xh": "#2f6aa8", "W_hh": "#2e8540", "W_hy": "#c4622d", "loss": "#7b4a93", "feedback": "#c4622d"}
_TEXT = "#222222"
_ARROW_STYLE = {"arrowstyle": "-|>", "mutation_scale": 12, "linewidth": 1.3, "shrinkA": 1.5, "shrinkB": 1.5}
_NODE_W, _NODE_H, _DX = 0.8, 0.52, 1.45
_ROWS = {"x": 0.0, "h": 1.3, "y": 2.6, "L": 3.65}
_MAX_T = 16


def _new_axes(ax, figsize=None):
    """``(fig, ax)``: a new figure with one axes when ``ax`` is None, else ``(ax.figure, ax)``."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    if not isinstance(ax, Axes):
        raise TypeError(
            f"ax must be a matplotlib Axes (or None to create a new figure), got {type(ax).__name__}; "
            "pass e.g. `fig, ax = plt.subplots()` and then `ax=ax`."
        )
    return ax.figure, ax


def _style_axes(ax, *, grid: bool = True):
    """The light house style for data plots: no top/right spines, a faint grid, grey ticks."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")
    ax.tick_params(colors="#444444", labelsize=9)
    ax.title.set_fontsize(11)
    if grid:
        ax.grid(True, color="#dddddd", linewidth=0.7)
        ax.set_axisbelow(True)


def _check_str(name: str, value, *, allow_none: bool = False):
    if not (isinstance(value, str) or (value is None and allow_none)):
        expected = "a string or None" if allow_none else "a string"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}.")
    return value


def _as_array(name: str, values, ndim: int) -> np.ndarray:
    """A list, numpy array or torch tensor of numbers as a float64 array with ``ndim`` dimensions."""
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    what = "a 1-D sequence of numbers" if ndim == 1 else "a 2-D array of numbers"
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be {what} (list, numpy array or torch tensor), got {type(values).__name__} that "
            f"cannot be converted to floats ({err})."
        ) from None
    if arr.ndim != ndim:
        want = "1-D (one value per point)" if ndim == 1 else "2-D (rows, columns)"
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}.")
    if arr.size == 0 and ndim == 2:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one row and one column.")
    return arr


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average that ignores NaNs; the first ``window - 1`` points average what exists."""
    valid = np.isfinite(y)
    csum = np.cumsum(np.concatenate([[0.0], np.where(valid, y, 0.0)]))
    ccount = np.cumsum(np.concatenate([[0], valid.astype(np.int64)]))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - window, 0)
    count = ccount[idx] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[idx] - csum[lo]) / np.maximum(count, 1), np.nan)


def _node(ax, x, y, label, kind, gid, *, fontsize=11):
    from matplotlib.patches import FancyBboxPatch

    fill, edge = _COLORS[kind]
    style = {"boxstyle": "round,pad=0,rounding_size=0.14", "linestyle": "--" if kind == "zero" else "-"}
    width, fontsize = (1.1, 8) if "_{embed}" in label else (_NODE_W, fontsize)  # an embedding: a long label
    corner = (x - width / 2, y - _NODE_H / 2)
    patch = FancyBboxPatch(
        corner, width, _NODE_H, facecolor=fill, edgecolor=edge, linewidth=1.4, zorder=3, **style
    )
    patch.set_gid(f"node:{kind}:{gid}")
    ax.add_patch(patch)
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, color=_TEXT, zorder=4)
    return patch


def _center(patch):
    return (patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2)


def _arrow(ax, pA, pB, kind, gid, *, ends=None, rad=0.0, dashed=False):
    """An arrow from patch ``pA`` to ``pB`` (or between the two points ``ends``), gid ``edge:kind:gid``."""
    from matplotlib.patches import FancyArrowPatch

    where = {"posA": _center(pA), "posB": _center(pB), "patchA": pA, "patchB": pB} if ends is None else {}
    style = {"linestyle": "--" if dashed else "-", "connectionstyle": f"arc3,rad={rad}", **_ARROW_STYLE}
    arrow = FancyArrowPatch(*(ends or ()), **where, color=_ARROW.get(kind, "#555"), zorder=2, **style)
    arrow.set_gid(f"edge:{kind}:{gid}")
    ax.add_patch(arrow)
    return arrow


def _weight_label(ax, x, y, text, *, ha="center", va="center", fontsize=10):
    bbox = {"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.9}
    ax.text(x, y, text, ha=ha, va=va, fontsize=fontsize, color="#333333", zorder=5, bbox=bbox)


def _finish_graph_axes(ax, xmin, xmax, ymin, ymax):
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.axis("off")


def _check_T(T, name="T", most=_MAX_T):
    T = check_positive_int(name, T)
    if T > most:
        raise ValueError(
            f"{name} must be at most {most} for a readable drawing, got {T}; the graph repeats the same "
            "step, so draw a few steps (e.g. T=4)."
        )
    return T


def _draw_chain(ax, *, x0, T, inputs, outputs, show_loss, h_symbol, h_prev, t_offset, weights, first=None):
    """Draw one recurrent chain of ``T`` steps from column ``x0``; return the hidden patches.

    ``inputs``: "all", "first-zeros" (x at step 1, then 0), "first-feedback" (x at step 1, then the embedding
    of the token chosen from y_{t-1}) or "none"; ``first`` labels x_1. ``outputs``: "all", "last" or "none".
    ``weights``: labels of W_xh, W_hh, W_hy. ``t_offset`` shifts the gid time index (seq2seq's decoder).
    """
    (W_xh, W_hh, W_hy), embed = weights, "W" + h_symbol[1:] + "_{embed}"  # h^{dec}: W^{dec}_{embed}
    hs, ys, labelled = [], {}, False
    for i in range(1, T + 1):
        gx, t = x0 + (i - 1) * _DX, t_offset + i
        h = _node(ax, gx, _ROWS["h"], f"${h_symbol}_{{{i}}}$", "h", t)
        hs.append(h)
        xin = None
        if inputs == "all" or (i == 1 and inputs != "none"):
            xin = _node(ax, gx, _ROWS["x"], first if (i == 1 and first) else f"$x_{{{i}}}$", "x", t)
        elif inputs == "first-zeros":
            xin = _node(ax, gx, _ROWS["x"], "$0$", "zero", t)
        elif inputs == "first-feedback":
            xin = _node(ax, gx, _ROWS["x"], rf"${embed}[\tilde w_{{{i - 1}}}]$", "feedback", t)
            (xa, ya), (xb, yb) = _center(ys[i - 1]), _center(xin)  # y_{i-1}'s bottom-right to x_i's top-left
            ends = (xa + 0.2, ya - _NODE_H / 2), (xb - 0.2, yb + _NODE_H / 2)
            _arrow(ax, None, None, "feedback", t, ends=ends, rad=0.08, dashed=True)
        if xin is not None:
            _arrow(ax, xin, h, "W_xh", t)
            if i == 1:
                _weight_label(ax, gx - 0.1, (_ROWS["x"] + _ROWS["h"]) / 2, W_xh, ha="right")
        if h_prev is not None:
            _arrow(ax, h_prev, h, "W_hh", t)
            if i == 1:
                _weight_label(ax, (_center(h_prev)[0] + gx) / 2, _ROWS["h"] + 0.2, W_hh, va="bottom")
        h_prev = h
        if outputs == "all" or (outputs == "last" and i == T):
            ys[i] = _node(ax, gx, _ROWS["y"], f"$y_{{{i}}}$", "y", t)
            _arrow(ax, h, ys[i], "W_hy", t)
            if not labelled:
                _weight_label(ax, gx - 0.1, (_ROWS["h"] + _ROWS["y"]) / 2, W_hy, ha="right")
                labelled = True
            if show_loss:
                _arrow(ax, ys[i], _node(ax, gx, _ROWS["L"], rf"$\mathcal{{L}}_{{{i}}}$", "L", t), "loss", t)
    return hs


def plot_unrolled(topology: str, T: int = 4, *, ax=None, show_loss: bool = True, title=None, T_out=None):
    r"""Draw the computational graph of an RNN topology unrolled over ``T`` time steps.

    Inputs :math:`x_t` at the bottom, states :math:`h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)` in the
    middle, outputs :math:`y_t = W_{hy} h_t + b_y` above, losses :math:`\mathcal{L}_t` on top; each weight is
    labelled once, since the same matrices act at every step (chapter 2).

    Parameters
    ----------
    topology : str
        One of :data:`TOPOLOGIES`: ``"one-to-one"`` (a feed-forward step; ``T`` is ignored),
        ``"many-to-many"``, ``"many-to-one"`` (one output from the last state), ``"one-to-many-zeros"``
        (``x_1`` then zeros), ``"one-to-many-output"`` (step ``t`` reads :math:`W_{embed}[\tilde w_{t-1}]`,
        the token chosen from :math:`y_{t-1}`), ``"seq2seq"`` (a many-to-one encoder whose last state starts
        a one-to-many decoder, :math:`h^{dec}_0 = h^{enc}_T`, of ``T_out`` steps, reading :math:`w_0` first).
    T, T_out : int
        Time steps drawn (1 to 16; default 4); ``T_out``: decoder steps of ``"seq2seq"`` (default ``T``).
    ax : matplotlib Axes, optional
    show_loss : bool, default True
        Draw the loss nodes :math:`\mathcal{L}_t`.
    title : str, optional
        None uses the topology name, ``""`` draws no title.

    Returns
    -------
    matplotlib.figure.Figure
        Patches with gids ``"node:<kind>:<t>"`` (kind ``x``, ``zero``, ``feedback``, ``h0``, ``h``, ``y``,
        ``L``; seq2seq's decoder continues the count ``t = T + 1, ...``), arrows ``"edge:<weight>:<t>"``.
    """
    topology = check_choice("topology", topology, TOPOLOGIES)
    T, T_out = _check_T(T), _check_T(T if T_out is None else T_out, "T_out")
    show_loss = check_bool("show_loss", show_loss)
    _check_str("title", title, allow_none=True)
    T = 1 if topology == "one-to-one" else T
    s2s, hsym = topology == "seq2seq", "h^{enc}" if topology == "seq2seq" else "h"
    n_cols, gap = T + (T_out if s2s else 0), 0.8 if s2s else 0.0
    xmin = (0.0 if topology == "one-to-one" else -_DX) - _NODE_W / 2 - 0.75
    xmax = (n_cols - 1) * _DX + gap + _NODE_W / 2 + 0.25
    ymax = (_ROWS["L"] if show_loss else _ROWS["y"]) + _NODE_H / 2 + 0.15
    ymin = _ROWS["x"] - _NODE_H / 2 - (0.55 if s2s else 0.15)
    fig, ax = _new_axes(ax, figsize=(0.62 * (xmax - xmin) + 0.2, 0.62 * (ymax - ymin) + 0.45))
    h0 = None if topology == "one-to-one" else _node(ax, -_DX, _ROWS["h"], f"${hsym}_0$", "h0", 0)
    chain = dict(show_loss=show_loss, h_symbol=hsym, t_offset=0, x0=0.0, T=T, h_prev=h0)
    if not s2s:  # one chain: what it reads at steps t >= 2 and where it has outputs
        feeds = {"one-to-many-zeros": "first-zeros", "one-to-many-output": "first-feedback"}
        inputs = feeds.get(topology, "all")
        outputs = "last" if topology == "many-to-one" else "all"
        _draw_chain(ax, inputs=inputs, outputs=outputs, weights=("$W_{xh}$", "$W_{hh}$", "$W_{hy}$"), **chain)
    else:
        weights = ("$W^{enc}_{xh}$", "$W^{enc}_{hh}$", "")
        enc = _draw_chain(ax, inputs="all", outputs="none", weights=weights, **(chain | {"show_loss": False}))
        x_dec, mid = T * _DX + gap, T * _DX + gap - (_DX + gap) / 2
        chain.update(x0=x_dec, T=T_out, h_symbol="h^{dec}", h_prev=enc[-1], t_offset=T)
        chain.update(weights=("$W^{dec}_{xh}$", "$W^{dec}_{hh}$", "$W_{hy}$"))
        bos = r"$W^{dec}_{embed}[w_0]$"  # step 1 of the decoder reads the start token w_0 = <start>
        _draw_chain(ax, inputs="first-feedback", outputs="all", first=bos, **chain)
        _weight_label(ax, mid, _ROWS["h"] - 0.2, f"$h^{{dec}}_0{{=}}h^{{enc}}_{{{T}}}$", va="top", fontsize=9)
        for x, text in (((T - 1) * _DX / 2, "encoder"), (x_dec + (T_out - 1) * _DX / 2, "decoder")):
            y_txt = _ROWS["x"] - _NODE_H / 2 - 0.12
            ax.text(x, y_txt, text, ha="center", va="top", fontsize=10, color="#555555", style="italic")
        ax.plot([mid] * 2, [ymin + 0.05, _ROWS["x"] + _NODE_H / 2], color="#bbb", linestyle=":")
    _finish_graph_axes(ax, xmin, xmax, ymin, ymax)
    if (title := topology if title is None else title) != "":
        ax.set_title(title, fontsize=12, color=_TEXT)
    return fig


def plot_all_topologies(T: int = 4, *, show_loss: bool = True):
    """Small multiples of every topology in :data:`TOPOLOGIES`, drawn by :func:`plot_unrolled` (chapter 2).

    ``T`` time steps per graph (seq2seq: ``T`` encoder and ``T`` decoder steps). Returns a figure
    with six axes in the order of :data:`TOPOLOGIES`, all at the same scale.
    """
    import matplotlib.pyplot as plt

    T, show_loss = _check_T(T), check_bool("show_loss", show_loss)
    widths = {name: T + 1 for name in TOPOLOGIES} | {"one-to-one": 1.6, "seq2seq": 2 * T + 1.6}
    rows = (TOPOLOGIES[:3], TOPOLOGIES[3:5], TOPOLOGIES[5:])
    fig_w = max(sum(widths[n] for n in row) for row in rows) * 0.62 * _DX + 1.2
    row_h = 0.62 * (5.0 if show_loss else 4.0)
    fig = plt.figure(figsize=(fig_w, row_h * len(rows) + 0.6), layout="constrained")
    for sub, row in zip(fig.subfigures(len(rows), 1), rows, strict=True):
        axes = sub.subplots(1, len(row), width_ratios=[widths[n] for n in row], squeeze=False)[0]
        for ax, name in zip(axes, row, strict=True):
            plot_unrolled(name, T, ax=ax, show_loss=show_loss)
    return fig


def plot_tbptt_segments(T: int, k1: int, k2: int | None = None, *, ax=None):
    r"""Draw the forward pass over a sequence and the backward windows of truncated BPTT (chapter 7).

    Parameters
    ----------
    T : int
        Sequence length (steps ``1..T``; at most 64).
    k1 : int
        With ``k2=None``: the reach ``k`` of every loss, as in ``rnn_backward(dhs, cache, k)``: the gradient
        of :math:`\mathcal{L}_t` flows back through steps ``t-k+1..t`` (``k1 >= T``: full BPTT); one row per
        loss. With ``k2``: the forward steps between two updates (``k1 <= T``).
    k2 : int, optional
        TBPTT(k1, k2): at ``t = k1, 2 k1, ...`` the losses of the last ``k1`` steps are back-propagated ``k2``
        steps (``t-k2+1..t``); one row per update.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One patch with gid ``"window:<t>"`` per backward window (``t``: its loss or update step).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
    from matplotlib.transforms import offset_copy

    T, k1 = _check_T(T, most=64), check_positive_int("k1", k1)
    if k2 is not None:
        k2 = check_positive_int("k2", k2)
        if k1 > T:
            raise ValueError(
                f"k1 (steps between updates) must be at most T={T}, got k1={k1}; with k1 > T no update "
                "happens inside the sequence."
            )
        windows = [(t, max(1, t - k2 + 1), list(range(t - k1 + 1, t + 1))) for t in range(k1, T + 1, k1)]
        row_label = "update at $t$"
        title = f"TBPTT($k_1$={k1}, $k_2$={k2}): update every {k1} steps,\nback-propagate {k2} steps"
    else:
        windows = [(t, max(1, t - k1 + 1), [t]) for t in range(1, T + 1)]
        row_label = r"loss $\mathcal{L}_t$"
        reach = "full BPTT" if k1 >= T else f"each loss reaches back {k1} step{'s' * (k1 > 1)}"
        title = f"k = {k1}: {reach}"
    n_rows = len(windows)
    fig, ax = _new_axes(ax, figsize=(min(max(0.32 * T + 1.6, 5.0), 14), min(0.28 * n_rows, 5.0) + 2.0))
    (fill, edge), green, orange = _COLORS["L"], _COLORS["h"][1], _COLORS["y"][1]
    y_fwd = n_rows + 0.6
    fwd = FancyArrowPatch((0.55, y_fwd), (T + 0.45, y_fwd), arrowstyle="-|>", mutation_scale=14, color=green)
    fwd.set(gid="forward", linewidth=2.0)
    ax.add_patch(fwd)
    for row, (t, start, losses) in enumerate(windows):
        y = n_rows - row - 0.5
        rect = Rectangle((start - 0.45, y - 0.32), t - start + 0.9, 0.64, facecolor=fill, edgecolor=edge)
        rect.set(gid=f"window:{t}", linewidth=1.0, zorder=2)
        ax.add_patch(rect)
        if t > start:
            back = {"arrowstyle": "-|>", "mutation_scale": 8, "color": edge, "linewidth": 1.0, "zorder": 3}
            ax.add_patch(FancyArrowPatch((t + 0.2, y), (start - 0.2, y), **back))
        ax.plot(losses, [y] * len(losses), "o", color=orange, markersize=4, zorder=4)
        if k2 is not None:
            ax.axvline(t + 0.5, color="#999999", linestyle=":", linewidth=0.9, zorder=1)
    handles = [
        Line2D([], [], color=green, linewidth=2.0, label="forward pass"),
        Patch(facecolor=fill, edgecolor=edge, label="backward reach"),
        Line2D([], [], marker="o", linestyle="", color=orange, markersize=4, label="losses back-propagated"),
    ]
    below_xlabel = offset_copy(ax.transAxes, fig=fig, y=-36, units="points")
    legend = {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0), "bbox_transform": below_xlabel, "ncol": 3}
    ax.legend(handles=handles, frameon=False, fontsize=9, handlelength=1.6, columnspacing=1.2, **legend)
    ax.set_xlim(0.3, T + 0.7)
    ax.set_ylim(-0.2, y_fwd + 0.5)
    ax.set_xticks(range(1, T + 1, max(1, int(np.ceil(T / 16)))))
    if n_rows <= 20:
        ax.set_yticks([n_rows - r - 0.5 for r in range(n_rows)], [str(w[0]) for w in windows])
    else:
        ax.set_yticks([])
    ax.set(xlabel="time step $t$", ylabel=row_label, title=title)
    _style_axes(ax, grid=False)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return fig


def plot_layer_grid(L: int, T: int, *, ax=None, show_io: bool = True):
    r"""Draw the states :math:`h^l_t` of an ``L``-layer RNN over depth (rows) and time (columns) (chapter 8).

    ``L`` layers (1 to 8), ``T`` time steps (1 to 16); ``show_io`` draws the inputs :math:`x_t` below the
    first layer and the outputs :math:`y_t` above the last. Layer :math:`l` reads the state of layer
    :math:`l-1` at the same step (:math:`h^0_t = x_t`):
    :math:`h^l_t = \tanh(W^l_{hh} h^l_{t-1} + W^l_{xh} h^{l-1}_t + b^l_h)`.
    Returns the figure; patches have gids ``"node:h:<l>,<t>"``, ``"node:h0:<l>,0"``, ``"node:x:<t>"``,
    ``"node:y:<t>"``, arrows ``"edge:W_hh:<l>,<t>"`` (in time) and ``"edge:W_xh:<l>,<t>"`` (in depth).
    """
    L, T = _check_T(L, "L", most=8), _check_T(T)
    show_io = check_bool("show_io", show_io)
    dy = 1.25
    row_of = {l: l * dy for l in range(0, L + 2)}  # 0: inputs, 1..L: layers, L+1: outputs
    ymin = (row_of[0] if show_io else row_of[1]) - _NODE_H / 2 - 0.15
    ymax = (row_of[L + 1] if show_io else row_of[L]) + _NODE_H / 2 + (0.15 if show_io else 0.35)
    xmin, xmax = -_DX - _NODE_W / 2 - 0.75, (T - 1) * _DX + _NODE_W / 2 + 0.2
    fig, ax = _new_axes(ax, figsize=(0.62 * (xmax - xmin) + 0.3, 0.62 * (ymax - ymin) + 0.45))
    below = {}
    if show_io:
        for t in range(1, T + 1):
            below[t] = _node(ax, (t - 1) * _DX, row_of[0], f"$x_{{{t}}}$", "x", t)
    for l in range(1, L + 1):
        prev = _node(ax, -_DX, row_of[l], f"$h^{{{l}}}_0$", "h0", f"{l},0", fontsize=10)
        for t in range(1, T + 1):
            gx = (t - 1) * _DX
            h = _node(ax, gx, row_of[l], f"$h^{{{l}}}_{{{t}}}$", "h", f"{l},{t}", fontsize=10)
            _arrow(ax, prev, h, "W_hh", f"{l},{t}")
            if t == 1:
                _weight_label(
                    ax, gx - _DX / 2, row_of[l] + 0.17, f"$W^{{{l}}}_{{hh}}$", va="bottom", fontsize=9
                )
            if t in below:
                _arrow(ax, below[t], h, "W_xh", f"{l},{t}")
                if t == 1:
                    _weight_label(
                        ax, gx - 0.08, row_of[l] - dy / 2, f"$W^{{{l}}}_{{xh}}$", ha="right", fontsize=9
                    )
            below[t] = prev = h
    if show_io:
        for t in range(1, T + 1):
            _arrow(ax, below[t], _node(ax, (t - 1) * _DX, row_of[L + 1], f"$y_{{{t}}}$", "y", t), "W_hy", t)
        _weight_label(ax, -0.08, row_of[L] + dy / 2, "$W_{hy}$", ha="right", fontsize=9)
    if L > 1:
        arrowprops = {"arrowstyle": "-|>", "color": "#888888", "linewidth": 1.0}
        ax.annotate("", (xmin + 0.15, row_of[L] + 0.3), (xmin + 0.15, row_of[1] - 0.3), arrowprops=arrowprops)
        ax.text(xmin + 0.3, (row_of[1] + row_of[L]) / 2, "layer $l$", rotation=90, va="center", fontsize=9)
    _finish_graph_axes(ax, xmin, xmax, ymin, ymax)
    ax.set_title(f"{L} layer{'s' * (L > 1)} × {T} time steps", fontsize=11, color=_TEXT)
    return fig


def _history_curve(history, key: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of ``key`` in a History: a per-step field or metric (steps 1..n) or an eval."""
    per_step = {"loss": history.loss, "grad_norm": history.grad_norm, **history.metrics}
    if key in per_step:
        y = _as_array(f"{name}[{key!r}]", per_step[key], 1)
        return np.arange(1, len(y) + 1, dtype=np.float64), y
    if key in history.evals:
        return np.asarray(history.eval_steps, float), _as_array(f"{name}[{key!r}]", history.evals[key], 1)
    available = sorted([*per_step, *history.evals])
    raise ValueError(f"{name} has no metric {key!r}; available: {available}. Pass keys=(...) naming them.")


def plot_history(histories, *, keys=("loss",), logy=False, ax=None, smooth=None, xlabel="training step"):
    r"""Training curves of one :class:`~rnncourse.training.History` or of a dict of named Histories.

    Parameters
    ----------
    histories : History or dict of str -> History
        What :func:`rnncourse.training.fit` returns; a dict draws one labelled curve per entry.
    keys : sequence of str, default ("loss",)
        One axes per key: ``"loss"``, ``"grad_norm"`` (the norm before clipping) or a key of
        ``History.metrics`` (drawn at steps ``1..n``) or of ``History.evals`` (at ``History.eval_steps``).
    logy : bool, default False
        Logarithmic y axis (non-positive values are not drawn).
    ax : matplotlib Axes or sequence of Axes, optional
        One axes per key; a new figure with ``len(keys)`` axes side by side when None.
    smooth : int, optional
        Window of a trailing moving average; the raw curve is drawn faintly behind it.

    Returns the figure (chapters 2, 4-7, 9).
    """
    import matplotlib.pyplot as plt

    from .training import History

    keys = (keys,) if isinstance(keys, str) else keys
    if not isinstance(keys, Sequence) or len(keys) == 0 or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a non-empty sequence of metric names (str), got {keys!r}.")
    logy = check_bool("logy", logy)
    smooth = None if smooth is None else check_positive_int("smooth", smooth)
    runs = {None: histories} if isinstance(histories, History) else histories
    if not isinstance(runs, Mapping) or not runs or not all(isinstance(h, History) for h in runs.values()):
        raise TypeError(
            "histories must be a History or a non-empty dict of name -> History (what training.fit returns), "
            f"got {type(histories).__name__}."
        )
    if ax is None:
        fig, axes = plt.subplots(
            1, len(keys), figsize=(4.6 * len(keys), 3.3), layout="constrained", squeeze=False
        )
        axes = list(axes[0])
    else:
        axes = [_new_axes(a)[1] for a in (list(ax) if isinstance(ax, Sequence | np.ndarray) else [ax])]
        if len(axes) != len(keys):
            raise ValueError(
                f"ax must hold one axes per key: got {len(axes)} axes for {len(keys)} keys {keys}."
            )
        fig = axes[0].figure
    for a, key in zip(axes, keys, strict=True):
        for i, (name, hist) in enumerate(runs.items()):
            steps, y = _history_curve(hist, key, "history" if name is None else str(name))
            y = np.where(y > 0, y, np.nan) if logy else y
            if smooth is not None and smooth > 1:
                a.plot(steps, y, color=f"C{i % 10}", alpha=0.25, linewidth=0.8)
                y = _moving_average(y, smooth)
            a.plot(steps, y, color=f"C{i % 10}", linewidth=1.5, label=name)
        a.set_yscale("log" if logy else "linear")
        smoothed = f" (moving average over {smooth})" if smooth and smooth > 1 else ""
        label = r"loss $\mathcal{L}$" if key == "loss" else key.replace("_", " ")  # the text's symbol
        a.set(xlabel=xlabel, ylabel=label, title=label + smoothed)
        if None not in runs:
            a.legend(frameon=False, fontsize=9)
        _style_axes(a)
    return fig


def plot_lines(x, ys, *, logy=False, xlabel="", ylabel="", title="", ax=None, markers=False):
    r"""Several named curves against a shared x axis, e.g. a gradient norm against the lag (every chapter).

    Parameters
    ----------
    x : array-like, shape (n,), or None
        Shared abscissa; None uses ``0..n-1``.
    ys : dict of str -> array-like, shape (n,)
        One curve per entry, labelled with its key (a single curve labelled ``""`` gets no legend).
    logy, markers : bool, default False
        Logarithmic y axis (non-positive values are not drawn); a marker on every point.

    Returns the figure; its axes (``ax`` when given) holds one ``Line2D`` per entry of ``ys``.
    """
    if not isinstance(ys, Mapping) or len(ys) == 0:
        raise TypeError(
            f"ys must be a non-empty dict of label -> values, got {type(ys).__name__}"
            f"{' (empty)' if isinstance(ys, Mapping) else ''}; e.g. ys={{'tanh': y1, 'relu': y2}}."
        )
    logy, markers = check_bool("logy", logy), check_bool("markers", markers)
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _check_str(name, value)
    curves = {str(k): _as_array(f"ys[{k!r}]", v, 1) for k, v in ys.items()}
    n = len(next(iter(curves.values())))
    xs = np.arange(n, dtype=np.float64) if x is None else _as_array("x", x, 1)
    fig, ax = _new_axes(ax, figsize=(5.2, 3.4))
    for k, v in curves.items():
        if len(v) != len(xs):
            raise ValueError(f"ys[{k!r}] has {len(v)} values but x has {len(xs)}; give one value per x.")
        v = np.where(v > 0, v, np.nan) if logy else v
        ax.plot(xs, v, marker="o" if markers else None, markersize=3.5, linewidth=1.5, label=k)
    ax.set_yscale("log" if logy else "linear")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if len(curves) > 1 or next(iter(curves)) != "":
        ax.legend(frameon=False, fontsize=9)
    _style_axes(ax)
    return fig


def plot_heatmap(
    matrix, *, xlabel="", ylabel="", title="", cmap="viridis", ax=None, colorbar=True, log=False, extent=None
):
    r"""A matrix as a heat map, row 0 at the top, e.g. the hidden states over time (chapter 1).

    Parameters
    ----------
    matrix : array-like, shape (rows, cols)
        NaN cells are left blank; e.g. the states ``hs.T`` (H, T) or a weight matrix ``W_hh`` (H, H).
    cmap : str, default "viridis"
        A matplotlib colormap name.
    colorbar : bool or str, default True
        Draw a colour bar; a string also labels it.
    log : bool, default False
        Logarithmic colour scale (non-positive cells are left blank).
    extent : tuple (left, right, bottom, top), optional
        Data coordinates of the image (``imshow``); integer cell indices when None.

    Returns the figure: one ``AxesImage``, and one more axes for the colour bar.
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator

    M = _as_array("matrix", matrix, 2)
    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(f"cmap must be a matplotlib colormap name such as 'viridis', got {cmap!r}.")
    label, colorbar = (
        (colorbar, True) if isinstance(colorbar, str) else ("", check_bool("colorbar", colorbar))
    )
    log = check_bool("log", log)
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _check_str(name, value)
    norm = None
    if log:
        M = np.where(M > 0, M, np.nan)
        if not np.isfinite(M).any():
            raise ValueError("log=True needs at least one positive entry in matrix; all entries are <= 0.")
        norm = LogNorm(vmin=np.nanmin(M), vmax=np.nanmax(M))
    fig, ax = _new_axes(ax, figsize=(5.0, 4.0))
    im = ax.imshow(M, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest", extent=extent)
    if extent is None:  # cells are indexed by integers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if colorbar:
        cb = fig.colorbar(im, ax=ax)
        cb.ax.tick_params(labelsize=9)
        cb.set_label(label)
    _style_axes(ax, grid=False)
    return fig


def plot_small_multiples(
    panels, ncols=3, logy=False, sharey=False, *, xlabel="", ylabel="", suptitle="", panel_size=(3.4, 2.6)
):
    r"""A grid of small line plots, e.g. one per :math:`\sigma_{\max}(W_{hh})` (chapters 3, 7, 8, 9).

    Parameters
    ----------
    panels : list of (title, x, y) or (title, x, dict of label -> y)
        ``x`` of shape (n,) or None (``0..n-1``); ``y`` of shape (n,) or a dict of such curves.
    ncols : int, default 3
    logy, sharey : bool, default False
        Logarithmic y axes; one y axis shared by all panels.
    panel_size : (float, float), default (3.4, 2.6)
        Width and height of one panel in inches.

    Returns the figure with ``len(panels)`` axes (unused grid cells are removed).
    """
    import matplotlib.pyplot as plt

    if not isinstance(panels, Sequence) or isinstance(panels, str) or len(panels) == 0:
        raise TypeError(
            f"panels must be a non-empty list of (title, x, y) tuples, got {type(panels).__name__}."
        )
    for i, p in enumerate(panels):
        if not isinstance(p, tuple | list) or len(p) != 3:
            raise ValueError(
                f"panels[{i}] must be a (title, x, y) tuple, y an array or a dict of arrays: {p!r:.80}"
            )
        _check_str(f"panels[{i}] title", p[0])
    ncols = min(check_positive_int("ncols", ncols), len(panels))
    logy, sharey = check_bool("logy", logy), check_bool("sharey", sharey)
    nrows = -(-len(panels) // ncols)
    figsize = (panel_size[0] * ncols, panel_size[1] * nrows + 0.3)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=figsize, sharey=sharey, squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for i, (ax, (title, x, y)) in enumerate(zip(flat, panels, strict=False)):
        plot_lines(x, y if isinstance(y, Mapping) else {"": y}, logy=logy, title=title, ax=ax)
        if i + ncols >= len(panels):  # no panel below it
            ax.set_xlabel(xlabel)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
    for ax in flat[len(panels) :]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
