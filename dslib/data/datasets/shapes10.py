"""Shapes10: the course's generated CIFAR-like data set: 32x32 RGB images of 10 shapes, no download.

    from dslib.data.datasets import Shapes10
    train = Shapes10(10000, train=True)               # generated in a few seconds, nothing cached on disk
    test = Shapes10(2000, train=False)
    x, y = train[0]                                    # x: float32 (3, 32, 32) Tensor in [0, 1]
    lt = Shapes10(10000, long_tail=100)                # exponential class profile: lt.class_counts[0] / [9] ~ 100

The class is the shape: circle, square, triangle, cross, star, ring, diamond, hexagon, bar, crescent.
Everything else is a nuisance drawn independently of the class: position, size, rotation (full turns for
the shapes that stay themselves under rotation, +-20..30 degrees for square, diamond and bar), stretch,
foreground and background colours (kept apart in brightness so the shape stays visible, never tied to the
class), a texture on the shape (solid, stripes or noise), a background (flat, gradient or noise), clutter
(small blobs and line segments in random colours) and pixel noise. Shapes are drawn from signed distance
functions (Inigo Quilez's 2D SDFs) with one pixel of antialiasing.

Image i depends only on (seed, train, i) and its label: its nuisance parameters are row i % 256 of those
drawn for block i // 256 by a generator seeded with (seed, train, i // 256). So a larger data set starts
with the images of a smaller one, and train and test images differ. Labels are i % 10 (balanced) or, with
`long_tail=ratio`, counts n_c proportional to ratio ** (-c / 9) (class 0 the most frequent, n_0 / n_9 ~ ratio)
summing to `size`, in an order shuffled by (seed, train). Generation is vectorized NumPy over blocks.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._base import VisionDataset

CLASSES = ["circle", "square", "triangle", "cross", "star", "ring", "diamond", "hexagon", "bar", "crescent"]
BLOCK = 256  # images per generator seed: parameters of image i come from block i // BLOCK
SIZE = 32
N_CLUTTER = 3

# Rotation range per class (radians, drawn uniformly in [-r, r]): full turns where the shape is itself
# under any rotation; small for square / diamond / bar, which would turn into one another (a square at
# 45 degrees is a diamond) or lose their orientation ("horizontal" bar).
ROTATION = np.array([np.pi, 0.35, np.pi, np.pi, np.pi, np.pi, 0.45, np.pi, 0.35, np.pi], np.float32)


# ----- signed distance functions in the shape's unit frame (|p| ~ 1 at the outline) -----


def _length(x, y):
    return np.sqrt(x * x + y * y)


def _box(x, y, bx, by):
    qx, qy = np.abs(x) - bx, np.abs(y) - by
    return _length(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)


def _triangle(x, y, r):
    """Equilateral triangle of half-side r, centred on its centroid."""
    k = np.float32(np.sqrt(3.0))
    x = np.abs(x) - r
    y = y + r / k
    flip = x + k * y > 0
    x, y = np.where(flip, (x - k * y) / 2, x), np.where(flip, (-k * x - y) / 2, y)
    x = x - np.clip(x, -2 * r, 0)
    return -_length(x, y) * np.sign(y)


def _star5(x, y, r, rf):
    """Five-pointed star of outer radius r, inner/outer ratio rf."""
    k1x, k1y = np.float32(0.809016994375), np.float32(-0.587785252292)
    x = np.abs(x)
    d = 2 * np.maximum(k1x * x + k1y * y, 0)
    x, y = x - d * k1x, y - d * k1y
    d = 2 * np.maximum(-k1x * x + k1y * y, 0)
    x, y = x + d * k1x, y - d * k1y
    x = np.abs(x)
    y = y - r
    bax, bay = -rf * k1y, rf * k1x - 1
    h = np.clip((x * bax + y * bay) / (bax * bax + bay * bay), 0, r)
    return _length(x - bax * h, y - bay * h) * np.sign(y * bax - x * bay)


def _rhombus(x, y, bx, by):
    x, y = np.abs(x), np.abs(y)
    h = np.clip(((bx - 2 * x) * bx - (by - 2 * y) * by) / (bx * bx + by * by), -1, 1)
    d = _length(x - 0.5 * bx * (1 - h), y - 0.5 * by * (1 + h))
    return d * np.sign(x * by + y * bx - bx * by)


def _hexagon(x, y, r):
    """Regular hexagon of inradius r."""
    kx, ky, kz = np.float32(-0.866025404), np.float32(0.5), np.float32(0.577350269)
    x, y = np.abs(x), np.abs(y)
    d = 2 * np.minimum(kx * x + ky * y, 0)
    x, y = x - d * kx, y - d * ky
    x = x - np.clip(x, -kz * r, kz * r)
    y = y - r
    return _length(x, y) * np.sign(y)


def _shape_sdf(c: int, x, y, a, b):
    """SDF of class c at points (x, y); a, b in [0, 1) vary the shape's proportions per image."""
    if c == 0:  # circle
        return _length(x, y) - 0.9
    if c == 1:  # square
        return _box(x, y, 0.78, 0.78)
    if c == 2:  # triangle
        return _triangle(x, y, 0.95)
    if c == 3:  # cross (plus)
        w = 0.22 + 0.12 * a
        return np.minimum(_box(x, y, 1.0, w), _box(x, y, w, 1.0))
    if c == 4:  # star
        return _star5(x, y, 1.05, 0.38 + 0.12 * a)
    if c == 5:  # ring
        return np.abs(_length(x, y) - 0.75) - (0.13 + 0.1 * a)
    if c == 6:  # diamond: a rhombus taller than wide (so no rotated square)
        return _rhombus(x, y, 0.62, 1.05)
    if c == 7:  # hexagon
        return _hexagon(x, y, 0.85)
    if c == 8:  # horizontal bar
        return _box(x, y, 1.05, 0.2 + 0.12 * a)
    # crescent: a disc minus a shifted disc
    return np.maximum(_length(x, y) - 0.9, -(_length(x - (0.35 + 0.25 * b), y) - 0.75))


def _segment(px, py, ax, ay, bx, by):
    """Distance from points to segments a-b (arrays broadcast)."""
    pax, pay, bax, bay = px - ax, py - ay, bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-6), 0, 1)
    return _length(pax - bax * h, pay - bay * h)


# ----- nuisance parameters and rendering -----


def _colours(g, n, value):
    """n RGB colours of mean brightness about `value`, with a random hue and saturation."""
    hue = g.random(n, dtype=np.float32)
    hue_rgb = np.clip(np.abs((hue[:, None] * 6 + np.array([0, 4, 2], np.float32)) % 6 - 3) - 1, 0, 1)
    chroma = hue_rgb - hue_rgb.mean(1, keepdims=True)
    sat = g.uniform(0.0, 0.9, n).astype(np.float32)
    return value[:, None] + 0.5 * sat[:, None] * chroma


def _block_params(seed: int, train: bool, block: int) -> dict:
    """The nuisance parameters of images block * BLOCK .. (block + 1) * BLOCK - 1 (class-independent)."""
    g = np.random.default_rng([int(seed), int(train), int(block)])
    n = BLOCK
    u = lambda *shape: g.random((n, *shape), dtype=np.float32)  # noqa: E731
    p = {"radius": 6.5 + 5.5 * u(), "pos": u(2), "rot": u() * 2 - 1, "stretch": 0.85 + 0.3 * u(), "a": u(), "b": u()}
    # brightness of shape and background at least 0.3 apart, either one the brighter
    gap = 0.3 + 0.4 * u()
    low = u() * (1 - gap)
    fg_bright = u() < 0.5
    p["fg"] = _colours(g, n, np.where(fg_bright, low + gap, low))
    p["bg"] = _colours(g, n, np.where(fg_bright, low, low + gap))
    p["texture"] = g.integers(0, 3, n)  # 0 solid, 1 stripes, 2 noise
    # stripes: angle, frequency (radians per pixel), phase, depth (brightness change)
    p["stripe"] = np.stack([u() * np.pi, 0.5 + 0.9 * u(), u() * 2 * np.pi, 0.2 + 0.25 * u()], 1)
    p["background"] = g.integers(0, 3, n)  # 0 flat, 1 gradient, 2 noise
    p["gradient"] = np.stack([u() * 2 * np.pi, 0.1 + 0.2 * u()], 1)  # direction, amplitude
    p["clutter_on"] = u(N_CLUTTER) < 0.5
    p["clutter_line"] = u(N_CLUTTER) < 0.5
    p["clutter_xy"] = u(N_CLUTTER, 4) * SIZE  # blob centre / line start (x, y) and line end (x, y)
    p["clutter_size"] = 1.0 + 1.2 * u(N_CLUTTER)
    p["clutter_colour"] = _colours(g, n * N_CLUTTER, u(N_CLUTTER).reshape(-1)).reshape(n, N_CLUTTER, 3)
    p["noise"] = g.standard_normal((n, SIZE, SIZE, 2), dtype=np.float32)  # texture/pixel noise, background noise
    p["noise_level"] = 0.01 + 0.04 * u()
    return p


def _render(p: dict, labels: np.ndarray) -> np.ndarray:
    """uint8 (n, 32, 32, 3) images from parameters p (arrays of length n) and labels (n,)."""
    n = len(labels)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5  # pixel centres
    r = p["radius"][:, None, None]
    margin = p["radius"] * 1.05 + 1
    cx = (margin + p["pos"][:, 0] * (SIZE - 2 * margin))[:, None, None]
    cy = (margin + p["pos"][:, 1] * (SIZE - 2 * margin))[:, None, None]
    theta = (p["rot"] * ROTATION[labels])[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    dx, dy = xx - cx, yy - cy
    s = p["stretch"][:, None, None]
    ux = (dx * cos + dy * sin) / (r * s)  # the shape's unit frame: rotated, scaled and stretched
    uy = (-dx * sin + dy * cos) * s / r
    sdf = np.empty((n, SIZE, SIZE), np.float32)
    for c in range(len(CLASSES)):
        m = labels == c
        if m.any():
            sdf[m] = _shape_sdf(c, ux[m], uy[m], p["a"][m, None, None], p["b"][m, None, None])
    cover = np.clip(0.5 - sdf * r, 0, 1)  # SDF in pixels -> antialiased coverage, (n, 32, 32)

    # Texture and background are brightness changes (one channel) on flat colours; textures push away
    # from the background's brightness so the outline stays visible.
    fg, bg = p["fg"][:, None, None, :], p["bg"][:, None, None, :]
    away = np.sign(fg.mean(-1, keepdims=True) - bg.mean(-1, keepdims=True))[..., 0]
    ang, freq, phase, depth = (p["stripe"][:, i, None, None] for i in range(4))
    stripes = np.sin(freq * (xx * np.cos(ang) + yy * np.sin(ang)) + phase) > 0
    tex = p["texture"][:, None, None]
    grain = np.minimum(np.abs(p["noise"][..., 1]) * 0.15, 0.4)  # channel 1: shape grain, background noise
    fg_mod = away * np.where(tex == 1, stripes * depth, np.where(tex == 2, grain, 0))
    gdir, gamp = p["gradient"][:, 0, None, None], p["gradient"][:, 1, None, None]
    ramp = ((xx - 16) * np.cos(gdir) + (yy - 16) * np.sin(gdir)) * (gamp / 16)
    bgt = p["background"][:, None, None]
    bg_mod = np.where(bgt == 1, ramp, np.where(bgt == 2, p["noise"][..., 1] * 0.06, 0))
    grey = bg_mod + cover * (fg_mod - bg_mod) + p["noise"][..., 0] * p["noise_level"][:, None, None]  # + pixel noise
    img = grey[..., None] + (bg + cover[..., None] * (fg - bg))

    # clutter: slot k of each image is off, a blob or a short segment, painted over in order k = 0, 1, 2
    for k in range(N_CLUTTER):
        alpha = np.empty((n, SIZE, SIZE), np.float32)
        ax, ay, bx, by = (p["clutter_xy"][:, k, i, None, None] for i in range(4))
        size = p["clutter_size"][:, k, None, None]
        on, line = p["clutter_on"][:, k], p["clutter_line"][:, k]
        m = on & ~line
        alpha[m] = np.clip(size[m] + 0.5 - _length(xx - ax[m], yy - ay[m]), 0, 1)
        m = on & line  # segments up to ~11 px long
        ex, ey = ax[m] + (bx[m] - ax[m]) * 0.35, ay[m] + (by[m] - ay[m]) * 0.35
        alpha[m] = np.clip(1.1 - _segment(xx, yy, ax[m], ay[m], ex, ey), 0, 1)
        img[on] += alpha[on, :, :, None] * (p["clutter_colour"][on, k, None, None, :] - img[on])

    img *= 255
    img += 0.5
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def long_tail_counts(size: int, ratio: float, num_classes: int = 10) -> np.ndarray:
    """Per-class counts proportional to ratio ** (-c / (num_classes - 1)), at least 1 each, summing to size."""
    w = float(ratio) ** (-np.arange(num_classes) / (num_classes - 1))
    exact = (size - num_classes) * w / w.sum()  # one per class is set aside so none is empty
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")  # largest remainders get the leftovers
    counts[order[: size - num_classes - counts.sum()]] += 1
    return counts + 1


def generate(size: int, train: bool = True, seed: int = 0, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """(images (size, 32, 32, 3) uint8, labels (size,) int64); labels default to i % 10."""
    labels = np.arange(size) % len(CLASSES) if labels is None else np.asarray(labels, dtype=np.int64)
    images = np.empty((size, SIZE, SIZE, 3), np.uint8)
    for b in range(-(-size // BLOCK)):
        lo, hi = b * BLOCK, min((b + 1) * BLOCK, size)
        p = {k: v[: hi - lo] for k, v in _block_params(seed, train, b).items()}
        images[lo:hi] = _render(p, labels[lo:hi])
    return images, labels


class Shapes10(VisionDataset):
    def __init__(self, size=10000, train=True, seed=0, transform=None, long_tail=None, target_transform=None):
        super().__init__(transform, target_transform)
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(f"Shapes10: size must be a positive int (the number of images), got {size!r}")
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"Shapes10: seed must be a non-negative int, got {seed!r}")
        labels = None
        if long_tail is not None:
            if not isinstance(long_tail, numbers.Real) or isinstance(long_tail, bool) or not long_tail >= 1:
                raise ValueError(
                    f"Shapes10: long_tail must be an imbalance ratio >= 1 (e.g. 100: class 0 has ~100x the "
                    f"images of class 9), or None, got {long_tail!r}"
                )
            if size < len(CLASSES):
                raise ValueError(f"Shapes10: a long-tailed set needs size >= {len(CLASSES)}, got {size}")
            counts = long_tail_counts(int(size), long_tail)
            order = np.random.default_rng([int(seed), int(train), 2**31]).permutation(int(size))
            labels = np.repeat(np.arange(len(CLASSES)), counts)[order]
        self.size, self.train, self.seed, self.long_tail = int(size), bool(train), int(seed), long_tail
        self.data, targets = generate(self.size, self.train, self.seed, labels)
        self.targets = targets.tolist()
        self.classes = list(CLASSES)

    @property
    def class_counts(self) -> np.ndarray:
        """Images per class, (10,) int64."""
        return np.bincount(np.asarray(self.targets, dtype=np.int64), minlength=len(CLASSES))

    def extra_repr(self) -> str:
        return f"size={self.size}, train={self.train}, seed={self.seed}, long_tail={self.long_tail}"
