"""CIFAR-10 from the official Python batches (Krizhevsky 2009); dslib never downloads it.

    from dslib.data.datasets import CIFAR10
    train = CIFAR10("~/data", train=True)     # 50,000 32x32 RGB images; test: 10,000
    x, y = train[0]                            # x: float32 (3, 32, 32) Tensor in [0, 1]

Get "CIFAR-10 python version" (cifar-10-python.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html
and extract it in `root`: `root/cifar-10-batches-py/` then holds data_batch_1 .. data_batch_5, test_batch
and batches.meta (passing that folder itself as `root` works too). Each batch is a pickled dict with
"data" (N, 3072) uint8 rows (1024 red, 1024 green, 1024 blue values, row-major) and "labels".

The batches are pickles: they are read with an unpickler that only rebuilds plain containers and
NumPy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from ._base import VisionDataset

URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
META_FILE = "batches.meta"


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds dicts/lists/bytes/str/ints and NumPy arrays; refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): "numpy._core.multiarray",
        ("numpy._core.multiarray", "_reconstruct"): "numpy._core.multiarray",
        ("numpy", "ndarray"): "numpy",
        ("numpy", "dtype"): "numpy",
        ("_codecs", "encode"): "_codecs",
    }

    def find_class(self, module, name):
        target = self.ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"CIFAR10: refusing to load {module}.{name} from a data batch")
        return super().find_class(target, name)


def _key(d: dict, name: str):
    """d["name"], whether the pickle stored str keys (latin1-decoded Python 2 files) or bytes keys."""
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    raise KeyError(name)


def _read(path: Path) -> dict:
    with open(path, "rb") as f:
        try:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as err:
            raise ValueError(
                f"CIFAR10: {path} is not a CIFAR-10 python batch ({err}); re-extract the archive"
            ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"CIFAR10: {path} holds a {type(obj).__name__}, not a CIFAR-10 batch dict")
    return obj


def find_folder(root) -> Path:
    """root itself if it holds the batches, else root/cifar-10-batches-py."""
    root = Path(os.path.expanduser(str(root)))
    return root if (root / META_FILE).exists() else root / FOLDER


class CIFAR10(VisionDataset):
    def __init__(self, root, train=True, transform=None, target_transform=None):
        super().__init__(transform, target_transform)
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"CIFAR10: root must be a path (str or os.PathLike), got {type(root).__name__}")
        folder = find_folder(root)
        names = TRAIN_FILES if train else TEST_FILES
        missing = [n for n in [*names, META_FILE] if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"CIFAR10: missing {', '.join(missing)} in {folder}. Download 'CIFAR-10 python version' "
                f"(cifar-10-python.tar.gz) from {URL} and extract it into {Path(root).expanduser()}, so that "
                f"{folder} holds {', '.join(TRAIN_FILES + TEST_FILES)} and {META_FILE} (dslib does not download)."
            )
        data, targets = [], []
        for n in names:
            batch = _read(folder / n)
            try:
                rows, labels = np.asarray(_key(batch, "data")), list(_key(batch, "labels"))
            except KeyError as err:
                raise ValueError(f"CIFAR10: {folder / n} has no {err} entry; re-extract the archive") from None
            if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != 3072 or len(labels) != len(rows):
                raise ValueError(
                    f"CIFAR10: {folder / n} holds data of shape {rows.shape} ({rows.dtype}) and {len(labels)} "
                    "labels; expected uint8 (N, 3072) and N labels"
                )
            data.append(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # rows are CHW -> HWC
            targets += [int(t) for t in labels]
        meta = _read(folder / META_FILE)
        try:
            names_raw = _key(meta, "label_names")
        except KeyError:
            raise ValueError(f"CIFAR10: {folder / META_FILE} has no label_names entry") from None
        self.classes = [c.decode() if isinstance(c, bytes) else str(c) for c in names_raw]
        self.data = np.ascontiguousarray(np.concatenate(data))
        self.targets = targets
        self.root, self.train = str(root), bool(train)
        if targets and not 0 <= min(targets) <= max(targets) < len(self.classes):
            raise ValueError(f"CIFAR10: labels outside [0, {len(self.classes)}) in {folder}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def extra_repr(self) -> str:
        return f"root={self.root!r}, train={self.train}"
