"""Typical wrong answers to exercise 05 (see tools/mutations.py): each must fail the tests named in it."""

_GREEDY = """def greedy_decode(decoder, features, max_len):
    with torch.no_grad():
        h = decoder.init_state(features)
        tokens = torch.full((features.shape[0],), START, dtype=torch.int64)
        steps = []
        for _ in range({n}):
            logits, {new_h} = decoder.step({feed}, h)
            tokens = logits.argmax(dim=-1)
            steps.append(tokens){stop}
    captions = []
    for row in torch.stack(steps, dim=1).{rows}:
        caption = []
        for token in row:
            if token == END:
                {at_end}
            caption.append(token)
        captions.append(caption)
    return captions
"""


def _greedy(n="max_len", new_h="h", feed="tokens", stop="", rows="tolist()", at_end="break", no_grad=True):
    code = _GREEDY.format(n=n, new_h=new_h, feed=feed, stop=stop, rows=rows, at_end=at_end)
    if not no_grad:
        code = code.replace("    with torch.no_grad():\n", "    if True:\n")
    return code


def _accuracy(body):
    return f"def word_accuracy(predicted, references):\n{body}"


_POOLED = ("    correct = total = 0\n    for pred, ref in zip(predicted, references):\n        total += len(ref)\n"
           "        correct += sum(i < len(pred) and pred[i] == word for i, word in enumerate(ref))\n"
           "    return correct / total\n")

_MAJORITY = """def majority_caption(captions):
    counts = {{}}
    for caption in captions:
        counts[tuple(caption)] = counts.get(tuple(caption), 0) + 1
    best = max(counts.values())
    return {ret}


baseline_accuracy = word_accuracy([majority_caption(train_captions)] * len({on}), {on})
"""


def _majority(ret="list(min(c for c, n in counts.items() if n == best))", on="test_captions"):
    return _MAJORITY.format(ret=ret, on=on)


_Q4 = """def best_constant_distribution(words, vocabulary):
    {body}


predicted_colour = "{colour}"
colour_accuracy = {accuracy}
why_one_colour = "{why}"
"""


def _q4(body="counts = np.array([sum(w == v for w in words) for v in vocabulary], dtype=np.float64)\n"
             "    return counts / counts.sum()",
        colour="red", accuracy='np.mean([c[2] == "red" for c in test_captions])', why="b"):
    return _Q4.format(body=body, colour=colour, accuracy=accuracy, why=why)


def _beam(total="scores[:, None] + log_p", order='np.argsort(-total, axis=None, kind="stable")[:K]',
          unravel="np.unravel_index(best, total.shape)", ret="total[parent, word], parent, word"):
    return (f"def beam_step(scores, log_p, K):\n    total = {total}\n    best = {order}\n"
            f"    parent, word = {unravel}\n    return {ret}\n")


MUTATIONS = [
    # q1: public case: a two-row decoder whose rows end at different steps; it answers word 10 when it reads
    # a token other than its last choice or an old state; max_len = 3 cuts a caption.
    dict(question="q1", name="stops the whole batch at the first END",
         code=_greedy(stop="\n            if (tokens == END).any():\n                break")),
    dict(question="q1", name="keeps the words after END", code=_greedy(at_end="continue")),
    dict(question="q1", name="includes END in the caption",
         code=_greedy(at_end="caption.append(token)\n                break")),
    dict(question="q1", name="feeds START at every step",
         code=_greedy(feed="torch.full((features.shape[0],), START, dtype=torch.int64)")),
    dict(question="q1", name="state not carried (new state dropped)", code=_greedy(new_h="_")),
    dict(question="q1", name="one word too few (max_len - 1 steps)", code=_greedy(n="max_len - 1")),
    dict(question="q1", name="returns tensors instead of Python ints", code=_greedy(rows="unbind(0)")),
    dict(question="q1", name="decodes with gradients enabled (no torch.no_grad)", code=_greedy(no_grad=False)),
    # q2: public case: two captions of different lengths, one with a swap and an extra word, one too short.
    dict(question="q2", name="averages the accuracy of each caption",
         code=_accuracy("    accs = []\n    for pred, ref in zip(predicted, references):\n"
                        "        accs.append(sum(i < len(pred) and pred[i] == w for i, w in enumerate(ref)) / len(ref))\n"
                        "    return sum(accs) / len(accs)\n")),
    dict(question="q2", name="matches words anywhere in the reference",
         code=_accuracy("    correct = total = 0\n    for pred, ref in zip(predicted, references):\n"
                        "        total += len(ref)\n        correct += sum(w in pred for w in ref)\n"
                        "    return correct / total\n")),
    dict(question="q2", name="counts extra predicted words as wrong",
         code=_accuracy("    correct = total = 0\n    for pred, ref in zip(predicted, references):\n"
                        "        total += max(len(ref), len(pred))\n"
                        "        correct += sum(p == w for p, w in zip(pred, ref))\n    return correct / total\n")),
    dict(question="q2", name="divides by the number of predicted words",
         code=_accuracy("    correct = total = 0\n    for pred, ref in zip(predicted, references):\n"
                        "        total += len(pred)\n        correct += sum(p == w for p, w in zip(pred, ref))\n"
                        "    return correct / total\n")),
    dict(question="q2", name="zip ignores the missing words",
         code=_accuracy("    pairs = [(p, w) for pred, ref in zip(predicted, references) for p, w in zip(pred, ref)]\n"
                        "    return sum(p == w for p, w in pairs) / len(pairs)\n")),
    # q3: public cases: a per-position majority that is no caption, a tie, and baseline_accuracy.
    dict(question="q3", name="most frequent word at each position",
         code="def majority_caption(captions):\n    from collections import Counter\n"
              "    n = max(map(len, captions))\n"
              "    return [Counter(c[i] for c in captions if i < len(c)).most_common(1)[0][0] for i in range(n)]\n"
              "\n\nbaseline_accuracy = word_accuracy([majority_caption(train_captions)] * len(test_captions), "
              "test_captions)\n"),
    dict(question="q3", name="ties broken by first occurrence (most_common)",
         code="def majority_caption(captions):\n    from collections import Counter\n"
              "    return list(Counter(map(tuple, captions)).most_common(1)[0][0])\n\n\n"
              "baseline_accuracy = word_accuracy([majority_caption(train_captions)] * len(test_captions), "
              "test_captions)\n"),
    dict(question="q3", name="ties broken by max", code=_majority(ret="list(max(c for c, n in counts.items() if n == best))")),
    dict(question="q3", name="returns a tuple", code=_majority(ret="min(c for c, n in counts.items() if n == best)")),
    dict(question="q3", name="baseline measured on the training captions", code=_majority(on="train_captions")),
    # q4: public: a distribution over an unsorted vocabulary; colour_accuracy must agree with predicted_colour.
    dict(question="q4", name="counts, not normalised",
         code=_q4(body="return np.array([sum(w == v for w in words) for v in vocabulary], dtype=np.float64)")),
    dict(question="q4", name="uniform distribution",
         code=_q4(body="return np.full(len(vocabulary), 1 / len(vocabulary))")),
    dict(question="q4", name="one-hot on the most frequent word",
         code=_q4(body="counts = [sum(w == v for w in words) for v in vocabulary]\n"
                       "    return np.eye(len(vocabulary))[int(np.argmax(counts))]")),
    dict(question="q4", name="drops the words that never occur",
         code=_q4(body="_, counts = np.unique(words, return_counts=True)\n    return counts / counts.sum()")),
    dict(question="q4", name="colour_accuracy on the training captions",
         code=_q4(accuracy='np.mean([c[2] == "red" for c in train_captions])')),
    dict(question="q4", name="colour_accuracy from position 1 (the size)",
         code=_q4(accuracy='np.mean([c[1] == "red" for c in test_captions])')),
    dict(question="q4", name="predicted colour blue (accuracy consistent)",
         code=_q4(colour="blue", accuracy='np.mean([c[2] == "blue" for c in test_captions])'), partial=True),
    dict(question="q4", name="verdict (c): decoder too small", code=_q4(why="c"), partial=True),
    dict(question="q4", name="verdict (d): smallest id", code=_q4(why="d"), partial=True),
    # q5: public case: caption 1 is the better one and its second-best word has the smaller id.
    dict(question="q5", name="best next word of each caption",
         code="def beam_step(scores, log_p, K):\n    word = log_p.argmax(axis=1)\n    parent = np.arange(len(scores))\n"
              "    new = scores + log_p[parent, word]\n    order = np.argsort(-new)\n"
              "    return new[order], parent[order], word[order]\n"),
    dict(question="q5", name="ranks by log_p alone", code=_beam(total="log_p + 0 * scores[:, None]",
                                                                ret="(scores[:, None] + log_p)[parent, word], parent, word")),
    dict(question="q5", name="adds probabilities instead of log-probabilities",
         code=_beam(total="scores[:, None] + np.exp(log_p)")),
    dict(question="q5", name="multiplies the score by the log-probability", code=_beam(total="scores[:, None] * log_p")),
    dict(question="q5", name="not sorted best first (np.argpartition)",
         code=_beam(order="np.sort(np.argpartition(-total, K - 1, axis=None)[:K])")),
    dict(question="q5", name="keeps all K * V extensions", code=_beam(order='np.argsort(-total, axis=None, kind="stable")')),
    dict(question="q5", name="parent and word from the wrong axis (index % K, index // K)",
         code=_beam(unravel="best % len(scores), best // len(scores)")),
    dict(question="q5", name="word is the flat index (forgets % V)",
         code=_beam(unravel="best // log_p.shape[1], best", ret="total.ravel()[best], parent, word")),
    dict(question="q5", name="returns the parents' old scores", code=_beam(ret="scores[parent], parent, word")),
    dict(question="q5", name="returns lists", code=_beam(ret="total[parent, word].tolist(), parent.tolist(), word.tolist()")),
]
