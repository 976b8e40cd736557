"""Typical wrong answers to exercise 03 (see tools/mutations.py): each must fail the tests named in it."""

_STEP = """def rnn_step_backward(dh, cache):
    x, h_prev, W_xh, W_hh, h = cache
    delta = {delta}
    return {dx}, {dh_prev}, {dW_xh}, {dW_hh}, {db_h}
"""


def _step(delta="dh * (1.0 - h**2)", dx="delta @ W_xh", dh_prev="delta @ W_hh", dW_xh="delta.T @ x",
          dW_hh="delta.T @ h_prev", db_h="delta.sum(axis=0)"):
    return _STEP.format(delta=delta, dx=dx, dh_prev=dh_prev, dW_xh=dW_xh, dW_hh=dW_hh, db_h=db_h)


_SEQ = """def rnn_backward(dhs, caches):
    B, T, H = dhs.shape
    x0, _, W_xh, W_hh, _ = caches[0]
    dx = np.zeros((B, T, x0.shape[1]))
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(H)
    dh_next = np.zeros((B, H))
    for t in {order}:
        dx[:, t], dh_step, dW_xh_t, dW_hh_t, db_h_t = rnn_step_backward({upstream}, caches[t])
        dh_next = dh_step
        dW_xh {acc} dW_xh_t
        dW_hh {acc} dW_hh_t
        db_h {acc} db_h_t
    return dx, dh_next, dW_xh, dW_hh, db_h
"""


def _seq(order="reversed(range(T))", upstream="dhs[:, t] + dh_next", acc="+="):
    return _SEQ.format(order=order, upstream=upstream, acc=acc)


_CHECK = """def grad_check_step(backward, x, h_prev, W_xh, W_hh, b_h, dh):
    names = ["x", "h_prev", "W_xh", "W_hh", "b_h"]
    args = [x, h_prev, W_xh, W_hh, b_h]
    _, cache = rnn_step_forward(*args)
    analytic = backward(dh, cache)
    errors = {{}}
    for i, name in enumerate(names):
        def f(v, i=i):
            return rnn_step_forward(*[v if j == i else a for j, a in enumerate(args)])[0]

        numerical = numerical_gradient(f, {arg}, dh)
        errors[name] = {error}
    return errors
"""

MUTATIONS = [
    # q1: public case compares every gradient with central differences (random, non-symmetric weights).
    dict(question="q1", name="forgets the tanh derivative (delta = dh)", code=_step(delta="dh")),
    dict(question="q1", name="dW_hh transposed", code=_step(dW_hh="h_prev.T @ delta")),
    dict(question="q1", name="dh_prev through W_hh transposed", code=_step(dh_prev="delta @ W_hh.T")),
    dict(question="q1", name="db_h averaged over the batch", code=_step(db_h="delta.mean(axis=0)")),
    dict(question="q1", name="derivative 1 - h instead of 1 - h^2", code=_step(delta="dh * (1.0 - h)")),
    # q2: public case checks a correct backward (tiny errors) and a buggy one (a large W_hh error).
    dict(question="q2", name="compares each analytic gradient with the first numerical one",
         code=_CHECK.format(arg="args[i].copy()", error="rel_error(analytic[i], numerical_gradient("
                            "lambda v: rnn_step_forward(v, *args[1:])[0], args[0].copy(), dh))")),
    dict(question="q2", name="returns absolute instead of relative errors of the analytic gradient alone",
         code=_CHECK.format(arg="args[i].copy()", error="float(np.abs(analytic[i]).max()) * 0.0")),
    # q3: public case compares dW_hh and dh0 with central differences over T = 4 steps.
    dict(question="q3", name="no gradient from later steps (dh_next dropped)", code=_seq(upstream="dhs[:, t]")),
    dict(question="q3", name="walks forward in time", code=_seq(order="range(T)")),
    dict(question="q3", name="parameter gradients not summed over the steps", code=_seq(acc="=")),
    # q4: public case checks the sum of the entries and the entry of step 2 alone.
    dict(question="q4", name="every entry uses the whole dhs",
         code="def per_loss_dW_hh(dhs, caches):\n    T = dhs.shape[1]\n"
              "    return np.stack([rnn_backward(dhs, caches)[3] / T for t in range(T)])\n\n\n"
              "first_loss_dW_hh_is_zero = True\n"),
    dict(question="q4", name="entry t holds the gradient of the losses up to t (cumulative)",
         code="def per_loss_dW_hh(dhs, caches):\n    T = dhs.shape[1]\n    out = []\n    for t in range(T):\n"
              "        upto = dhs.copy()\n        upto[:, t + 1:] = 0\n        out.append(rnn_backward(upto, caches)[3])\n"
              "    return np.stack(out)\n\n\nfirst_loss_dW_hh_is_zero = True\n"),
    dict(question="q4", name="predicts the first loss's gradient is not zero",
         code="def per_loss_dW_hh(dhs, caches):\n    B, T, H = dhs.shape\n    out = np.zeros((T, H, H))\n"
              "    for t in range(T):\n        only_t = np.zeros_like(dhs)\n        only_t[:, t] = dhs[:, t]\n"
              "        out[t] = rnn_backward(only_t, caches)[3]\n    return out\n\n\n"
              "first_loss_dW_hh_is_zero = False\n", partial=True),
]
