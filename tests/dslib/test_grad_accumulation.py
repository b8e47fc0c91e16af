"""Gradient accumulation: N micro-batches, each backpropagating loss / N, sum into the same .grad as one
big batch, and so give the same optimizer update (SGD with momentum, AdamW), also through a GradScaler.

The models have no BatchNorm and no Dropout (whose outputs depend on how the batch is split); with a
mean-reduced loss and equal micro-batches, the only difference is float rounding in the summation order.
"""

from __future__ import annotations

import numpy as np
import pytest

import dslib
import dslib.nn as nn
import dslib.nn.functional as F

STEPS, BATCH, MICRO = 3, 24, 4  # 3 optimizer steps of 24 samples, or of 4 micro-batches of 6


def _mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.GELU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 5))


def _cnn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LayerNorm(4 * 4 * 3), nn.Linear(4 * 4 * 3, 5)
    )


MODELS = {"mlp": (_mlp, (12,)), "conv_layernorm": (_cnn, (2, 4, 3))}
OPTIMIZERS = {
    "sgd_momentum": lambda ps: dslib.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adamw": lambda ps: dslib.optim.AdamW(ps, lr=1e-2, weight_decay=0.05),
}


def _data(sample_shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS, BATCH) + sample_shape).astype(np.float32)
    y = rng.integers(0, 5, (STEPS, BATCH))
    return x, y


def _train(model_name, opt_name, device, micro, scaler=None, divide=True):
    """Run STEPS optimizer steps; each step's batch is split into `micro` micro-batches whose losses are
    divided by `micro` (unless divide=False). Returns the gradients seen by each step and the final params."""
    make, shape = MODELS[model_name]
    dslib.manual_seed(0)
    model = make().to(device)
    opt = OPTIMIZERS[opt_name](model.parameters())
    x, y = _data(shape)
    grads = []
    for s in range(STEPS):
        opt.zero_grad()
        for xb, yb in zip(np.split(x[s], micro), np.split(y[s], micro)):
            loss = F.cross_entropy(model(dslib.tensor(xb, device=device)), dslib.tensor(yb, device=device))
            if divide:
                loss = loss / micro
            (scaler.scale(loss) if scaler is not None else loss).backward()
        if scaler is not None:
            scaler.unscale_(opt)  # so the recorded gradients are the true ones
        grads.append([p.grad.to("numpy").numpy().copy() for p in model.parameters()])
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
    return grads, [p.detach().to("numpy").numpy() for p in model.parameters()]


def _assert_close(a, b, what, rtol=1e-5, atol=1e-6):
    for i, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol, err_msg=f"{what}, parameter {i}")


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_micro_batches_with_loss_over_n_equal_one_big_batch(device, model_name, opt_name):
    big_grads, big_params = _train(model_name, opt_name, device, micro=1)
    acc_grads, acc_params = _train(model_name, opt_name, device, micro=MICRO)
    for s in range(STEPS):
        _assert_close(acc_grads[s], big_grads[s], f"gradient of step {s}")
    _assert_close(acc_params, big_params, "parameters after the last step", rtol=1e-4, atol=1e-5)


def test_without_dividing_the_loss_the_gradient_is_n_times_larger(device):
    """The accumulation really sums: the same loop without `/ N` gives N times the big-batch gradient."""
    big_grads, _ = _train("mlp", "sgd_momentum", device, micro=1)
    summed, _ = _train("mlp", "sgd_momentum", device, micro=MICRO, divide=False)
    _assert_close([g / MICRO for g in summed[0]], big_grads[0], "first step's gradient / N")


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_accumulation_through_a_grad_scaler_matches_the_unscaled_big_batch(device, opt_name):
    """Scaled micro-batch losses accumulate, unscale_ once per step divides the sum; the scale grows during
    the run (growth_interval=2), and the result still equals plain float32 training on the big batch."""
    scaler = dslib.amp.GradScaler(init_scale=2.0**10, growth_interval=2)
    big_grads, big_params = _train("mlp", opt_name, device, micro=1)
    acc_grads, acc_params = _train("mlp", opt_name, device, micro=MICRO, scaler=scaler)
    assert scaler.get_scale() == 2.0**11
    for s in range(STEPS):
        _assert_close(acc_grads[s], big_grads[s], f"gradient of step {s}")
    _assert_close(acc_params, big_params, "parameters after the last step", rtol=1e-4, atol=1e-5)
