"""Shared helpers of dslib.nn.functional: pick the kernel module of an array's backend, normalize args."""

from __future__ import annotations

from ...backend import kernels_of as kernels  # noqa: F401 - numpy_kernels or torch_kernels, by the array's backend


def pair(value, name, op):
    """An int or a 2-sequence of ints -> (int, int), as torch's `_pair`."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) == 1:
        return (int(value[0]), int(value[0]))
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return value


def check_float(op, *tensors):
    """Raise when the floating-point tensors given do not share one dtype (torch does not promote here)."""
    dts = {t.dtype for t in tensors if t is not None}
    if len(dts) > 1:
        names = ", ".join(str(d) for d in dts)
        raise RuntimeError(f"{op}: expected input, weight and bias of the same dtype, got {names}; cast with .to()")


def data(t):
    """The raw array of a Tensor, or None."""
    return None if t is None else t._data
