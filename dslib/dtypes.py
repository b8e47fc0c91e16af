"""dtypes: dslib's data types and PyTorch's type-promotion rules.

A `dtype` is a small named object (`dslib.float32`) that knows its NumPy and PyTorch equivalents.
`result_type` follows PyTorch's promotion: categories bool < integer < floating; among operands,
dimensioned tensors take priority over zero-dim tensors, which take priority over Python scalars,
and a lower-priority operand only changes the result when its category is higher.
"""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - mirrors torch.dtype
    __slots__ = ("name", "itemsize", "kind", "is_floating_point", "category")

    def __init__(self, name: str, itemsize: int, kind: str):
        self.name = name  # "float32"
        self.itemsize = itemsize  # bytes per element
        self.kind = kind  # "b" bool, "u" unsigned, "i" signed, "f" floating
        self.is_floating_point = kind == "f"
        self.category = {"b": 0, "u": 1, "i": 1, "f": 2}[kind]  # promotion: bool < integer < floating

    def __repr__(self) -> str:
        return f"dslib.{self.name}"

    def __reduce__(self):
        return (get, (self.name,))


float64 = dtype("float64", 8, "f")
float32 = dtype("float32", 4, "f")
float16 = dtype("float16", 2, "f")
bfloat16 = dtype("bfloat16", 2, "f")
int64 = dtype("int64", 8, "i")
int32 = dtype("int32", 4, "i")
int16 = dtype("int16", 2, "i")
int8 = dtype("int8", 1, "i")
uint8 = dtype("uint8", 1, "u")
bool_ = dtype("bool", 1, "b")

ALL = (float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool_)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(double=float64, float=float32, half=float16, long=int64, int=int32)

_default_float = float32


def get(name) -> dtype:
    """Look up a dtype by name ("float32"), by dslib dtype, by NumPy or by torch dtype."""
    if isinstance(name, dtype):
        return name
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    text = str(name).replace("torch.", "")
    if text in _BY_NAME:
        return _BY_NAME[text]
    try:
        return _BY_NAME[np.dtype(name).name]
    except (TypeError, KeyError):
        pass
    raise TypeError(f"unknown dtype {name!r}: use one of {', '.join(d.name for d in ALL)}")


def to_numpy(dt: dtype) -> np.dtype:
    if dt is bfloat16:
        raise TypeError(
            "bfloat16 is not available on the 'numpy' device (NumPy has no bfloat16): "
            "use device='torch' or 'cuda', or float16 / float32"
        )
    return np.dtype(dt.name)


def to_torch(dt: dtype):
    import torch

    return getattr(torch, dt.name)


_BY_RAW: dict = {}


def from_raw(raw) -> dtype:
    """The dslib dtype of a NumPy or torch dtype object, cached: this runs on every op."""
    dt = _BY_RAW.get(raw)
    if dt is None:
        dt = _BY_RAW[raw] = get(str(raw))  # "float32" (NumPy) or "torch.float32"
    return dt


def from_array(array) -> dtype:
    """The dslib dtype of a NumPy array or torch tensor."""
    return from_raw(array.dtype)


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(dt) -> None:
    global _default_float
    dt = get(dt)
    if not dt.is_floating_point:
        raise TypeError(f"set_default_dtype needs a floating dtype, got {dt}")
    _default_float = dt


_INT_ORDER = (uint8, int8, int16, int32, int64)


def promote_types(a: dtype, b: dtype) -> dtype:
    """The smallest dtype both `a` and `b` convert to safely (torch.promote_types)."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.kind == "b":
        return a
    if a.kind == "f":
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize >= b.itemsize else b
    if {a, b} == {uint8, int8}:
        return int16
    return a if _INT_ORDER.index(a) >= _INT_ORDER.index(b) else b


def _scalar_dtype(x) -> dtype:
    if isinstance(x, (bool, np.bool_)):
        return bool_
    if isinstance(x, (int, np.integer)):
        return int64
    if isinstance(x, (float, np.floating)):
        return _default_float
    raise TypeError(f"expected a tensor or a Python number, got {type(x).__name__}")


def result_type(*operands) -> dtype:
    """PyTorch's result type for tensors (anything with .dtype and .ndim) and Python numbers."""
    tiers = [None, None, None]  # dimensioned tensors, zero-dim tensors, Python scalars
    for x in operands:
        if hasattr(x, "ndim") and isinstance(getattr(x, "dtype", None), dtype):
            tier, dt = (0 if x.ndim > 0 else 1), x.dtype
        else:
            tier, dt = 2, _scalar_dtype(x)
        tiers[tier] = dt if tiers[tier] is None else promote_types(tiers[tier], dt)
    result = None
    for dt in tiers:
        if dt is None:
            continue
        if result is None:
            result = dt
        elif dt.category > result.category:
            result = dt
    return result
