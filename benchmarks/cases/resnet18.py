"""Case (c): a CIFAR ResNet-18 training step at batch 64 (random 64x3x32x32 images, random labels).

SGD with momentum 0.9 (lr 0.01), cross-entropy, model in train mode (BatchNorm on batch statistics). The
PyTorch reference is benchmarks/torch_resnet.py; dslib.models.resnet18 loads its initial weights.
"""

from __future__ import annotations

import numpy as np

from . import SEED, Workload, dslib_device, load_torch_weights, train_step

WARMUP, STEPS = 2, 5
BATCH, LR, MOMENTUM = 64, 0.01, 0.9


def _data():
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((BATCH, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=BATCH).astype(np.int64)
    return x, y


def build(framework: str) -> Workload:
    import torch

    from ..torch_resnet import resnet18 as torch_resnet18

    torch.manual_seed(SEED)
    ref = torch_resnet18(num_classes=10).train()
    x, y = _data()
    desc = f"CIFAR ResNet-18 train step, batch {BATCH}, SGD momentum {MOMENTUM}"
    if framework == "pytorch":
        opt = torch.optim.SGD(ref.parameters(), lr=LR, momentum=MOMENTUM)
        batches = [(torch.from_numpy(x), torch.from_numpy(y))]
        return Workload(train_step(ref, opt, torch.nn.functional.cross_entropy, batches), desc)

    import dslib
    import dslib.nn.functional as F
    from dslib.models import resnet18
    from dslib.optim import SGD

    device = dslib_device(framework)
    model = load_torch_weights(resnet18(num_classes=10), ref, device).train()
    del ref
    opt = SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    batches = [(dslib.tensor(x, device=device), dslib.tensor(y, device=device))]
    return Workload(train_step(model, opt, F.cross_entropy, batches), desc)
