"""Typical wrong answers to exercise 11 (see tools/mutations.py): each must fail the tests named in it."""

_FORWARD = """def lstm_step_forward(x, h_prev, c_prev, W_xh, W_hh, b_h):
    H = h_prev.shape[1]
    a = x @ W_xh.T + h_prev @ W_hh.T + b_h
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    gates = np.concatenate([i, f, g, o], axis=1)
    return h, c, (x, h_prev, c_prev, W_xh, W_hh, gates, tanh_c)
"""

_BACKWARD = """def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, W_xh, W_hh, gates, tanh_c = cache
    H = h_prev.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    dc_t = dc + dh * o * (1 - tanh_c**2)
    do = dh * tanh_c
    da = np.concatenate([dc_t * g * i * (1 - i), dc_t * c_prev * f * (1 - f), dc_t * i * (1 - g**2),
                         do * o * (1 - o)], axis=1)
    dc_prev = dc_t * f
    return da @ W_xh, da @ W_hh, dc_prev, da.T @ x, da.T @ h_prev, da.sum(axis=0)
"""

_REACH = """reach_b0 = 7
reach_b1 = 15


def forget_path_reach(b_f, threshold=1e-3):
    f, g, lag = sigmoid(b_f), 1.0, 0
    while g >= threshold:
        g *= f
        lag += 1
    return lag
"""


def _sub(text, old, new):
    assert text.count(old) == 1, old
    return text.replace(old, new)


MUTATIONS = [
    # q1: the forward step. Public cases: one unit with a distinct pre-activation per gate and c_prev = 2;
    # B = 2, D = 3, H = 2 with non-zero states; the cache's gates and tanh_c.
    dict(question="q1", name="gate order i, f, o, g (CS231n's) instead of torch's i, f, g, o",
         code=_sub(_FORWARD, "np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])",
                   "np.tanh(a[:, 3 * H:]), sigmoid(a[:, 2 * H:3 * H])")),
    dict(question="q1", name="h = o * c (no tanh on the read-out)",
         code=_sub(_FORWARD, "h = o * tanh_c", "h = o * c")),
    dict(question="q1", name="sigmoid on the candidate g",
         code=_sub(_FORWARD, "np.tanh(a[:, 2 * H:3 * H])", "sigmoid(a[:, 2 * H:3 * H])")),
    dict(question="q1", name="W_hh not transposed",
         code=_sub(_FORWARD, "h_prev @ W_hh.T", "h_prev @ W_hh")),  # a shape error in the public case
    dict(question="q1", name="the forget gate multiplies h_prev instead of c_prev",
         code=_sub(_FORWARD, "c = f * c_prev + i * g", "c = f * h_prev + i * g")),
    dict(question="q1", name="cache holds the pre-activations instead of the gates",
         code=_sub(_FORWARD, "gates = np.concatenate([i, f, g, o], axis=1)", "gates = a")),
    dict(question="q1", name="cache holds c instead of tanh(c)",
         code=_sub(_FORWARD, "gates, tanh_c)", "gates, c)")),
    # q2: the backward step, graded with the reference forward. Public case: dh and dc both non-zero.
    dict(question="q2", name="dh not routed into the cell (dc_t = dc)",
         code=_sub(_BACKWARD, "dc_t = dc + dh * o * (1 - tanh_c**2)", "dc_t = dc")),
    dict(question="q2", name="the tanh' of the read-out forgotten (dc + dh * o)",
         code=_sub(_BACKWARD, "dc_t = dc + dh * o * (1 - tanh_c**2)", "dc_t = dc + dh * o")),
    dict(question="q2", name="dc_prev without the forget gate",
         code=_sub(_BACKWARD, "dc_prev = dc_t * f", "dc_prev = dc_t")),
    dict(question="q2", name="sigmoid derivative on the tanh block g",
         code=_sub(_BACKWARD, "dc_t * i * (1 - g**2)", "dc_t * i * g * (1 - g)")),
    dict(question="q2", name="output gate gradient uses c instead of tanh(c)",
         code=_sub(_BACKWARD, "do = dh * tanh_c", "do = dh * np.arctanh(tanh_c)")),
    dict(question="q2", name="db_h not summed over the batch",
         code=_sub(_BACKWARD, "da.sum(axis=0)", "da")),
    dict(question="q2", name="dW_xh and dW_hh transposed (x.T @ da)",
         code=_sub(_BACKWARD, "da.T @ x, da.T @ h_prev", "x.T @ da, h_prev.T @ da")),
    dict(question="q2", name="blocks of da stacked in the order i, f, o, g",
         code=_sub(_BACKWARD, "dc_t * i * (1 - g**2),\n                         do * o * (1 - o)]",
                   "do * o * (1 - o),\n                         dc_t * i * (1 - g**2)]")),
    # q3: the reach of the forget path. Public cases: b_f = 2 (55 steps) and 0.5**2 exactly at threshold 0.25.
    dict(question="q3", name="off by one (the last lag above the threshold)",
         code=_sub(_REACH, "    return lag\n", "    return lag - 1\n")),
    dict(question="q3", name="stops at g <= threshold instead of g < threshold",
         code=_sub(_REACH, "while g >= threshold", "while g > threshold")),
    dict(question="q3", name="multiplies by b_f instead of sigmoid(b_f)",
         code=_sub(_REACH, "    f, g, lag = sigmoid(b_f), 1.0, 0\n    while g >= threshold:\n        g *= f\n"
                   "        lag += 1\n    return lag\n",
                   "    g = 1.0\n    for lag in range(1000):\n        if g < threshold:\n"
                   "            return lag\n        g *= b_f\n    return 1000\n")),
    dict(question="q3", name="predictions copied from the chapter's 1e-3 (10 and 23)",
         code=_sub(_sub(_REACH, "reach_b0 = 7", "reach_b0 = 10"), "reach_b1 = 15", "reach_b1 = 23"),
         partial=True),
    dict(question="q3", name="predictions off by one (6 and 14)",
         code=_sub(_sub(_REACH, "reach_b0 = 7", "reach_b0 = 6"), "reach_b1 = 15", "reach_b1 = 14"),
         partial=True),
]
