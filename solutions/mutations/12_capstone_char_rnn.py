"""Typical wrong answers to the Part I capstone (see tools/mutations.py): each must fail its tests.

Each mutation replaces the whole solution cell of its question, so the cell's correct functions are repeated
around the one that is wrong. Only the mutations of questions 1 to 4 run the notebook's training cell (with
the wrong answer in place) and the hidden training test of question 5; they are kept few.
"""

_FORWARD = '''def embedding_forward(ids, W_embed):
    return {embed}


def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
    h = {step}
    return h, (x, h_prev, W_xh, W_hh, h)


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    B, T, _ = x.shape
    hs = np.zeros((B, T, h0.shape[1]))
    h = h0
    for t in range(1, T + 1):
        {loop}
    return hs, (x, h0, W_xh, W_hh, hs)


def affine_forward(hs, W_hy, b_y):
    return {affine}
'''


_LOOP_T = "h, _ = rnn_step_forward(x[:, t - 1], h, W_xh, W_hh, b_h)\n        hs[:, t - 1] = h"


def _forward(embed="W_embed[ids], (ids, W_embed.shape[0])",
             step="np.tanh(x @ W_xh.T + h_prev @ W_hh.T + b_h)", loop=_LOOP_T,
             affine="hs @ W_hy.T + b_y, (hs, W_hy)"):
    return _FORWARD.format(embed=embed, step=step, loop=loop, affine=affine)


_LOSS = '''def softmax_cross_entropy(y, targets):
    B, T, V = y.shape
    z = {shift}
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    b, t = np.meshgrid(np.arange(B), np.arange(T), indexing="ij")
    loss = -log_p[b, t, targets].mean()
    dy = np.exp(log_p)
    {target}
    return float(loss), dy / {N}
'''


def _loss(shift="y - y.max(axis=-1, keepdims=True)", target="dy[b, t, targets] -= 1.0", N="(B * T)"):
    return _LOSS.format(shift=shift, target=target, N=N)


_BACKWARD = '''def affine_backward(dy, cache):
    hs, W_hy = cache
    H = hs.shape[-1]
    dW_hy = dy.reshape(-1, dy.shape[-1]).T @ hs.reshape(-1, H)
    return dy @ W_hy, dW_hy, dy.sum(axis=(0, 1))


def rnn_step_backward(dh, cache):
    x, h_prev, W_xh, W_hh, h = cache
    delta = {delta}
    return delta @ W_xh, delta @ W_hh, delta.T @ x, delta.T @ h_prev, delta.sum(axis=0)


def rnn_backward(dhs, cache):
    x, h0, W_xh, W_hh, hs = cache
    B, T, H = dhs.shape
    dx = np.zeros(x.shape)
    dW_xh, dW_hh, db_h = np.zeros(W_xh.shape), np.zeros(W_hh.shape), np.zeros(H)
    dh_next = np.zeros((B, H))
    for t in range(T, 0, -1):
        h_prev = {h_prev}
        step_cache = (x[:, t - 1], h_prev, W_xh, W_hh, hs[:, t - 1])
        dx[:, t - 1], dh_next, dW_xh_t, dW_hh_t, db_h_t = rnn_step_backward({upstream}, step_cache)
        dW_xh {acc} dW_xh_t
        dW_hh {acc} dW_hh_t
        db_h {acc} db_h_t
    return dx, dh_next, dW_xh, dW_hh, db_h


def embedding_backward(dx, cache):
    ids, V = cache
    dW_embed = np.zeros((V, dx.shape[-1]))
    {embed}
    return dW_embed
'''


def _backward(delta="dh * (1.0 - h**2)", h_prev="h0 if t == 1 else hs[:, t - 2]",
              upstream="dhs[:, t - 1] + dh_next", acc="+=", embed="np.add.at(dW_embed, ids, dx)"):
    return _BACKWARD.format(delta=delta, h_prev=h_prev, upstream=upstream, acc=acc, embed=embed)


_MODEL = '''def loss_and_grads(params, inputs, targets):
    p = params
    x, emb_cache = embedding_forward(inputs, p["W_embed"])
    h0 = np.zeros((inputs.shape[0], p["W_hh"].shape[0]))
    hs, rnn_cache = rnn_forward(x, h0, p["W_xh"], p["W_hh"], p["b_h"])
    y, out_cache = affine_forward(hs, p["W_hy"], p["b_y"])
    loss, dy = softmax_cross_entropy(y, targets)
    dhs, dW_hy, db_y = affine_backward(dy, out_cache)
    dx, _, dW_xh, dW_hh, db_h = rnn_backward(dhs, rnn_cache)
    dW_embed = {embed}
    grads = {{"W_embed": dW_embed, "W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h, "W_hy": dW_hy, "b_y": db_y}}
    return loss, grads


predicted_initial_loss = {prediction}
'''


def _model(embed="embedding_backward(dx, emb_cache)", prediction="np.log(V)"):
    return _MODEL.format(embed=embed, prediction=prediction)


_TRAINING = '''def get_batch(ids, batch_size, seq_len, rng):
    starts = rng.integers(0, {high}, size=batch_size)
    windows = ids[starts[:, None] + np.arange(seq_len + 1)]
    return {pair}


def clip_gradients_(grads, max_norm):
    norm = float(np.sqrt(sum((g**2).sum() for g in grads.values())))
    {clip}
    return norm


def adagrad_update_(params, grads, memory, learning_rate):
    for name, g in grads.items():
        {memory}
        params[name] -= learning_rate * g / (np.sqrt(memory[name]) + 1e-8)


def train(params, train_ids, steps, batch_size=16, seq_len=32, learning_rate=0.1, max_norm=1.0, seed=0):
    rng = np.random.default_rng(seed)
    memory = {{name: np.zeros_like(value) for name, value in params.items()}}
    losses = []
    for _ in range(steps):
        {loop}
    return losses
'''

_LOOP = '''inputs, targets = get_batch(train_ids, batch_size, seq_len, rng)
        loss, grads = loss_and_grads(params, inputs, targets)
        clip_gradients_(grads, max_norm)
        adagrad_update_(params, grads, memory, learning_rate)
        losses.append(float(loss))'''


_CLIP = "scale = min(1.0, max_norm / (norm + 1e-6))\n    for g in grads.values():\n        g *= scale"


def _training(high="len(ids) - seq_len", pair="windows[:, :-1], windows[:, 1:]", clip=_CLIP,
              memory="memory[name] += g * g", loop=_LOOP):
    return _TRAINING.format(high=high, pair=pair, clip=clip, memory=memory, loop=loop)


_SAMPLE = '''def sample(params, first_id, length, temperature=1.0, seed=0):
    p, rng = params, np.random.default_rng(seed)
    {vocab}h = np.zeros((1, p["W_hh"].shape[0]))
    w, out = first_id, []
    for _ in range(length):
        {state}h, _ = rnn_step_forward(p["W_embed"][[{read}]], h, p["W_xh"], p["W_hh"], p["b_h"])
        z = {logits}
        prob = np.exp(z - z.max())
        w = {draw}
        out.append(w)
    return np.array(out, dtype=np.int64)


first_id = int(vocab.encode("T")[0])
written = sample(params, first_id, 300, temperature=0.8, seed=0)
print("fill in question 6" if written is None else "T" + vocab.decode(written))
'''


def _sample(state="", read="w", logits='(h[0] @ p["W_hy"].T + p["b_y"]) / temperature',
            draw="int(rng.choice(V, p=prob / prob.sum()))", vocab='V = p["W_hy"].shape[0]\n    '):
    return _SAMPLE.format(state=state, read=read, logits=logits, draw=draw, vocab=vocab)


MUTATIONS = [
    # q1: public cases: a non-zero h_prev and a non-symmetric W_hh, T = 4 from a non-zero h0, V != H.
    dict(question="q1", name="W_hh transposed in the step (h_prev @ W_hh)",
         code=_forward(step="np.tanh(x @ W_xh.T + h_prev @ W_hh + b_h)")),
    dict(question="q1", name="hs[:, t - 1] stores h_{t-1} (off by one: h0 first)",
         code=_forward(loop="hs[:, t - 1] = h\n        "
                            "h, _ = rnn_step_forward(x[:, t - 1], h, W_xh, W_hh, b_h)")),
    dict(question="q1", name="state not carried: every step starts from h0",
         code=_forward(loop=_LOOP_T.replace("], h, W_xh", "], h0, W_xh"))),
    dict(question="q1", name="embedding cache holds W_embed instead of V",
         code=_forward(embed="W_embed[ids], (ids, W_embed)")),
    # q2: public case: B = 2, T = 3, a logit of 1000, every target distinct from the argmax.
    dict(question="q2", name="no max shift (exp overflows)", code=_loss(shift="y")),
    dict(question="q2", name="dy divided by B only (the loss summed over time)", code=_loss(N="B")),
    dict(question="q2", name="dy without the one-hot target (p instead of p - e)", code=_loss(target="pass")),
    dict(question="q2", name="max subtracted from y in place (modifies the input)",
         code=_loss(shift="y.__isub__(y.max(axis=-1, keepdims=True))")),
    # q3: public cases: central differences for every gradient, T = 4 from a non-zero h0, repeated ids.
    dict(question="q3", name="tanh derivative missing (delta = dh)", code=_backward(delta="dh")),
    dict(question="q3", name="no gradient from later steps (dh_next dropped)",
         code=_backward(upstream="dhs[:, t - 1]")),
    dict(question="q3", name="parameter gradients not summed over the steps", code=_backward(acc="=")),
    dict(question="q3", name="step t's cache holds h_t as h_{t-1}", code=_backward(h_prev="hs[:, t - 1]")),
    dict(question="q3", name="repeated ids counted once (dW_embed[ids] += dx)",
         code=_backward(embed="dW_embed[ids] += dx")),
    # q4: public case: central differences for every parameter of a small model (reference layers).
    dict(question="q4", name="no gradient for W_embed (zeros)",
         code=_model(embed="np.zeros_like(p['W_embed'])")),
    dict(question="q4", name="predicts a loss of log2 V (bits, not nats)",
         code=_model(prediction="np.log2(V)"), partial=True),
    # q5: public cases: windows of 0..49, clipping a norm of 5 and of 0.5, two Adagrad calls, three steps of
    # train with gradients of norms 10, 0.5 and 2 (a stand-in model).
    dict(question="q5", name="targets are the inputs (not shifted by one)",
         code=_training(pair="windows[:, :-1], windows[:, :-1]")),
    dict(question="q5", name="start drawn below len(ids) - seq_len - 1 (last window never drawn)",
         code=_training(high="len(ids) - seq_len - 1")),
    dict(question="q5", name="clips every entry to [-c, c] instead of the global norm",
         code=_training(clip="for g in grads.values():\n        np.clip(g, -max_norm, max_norm, out=g)")),
    dict(question="q5", name="rescales to max_norm even when the norm is smaller",
         code=_training(clip="for g in grads.values():\n        g *= max_norm / norm")),
    dict(question="q5", name="Adagrad memory not accumulated (G = g * g)",
         code=_training(memory="memory[name][...] = g * g")),
    dict(question="q5", name="no clipping in train", code=_training(loop=_LOOP.replace(
        "        clip_gradients_(grads, max_norm)\n", ""))),
    dict(question="q5", name="the same batch at every step (rng made inside the loop)",
         code=_training(loop=_LOOP.replace("seq_len, rng)", "seq_len, np.random.default_rng(seed))"))),
    # q6: public cases: a Markov model at temperatures 0.5 and 2, a model with memory, two seeds.
    dict(question="q6", name="argmax instead of a draw", code=_sample(draw="int(np.argmax(prob))")),
    dict(question="q6", name="temperature multiplies the logits",
         code=_sample(logits='(h[0] @ p["W_hy"].T + p["b_y"]) * temperature')),
    dict(question="q6", name="the first id read at every step (draws not fed back)",
         code=_sample(read="first_id")),
    dict(question="q6", name="the notebook's global V (103) instead of the model's",
         code=_sample(vocab="")),
    dict(question="q6", name="state reset at every step",
         code=_sample(state='h = np.zeros((1, p["W_hh"].shape[0]))\n        ')),
]
