"""MultiheadAttention (Vaswani et al. 2017, Sec. 3.2.2) with torch.nn.MultiheadAttention's interface.

Parameters are torch's: in_proj_weight (3E, E) stacking W_q, W_k, W_v; in_proj_bias (3E,); and
out_proj (a Linear(E, E)), so state dicts port both ways. Masks follow torch: a bool mask is True
where attention is NOT allowed; a float mask is added to the attention scores.
"""

from __future__ import annotations

import math

from ... import creation
from ...ops import api
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear


def _as_float_mask(mask, dtype, name):
    """A bool mask (True = masked) becomes 0 / -inf; a float mask is used as given."""
    if mask is None:
        return None
    if mask.dtype.kind == "b":
        return api.masked_fill(creation.zeros(*mask.shape, dtype=dtype, device=mask.device), mask, float("-inf"))
    if not mask.dtype.is_floating_point:
        raise TypeError(f"MultiheadAttention: {name} must be a bool or floating point tensor, got dtype {mask.dtype}")
    return mask.to(dtype)


class MultiheadAttention(Module):
    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim=None,
        vdim=None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        if add_bias_kv or add_zero_attn or (kdim not in (None, embed_dim)) or (vdim not in (None, embed_dim)):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim != embed_dim")
        self.embed_dim = embed_dim
        self.kdim = self.vdim = embed_dim
        self._qkv_same_embed_dim = True
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, device=device, dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, device=device, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        """Returns (attn_output, attn_weights or None), shaped like torch's for batch_first and unbatched inputs."""
        E, H, hs = self.embed_dim, self.num_heads, self.head_dim
        unbatched = query.ndim == 2
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != query.ndim or t.ndim not in (2, 3) or t.shape[-1] != E:
                raise RuntimeError(
                    f"MultiheadAttention(embed_dim={E}): {name} must have shape (L, {E}) or "
                    f"{'(N, L, ' if self.batch_first else '(L, N, '}{E}) like query, got {tuple(t.shape)}"
                )
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, _ = query.shape
        S = key.shape[1]
        if key.shape[0] != N or value.shape[:2] != key.shape[:2]:
            raise RuntimeError(
                f"MultiheadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} must share batch and "
                f"sequence size, and the batch size of query ({N})"
            )

        w_q, w_k, w_v = self.in_proj_weight.chunk(3, 0)
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3, 0)
        q = F.linear(query, w_q, b_q).view(N, L, H, hs).transpose(1, 2)  # (N, H, L, hs)
        k = F.linear(key, w_k, b_k).view(N, S, H, hs).transpose(1, 2)  # (N, H, S, hs)
        v = F.linear(value, w_v, b_v).view(N, S, H, hs).transpose(1, 2)  # (N, H, S, hs)

        mask = self._merged_mask(attn_mask, key_padding_mask, is_causal, N, L, S, q.dtype, q.device)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # (N, H, L, S)
            if mask is not None:
                scores = scores + mask
            weights = F.softmax(scores, -1)
            if p > 0:
                weights = F.dropout(weights, p, True)
            out = weights @ v  # (N, H, L, hs)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, E))  # (N, L, E)

        if weights is not None and average_attn_weights:
            weights = weights.mean(1)  # (N, L, S)
        if unbatched:
            return out.squeeze(0), (weights.squeeze(0) if weights is not None else None)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _merged_mask(self, attn_mask, key_padding_mask, is_causal, N, L, S, dtype, device):
        """attn_mask ((L, S) or (N*H, L, S)) and key_padding_mask ((N, S)) as one additive (N, H|1, L, S) mask."""
        H = self.num_heads
        if attn_mask is None and is_causal:
            attn_mask = creation.ones(L, S, dtype=dtype, device=device).triu(1) == 1
        mask = _as_float_mask(attn_mask, dtype, "attn_mask")
        if mask is not None:
            if mask.shape == (L, S):
                mask = mask.view(1, 1, L, S)
            elif mask.shape == (N * H, L, S):
                mask = mask.view(N, H, L, S)
            else:
                raise RuntimeError(
                    f"MultiheadAttention: attn_mask must have shape ({L}, {S}) or ({N * H}, {L}, {S}), "
                    f"got {tuple(attn_mask.shape)}"
                )
        kpm = _as_float_mask(key_padding_mask, dtype, "key_padding_mask")
        if kpm is not None:
            if kpm.shape != (N, S):
                raise RuntimeError(
                    f"MultiheadAttention: key_padding_mask must have shape ({N}, {S}), got {tuple(kpm.shape)}"
                )
            kpm = kpm.view(N, 1, 1, S)
            mask = kpm if mask is None else mask + kpm
        return mask

    def extra_repr(self) -> str:
        return ""
