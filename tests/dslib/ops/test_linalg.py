"""Matrix products (dslib/ops/linalg.py) against PyTorch: matmul in all its operand ranks, @, einsum."""

from __future__ import annotations

import pytest
import torch

import dslib
from tests.helpers import check_op


@pytest.mark.parametrize(
    "shapes",
    [
        [(3, 4), (4, 5)],
        [(4,), (4,)],  # dot product -> 0-d
        [(4,), (4, 5)],  # vector @ matrix
        [(3, 4), (4,)],  # matrix @ vector
        [(2, 3, 4), (2, 4, 5)],  # batched
        [(2, 3, 4), (4, 5)],  # batch broadcast on one side
        [(1, 3, 4), (2, 4, 5)],  # size-1 batch broadcast
        [(2, 1, 3, 4), (5, 4, 2)],  # batch dims broadcast both ways
        [(4,), (2, 4, 3)],
        [(2, 3, 4), (4,)],
        [(0, 4), (4, 2)],  # empty
        [(3, 0), (0, 2)],  # empty contraction -> zeros
    ],
)
def test_matmul_matches_torch(shapes):
    check_op(shapes, lambda a, b: a @ b, fd_max_elems=12)
    check_op(shapes, torch_fn=torch.matmul, dslib_fn=dslib.matmul, finite_diff=False)


def test_matmul_promotes_dtypes_like_torch():
    a = dslib.ones(2, 2, dtype=dslib.float32)
    b = dslib.ones(2, 2, dtype=dslib.float64)
    assert (a @ b).dtype is dslib.float64


@pytest.mark.parametrize(
    "eq, shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ij->ji", [(3, 4)]),
        ("ij->i", [(3, 4)]),
        ("i,j->ij", [(3,), (4,)]),
        ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("ij,jk", [(3, 4), (4, 5)]),  # implicit output
        ("ij,kj->", [(3, 4), (2, 4)]),
    ],
)
def test_einsum_matches_torch(eq, shapes):
    check_op(shapes, torch_fn=lambda *xs: torch.einsum(eq, *xs), dslib_fn=lambda *xs: dslib.einsum(eq, *xs))


def test_einsum_term_that_does_not_match_its_operand_names_both():
    with pytest.raises(RuntimeError, match=r"einsum: term 'ijk' has 3 letters but its operand has shape \(2, 3\)"):
        dslib.einsum("ijk,kl->il", dslib.ones(2, 3), dslib.ones(3, 2))
