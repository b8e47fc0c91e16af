"""dslib.memory: a caching memory pool for the numpy device, with torch.cuda's memory API names.

    import dslib
    dslib.memory.set_enabled(True)            # or DSLIB_MEMORY_POOL=1, or `with dslib.memory.use_pool():`
    loss = model(x).sum(); loss.backward()
    print(dslib.memory.summary())             # allocated / reserved / peaks / fragmentation / cache hits
    dslib.memory.memory_stats()["cache_hit_rate"]
    dslib.memory.set_limit(256 << 20)         # cap reserved bytes; None removes the cap
    dslib.memory.empty_cache()                # hand fully free segments back

What comes from the pool (eager mode, numpy backend): the backend's allocation helpers, i.e.
`empty`, `zeros`, `ones`, `full` and `copy`, and `owned` keeps pool arrays as owners, (which back dslib.empty/zeros/..., the gradient buffers of
indexing, gather and embedding backwards, the first `.grad` of every leaf, optimizer state and clones).
What does not: arrays NumPy creates inside its own functions (ufunc results such as `a * b`, `np.matmul`,
reductions, and the `np.zeros`/`np.pad` calls inside `backend/numpy_kernels.py`): NumPy allocates those
with its C allocator and offers no Python hook to redirect them. The pool is off by default: one pooled
allocation costs ~20 us of Python against ~1-3 us for np.empty, only ~12 arrays per small-CNN step go
through it, and eager step time did not improve (benchmarks/memory_pool.py). pool.py is the allocator,
stats.py the counters and summary(). Tests: .venv/bin/pytest tests/dslib/memory -q
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .pool import CachingAllocator, _Handle, round_size, segment_size
from .stats import summary as _summary

_ENV = "DSLIB_MEMORY_POOL"


def _env_enabled() -> bool:
    value = os.environ.get(_ENV, "0").strip().lower()
    if value not in ("0", "1", "false", "true", "off", "on", ""):
        raise ValueError(f"{_ENV}={value!r}: use 1 (pool on) or 0 (pool off) for dslib's numpy memory pool")
    return value in ("1", "true", "on")


_pool = CachingAllocator()
_enabled = _env_enabled()


def enabled() -> bool:
    """Whether the numpy backend's allocations come from the pool."""
    return _enabled


def set_enabled(flag: bool) -> None:
    global _enabled
    if not isinstance(flag, bool):
        raise TypeError(f"dslib.memory.set_enabled expects True or False, got {flag!r}")
    _enabled = flag


@contextlib.contextmanager
def use_pool(flag: bool = True):
    """Turn the pool on (or off) inside a with-block; arrays allocated inside stay valid after it."""
    previous = _enabled
    set_enabled(flag)
    try:
        yield
    finally:
        set_enabled(previous)


def allocator() -> CachingAllocator:
    """The process-wide pool the numpy backend uses."""
    return _pool


def memory_stats() -> dict:
    return _pool.memory_stats()


def reset_peak_stats() -> None:
    _pool.reset_peak_stats()


def reset_accumulated_stats() -> None:
    _pool.reset_accumulated_stats()


def empty_cache() -> None:
    _pool.empty_cache()


def set_limit(nbytes: int | None) -> None:
    """Cap the pool's reserved bytes (None: no cap); a request past it first empties the cache, then raises."""
    _pool.set_limit(nbytes)


def set_small_segment(nbytes: int) -> None:
    """Segment size of the small pool for segments obtained from now on (default 2 MiB, as PyTorch)."""
    _pool.set_small_segment(nbytes)


def summary() -> str:
    return _summary(_pool.memory_stats(), _enabled, _pool.limit)


# ----- the numpy backend's allocation hooks: NumPy's own functions while the pool is off -----


def empty(shape, dtype) -> np.ndarray:
    if not _enabled:
        return np.empty(shape, dtype)
    return _pool.empty(shape, dtype)


def zeros(shape, dtype) -> np.ndarray:
    if not _enabled:
        return np.zeros(shape, dtype)  # calloc: untouched pages stay unmapped
    out = _pool.empty(shape, dtype)
    out.fill(0)
    return out


def full(shape, value, dtype) -> np.ndarray:
    if not _enabled:
        return np.full(shape, value, dtype)
    out = _pool.empty(shape, dtype)
    np.copyto(out, value, casting="unsafe")  # what np.full does after its np.empty
    return out


def copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `a` (ndarray.copy())."""
    if not _enabled or type(a) is not np.ndarray or a.dtype.hasobject:
        return a.copy()
    out = _pool.empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def is_pool_array(a) -> bool:
    """Whether `a` is an array handed out by the pool itself (not a view of one)."""
    return type(a.base) is _Handle


__all__ = [
    "CachingAllocator",
    "allocator",
    "empty_cache",
    "enabled",
    "memory_stats",
    "reset_accumulated_stats",
    "reset_peak_stats",
    "round_size",
    "segment_size",
    "set_enabled",
    "set_limit",
    "set_small_segment",
    "summary",
    "use_pool",
]
