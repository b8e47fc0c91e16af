"""dslib.optim.lr_scheduler gives torch's learning rates at every step (closed forms vs torch's recursions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dslib
from dslib.optim import SGD, lr_scheduler
from dslib.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    SequentialLR,
    StepLR,
    warmup_cosine,
)

from .reference import run_against_torch

LRS = (0.1, 0.02)


def _optimizers():
    """A dslib SGD and a torch SGD, each with two param groups of lrs 0.1 and 0.02."""
    ours = SGD([{"params": [dslib.ones(1, requires_grad=True)], "lr": lr} for lr in LRS], lr=1.0)
    theirs = torch.optim.SGD([{"params": [torch.ones(1, requires_grad=True)], "lr": lr} for lr in LRS], lr=1.0)
    return ours, theirs


def _compare(make_ours, make_theirs, steps=30):
    opt, ref = _optimizers()
    ours, theirs = make_ours(opt), make_theirs(ref)
    for epoch in range(steps + 1):
        want = theirs.get_last_lr()
        np.testing.assert_allclose(ours.get_last_lr(), want, rtol=1e-12, atol=1e-15, err_msg=f"epoch {epoch}")
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups], want, rtol=1e-12, atol=1e-15)
        ref.step()
        ours.step()
        theirs.step()
    return ours, theirs


SCHEDULES = {
    "step": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 20], gamma=0.3),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=1e-3),
    "cosine_past_T_max": lambda m, o: m.CosineAnnealingLR(o, T_max=7),
    "lambda": lambda m, o: m.LambdaLR(o, lambda e: 0.9**e + 0.01 * e),
    "lambda_per_group": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: math.sqrt(e + 1)]),
    "linear_warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=8),
    "linear_decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=25),
    "sequential": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=4), m.StepLR(o, 3, 0.5), m.CosineAnnealingLR(o, 10)], [5, 12]
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch_every_step(name):
    _compare(lambda o: SCHEDULES[name](lr_scheduler, o), lambda o: SCHEDULES[name](torch.optim.lr_scheduler, o))


@pytest.mark.parametrize("warmup, total, start, eta_min", [(5, 30, 1e-3, 0.0), (1, 20, 0.5, 1e-4), (10, 11, 0.01, 0.0)])
def test_warmup_cosine_equals_torch_sequential_linear_then_cosine(warmup, total, start, eta_min):
    def theirs(o):
        t = torch.optim.lr_scheduler
        return t.SequentialLR(
            o,
            [t.LinearLR(o, start, 1.0, warmup), t.CosineAnnealingLR(o, T_max=total - warmup, eta_min=eta_min)],
            milestones=[warmup],
        )

    _compare(lambda o: warmup_cosine(o, warmup, total, warmup_start_factor=start, eta_min=eta_min), theirs, steps=total)


def test_warmup_cosine_goes_from_start_factor_up_to_base_lr_and_down_to_eta_min():
    opt, _ = _optimizers()
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=10, warmup_start_factor=0.25, eta_min=0.001)
    lrs = []
    for _ in range(11):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    assert lrs[0] == pytest.approx(0.025) and lrs[4] == pytest.approx(0.1) and lrs[10] == pytest.approx(0.001)
    assert lrs[:5] == sorted(lrs[:5]) and lrs[4:] == sorted(lrs[4:], reverse=True)


def test_warmup_cosine_without_warmup_is_plain_cosine():
    opt, _ = _optimizers()
    assert isinstance(warmup_cosine(opt, 0, 10), CosineAnnealingLR)


def test_scheduler_drives_the_optimizer_like_torch(device):
    run_against_torch(
        lambda ps: SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        device,
        make_scheds=lambda o, r: [
            warmup_cosine(o, 3, 20, warmup_start_factor=0.1),
            torch.optim.lr_scheduler.SequentialLR(
                r,
                [torch.optim.lr_scheduler.LinearLR(r, 0.1, 1.0, 3), torch.optim.lr_scheduler.CosineAnnealingLR(r, 17)],
                [3],
            ),
        ],
    )


@pytest.mark.parametrize("name", ["step", "lambda", "sequential"])
def test_scheduler_state_dict_round_trip_resumes_the_schedule(name):
    opt, _ = _optimizers()
    sched = SCHEDULES[name](lr_scheduler, opt)
    for _ in range(7):
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved
    opt2, _ = _optimizers()
    sched2 = SCHEDULES[name](lr_scheduler, opt2)
    sched2.load_state_dict(saved)
    for _ in range(10):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == sched.get_last_lr()


def test_schedulers_share_initial_lr_and_base_lrs():
    opt, _ = _optimizers()
    StepLR(opt, 2)
    opt.param_groups[0]["lr"] = 5.0
    sched = MultiStepLR(opt, [1])
    assert sched.base_lrs == list(LRS) and [g["initial_lr"] for g in opt.param_groups] == list(LRS)


def test_resuming_a_scheduler_needs_initial_lr():
    opt, _ = _optimizers()
    with pytest.raises(KeyError, match=r"'initial_lr' is not specified in param_groups\[0\]"):
        StepLR(opt, 2, last_epoch=5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda o: StepLR(o, 0), "step_size must be a positive int"),
        (lambda o: CosineAnnealingLR(o, 0), "T_max must be positive"),
        (lambda o: LinearLR(o, start_factor=0.0), "start_factor must be in"),
        (lambda o: LambdaLR(o, [lambda e: 1.0]), "expected 2 lr_lambdas"),
        (lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(o, 3)], milestones=[]), "one milestone fewer"),
        (lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(_optimizers()[0], 3)], [2]), "same optimizer"),
        (lambda o: warmup_cosine(o, 10, 10), "warmup_steps < total_steps"),
    ],
)
def test_invalid_schedules_are_rejected(make, match):
    opt, _ = _optimizers()
    with pytest.raises(ValueError, match=match):
        make(opt)


def test_scheduler_needs_a_dslib_optimizer():
    with pytest.raises(TypeError, match="is not a dslib Optimizer"):
        StepLR(torch.optim.SGD([torch.ones(1, requires_grad=True)]), 2)
