"""The Tensor class (dslib/tensor.py): metadata, conversions, Python protocols, and in-place ops with
autograd compared against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from tests.helpers import check_op


def test_metadata(device):
    x = dslib.zeros(2, 3, 4, dtype=dslib.float64, device=device)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    assert x.element_size() == 8 and x.nbytes == 192 and x.is_floating_point() and x.is_leaf


def test_conversions_to_python_and_numpy(device):
    x = dslib.tensor([[1.5, 2.0]], device=device)
    assert x.tolist() == [[1.5, 2.0]] and isinstance(x.numpy(), np.ndarray)
    assert x[0, 0].item() == 1.5 and float(x[0, 1]) == 2.0 and int(dslib.tensor(3, device=device)) == 3
    assert np.asarray(x).shape == (1, 2)
    with pytest.raises(RuntimeError, match=r"item\(\): a Tensor with 2 elements cannot be converted"):
        x.item()
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on a Tensor that requires grad.*detach"):
        dslib.ones(2, requires_grad=True).numpy()


def test_truth_value_iteration_and_index_protocols():
    assert bool(dslib.tensor(1.0)) and not bool(dslib.tensor([0]))
    with pytest.raises(RuntimeError, match=r"truth value of a tensor with 2 elements is ambiguous"):
        bool(dslib.ones(2))
    rows = list(dslib.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    assert [10, 20, 30][dslib.tensor(1)] == 20
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d tensor"):
        len(dslib.tensor(1.0))


def test_repr_shows_device_dtype_and_grad_fn():
    assert repr(dslib.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "device='torch'" in repr(dslib.ones(1, device="torch"))
    assert "dtype=dslib.float64" in repr(dslib.ones(1, dtype=dslib.float64))
    assert "grad_fn=<MulBackward>" in repr(dslib.ones(1, requires_grad=True) * 2)
    assert "requires_grad=True" in repr(dslib.ones(1, requires_grad=True))
    assert f"{dslib.tensor(2.0):.2f}" == "2.00"


def test_bitwise_ops_on_bool_tensors():
    a, b = dslib.tensor([True, False]), dslib.tensor([True, True])
    assert (a & b).tolist() == [True, False] and (a | b).tolist() == [True, True]
    assert (a ^ b).tolist() == [False, True] and (~a).tolist() == [False, True]


def test_tensors_cannot_be_pickled():
    import pickle

    with pytest.raises(TypeError, match=r"dslib.save"):
        pickle.dumps(dslib.ones(2))


INPLACE = {
    "add_": lambda y, o: y.add_(o),
    "add_alpha": lambda y, o: y.add_(o, alpha=2),
    "sub_": lambda y, o: y.sub_(o),
    "mul_": lambda y, o: y.mul_(o),
    "div_": lambda y, o: y.div_(o + 3),
    "iadd": lambda y, o: y.__iadd__(o),
    "imul": lambda y, o: y.__imul__(o),
    "copy_": lambda y, o: y.copy_(o * 2),
    "pow_": lambda y, o: y.pow_(2),
    "clamp_": lambda y, o: y.clamp_(-0.5, 0.5),
    "relu_": lambda y, o: y.relu_(),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_ops_on_non_leaf_tensors_differentiate_like_torch(name):
    """y = f(x); y.op_(o); loss uses y: both x and o get torch's gradients (and y's version bumps)."""
    op = INPLACE[name]

    def fn(x, o):
        y = x * 1.5
        op(y, o)
        return y * x

    inputs = [np.random.default_rng(0).uniform(-2, 2, (3, 4)).astype(np.float32)]
    inputs.append(np.random.default_rng(1).uniform(-2, 2, (4,)).astype(np.float32))
    inputs = [np.where(np.abs(a) < 0.05, 0.3, a).astype(np.float32) for a in inputs]  # keep off clamp/relu kinks
    check_op(inputs=inputs, torch_fn=fn, dslib_fn=fn)


def test_masked_fill_inplace_and_out_of_place_match_torch():
    mask = np.array([[True, False, True]])

    def fn_inplace(x, m):
        y = x * 2
        y.masked_fill_(m, 0.5)
        return y * x

    check_op([(2, 3)], torch_fn=lambda x: fn_inplace(x, torch.tensor(mask)),
             dslib_fn=lambda x: fn_inplace(x, dslib.tensor(mask, device=x.device)))  # fmt: skip
    check_op([(2, 3)], torch_fn=lambda x: x.masked_fill(torch.tensor(mask), -1.0),
             dslib_fn=lambda x: x.masked_fill(dslib.tensor(mask, device=x.device), -1.0))  # fmt: skip


def test_inplace_bumps_the_version_and_keeps_identity(device):
    x = dslib.ones(2, device=device)
    v0 = x._version
    y = x.add_(1)
    assert y is x and x._version == v0 + 1 and x.tolist() == [2.0, 2.0]
    x += 1
    x *= 2
    x -= 1
    x /= 5
    assert x.tolist() == [1.0, 1.0] and x._version == v0 + 5


def test_inplace_on_a_leaf_that_requires_grad_is_refused_but_allowed_under_no_grad(device):
    w = dslib.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"add_: a leaf Tensor that requires grad is being used in an in-place"):
        w.add_(1)
    with dslib.no_grad():
        w.add_(1)
        w.mul_(3)
        w.zero_()
        w.fill_(2.0)
        w.normal_()
        w.uniform_(-1, 1)
    assert w.requires_grad and w.is_leaf and w.grad_fn is None


def test_inplace_on_a_tensor_without_grad_with_an_argument_that_requires_grad():
    """y.add_(w) on a plain tensor makes y part of the graph (as torch)."""
    w = dslib.tensor([1.0, 2.0], requires_grad=True)
    y = dslib.zeros(2)
    y.add_(w * 3)
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_data_setter_swaps_the_array_and_detach_shares_it():
    x = dslib.ones(2, requires_grad=True)
    x.data = dslib.zeros(2)
    assert x.tolist() == [0.0, 0.0] and x.requires_grad
    d = x.data
    assert not d.requires_grad and d._data is x._data


def test_clone_copies_with_gradient(device):
    x = dslib.tensor([1.0, 2.0], device=device, requires_grad=True)
    c = x.clone()
    assert c._data is not x._data and c.grad_fn is not None
    (c * c).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_type_conversion_methods():
    x = dslib.tensor([1.7, -2.2])
    assert x.double().dtype is dslib.float64 and x.half().dtype is dslib.float16
    assert x.long().tolist() == [1, -2] and x.int().dtype is dslib.int32 and x.bool().tolist() == [True, True]
    assert x.type_as(dslib.zeros(1, dtype=dslib.float64)).dtype is dslib.float64
