"""Typical wrong answers to exercise 06 (see tools/mutations.py): each must fail the tests named in it."""

_DECODE = """def decode(decoder, first_tokens, targets, ratio, generator):
    B, T = targets.shape
    tokens, h = first_tokens, None
    all_logits, inputs = [], []
    for t in range(T):
        inputs.append(tokens)
        logits, h = decoder.step(tokens, h)
        all_logits.append(logits)
        if t + 1 < T:
            use_target = {draw}
            tokens = torch.where(use_target, targets[:, {index}], logits.argmax(dim=-1))
    return torch.stack(all_logits, dim=1), torch.stack(inputs, dim=1)


start, target = counting(4, 6, seed=0)
"""


def _decode(draw="torch.rand(B, generator=generator) < ratio", index="t"):
    return _DECODE.format(draw=draw, index=index)


_ACC = """generator = torch.Generator().manual_seed(0)
logits_tf, _ = decode(FlawedCounter(), start, target, 1.0, generator)
logits_free, _ = decode(FlawedCounter(), start, target, 0.0, generator)
accuracy_teacher_forced = {tf}
accuracy_free_running = {free}
"""
_TF = "(logits_tf.argmax(-1) == target).double().mean().item()"
_FREE = "(logits_free.argmax(-1) == target).double().mean().item()"

MUTATIONS = [
    # q1: public cases: a decoder that adds 3, with ratio 1 (reads the targets) and ratio 0 (reads itself).
    dict(question="q1", name="reads targets[:, t] (the token it should predict)", code=_decode(index="t + 1 if t + 1 < T else t")),
    dict(question="q1", name="ratio inverted (rand > ratio)",
         code=_decode(draw="torch.rand(B, generator=generator) > ratio")),
    dict(question="q1", name="draws with torch's global random state", code=_decode(draw="torch.rand(B) < ratio")),
    # q2: the schedule.
    dict(question="q2", name="exp(i * k) instead of exp(i / k)",
         code="def inverse_sigmoid(i, k):\n    return k / (k + np.exp(np.asarray(i, dtype=np.float64) * k))\n\n\n"
              "def first_below_half(k):\n    return int(np.floor(k * np.log(k))) + 1\n"),
    dict(question="q2", name="first step at or below 1/2 (floor(k ln k))",
         code="def inverse_sigmoid(i, k):\n    return k / (k + np.exp(np.asarray(i, dtype=np.float64) / k))\n\n\n"
              "def first_below_half(k):\n    return int(np.floor(k * np.log(k)))\n"),
    # q3: the measurement; public check only its form.
    dict(question="q3", name="the two accuracies swapped", code=_ACC.format(tf=_FREE, free=_TF), partial=True),
    dict(question="q3", name="accuracy of the fed inputs instead of the predictions",
         code=_ACC.format(tf="(decode(FlawedCounter(), start, target, 1.0, generator)[1] == target).double().mean().item()",
                          free=_FREE), partial=True),
    # q4: predictions; public check only their form.
    dict(question="q4", name="verdict (a): noisier random choices",
         code='why_free_running_is_worse = "a"\ncorrect_from_zero = 7\n', partial=True),
    dict(question="q4", name="counts the 9 after the 7 as correct (8)",
         code='why_free_running_is_worse = "b"\ncorrect_from_zero = 8\n', partial=True),
]
