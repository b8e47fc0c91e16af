"""Run a dslib optimizer and a torch.optim optimizer side by side on the same parameters and gradients.

    run_against_torch(lambda ps: SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1), device="numpy")

Both start from the same random parameters; at every step both receive the same synthetic gradients
(drawn once, independent of the parameters), and after every step the parameters must agree.
`groups` splits the parameters into param groups: a list of (indices, extra options) pairs.
"""

from __future__ import annotations

import numpy as np
import torch

import dslib

SHAPES = [(4, 3), (3,), (2, 2, 2), ()]
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def make_params(device, dtype="float32", shapes=SHAPES, seed=0):
    """The same initial values as dslib tensors (requires_grad) and torch tensors."""
    rng = np.random.default_rng(seed)
    inits = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]
    ours = [dslib.tensor(a, device=device).requires_grad_() for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    return ours, theirs


def synthetic_grads(steps, dtype="float32", shapes=SHAPES, seed=1):
    rng = np.random.default_rng(seed)
    return [[np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes] for _ in range(steps)]


def param_groups(params, groups):
    if groups is None:
        return params
    return [{"params": [params[i] for i in idx], **opts} for idx, opts in groups]


def to_numpy(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().to("numpy").numpy()


def run_against_torch(make_ours, make_theirs, device, steps=20, dtype="float32", groups=None, make_scheds=None):
    """Step both optimizers `steps` times; assert the parameters agree after each step. Returns both optimizers."""
    ours, theirs = make_params(device, dtype)
    opt, ref = make_ours(param_groups(ours, groups)), make_theirs(param_groups(theirs, groups))
    scheds = make_scheds(opt, ref) if make_scheds else None
    for step, grads in enumerate(synthetic_grads(steps, dtype)):
        for p, q, g in zip(ours, theirs, grads):
            p.grad = dslib.tensor(g, device=device)
            q.grad = torch.tensor(g)
        opt.step()
        ref.step()
        if scheds:
            for s in scheds:
                s.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(
                to_numpy(p), to_numpy(q), **TOL[dtype], err_msg=f"param {i} differs from torch after step {step + 1}"
            )
    return opt, ref
