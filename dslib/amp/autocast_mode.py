"""autocast: regions where the heavy ops run in float16 / bfloat16, as torch.autocast.

    import dslib
    import dslib.nn.functional as F

    with dslib.autocast("torch", dtype=dslib.bfloat16):  # "numpy" (float16 only), "torch" or "cuda"
        logits = model(x)  # linear / conv2d / matmul run in bfloat16
        loss = F.cross_entropy(logits, y)  # losses run in float32: loss.dtype == dslib.float32
    loss.backward()  # the float32 parameters get float32 gradients

Mixed precision training (Micikevicius et al. 2018) keeps float32 "master" parameters and lets the
matrix products, which dominate the cost and tolerate the rounding, run in a 16-bit type, while the ops
whose results are sums over many terms (reductions, softmax, normalization, losses) stay in float32.
Inside an autocast region each op follows one of three policies (torch's autocast op lists):

  lower precision   matmul, bmm, einsum of two or more operands, linear, conv2d (and so the two
                    matmuls of scaled_dot_product_attention): floating inputs are cast to `dtype`;
  float32           softmax, log_softmax, batch_norm, layer_norm, group_norm, every loss of
                    dslib.nn.functional, sum, mean, var, std (and what is built on them: logsumexp,
                    norm): float16 / bfloat16 inputs are cast up to float32;
  type promotion    every other op runs in the dtype its inputs promote to (float16 + float32 -> float32).

float64 tensors are never cast, nor tensors on another device type than the region's (a mismatch is
simply not autocast, as in torch). A cast is an ordinary dslib op (`Cast`), so it sits in the graph:
the gradient of a float32 parameter used in float16 flows back through the cast and arrives as float32.
Backward is never autocast: each op's backward runs in the dtypes its forward saw. A nested
`autocast(device_type, enabled=False)` turns autocast off for its body; the state is per thread.

Where dslib differs from torch, on purpose:
- One op list for every device. torch's CPU list leaves softmax, log_softmax, layer_norm, group_norm and
  sum in bfloat16; dslib runs them in float32 as torch's CUDA list does. batch_norm, mean, var and std
  also run in float32 here (torch keeps the input dtype and accumulates in float32 internally); torch's
  CUDA list also runs exp, log, pow, rsqrt and softplus in float32, dslib leaves them to type promotion.
- No cache of cast weights: a weight used twice in a region is cast twice (torch reuses the first cast).
- bfloat16 on the "numpy" device is an error: NumPy has no bfloat16 type and dslib stores none there
  (no emulation: a float32 array of rounded values would report the wrong dtype). Use float16 on
  "numpy", where the matmuls then run as NumPy float16 products: an honest, slow reference.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import dtypes
from ..device import device as Device
from ..ops import api  # api.Tensor and api.cast, bound once dslib.tensor is imported (import cycle)

_DEVICE_TYPES = {"numpy": "numpy", "cpu": "numpy", "torch": "torch", "cuda": "cuda"}
_DEFAULT_DTYPE = {"numpy": dtypes.float16, "torch": dtypes.bfloat16, "cuda": dtypes.float16}  # as torch: cpu bf16


class _State(threading.local):
    def __init__(self):
        self.dtypes = {}  # device type -> its autocast dtype, only for the types where autocast is on


state = _State()  # this thread's regions
active = 0  # enabled regions open in any thread: ops test `if _amp.active:`, one module attribute read
_active_lock = threading.Lock()


def _count_region(delta):
    global active
    with _active_lock:
        active += delta


def _device_type(array) -> str:
    if type(array) is np.ndarray:
        return "numpy"
    return "cuda" if array.is_cuda else "torch"


def _region_dtype(tensors):
    """The autocast dtype for the device of the first tensor among `tensors`, or None when it is off there."""
    for t in tensors:
        if isinstance(t, api.Tensor):
            return state.dtypes.get(_device_type(t._data))
    return None


def _cast(t, dt):
    if isinstance(t, api.Tensor):
        cur = t.dtype
        if cur is not dt and cur.is_floating_point and cur is not dtypes.float64:
            return api.cast(t, dt)
    return t


def to_lower(*tensors):
    """For the lower-precision ops: `tensors` (None and non-tensors pass through) cast to the region's dtype."""
    dt = _region_dtype(tensors)
    if dt is None:
        return tensors
    return tuple(_cast(t, dt) for t in tensors)


def to_float32(*tensors):
    """For the float32 ops: the float16 / bfloat16 tensors among `tensors` cast up to float32."""
    if _region_dtype(tensors) is None:
        return tensors
    return tuple(_cast(t, dtypes.float32) for t in tensors)


def _device_type_arg(device_type) -> str:
    if isinstance(device_type, Device):  # a tensor's .device
        return device_type.type
    if not isinstance(device_type, str) or device_type.strip().lower() not in _DEVICE_TYPES:
        raise ValueError(
            f"autocast: device_type must be 'numpy' (or its alias 'cpu'), 'torch' or 'cuda', got {device_type!r}"
        )
    return _DEVICE_TYPES[device_type.strip().lower()]


def is_autocast_enabled(device_type: str = "numpy") -> bool:
    """Whether autocast is on for `device_type` in this thread (torch.is_autocast_enabled)."""
    return _device_type_arg(device_type) in state.dtypes


def get_autocast_dtype(device_type: str = "numpy") -> dtypes.dtype:
    """The dtype autocast uses on `device_type` in this thread: the region's, or the device's default."""
    dev = _device_type_arg(device_type)
    return state.dtypes.get(dev, _DEFAULT_DTYPE[dev])


class autocast(contextlib.ContextDecorator):  # noqa: N801 - mirrors torch.autocast
    """Context manager / decorator: run the ops of its body in mixed precision (see the module docstring).

    device_type: "numpy" (alias "cpu"), "torch" or "cuda" (or a dslib.device, e.g. x.device): only tensors on
    that device type are autocast.
    dtype: dslib.float16 or dslib.bfloat16; default float16 on "numpy" and "cuda", bfloat16 on "torch"
    (torch's defaults for cuda and cpu). enabled=False turns autocast off inside an enclosing region.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True):
        self.device_type = _device_type_arg(device_type)
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be True or False, got {enabled!r}")
        if dtype is None:
            dtype = _DEFAULT_DTYPE[self.device_type]
        try:
            dtype = dtypes.get(dtype)
        except TypeError:
            raise ValueError(f"autocast: dtype must be dslib.float16 or dslib.bfloat16, got {dtype!r}") from None
        if dtype not in (dtypes.float16, dtypes.bfloat16):
            raise ValueError(
                f"autocast: dtype must be dslib.float16 or dslib.bfloat16, got {dtype}; for float32 leave the "
                "region out (or pass enabled=False)"
            )
        if enabled and self.device_type == "numpy" and dtype is dtypes.bfloat16:
            raise ValueError(
                "autocast: bfloat16 is not available on the 'numpy' device (NumPy has no bfloat16 type); use "
                "dtype=dslib.float16 there, or put the model on device 'torch' / 'cuda' for bfloat16"
            )
        self.dtype = dtype
        self.enabled = enabled
        self._prev = []  # a stack, so one instance may be nested in itself (`with region: ... with region:`)

    def __enter__(self):
        current = state.dtypes
        self._prev.append(current.get(self.device_type))
        if self.enabled:
            current[self.device_type] = self.dtype
            _count_region(1)
        else:
            current.pop(self.device_type, None)
        return self

    def __exit__(self, *exc):
        prev = self._prev.pop()
        if prev is None:
            state.dtypes.pop(self.device_type, None)
        else:
            state.dtypes[self.device_type] = prev
        if self.enabled:
            _count_region(-1)
        return False

    def _recreate_cm(self):  # used by the decorator form: a fresh region per call, safe across threads
        return autocast(self.device_type, self.dtype, self.enabled)

    def __repr__(self):
        return f"autocast(device_type={self.device_type!r}, dtype={self.dtype}, enabled={self.enabled})"
