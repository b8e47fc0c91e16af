"""Array backends: one small interface, implemented over NumPy and over PyTorch tensors.

An op in `dslib.ops` never calls NumPy or torch directly: it asks `backend_of(array)` for the backend
of its input and calls the interface methods (`exp`, `sum`, `matmul`, `conv2d`, ...). The same op code
therefore runs on every device. `NumpyBackend` is the readable reference; `TorchBackend` calls
PyTorch's kernels (plain array functions, never torch.autograd).
"""

from __future__ import annotations

import numpy as np

from ..device import device as Device
from . import numpy_kernels
from .numpy_backend import NumpyBackend

NUMPY = NumpyBackend()
_torch_backends: dict = {}


def get_backend(dev) -> object:
    """The backend object for a device spec ("numpy", "torch", "cuda:0" or a dslib.device)."""
    dev = dev if isinstance(dev, Device) else Device(dev if dev is not None else "numpy")
    if dev.type == "numpy":
        return NUMPY
    backend = _torch_backends.get(dev)
    if backend is None:
        from .torch_backend import TorchBackend

        backend = _torch_backends[dev] = TorchBackend(dev)
    return backend


def backend_of(array) -> object:
    """The backend that owns a raw array (np.ndarray or torch.Tensor)."""
    if type(array) is np.ndarray or isinstance(array, np.generic):  # NumPy ops on 0-d arrays give scalars
        return NUMPY
    if not array.is_cuda:  # fast path: reading .device builds a torch.device object on every call
        backend = _torch_backends.get("torch")
        if backend is not None:
            return backend
    dev = array.device
    key = "torch" if dev.type == "cpu" else f"cuda:{dev.index or 0}"
    backend = _torch_backends.get(key)
    if backend is None:
        backend = get_backend(key)
        _torch_backends[key] = backend
    return backend


def kernels_of(array):
    """The kernel module of an array's backend: numpy_kernels for np.ndarray, torch_kernels for torch tensors
    (the same function names: conv, pooling, normalization, softmax, gelu)."""
    if backend_of(array) is NUMPY:
        return numpy_kernels
    from . import torch_kernels  # imported on first use: it imports torch

    return torch_kernels
