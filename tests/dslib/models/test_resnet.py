"""dslib.models.resnet: the CIFAR ResNet-18/34 match the PyTorch reference in benchmarks/torch_resnet.py."""

import numpy as np
import pytest
import torch

import dslib
from benchmarks.torch_resnet import resnet18 as torch_resnet18
from dslib.models import resnet18, resnet34


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_resnet18_has_the_standard_cifar_parameter_count():
    assert n_params(resnet18(num_classes=10)) == 11_173_962


def test_resnet34_has_the_standard_cifar_parameter_count():
    assert n_params(resnet34(num_classes=10)) == 21_282_122


def test_resnet18_state_dict_keys_are_the_torch_reference_keys():
    ours = set(resnet18().state_dict())
    theirs = {k for k in torch_resnet18().state_dict() if not k.endswith("num_batches_tracked")}
    assert ours - {k for k in ours if k.endswith("num_batches_tracked")} == theirs


def test_resnet18_maps_images_to_one_logit_per_class():
    model = resnet18(num_classes=7, in_channels=1)
    out = model(dslib.randn(2, 1, 16, 16))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_resnet18_with_torch_weights_gives_torch_logits_in_eval_mode(device):
    """Same weights and BatchNorm running statistics -> the same logits, within float32 rounding."""
    torch.manual_seed(0)
    ref = torch_resnet18(num_classes=10)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval mode really uses them
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    ref.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16), dtype=np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()

    model = resnet18(num_classes=10)
    source = ref.state_dict()
    model.load_state_dict({k: dslib.tensor(source[k].numpy()) for k in model.state_dict()})
    model = model.to(device).eval()
    with dslib.no_grad():
        got = model(dslib.tensor(x, device=device)).numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
