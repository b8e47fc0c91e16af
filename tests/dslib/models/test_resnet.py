"""dslib.models.resnet: the CIFAR ResNet-18/34 match the PyTorch reference in benchmarks/torch_resnet.py."""

import numpy as np
import pytest
import torch

import dslib
from benchmarks.torch_resnet import resnet18 as torch_resnet18
from dslib.models import resnet8, resnet18, resnet34
from dslib.models.resnet import BasicBlock, CifarResNet


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


# ----- ResNet-8 (He et al. 2016, CIFAR, option A shortcuts) -----
class TorchPadShortcut(torch.nn.Module):
    """akamaster/pytorch_resnet_cifar10's option A LambdaLayer: x[:, :, ::2, ::2] zero-padded by planes//4 a side."""

    def __init__(self, planes):
        super().__init__()
        self.planes = planes

    def forward(self, x):
        p = self.planes // 4
        return torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p), "constant", 0)


class TorchCifarBlock(torch.nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        nn_ = torch.nn
        self.conv1 = nn_.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn_.BatchNorm2d(planes)
        self.conv2 = nn_.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn_.BatchNorm2d(planes)
        self.downsample = TorchPadShortcut(planes) if stride != 1 or in_planes != planes else None

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchCifarResNet(torch.nn.Module):
    """He et al.'s 6n+2 CIFAR ResNet as akamaster/pytorch_resnet_cifar10 writes it (names as torchvision)."""

    def __init__(self, n, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        in_planes = 16
        for i, planes in enumerate((16, 32, 64)):
            blocks = [
                TorchCifarBlock(in_planes if j == 0 else planes, planes, 2 if i and not j else 1) for j in range(n)
            ]
            setattr(self, f"layer{i + 1}", torch.nn.Sequential(*blocks))
            in_planes = planes
        self.fc = torch.nn.Linear(64, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


def test_resnet8_parameter_count_equals_the_torch_reimplementation():
    """Option A shortcuts have no parameters: 75,290 for ResNet-8; ResNet-20 gives the paper's 0.27M (269,722)."""
    assert n_params(resnet8()) == sum(p.numel() for p in TorchCifarResNet(1).parameters()) == 75_290
    assert n_params(CifarResNet(3)) == sum(p.numel() for p in TorchCifarResNet(3).parameters()) == 269_722
    assert n_params(resnet8(num_classes=10, in_channels=1)) == 75_290 - 16 * 2 * 9


def test_resnet8_state_dict_keys_are_the_torch_reimplementation_keys():
    ours = {k for k in resnet8().state_dict() if not k.endswith("num_batches_tracked")}
    theirs = {k for k in TorchCifarResNet(1).state_dict() if not k.endswith("num_batches_tracked")}
    assert ours == theirs


@pytest.mark.parametrize("device", ["numpy", "torch"])
@pytest.mark.parametrize("shape", [(2, 1, 8, 8), (2, 3, 32, 32)])
def test_resnet8_with_torch_weights_gives_torch_logits_and_gradients(device, shape):
    """Digits-sized (8x8, one channel) and CIFAR-sized inputs; training mode, so BatchNorm uses batch stats."""
    torch.manual_seed(0)
    ref = TorchCifarResNet(1, num_classes=10, in_channels=shape[1]).double()
    x = np.random.default_rng(0).standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    t_out = ref(tx)
    t_out.square().sum().backward()

    model = resnet8(num_classes=10, in_channels=shape[1]).to(dtype=dslib.float64)
    source = ref.state_dict()
    model.load_state_dict({k: dslib.tensor(source[k].numpy()) for k in model.state_dict()})
    model = model.to(device)
    dx = dslib.tensor(x, device=device).requires_grad_(True)
    out = model(dx)
    (out * out).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.conv1.weight.grad.numpy(), ref.conv1.weight.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        model.layer3[0].conv1.weight.grad.numpy(), ref.layer3[0].conv1.weight.grad.numpy(), rtol=1e-8, atol=1e-10
    )


def test_in_channels_changes_only_the_stem():
    assert n_params(resnet18(num_classes=10, in_channels=1)) == 11_173_962 - 64 * 2 * 9
    assert resnet34(in_channels=1).conv1.weight.shape == (64, 1, 3, 3)


def test_bad_sizes_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="num_classes must be a positive int, got 0"):
        resnet8(num_classes=0)
    with pytest.raises(ValueError, match="in_channels must be a positive int, got -1"):
        resnet18(in_channels=-1)
    with pytest.raises(ValueError, match="shortcut must be 'A'"):
        BasicBlock(16, 32, 2, shortcut="C")
