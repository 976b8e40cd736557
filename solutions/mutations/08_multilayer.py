"""Typical wrong answers to exercise 08 (see tools/mutations.py): each must fail the tests named in it."""

_FWD = """def stacked_rnn_forward(x, h0, layers):
    layer_input, last = x, []
    for l, (W_xh, W_hh, b_h) in enumerate(layers):
        h, states = h0[{h0_index}], []
        for t in range(layer_input.shape[1]):
            h = torch.tanh(layer_input[:, t] @ W_xh.T + h @ {W_hh} + b_h)
            states.append(h)
        {feed}
        last.append(h)
    return {ret}, torch.stack(last, dim=0)
"""


def _fwd(h0_index="l", W_hh="W_hh.T", feed="layer_input = torch.stack(states, dim=1)", ret="layer_input"):
    return _FWD.format(h0_index=h0_index, W_hh=W_hh, feed=feed, ret=ret)


_LAYERS = """def layers_from_torch(rnn):
    return [(getattr(rnn, f"weight_ih_l{{l}}"){copy}, getattr(rnn, f"weight_hh_l{{l}}"){copy},
             ({bias}){copy}) for l in range(rnn.num_layers)]


torch.manual_seed(0)
torch_rnn = torch.nn.RNN(3, 5, num_layers=2, batch_first=True, dtype=torch.float64)
x_check = torch.randn(4, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
h0_check = torch.zeros(2, 4, 5, dtype=torch.float64)
with torch.no_grad():
    hs_torch, _ = torch_rnn(x_check, h0_check)
    hs_mine, _ = stacked_rnn_forward(x_check, h0_check, layers_from_torch(torch_rnn))
max_difference = {diff}
"""


def _layers(copy=".detach().clone()", bias='getattr(rnn, f"bias_ih_l{l}") + getattr(rnn, f"bias_hh_l{l}")',
            diff="(hs_torch - hs_mine).abs().max().item()"):
    return _LAYERS.format(copy=copy, bias=bias, diff=diff)


MUTATIONS = [
    # q1: public cases: a hand-computed stack, and torch.nn.RNN with random W_hh and a different h0 per layer.
    dict(question="q1", name="every layer starts from h0[0]", code=_fwd(h0_index="0")),
    dict(question="q1", name="W_hh not transposed", code=_fwd(W_hh="W_hh")),
    dict(question="q1", name="returns the bottom layer's states",
         code=_fwd(feed="layer_input = torch.stack(states, dim=1)\n        bottom = bottom if l else layer_input",
                   ret="bottom")),
    dict(question="q1", name="every layer reads x instead of the layer below",
         code=_fwd(feed="top = torch.stack(states, dim=1)", ret="top").replace(
             "layer_input, last = x, []", "layer_input, last = x, []").replace(
             "for t in range(layer_input.shape[1])", "for t in range(x.shape[1])").replace(
             "layer_input[:, t] @ W_xh.T", "(x[:, t] if l == 0 else x[:, t, :1].expand(-1, W_xh.shape[1])) @ W_xh.T")),
    # q2: public case checks b_h of layer 1 and the measured difference.
    dict(question="q2", name="b_h is one of the two biases only", code=_layers(bias='getattr(rnn, f"bias_ih_l{l}")')),
    dict(question="q2", name="max_difference as a tensor", code=_layers(diff="(hs_torch - hs_mine).abs().max()")),
    dict(question="q2", name="no copies (later changes of rnn leak in)", code=_layers(copy="")),
    # q3: public cases: D = H = L = 1, and D = 3, H = 2, L = 2.
    dict(question="q3", name="upper layers counted with (H, D) input weights",
         code="def rnn_param_count(D, H, L, two_biases=False):\n    b = 2 * H if two_biases else H\n"
              "    return L * (H * D + H * H + b)\n"),
    dict(question="q3", name="two_biases ignored",
         code="def rnn_param_count(D, H, L, two_biases=False):\n"
              "    return (H * D + H * H + H) + (L - 1) * (2 * H * H + H)\n"),
    # q4: public cases: (T, L) = (1, 1), (5, 1), (3, 2).
    dict(question="q4", name="sequential steps T * L",
         code="def cell_evaluations(T, L):\n    return T * L\n\n\ndef sequential_steps(T, L):\n    return T * L\n"),
    dict(question="q4", name="sequential steps T + L",
         code="def cell_evaluations(T, L):\n    return T * L\n\n\ndef sequential_steps(T, L):\n    return T + L\n"),
    dict(question="q4", name="cell evaluations T + L - 1",
         code="def cell_evaluations(T, L):\n    return T + L - 1\n\n\n"
              "def sequential_steps(T, L):\n    return T + L - 1\n"),
]
