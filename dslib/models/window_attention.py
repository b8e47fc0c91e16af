"""Window attention (Swin Transformer, Liu et al. 2021, Sec. 3.2): self-attention inside w x w windows of patches.

The patch grid (Gh, Gw) is cut into non-overlapping windows of window_size x window_size patches and each token
attends only to the tokens of its own window, so the attention matrices are (w^2 x w^2) per window instead of
(L x L) for the whole image. Three details make it work on any grid:

- Padding: the grid is padded to a multiple of w (an 8x8 grid with w=3 becomes 9x9). Padded tokens are masked
  out as keys, so real tokens never attend to them; each padded query attends only to itself (so its softmax
  row is never empty) and its output is cropped away. The results for real tokens are exactly those of the
  unpadded grid. (Swin itself pads with zeros and lets the padded tokens take part; this does not.)
- Shift (`shift=True`, Swin's SW-MSA): the grid is rolled by -(w//2) in both directions before the partition,
  so the windows straddle the previous layer's window borders, and rolled back afterwards. Tokens that met in
  one window only because of the cyclic roll (one wrapped around, the other did not) are masked apart: the
  same rule as Swin's region mask, which the tests check against Swin's reference code.
- Relative position bias (`RelativePositionBias`, Swin Eq. 4): a learned table of (2w-1)^2 x num_heads entries,
  one per relative offset (dy, dx) in [-(w-1), w-1]^2, read through `relative_position_index` (w^2 x w^2) and
  added to every window's attention scores.

Masked scores are set to -inf (Swin uses -100.0; both give zero attention weight in float32).
The q/k/v projection runs on the real tokens only (before padding) and the output projection after cropping,
so the FLOPs spent on padding are the attention products only.

    import dslib
    from dslib.models.window_attention import WindowAttention
    attn = WindowAttention(64, num_heads=4, window_size=3, shift=True)
    y = attn(dslib.randn(2, 64, 64), grid_size=(8, 8))  # (B, Gh*Gw, C) -> same shape
"""

from __future__ import annotations

import math

import numpy as np

import dslib.nn as nn
import dslib.nn.functional as F

from ..creation import tensor, zeros
from ..ops import api
from ..tensor import Tensor
from .attention import Attention, _check_positive_int


def relative_position_index(window_size: int) -> np.ndarray:
    """(w^2, w^2) int64: for tokens i, j of a window, the table row of offset (y_i - y_j, x_i - x_j)."""
    w = window_size
    y, x = np.divmod(np.arange(w * w), w)  # row-major coordinates of the w^2 tokens
    dy = y[:, None] - y[None, :] + (w - 1)  # shifted to [0, 2w-2]
    dx = x[:, None] - x[None, :] + (w - 1)
    return (dy * (2 * w - 1) + dx).astype(np.int64)


class RelativePositionBias(nn.Module):
    """Swin's learned relative position bias: forward() -> (num_heads, w^2, w^2), added to the scores."""

    def __init__(self, window_size: int, num_heads: int):
        super().__init__()
        _check_positive_int("RelativePositionBias", "window_size", window_size)
        _check_positive_int("RelativePositionBias", "num_heads", num_heads)
        self.window_size, self.num_heads = window_size, num_heads
        self.relative_position_bias_table = nn.Parameter(zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        index = tensor(relative_position_index(window_size).reshape(-1))
        self.register_buffer("relative_position_index", index, persistent=False)  # derived, never trained

    def forward(self) -> Tensor:
        n = self.window_size**2
        bias = api.index_select(self.relative_position_bias_table, 0, self.relative_position_index)  # (n*n, H)
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)  # (H, n, n)

    def extra_repr(self) -> str:
        return f"window_size={self.window_size}, num_heads={self.num_heads}"


def window_partition(x, w: int):
    """(B, Hp, Wp, C) -> (B, nW, w*w, C), windows in row-major order (dslib Tensor or numpy array)."""
    B, Hp, Wp, C = x.shape
    x = x.reshape(B, Hp // w, w, Wp // w, w, C)
    x = x.permute(0, 1, 3, 2, 4, 5) if isinstance(x, Tensor) else x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(B, (Hp // w) * (Wp // w), w * w, C)


def window_reverse(windows: Tensor, w: int, Hp: int, Wp: int) -> Tensor:  # noqa: N803
    """(B, nW, w*w, C) -> (B, Hp, Wp, C): the inverse of window_partition."""
    B, C = windows.shape[0], windows.shape[-1]
    x = windows.view(B, Hp // w, Wp // w, w, w, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, Hp, Wp, C)


def window_mask(grid_size: tuple[int, int], window_size: int, shift: int) -> np.ndarray | None:
    """Bool (nW, w^2, w^2), True where query i may NOT attend to key j; None when nothing is masked.

    Blocked: key j is padding, or i and j meet only through the cyclic roll of a shifted partition. Each
    token may always attend to itself, so no softmax row is empty (padded queries' outputs are cropped).
    """
    (Gh, Gw), w = grid_size, window_size
    Hp, Wp = math.ceil(Gh / w) * w, math.ceil(Gw / w) * w
    if Hp == Gh and Wp == Gw and shift == 0:
        return None
    # Each position of the rolled, padded grid, in original coordinates: rolled row r holds row (r + shift) % Hp.
    rows = (np.arange(Hp) + shift) % Hp
    cols = (np.arange(Wp) + shift) % Wp
    padding = (rows[:, None] >= Gh) | (cols[None, :] >= Gw)  # (Hp, Wp)
    wrapped = 2 * (np.arange(Hp) >= Hp - shift)[:, None] + (np.arange(Wp) >= Wp - shift)[None, :]  # region id
    win_pad = window_partition(padding[None, :, :, None], w)[0, :, :, 0]  # (nW, n)
    win_region = window_partition(wrapped[None, :, :, None], w)[0, :, :, 0]  # (nW, n)
    blocked = (win_region[:, :, None] != win_region[:, None, :]) | win_pad[:, None, :]
    blocked[:, np.arange(w * w), np.arange(w * w)] = False
    return blocked


class WindowAttention(Attention):
    """Multi-head self-attention within non-overlapping (optionally shifted) windows of the patch grid."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 3,
        shift: bool = False,
        relative_position_bias: bool = True,
        qkv_bias: bool = True,
    ):
        super().__init__(dim, num_heads, qkv_bias)
        _check_positive_int("WindowAttention", "window_size", window_size)
        self.window_size = window_size
        self.shift_size = window_size // 2 if shift else 0
        self.relative_position_bias = RelativePositionBias(window_size, num_heads) if relative_position_bias else None
        self._masks: dict = {}  # grid size -> bool mask (numpy), built once per grid

    def _additive_mask(self, grid_size, like: Tensor):
        """(nW, H|1, n, n) float mask = relative bias + (-inf where blocked), or None when there is neither."""
        if grid_size not in self._masks:
            self._masks[grid_size] = window_mask(grid_size, self.window_size, self.shift_size)
        blocked = self._masks[grid_size]
        mask = None
        if blocked is not None:
            additive = np.where(blocked, -np.inf, 0.0)[:, None]  # (nW, 1, n, n)
            mask = tensor(additive, device=like.device, dtype=like.dtype)
        if self.relative_position_bias is not None:
            bias = self.relative_position_bias().to(like.dtype)  # (H, n, n)
            mask = bias if mask is None else bias + mask
        return mask

    def forward(self, x: Tensor, grid_size=None) -> Tensor:
        """x (B, Gh*Gw, dim), tokens in row-major grid order -> (B, Gh*Gw, dim).

        grid_size (Gh, Gw); when None the grid must be square (Gh = Gw = sqrt(L))."""
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"WindowAttention: expected x of shape (B, L, {self.dim}), got {tuple(x.shape)}")
        B, L, C = x.shape
        if grid_size is None:
            side = math.isqrt(L)
            if side * side != L:
                raise ValueError(f"WindowAttention: {L} tokens are not a square grid; pass grid_size=(Gh, Gw)")
            grid_size = (side, side)
        Gh, Gw = (int(g) for g in grid_size)
        if Gh * Gw != L:
            raise ValueError(f"WindowAttention: grid_size={tuple(grid_size)} holds {Gh * Gw} tokens, x has {L}")
        w, s, H, hs = self.window_size, self.shift_size, self.num_heads, self.head_dim
        Hp, Wp = math.ceil(Gh / w) * w, math.ceil(Gw / w) * w

        qkv = self.qkv(x).view(B, Gh, Gw, 3 * C)  # projections of the real tokens only
        if Hp != Gh or Wp != Gw:
            qkv = F.pad(qkv, (0, 0, 0, Wp - Gw, 0, Hp - Gh))  # (B, Hp, Wp, 3C)
        if s:
            qkv = api.roll(qkv, (-s, -s), (1, 2))
        windows = window_partition(qkv, w)  # (B, nW, n, 3C)
        nW, n = windows.shape[1], windows.shape[2]
        q, k, v = windows.view(B, nW, n, 3, H, hs).permute(3, 0, 1, 4, 2, 5).unbind(0)  # each (B, nW, H, n, hs)
        mask = self._additive_mask((Gh, Gw), x)
        out = self._mask_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))  # (B, nW, H, n, hs)
        out = window_reverse(out.permute(0, 1, 3, 2, 4).reshape(B, nW, n, C), w, Hp, Wp)  # (B, Hp, Wp, C)
        if s:
            out = api.roll(out, (s, s), (1, 2))
        out = out[:, :Gh, :Gw].reshape(B, L, C)  # drop the padding
        return self.proj(out)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, shift={self.shift_size}"
