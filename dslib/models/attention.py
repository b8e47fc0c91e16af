"""Multi-head self-attention for the Vision Transformers, with a head mask for progressive training.

`Attention(dim, num_heads)` is the global MHSA of ViT (Dosovitskiy et al. 2021, Eq. 2; Vaswani et al. 2017,
Sec. 3.2.2): one Linear makes q, k and v for every head (`qkv`, timm's name and layout: rows [q; k; v], each
head a contiguous block of head_dim rows), softmax(q k^T / sqrt(head_dim)) v per head, then the output
projection `proj`. `dslib.models.window_attention.WindowAttention` subclasses it and restricts the keys.

Progressive head unlocking: `head_mask` (a persistent buffer of shape (num_heads,), 1 = active, 0 = inactive)
multiplies each head's output before `proj`. An inactive head therefore contributes exactly zero to the output,
and every parameter that only feeds it (its rows of `qkv`, its columns of `proj`, its column of a relative
position bias table) receives a gradient of exactly zero. Note that decoupled weight decay (AdamW) still shrinks
those weights, since it does not look at the gradient. `set_active_heads(k)` activates heads 0..k-1.

    import dslib
    from dslib.models.attention import Attention
    attn = Attention(64, num_heads=4)
    attn.set_active_heads(2)
    y = attn(dslib.randn(8, 65, 64))  # (B, L, C) -> (B, L, C)
"""

from __future__ import annotations

import numpy as np

import dslib.nn as nn
import dslib.nn.functional as F

from ..creation import ones, tensor
from ..tensor import Tensor


def _check_positive_int(owner: str, name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


class Attention(nn.Module):
    """Global multi-head self-attention over (B, L, dim) tokens, with a per-head output mask."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        _check_positive_int(type(self).__name__, "dim", dim)
        _check_positive_int(type(self).__name__, "num_heads", num_heads)
        if dim % num_heads:
            raise ValueError(f"{type(self).__name__}: dim={dim} must be divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("head_mask", ones(num_heads))
        self._all_heads = True  # skip the mask multiply while every head is active

    def set_active_heads(self, k: int) -> None:
        """Activate heads 0..k-1 and switch the others off (their outputs become zero)."""
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= self.num_heads:
            raise ValueError(f"set_active_heads: k must be an int in [1, {self.num_heads}], got {k!r}")
        mask = (np.arange(self.num_heads) < k).astype(np.float32)
        self.head_mask = tensor(mask, device=self.head_mask.device, dtype=self.head_mask.dtype)
        self._all_heads = k == self.num_heads

    @property
    def active_heads(self) -> int:
        return int((self.head_mask.numpy() != 0).sum())

    def _load_from_state_dict(self, state_dict, prefix, missing_keys, errors):
        super()._load_from_state_dict(state_dict, prefix, missing_keys, errors)
        self._all_heads = bool((self.head_mask.numpy() == 1).all())  # a loaded mask may switch heads off

    def _mask_heads(self, out: Tensor) -> Tensor:
        """out (..., num_heads, N, head_dim) with each head scaled by its head_mask entry."""
        if self._all_heads:
            return out
        return out * self.head_mask.to(out.dtype).view(self.num_heads, 1, 1)

    def forward(self, x: Tensor, grid_size=None) -> Tensor:
        """x (B, L, dim) -> (B, L, dim). grid_size is accepted (and unused) so blocks can swap attentions."""
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"Attention: expected x of shape (B, L, {self.dim}), got {tuple(x.shape)}")
        B, L, C = x.shape
        H, hs = self.num_heads, self.head_dim
        q, k, v = self.qkv(x).view(B, L, 3, H, hs).permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, L, hs)
        out = self._mask_heads(F.scaled_dot_product_attention(q, k, v))  # (B, H, L, hs)
        return self.proj(out.transpose(1, 2).reshape(B, L, C))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}"
