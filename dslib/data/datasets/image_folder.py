"""ImageFolder: images sorted into one folder per class (torchvision.datasets.ImageFolder).

    root/cat/001.png
    root/cat/002.jpg
    root/dog/xyz.npy

    from dslib.data.datasets import ImageFolder
    ds = ImageFolder("root")        # ds.classes == ["cat", "dog"], ds.class_to_idx == {"cat": 0, "dog": 1}
    x, y = ds[0]                    # x: float32 (3, H, W) Tensor in [0, 1] (no transform given)

PNG/JPEG/BMP/GIF/TIFF/WebP files are read with Pillow (installed with matplotlib) and converted to RGB
uint8 (H, W, 3); .npy files are loaded as stored (an (H, W) or (H, W, C) array, never unpickled).
Images are read when indexed, so a folder of any size opens at once. `.samples` lists (path, class index).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._base import VisionDataset

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
EXTENSIONS = IMG_EXTENSIONS + (".npy",)


def default_loader(path: str) -> np.ndarray:
    """An image file as a NumPy array: .npy as stored, anything else via Pillow as RGB uint8 (H, W, 3)."""
    if path.lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class ImageFolder(VisionDataset):
    def __init__(self, root, transform=None, target_transform=None, loader=None, is_valid_file=None, allow_empty=False):
        super().__init__(transform, target_transform)
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"ImageFolder: root must be a path (str or os.PathLike), got {type(root).__name__}")
        if loader is not None and not callable(loader):
            raise TypeError(f"ImageFolder: loader must be callable, got {loader!r}")
        if is_valid_file is not None and not callable(is_valid_file):
            raise TypeError(f"ImageFolder: is_valid_file must be callable, got {is_valid_file!r}")
        path = Path(os.path.expanduser(str(root)))
        if not path.is_dir():
            raise FileNotFoundError(f"ImageFolder: root {path} is not a folder; expected root/<class>/<image files>")
        self.classes = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
        if not self.classes:
            raise FileNotFoundError(
                f"ImageFolder: found no class folders in {path}; expected root/<class>/<image files>"
            )
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        valid = is_valid_file or (lambda p: p.lower().endswith(EXTENSIONS))
        self.samples: list[tuple[str, int]] = []
        empty = []
        for c in self.classes:
            found = sorted(
                str(Path(d) / f)
                for d, _, files in os.walk(path / c, followlinks=True)
                for f in files
                if not f.startswith(".") and valid(str(Path(d) / f))
            )
            if not found:
                empty.append(c)
            self.samples += [(p, self.class_to_idx[c]) for p in found]
        if empty and not allow_empty:
            raise FileNotFoundError(
                f"ImageFolder: no valid files for classes {empty} in {path} (accepted extensions: "
                f"{', '.join(EXTENSIONS)}); add images, remove the folders, or pass allow_empty=True"
            )
        self.targets = [t for _, t in self.samples]
        self.loader = loader or default_loader
        self.root = str(path)

    def _load_image(self, index: int) -> np.ndarray:
        return self.loader(self.samples[index][0])

    def extra_repr(self) -> str:
        return f"root={self.root!r}"
