"""Vanilla recurrent networks in torch, written as an explicit loop over time.

``RNNCell`` computes one step, ``RNN`` runs a stack of cells over a whole sequence. The weights use the book's
names and shapes (``W_xh (H, D)``, ``W_hh (H, H)``, ``b_h (H,)``) and convert to and from ``torch.nn.RNN``
(whose ``weight_ih_l{k}``/``weight_hh_l{k}`` have the same layout; its two biases add up to ``b_h``).

Chapters: 1 (the recurrent state), 8 (multilayer RNNs), 9 (gradient flow: ``skip`` and ``init``).
"""

from __future__ import annotations

import math

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

__all__ = ["RNNCell", "RNN"]

INITS = ("uniform", "identity", "orthogonal")
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


class RNNCell(nn.Module):
    r"""One step of a vanilla (Elman) recurrent network.

    Parameters
    ----------
    input_size : int
        ``D``, the size of each input vector ``x_t``.
    hidden_size : int
        ``H``, the size of the hidden state ``h_t``.
    nonlinearity : {"tanh", "relu", "linear"}
        The elementwise function ``f``.
    bias : bool
        If False the cell has no ``b_h`` (the attribute is ``None``).
    dtype : torch.dtype, optional
        Floating-point dtype of the parameters; torch's default (float32) when None.
    skip : bool
        Residual connection in time: ``h_t = h_{t-1} + f(a_t)`` instead of ``h_t = f(a_t)``.
    generator : torch.Generator, optional
        Source of randomness for the initial weights (torch's global generator when None).

    Attributes
    ----------
    W_xh : Parameter, shape (H, D)
    W_hh : Parameter, shape (H, H)
    b_h : Parameter, shape (H,), or None

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
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                "create one with torch.Generator().manual_seed(seed)."
            )
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
        """Re-initialise the weights in place.

        Parameters
        ----------
        init : {"uniform", "identity", "orthogonal"}
            ``"uniform"``: every entry from U(-1/sqrt(H), 1/sqrt(H)) (torch's default).
            ``"identity"``: ``W_hh = I``, ``b_h = 0``, ``W_xh`` from N(0, 0.001^2) (Le, Jaitly & Hinton 2015).
            ``"orthogonal"``: ``W_hh`` a random orthogonal matrix, ``W_xh`` uniform as above, ``b_h = 0``.
        generator : torch.Generator, optional
            Source of randomness (torch's global generator when None).
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
        """The input part of the pre-activation, ``W_xh x + b_h``, for any leading shape.

        Parameters
        ----------
        x : Tensor, shape (..., D)

        Returns
        -------
        Tensor, shape (..., H)
        """
        if self.b_h is None:
            return x @ self.W_xh.T
        return torch.nn.functional.linear(x, self.W_xh, self.b_h)

    def step(
        self, a_x: torch.Tensor, h_prev: torch.Tensor, W_hh_T: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One step given the projected input ``a_x = W_xh x_t + b_h`` (no validation; used by ``RNN``).

        Parameters
        ----------
        a_x : Tensor, shape (B, H)
        h_prev : Tensor, shape (B, H)
        W_hh_T : Tensor, shape (H, H), optional
            ``W_hh.T``, passed in by a loop that transposes once.

        Returns
        -------
        h : Tensor, shape (B, H)
        """
        a = torch.addmm(a_x, h_prev, self.W_hh.T if W_hh_T is None else W_hh_T)
        return h_prev + self._f(a) if self.skip else self._f(a)

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor | None = None) -> torch.Tensor:
        """Compute ``h_t`` from ``x_t`` and ``h_{t-1}``.

        Parameters
        ----------
        x : Tensor, shape (B, D)
        h_prev : Tensor, shape (B, H), optional
            The previous hidden state; zeros when None.

        Returns
        -------
        h : Tensor, shape (B, H)
        """
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


class RNN(nn.Module):
    r"""A stack of vanilla recurrent layers run over a whole sequence (batch first).

    Parameters
    ----------
    input_size : int
        ``D``, the size of each input vector.
    hidden_size : int
        ``H``, the hidden size of every layer.
    num_layers : int
        ``L``, the number of stacked layers; layer ``l > 1`` reads the hidden states of layer ``l - 1``.
    nonlinearity : {"tanh", "relu", "linear"}
        The elementwise function ``f``.
    skip : bool
        Residual connection in time, ``h_t = h_{t-1} + f(a_t)`` (chapter 9, against vanishing gradients).
    init : {"uniform", "identity", "orthogonal"}
        Initial weights, see :meth:`RNNCell.reset_parameters`: ``"uniform"`` is ``torch.nn.RNN``'s default
        U(-1/sqrt(H), 1/sqrt(H)); ``"identity"`` sets ``W_hh = I``, ``b_h = 0`` and a small ``W_xh``
        (Le, Jaitly & Hinton 2015); ``"orthogonal"`` draws an orthogonal ``W_hh``.
    dtype : torch.dtype, optional
        Floating-point dtype of the parameters; torch's default (float32) when None.
    bias : bool
        If False the cells have no ``b_h``.
    seed : int, optional
        Seed for the initial weights (ignored when ``generator`` is given).
    generator : torch.Generator, optional
        Source of randomness for the initial weights; torch's global generator if neither is given.

    Attributes
    ----------
    cells : ModuleList of RNNCell
        ``cells[l]`` holds ``W_xh`` (H, D) for ``l = 0`` and (H, H) above, ``W_hh`` (H, H) and ``b_h`` (H,).

    Notes
    -----
    Layer :math:`l` at time :math:`t`, with :math:`h^0_t = x_t`:

    .. math:: a^l_t = W^l_{hh} h^l_{t-1} + W^l_{xh} h^{l-1}_t + b^l_h, \qquad
              h^l_t = f(a^l_t) \quad\text{or, with skip,}\quad h^l_t = h^l_{t-1} + f(a^l_t).

    The same parameters serve every time step, so the parameter count does not depend on ``T``. The code
    computes every input projection ``W_xh x_t + b_h`` of a layer with one matrix product before the loop,
    then one ``addmm`` and one nonlinearity per step. Chapters 1, 8 and 9.
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
    ):
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self.init = check_choice("init", init, INITS)
        self.skip = check_bool("skip", skip)
        dtype = _check_dtype(dtype)
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(check_seed(seed))
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
        """Whether the cells have a bias ``b_h``."""
        return self.cells[0].b_h is not None

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the stack over the sequence ``x``.

        Parameters
        ----------
        x : Tensor, shape (B, T, D)
        h0 : Tensor, shape (L, B, H), optional
            Initial hidden state of every layer; zeros when None.

        Returns
        -------
        hs : Tensor, shape (B, T, H)
            Hidden states of the top layer at every step.
        h_n : Tensor, shape (L, B, H)
            Last hidden state of every layer.
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
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        else:
            check_tensor("h0", h0, 3, self.dtype, shape="(L, B, H) with L = num_layers, as torch.nn.RNN")
            check_dim(
                "h0", h0, 0, self.num_layers,
                f"h0 needs one state per layer: pass h0 of shape ({self.num_layers}, B, H).",
            )
            check_dim("h0", h0, 1, B, "h0 must have the batch size of x: shape (L, B, H).")
            check_dim(
                "h0", h0, 2, self.hidden_size,
                f"The RNN has hidden_size={self.hidden_size}: pass h0 of shape (L, B, {self.hidden_size}).",
            )

        layer_input, h_n = x, []
        for l, cell in enumerate(self.cells):
            # (T, B, H): W_xh x_t + b_h for every t at once, time-major so that each a_x[t] is contiguous
            a_x = cell.project_input(layer_input.transpose(0, 1))
            W_hh_T = cell.W_hh.T
            h = h0[l]
            hs = []
            for a_x_t in a_x.unbind(0):
                h = cell.step(a_x_t, h, W_hh_T)  # h_t = f(W_hh h_{t-1} + a_x_t)  (+ h_{t-1} with skip)
                hs.append(h)
            layer_input = torch.stack(hs, 1)
            h_n.append(h)
        return layer_input, torch.stack(h_n, 0)

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> RNN:
        """Build an ``RNN`` holding a copy of the weights of a ``torch.nn.RNN``.

        Parameters
        ----------
        rnn : torch.nn.RNN
            Unidirectional, without projections or dropout; ``b_h`` becomes ``bias_ih + bias_hh``.

        Returns
        -------
        RNN
            Call it with batch-first inputs (B, T, D), whatever ``rnn.batch_first`` was.
        """
        if not isinstance(rnn, nn.RNN):
            raise TypeError(
                f"from_torch expects a torch.nn.RNN, got {type(rnn).__name__}; build one with "
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
        dtype = rnn.weight_hh_l0.dtype
        out = cls(
            rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.nonlinearity, dtype=dtype, bias=rnn.bias
        )
        with torch.no_grad():
            for l, cell in enumerate(out.cells):
                cell.W_xh.copy_(getattr(rnn, f"weight_ih_l{l}"))
                cell.W_hh.copy_(getattr(rnn, f"weight_hh_l{l}"))
                if rnn.bias:
                    cell.b_h.copy_(getattr(rnn, f"bias_ih_l{l}") + getattr(rnn, f"bias_hh_l{l}"))
        return out

    def to_torch(self) -> nn.RNN:
        """Return a ``torch.nn.RNN(batch_first=True)`` with a copy of these weights.

        ``b_h`` goes to ``bias_ih_l{k}``, zeros to ``bias_hh_l{k}``. Only plain tanh/relu stacks convert
        (``torch.nn.RNN`` has neither a linear nonlinearity nor skip connections).

        Returns
        -------
        torch.nn.RNN
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
        out = nn.RNN(
            self.input_size,
            self.hidden_size,
            self.num_layers,
            nonlinearity=self.nonlinearity,
            bias=self.bias,
            batch_first=True,
            dtype=self.dtype,
        )
        with torch.no_grad():
            for l, cell in enumerate(self.cells):
                getattr(out, f"weight_ih_l{l}").copy_(cell.W_xh)
                getattr(out, f"weight_hh_l{l}").copy_(cell.W_hh)
                if self.bias:
                    getattr(out, f"bias_ih_l{l}").copy_(cell.b_h)
                    getattr(out, f"bias_hh_l{l}").zero_()
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"nonlinearity={self.nonlinearity!r}, skip={self.skip}, init={self.init!r}, dtype={self.dtype}"
        )
