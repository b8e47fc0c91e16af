"""PyTorch interop: convert state dicts between torch and dslib, so weights port both ways.

    model.load_state_dict(from_torch_state_dict(torch_model.state_dict()))
    torch_model.load_state_dict(to_torch_state_dict(model.state_dict()))

Module parameter names and shapes in dslib.nn are torch.nn's, so the keys match unchanged. Nested
containers (an optimizer's state dict, a checkpoint) are converted recursively; other values pass through.
"""

from __future__ import annotations

from collections import OrderedDict

from . import dtypes
from .backend import get_backend
from .tensor import Tensor


def _map(obj, fn, kind):
    if isinstance(obj, kind):
        return fn(obj)
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _map(v, fn, kind)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(v, fn, kind) for v in obj)
    return obj


def from_torch_state_dict(state_dict, device=None):
    """Copy every torch.Tensor in `state_dict` (nested) into a dslib Tensor on `device`.

    The default device is 'numpy', except for bfloat16 tensors (which NumPy cannot hold): 'torch'.
    """
    import torch

    def convert(t):
        t = t.detach()
        dev = device if device is not None else ("torch" if t.dtype == torch.bfloat16 else "numpy")
        b = get_backend(dev)
        if b.name == "numpy":
            if t.dtype == torch.bfloat16:
                raise TypeError("from_torch_state_dict: bfloat16 tensors cannot live on 'numpy'; pass device='torch'")
            return Tensor._make(t.cpu().numpy().copy())
        return Tensor._make(t.to(b.tdevice, copy=True))

    return _map(state_dict, convert, torch.Tensor)


def to_torch_state_dict(state_dict, device="cpu"):
    """Copy every dslib Tensor in `state_dict` (nested) into a torch.Tensor on torch device `device`."""
    import torch

    def convert(t):
        if t._backend.name == "torch":
            return t._data.detach().to(device, copy=True)
        return torch.from_numpy(t._backend.to_numpy(t._data).copy()).to(dtypes.to_torch(t.dtype)).to(device)

    return _map(state_dict, convert, Tensor)


def load_torch_state_dict(module, torch_state_dict, strict: bool = True):
    """module.load_state_dict(from_torch_state_dict(torch_state_dict), strict); returns its result."""
    return module.load_state_dict(from_torch_state_dict(torch_state_dict), strict=strict)
