"""dslib.models: reference architectures built from dslib.nn (CIFAR ResNet-18/34)."""

from .resnet import BasicBlock, ResNet, resnet18, resnet34
