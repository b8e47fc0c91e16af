"""Devices (dslib/device.py and the backends): parsing, moving tensors with gradients flowing back,
the same code on every device, and CUDA cases that skip with a reason when no GPU exists."""

from __future__ import annotations

import numpy as np
import pytest

import dslib

CUDA = dslib.cuda_is_available()


@pytest.mark.parametrize(
    "spec, text",
    [
        ("numpy", "numpy"),
        ("cpu", "numpy"),
        ("torch", "torch"),
        ("cuda", "cuda:0"),
        ("cuda:1", "cuda:1"),
        (" CUDA:2 ", "cuda:2"),
    ],
)
def test_device_specs_parse_like_torch(spec, text):
    d = dslib.device(spec)
    assert str(d) == text and d == text and hash(d) == hash(dslib.device(text))


@pytest.mark.parametrize(
    "spec, match", [("tpu", "unknown device 'tpu'"), ("cuda:x", "bad device index"), ("torch:0", "takes no index")]
)
def test_bad_device_specs_are_explained(spec, match):
    with pytest.raises(ValueError, match=match):
        dslib.device(spec)


def test_numpy_is_the_default_device_and_cpu_its_alias():
    x = dslib.ones(2)
    assert x.device == "numpy" and x.device == "cpu" and isinstance(x._data, np.ndarray)
    assert dslib.ones(2, device="cpu").device == "numpy"


def test_same_code_gives_the_same_values_and_gradients_on_every_device(device):
    def run(dev):
        x = dslib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), device=dev, requires_grad=True)
        w = dslib.tensor(np.linspace(0, 1, 12).reshape(3, 4), device=dev, requires_grad=True)
        loss = ((x @ w).tanh() * 2 - 1).relu().mean()
        loss.backward()
        return loss.item(), x.grad.numpy(), w.grad.numpy()

    ref, got = run("numpy"), run(device)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-5, atol=1e-7)


def test_to_moves_data_and_the_gradient_flows_back(device):
    x = dslib.tensor([1.0, 2.0], requires_grad=True)  # a leaf on numpy
    y = x.to(device)
    assert y.device == device and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.device == "numpy" and x.grad.tolist() == [2.0, 4.0]


def test_to_with_device_and_dtype_and_a_tensor_argument():
    x = dslib.ones(2)
    y = x.to("torch", dslib.float64)
    assert y.device == "torch" and y.dtype is dslib.float64
    z = dslib.zeros(1, dtype=dslib.float16).to(device="torch")
    assert x.to(z).device == "torch" and x.to(z).dtype is dslib.float16
    assert x.to("numpy") is x  # no-op moves return the same tensor, as torch
    assert y.cpu().device == "numpy"


def test_mixing_devices_in_one_op_is_an_error():
    with pytest.raises(RuntimeError, match=r"same device, but got numpy and torch"):
        dslib.ones(2) * dslib.ones(2, device="torch")


@pytest.mark.skipif(CUDA, reason="checks the no-GPU message; a GPU is present")
def test_cuda_without_a_gpu_says_what_to_use_instead():
    with pytest.raises(RuntimeError, match=r"device cuda:0 needs a CUDA GPU.*device='torch'"):
        dslib.zeros(2, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU (torch.cuda.is_available() is False)")
def test_cuda_round_trip_with_gradients():
    x = dslib.tensor([1.0, 2.0], requires_grad=True)
    y = x.cuda()
    assert y.device == "cuda:0" and y._data.is_cuda
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
