"""A caching allocator for host memory, after PyTorch's CUDA caching allocator (c10/cuda/CUDACachingAllocator.cpp).

Segments are large `np.empty(n, np.uint8)` arenas. A request is rounded up to a multiple of 512 B and
served from the small pool (requests up to 1 MiB, 2 MiB segments) or the large pool (20 MiB segments, or
one segment of the rounded size from 10 MiB up). The best-fitting cached free block (smallest size that
fits, then lowest address) is split when the rest is worth keeping (>= 512 B in the small pool, > 1 MiB in
the large one); a freed block is coalesced with free neighbours in its segment. When a new segment does
not fit (NumPy fails, or the `limit` on reserved bytes would be passed) the pool hands its fully free
segments back and tries once more before raising MemoryError.

An array handed out is `np.asarray(handle)`, where `handle` is a small object exposing the block through
`__array_interface__`. NumPy stops collapsing the `.base` chain of views at a non-array object, so every
view, reshape or transpose of the array keeps the array, hence the handle, alive; the block goes back
to the pool only when the handle dies (its `__del__`, the cheap form of weakref.finalize). The callback
only queues the block: frees happen under the lock at the next pool call, so a garbage collection that
runs inside the pool can never re-enter it.
"""

from __future__ import annotations

import bisect
import collections
import math
import threading

import numpy as np

from .stats import Stats, format_bytes

MIN_BLOCK = 512  # every block is a multiple of this (kMinBlockSize)
SMALL_SIZE = 1 << 20  # largest request of the small pool (kSmallSize)
SMALL_SEGMENT = 2 << 20  # segment size of the small pool (kSmallBuffer)
LARGE_SEGMENT = 20 << 20  # segment size of the large pool below MIN_LARGE_ALLOC (kLargeBuffer)
MIN_LARGE_ALLOC = 10 << 20  # from here a request gets its own segment (kMinLargeAlloc)
ROUND_LARGE = 2 << 20  # ... rounded up to a multiple of this (kRoundLarge)


def round_size(nbytes: int) -> int:
    """The block size that serves a request of `nbytes` (512 B multiples)."""
    return max(MIN_BLOCK, -(-nbytes // MIN_BLOCK) * MIN_BLOCK)


def segment_size(size: int, small_segment: int = SMALL_SEGMENT) -> int:
    """The size of the segment to obtain when no cached block can hold a block of `size` bytes."""
    if size <= SMALL_SIZE:
        return max(small_segment, size)
    if size < MIN_LARGE_ALLOC:
        return LARGE_SEGMENT
    return -(-size // ROUND_LARGE) * ROUND_LARGE


class Segment:
    __slots__ = ("array", "ptr", "size", "small", "head")

    def __init__(self, array: np.ndarray, small: bool):
        self.array, self.size, self.small = array, array.size, small
        self.ptr = array.__array_interface__["data"][0]
        self.head = Block(self, 0, self.size)  # the block at offset 0 stays the first one for good


class Block:
    """A run of bytes [offset, offset + size) of a segment; blocks of a segment form a linked list."""

    __slots__ = ("segment", "offset", "size", "requested", "free", "prev", "next")

    def __init__(self, segment: Segment, offset: int, size: int):
        self.segment, self.offset, self.size, self.requested = segment, offset, size, 0
        self.free, self.prev, self.next = True, None, None

    @property
    def addr(self) -> int:
        return self.segment.ptr + self.offset

    def key(self) -> tuple:
        return (self.size, self.addr)  # free lists are sorted by this: best fit, then lowest address


class _Handle:
    """The base object of one handed-out array: keeps its segment alive and returns its block when it dies."""

    __slots__ = ("__array_interface__", "segment_array", "block", "pending")

    def __del__(self):
        self.pending.append(self.block)  # deque.append is atomic: safe from any thread or GC pass


class CachingAllocator:
    """One pool: `empty(shape, dtype)` hands out arrays; `limit` caps reserved bytes (None: no cap).

    `small_segment` is the segment size of the small pool: PyTorch's 2 MiB suits GPU-sized working sets;
    a smaller one wastes less when little memory goes through the pool (see benchmarks/memory_pool.py).
    """

    def __init__(self, limit: int | None = None, small_segment: int = SMALL_SEGMENT):
        self.limit = _check_limit(limit)
        self.set_small_segment(small_segment)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._pending = collections.deque()  # blocks whose arrays died, not yet returned to a free list
        self._free = {True: [], False: []}  # small pool?, -> sorted [(size, addr, block)]
        self._segments: list[Segment] = []

    # ----- arrays -----
    def empty(self, shape, dtype) -> np.ndarray:
        """An uninitialized C-contiguous array of `shape` and `dtype` in a pool block."""
        dtype = np.dtype(dtype)
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape))
        if min(shape, default=0) < 0:
            raise ValueError(f"dslib.memory: negative dimension in shape {shape}; sizes must be >= 0")
        if dtype.hasobject:
            raise TypeError(f"dslib.memory: dtype {dtype} holds Python objects and cannot live in raw pool memory")
        nbytes = dtype.itemsize * math.prod(shape)
        block = self.malloc(nbytes)
        handle = _Handle()
        handle.segment_array, handle.block, handle.pending = block.segment.array, block, self._pending
        handle.__array_interface__ = {"data": (block.addr, False), "shape": shape, "typestr": dtype.str, "version": 3}
        if dtype.fields is not None or dtype.subdtype is not None:
            handle.__array_interface__["descr"] = dtype.descr
        return np.asarray(handle)

    # ----- blocks -----
    def malloc(self, nbytes: int) -> Block:
        """A block of at least `nbytes` bytes, split off the best-fitting cached block or a new segment."""
        with self._lock:
            self._drain()
            size = round_size(nbytes)
            small = size <= SMALL_SIZE
            free = self._free[small]
            i = bisect.bisect_left(free, (size,))  # the smallest free block of >= size bytes
            hit = i < len(free)
            block = free.pop(i)[2] if hit else self._new_segment(size, small, nbytes).head
            rest = block.size - size
            if (rest >= MIN_BLOCK) if small else (rest > SMALL_SIZE):  # large blocks keep slack under 1 MiB
                self._split(block, size)
            block.free, block.requested = False, nbytes
            self.stats.on_alloc(block.size, nbytes, hit)
            return block

    def free(self, block: Block) -> None:
        """Return `block` to its pool now (arrays from `empty` do this themselves when they die)."""
        with self._lock:
            self._drain()
            self._free_locked(block)

    def _drain(self) -> None:
        pending = self._pending
        while pending:
            self._free_locked(pending.popleft())

    def _free_locked(self, block: Block) -> None:
        if block.free:
            raise RuntimeError("dslib.memory: block freed twice")
        block.free = True
        self.stats.on_free(block.size, block.requested)
        prev, nxt = block.prev, block.next
        if prev is not None and prev.free:  # coalesce with the free block before ...
            self._unlist(prev)
            prev.size += block.size
            prev.next = nxt
            if nxt is not None:
                nxt.prev = prev
            block = prev
        if nxt is not None and nxt.free:  # ... and the one after
            self._unlist(nxt)
            block.size += nxt.size
            block.next = nxt.next
            if nxt.next is not None:
                nxt.next.prev = block
        bisect.insort(self._free[block.segment.small], (block.size, block.addr, block))

    def _split(self, block: Block, size: int) -> None:
        rest = Block(block.segment, block.offset + size, block.size - size)
        rest.prev, rest.next = block, block.next
        if block.next is not None:
            block.next.prev = rest
        block.next, block.size = rest, size
        bisect.insort(self._free[block.segment.small], (rest.size, rest.addr, rest))

    def _unlist(self, block: Block) -> None:
        free = self._free[block.segment.small]
        i = bisect.bisect_left(free, block.key())
        if i == len(free) or free[i][2] is not block:
            raise AssertionError("dslib.memory: free list out of sync")
        del free[i]

    # ----- segments -----
    def _new_segment(self, size: int, small: bool, nbytes: int) -> Segment:
        for attempt in range(2):
            seg_bytes = segment_size(size, self.small_segment)
            if self.limit is not None and self.stats.reserved + seg_bytes > self.limit:
                seg_bytes = size  # a segment of just this block may still fit under the limit
            if self.limit is None or self.stats.reserved + seg_bytes <= self.limit:
                try:
                    segment = Segment(np.empty(seg_bytes, np.uint8), small)
                except MemoryError:
                    segment = None
                if segment is not None:
                    self._segments.append(segment)
                    self.stats.on_segment(segment.size, added=True)
                    return segment
            if attempt == 0:  # out of memory: hand the cached segments back and retry once
                self.stats.num_alloc_retries += 1
                self._release_cached()
        self.stats.num_ooms += 1
        s = self.stats
        raise MemoryError(
            f"dslib.memory: out of memory allocating {format_bytes(nbytes)} (block {format_bytes(size)}): "
            f"{format_bytes(s.allocated)} allocated, {format_bytes(s.reserved)} reserved, "
            f"limit {format_bytes(self.limit)}. Free arrays you no longer need, raise the cap with "
            "dslib.memory.set_limit(bytes) (None removes it), or turn the pool off with dslib.memory.set_enabled(False)."
        )

    def _release_cached(self) -> None:
        kept = []
        for seg in self._segments:
            head = seg.head
            if head.free and head.next is None:  # one free block spans the whole segment
                self._unlist(head)
                self.stats.on_segment(seg.size, added=False)
            else:
                kept.append(seg)
        self._segments = kept

    def empty_cache(self) -> None:
        """Hand every fully free segment back to NumPy (torch.cuda.empty_cache)."""
        with self._lock:
            self._drain()
            self._release_cached()

    def set_limit(self, limit: int | None) -> None:
        with self._lock:
            self.limit = _check_limit(limit)

    def set_small_segment(self, nbytes: int) -> None:
        """Segment size for new small-pool segments (a multiple of 512 B); held segments keep theirs."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < MIN_BLOCK:
            raise ValueError(f"dslib.memory: small_segment must be an int >= {MIN_BLOCK} bytes, got {nbytes!r}")
        if nbytes % MIN_BLOCK:
            raise ValueError(f"dslib.memory: small_segment must be a multiple of {MIN_BLOCK} bytes, got {nbytes}")
        self.small_segment = int(nbytes)

    def memory_stats(self) -> dict:
        with self._lock:
            self._drain()
            d = self.stats.as_dict()
            d["limit_bytes"] = self.limit
            return d

    def reset_peak_stats(self) -> None:
        with self._lock:
            self._drain()
            self.stats.reset_peak()

    def reset_accumulated_stats(self) -> None:
        with self._lock:
            self.stats.reset_accumulated()

    def blocks(self) -> list[list[tuple[int, int, bool]]]:
        """Per segment, its blocks as (offset, size, free): for tests and debugging."""
        with self._lock:
            self._drain()
            out = []
            for seg in self._segments:
                b, row = seg.head, []
                while b is not None:
                    row.append((b.offset, b.size, b.free))
                    b = b.next
                out.append(row)
            return out


def _check_limit(limit):
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"dslib.memory: limit must be a number of bytes >= 0 or None (no cap), got {limit!r}")
    return int(limit)
