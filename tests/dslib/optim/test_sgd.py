"""dslib.optim.SGD follows torch.optim.SGD step by step, for every momentum/nesterov/decay combination."""

from __future__ import annotations

import pytest
import torch

import dslib
from dslib.optim import SGD

from .reference import run_against_torch

CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True, maximize=True),
    dict(lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.05, maximize=True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_torch_for_20_steps(device, cfg):
    run_against_torch(lambda ps: SGD(ps, **cfg), lambda ps: torch.optim.SGD(ps, **cfg), device)


def test_sgd_matches_torch_in_float64_to_rounding(device):
    cfg = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)
    run_against_torch(lambda ps: SGD(ps, **cfg), lambda ps: torch.optim.SGD(ps, **cfg), device, dtype="float64")


def test_sgd_param_groups_use_their_own_lr_and_momentum(device):
    groups = [([0], dict(lr=0.3)), ([1, 2], dict(momentum=0.5, nesterov=True)), ([3], dict(weight_decay=0.1))]
    run_against_torch(
        lambda ps: SGD(ps, lr=0.01, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
        device,
        groups=groups,
    )


def test_sgd_skips_params_without_grad_and_keeps_no_state_without_momentum():
    a, b = dslib.ones(3, requires_grad=True), dslib.ones(3, requires_grad=True)
    opt = SGD([a, b], lr=0.5)
    a.grad = dslib.ones(3)
    opt.step()
    assert a.tolist() == [0.5, 0.5, 0.5] and b.tolist() == [1.0, 1.0, 1.0]
    assert opt.state == {}


def test_sgd_does_not_modify_the_gradient():
    w = dslib.ones(3, requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)
    w.grad = dslib.tensor([1.0, 2.0, 3.0])
    for _ in range(3):
        opt.step()
    assert w.grad.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-0.1), "Invalid learning rate"),
        (dict(lr=0.1, momentum=-0.5), "Invalid momentum"),
        (dict(lr=0.1, weight_decay=-1.0), "Invalid weight_decay"),
        (dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
        (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "zero dampening"),
    ],
)
def test_sgd_rejects_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([dslib.ones(2, requires_grad=True)], **kwargs)
