"""Global vs local (window) attention FLOPs: ViT and DS-ViT of the same size, counted by dslib.utils.flops.

    .venv/bin/python benchmarks/vit_flops.py                     # the lab's sizes and larger token grids
    .venv/bin/python benchmarks/vit_flops.py --embed-dim 128 --depth 6 --heads 4 --window 3

For each input size it builds `vit(pool="mean")` (global attention) and `ds_vit(shift=True)` (3x3 windows,
relative position bias) with the same backbone, counts one image's forward pass, and prints three views:
the attention core (q k^T, softmax, weights @ v: what windowing changes), the attention layers including
their q/k/v and output projections, and the whole model, each with the % reduction of local over global.
Swin's closed forms (Liu et al. 2021, Eq. 1-2: 4hwC^2 + 2(hw)^2C vs 4hwC^2 + 2M^2hwC multiply-adds, no
softmax, no padding) are printed beside the measured attention-layer counts as a cross-check.
The reductions grow with the number of tokens: report them with the grid they were measured at.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from dslib.models import ds_vit, vit
from dslib.utils import count_flops


@dataclass
class Size:
    name: str  # label in the table
    image_size: int  # input height = width
    in_channels: int  # 1 for the digits, 3 for CIFAR-like images
    patch_size: int  # tokens per side = image_size / patch_size


SIZES = [
    Size("digits 8x8, patch 1 (lab)", 8, 1, 1),
    Size("32x32, patch 4", 32, 3, 4),
    Size("32x32, patch 2", 32, 3, 2),
    Size("32x32, patch 1", 32, 3, 1),
]


def _attention_parts(report, depth: int) -> tuple[int, int]:
    """(attention layers incl. projections, attention core without the q/k/v and output projections)."""
    layers = sum(report.by_module[f"blocks.{i}.attn"] for i in range(depth))
    projections = sum(report.by_module[f"blocks.{i}.attn.{p}"] for i in range(depth) for p in ("qkv", "proj"))
    return layers, layers - projections


def _swin_formula_flops(tokens: int, dim: int, window: int | None) -> int:
    """Swin Eq. 1 (global) / Eq. 2 (window M): multiply-adds of one attention layer, as FLOPs (x2)."""
    macs = 4 * tokens * dim * dim + (2 * tokens * tokens * dim if window is None else 2 * window**2 * tokens * dim)
    return 2 * macs


def _pct(glob: int, loc: int) -> str:
    return f"{100 * (1 - loc / glob):5.1f}%"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--window", type=int, default=3)
    args = parser.parse_args(argv)
    E, D, H, w = args.embed_dim, args.depth, args.heads, args.window
    print(f"embed_dim={E}, depth={D}, heads={H}, mlp_ratio=4, window {w}x{w} (shifted every 2nd block); batch 1")
    print("FLOPs count a multiply-add as 2; G = 1e9, M = 1e6\n")
    header = (
        f"{'input':28} {'grid':>7} {'padded':>7} | {'core global':>11} {'local':>9} {'cut':>6} | "
        f"{'attn global':>11} {'local':>9} {'cut':>6} {'(Swin Eq.)':>10} | {'model global':>12} {'local':>9} {'cut':>6}"
    )
    print(header)
    print("-" * len(header))
    for s in SIZES:
        common = dict(num_classes=10, in_channels=s.in_channels, image_size=s.image_size, patch_size=s.patch_size)
        common.update(embed_dim=E, depth=D, num_heads=H)
        g = count_flops(vit(pool="mean", **common), (1, s.in_channels, s.image_size, s.image_size))
        loc = count_flops(ds_vit(window_size=w, shift=True, **common), (1, s.in_channels, s.image_size, s.image_size))
        side = s.image_size // s.patch_size
        padded = math.ceil(side / w) * w
        g_attn, g_core = _attention_parts(g, D)
        l_attn, l_core = _attention_parts(loc, D)
        swin = _pct(_swin_formula_flops(side * side, E, None), _swin_formula_flops(side * side, E, w))
        print(
            f"{s.name:28} {side:>3}x{side:<3} {padded:>3}x{padded:<3} | {g_core / 1e6:>9.2f}M {l_core / 1e6:>8.2f}M "
            f"{_pct(g_core, l_core)} | {g_attn / 1e6:>9.2f}M {l_attn / 1e6:>8.2f}M {_pct(g_attn, l_attn)} {swin:>10} | "
            f"{g.total_flops / 1e6:>10.2f}M {loc.total_flops / 1e6:>8.2f}M {_pct(g.total_flops, loc.total_flops)}"
        )
    print(
        "\ncore = q k^T, scale, mask/bias, softmax, weights @ v; attn = core + q/k/v and output projections;"
        "\nmodel = everything (patch embedding, attention, MLPs, norms, head). The course material's '~58% fewer'"
        "\nholds only for some of these views and grids: read the row and column that match the claim."
    )


if __name__ == "__main__":
    main()
