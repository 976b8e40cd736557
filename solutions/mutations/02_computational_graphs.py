"""Typical wrong answers to exercise 02 (see tools/mutations.py): each must fail the tests named in it."""


def _many_to_one(start="h0", loop="range(x.shape[1])", carry="h", out="h @ W_hy.T + b_y"):
    return (f"def many_to_one(x, h0, W_xh, W_hh, b_h, W_hy, b_y):\n    h = {start}\n"
            f"    for t in {loop}:\n        h = rnn_step(x[:, t], {carry}, W_xh, W_hh, b_h)\n"
            f"    return {out}\n")


def _n_losses(**changes):
    counts = {"one_to_one": "1", "many_to_one": "1", "one_to_many": "T", "many_to_many": "T", "seq2seq": "T"}
    counts.update(changes)
    body = ", ".join(f'"{k}": {v}' for k, v in counts.items())
    return f"def n_losses(topology, T):\n    return {{{body}}}[topology]\n"


def _generate(feed="W_embed[token]", state="h", tokens="np.stack(tokens, axis=1)"):
    return ("def generate(x, W_xh, W_hh, b_h, W_hy, b_y, W_embed, steps):\n"
            "    B, H = x.shape[0], W_hh.shape[0]\n    h, inp = np.zeros((B, H)), x\n    ys, tokens = [], []\n"
            f"    for _ in range(steps):\n        h = rnn_step(inp, {state}, W_xh, W_hh, b_h)\n"
            "        y = h @ W_hy.T + b_y\n        token = y.argmax(axis=1)\n"
            f"        ys.append(y)\n        tokens.append(token)\n        inp = {feed}\n"
            f"    return np.stack(ys, axis=1), {tokens}\n")


def _depends(general="list(range(1, t + 1))", without="[t]"):
    return (f"def depends_on(t, T):\n    return {general}\n\n\n"
            f"def depends_on_without_recurrence(t, T):\n    return {without}\n")


_LAST = "def last_states(hs, lengths):\n    return {last}\n\n\n"
_GOOD_LAST = "hs[np.arange(len(hs)), np.asarray(lengths) - 1]"
_MEAN = ("def masked_mean(losses, lengths):\n"
         "    mask = np.arange(losses.shape[1]) < np.asarray(lengths)[:, None]\n    return {mean}\n")
_GOOD_MEAN = "float((losses * mask).sum() / mask.sum())"


def _padded(last=_GOOD_LAST, mean=_GOOD_MEAN, mask=None):
    code = _LAST.format(last=last) + _MEAN.format(mean=mean)
    if mask:
        code = code.replace("np.arange(losses.shape[1]) < np.asarray(lengths)[:, None]", mask)
    return code


MUTATIONS = [
    # q1: many-to-one. Public case: random x and h0, T = 3, an upper-triangular W_hh.
    dict(question="q1", name="reads out the first state h_1",
         code=_many_to_one(loop="range(1)")),
    dict(question="q1", name="starts from zeros instead of h0", code=_many_to_one(start="np.zeros_like(h0)")),
    dict(question="q1", name="every step starts from h0 (state not carried)", code=_many_to_one(carry="h0")),
    dict(question="q1", name="forgets b_y", code=_many_to_one(out="h @ W_hy.T")),
    dict(question="q1", name="W_hy not transposed", code=_many_to_one(out="h @ W_hy + b_y")),
    dict(question="q1", name="returns the output of every step (B, T, V)",
         code="def many_to_one(x, h0, W_xh, W_hh, b_h, W_hy, b_y):\n    h, ys = h0, []\n"
              "    for t in range(x.shape[1]):\n        h = rnn_step(x[:, t], h, W_xh, W_hh, b_h)\n"
              "        ys.append(h @ W_hy.T + b_y)\n    return np.stack(ys, axis=1)\n"),
    # q2: loss counts. Public case: every topology at T = 4.
    dict(question="q2", name="many-to-one counts a loss per step (T)", code=_n_losses(many_to_one="T")),
    dict(question="q2", name="one-to-many counts one loss", code=_n_losses(one_to_many="1")),
    dict(question="q2", name="seq2seq counts the encoder's steps too (2T)", code=_n_losses(seq2seq="2 * T")),
    dict(question="q2", name="one-to-one counts T", code=_n_losses(one_to_one="T")),
    dict(question="q2", name="returns floats", code=_n_losses(one_to_one="1.0", many_to_one="1.0",
                                                             one_to_many="float(T)", many_to_many="float(T)",
                                                             seq2seq="float(T)")),
    # q3: the generator. Public case: random weights, steps = 4; checks y_1, y_2 and every step.
    dict(question="q3", name="feeds x at every step", code=_generate(feed="x")),
    dict(question="q3", name="feeds zeros after step 1", code=_generate(feed="np.zeros_like(x)")),
    dict(question="q3", name="state not carried (h_0 = 0 at every step)",
         code=_generate(state="np.zeros((B, H))")),
    dict(question="q3", name="feeds the one-hot vector through W_embed.T (V != D)",
         code=_generate(feed="np.eye(W_embed.shape[0])[token] @ W_embed.T")),
    dict(question="q3", name="tokens returned as floats", code=_generate(tokens="np.stack(tokens, 1).astype(float)")),
    dict(question="q3", name="tokens are the inputs fed (shifted by one step)",
         code=_generate(tokens="np.stack([np.zeros(B, dtype=int)] + tokens[:-1], axis=1)")),
    # q4: dependencies. Public case: t = 3, T = 5, with and without recurrence.
    dict(question="q4", name="steps counted from 0", code=_depends(general="list(range(t))", without="[t - 1]")),
    dict(question="q4", name="y_t sees every input (not causal)", code=_depends(general="list(range(1, T + 1))")),
    dict(question="q4", name="y_t depends on x_t only", code=_depends(general="[t]")),
    dict(question="q4", name="without recurrence, still every earlier step",
         code=_depends(without="list(range(1, t + 1))")),
    dict(question="q4", name="without recurrence, no input at all", code=_depends(without="[]")),
    dict(question="q4", name="steps in decreasing order", code=_depends(general="list(range(t, 0, -1))")),
    # q5: padded batch. Public case: lengths [2, 4] (rows end at different steps), the pads hold 100.
    dict(question="q5", name="state at T_max instead of the last real state", code=_padded(last="hs[:, -1]")),
    dict(question="q5", name="state one step after the last real one (hs[b, T_b])",
         code=_padded(last="hs[np.arange(len(hs)), np.minimum(np.asarray(lengths), hs.shape[1] - 1)]")),
    dict(question="q5", name="averages over the padded positions too", code=_padded(mean="float(losses.mean())")),
    dict(question="q5", name="divides by B * T_max", code=_padded(mean="float((losses * mask).sum() / mask.size)")),
    dict(question="q5", name="mean of the per-sequence means",
         code=_padded(mean="float(np.mean((losses * mask).sum(1) / mask.sum(1)))")),
    dict(question="q5", name="masks the wrong side (pads taken at the start)",
         mask="np.arange(losses.shape[1]) >= losses.shape[1] - np.asarray(lengths)[:, None]",
         code=None),
    dict(question="q5", name="mask inverted (averages the pads)",
         code=None, mask="np.arange(losses.shape[1]) >= np.asarray(lengths)[:, None]"),
    dict(question="q5", name="returns a 0-d array, not a float",
         code=_padded(mean="np.array((losses * mask).sum() / mask.sum())")),
]

for _m in MUTATIONS:  # the two mask mutations build their code from the mask
    if _m.get("code") is None:
        _m["code"] = _padded(mask=_m.pop("mask"))
