"""Indexing with gradients (dslib/ops/indexing.py) against PyTorch: basic and advanced indexing,
gather / scatter_add / index_select, and `x[idx] = v` with autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from tests.helpers import check_op

IDX = np.array([2, 0, 2, 2])  # repeated indices: their gradients must add up
MASK = np.array([True, False, True, False])


@pytest.mark.parametrize(
    "index",
    [
        (0,),
        (-1,),
        (slice(1, 3),),
        (slice(None, None, 2),),
        (slice(None), 1),
        (Ellipsis, 0),
        (None, 1, slice(0, 2)),
        (1, None, Ellipsis, None),
        (slice(5, 9),),  # empty result
    ],
    ids=["int", "neg_int", "slice", "step", "col", "ellipsis", "none", "none_ellipsis", "empty"],
)
def test_basic_indexing_matches_torch(index):
    check_op([(4, 3, 2)], lambda x: x[index])


@pytest.mark.parametrize(
    "index",
    [
        lambda lib: lib(IDX),
        lambda lib: (slice(None), lib(np.array([1, 1, 0]))),
        lambda lib: (lib(np.array([[0, 3], [3, 3]])),),
        lambda lib: (lib(np.array([0, 3])), lib(np.array([1, 1]))),
        lambda lib: (Ellipsis, lib(np.array([0, 0]))),
        lambda lib: lib(MASK),
        lambda lib: (slice(None), lib(np.array([True, False, True]))),
    ],
    ids=["repeated", "col_repeated", "2d_index", "pairs", "ellipsis", "bool_mask", "bool_mask_dim1"],
)
def test_advanced_indexing_accumulates_repeated_indices_like_torch(index):
    check_op(
        [(4, 3)],
        torch_fn=lambda x: x[index(torch.tensor)],
        dslib_fn=lambda x: x[index(dslib.tensor)],
    )


def test_indexing_with_python_lists_and_numpy_arrays():
    check_op([(4, 3)], torch_fn=lambda x: x[[2, 0, 2]], dslib_fn=lambda x: x[[2, 0, 2]])
    check_op([(4, 3)], torch_fn=lambda x: x[torch.tensor(MASK)], dslib_fn=lambda x: x[MASK])


def test_bool_mask_of_a_full_shape_matches_torch():
    mask = np.random.default_rng(0).random((4, 3)) > 0.5
    check_op([(4, 3)], torch_fn=lambda x: x[torch.tensor(mask)], dslib_fn=lambda x: x[dslib.tensor(mask)])


def test_negative_slice_steps_are_refused_on_every_device(device):
    """torch refuses negative steps; dslib does the same on NumPy too (so code ports), with the fix in the message."""
    with pytest.raises(ValueError, match=r"slice steps must be positive.*flip"):
        dslib.arange(5, device=device)[::-1]


def test_index_out_of_range_names_the_shape(device):
    with pytest.raises(IndexError, match=r"index 5 does not fit a tensor of shape \(3, 2\)"):
        dslib.ones(3, 2, device=device)[5]


def test_integer_index_on_numpy_gives_a_view_not_a_copy():
    x = dslib.zeros(3)
    x[1].add_(2)  # x[1] is a 0-d view, as in torch
    assert x.tolist() == [0.0, 2.0, 0.0]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_matches_torch(dim):
    index = np.random.default_rng(0).integers(0, 3, (3, 3))
    check_op(
        inputs=[np.random.default_rng(1).standard_normal((3, 3)).astype(np.float32), index],
        torch_fn=lambda x, i: torch.gather(x, dim, i),
        dslib_fn=lambda x, i: dslib.gather(x, dim, i),
        grad=[True, False],
    )


def test_scatter_add_matches_torch_for_input_and_src():
    index = np.array([[0, 1, 0], [2, 0, 0]])
    check_op(
        inputs=[
            np.zeros((3, 3), np.float32) + 1,
            index,
            np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32),
        ],
        torch_fn=lambda x, i, s: x.scatter_add(0, i, s),
        dslib_fn=lambda x, i, s: x.scatter_add(0, i, s),
        grad=[True, False, True],
    )


@pytest.mark.parametrize("index", [np.array([2, 0, 2]), np.array([[1, 1], [0, 2]])])
def test_index_select_matches_torch_including_repeats(index):
    check_op(
        inputs=[np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32), index],
        torch_fn=lambda x, i: x[i],  # index_select with an n-d index is advanced indexing on dim 0
        dslib_fn=lambda x, i: x.index_select(0, i),
        grad=[True, False],
    )
    check_op(
        inputs=[np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), index.reshape(-1)],
        torch_fn=lambda x, i: x.index_select(1, i),
        dslib_fn=lambda x, i: x.index_select(1, i),
        grad=[True, False],
    )


def test_gather_rejects_float_indices_and_indices_on_another_device():
    x = dslib.ones(2, 2, device="torch")
    with pytest.raises(TypeError, match=r"gather: index must be an integer Tensor"):
        x.gather(1, dslib.tensor([[0.0], [1.0]], device="torch"))
    with pytest.raises(RuntimeError, match=r"gather: index is on numpy but the input is on torch"):
        x.gather(1, dslib.tensor([[0], [1]]))


def _setitem(x, v, index, clone):
    y = clone(x * 1)
    y[index] = v * 2
    return y * y


@pytest.mark.parametrize(
    "index, vshape",
    [((1,), (3,)), ((slice(0, 2), 1), (2,)), ((slice(None), 0), ()), ("mask", (3,)), ("rows", (2, 3))],
)
def test_setitem_sends_gradient_to_the_value_and_the_rest(index, vshape):
    """y[idx] = v records the write: v gets d(out)/d(y[idx]), x the gradient of the untouched part."""
    if index == "mask":
        torch_idx = dslib_idx = np.array([True, False, True, False])
        torch_idx = torch.tensor(torch_idx)
    elif index == "rows":
        torch_idx, dslib_idx = torch.tensor([3, 0]), dslib.tensor([3, 0])
    else:
        torch_idx = dslib_idx = index
    check_op(
        [(4, 3), vshape],
        torch_fn=lambda x, v: _setitem(x, v, torch_idx, torch.clone),
        dslib_fn=lambda x, v: _setitem(x, v, dslib_idx, dslib.Tensor.clone),
    )


def test_setitem_of_a_number_into_a_non_leaf():
    check_op(
        [(3, 2)],
        torch_fn=lambda x: _setitem(x, 0.5, 0, torch.clone),
        dslib_fn=lambda x: _setitem(x, 0.5, 0, dslib.Tensor.clone),
    )


def test_setitem_into_a_buffer_that_does_not_require_grad(device):
    v = dslib.tensor([1.0, 2.0], device=device, requires_grad=True)
    buf = dslib.zeros(3, 2, device=device)
    buf[1] = v
    (buf * buf).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 4.0])


def _inplace_through_view(x, view_fn, clone):
    base = clone(x * 1)
    view_fn(base).mul_(3)
    return base * base


@pytest.mark.parametrize(
    "view_fn",
    [lambda b: b[0], lambda b: b[:, 1:], lambda b: b.transpose(0, 1)[1], lambda b: b.reshape(6)[2:4]],
    ids=["row", "slice", "transpose_row", "reshape_slice"],
)
def test_inplace_op_through_a_view_updates_the_base_gradient_like_torch(view_fn):
    """torch's CopySlices: changing a view in place makes the base's backward see the new values."""
    check_op(
        [(2, 3)],
        torch_fn=lambda x: _inplace_through_view(x, view_fn, torch.clone),
        dslib_fn=lambda x: _inplace_through_view(x, view_fn, dslib.Tensor.clone),
    )


def test_view_taken_before_an_inplace_change_of_its_base_sees_the_new_graph():
    def fn(x, clone):
        base = clone(x * 1)
        view = base[0]
        base.mul_(2)
        return view * x[0]

    check_op([(2, 3)], torch_fn=lambda x: fn(x, torch.clone), dslib_fn=lambda x: fn(x, dslib.Tensor.clone))


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_is_refused():
    w = dslib.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"mul_: a view of a leaf tensor that requires grad"):
        w[0].mul_(2)
    with dslib.no_grad():
        w[0].mul_(2)  # fine outside autograd
    assert w.tolist()[0] == [2.0, 2.0, 2.0]


def test_augmented_assignment_to_a_slice_matches_torch():
    """y[:, 0] += x[:, 1] is a view's add_ followed by __setitem__; both must keep the graph right."""

    def fn(x, clone):
        y = clone(x * 2)
        y[:, 0] += x[:, 1]
        y[0][1:] *= 3  # an in-place op through a view of a view
        return y * y

    check_op([(3, 3)], torch_fn=lambda x: fn(x, torch.clone), dslib_fn=lambda x: fn(x, dslib.Tensor.clone))
