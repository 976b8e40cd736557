"""Typical wrong answers to exercise 04 (see tools/mutations.py): each must fail the tests named in it."""

_VOCAB = "def build_vocab(text):\n    return {vocab}\n\n\n"
_ENCODE = "def encode(s, chars):\n    index = {{c: i for i, c in enumerate(chars)}}\n    return {encode}\n\n\n"
_DECODE = "def decode(ids, chars):\n    return {decode}\n"


def _q1(vocab="sorted(set(text))", encode="np.array([index[c] for c in s], dtype=np.int64)",
        decode='"".join(chars[int(i)] for i in ids)'):
    return _VOCAB.format(vocab=vocab) + _ENCODE.format(encode=encode) + _DECODE.format(decode=decode)


def _q2(probs="z = np.asarray(logits, dtype=np.float64) / temperature\n    e = np.exp(z - z.max())\n"
              "    return e / e.sum()",
        sample="p = temperature_probs(logits, temperature)\n    return int(rng.choice(len(p), p=p))"):
    return (f"def temperature_probs(logits, temperature):\n    {probs}\n\n\n"
            f"def sample_token(logits, temperature, rng):\n    {sample}\n\n\n"
            "example_logits = np.array([2.0, 1.0, 0.0, -1.0])\n")


def _q3(body="_, counts = np.unique(list(s), return_counts=True)\n    p = counts / counts.sum()\n"
             "    return float(-(p * np.log2(p)).sum())", store="unigram_entropy_bits(text)"):
    return f"def unigram_entropy_bits(s):\n    {body}\n\n\ntext_entropy = {store}\n"


def _q4(low="argmax", high="uniform", body="nz = p[p > 0]\n        out.append(-(nz * np.log2(nz)).sum())",
        ret="np.array(out)"):
    return (f'low_temperature_limit = "{low}"\nhigh_temperature_limit = "{high}"\n\n\n'
            "def entropy_curve(logits, temperatures):\n    out = []\n    for tau in temperatures:\n"
            f"        p = temperature_probs(logits, tau)\n        {body}\n    return {ret}\n")


def _q5(shift="logits - logits.max(axis=1, keepdims=True)", loss="float(-np.log(p[rows, targets]).mean())",
        grad="dlogits = p.copy()\n    dlogits[rows, targets] -= 1.0", scale="dlogits / N"):
    return ("def softmax_cross_entropy(logits, targets):\n"
            f"    z = {shift}\n    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n"
            f"    N = len(targets)\n    rows = np.arange(N)\n    {grad}\n    return {loss}, {scale}\n")


MUTATIONS = [
    # q1: public case "hello world" (first appearance is not sorted), "hole", a list and an array of ids.
    dict(question="q1", name="encode returns a list", code=_q1(encode="[index[c] for c in s]")),
    dict(question="q1", name="encode returns int32", code=_q1(encode="np.array([index[c] for c in s], dtype=np.int32)")),
    dict(question="q1", name="vocabulary in order of first appearance", code=_q1(vocab="list(dict.fromkeys(text))")),
    dict(question="q1", name="vocabulary keeps duplicates", code=_q1(vocab="sorted(text)")),
    dict(question="q1", name="vocabulary as a string", code=_q1(vocab='"".join(sorted(set(text)))')),
    dict(question="q1", name="ids counted from 1", code=_q1(encode="np.array([index[c] + 1 for c in s], dtype=np.int64)",
                                                            decode='"".join(chars[int(i) - 1] for i in ids)')),
    dict(question="q1", name="decode returns a list of characters", code=_q1(decode="[chars[int(i)] for i in ids]")),
    # q2: public cases: [0, ln 2] at tau = 1 and 0.5, [1000, 0], one seed three times, 400 draws at tau = 0.5.
    dict(question="q2", name="multiplies by the temperature",
         code=_q2(probs="z = np.asarray(logits, dtype=np.float64) * temperature\n    e = np.exp(z - z.max())\n"
                        "    return e / e.sum()")),
    dict(question="q2", name="not stable (no max subtracted)",
         code=_q2(probs="e = np.exp(np.asarray(logits, dtype=np.float64) / temperature)\n    return e / e.sum()")),
    dict(question="q2", name="sample_token returns a numpy integer",
         code=_q2(sample="p = temperature_probs(logits, temperature)\n    return rng.choice(np.arange(len(p)), p=p)")),
    dict(question="q2", name="sample_token returns a one-element array",
         code=_q2(sample="p = temperature_probs(logits, temperature)\n    return rng.choice(len(p), size=1, p=p)")),
    dict(question="q2", name="sample_token takes the argmax (greedy)",
         code=_q2(sample="return int(np.argmax(temperature_probs(logits, temperature)))")),
    dict(question="q2", name="sample_token ignores the temperature",
         code=_q2(sample="p = temperature_probs(logits, 1.0)\n    return int(rng.choice(len(p), p=p))")),
    dict(question="q2", name="sample_token draws from numpy's global random state",
         code=_q2(sample="p = temperature_probs(logits, temperature)\n    return int(np.random.choice(len(p), p=p))")),
    # q3: public cases "abab", "aaaa", "aaab" (unequal frequencies) and text_entropy.
    dict(question="q3", name="natural log (nats)",
         code=_q3(body="_, counts = np.unique(list(s), return_counts=True)\n    p = counts / counts.sum()\n"
                       "    return float(-(p * np.log(p)).sum())")),
    dict(question="q3", name="log2 of the number of distinct characters",
         code=_q3(body="return float(np.log2(len(set(s))))")),
    dict(question="q3", name="frequencies divided by V instead of the length",
         code=_q3(body="_, counts = np.unique(list(s), return_counts=True)\n    p = counts / len(counts)\n"
                       "    return float(-(p * np.log2(p)).sum())")),
    dict(question="q3", name="text_entropy of the vocabulary instead of the text",
         code=_q3(store="unigram_entropy_bits(chars)")),
    # q4: the predictions are checked against the entropy measured at tau = 0.001 and 1000.
    dict(question="q4", name="the two temperature limits swapped", code=_q4(low="uniform", high="argmax")),
    dict(question="q4", name="high temperature predicted unchanged", code=_q4(high="unchanged")),
    dict(question="q4", name="entropy in nats",
         code=_q4(body="nz = p[p > 0]\n        out.append(-(nz * np.log(nz)).sum())")),
    dict(question="q4", name="0 log 0 gives nan at a tiny temperature",
         code=_q4(body="out.append(-(p * np.log2(p)).sum())")),
    dict(question="q4", name="returns a list", code=_q4(ret="out")),
    # q5: public case: three rows, one of them [1000, 0, -3, 1], targets [2, 0, 0].
    dict(question="q5", name="forgets to subtract the one-hot", code=_q5(grad="dlogits = p.copy()")),
    dict(question="q5", name="gradient not divided by N", code=_q5(scale="dlogits")),
    dict(question="q5", name="gradient divided by N * V", code=_q5(scale="dlogits / p.size")),
    dict(question="q5", name="one-hot subtracted in every row at every target column",
         code=_q5(grad="dlogits = p.copy()\n    dlogits[:, targets] -= 1.0")),
    dict(question="q5", name="gradient sign flipped (e - p)", code=_q5(scale="-dlogits / N")),
    dict(question="q5", name="not stable (no max subtracted)", code=_q5(shift="logits")),
    dict(question="q5", name="loss summed, not averaged", code=_q5(loss="float(-np.log(p[rows, targets]).sum())")),
    dict(question="q5", name="loss in bits", code=_q5(loss="float(-np.log2(p[rows, targets]).mean())")),
    dict(question="q5", name="returns the per-position losses", code=_q5(loss="-np.log(p[rows, targets])")),
]
