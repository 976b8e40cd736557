"""Typical wrong answers to exercise 10 (see tools/mutations.py): each must fail the tests named in it."""

_Q1 = """def count_parameters(model):
    return {count}


def mlp_param_count(T, D, H, V):
    return {mlp}
"""
_COUNT = "sum(p.numel() for p in model.parameters() if p.requires_grad)"
_MLP = "T * D * H + H + H * T * V + T * V"

_Q2 = """def receptive_field(k, L, dilation_base=1):
    return {field}


def layers_to_cover(T, k, dilation_base=1):
    L = 1
    while receptive_field(k, L, dilation_base) {cmp} T:
        L += 1
    return L
"""
_FIELD = "1 + sum((k - 1) * dilation_base**l for l in range(L))"

MUTATIONS = [
    # q1: public cases: Linear(3, 2) with and without a frozen bias; MLP counts with T = 1 and T = 2.
    dict(question="q1", name="counts frozen parameters too",
         code=_Q1.format(count="sum(p.numel() for p in model.parameters())", mlp=_MLP)),
    dict(question="q1", name="counts tensors instead of numbers",
         code=_Q1.format(count="len([p for p in model.parameters() if p.requires_grad])", mlp=_MLP)),
    dict(question="q1", name="MLP output layer of V units (not T * V)",
         code=_Q1.format(count=_COUNT, mlp="T * D * H + H + H * V + V")),
    dict(question="q1", name="MLP without biases", code=_Q1.format(count=_COUNT, mlp="T * D * H + H * T * V")),
    # q2: public cases: plain k = 3 stacks, a dilated k = 2, b = 2 stack, the smallest L covering T.
    dict(question="q2", name="receptive field k * L", code=_Q2.format(field="k * L", cmp="<")),
    dict(question="q2", name="dilation ignored",
         code=_Q2.format(field="1 + sum((k - 1) for l in range(L))", cmp="<")),
    dict(question="q2", name="layers_to_cover one too many (<= instead of <)", code=_Q2.format(field=_FIELD, cmp="<=")),
    # q3: multiple choice; the public check is only the form.
    dict(question="q3", name="limitation (a): parameters grow with T",
         code='main_limitation = "a"\nmain_strength = "c"\n', partial=True),
    dict(question="q3", name="strength (d): parallel over positions",
         code='main_limitation = "b"\nmain_strength = "d"\n', partial=True),
]
