"""scaled_dot_product_attention against torch: plain, scaled, bool and float masks, causal."""

import numpy as np
import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op

TF = torch.nn.functional
QKV = [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)]


@pytest.mark.parametrize("kwargs", [{}, dict(scale=0.3)])
def test_sdpa_matches_torch(kwargs):
    check_op(
        QKV,
        torch_fn=lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **kwargs),
        dslib_fn=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs),
        fd_max_elems=16,
    )


def test_sdpa_causal_matches_torch():
    shapes = [(2, 5, 4), (2, 5, 4), (2, 5, 3)]
    check_op(
        shapes,
        torch_fn=lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        dslib_fn=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        fd_max_elems=16,
    )


def test_sdpa_bool_mask_matches_torch():
    mask = np.random.default_rng(0).uniform(size=(4, 5)) > 0.4
    mask[:, 0] = True  # every query attends somewhere
    check_op(
        inputs=[np.random.default_rng(i).standard_normal(s).astype(np.float32) for i, s in enumerate(QKV)] + [mask],
        grad=[True, True, True, False],
        torch_fn=lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
        dslib_fn=lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        fd_max_elems=16,
    )


def test_sdpa_float_mask_matches_torch():
    check_op(
        QKV + [(3, 4, 5)],
        grad=[True, True, True, False],
        torch_fn=lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
        dslib_fn=lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        fd_max_elems=16,
    )


def test_sdpa_rejects_mismatched_shapes():
    with pytest.raises(RuntimeError, match=r"scaled_dot_product_attention: query \(2, 4, 8\), key \(2, 5, 7\)"):
        F.scaled_dot_product_attention(dslib.randn(2, 4, 8), dslib.randn(2, 5, 7), dslib.randn(2, 5, 7))
