"""Shape ops (dslib/ops/shape.py) against PyTorch: views, concatenation, splitting, padding, tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dslib
from dslib.ops import api
from tests.helpers import check_op


@pytest.mark.parametrize(
    "shape, fn",
    [
        ((2, 3, 4), lambda x: x.reshape(6, 4)),
        ((2, 3, 4), lambda x: x.reshape(-1)),
        ((2, 3, 4), lambda x: x.reshape((4, -1))),
        ((2, 3, 4), lambda x: x.view(2, 12)),
        ((), lambda x: x.reshape(1, 1)),
        ((0, 3), lambda x: x.reshape(3, 0)),
        ((2, 3, 4), lambda x: x.permute(2, 0, 1)),
        ((2, 3, 4), lambda x: x.permute((1, -1, 0))),
        ((2, 3, 4), lambda x: x.transpose(0, 2)),
        ((2, 3), lambda x: x.transpose(-1, -2)),
        ((2, 3), lambda x: x.T),
        ((2, 3, 4), lambda x: x.mT),
        ((3, 1), lambda x: x.expand(2, 3, 4)),
        ((3, 1), lambda x: x.expand(-1, 5)),
        ((1,), lambda x: x.expand(0)),
        ((2, 1, 3, 1), lambda x: x.squeeze()),
        ((2, 1, 3, 1), lambda x: x.squeeze(1)),
        ((2, 1, 3, 1), lambda x: x.squeeze(0)),
        ((2, 3), lambda x: x.unsqueeze(0)),
        ((2, 3), lambda x: x.unsqueeze(-1)),
        ((), lambda x: x.unsqueeze(0)),
        ((2, 3, 4), lambda x: x.flatten()),
        ((2, 3, 4, 5), lambda x: x.flatten(1, 2)),
        ((), lambda x: x.flatten()),
        ((2, 3), lambda x: x.repeat(2, 3)),
        ((2, 3), lambda x: x.repeat(2, 1, 2)),
        ((3, 4), lambda x: x.roll(1, 0)),
        ((3, 4), lambda x: x.roll((1, -2), (0, 1))),
        ((3, 4), lambda x: x.roll(5)),
        ((3, 4), lambda x: x.flip(0)),
        ((4, 4), lambda x: x.tril()),
        ((4, 5), lambda x: x.triu(1)),
        ((2, 4, 4), lambda x: x.tril(-1)),
    ],
)
def test_shape_ops_match_torch(shape, fn):
    check_op([shape], fn, fd_max_elems=16)


def test_broadcast_to_matches_torch():
    check_op(
        [(3, 1)], torch_fn=lambda x: torch.broadcast_to(x, (2, 3, 4)), dslib_fn=lambda x: x.broadcast_to((2, 3, 4))
    )


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_match_torch(dim):
    check_op(
        [(2, 3), (2, 3), (2, 3)], torch_fn=lambda *xs: torch.stack(xs, dim), dslib_fn=lambda *xs: dslib.stack(xs, dim)
    )
    shapes = [(2, 3), (2, 3)]
    shapes[1] = tuple(4 if i == dim % 2 else s for i, s in enumerate(shapes[1]))
    check_op(shapes, torch_fn=lambda a, b: torch.cat([a, b], dim), dslib_fn=lambda a, b: dslib.cat([a, b], dim))


def test_cat_with_an_empty_piece_and_mixed_dtypes():
    check_op([(0, 3), (2, 3)], torch_fn=lambda a, b: torch.cat([a, b]), dslib_fn=lambda a, b: dslib.cat([a, b]))
    out = dslib.cat([dslib.ones(2, dtype=dslib.int32), dslib.ones(2, dtype=dslib.float64)])
    assert out.dtype is dslib.float64  # promoted like torch.cat


@pytest.mark.parametrize("size_or_sections", [2, [1, 3, 1], 5])
def test_split_matches_torch(size_or_sections):
    def combine(parts, cat):
        return cat([p * (i + 1) for i, p in enumerate(parts)], 1)

    check_op(
        [(2, 5)],
        torch_fn=lambda x: combine(torch.split(x, size_or_sections, 1), torch.cat),
        dslib_fn=lambda x: combine(dslib.split(x, size_or_sections, 1), dslib.cat),
    )


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_chunk_matches_torch(chunks):
    x = torch.arange(10.0).reshape(5, 2)
    got = dslib.chunk(dslib.tensor(x.numpy()), chunks, 0)
    ref = torch.chunk(x, chunks, 0)
    assert [tuple(p.shape) for p in got] == [tuple(p.shape) for p in ref]
    check_op([(5, 2)], torch_fn=lambda t: torch.chunk(t, chunks)[-1] * 2, dslib_fn=lambda t: t.chunk(chunks)[-1] * 2)


@pytest.mark.parametrize("pad", [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1)])
def test_constant_pad_matches_torch(pad):
    check_op([(2, 3, 4)], torch_fn=lambda x: TF.pad(x, pad, value=0.5), dslib_fn=lambda x: api.pad(x, pad, value=0.5))


def test_unbind_matches_torch():
    check_op([(3, 2)], torch_fn=lambda x: torch.unbind(x, 1)[1] * 3, dslib_fn=lambda x: x.unbind(1)[1] * 3)


def test_view_ops_share_memory_with_their_input(device):
    x = dslib.zeros(2, 3, device=device)
    for view in (x.reshape(6), x.transpose(0, 1), x[0], x.unsqueeze(0)):
        view.add_(1)
    assert x.numpy().tolist() == [[4.0, 4.0, 4.0], [3.0, 3.0, 3.0]]


def test_expand_to_an_incompatible_shape_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"expand: .*\(2, 3\) cannot expand to \(4, 3\)"):
        dslib.ones(2, 3).expand(4, 3)


def test_permute_rejects_out_of_range_and_repeated_dims():
    with pytest.raises(RuntimeError, match=r"permute: dims \(0, -5\) are not a permutation of the 2 dims"):
        dslib.ones(2, 3).permute(0, -5)
    with pytest.raises(RuntimeError, match=r"permute: dims \(0, 0\)"):
        dslib.ones(2, 3).permute(0, 0)


def test_stack_rejects_an_out_of_range_dim():
    with pytest.raises(IndexError, match=r"stack: dim 5 is out of range"):
        dslib.stack([dslib.ones(2), dslib.ones(2)], dim=5)


def test_split_sections_must_add_up():
    with pytest.raises(RuntimeError, match=r"split: sections \[1, 1\] do not add up to the size 3 of dim 0"):
        dslib.ones(3).split([1, 1])


def test_roll_with_lists_like_torch():
    x = np.arange(6.0).reshape(2, 3)
    got = dslib.tensor(x).roll([1, 1], [0, 1]).numpy()
    np.testing.assert_array_equal(got, torch.tensor(x).roll([1, 1], [0, 1]).numpy())
