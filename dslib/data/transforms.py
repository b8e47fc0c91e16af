"""Image transforms with torchvision's names, working on NumPy arrays.

    from dslib.data import transforms as T
    train_tf = T.Compose([
        T.RandomCrop(32, padding=4, padding_mode="reflect"),
        T.RandomHorizontalFlip(),
        T.ToTensor(),                                   # HWC uint8 -> float32 CHW dslib Tensor in [0, 1]
        T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26)),
        T.RandomErasing(p=0.25),
    ])
    x = train_tf(image)                                 # image: (32, 32, 3) uint8 NumPy array

Layouts follow torchvision's PIL-versus-tensor rule: a NumPy array is an image in HWC (or HW) layout, as
a dataset stores it; a dslib Tensor is (..., C, H, W), as ToTensor returns it. The geometric transforms
(RandomCrop, RandomHorizontalFlip, Resize) and RandomErasing take either and return the same kind;
ToTensor takes HWC arrays, Normalize takes CHW tensors.

Random transforms draw from `dslib.data.sample_rng()`, the per-thread generator the DataLoader seeds
with (seed, epoch, index) before loading each sample, so an augmented batch depends on those only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from ..creation import from_numpy
from ..creation import tensor as _tensor
from ..tensor import Tensor
from .mixing import MixupCutmix, cutmix, mixup  # batch-level mixing, re-exported with the transforms

__all__ = [
    "Compose",
    "Lambda",
    "MixupCutmix",
    "Normalize",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "Resize",
    "ToTensor",
    "cutmix",
    "mixup",
    "to_tensor",
]


def _rng() -> np.random.Generator:
    from ._seeding import sample_rng  # imported at call time: the loader sets it per sample

    return sample_rng()


# ----- input checks and layout helpers -----


def _as_image_array(img, who: str) -> np.ndarray:
    """An HWC/HW NumPy image (PIL images are converted), or a clear error."""
    if isinstance(img, Tensor):
        raise TypeError(
            f"{who} takes an HWC NumPy image (as a dataset stores it), got a dslib Tensor of shape {tuple(img.shape)}: "
            "put it before ToTensor() in the Compose list"
        )
    if not isinstance(img, np.ndarray):
        if hasattr(img, "__array_interface__"):  # a PIL image
            img = np.asarray(img)
        else:
            raise TypeError(f"{who} expects an image as a NumPy array (H, W, C) or (H, W), got {type(img).__name__}")
    if img.ndim not in (2, 3):
        raise ValueError(f"{who} expects an image of shape (H, W, C) or (H, W), got an array of shape {img.shape}")
    if img.ndim == 3 and img.shape[2] > 4 and img.shape[0] <= 4:
        raise ValueError(
            f"{who} expects an HWC image, got shape {img.shape}, which looks like CHW: "
            "use img.transpose(1, 2, 0), or apply this transform after ToTensor() (tensors are CHW)"
        )
    if img.dtype.kind not in "uif" and img.dtype != np.bool_:
        raise TypeError(f"{who} expects a numeric image array, got dtype {img.dtype}")
    return img


def _hw_first(img, who: str):
    """(array with H and W as its first two axes, function turning such an array back into img's kind).

    NumPy images are HWC/HW already; a Tensor (..., H, W) has its last two axes moved to the front.
    """
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise ValueError(f"{who} expects a tensor image of shape (..., H, W), got shape {tuple(img.shape)}")
        device = img.device
        arr = np.moveaxis(img.detach().numpy(), (-2, -1), (0, 1))

        def back(out):
            out = np.ascontiguousarray(np.moveaxis(out, (0, 1), (-2, -1)))
            return from_numpy(out) if device.type == "numpy" else _tensor(out, device=device)

        return arr, back
    return _as_image_array(img, who), lambda out: out


def _pair(value, name: str, who: str) -> tuple[int, int]:
    """An int or a 1/2-sequence of positive ints as (h, w)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    elif isinstance(value, Sequence) and len(value) in (1, 2) and all(isinstance(v, numbers.Integral) for v in value):
        value = (int(value[0]), int(value[-1]))
    else:
        raise TypeError(f"{who}: {name} must be an int or a sequence (h, w) of ints, got {value!r}")
    if min(value) <= 0:
        raise ValueError(f"{who}: {name} must be positive, got {value!r}")
    return value


def _check_p(p, who: str) -> float:
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{who}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


# ----- composition -----


class Compose:
    """Apply transforms in order: Compose([RandomCrop(32, 4), ToTensor()])(img)."""

    def __init__(self, transforms: Sequence[Callable]):
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
            raise TypeError(f"Compose expects a list of transforms, got {type(transforms).__name__}")
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {i} is not callable: {t!r}")
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class Lambda:
    """A user function as a transform: Lambda(lambda img: img[..., :1])."""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Lambda expects a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"Lambda(lambd={getattr(self.lambd, '__name__', repr(self.lambd))})"


# ----- conversion and normalization -----


def to_tensor(img) -> Tensor:
    """HWC (or HW) image -> float32 CHW dslib Tensor; uint8 is scaled from 0..255 to [0, 1], floats kept."""
    img = _as_image_array(img, "ToTensor")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / np.float32(255.0)
    elif img.dtype.kind == "f":
        out = img.astype(np.float32)
    else:
        raise TypeError(
            f"ToTensor expects a uint8 image (0..255) or a float image, got dtype {img.dtype}: "
            "convert it first (img.astype(np.uint8) or img.astype(np.float32) / max_value)"
        )
    return from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))


class ToTensor:
    """HWC uint8 0..255 -> float32 CHW dslib Tensor in [0, 1] (HW -> 1xHxW); float images keep their values."""

    def __call__(self, img) -> Tensor:
        return to_tensor(img)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] per channel of a float (..., C, H, W) tensor; mean/std hold C values (or 1)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = self._values(mean, "mean")
        self.std = self._values(std, "std")
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean has {len(self.mean)} values but std has {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std must be non-zero (it divides), got {self.std}")

    @staticmethod
    def _values(v, name):
        if isinstance(v, numbers.Real):
            v = (v,)
        try:
            values = tuple(float(x) for x in v)
        except (TypeError, ValueError):
            raise TypeError(f"Normalize: {name} must be a sequence of numbers (one per channel), got {v!r}") from None
        if not values:
            raise ValueError(f"Normalize: {name} is empty; give one value per channel")
        return values

    def __call__(self, img) -> Tensor:
        if not isinstance(img, Tensor):
            raise TypeError(
                f"Normalize expects the float CHW tensor ToTensor() returns, got {type(img).__name__}: "
                "put ToTensor() before Normalize in the Compose list"
            )
        if img.ndim < 3:
            raise ValueError(f"Normalize expects a tensor image of shape (..., C, H, W), got {tuple(img.shape)}")
        if not img.dtype.is_floating_point:
            raise TypeError(f"Normalize expects a floating-point tensor, got {img.dtype}: apply ToTensor() first")
        c = img.shape[-3]
        if len(self.mean) not in (1, c):
            raise ValueError(
                f"Normalize: mean/std have {len(self.mean)} values but the image has {c} channels "
                f"(shape {tuple(img.shape)}); give {c} values (or 1 for all channels)"
            )
        arr = img.detach().numpy()
        mean = np.asarray(self.mean, dtype=arr.dtype).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=arr.dtype).reshape(-1, 1, 1)
        out = (arr - mean) / std
        return from_numpy(out) if img.device.type == "numpy" else _tensor(out, device=img.device)

    def __repr__(self):
        return f"Normalize(mean={list(self.mean)}, std={list(self.std)})"


# ----- geometry -----


def _padding4(padding) -> tuple[int, int, int, int]:
    """torchvision's padding forms -> (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        p = (int(padding),) * 4
    elif isinstance(padding, Sequence) and len(padding) in (1, 2, 4):
        if not all(isinstance(v, numbers.Integral) for v in padding):
            raise TypeError(f"RandomCrop: padding values must be ints, got {padding!r}")
        p = {1: lambda q: q * 4, 2: lambda q: q * 2, 4: lambda q: q}[len(padding)](tuple(int(v) for v in padding))
    else:
        raise TypeError(f"RandomCrop: padding must be an int or a sequence of 1, 2 or 4 ints, got {padding!r}")
    if min(p) < 0:
        raise ValueError(f"RandomCrop: padding must be non-negative, got {padding!r}")
    return p


class RandomCrop:
    """Crop a random size=(h, w) window, after padding the borders (torchvision.transforms.RandomCrop).

    padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom);
    padding_mode: "constant" (with `fill`), "edge", "reflect" or "symmetric" (NumPy's np.pad modes).
    """

    MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size, "size", "RandomCrop")
        self.padding = None if padding is None else _padding4(padding)
        if padding_mode not in self.MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {self.MODES}, got {padding_mode!r}")
        if not isinstance(fill, numbers.Real):
            raise TypeError(f"RandomCrop: fill must be a number, got {fill!r}")
        self.pad_if_needed, self.fill, self.padding_mode = bool(pad_if_needed), fill, padding_mode

    def _pad(self, arr, left, top, right, bottom):
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (arr.ndim - 2)
        if self.padding_mode == "constant":
            return np.pad(arr, widths, mode="constant", constant_values=self.fill)
        return np.pad(arr, widths, mode=self.padding_mode)

    def __call__(self, img):
        arr, back = _hw_first(img, "RandomCrop")
        if self.padding is not None:
            arr = self._pad(arr, *self.padding)
        th, tw = self.size
        if self.pad_if_needed and (arr.shape[0] < th or arr.shape[1] < tw):
            dh, dw = max(th - arr.shape[0], 0), max(tw - arr.shape[1], 0)
            arr = self._pad(arr, dw, dh, dw, dh)
        h, w = arr.shape[:2]
        if h < th or w < tw:
            raise ValueError(
                f"RandomCrop: crop size {(th, tw)} is larger than the (padded) image size {(h, w)}; "
                "pass a smaller size, padding=..., or pad_if_needed=True"
            )
        rng = _rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return back(arr[i : i + th, j : j + tw].copy())  # a copy: never a view into the dataset's storage

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding}, padding_mode={self.padding_mode!r})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = _check_p(p, "RandomHorizontalFlip")

    def __call__(self, img):
        arr, back = _hw_first(img, "RandomHorizontalFlip")
        if _rng().random() < self.p:
            return back(arr[:, ::-1].copy())
        return img

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


def _resize_axis(arr: np.ndarray, axis: int, out_len: int, mode: str) -> np.ndarray:
    """Resample one axis as torch.nn.functional.interpolate (align_corners=False, no antialiasing)."""
    n = arr.shape[axis]
    scale = n / out_len
    dst = np.arange(out_len, dtype=np.float64)
    if mode == "nearest":  # torch's legacy "nearest": floor(dst * scale)
        idx = np.minimum(np.floor(dst * scale).astype(np.int64), n - 1)
        return np.take(arr, idx, axis=axis)
    src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(arr.dtype)
    shape = [1] * arr.ndim
    shape[axis] = out_len
    lam = lam.reshape(shape)
    return np.take(arr, i0, axis=axis) * (1 - lam) + np.take(arr, i1, axis=axis) * lam


class Resize:
    """Resize to size=(h, w), or with an int, match the shorter side to it keeping the aspect ratio.

    interpolation: "bilinear" or "nearest", computed as torch.nn.functional.interpolate with
    align_corners=False and no antialiasing (so shrinking by a large factor aliases; torchvision's
    default antialias=True differs there). uint8 images are rounded back to uint8.
    """

    MODES = ("bilinear", "nearest")

    def __init__(self, size, interpolation: str = "bilinear"):
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size <= 0:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size = int(size)
        else:
            self.size = _pair(size, "size", "Resize")
        if interpolation not in self.MODES:
            raise ValueError(f"Resize: interpolation must be one of {self.MODES}, got {interpolation!r}")
        self.interpolation = interpolation

    def _out_size(self, h, w):
        if isinstance(self.size, tuple):
            return self.size
        if h <= w:  # torchvision: the shorter side becomes `size`, the longer one is truncated
            return self.size, int(self.size * w / h)
        return int(self.size * h / w), self.size

    def __call__(self, img):
        arr, back = _hw_first(img, "Resize")
        oh, ow = self._out_size(*arr.shape[:2])
        if (oh, ow) == arr.shape[:2]:
            return img
        work = arr if arr.dtype.kind == "f" else arr.astype(np.float32)
        out = _resize_axis(_resize_axis(work, 0, oh, self.interpolation), 1, ow, self.interpolation)
        if arr.dtype.kind != "f":
            info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
            out = np.rint(out) if info is None else np.clip(np.rint(out), info.min, info.max)
        return back(out.astype(arr.dtype, copy=False))

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation={self.interpolation!r})"


# ----- erasing -----


class RandomErasing:
    """Random Erasing (Zhong et al. 2020): with probability p, overwrite a random rectangle.

    Its area is a uniform fraction `scale` of the image and its aspect ratio log-uniform in `ratio`;
    value: a number, one number per channel, or "random" (standard-normal noise; uniform 0..255 on
    integer images). Drawn as torchvision does: up to 10 tries to fit the rectangle, else unchanged.
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0):
        self.p = _check_p(p, "RandomErasing")
        self.scale = self._range(scale, "scale")
        self.ratio = self._range(ratio, "ratio")
        if self.scale[0] < 0.0 or self.scale[1] > 1.0:
            raise ValueError(f"RandomErasing: scale must lie in [0, 1], got {scale!r}")
        if self.ratio[0] <= 0:
            raise ValueError(f"RandomErasing: ratio must be positive, got {ratio!r}")
        if isinstance(value, str):
            if value != "random":
                raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', got {value!r}")
        elif isinstance(value, numbers.Real):
            value = float(value)
        elif isinstance(value, Sequence) and all(isinstance(v, numbers.Real) for v in value):
            value = tuple(float(v) for v in value)
        else:
            raise TypeError(f"RandomErasing: value must be a number, a sequence or 'random', got {value!r}")
        self.value = value

    @staticmethod
    def _range(r, name):
        if not (isinstance(r, Sequence) and len(r) == 2 and all(isinstance(v, numbers.Real) for v in r)):
            raise TypeError(f"RandomErasing: {name} must be a (min, max) pair of numbers, got {r!r}")
        if r[0] > r[1]:
            raise ValueError(f"RandomErasing: {name} must be (min, max) with min <= max, got {r!r}")
        return float(r[0]), float(r[1])

    def get_params(self, h: int, w: int, rng: np.random.Generator):
        """(i, j, eh, ew) of the rectangle, or None when 10 tries found none that fits."""
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            erase_area = area * rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(rng.uniform(*log_ratio))
            eh = int(round(math.sqrt(erase_area * aspect)))
            ew = int(round(math.sqrt(erase_area / aspect)))
            if not (0 < eh < h and 0 < ew < w):
                continue
            return int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1)), eh, ew
        return None

    def __call__(self, img):
        arr, back = _hw_first(img, "RandomErasing")
        rng = _rng()
        if rng.random() >= self.p:
            return img
        h, w = arr.shape[:2]
        box = self.get_params(h, w, rng)
        if box is None:
            return img
        i, j, eh, ew = box
        channels = arr.shape[2:]  # HWC -> (C,); a (C, H, W) tensor moved to (H, W, C) -> (C,)
        if self.value == "random":
            patch_shape = (eh, ew, *channels)
            if arr.dtype.kind in "iu":
                fill = rng.integers(0, 256, size=patch_shape)
            else:
                fill = rng.standard_normal(patch_shape)
        elif isinstance(self.value, tuple):
            c = channels[-1] if channels else 1
            if len(self.value) not in (1, c):
                raise ValueError(
                    f"RandomErasing: value has {len(self.value)} entries but the image has {c} channels "
                    f"(shape {tuple(img.shape)}); give one per channel or a single number"
                )
            fill = np.asarray(self.value)
        else:
            fill = self.value
        out = arr.copy()
        out[i : i + eh, j : j + ew] = fill
        return back(out)

    def __repr__(self):
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value!r})"
