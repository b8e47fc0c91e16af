"""dslib.optim.AdamW follows torch.optim.AdamW step by step: decoupled weight decay, amsgrad, param groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from dslib.optim import Adam, AdamW

from .reference import run_against_torch

CONFIGS = [
    dict(),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.5, amsgrad=True),
    dict(lr=0.02, betas=(0.7, 0.95), eps=1e-4, weight_decay=0.05, amsgrad=True, maximize=True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "defaults")
def test_adamw_matches_torch_for_20_steps(device, cfg):
    run_against_torch(lambda ps: AdamW(ps, **cfg), lambda ps: torch.optim.AdamW(ps, **cfg), device)


def test_adamw_matches_torch_in_float64_to_rounding(device):
    cfg = dict(lr=0.01, weight_decay=0.1)
    run_against_torch(lambda ps: AdamW(ps, **cfg), lambda ps: torch.optim.AdamW(ps, **cfg), device, dtype="float64")


def test_adamw_param_groups_use_their_own_weight_decay(device):
    groups = [([0, 1], dict(weight_decay=0.0)), ([2], dict(lr=0.05)), ([3], dict(weight_decay=0.3, amsgrad=True))]
    run_against_torch(lambda ps: AdamW(ps, lr=0.01), lambda ps: torch.optim.AdamW(ps, lr=0.01), device, groups=groups)


def test_adamw_default_weight_decay_is_decoupled_1e_minus_2():
    opt = AdamW([dslib.ones(2, requires_grad=True)])
    assert opt.defaults["weight_decay"] == 1e-2 and opt.defaults["decoupled_weight_decay"] is True


def test_adamw_decay_differs_from_adam_l2_penalty():
    """With a zero gradient Adam's L2 term goes through the adaptive denominator; AdamW just shrinks w."""
    a, b = dslib.ones(3, requires_grad=True), dslib.ones(3, requires_grad=True)
    a.grad, b.grad = dslib.zeros(3), dslib.zeros(3)
    Adam([a], lr=0.1, weight_decay=0.1).step()
    AdamW([b], lr=0.1, weight_decay=0.1).step()
    np.testing.assert_allclose(b.detach().numpy(), 1 - 0.1 * 0.1, rtol=1e-6)  # w * (1 - lr * wd), then m = 0
    np.testing.assert_allclose(a.detach().numpy(), 1 - 0.1, rtol=1e-5)  # Adam's first step moves lr * sign(g)


def test_adamw_rejects_invalid_betas():
    with pytest.raises(ValueError, match="AdamW: Invalid beta parameter at index 1"):
        AdamW([dslib.ones(2, requires_grad=True)], betas=(0.9, 1.5))
