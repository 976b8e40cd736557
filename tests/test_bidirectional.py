"""BiRNN: two RNNs reading the sequence in opposite directions, one read-out of both states (chapter 8)."""

import pytest
import torch

from rnncourse.topologies import BiRNN, ManyToMany


def test_outputs_are_the_readout_of_both_directions_by_hand():
    model = BiRNN(3, 5, 4, dtype=torch.float64, seed=0)
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fwd, bwd = model.forward_rnn.cells[0], model.backward_rnn.cells[0]
    h_f, h_b = torch.zeros(2, 5, dtype=torch.float64), torch.zeros(2, 5, dtype=torch.float64)
    forward_states, backward_states = [], [None] * 6
    for t in range(6):
        h_f = torch.tanh(x[:, t] @ fwd.W_xh.T + h_f @ fwd.W_hh.T + fwd.b_h)
        forward_states.append(h_f)
    for t in reversed(range(6)):  # the backward state at t has read x_T, ..., x_t
        h_b = torch.tanh(x[:, t] @ bwd.W_xh.T + h_b @ bwd.W_hh.T + bwd.b_h)
        backward_states[t] = h_b
    states = torch.cat([torch.stack(forward_states, 1), torch.stack(backward_states, 1)], -1)
    expected = states @ model.W_hy.T + model.b_y
    assert torch.allclose(model(x), expected, rtol=0, atol=1e-12)
    assert model.W_hy.shape == (4, 10)


def test_every_output_depends_on_the_whole_input_unlike_the_one_directional_model():
    x = torch.randn(1, 5, 2, requires_grad=True)
    for model, future_reached in ((BiRNN(2, 4, 3, seed=0), True), (ManyToMany(2, 4, 3, seed=0), False)):
        (grad,) = torch.autograd.grad(model(x)[0, 0].sum(), x)  # y_1
        assert bool(grad[0, 1:].abs().sum() > 0) is future_reached
        assert grad[0, 0].abs().sum() > 0


def test_integer_ids_are_one_hot_and_seed_is_reproducible():
    ids = torch.tensor([[0, 2, 1], [1, 1, 0]])
    a, b = BiRNN(3, 4, 2, seed=3), BiRNN(3, 4, 2, seed=3)
    assert torch.equal(a(ids), b(torch.nn.functional.one_hot(ids, 3).float()))
    assert not torch.equal(a(ids), BiRNN(3, 4, 2, seed=4)(ids))
    assert a(ids).shape == (2, 3, 2)


def test_it_learns_a_task_that_needs_the_future():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (64, 6), generator=g)
    target = torch.roll(x, -1, 1)  # y_t = x_{t+1} (wrapping at the end)
    model = BiRNN(2, 8, 2, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 2), target.reshape(-1))
        loss.backward()
        opt.step()
    assert (model(x)[:, :-1].argmax(-1) == target[:, :-1]).float().mean() > 0.95


@pytest.mark.parametrize(
    "args, error",
    [((0, 4, 2), ValueError), ((3, 4, 2, "sigmoid"), ValueError), ((3, 4, 0), ValueError)],
)
def test_invalid_sizes_and_nonlinearity_are_refused(args, error):
    with pytest.raises(error):
        BiRNN(*args)


def test_wrong_input_size_is_refused():
    with pytest.raises(ValueError, match="input_size=3"):
        BiRNN(3, 4, 2)(torch.zeros(1, 5, 2))
