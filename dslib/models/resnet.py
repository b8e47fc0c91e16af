"""ResNet for 32x32 images (CIFAR): ResNet-18 and ResNet-34 built from dslib.nn.

Deep Residual Learning, He et al. 2016; the CIFAR variant keeps the ImageNet stages but swaps the 7x7
stride-2 stem and its max-pool for one 3x3 stride-1 conv, so a 32x32 input reaches the last stage at 4x4.
Each BasicBlock computes relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is a 1x1 strided
conv + BatchNorm where the shape changes, else the identity. Names follow torchvision (conv1, bn1, layerN.i,
downsample, fc), so a PyTorch state dict of the same architecture loads unchanged.

    from dslib.models import resnet18
    model = resnet18(num_classes=10)  # 11,173,962 parameters
"""

from __future__ import annotations

import dslib.nn as nn

from ..tensor import Tensor


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (He et al. 2016, Fig. 2)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_planes != planes:  # projection shortcut (option B of the paper)
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


def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-18: BasicBlock stages [2, 2, 2, 2]; 11,173,962 parameters for 10 classes."""
    return ResNet([2, 2, 2, 2], num_classes, in_channels)


def resnet34(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-34: BasicBlock stages [3, 4, 6, 3]; 21,282,122 parameters for 10 classes."""
    return ResNet([3, 4, 6, 3], num_classes, in_channels)
