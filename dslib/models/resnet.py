"""ResNets for small images built from dslib.nn: CIFAR ResNet-18/34 and He et al.'s CIFAR ResNet-8.

Deep Residual Learning, He et al. 2016. Each BasicBlock computes relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

- `resnet18` / `resnet34` (`ResNet`): the ImageNet stages (64-128-256-512) with the 7x7 stride-2 stem and its
  max-pool swapped for one 3x3 stride-1 conv, so a 32x32 input reaches the last stage at 4x4. Shortcuts where
  the shape changes are a 1x1 strided conv + BatchNorm (option B of the paper).
- `resnet8` (`CifarResNet`): the network of the paper's CIFAR-10 experiments (Sec. 4.2), 6n+2 layers with n=1:
  a 3x3 stem conv with 16 channels, three stages of n blocks with 16, 32, 64 channels (strides 1, 2, 2), global
  average pooling and a Linear. Its shortcuts are parameter-free (option A, as in the paper): the input
  subsampled by the stride and zero-padded with the new channels, half before and half after (as the common
  PyTorch re-implementation, akamaster/pytorch_resnet_cifar10, does). 75,290 parameters for 10 classes.

Names follow torchvision (conv1, bn1, layerN.i, downsample, fc), so a PyTorch state dict of the same
architecture loads unchanged.

    from dslib.models import resnet8, resnet18
    model = resnet18(num_classes=10)  # 11,173,962 parameters
    small = resnet8(num_classes=10, in_channels=1)  # 8x8 digits work: 8x8 -> 4x4 -> 2x2 before pooling
"""

from __future__ import annotations

import dslib.nn as nn
import dslib.nn.functional as F

from ..tensor import Tensor


def _check_sizes(fn: str, num_classes, in_channels) -> None:
    for name, v in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{fn}: {name} must be a positive int, got {v!r}")


class PadShortcut(nn.Module):
    """Option A shortcut (He et al. 2016, Sec. 3.3): subsample by `stride`, zero-pad the missing channels."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.stride = stride
        self.pad_before = (planes - in_planes) // 2
        self.pad_after = planes - in_planes - self.pad_before

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))  # (B, planes, H/s, W/s)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad=({self.pad_before}, {self.pad_after})"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (He et al. 2016, Fig. 2)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"BasicBlock: shortcut must be 'A' (zero-padding) or 'B' (1x1 conv), got {shortcut!r}")
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = None
        if (stride != 1 or in_planes != planes) and shortcut == "A":
            self.downsample = PadShortcut(in_planes, planes, stride)
        elif stride != 1 or in_planes != planes:  # projection shortcut (option B of the paper)
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """CIFAR ResNet: 3x3 stem, four BasicBlock stages (64-128-256-512), global average pool, Linear."""

    def __init__(self, layers: list[int], num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"ResNet(layers): expected four positive block counts, got {layers}")
        _check_sizes("ResNet", num_classes, in_channels)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        in_planes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(in_planes, planes, stride)] + [BasicBlock(planes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, H, W)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, H/8, W/8)
        return self.fc(self.avgpool(x).flatten(1))  # (B, num_classes)


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet with 6n+2 layers: 3x3 stem (16), stages of n blocks (16-32-64), pool, Linear."""

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"CifarResNet: n (blocks per stage, depth 6n+2) must be a positive int, got {n!r}")
        _check_sizes("CifarResNet", num_classes, in_channels)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        in_planes = 16
        for i, planes in enumerate((16, 32, 64)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(in_planes, planes, stride, "A")]
            blocks += [BasicBlock(planes, planes, 1, "A") for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():  # He initialization, as the paper (Sec. 3.4) and torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 16, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # (B, 64, H/4, W/4)
        return self.fc(self.avgpool(x).flatten(1))  # (B, num_classes)


def resnet8(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """He et al.'s CIFAR ResNet-8 (n=1, option A shortcuts): 75,290 parameters for 10 classes and RGB input."""
    return CifarResNet(1, num_classes, in_channels)


def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-18: BasicBlock stages [2, 2, 2, 2]; 11,173,962 parameters for 10 classes."""
    return ResNet([2, 2, 2, 2], num_classes, in_channels)


def resnet34(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-34: BasicBlock stages [3, 4, 6, 3]; 21,282,122 parameters for 10 classes."""
    return ResNet([3, 4, 6, 3], num_classes, in_channels)
