"""Bad input raises an error whose message names the op, the shapes (or dtypes, devices) and what to do."""

from __future__ import annotations

import pytest

import dslib
import dslib.nn.functional as F


def test_add_shape_mismatch_names_op_shapes_and_fix():
    with pytest.raises(RuntimeError, match=r"add: shapes \(2, 3\) and \(4, 3\) cannot be broadcast.*unsqueeze"):
        dslib.ones(2, 3) + dslib.ones(4, 3)


@pytest.mark.parametrize("op", ["sub", "mul", "div", "maximum", "eq", "lt"])
def test_other_binary_ops_name_themselves_on_shape_mismatch(op):
    with pytest.raises(RuntimeError, match=rf"{op}: shapes \(2,\) and \(3,\) cannot be broadcast"):
        getattr(dslib, op)(dslib.ones(2), dslib.ones(3))


def test_matmul_shape_mismatch_names_the_inner_dims():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(4, 3\) do not line up.*\(3\).*\(4\)"):
        dslib.ones(2, 3) @ dslib.ones(4, 3)
    with pytest.raises(RuntimeError, match=r"matmul: batch dims of \(2, 2, 3\) and \(3, 3, 2\) cannot broadcast"):
        dslib.ones(2, 2, 3) @ dslib.ones(3, 3, 2)
    with pytest.raises(RuntimeError, match=r"matmul: both operands need at least 1 dimension, got shapes \(\)"):
        dslib.matmul(dslib.tensor(1.0), dslib.ones(2))


def test_cat_shape_mismatch_names_the_dim_and_shapes():
    with pytest.raises(
        RuntimeError, match=r"cat: tensors must have the same shape except in dim 0; got \(2, 3\) and \(2, 4\)"
    ):
        dslib.cat([dslib.ones(2, 3), dslib.ones(2, 4)])


def test_reshape_to_a_wrong_size_names_target_and_input():
    with pytest.raises(
        RuntimeError, match=r"reshape: shape \(4, 2\) is invalid for input of size 6 \(shape \(2, 3\)\)"
    ):
        dslib.ones(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match=r"view: shape \(4, -1\) is invalid for input of size 6"):
        dslib.ones(2, 3).view(4, -1)
    with pytest.raises(RuntimeError, match=r"reshape: only one dimension can be -1"):
        dslib.ones(2, 3).reshape(-1, -1)


def test_inplace_float_result_into_an_int_tensor_is_refused_like_torch(device):
    x = dslib.tensor([1, 2], device=device)
    with pytest.raises(
        RuntimeError, match=r"add_: result type dslib.float32 can't be cast to the tensor's dtype dslib.int64"
    ):
        x.add_(1.5)
    with pytest.raises(RuntimeError, match=r"mul_: result type dslib.float32 can't be cast.*\.to\(dslib.float32\)"):
        x.mul_(dslib.tensor([0.5, 0.5], device=device))
    x.add_(2)  # int into int is fine
    assert x.tolist() == [3, 4]


def test_inplace_op_cannot_grow_the_tensor():
    with pytest.raises(RuntimeError, match=r"add_: output shape \(2, 3\) doesn't match the tensor's shape \(3,\)"):
        dslib.ones(3).add_(dslib.ones(2, 3))


@pytest.mark.parametrize(
    "fn, op",
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a @ b.reshape(3, 2), "MatMul"),
        (lambda a, b: dslib.cat([a, b]), "Cat"),
        (lambda a, b: dslib.where(a > 0, a, b), "Where"),
        (lambda a, b: a < b, "lt"),
    ],
)
def test_mixing_devices_in_one_op_names_the_op_and_both_devices(fn, op):
    a, b = dslib.ones(2, 3), dslib.ones(2, 3, device="torch")
    with pytest.raises(
        RuntimeError,
        match=rf"{op}: expected (all|both) tensors on the same device, but got numpy and torch.*\.to\(device\)",
    ):
        fn(a, b)


def test_index_tensor_on_another_device_is_refused_by_gather():
    with pytest.raises(RuntimeError, match=r"gather: index is on torch but the input is on numpy"):
        dslib.ones(2, 2).gather(0, dslib.zeros(1, 2, dtype=dslib.int64, device="torch"))


def test_backward_errors_name_what_to_do():
    x = dslib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*shape \(2,\).*\.sum\(\) first or pass gradient="):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"gradient is on torch but the tensor is on numpy"):
        (x * 2).backward(dslib.ones(2, device="torch"))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(
        RuntimeError, match=r"SumBackward: trying to backward through the graph a second time.*retain_graph=True"
    ):
        y.backward()


def test_inplace_change_of_a_saved_tensor_names_op_and_versions():
    x = dslib.ones(2, requires_grad=True)
    y = x.sigmoid()  # saves its output
    z = y * 3
    y.mul_(2)
    with pytest.raises(
        RuntimeError,
        match=r"SigmoidBackward: .*\(the op's output\) was modified by an in-place operation: it is now at version 1, expected version 0.*clone",
    ):
        z.sum().backward()


def test_leaf_inplace_error_says_to_use_no_grad():
    w = dslib.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError, match=r"mul_: a leaf Tensor that requires grad is being used in an in-place operation.*no_grad"
    ):
        w.mul_(2)
    with pytest.raises(RuntimeError, match=r"__setitem__: a leaf Tensor that requires grad"):
        w[0] = 1.0


def test_dtype_and_device_errors():
    with pytest.raises(TypeError, match=r"bfloat16 is not available on the 'numpy' device.*device='torch'"):
        dslib.zeros(2, dtype=dslib.bfloat16)
    with pytest.raises(TypeError, match=r"unknown dtype 'complex64': use one of float64"):
        dslib.zeros(2, dtype="complex64")
    with pytest.raises(ValueError, match=r"unknown device 'tpu': dslib devices are 'numpy'"):
        dslib.zeros(2, device="tpu")
    with pytest.raises(RuntimeError, match=r"only floating point tensors can require gradients, got dtype dslib.int64"):
        dslib.tensor([1, 2], requires_grad=True)


def test_dim_errors_name_the_op_and_the_valid_range():
    with pytest.raises(
        IndexError, match=r"sum: dim 5 is out of range for a tensor with 2 dimension\(s\); use a dim in \[-2, 1\]"
    ):
        dslib.ones(2, 3).sum(5)
    with pytest.raises(IndexError, match=r"transpose: dim -3 is out of range"):
        dslib.ones(2, 3).transpose(0, -3)
    with pytest.raises(IndexError, match=r"unsqueeze: dim 5 out of range for a tensor with 2 dims"):
        dslib.ones(2, 3).unsqueeze(5)


def test_split_and_chunk_refuse_non_positive_sizes():
    with pytest.raises(RuntimeError, match=r"split: split_size must be a positive int, got 0"):
        dslib.ones(4).split(0)
    with pytest.raises(RuntimeError, match=r"chunk: chunks must be a positive int, got 0"):
        dslib.ones(4).chunk(0)


def test_bad_tensor_data_is_explained():
    with pytest.raises(TypeError, match=r"dslib.tensor needs numbers or booleans"):
        dslib.tensor(["a"])
    with pytest.raises(TypeError, match=r"dslib.tensor could not make a tensor from list.*inhomogeneous"):
        dslib.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match=r"add: unsupported operand of type str"):
        dslib.ones(2) + "x"


def test_index_errors_name_the_index_and_shape():
    with pytest.raises(IndexError, match=r"index 5 does not fit a tensor of shape \(2, 3\)"):
        dslib.ones(2, 3)[5]
    with pytest.raises(IndexError, match=r"unsupported index of type float"):
        dslib.ones(2, 3)[1.5]


def test_pad_with_an_odd_pad_list():
    with pytest.raises(ValueError, match=r"pad: expected an even number of values covering at most 2 dims, got \(1,\)"):
        F.pad(dslib.ones(2, 3), (1,))


def test_cat_of_zero_dim_tensors_points_to_stack():
    with pytest.raises(RuntimeError, match=r"cat: zero-dimensional tensors cannot be concatenated; use stack"):
        dslib.cat([dslib.tensor(1.0), dslib.tensor(2.0)])


def test_writing_into_an_expanded_tensor_says_to_clone(device):
    with pytest.raises(RuntimeError, match=r"(more than one element|several elements).*clone"):
        dslib.ones(3, 1, device=device).expand(3, 4).add_(1)
