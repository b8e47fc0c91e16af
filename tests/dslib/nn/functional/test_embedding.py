"""embedding against torch.nn.functional.embedding: lookup, repeated-index gradient, padding_idx."""

import numpy as np
import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch_with_repeated_indices(padding_idx):
    idx = np.array([[0, 2, 2], [5, 1, 0]], np.int64)
    w = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    check_op(
        inputs=[idx, w],
        grad=[False, True],
        torch_fn=lambda i, w: torch.nn.functional.embedding(i, w, padding_idx),
        dslib_fn=lambda i, w: F.embedding(i, w, padding_idx),
        finite_diff=padding_idx is None,  # padding_idx zeroes a gradient that is not the true derivative
    )


def test_embedding_rejects_out_of_range_indices():
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 6\).*got values in \[0, 9\]"):
        F.embedding(dslib.tensor([0, 9]), dslib.randn(6, 4))
