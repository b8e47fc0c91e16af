"""Image datasets with torchvision's interface: `ds[i] -> (image, label)`, `.targets`, `.classes`.

    from dslib.data.datasets import Digits, Shapes10, CIFAR10, ImageFolder
    train = Shapes10(10000, train=True)          # generated, no download
    digits = Digits(train=False)                 # scikit-learn's bundled digits, offline

With no transform an image comes back as a float32 (C, H, W) dslib Tensor in [0, 1]; a transform
(dslib.data.transforms) receives the stored HWC uint8 NumPy image instead.
"""

from .cifar10 import CIFAR10
from .digits import Digits
from .image_folder import ImageFolder
from .shapes10 import Shapes10

__all__ = ["CIFAR10", "Digits", "ImageFolder", "Shapes10"]
