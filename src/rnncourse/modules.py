"""Recurrent networks in torch (vanilla, LSTM, GRU), written as an explicit loop over time.

``RNNCell``, ``LSTMCell`` and ``GRUCell`` compute one step; ``RNN`` runs a stack of cells of one kind
(``cell="rnn" | "lstm" | "gru"``) over a whole sequence. The weights use the book's names, in the layout of
``torch.nn.RNN/LSTM/GRU`` (``weight_ih_l{l-1}``, ``weight_hh_l{l-1}``: ``W_xh``, ``W_hh`` of layer l; gated
cells stack the blocks of their gates, LSTM ``i, f, g, o``, GRU ``r, z, n``), and convert to and from them.

Chapters: 1 (the recurrent state), 8 (multilayer RNNs), 9 (gradient flow: ``skip`` and ``init``), 11 (gates).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ._validate import (
    NONLINEARITIES,
    check_bool,
    check_choice,
    check_dim,
    check_positive_int,
    check_seed,
    check_tensor,
)

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "LSTMState", "RNN", "CELLS"]

INITS = ("uniform", "identity", "orthogonal")
#: The recurrent cells of :class:`RNN`.
CELLS = ("rnn", "lstm", "gru")
#: Standard deviation of the input weights ``W_xh`` under ``init="identity"`` (Le, Jaitly & Hinton 2015).
IDENTITY_INPUT_STD = 1e-3


def _identity(a: torch.Tensor) -> torch.Tensor:
    return a


_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "linear": _identity}


def _check_dtype(dtype) -> torch.dtype:
    """Resolve ``dtype`` (None means torch's default) and check that it is a floating-point torch dtype."""
    if dtype is None:
        return torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating-point torch dtype such as torch.float32 or torch.float64, got "
            f"{dtype!r}; pass dtype=torch.float64 (or leave it as None for torch's default)."
        )
    return dtype


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "create one with torch.Generator().manual_seed(seed)."
        )
    return generator


class LSTMState(NamedTuple):
    """The state of an LSTM: the hidden state ``h`` and the cell state ``c``, each (B, H) in a cell and
    (L, B, H) in :class:`RNN`; a tuple ``(h, c)`` as in ``torch.nn.LSTM``."""

    h: torch.Tensor
    c: torch.Tensor

    def detach(self) -> LSTMState:
        """Both tensors detached: the state carried without its graph (truncated BPTT)."""
        return LSTMState(self.h.detach(), self.c.detach())


class RNNCell(nn.Module):
    r"""One step of a vanilla (Elman) recurrent network.

    ``input_size`` ``D`` and ``hidden_size`` ``H``; ``nonlinearity`` the elementwise ``f`` ("tanh", "relu",
    "linear"); ``bias`` False drops ``b_h`` (the attribute is None); ``dtype`` of the parameters (torch's
    default when None); ``skip``: :math:`h_t = h_{t-1} + f(a_t)` instead of :math:`f(a_t)`; ``generator`` the
    randomness of the initial weights (torch's global one when None). Parameters ``W_xh`` (H, D), ``W_hh``
    (H, H), ``b_h`` (H,).

    Notes
    -----
    With the pre-activation :math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h`,

    .. math:: h_t = f(a_t) \quad\text{or, with skip,}\quad h_t = h_{t-1} + f(a_t).

    Rows are batch elements, so the code computes ``x @ W_xh.T + h_prev @ W_hh.T + b_h``. The weights start
    as in ``torch.nn.RNNCell``: every entry from U(-1/sqrt(H), 1/sqrt(H)). Chapter 1 (the recurrent state).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        bias: bool = True,
        dtype: torch.dtype | None = None,
        *,
        skip: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        bias, self.skip = check_bool("bias", bias), check_bool("skip", skip)
        _check_generator(generator)
        dtype = _check_dtype(dtype)
        H, D = self.hidden_size, self.input_size
        self.W_xh = nn.Parameter(torch.empty(H, D, dtype=dtype))
        self.W_hh = nn.Parameter(torch.empty(H, H, dtype=dtype))
        if bias:
            self.b_h = nn.Parameter(torch.empty(H, dtype=dtype))
        else:
            self.register_parameter("b_h", None)
        self._f = _ACTIVATIONS[self.nonlinearity]
        self.reset_parameters("uniform", generator=generator)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
        return self.W_hh.dtype

    def reset_parameters(self, init: str = "uniform", generator: torch.Generator | None = None) -> None:
        """Re-initialise the weights in place; ``generator`` as in the constructor.

        ``init="uniform"``: every entry from U(-1/sqrt(H), 1/sqrt(H)) (torch's default); ``"identity"``:
        ``W_hh = I``, ``b_h = 0``, ``W_xh`` from N(0, 0.001^2) (Le, Jaitly & Hinton 2015); ``"orthogonal"``:
        ``W_hh`` a random orthogonal matrix, ``W_xh`` uniform as above, ``b_h = 0``.
        """
        check_choice("init", init, INITS)
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            if init == "identity":
                nn.init.normal_(self.W_xh, 0.0, IDENTITY_INPUT_STD, generator=generator)
                self.W_hh.copy_(torch.eye(self.hidden_size, dtype=self.W_hh.dtype))
            else:
                nn.init.uniform_(self.W_xh, -bound, bound, generator=generator)
                if init == "orthogonal":
                    nn.init.orthogonal_(self.W_hh, generator=generator)
                else:
                    nn.init.uniform_(self.W_hh, -bound, bound, generator=generator)
            if self.b_h is not None:
                if init == "uniform":
                    nn.init.uniform_(self.b_h, -bound, bound, generator=generator)
                else:
                    self.b_h.zero_()

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input part ``W_xh x + b_h`` (..., H) of the pre-activation, for ``x`` (..., D)."""
        if self.b_h is None:
            return x @ self.W_xh.T
        return torch.nn.functional.linear(x, self.W_xh, self.b_h)

    def step(
        self, a_x: torch.Tensor, h_prev: torch.Tensor, W_hh_T: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One step from the projected input ``a_x = W_xh x_t + b_h`` and ``h_prev`` (B, H) -> ``h`` (B, H),
        unchecked (used by ``RNN``, which passes ``W_hh_T = W_hh.T`` transposed once).
        """
        a = torch.addmm(a_x, h_prev, self.W_hh.T if W_hh_T is None else W_hh_T)
        return h_prev + self._f(a) if self.skip else self._f(a)

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor | None = None) -> torch.Tensor:
        """``h_t`` (B, H) from ``x`` (B, D) and ``h_prev`` (B, H) (zeros when None)."""
        check_tensor("x", x, 2, self.dtype, shape="(B, D)")
        check_dim(
            "x", x, 1, self.input_size,
            f"The cell was built with input_size={self.input_size}: pass x of shape (B, {self.input_size}) "
            "or build the cell with the input size of your data.",
        )
        if h_prev is None:
            h_prev = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            check_tensor("h_prev", h_prev, 2, self.dtype, shape="(B, H)")
            check_dim("h_prev", h_prev, 0, x.shape[0], "h_prev must have the batch size of x.")
            check_dim(
                "h_prev", h_prev, 1, self.hidden_size,
                f"The cell has hidden_size={self.hidden_size}: pass h_prev of shape (B, {self.hidden_size}).",
            )
        return self.step(self.project_input(x), h_prev)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"bias={self.b_h is not None}, skip={self.skip}, dtype={self.dtype}"
        )


class _GatedCell(nn.Module):
    """The parameters and the checks shared by :class:`LSTMCell` and :class:`GRUCell`."""

    gates, bias_names, state_names = 4, ("b_h",), ("h_prev", "c_prev")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None, *, generator=None):
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        bias, dtype, GH = check_bool("bias", bias), _check_dtype(dtype), self.gates * self.hidden_size
        self.W_xh = nn.Parameter(torch.empty(GH, self.input_size, dtype=dtype))
        self.W_hh = nn.Parameter(torch.empty(GH, self.hidden_size, dtype=dtype))
        for name in self.bias_names:
            self.register_parameter(name, nn.Parameter(torch.empty(GH, dtype=dtype)) if bias else None)
        self.reset_parameters(_check_generator(generator))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
        return self.W_hh.dtype

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Every entry from U(-1/sqrt(H), 1/sqrt(H)), as ``torch.nn.LSTM``/``GRU``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                nn.init.uniform_(p, -bound, bound, generator=generator)

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input part of every gate's pre-activation, ``W_xh x + b`` (..., G H), for any leading shape."""
        return torch.nn.functional.linear(x, self.W_xh, getattr(self, self.bias_names[0]))

    def forward(self, x: torch.Tensor, state=None):
        """One step from ``x`` (B, D) and the previous state (zeros when None): ``(h_prev, c_prev)`` for the
        LSTM, ``h_prev`` for the GRU, each (B, H). Returns the new state."""
        check_tensor("x", x, 2, self.dtype, shape="(B, D)")
        check_dim("x", x, 1, self.input_size, f"The cell was built with input_size={self.input_size}.")
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        parts = [zeros] * len(self.state_names) if state is None else _state_parts(state, self.state_names)
        for name, s in zip(self.state_names, parts, strict=True):
            check_tensor(name, s, 2, self.dtype, shape="(B, H)")
            check_dim(name, s, 0, x.shape[0], f"{name} must have the batch size of x: shape (B, H).")
            check_dim(name, s, 1, self.hidden_size, f"The cell has hidden_size={self.hidden_size}.")
        state = LSTMState(*parts) if len(parts) == 2 else parts[0]
        return self.step(self.project_input(x), state)

    def extra_repr(self) -> str:
        bias = getattr(self, self.bias_names[0]) is not None
        return f"{self.input_size}, {self.hidden_size}, bias={bias}, dtype={self.dtype}"


def _state_parts(state, names) -> tuple:
    """The tensors of a state: ``(h, c)`` for the LSTM (``names`` of two), ``(h,)`` otherwise."""
    if len(names) == 1:
        return (state,)
    if not isinstance(state, tuple | list) or len(state) != 2:
        raise TypeError(
            f"the LSTM's state must be a pair ({names[0]}, {names[1]}) of tensors, as torch.nn.LSTM's, got "
            f"{type(state).__name__}; pass ({names[0]}, {names[1]}) or None for zeros."
        )
    return tuple(state)


class LSTMCell(_GatedCell):
    r"""One step of a long short-term memory cell (Hochreiter & Schmidhuber 1997; Gers et al. 2000).

    ``input_size`` ``D``, ``hidden_size`` ``H``, ``bias``, ``dtype`` and ``generator`` as in :class:`RNNCell`.
    Parameters ``W_xh`` (4H, D), ``W_hh`` (4H, H), ``b_h`` (4H,) (the sum of torch's two biases), the blocks
    of the gates ``i, f, g, o`` stacked in torch's order (``b_h[H:2H]`` is the forget gate's bias).

    Notes
    -----
    With the gate blocks of the weights (chapter 11), :math:`i_t = \sigma(W_{xi} x_t + W_{hi} h_{t-1} + b_i)`,
    :math:`f_t`, :math:`o_t` likewise, :math:`g_t = \tanh(W_{xg} x_t + W_{hg} h_{t-1} + b_g)`,
    :math:`c_t = f_t \odot c_{t-1} + i_t \odot g_t` and :math:`h_t = o_t \odot \tanh(c_t)`.
    """

    def step(self, a_x: torch.Tensor, state: LSTMState, W_hh_T: torch.Tensor | None = None) -> LSTMState:
        """One step from the projected input ``a_x = W_xh x_t + b_h`` (B, 4H) (unchecked; for RNN)."""
        h, c = state
        i, f, g, o = torch.addmm(a_x, h, self.W_hh.T if W_hh_T is None else W_hh_T).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # c_t = f c_{t-1} + i g
        return LSTMState(torch.sigmoid(o) * torch.tanh(c), c)  # h_t = o tanh(c_t)


class GRUCell(_GatedCell):
    r"""One step of a gated recurrent unit (Cho et al. 2014), in torch's convention.

    ``input_size`` ``D``, ``hidden_size`` ``H``, ``bias``, ``dtype`` and ``generator`` as in :class:`RNNCell`.
    Parameters ``W_xh`` (3H, D), ``W_hh`` (3H, H), ``b_xh`` and ``b_hh`` (3H,): the blocks of ``r, z, n`` in
    torch's order; two biases, because the reset gate scales ``W_hn h + b_hn``.

    Notes
    -----
    With the gate blocks of the weights and biases (chapter 11), :math:`r_t = \sigma(W_{xr} x_t + b_{xr} +
    W_{hr} h_{t-1} + b_{hr})`, :math:`z_t` likewise, :math:`n_t = \tanh(W_{xn} x_t + b_{xn} + r_t \odot
    (W_{hn} h_{t-1} + b_{hn}))` and :math:`h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}`.
    """

    gates, bias_names, state_names = 3, ("b_xh", "b_hh"), ("h_prev",)

    def step(self, a_x: torch.Tensor, h: torch.Tensor, W_hh_T: torch.Tensor | None = None) -> torch.Tensor:
        """One step from the projected input ``a_x = W_xh x_t + b_xh`` (B, 3H) (unchecked; for RNN)."""
        W_hh_T = self.W_hh.T if W_hh_T is None else W_hh_T
        u = h @ W_hh_T if self.b_hh is None else torch.addmm(self.b_hh, h, W_hh_T)  # W_hh h_{t-1} + b_hh
        H = self.hidden_size
        r, z = torch.sigmoid(a_x[:, : 2 * H] + u[:, : 2 * H]).chunk(2, 1)
        n = torch.tanh(a_x[:, 2 * H :] + r * u[:, 2 * H :])
        return n + z * (h - n)  # h_t = (1 - z) n + z h_{t-1}


class RNN(nn.Module):
    r"""A stack of recurrent layers (vanilla, LSTM or GRU) run over a whole sequence (batch first).

    Parameters
    ----------
    input_size, hidden_size, num_layers : int
        ``D``, ``H`` (every layer) and ``L``; layer ``l > 1`` reads the hidden states of layer ``l - 1``.
    nonlinearity, skip : see :class:`RNNCell`
        ``skip`` is the residual connection in time of chapter 9 (against vanishing gradients).
    init : {"uniform", "identity", "orthogonal"}
        Initial weights, see :meth:`RNNCell.reset_parameters` (``"uniform"`` is ``torch.nn.RNN``'s).
    dtype, bias : as in :class:`RNNCell`
    seed, generator
        Randomness of the initial weights: a seed (ignored when ``generator`` is given) or a generator.
    cell : {"rnn", "lstm", "gru"}
        The cell of every layer: :class:`RNNCell`, :class:`LSTMCell` (state :class:`LSTMState` ``(h, c)``) or
        :class:`GRUCell`; the gated cells keep the defaults of ``nonlinearity``, ``skip`` and ``init``.

    Attributes
    ----------
    cells : ModuleList of RNNCell (or LSTMCell, GRUCell)
        ``cells[l].W_xh`` is (G H, D) for ``l = 0``, (G H, H) above (``G`` = 1, 4 or 3 gate blocks).

    Notes
    -----
    Layer :math:`l` at time :math:`t` of the vanilla stack, with :math:`h^0_t = x_t`:

    .. math:: a^l_t = W^l_{hh} h^l_{t-1} + W^l_{xh} h^{l-1}_t + b^l_h, \qquad
              h^l_t = f(a^l_t) \quad\text{or, with skip,}\quad h^l_t = h^l_{t-1} + f(a^l_t).

    The same parameters serve every time step, so the parameter count does not depend on ``T``. The code
    computes every input projection ``W_xh x_t + b_h`` of a layer with one matrix product before the loop,
    then one ``addmm`` and the cell's nonlinearities per step. Chapters 1, 8, 9 and 11.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        skip: bool = False,
        init: str = "uniform",
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        cell: str = "rnn",
    ):
        super().__init__()
        self.cell = check_choice("cell", cell, CELLS)
        if cell != "rnn" and (nonlinearity, skip, init) != ("tanh", False, "uniform"):
            raise ValueError(
                f"cell={cell!r} has its own gates: nonlinearity, skip and init belong to the vanilla cell, "
                f"got nonlinearity={nonlinearity!r}, skip={skip!r}, init={init!r}; keep their defaults."
            )
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self.init = check_choice("init", init, INITS)
        self.skip = check_bool("skip", skip)
        dtype = _check_dtype(dtype)
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(check_seed(seed))
        if cell != "rnn":
            gated = LSTMCell if cell == "lstm" else GRUCell
            sizes = [self.input_size] + [self.hidden_size] * (self.num_layers - 1)
            self.cells = nn.ModuleList(gated(D, hidden_size, bias, dtype, generator=generator) for D in sizes)
            return
        self.cells = nn.ModuleList(
            RNNCell(
                self.input_size if l == 0 else self.hidden_size,
                self.hidden_size,
                nonlinearity,
                bias,
                dtype,
                skip=skip,
                generator=generator,
            )
            for l in range(self.num_layers)
        )
        if init != "uniform":
            for cell in self.cells:
                cell.reset_parameters(init, generator=generator)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
        return self.cells[0].dtype

    @property
    def bias(self) -> bool:
        """Whether the cells have biases."""
        return len(list(self.cells[0].parameters())) > 2

    def forward(self, x: torch.Tensor, h0=None):
        """Run the stack over ``x`` (B, T, D) from ``h0`` (L, B, H) (zeros if None; the LSTM's ``(h0, c0)``).

        Returns ``hs`` (B, T, H), the top layer's hidden states at every step, and ``h_n`` (L, B, H), the last
        state of every layer (the LSTM's: :class:`LSTMState` ``(h_n, c_n)``).
        """
        check_tensor("x", x, 3, self.dtype, shape="(B, T, D)")
        B, T, D = x.shape
        check_dim(
            "x", x, 2, self.input_size,
            f"The RNN was built with input_size={self.input_size}: pass x of shape (B, T, {self.input_size}) "
            "or build the RNN with the input size of your data.",
        )
        if T == 0:
            raise ValueError(
                f"x has T = 0 time steps (shape {tuple(x.shape)}), expected T >= 1; pass at least one step."
            )
        names = ("h0", "c0") if self.cell == "lstm" else ("h0",)
        if h0 is None:
            h0 = [x.new_zeros(self.num_layers, B, self.hidden_size)] * len(names)
        else:
            h0 = _state_parts(h0, names)
        L, H = self.num_layers, self.hidden_size
        for name, s in zip(names, h0, strict=True):
            check_tensor(name, s, 3, self.dtype, shape="(L, B, H) with L = num_layers, as torch.nn.RNN")
            for axis, n in enumerate((L, B, H)):  # one state per layer, the batch of x, the hidden size
                check_dim(name, s, axis, n, f"Pass {name} of shape (L, B, H) = ({L}, {B}, {H}).")

        layer_input, h_n = x, []
        for l, cell in enumerate(self.cells):
            # (T, B, H): W_xh x_t + b_h for every t at once, time-major so that each a_x[t] is contiguous
            a_x = cell.project_input(layer_input.transpose(0, 1))
            W_hh_T = cell.W_hh.T
            state = LSTMState(h0[0][l], h0[1][l]) if self.cell == "lstm" else h0[0][l]
            hs = []
            for a_x_t in a_x.unbind(0):
                state = cell.step(a_x_t, state, W_hh_T)  # vanilla: h_t = f(W_hh h_{t-1} + a_x_t)
                hs.append(state.h if self.cell == "lstm" else state)
            layer_input = torch.stack(hs, 1)
            h_n.append(state)
        if self.cell == "lstm":
            return layer_input, LSTMState(torch.stack([s.h for s in h_n]), torch.stack([s.c for s in h_n]))
        return layer_input, torch.stack(h_n, 0)

    @classmethod
    def from_torch(cls, rnn: nn.RNN | nn.LSTM | nn.GRU) -> RNN:
        """An ``RNN`` with a copy of the weights of a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (unidirectional,
        without projection or dropout): ``b_h = bias_ih + bias_hh`` (the GRU keeps both, ``b_xh``,
        ``b_hh``). Call it with batch-first inputs (B, T, D), whatever ``rnn.batch_first`` was.
        """
        kinds = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}
        if type(rnn) not in kinds:
            raise TypeError(
                f"from_torch expects a torch.nn.RNN, LSTM or GRU, got {type(rnn).__name__}; build one with "
                "torch.nn.RNN(input_size, hidden_size, batch_first=True)."
            )
        if rnn.bidirectional:
            raise ValueError(
                "from_torch expects bidirectional=False, got bidirectional=True; use a unidirectional RNN."
            )
        if getattr(rnn, "proj_size", 0):
            raise ValueError(
                f"from_torch expects proj_size=0, got {rnn.proj_size}; use an RNN without projection."
            )
        if rnn.dropout:
            raise ValueError(
                f"from_torch expects dropout=0, got dropout={rnn.dropout}; this RNN has no dropout between "
                "layers, so build the torch.nn.RNN with dropout=0."
            )
        kind, nonlinearity = kinds[type(rnn)], getattr(rnn, "nonlinearity", "tanh")
        out = cls(
            rnn.input_size, rnn.hidden_size, rnn.num_layers, nonlinearity, dtype=rnn.weight_hh_l0.dtype,
            bias=rnn.bias, cell=kind,
        )
        with torch.no_grad():
            for l, cell in enumerate(out.cells):
                cell.W_xh.copy_(getattr(rnn, f"weight_ih_l{l}"))
                cell.W_hh.copy_(getattr(rnn, f"weight_hh_l{l}"))
                if rnn.bias and kind == "gru":
                    cell.b_xh.copy_(getattr(rnn, f"bias_ih_l{l}"))
                    cell.b_hh.copy_(getattr(rnn, f"bias_hh_l{l}"))
                elif rnn.bias:
                    cell.b_h.copy_(getattr(rnn, f"bias_ih_l{l}") + getattr(rnn, f"bias_hh_l{l}"))
        return out

    def to_torch(self) -> nn.RNN | nn.LSTM | nn.GRU:
        """Return a ``torch.nn.RNN`` (``LSTM``, ``GRU``), ``batch_first=True``, with a copy of these weights.

        ``b_h`` goes to ``bias_ih_l{l-1}``, zeros to ``bias_hh_l{l-1}`` (GRU: ``b_xh``, ``b_hh`` to both).
        Only plain tanh/relu vanilla stacks convert (``torch.nn.RNN`` has neither a linear nonlinearity nor
        skip connections).
        """
        if self.nonlinearity == "linear":
            raise ValueError(
                "to_torch supports nonlinearity 'tanh' or 'relu', got 'linear'; torch.nn.RNN has no linear "
                "variant, so keep using this module."
            )
        if self.skip:
            raise ValueError(
                "to_torch expects skip=False, got skip=True; torch.nn.RNN has no skip connections, so keep "
                "using this module."
            )
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[self.cell]
        extra = {"nonlinearity": self.nonlinearity} if self.cell == "rnn" else {}
        out = kind(
            self.input_size, self.hidden_size, self.num_layers, bias=self.bias, batch_first=True,
            dtype=self.dtype, **extra,
        )
        with torch.no_grad():
            for l, cell in enumerate(self.cells):
                getattr(out, f"weight_ih_l{l}").copy_(cell.W_xh)
                getattr(out, f"weight_hh_l{l}").copy_(cell.W_hh)
                if self.bias:
                    b = (cell.b_xh, cell.b_hh) if self.cell == "gru" else (cell.b_h, 0.0 * cell.b_h)
                    getattr(out, f"bias_ih_l{l}").copy_(b[0])
                    getattr(out, f"bias_hh_l{l}").copy_(b[1])
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, cell={self.cell!r}, "
            f"nonlinearity={self.nonlinearity!r}, skip={self.skip}, init={self.init!r}, dtype={self.dtype}"
        )
