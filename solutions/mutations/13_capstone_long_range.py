"""Typical wrong answers to exercise 13 (see tools/mutations.py): each must fail the tests named in it."""

# ------------------------------------------------------------------------------------------------ q1
_METRICS = """def query_accuracy(y, target):
{accuracy}


def chance_accuracy(target):
{chance}
"""
_ACCURACY = """    query = target > 0
    return float((y.argmax(-1)[query] == target[query]).double().mean())"""
_CHANCE = """    keys = target[target > 0]
    return float(torch.bincount(keys).max()) / len(keys)"""


def _metrics(accuracy=_ACCURACY, chance=_CHANCE):
    return _METRICS.format(accuracy=accuracy, chance=chance)


# ------------------------------------------------------------------------------------------------ q2
_STEP = """def tbptt_step(model, batch, h, optimizer, clip_norm):
    x_w, target_w, reset = batch
    {reset}
    y, h = model(x_w, h, return_state=True)
    loss = F.cross_entropy(y.reshape(-1, y.shape[-1]), target_w.reshape(-1))
    {update}
    return {result}
"""
_UPDATE = """optimizer.zero_grad()
    loss.backward()
    norm = clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()"""


def _step(reset="h = None if reset else h", update=_UPDATE, result="loss.item(), norm, h.detach()"):
    return _STEP.format(reset=reset, update=update, result=result)


# ------------------------------------------------------------------------------------------------ q3
_CLIP = """def clip_global_norm_(parameters, max_norm):
{body}


fraction_clipped = {fraction}
"""
_CLIP_BODY = """    grads = [p.grad for p in parameters if p.grad is not None]
    norm = float(torch.sqrt(sum((g.detach() ** 2).sum() for g in grads)))
    scale = {scale}
    for g in grads:
        g.detach().mul_(scale)
    return norm"""
_FRACTION = "float(np.mean(np.array(baseline_history.grad_norm) > CLIP))"
_CLIP_OK = _CLIP_BODY.format(scale="min(1.0, max_norm / (norm + 1e-6))")


def _clip(body=_CLIP_OK, fraction=_FRACTION):
    return _CLIP.format(body=body, fraction=fraction)


# ------------------------------------------------------------------------------------------------ q4
_REMEDY = """def make_model(seed):
    return {model}


learning_rate = {learning_rate}
remedy_notes = "tried it"

model = make_model(seed=0)
history = fit(model, stream_windows(x_train, target_train, B, k),
              torch.optim.Adam(model.parameters(), lr=learning_rate), steps=STEPS,
              loss_fn=carried_state(), clip_norm=CLIP)
"""
_SHARED = """_model = Recaller(seed=0, cell="gru")


def make_model(seed):
    return _model


learning_rate = 0.01
remedy_notes = "tried it"

model = make_model(seed=0)
history = fit(model, stream_windows(x_train, target_train, B, k),
              torch.optim.Adam(model.parameters(), lr=learning_rate), steps=STEPS,
              loss_fn=carried_state(), clip_norm=CLIP)
"""

# ------------------------------------------------------------------------------------------------ q5
_REACH = """def fraction_with_gradient(x, k):
    shared = []
    for row in x:
        last_key = None
        for j, w in enumerate(row):
            if w < N_KEY:
                last_key = j
            elif w == QUERY:
                {count}
    return float(np.mean(shared))


short_k_verdict = "{verdict}"
"""
_SAME_WINDOW = """if last_key is not None:
                    shared.append(last_key // k == j // k)"""

MUTATIONS = [
    # q1: public case, 3 queries among 10 steps (all-steps accuracy 0.8, query accuracy 1/3), and query
    # targets 3, 1, 3, 3, 2 (chance 0.6, not 1/N_KEY = 0.25).
    dict(question="q1", name="accuracy over all steps, blanks included",
         code=_metrics(accuracy="    return float((y.argmax(-1) == target).double().mean())")),
    dict(question="q1", name="returns a tensor instead of a float",
         code=_metrics(accuracy="    query = target > 0\n"
                                "    return (y.argmax(-1)[query] == target[query]).double().mean()")),
    dict(question="q1", name="chance is 1/N_KEY whatever the keys", code=_metrics(chance="    return 1.0 / N_KEY")),
    # q2: public case, 6 windows of a 2-row stream (reset at windows 1 and 4), clipping active at window 1.
    dict(question="q2", name="zero_grad after backward (nothing is learnt)",
         code=_step(update="loss.backward()\n    optimizer.zero_grad()\n"
                           "    norm = clip_grad_norm_(model.parameters(), clip_norm)\n"
                           "    optimizer.step()")),
    dict(question="q2", name="state not detached at the window boundary",
         code=_step(result="loss.item(), norm, h")),
    dict(question="q2", name="clip after optimizer.step()",
         code=_step(update="optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
                           "    norm = clip_grad_norm_(model.parameters(), clip_norm)")),
    dict(question="q2", name="norm measured after clipping",
         code=_step(update=_UPDATE + "\n    norm = float(torch.sqrt(sum((p.grad ** 2).sum() "
                                     "for p in model.parameters())))")),
    dict(question="q2", name="returns tensors instead of floats",
         code=_step(result="loss.detach(), norm, h.detach()")),
    dict(question="q2", name="ignores reset (carries the state into a new pass)", code=_step(reset="pass")),
    # q3: public case, gradients (3, 0) and (0, 4) passed as a generator: each below 4.5, together 5.
    dict(question="q3", name="each parameter clipped on its own",
         code=_clip(body="""    params = list(parameters)
    norm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in params if p.grad is not None)))
    for p in params:
        if p.grad is not None:
            p.grad.mul_(min(1.0, max_norm / (float(p.grad.norm()) + 1e-6)))
    return norm""")),
    dict(question="q3", name="reads the generator twice (nothing is clipped)",
         code=_clip(body="""    norm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in parameters
                                 if p.grad is not None)))
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(min(1.0, max_norm / (norm + 1e-6)))
    return norm""")),
    dict(question="q3", name="rescales to norm c also below the threshold",
         code=_clip(body=_CLIP_BODY.format(scale="max_norm / (norm + 1e-6)"))),
    dict(question="q3", name="fraction_clipped is a count",
         code=_clip(fraction=_FRACTION.replace("np.mean", "np.sum"))),
    # q4: the public test reads the model trained in the cell on a fresh held-out stream (threshold 0.9).
    dict(question="q4", name="no remedy: the vanilla tanh RNN",
         code=_REMEDY.format(model="Recaller(seed=seed)", learning_rate="0.01")),
    dict(question="q4", name="a GRU with a learning rate 100 times too small",
         code=_REMEDY.format(model='Recaller(seed=seed, cell="gru")', learning_rate="1e-4")),
    # q4: make_model must build a new model at every call, with initial weights drawn from its seed.
    dict(question="q4", name="ignores the seed (every seed builds the same weights)",
         code=_REMEDY.format(model='Recaller(cell="gru")', learning_rate="0.01")),
    dict(question="q4", name="returns one shared global model", code=_SHARED),
    # q5: public case, two rows with windows of 4 steps: 3 of the 4 keyed queries share a window with the key.
    dict(question="q5", name="lag < k taken as 'same window' (ignores where the windows start)",
         code=_REACH.format(count="""if last_key is not None:
                    shared.append(j - last_key < k)""", verdict="b")),
    dict(question="q5", name="counts the queries without a key in their row",
         code=_REACH.format(count="shared.append(last_key is not None and last_key // k == j // k)",
                            verdict="b")),
    dict(question="q5", name="verdict (a): the forward pass carries the key", partial=True,
         code=_REACH.format(count=_SAME_WINDOW, verdict="a")),
]
