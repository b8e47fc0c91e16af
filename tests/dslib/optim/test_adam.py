"""dslib.optim.Adam follows torch.optim.Adam step by step (weight decay, amsgrad, maximize, param groups)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from dslib.optim import Adam

from .reference import run_against_torch

CONFIGS = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.05, amsgrad=True, maximize=True),
    dict(lr=0.01, betas=(0.0, 0.0)),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "defaults")
def test_adam_matches_torch_for_20_steps(device, cfg):
    run_against_torch(lambda ps: Adam(ps, **cfg), lambda ps: torch.optim.Adam(ps, **cfg), device)


def test_adam_matches_torch_in_float64_to_rounding(device):
    cfg = dict(lr=0.01, weight_decay=0.01, amsgrad=True)
    run_against_torch(lambda ps: Adam(ps, **cfg), lambda ps: torch.optim.Adam(ps, **cfg), device, dtype="float64")


def test_adam_param_groups_use_their_own_hyperparameters(device):
    groups = [([0], dict(lr=0.1)), ([1, 2], dict(betas=(0.5, 0.6), amsgrad=True)), ([3], dict(weight_decay=0.1))]
    run_against_torch(lambda ps: Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01), device, groups=groups)


def test_adam_trains_a_linear_model_like_torch(device):
    """Gradients from each framework's own autograd (same data, same init): the weights stay together."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5)).astype("float32"), rng.standard_normal((16, 2)).astype("float32")
    w0, b0 = rng.standard_normal((5, 2)).astype("float32"), np.zeros(2, "float32")
    w, b = dslib.tensor(w0, device=device).requires_grad_(), dslib.tensor(b0, device=device).requires_grad_()
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt, ref = Adam([w, b], lr=0.05), torch.optim.Adam([tw, tb], lr=0.05)
    dx, dy = dslib.tensor(x, device=device), dslib.tensor(y, device=device)
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(20):
        opt.zero_grad()
        ((dx @ w + b - dy) ** 2).mean().backward()
        opt.step()
        ref.zero_grad()
        ((tx @ tw + tb - ty) ** 2).mean().backward()
        ref.step()
    np.testing.assert_allclose(w.detach().to("numpy").numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.detach().to("numpy").numpy(), tb.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_adam_allocates_its_state_once_and_updates_it_in_place():
    w = dslib.randn(4, 3, requires_grad=True)
    opt = Adam([w], amsgrad=True)
    w.grad = dslib.randn(4, 3)
    opt.step()
    arrays = {k: v._data for k, v in opt.state[w].items() if k != "step"}
    for _ in range(3):
        opt.step()
    assert opt.state[w]["step"] == 4
    assert all(opt.state[w][k]._data is a for k, a in arrays.items())


def test_adam_bumps_the_parameter_version_counter():
    w = dslib.randn(3, requires_grad=True)
    w.grad = dslib.randn(3)
    before = w._version
    Adam([w]).step()
    assert w._version == before + 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-1.0), "Invalid learning rate"),
        (dict(eps=-1e-8), "Invalid epsilon"),
        (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
        (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
        (dict(weight_decay=-0.1), "Invalid weight_decay"),
    ],
)
def test_adam_rejects_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Adam([dslib.ones(2, requires_grad=True)], **kwargs)
