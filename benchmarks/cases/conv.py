"""Case (b): one 3x3 convolution forward + backward (batch 64, 64 -> 64 channels, 32x32, padding 1, bias).

Input, weight, bias and the upstream gradient are drawn once from a fixed NumPy seed; a step clears the
gradients, runs conv2d and backpropagates the fixed upstream gradient into input, weight and bias.
"""

from __future__ import annotations

import numpy as np

from . import SEED, Workload, dslib_device

WARMUP, STEPS = 3, 20
N, C, H, W, K = 64, 64, 32, 32, 3


def _arrays():
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((C, C, K, K), dtype=np.float32) * np.float32(1 / np.sqrt(C * K * K))
    b = rng.standard_normal(C, dtype=np.float32)
    gy = rng.standard_normal((N, C, H, W), dtype=np.float32)
    return x, w, b, gy


def build(framework: str) -> Workload:
    desc = f"conv2d {K}x{K} fwd+bwd, x ({N},{C},{H},{W}), {C}->{C} channels"
    arrays = _arrays()
    if framework == "pytorch":
        import torch

        x, w, b, gy = (torch.from_numpy(a) for a in arrays)
        conv2d = torch.nn.functional.conv2d
    else:
        import dslib
        import dslib.nn.functional as F

        device = dslib_device(framework)
        x, w, b, gy = (dslib.tensor(a, device=device) for a in arrays)
        conv2d = F.conv2d
    for t in (x, w, b):
        t.requires_grad_(True)

    def step():
        x.grad = w.grad = b.grad = None
        conv2d(x, w, b, padding=1).backward(gy)

    return Workload(step, desc)
