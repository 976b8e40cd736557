"""Typical wrong answers to exercise 01 (see tools/mutations.py): each must fail the tests named in it."""

MUTATIONS = [
    # q1: the step. Public case: random non-zero h_prev and a non-symmetric (triangular) W_hh.
    dict(question="q1", name="W_hh transposed (h_prev @ W_hh)",
         code="def rnn_step(x, h_prev, W_xh, W_hh, b_h):\n"
              "    return np.tanh(x @ W_xh.T + h_prev @ W_hh + b_h)\n"),
    dict(question="q1", name="recurrent term missing",
         code="def rnn_step(x, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x @ W_xh.T + b_h)\n"),
    dict(question="q1", name="bias missing",
         code="def rnn_step(x, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x @ W_xh.T + h_prev @ W_hh.T)\n"),
    dict(question="q1", name="ReLU instead of tanh",
         code="def rnn_step(x, h_prev, W_xh, W_hh, b_h):\n"
              "    return np.maximum(0, x @ W_xh.T + h_prev @ W_hh.T + b_h)\n"),
    dict(question="q1", name="modifies h_prev in place",
         code="def rnn_step(x, h_prev, W_xh, W_hh, b_h):\n"
              "    h_prev[...] = np.tanh(x @ W_xh.T + h_prev @ W_hh.T + b_h)\n    return h_prev\n"),
    # q2: the loop. Public case: T = 5, checks h_1, h_2 and h_T.
    dict(question="q2", name="stores h0 as the first state (off by one)",
         code="def run_rnn(x, h0, W_xh, W_hh, b_h):\n"
              "    B, T, _ = x.shape\n    hs = np.zeros((B, T, h0.shape[1]))\n    h = h0\n"
              "    for t in range(T):\n        hs[:, t] = h\n        h = rnn_step(x[:, t], h, W_xh, W_hh, b_h)\n"
              "    return hs\n"),
    dict(question="q2", name="every step starts from h0 (state not carried)",
         code="def run_rnn(x, h0, W_xh, W_hh, b_h):\n"
              "    return np.stack([rnn_step(x[:, t], h0, W_xh, W_hh, b_h) for t in range(x.shape[1])], 1)\n"),
    dict(question="q2", name="returns only the last state",
         code="def run_rnn(x, h0, W_xh, W_hh, b_h):\n    h = h0\n"
              "    for t in range(x.shape[1]):\n        h = rnn_step(x[:, t], h, W_xh, W_hh, b_h)\n    return h\n"),
    # q3: the stacked matrix. Public case: distinct values in the two blocks and a state-only input.
    dict(question="q3", name="blocks stacked in the wrong order",
         code="def stack_weights(W_hh, W_xh):\n    return np.concatenate([W_xh, W_hh], axis=1)\n\n\n"
              "def stacked_step(x, h_prev, W, b_h):\n"
              "    return np.tanh(np.concatenate([x, h_prev], axis=1) @ W.T + b_h)\n"),
    dict(question="q3", name="stacked_step concatenates [x, h_prev] against [W_hh W_xh]",
         code="def stack_weights(W_hh, W_xh):\n    return np.concatenate([W_hh, W_xh], axis=1)\n\n\n"
              "def stacked_step(x, h_prev, W, b_h):\n"
              "    return np.tanh(np.concatenate([x, h_prev], axis=1) @ W.T + b_h)\n"),
    # q4: the parameter count. Public cases: T = 1 and T = 5, distinct D, H, V.
    dict(question="q4", name="counts the weights once per time step (times T)",
         code="def param_count(D, H, V, T):\n    return T * (H * D + H * H + H + V * H + V)\n"),
    dict(question="q4", name="forgets the biases",
         code="def param_count(D, H, V, T):\n    return H * D + H * H + V * H\n"),
    dict(question="q4", name="W_hh counted as H * D",
         code="def param_count(D, H, V, T):\n    return H * D + H * D + H + V * H + V\n"),
    # q5: the pulse. Public case: b_h != 0 (silence is not the zero state).
    dict(question="q5", name="compares the pulse with zeros instead of the silence run",
         code="def pulse_effect(W_xh, W_hh, b_h, T):\n    pulse = np.zeros((1, T, 1))\n    pulse[0, 0, 0] = 1.0\n"
              "    hs = run_rnn(pulse, np.zeros((1, W_hh.shape[0])), W_xh, W_hh, b_h)\n"
              "    return np.linalg.norm(hs[0], axis=1)\n\n\n"
              "steps_remembered_without_recurrence = 1\neffect_shrinks = True\n"),
    dict(question="q5", name="pulse at the last step instead of the first",
         code="def pulse_effect(W_xh, W_hh, b_h, T):\n    pulse = np.zeros((1, T, 1))\n    pulse[0, -1, 0] = 1.0\n"
              "    h0 = np.zeros((1, W_hh.shape[0]))\n"
              "    d = run_rnn(pulse, h0, W_xh, W_hh, b_h) - run_rnn(0 * pulse, h0, W_xh, W_hh, b_h)\n"
              "    return np.linalg.norm(d[0], axis=1)\n\n\n"
              "steps_remembered_without_recurrence = 1\neffect_shrinks = True\n"),
    dict(question="q5", name="predicts 0 steps remembered without recurrence",
         code="def pulse_effect(W_xh, W_hh, b_h, T):\n    pulse = np.zeros((1, T, 1))\n    pulse[0, 0, 0] = 1.0\n"
              "    h0 = np.zeros((1, W_hh.shape[0]))\n"
              "    d = run_rnn(pulse, h0, W_xh, W_hh, b_h) - run_rnn(0 * pulse, h0, W_xh, W_hh, b_h)\n"
              "    return np.linalg.norm(d[0], axis=1)\n\n\n"
              "steps_remembered_without_recurrence = 0\neffect_shrinks = True\n",
         partial=True),
    dict(question="q5", name="predicts that the effect does not shrink",
         code="def pulse_effect(W_xh, W_hh, b_h, T):\n    pulse = np.zeros((1, T, 1))\n    pulse[0, 0, 0] = 1.0\n"
              "    h0 = np.zeros((1, W_hh.shape[0]))\n"
              "    d = run_rnn(pulse, h0, W_xh, W_hh, b_h) - run_rnn(0 * pulse, h0, W_xh, W_hh, b_h)\n"
              "    return np.linalg.norm(d[0], axis=1)\n\n\n"
              "steps_remembered_without_recurrence = 1\neffect_shrinks = False\n",
         partial=True),
]
