"""Typical wrong answers to exercise 07 (see tools/mutations.py): each must fail the tests named in it."""

_LOOP = """def train_tbptt(model, x, target, k, optimizer):
    h, losses = None, []
    for s in range(0, x.shape[1], k):
        logits, h = model(x[:, s:s + k], h, return_state=True)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 target[:, s:s + k].reshape(-1))
        {update}
        h = {carry}
        losses.append({record})
    return losses
"""


def _loop(update="optimizer.zero_grad(); loss.backward(); optimizer.step()", carry="h.detach()",
          record="loss.item()"):
    return _LOOP.format(update=update, carry=carry, record=record)


_REACH = """def gradient_reach(model, x, k, t):
    x = x.detach().clone().requires_grad_(True)
    h, outputs = None, []
    for s in range(0, x.shape[1], k):
        logits, h = model(x[:, s:s + k], h, return_state=True)
        outputs.append(logits)
        h = {carry}
    torch.cat(outputs, dim=1)[:, t].sum().backward()
    return (x.grad.abs().sum(dim=(0, 2)) > 0).numpy(){tail}
"""

MUTATIONS = [
    # q1: public case runs three chunks with SGD and compares every loss and weight with the loop written out.
    dict(question="q1", name="zero_grad after backward (nothing is learned)",
         code=_loop(update="loss.backward(); optimizer.zero_grad(); optimizer.step()")),
    dict(question="q1", name="no optimizer.step()", code=_loop(update="optimizer.zero_grad(); loss.backward()")),
    dict(question="q1", name="state reset to zeros at every chunk", code=_loop(carry="None")),
    dict(question="q1", name="returns tensors instead of floats", code=_loop(record="loss.detach()")),
    dict(question="q1", name="no zero_grad (gradients accumulate)",
         code=_loop(update="loss.backward(); optimizer.step()")),
    # q2: public case checks both detach_every_step=False and True against the reference.
    dict(question="q2", name="ignores detach_every_step",
         code="""def grad_W_hh(x, h0, W_xh, W_hh, b_h, dhs, detach_every_step):
    W = torch.tensor(W_hh, requires_grad=True)
    h, loss = torch.as_tensor(h0), 0.0
    for t in range(x.shape[1]):
        h = torch.tanh(h @ W.T + torch.as_tensor(x[:, t]) @ torch.as_tensor(W_xh).T + torch.as_tensor(b_h))
        loss = loss + (h * torch.as_tensor(dhs[:, t])).sum()
    loss.backward()
    return W.grad.numpy()


relative_difference = 0.0
equal_when_W_hh_is_zero = True
"""),
    dict(question="q2", name="W_hh not transposed in the step",
         code="""def grad_W_hh(x, h0, W_xh, W_hh, b_h, dhs, detach_every_step):
    W = torch.tensor(W_hh, requires_grad=True)
    h, loss = torch.as_tensor(h0), 0.0
    for t in range(x.shape[1]):
        prev = h.detach() if detach_every_step else h
        h = torch.tanh(prev @ W + torch.as_tensor(x[:, t]) @ torch.as_tensor(W_xh).T + torch.as_tensor(b_h))
        loss = loss + (h * torch.as_tensor(dhs[:, t])).sum()
    loss.backward()
    return W.grad.numpy()


relative_difference = 0.0
equal_when_W_hh_is_zero = True
"""),
    # q3: public case k = 4, t = 6.
    dict(question="q3", name="state not detached between chunks (gradient reaches every earlier step)",
         code=_REACH.format(carry="h", tail="")),
    dict(question="q3", name="reach marks the steps after t too",
         code=_REACH.format(carry="h.detach()", tail=" | (np.arange(x.shape[1]) > t)")),
    # q4: public checks k = 1 and k = 4; the verdict's public check is only its form.
    dict(question="q4", name="longest delay k instead of k - 1",
         code="def longest_delay_with_gradient(k):\n    return k\n\n\nlong_delay_verdict = 'b'\n"),
    dict(question="q4", name="verdict (a): the forward pass carries the state",
         code="def longest_delay_with_gradient(k):\n    return k - 1\n\n\nlong_delay_verdict = 'a'\n",
         partial=True),
]
