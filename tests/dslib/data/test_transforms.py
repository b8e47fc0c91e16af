"""dslib.data.transforms: each transform against hand-computed results or PyTorch, its randomness drawn
from the per-sample stream (seed_sample / sample_rng), its repr, and its errors on bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dslib
from dslib.data import sample_rng, seed_sample
from dslib.data import transforms as T


def _image(h=8, w=10, c=3, seed=0, dtype=np.uint8):
    g = np.random.default_rng(seed)
    if dtype == np.uint8:
        return g.integers(0, 256, size=(h, w, c) if c else (h, w), dtype=np.uint8)
    return g.standard_normal((h, w, c) if c else (h, w)).astype(dtype)


def _next_draws():
    """A copy of the current per-sample generator: it draws what the next transform call will draw."""
    return copy.deepcopy(sample_rng())


# ----- ToTensor -----


def test_to_tensor_scales_uint8_hwc_to_float_chw_in_0_1_as_torch_does():
    img = _image(5, 7, 3)
    out = T.ToTensor()(img)
    assert isinstance(out, dslib.Tensor) and out.dtype == dslib.float32 and out.shape == (3, 5, 7)
    ref = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=0, atol=1e-7)
    assert out.numpy().min() >= 0 and out.numpy().max() <= 1


def test_to_tensor_gives_grey_images_one_channel_and_keeps_float_values():
    grey = _image(4, 6, c=None)
    assert T.ToTensor()(grey).shape == (1, 4, 6)
    np.testing.assert_allclose(T.ToTensor()(grey).numpy()[0], grey / 255.0, atol=1e-7)
    f = _image(4, 6, 2, dtype=np.float64)
    np.testing.assert_allclose(T.ToTensor()(f).numpy(), f.transpose(2, 0, 1).astype(np.float32))


def test_to_tensor_rejects_chw_tensors_and_unclear_dtypes_with_the_fix():
    with pytest.raises(ValueError, match="looks like CHW"):
        T.ToTensor()(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(TypeError, match="uint8 image"):
        T.ToTensor()(np.zeros((4, 4, 3), np.int16))
    with pytest.raises(TypeError, match="before ToTensor"):
        T.ToTensor()(dslib.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="NumPy array"):
        T.ToTensor()([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"\(H, W, C\) or \(H, W\)"):
        T.ToTensor()(np.zeros((2, 4, 4, 3), np.uint8))


# ----- Normalize -----


def test_normalize_matches_torch_per_channel(device):
    x = np.random.default_rng(1).random((3, 6, 5), dtype=np.float32)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    out = T.Normalize(mean, std)(dslib.tensor(x, device=device))
    ref = (torch.from_numpy(x) - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert out.device == dslib.device(device) and out.dtype == dslib.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)


def test_normalize_broadcasts_one_value_and_handles_batches():
    x = np.random.default_rng(2).random((2, 3, 4, 4), dtype=np.float32)
    out = T.Normalize([0.5], [0.25])(dslib.tensor(x))
    np.testing.assert_allclose(out.numpy(), (x - 0.5) / 0.25, rtol=1e-6)


def test_normalize_errors_name_the_channel_count_and_the_fix():
    with pytest.raises(ValueError, match="2 values but the image has 3 channels"):
        T.Normalize((0.5, 0.5), (0.2, 0.2))(dslib.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="mean has 3 values but std has 2"):
        T.Normalize((0.5, 0.5, 0.5), (0.2, 0.2))
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize((0.5,), (0.0,))
    with pytest.raises(TypeError, match="put ToTensor\\(\\) before Normalize"):
        T.Normalize((0.5,), (0.2,))(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        T.Normalize((0.5,), (0.2,))(dslib.zeros(3, 4, 4, dtype=dslib.int64))
    with pytest.raises(TypeError, match="sequence of numbers"):
        T.Normalize("abc", (0.2,))


# ----- RandomCrop -----


@pytest.mark.parametrize(
    ("mode", "torch_mode"), [("constant", "constant"), ("edge", "replicate"), ("reflect", "reflect")]
)
def test_random_crop_is_a_window_of_the_image_padded_as_torch_pads(mode, torch_mode):
    img = _image(8, 10, 3, seed=3)
    padded = TF.pad(torch.from_numpy(img).permute(2, 0, 1)[None].float(), (2, 2, 2, 2), mode=torch_mode)
    padded = padded[0].permute(1, 2, 0).numpy()  # (12, 14, 3)
    crop = T.RandomCrop((8, 10), padding=2, padding_mode=mode)
    seen = set()
    for index in range(200):
        seed_sample(0, 0, index)
        g = _next_draws()
        i, j = int(g.integers(0, 12 - 8 + 1)), int(g.integers(0, 14 - 10 + 1))
        out = crop(img)
        assert out.shape == (8, 10, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, padded[i : i + 8, j : j + 10])
        seen.add((i, j))
    assert seen == {(i, j) for i in range(5) for j in range(5)}  # every window offset occurs


def test_random_crop_padding_forms_follow_torchvision():
    img = _image(4, 5, 1, seed=4)
    # (left/right, top/bottom) = (1, 2): cropping to the full padded size returns the padded image
    out = T.RandomCrop((8, 7), padding=(1, 2), fill=9)(img)
    np.testing.assert_array_equal(out, np.pad(img, ((2, 2), (1, 1), (0, 0)), constant_values=9))
    # (left, top, right, bottom)
    out = T.RandomCrop((4 + 2 + 4, 5 + 1 + 3), padding=(1, 2, 3, 4))(img)
    np.testing.assert_array_equal(out, np.pad(img, ((2, 4), (1, 3), (0, 0))))
    out = T.RandomCrop(6, pad_if_needed=True)(img)
    assert out.shape == (6, 6, 1)


def test_random_crop_draws_from_the_sample_stream_and_treats_tensors_as_chw():
    img = _image(12, 12, 3, seed=5)
    crop = T.RandomCrop(8, padding=2)
    seed_sample(7, 1, 3)
    a = crop(img)
    seed_sample(7, 1, 3)
    b = crop(dslib.tensor(img.transpose(2, 0, 1)))  # the same draws on the CHW tensor of the same image
    np.testing.assert_array_equal(a, b.numpy().transpose(1, 2, 0))
    outs = []
    for index in range(10):
        seed_sample(7, 1, index)
        outs.append(crop(img))
    assert len({o.tobytes() for o in outs}) > 1  # other samples, other crops


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"crop size \(9, 9\) is larger than the \(padded\) image size \(8, 8\)"):
        T.RandomCrop(9)(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(8, padding=1, padding_mode="wrap")
    with pytest.raises(TypeError, match="padding must be an int or a sequence of 1, 2 or 4"):
        T.RandomCrop(8, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="size must be positive"):
        T.RandomCrop(0)


# ----- RandomHorizontalFlip -----


def test_horizontal_flip_mirrors_hwc_arrays_and_chw_tensors(device):
    img = _image(4, 6, 3, seed=6)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    assert T.RandomHorizontalFlip(p=0.0)(img) is img
    x = np.random.default_rng(0).random((3, 4, 6), dtype=np.float32)
    out = T.RandomHorizontalFlip(p=1.0)(dslib.tensor(x, device=device))
    assert out.device == dslib.device(device)
    np.testing.assert_array_equal(out.numpy(), torch.flip(torch.from_numpy(x), dims=[-1]).numpy())


def test_horizontal_flip_flips_about_p_of_the_samples():
    img = _image(2, 3, 1)
    flipped = 0
    for index in range(400):
        seed_sample(0, 0, index)
        flipped += not np.array_equal(T.RandomHorizontalFlip(p=0.3)(img), img)
    assert 0.22 < flipped / 400 < 0.38
    with pytest.raises(ValueError, match="probability"):
        T.RandomHorizontalFlip(p=1.5)


# ----- RandomErasing -----


def test_random_erasing_overwrites_one_rectangle_within_the_scale_and_ratio_ranges():
    x = np.random.default_rng(0).random((3, 20, 30), dtype=np.float32) + 1  # no zeros anywhere
    erase = T.RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0), value=0)
    for index in range(30):
        seed_sample(0, 0, index)
        out = erase(dslib.tensor(x)).numpy()
        zero = out == 0
        assert (zero == zero[0]).all()  # the same region in every channel
        rows, cols = np.nonzero(zero[0])
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert zero[0].sum() == h * w  # a full rectangle
        assert 0.05 * 600 - 0.5 * (h + w) <= h * w <= 0.2 * 600 + 0.5 * (h + w) + 1  # area (before rounding)
        assert 0.5 * 0.7 <= h / w <= 2.0 / 0.7
        np.testing.assert_array_equal(out[~zero], x[~zero])  # everything else untouched


def test_random_erasing_fills_per_channel_values_on_hwc_images_and_can_skip():
    img = np.full((16, 16, 3), 200, np.uint8)
    seed_sample(0, 0, 1)
    out = T.RandomErasing(p=1.0, value=(1, 2, 3))(img)
    changed = (out != 200).any(-1)
    assert changed.any()
    np.testing.assert_array_equal(out[changed], np.tile([1, 2, 3], (changed.sum(), 1)))
    assert T.RandomErasing(p=0.0)(img) is img
    seed_sample(0, 0, 2)
    noisy = T.RandomErasing(p=1.0, value="random")(img)
    assert noisy.dtype == np.uint8 and (noisy != 200).any()


def test_random_erasing_errors():
    with pytest.raises(ValueError, match="2 entries but the image has 3 channels"):
        seed_sample(0, 0, 0)
        T.RandomErasing(p=1.0, value=(1, 2))(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="min <= max"):
        T.RandomErasing(scale=(0.5, 0.1))
    with pytest.raises(ValueError, match=r"scale must lie in \[0, 1\]"):
        T.RandomErasing(scale=(0.1, 1.5))
    with pytest.raises(ValueError, match="'random'"):
        T.RandomErasing(value="noise")


# ----- Resize -----


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize(("size", "out_hw"), [((13, 7), (13, 7)), ((4, 22), (4, 22)), (5, (5, 7))])
def test_resize_matches_torch_interpolate(mode, size, out_hw):
    x = np.random.default_rng(1).random((2, 9, 13), dtype=np.float32)
    out = T.Resize(size, interpolation=mode)(dslib.tensor(x))
    ref = TF.interpolate(
        torch.from_numpy(x)[None], size=out_hw, mode=mode, **({"align_corners": False} if mode == "bilinear" else {})
    )[0]
    assert out.shape == (2, *out_hw)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    # the same on an HWC array
    out_hwc = T.Resize(size, interpolation=mode)(x.transpose(1, 2, 0))
    np.testing.assert_allclose(out_hwc, ref.numpy().transpose(1, 2, 0), rtol=1e-5, atol=1e-6)


def test_resize_int_matches_the_shorter_side_and_rounds_uint8():
    img = _image(20, 30, 3, seed=2)
    out = T.Resize(10)(img)
    assert out.shape == (10, 15, 3) and out.dtype == np.uint8
    ref = TF.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float(), size=(10, 15), mode="bilinear")
    np.testing.assert_array_equal(out, np.clip(np.rint(ref[0].permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8))
    assert T.Resize(10)(_image(30, 20)).shape == (15, 10, 3)
    with pytest.raises(ValueError, match="interpolation"):
        T.Resize(10, interpolation="bicubic")
    with pytest.raises(TypeError, match="size must be an int or a sequence"):
        T.Resize("big")


# ----- Compose, Lambda, reprs -----


def test_compose_applies_in_order_and_checks_its_items():
    pipeline = T.Compose([T.Lambda(lambda im: im[:, :, :1]), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    img = _image(3, 3, 3)
    out = pipeline(img)
    np.testing.assert_allclose(out.numpy(), (img[:, :, :1].transpose(2, 0, 1) / 255 - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(TypeError, match="transform 1 is not callable"):
        T.Compose([T.ToTensor(), 3])
    with pytest.raises(TypeError, match="list of transforms"):
        T.Compose(T.ToTensor())
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(5)


def test_reprs_show_the_settings():
    pipeline = T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.5,), (0.25,))]
    )
    assert repr(pipeline) == (
        "Compose(\n"
        "    RandomCrop(size=(32, 32), padding=(4, 4, 4, 4), padding_mode='constant')\n"
        "    RandomHorizontalFlip(p=0.5)\n"
        "    ToTensor()\n"
        "    Normalize(mean=[0.5], std=[0.25])\n"
        ")"
    )
    assert repr(T.Resize(16)) == "Resize(size=16, interpolation='bilinear')"
    assert repr(T.RandomErasing()) == "RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0)"


def test_random_transforms_depend_only_on_seed_epoch_and_index():
    tf = T.Compose([T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(), T.ToTensor(), T.RandomErasing(p=0.5)])
    img = _image(8, 8, 3, seed=9)

    def run(seed, epoch, index):
        seed_sample(seed, epoch, index)
        return tf(img).numpy()

    a = run(1, 2, 3)
    run(5, 0, 0)  # draws in between do not matter
    np.testing.assert_array_equal(run(1, 2, 3), a)
    assert any(not np.array_equal(run(1, 3, 3), run(1, e, 3)) for e in range(4, 8))  # other epochs differ
