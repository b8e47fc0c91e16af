"""dslib.models.vit / attention / window_attention against PyTorch references written here.

The references follow the papers' code: torch.nn.MultiheadAttention and a manual MHSA for `Attention`, Swin's
own window_partition / shifted-window mask / relative-position-index code (Liu et al. 2021, github.com/microsoft/
Swin-Transformer, models/swin_transformer.py) for `WindowAttention`, and a torch ViT with the same parameter names
for the whole models. Weights are copied across; forward outputs and dslib's gradients are compared with
torch.autograd's, in float64 (tight) and float32 (atol 1e-5).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch import nn as tnn

import dslib
from dslib.models import ds_vit, vit
from dslib.models.vit import (
    Attention,
    PatchEmbed,
    ProgressiveHeads,
    RelativePositionBias,
    VisionTransformer,
    WindowAttention,
)
from dslib.models.window_attention import relative_position_index, window_mask

TOL = {"float64": dict(atol=1e-10, rtol=1e-8), "float32": dict(atol=1e-5, rtol=1e-4)}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: on a shared 2-core machine torch's thread pool only adds contention."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().to("numpy").numpy()


# ----- torch references -----
def swin_window_partition(x, w):
    """Swin's window_partition: (B, H, W, C) -> (B * nW, w, w, C)."""
    B, H, W, C = x.shape
    x = x.view(B, H // w, w, W // w, w, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, w, w, C)


def swin_window_reverse(windows, w, H, W):
    B = int(windows.shape[0] / (H * W / w / w))
    x = windows.view(B, H // w, W // w, w, w, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


def swin_relative_position_index(w):
    """Verbatim from Swin's WindowAttention.__init__."""
    coords_h, coords_w = torch.arange(w), torch.arange(w)
    coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))  # 2, Wh, Ww
    coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww
    relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]  # 2, Wh*Ww, Wh*Ww
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()  # Wh*Ww, Wh*Ww, 2
    relative_coords[:, :, 0] += w - 1
    relative_coords[:, :, 1] += w - 1
    relative_coords[:, :, 0] *= 2 * w - 1
    return relative_coords.sum(-1)  # Wh*Ww, Wh*Ww


def swin_shift_mask(Hp, Wp, w, s):
    """Verbatim from Swin's SwinTransformerBlock.__init__: (nW, w*w, w*w), -100 between regions, else 0."""
    img_mask = torch.zeros((1, Hp, Wp, 1))
    h_slices = (slice(0, -w), slice(-w, -s), slice(-s, None))
    w_slices = (slice(0, -w), slice(-w, -s), slice(-s, None))
    cnt = 0
    for h in h_slices:
        for ws in w_slices:
            img_mask[:, h, ws, :] = cnt
            cnt += 1
    mask_windows = swin_window_partition(img_mask, w).view(-1, w * w)
    attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
    return attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)


class TorchRelativePositionBias(tnn.Module):
    def __init__(self, w, H):
        super().__init__()
        self.w, self.H = w, H
        self.relative_position_bias_table = tnn.Parameter(torch.zeros((2 * w - 1) ** 2, H))
        self.register_buffer("relative_position_index", swin_relative_position_index(w), persistent=False)

    def forward(self):
        n = self.w * self.w
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1).contiguous()  # (H, n, n), as Swin


class TorchAttention(tnn.Module):
    """Global MHSA (window=None) or Swin's (shifted) window attention, padded as dslib's, with a head mask."""

    def __init__(self, dim, H, window=None, shift=False, rpb=True):
        super().__init__()
        self.dim, self.H, self.hs, self.w = dim, H, dim // H, window
        self.s = window // 2 if window and shift else 0
        self.qkv, self.proj = tnn.Linear(dim, 3 * dim), tnn.Linear(dim, dim)
        self.register_buffer("head_mask", torch.ones(H))
        if window and rpb:
            self.relative_position_bias = TorchRelativePositionBias(window, H)
        else:
            self.relative_position_bias = None

    def heads(self, x, mask=None):  # x (B_, n, C) -> (B_, n, C) before proj
        B_, n, C = x.shape
        q, k, v = self.qkv(x).reshape(B_, n, 3, self.H, self.hs).permute(2, 0, 3, 1, 4)
        attn = (q * self.hs**-0.5) @ k.transpose(-2, -1)
        if mask is not None:
            attn = attn + mask
        out = attn.softmax(-1) @ v  # (B_, H, n, hs)
        out = out * self.head_mask.view(1, self.H, 1, 1)
        return out.transpose(1, 2).reshape(B_, n, C)

    def forward(self, x, grid):
        if self.w is None:
            return self.proj(self.heads(x))
        B, L, C = x.shape
        (Gh, Gw), w, s = grid, self.w, self.s
        x = x.view(B, Gh, Gw, C)
        pad_b, pad_r = (w - Gh % w) % w, (w - Gw % w) % w
        x = TF.pad(x, (0, 0, 0, pad_r, 0, pad_b))  # Swin pads after norm1, before the shift
        Hp, Wp = Gh + pad_b, Gw + pad_r
        # padding mask: -1e9 on padded keys (finite, so all-masked padded query rows stay NaN-free)
        is_pad = torch.zeros(1, Hp, Wp, 1, dtype=x.dtype)
        is_pad[:, Gh:], is_pad[:, :, Gw:] = 1, 1
        if s:
            x = torch.roll(x, (-s, -s), (1, 2))
            is_pad = torch.roll(is_pad, (-s, -s), (1, 2))
        n = w * w
        windows = swin_window_partition(x, w).view(-1, n, C)  # (B*nW, n, C)
        nW = windows.shape[0] // B
        mask = swin_window_partition(is_pad, w).view(nW, 1, n) * -1e9  # (nW, 1, n): keys
        mask = mask.expand(nW, n, n).clone()
        if s:
            mask = mask + swin_shift_mask(Hp, Wp, w, s).to(x.dtype)
        mask = mask.unsqueeze(1)  # (nW, 1, n, n)
        if self.relative_position_bias is not None:
            mask = mask + self.relative_position_bias().unsqueeze(0)  # (nW, H, n, n)
        mask = mask.repeat(B, 1, 1, 1)  # Swin's (B*nW) batch order: batch-major
        out = self.proj(self.heads(windows, mask))
        out = swin_window_reverse(out.view(-1, w, w, C), w, Hp, Wp)
        if s:
            out = torch.roll(out, (s, s), (1, 2))
        return out[:, :Gh, :Gw].reshape(B, L, C)


class TorchBlock(tnn.Module):
    def __init__(self, dim, H, window=None, shift=False, rpb=True):
        super().__init__()
        self.norm1, self.norm2 = tnn.LayerNorm(dim), tnn.LayerNorm(dim)
        self.attn = TorchAttention(dim, H, window, shift, rpb)
        self.mlp = tnn.Sequential()
        self.mlp.add_module("fc1", tnn.Linear(dim, 4 * dim))
        self.mlp.add_module("act", tnn.GELU())
        self.mlp.add_module("fc2", tnn.Linear(4 * dim, dim))

    def forward(self, x, grid):
        x = x + self.attn(self.norm1(x), grid)
        return x + self.mlp(self.norm2(x))


class TorchViT(tnn.Module):
    def __init__(self, image, patch, cin, classes, dim, depth, H, pool, window=None, shift=False):
        super().__init__()
        self.pool, self.grid = pool, (image[0] // patch, image[1] // patch)
        self.patch_embed = tnn.Module()
        self.patch_embed.proj = tnn.Conv2d(cin, dim, patch, stride=patch)
        self.cls_token = tnn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        self.pos_embed = tnn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1] + (pool == "cls"), dim))
        self.blocks = tnn.ModuleList(TorchBlock(dim, H, window, shift and i % 2 == 1) for i in range(depth))
        self.norm, self.head = tnn.LayerNorm(dim), tnn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = x + self.pos_embed
        for block in self.blocks:
            x = block(x, self.grid)
        x = self.norm(x)
        return self.head(x[:, 0] if self.pool == "cls" else x.mean(1))


# ----- helpers -----
def _randomize(dmod, seed=0):
    """Non-trivial values in every parameter (zero biases and tiny tables would hide indexing bugs)."""
    rng = np.random.default_rng(seed)
    with dslib.no_grad():
        for p in dmod.parameters():
            p.copy_(dslib.tensor(rng.normal(0.0, 0.5, p.shape).astype(np.float32)))
    return dmod


def _to_torch(dmod, tmod, dtype):
    sd = {k: torch.tensor(_np(v)).to(dtype) for k, v in dmod.state_dict().items()}
    missing, unexpected = tmod.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("relative_position_index") for k in missing), (missing, unexpected)
    return tmod.to(dtype)


def _compare(dmod, tmod, x_np, device, dtype_name, call_d, call_t):
    """Forward values, the input gradient and every parameter gradient of sum(out * g), dslib vs torch."""
    ddt, tdt = getattr(dslib, dtype_name), getattr(torch, dtype_name)
    dmod = dmod.to(device=device, dtype=ddt)
    tmod = _to_torch(dmod, tmod, tdt)
    x_np = x_np.astype(dtype_name)
    tx = torch.tensor(x_np, requires_grad=True)
    t_out = call_t(tmod, tx)
    g = np.random.default_rng(1).standard_normal(t_out.shape).astype(dtype_name)
    (t_out * torch.tensor(g)).sum().backward()
    dx = dslib.tensor(x_np, device=device).requires_grad_(True)
    d_out = call_d(dmod, dx)
    (d_out * dslib.tensor(g, device=device)).sum().backward()
    tol = TOL[dtype_name]
    np.testing.assert_allclose(_np(d_out), _np(t_out), **tol, err_msg="forward")
    if tx.grad is not None:  # (RelativePositionBias ignores its dummy input)
        np.testing.assert_allclose(_np(dx.grad), _np(tx.grad), **tol, err_msg="input gradient")
    t_params = dict(tmod.named_parameters())
    for name, p in dmod.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        np.testing.assert_allclose(_np(p.grad), _np(t_params[name].grad), **tol, err_msg=f"gradient of {name}")
    return dmod, d_out


def _tokens(B, L, C, seed=0):
    return np.random.default_rng(seed).standard_normal((B, L, C))


# ----- PatchEmbed -----
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_patch_embed_is_a_strided_conv_flattened_to_tokens_like_torch(device, dtype):
    dmod = PatchEmbed(image_size=(8, 12), patch_size=4, in_channels=3, embed_dim=6)
    tmod = tnn.Module()
    tmod.proj = tnn.Conv2d(3, 6, 4, stride=4)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 12))
    _compare(dmod, tmod, x, device, dtype, lambda m, x: m(x), lambda m, x: m.proj(x).flatten(2).transpose(1, 2))
    assert dmod.grid_size == (2, 3) and dmod.num_patches == 6


def test_patch_embed_rejects_bad_sizes_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"image_size \(8, 8\) must be a multiple of patch_size \(3, 3\)"):
        PatchEmbed(8, 3, 1, 16)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 8, 8\), got \(2, 1, 9, 9\)"):
        PatchEmbed(8, 1, 1, 16)(dslib.randn(2, 1, 9, 9))


# ----- global Attention -----
def test_attention_equals_torch_multihead_attention_with_the_same_weights(device):
    """qkv / proj are MultiheadAttention's in_proj / out_proj: same weights, same outputs and gradients."""
    dmod = _randomize(Attention(16, 4)).to(device=device, dtype=dslib.float64)
    mha = tnn.MultiheadAttention(16, 4, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(_np(dmod.qkv.weight)))
        mha.in_proj_bias.copy_(torch.tensor(_np(dmod.qkv.bias)))
        mha.out_proj.weight.copy_(torch.tensor(_np(dmod.proj.weight)))
        mha.out_proj.bias.copy_(torch.tensor(_np(dmod.proj.bias)))
    x = _tokens(2, 7, 16)
    tx = torch.tensor(x, requires_grad=True)
    t_out = mha(tx, tx, tx, need_weights=False)[0]
    t_out.sum().backward()
    dx = dslib.tensor(x, device=device).requires_grad_(True)
    d_out = dmod(dx)
    d_out.sum().backward()
    np.testing.assert_allclose(_np(d_out), _np(t_out), **TOL["float64"])
    np.testing.assert_allclose(_np(dx.grad), _np(tx.grad), **TOL["float64"])
    np.testing.assert_allclose(_np(dmod.qkv.weight.grad), _np(mha.in_proj_weight.grad), **TOL["float64"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("active", [4, 2, 1])
def test_attention_with_head_mask_matches_torch(device, dtype, active):
    dmod = _randomize(Attention(16, 4))
    dmod.set_active_heads(active)
    _compare(dmod, TorchAttention(16, 4), _tokens(2, 7, 16), device, dtype, lambda m, x: m(x), lambda m, x: m(x, None))


def test_inactive_heads_output_zero_and_get_zero_gradient(device):
    dmod = _randomize(Attention(16, 4)).to(device)
    dmod.set_active_heads(1)
    x = dslib.tensor(_tokens(2, 7, 16).astype(np.float32), device=device)
    dmod(x).sum().backward()
    g = _np(dmod.qkv.weight.grad).reshape(3, 4, 4, 16)  # (q/k/v, head, head_dim, in)
    assert np.all(g[:, 1:] == 0) and np.abs(g[:, 0]).sum() > 0
    gp = _np(dmod.proj.weight.grad).reshape(16, 4, 4)  # (out, head, head_dim)
    assert np.all(gp[:, 1:] == 0) and np.abs(gp[:, 0]).sum() > 0
    # the output is what head 0 alone gives: zeroing heads 1-3's value rows changes nothing
    with dslib.no_grad():
        before = _np(dmod(x))
        w = _np(dmod.qkv.weight).copy()
        w[2 * 16 + 4 :] = 0.0
        dmod.qkv.weight.copy_(dslib.tensor(w, device=device))
        np.testing.assert_allclose(_np(dmod(x)), before, atol=1e-6)


def test_set_active_heads_rejects_out_of_range_counts():
    attn = Attention(16, 4)
    for bad in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match=r"set_active_heads: k must be an int in \[1, 4\]"):
            attn.set_active_heads(bad)
    with pytest.raises(ValueError, match="dim=10 must be divisible by num_heads=4"):
        Attention(10, 4)


def test_head_mask_is_saved_and_a_loaded_mask_takes_effect():
    src = _randomize(Attention(16, 4))
    src.set_active_heads(2)
    dst = Attention(16, 4)
    dst.load_state_dict(src.state_dict())
    assert dst.active_heads == 2
    x = dslib.tensor(_tokens(1, 5, 16).astype(np.float32))
    np.testing.assert_allclose(_np(dst(x)), _np(src(x)), atol=1e-6)


# ----- relative position bias -----
@pytest.mark.parametrize("w", [1, 2, 3, 5, 7])
def test_relative_position_index_equals_swins_reference_formula(w):
    np.testing.assert_array_equal(relative_position_index(w), swin_relative_position_index(w).numpy())


def test_relative_position_bias_gathers_the_table_like_swin(device):
    dmod = _randomize(RelativePositionBias(3, 4))
    tmod = TorchRelativePositionBias(3, 4)
    x = np.zeros((1,))  # the bias takes no input; feed a dummy so _compare can run both
    _compare(dmod, tmod, x, device, "float64", lambda m, x: m(), lambda m, x: m())
    assert "relative_position_index" not in dmod.state_dict()  # derived, not saved


# ----- window attention -----
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("grid", [(6, 6), (5, 5), (8, 8), (4, 7)])  # multiple of the window, padded, non-square
def test_window_mask_equals_swins_shift_mask_plus_padding(grid, shift):
    w, s = 3, 1 if shift else 0
    Hp, Wp = math.ceil(grid[0] / w) * w, math.ceil(grid[1] / w) * w
    got = window_mask(grid, w, s)
    expected = np.zeros(((Hp // w) * (Wp // w), w * w, w * w), dtype=bool)
    if s:
        expected |= swin_shift_mask(Hp, Wp, w, s).numpy() != 0
    rows, cols = (np.arange(Hp) + s) % Hp, (np.arange(Wp) + s) % Wp
    pad = (rows[:, None] >= grid[0]) | (cols[None, :] >= grid[1])
    expected |= swin_window_partition(torch.tensor(pad)[None, :, :, None], w).reshape(-1, 1, w * w).numpy()
    expected[:, np.arange(w * w), np.arange(w * w)] = False
    if not expected.any():
        assert got is None
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("grid", [(6, 6), (5, 5), (4, 7)])
def test_window_attention_matches_swin_reference(device, dtype, shift, grid):
    dmod = _randomize(WindowAttention(8, 2, window_size=3, shift=shift))
    tmod = TorchAttention(8, 2, window=3, shift=shift)
    x = _tokens(2, grid[0] * grid[1], 8)
    _compare(dmod, tmod, x, device, dtype, lambda m, x: m(x, grid), lambda m, x: m(x, grid))


def test_window_attention_with_head_mask_and_without_bias_matches_reference(device):
    dmod = _randomize(WindowAttention(8, 2, window_size=3, shift=True, relative_position_bias=False))
    dmod.set_active_heads(1)
    tmod = TorchAttention(8, 2, window=3, shift=True, rpb=False)
    x = _tokens(2, 25, 8)
    _compare(dmod, tmod, x, device, "float64", lambda m, x: m(x, (5, 5)), lambda m, x: m(x, (5, 5)))


def test_window_attention_over_one_window_is_global_attention_plus_bias():
    """A grid equal to one window (3x3, no shift) is global attention over 9 tokens with the bias added."""
    wa = _randomize(WindowAttention(8, 2, window_size=3, relative_position_bias=False))
    ga = Attention(8, 2)
    ga.load_state_dict({k: v for k, v in wa.state_dict().items()})
    x = dslib.tensor(_tokens(2, 9, 8).astype(np.float32))
    np.testing.assert_allclose(_np(wa(x)), _np(ga(x)), atol=1e-6)


def test_padding_does_not_leak_into_real_tokens():
    """In a 4x4 grid padded to 6x6, the window of rows 3-5, cols 0-2 holds 3 real tokens (row 3) and 6 padded
    ones: without bias, those 3 tokens' outputs are exactly global attention over the 3 tokens alone."""
    wa = _randomize(WindowAttention(8, 2, window_size=3, relative_position_bias=False))
    ga = Attention(8, 2)
    ga.load_state_dict(wa.state_dict())
    x = _tokens(1, 16, 8).astype(np.float32)
    out = _np(wa(dslib.tensor(x), (4, 4))).reshape(1, 4, 4, 8)
    row3 = x.reshape(1, 4, 4, 8)[:, 3, :3]  # (1, 3, 8)
    np.testing.assert_allclose(out[:, 3, :3], _np(ga(dslib.tensor(row3))), atol=1e-5)
    assert np.isfinite(out).all()


def test_window_attention_rejects_a_grid_that_does_not_fit_the_tokens():
    wa = WindowAttention(8, 2, window_size=3)
    with pytest.raises(ValueError, match=r"grid_size=\(4, 4\) holds 16 tokens, x has 15"):
        wa(dslib.randn(1, 15, 8), (4, 4))
    with pytest.raises(ValueError, match="15 tokens are not a square grid"):
        wa(dslib.randn(1, 15, 8))


# ----- whole models -----
MODELS = {
    "vit-cls": dict(pool="cls"),
    "vit-mean": dict(pool="mean"),
    "ds_vit": dict(pool="mean", window_size=3, shift=False),
    "ds_vit-shift": dict(pool="mean", window_size=3, shift=True),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_whole_model_matches_a_torch_vit_with_the_same_weights(device, name):
    kw = MODELS[name]
    args = dict(image_size=(8, 10), patch_size=2, in_channels=1, num_classes=3, embed_dim=8, depth=2, num_heads=2)
    dmod = _randomize(VisionTransformer(**args, **kw))
    dmod.set_active_heads(1)  # heads off in every block, too (the torch model gets the mask from the state dict)
    tmod = TorchViT((8, 10), 2, 1, 3, 8, 2, 2, kw["pool"], kw.get("window_size"), kw.get("shift", False))
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 10))
    _compare(dmod, tmod, x, device, "float64", lambda m, x: m(x), lambda m, x: m(x))


def test_default_models_make_an_8x8_token_grid_on_digits_and_on_32x32_images():
    digits = ds_vit(num_classes=10, in_channels=1, image_size=8, patch_size=1)
    cifar = vit(num_classes=10)
    assert digits.patch_embed.grid_size == cifar.patch_embed.grid_size == (8, 8)
    assert digits(dslib.randn(2, 1, 8, 8)).shape == (2, 10)
    assert cifar(dslib.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [b.attn.shift_size for b in digits.blocks] == [0, 1, 0, 1]  # Swin's W-MSA / SW-MSA pairs
    assert isinstance(digits.blocks[0].attn, WindowAttention) and type(cifar.blocks[0].attn) is Attention


def test_ds_vit_refuses_a_class_token_and_bad_arguments_are_named():
    with pytest.raises(ValueError, match="class token belongs to no window"):
        ds_vit(pool="cls")
    with pytest.raises(ValueError, match="pool must be 'cls' or 'mean', got 'max'"):
        vit(pool="max")
    with pytest.raises(ValueError, match="depth must be a positive int, got 0"):
        vit(depth=0)
    with pytest.raises(ValueError, match="window_size must be a positive int, got 0"):
        ds_vit(window_size=0)


def test_progressive_heads_unlocks_heads_by_epoch():
    model = ds_vit(in_channels=1, image_size=8, patch_size=1)
    unlock = ProgressiveHeads(model, {0: 1, 5: 2, 10: 4})
    attns = [b.attn for b in model.blocks]
    assert [a.active_heads for a in attns] == [1] * 4  # epoch 0 applied at construction
    assert [unlock.step(e) for e in (0, 4, 5, 9, 10, 30)] == [1, 1, 2, 2, 4, 4]
    assert all(a.active_heads == 4 for a in attns)
    assert unlock.step(7) == 2 and all(a.active_heads == 2 for a in attns)  # resuming mid-run restores the stage


def test_progressive_heads_rejects_bad_schedules():
    model = vit(depth=1)
    for bad in ({5: 2}, {0: 0}, {0: 5}, {0: 2, 3: 1}, [(0, 1)]):
        with pytest.raises(ValueError, match="ProgressiveHeads: schedule"):
            ProgressiveHeads(model, bad)
    with pytest.raises(ValueError, match="no dslib.models.vit.Attention layers"):
        ProgressiveHeads(dslib.nn.Linear(2, 2))


def test_ds_vit_loss_goes_down_on_a_few_digits_batches():
    """A small DS-ViT fitting 32 digits: the loss falls steadily (sanity of the whole training path, not accuracy)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    x = dslib.tensor((X[:32] / 16.0).astype(np.float32).reshape(32, 1, 8, 8), device="torch")
    t = dslib.tensor(y[:32], device="torch")
    model = ds_vit(in_channels=1, image_size=8, patch_size=1, embed_dim=32, depth=2, num_heads=2).to("torch")
    opt = dslib.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = dslib.nn.functional.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0] and losses[-1] < losses[-10] < losses[-20], losses
