"""Benchmark cases: one file per case, each with `build(framework) -> Workload` and its default step counts.

Frameworks: "dslib-numpy" (dslib on device "numpy"), "dslib-torch" (dslib on device "torch") and "pytorch"
(PyTorch eager with torch.autograd, the reference every ratio is taken against). Every case draws its data
and its initial weights once, from fixed seeds, and gives the same arrays to all three frameworks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

FRAMEWORKS = ("dslib-numpy", "dslib-torch", "pytorch")
CASES = ("mlp", "conv", "resnet18")
SEED = 0


@dataclass
class Workload:
    step: Callable[[], object]  # one training (or forward+backward) step; returns the loss or None
    description: str  # what one step does, for the table's legend


def dslib_device(framework: str) -> str:
    """The dslib device a framework name runs on ("dslib-numpy" -> "numpy")."""
    if not framework.startswith("dslib-"):
        raise ValueError(f"dslib_device: {framework!r} is not a dslib framework (expected one of {FRAMEWORKS})")
    return framework.removeprefix("dslib-")


def load_torch_weights(model, torch_model, device: str):
    """Give a dslib model the weights (and BatchNorm statistics) of an equivalent torch model, on `device`.

    Keys follow the dslib model's own state dict, so torch-only buffers (num_batches_tracked) are skipped
    when dslib does not keep them.
    """
    import dslib

    source = torch_model.state_dict()
    missing = [k for k in model.state_dict() if k not in source]
    if missing:
        raise KeyError(f"load_torch_weights: the torch model has no {missing[:5]} (dslib and torch models differ)")
    model.load_state_dict({k: dslib.tensor(source[k].detach().numpy()) for k in model.state_dict()})
    return model.to(device)


def train_step(model, optimizer, loss_fn, batches) -> Callable[[], object]:
    """A step function cycling over `batches` [(x, y), ...]: zero_grad, forward, loss, backward, optimizer step.

    Written once for dslib and PyTorch alike: their APIs match.
    """
    state = {"i": 0}

    def step():
        x, y = batches[state["i"] % len(batches)]
        state["i"] += 1
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step
