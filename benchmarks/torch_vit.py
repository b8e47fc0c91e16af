"""ViT in plain PyTorch: the reference that dslib.models.vit is measured against (benchmarks/graph_mode.py).

The same architecture as dslib.models.vit.VisionTransformer with global attention (Dosovitskiy et al. 2021):
a patch-embedding conv (kernel = stride = patch_size), a class token and a learned position embedding, `depth`
pre-norm blocks x = x + attn(norm1(x)); x = x + mlp(norm2(x)) (mlp = Linear, GELU, Linear), a final LayerNorm
and a Linear head on the class token. Parameter and buffer names follow timm and dslib (patch_embed.proj,
cls_token, pos_embed, blocks.i.attn.qkv / proj, mlp.fc1 / fc2, norm, head), so its state dict loads into
dslib.models.vit unchanged; `head_mask` is a buffer of ones kept only so the two state dicts have the same keys
(dslib uses it for progressive head training; every head is active here). Attention is PyTorch's own
F.scaled_dot_product_attention, what a PyTorch user (and timm) would write.

    from benchmarks.torch_vit import vit_small
    model = vit_small()                   # embed 384, depth 12, 6 heads, patch 4, 32x32 input, 10 classes
    logits = model(torch.randn(8, 3, 32, 32))  # (8, 10)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, E, Gh, Gw) -> (B, Gh*Gw, E)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("head_mask", torch.ones(num_heads))  # same state-dict keys as dslib's Attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, L, hs)
        return self.proj(out.transpose(1, 2).reshape(B, L, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, num_heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(
        self,
        image_size: int = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        num_classes: int = 10,
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
    ):
        super().__init__()
        if image_size % patch_size or embed_dim % num_heads:
            raise ValueError(
                f"VisionTransformer: image_size {image_size} must be a multiple of patch_size {patch_size} and "
                f"embed_dim {embed_dim} a multiple of num_heads {num_heads}"
            )
        self.patch_embed = PatchEmbed(patch_size, in_channels, embed_dim)
        n_tokens = (image_size // patch_size) ** 2 + 1  # the patches and the class token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        # dslib.models.vit's initialization (see VisionTransformer._init_weights there)
        nn.init.trunc_normal_(self.pos_embed, std=1.0, a=-2.0, b=2.0)
        nn.init.trunc_normal_(self.cls_token, std=1.0, a=-2.0, b=2.0)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, L, E)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed  # (B, 1 + L, E)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])  # (B, num_classes)


def vit_small(num_classes: int = 10, image_size: int = 32, patch_size: int = 4) -> VisionTransformer:
    """ViT-small (DeiT-S sizes): embed 384, depth 12, 6 heads, MLP ratio 4; 21.3M parameters at 32x32, patch 4."""
    return VisionTransformer(image_size, patch_size, 3, num_classes, embed_dim=384, depth=12, num_heads=6)
