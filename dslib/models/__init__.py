"""dslib.models: reference architectures built from dslib.nn.

CIFAR ResNet-18/34 and He et al.'s ResNet-8 (resnet.py), ViT and the windowed DS-ViT (vit.py, with
attention.py and window_attention.py).

    from dslib.models import resnet8, resnet18, vit, ds_vit
"""

from .resnet import BasicBlock, CifarResNet, ResNet, resnet8, resnet18, resnet34
from .vit import ProgressiveHeads, VisionTransformer, ds_vit, vit
