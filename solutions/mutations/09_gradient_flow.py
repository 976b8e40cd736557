"""Typical wrong answers to exercise 09 (see tools/mutations.py): each must fail the tests named in it."""

MUTATIONS = [
    # q1: the step Jacobian. Public case: a non-symmetric W_hh and a non-zero h_t.
    dict(question="q1", name="W_hh transposed",
         code="def step_jacobian(h_t, W_hh):\n    return (1.0 - h_t**2)[:, None] * W_hh.T\n"),
    dict(question="q1", name="columns scaled instead of rows (W_hh diag(f'))",
         code="def step_jacobian(h_t, W_hh):\n    return W_hh * (1.0 - h_t**2)[None, :]\n"),
    dict(question="q1", name="tanh applied again to h_t (treats h_t as a_t)",
         code="def step_jacobian(h_t, W_hh):\n    return (1.0 - np.tanh(h_t) ** 2)[:, None] * W_hh\n"),
    dict(question="q1", name="W_hh forgotten (only diag(f'))",
         code="def step_jacobian(h_t, W_hh):\n    return np.diag(1.0 - h_t**2)\n"),
    # q2: the regime and the norm. Public cases: a non-normal W_hh (eigenvalues 0.9, singular values 3.25
    # and 0.25) and a diagonal matrix with one singular value on each side of 1.
    dict(question="q2", name="eigenvalues instead of singular values",
         code="def predict_regime(W_hh):\n    s = np.abs(np.linalg.eigvals(W_hh))\n"
              "    if s.max() < 1:\n        return 'vanishing'\n"
              "    if s.min() > 1:\n        return 'exploding'\n"
              "    return 'undetermined'\n\n\n"
              "def gradient_norm_after(W_hh, n):\n"
              "    return float(np.linalg.norm(np.linalg.matrix_power(W_hh, n), 2))\n"),
    dict(question="q2", name="exploding as soon as sigma_max > 1",
         code="def predict_regime(W_hh):\n    s = np.linalg.svd(W_hh, compute_uv=False)\n"
              "    return 'vanishing' if s.max() < 1 else 'exploding'\n\n\n"
              "def gradient_norm_after(W_hh, n):\n"
              "    return float(np.linalg.norm(np.linalg.matrix_power(W_hh, n), 2))\n"),
    dict(question="q2", name="norm of W^n taken as sigma_max(W)^n",
         code="def predict_regime(W_hh):\n    s = np.linalg.svd(W_hh, compute_uv=False)\n"
              "    if s.max() < 1:\n        return 'vanishing'\n"
              "    if s.min() > 1:\n        return 'exploding'\n"
              "    return 'undetermined'\n\n\n"
              "def gradient_norm_after(W_hh, n):\n    return float(np.linalg.norm(W_hh, 2) ** n)\n"),
    dict(question="q2", name="Frobenius norm instead of the spectral norm",
         code="def predict_regime(W_hh):\n    s = np.linalg.svd(W_hh, compute_uv=False)\n"
              "    if s.max() < 1:\n        return 'vanishing'\n"
              "    if s.min() > 1:\n        return 'exploding'\n"
              "    return 'undetermined'\n\n\n"
              "def gradient_norm_after(W_hh, n):\n"
              "    return float(np.linalg.norm(np.linalg.matrix_power(W_hh, n)))\n"),
    # q3: spectral radius and peak. Public cases: a negative and a complex eigenvalue, a non-normal W whose
    # peak is at n = 2, the identity (a tie at every n), and the three named values for W_q3.
    dict(question="q3", name="spectral radius without the absolute value",
         code="def spectral_radius(W):\n    return float(np.linalg.eigvals(W).real.max())\n\n\n"
              "def peak_power(W, n_max):\n"
              "    norms = [np.linalg.norm(np.linalg.matrix_power(W, n), 2) for n in range(1, n_max + 1)]\n"
              "    k = int(np.argmax(norms))\n    return k + 1, float(norms[k])\n\n\n"
              "rho_q3 = spectral_radius(W_q3)\nsigma_q3 = float(np.linalg.norm(W_q3, 2))\n"
              "peak_q3 = peak_power(W_q3, 50)\n"),
    dict(question="q3", name="spectral radius taken as sigma_max",
         code="def spectral_radius(W):\n    return float(np.linalg.norm(W, 2))\n\n\n"
              "def peak_power(W, n_max):\n"
              "    norms = [np.linalg.norm(np.linalg.matrix_power(W, n), 2) for n in range(1, n_max + 1)]\n"
              "    k = int(np.argmax(norms))\n    return k + 1, float(norms[k])\n\n\n"
              "rho_q3 = spectral_radius(W_q3)\nsigma_q3 = float(np.linalg.norm(W_q3, 2))\n"
              "peak_q3 = peak_power(W_q3, 50)\n"),
    dict(question="q3", name="peak step off by one (0-based index returned)",
         code="def spectral_radius(W):\n    return float(np.abs(np.linalg.eigvals(W)).max())\n\n\n"
              "def peak_power(W, n_max):\n"
              "    norms = [np.linalg.norm(np.linalg.matrix_power(W, n), 2) for n in range(1, n_max + 1)]\n"
              "    k = int(np.argmax(norms))\n    return k, float(norms[k])\n\n\n"
              "rho_q3 = spectral_radius(W_q3)\nsigma_q3 = float(np.linalg.norm(W_q3, 2))\n"
              "peak_q3 = peak_power(W_q3, 50)\n"),
    dict(question="q3", name="n = 0 (the identity) counted as a candidate",
         code="def spectral_radius(W):\n    return float(np.abs(np.linalg.eigvals(W)).max())\n\n\n"
              "def peak_power(W, n_max):\n"
              "    norms = [np.linalg.norm(np.linalg.matrix_power(W, n), 2) for n in range(0, n_max + 1)]\n"
              "    k = int(np.argmax(norms))\n    return k, float(norms[k])\n\n\n"
              "rho_q3 = spectral_radius(W_q3)\nsigma_q3 = float(np.linalg.norm(W_q3, 2))\n"
              "peak_q3 = peak_power(W_q3, 50)\n"),
    dict(question="q3", name="last n on a tie (>= in the loop)",
         code="def spectral_radius(W):\n    return float(np.abs(np.linalg.eigvals(W)).max())\n\n\n"
              "def peak_power(W, n_max):\n    best_n, best = 0, -1.0\n"
              "    for n in range(1, n_max + 1):\n"
              "        norm = float(np.linalg.norm(np.linalg.matrix_power(W, n), 2))\n"
              "        if norm >= best:\n            best_n, best = n, norm\n    return best_n, best\n\n\n"
              "rho_q3 = spectral_radius(W_q3)\nsigma_q3 = float(np.linalg.norm(W_q3, 2))\n"
              "peak_q3 = peak_power(W_q3, 50)\n"),
    dict(question="q3", name="sigma_q3 taken as the largest eigenvalue",
         code="def spectral_radius(W):\n    return float(np.abs(np.linalg.eigvals(W)).max())\n\n\n"
              "def peak_power(W, n_max):\n"
              "    norms = [np.linalg.norm(np.linalg.matrix_power(W, n), 2) for n in range(1, n_max + 1)]\n"
              "    k = int(np.argmax(norms))\n    return k + 1, float(norms[k])\n\n\n"
              "rho_q3 = spectral_radius(W_q3)\nsigma_q3 = rho_q3\npeak_q3 = peak_power(W_q3, 50)\n"),
    # q4: clipping. Public cases: a norm above c (scaled) and one below c (unchanged), and a parameter
    # without a gradient.
    dict(question="q4", name="always rescales to norm c (min(1, .) missing)",
         code="def clip_grad_norm_(parameters, max_norm):\n"
              "    grads = [p.grad for p in parameters if p.grad is not None]\n"
              "    total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))\n"
              "    for g in grads:\n        g.mul_(max_norm / (total + 1e-6))\n    return total\n"),
    dict(question="q4", name="each parameter clipped by its own norm",
         code="def clip_grad_norm_(parameters, max_norm):\n    total = 0.0\n    for p in parameters:\n"
              "        if p.grad is None:\n            continue\n        n = float(p.grad.norm())\n"
              "        total += n**2\n        p.grad.mul_(min(1.0, max_norm / (n + 1e-6)))\n"
              "    return total**0.5\n"),
    dict(question="q4", name="not in place (rebinds a local name)",
         code="def clip_grad_norm_(parameters, max_norm):\n"
              "    grads = [p.grad for p in parameters if p.grad is not None]\n"
              "    total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))\n"
              "    for g in grads:\n        g = g * min(1.0, max_norm / (total + 1e-6))\n    return total\n"),
    dict(question="q4", name="returns the norm after clipping",
         code="def clip_grad_norm_(parameters, max_norm):\n"
              "    grads = [p.grad for p in parameters if p.grad is not None]\n"
              "    total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))\n"
              "    coef = min(1.0, max_norm / (total + 1e-6))\n"
              "    for g in grads:\n        g.mul_(coef)\n    return total * coef\n"),
    dict(question="q4", name="parameters without a gradient not skipped",
         code="def clip_grad_norm_(parameters, max_norm):\n"
              "    total = float(torch.sqrt(sum((p.grad ** 2).sum() for p in parameters)))\n"
              "    coef = min(1.0, max_norm / (total + 1e-6))\n"
              "    for p in parameters:\n        p.grad.mul_(coef)\n    return total\n"),
]
