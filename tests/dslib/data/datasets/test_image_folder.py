"""dslib.data.datasets.ImageFolder on a temporary root/<class>/<image> tree (PNG, JPEG, .npy)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dslib
from dslib.data.datasets import ImageFolder


def _tree(root):
    g = np.random.default_rng(0)
    imgs = {}
    (root / "dog").mkdir(parents=True)
    (root / "cat" / "sub").mkdir(parents=True)
    imgs["cat/a.png"] = g.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(imgs["cat/a.png"]).save(root / "cat" / "a.png")
    imgs["cat/sub/b.png"] = g.integers(0, 256, (4, 4), dtype=np.uint8)  # greyscale, in a subfolder
    Image.fromarray(imgs["cat/sub/b.png"]).save(root / "cat" / "sub" / "b.png")
    Image.fromarray(g.integers(0, 256, (7, 9, 3), dtype=np.uint8)).save(root / "dog" / "c.jpg")
    imgs["dog/d.npy"] = g.random((3, 4), dtype=np.float32)
    np.save(root / "dog" / "d.npy", imgs["dog/d.npy"])
    (root / "dog" / "notes.txt").write_text("not an image")
    return imgs


def test_image_folder_finds_sorted_classes_and_reads_each_format(tmp_path):
    imgs = _tree(tmp_path)
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    rel = [(str(p)[len(str(tmp_path)) + 1 :], t) for p, t in ds.samples]
    assert rel == [("cat/a.png", 0), ("cat/sub/b.png", 0), ("dog/c.jpg", 1), ("dog/d.npy", 1)]
    assert ds.targets == [0, 0, 1, 1] and len(ds) == 4
    x, y = ds[0]
    assert isinstance(x, dslib.Tensor) and y == 0
    np.testing.assert_allclose(x.numpy(), imgs["cat/a.png"].transpose(2, 0, 1) / 255.0, atol=1e-7)  # PNG is lossless
    grey, _ = ds[1]
    assert grey.shape == (3, 4, 4)  # converted to RGB, as torchvision's loader does
    np.testing.assert_allclose(grey.numpy()[1], imgs["cat/sub/b.png"] / 255.0, atol=1e-7)
    assert ds[2][0].shape == (3, 7, 9)
    arr, _ = ds[3]
    np.testing.assert_array_equal(arr.numpy(), imgs["dog/d.npy"][None])  # float .npy kept as stored


def test_image_folder_applies_transforms_and_custom_loaders(tmp_path):
    _tree(tmp_path)
    ds = ImageFolder(
        tmp_path,
        transform=lambda im: im.shape,
        target_transform=str,
        is_valid_file=lambda p: p.endswith((".png", ".npy")),
    )
    assert [ds[i] for i in range(len(ds))] == [((6, 5, 3), "0"), ((4, 4, 3), "0"), ((3, 4), "1")]
    with pytest.raises(FileNotFoundError, match=r"no valid files for classes \['dog'\]"):
        ImageFolder(tmp_path, is_valid_file=lambda p: "cat" in p)
    ds = ImageFolder(tmp_path, is_valid_file=lambda p: "cat" in p, allow_empty=True)
    assert ds.classes == ["cat", "dog"] and len(ds) == 2
    ds = ImageFolder(tmp_path, loader=lambda p: np.zeros((2, 2, 3), np.uint8))
    assert ds[2][0].shape == (3, 2, 2)


def test_image_folder_errors_say_what_layout_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder; expected root/<class>/<image files>"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="found no class folders"):
        ImageFolder(tmp_path)
    with pytest.raises(TypeError, match="loader must be callable"):
        (tmp_path / "a").mkdir()
        ImageFolder(tmp_path, loader=3)
