"""The caching allocator on constructed sequences: size classes, best fit, split, coalesce, stats, OOM retry."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from dslib.memory import CachingAllocator, round_size, segment_size
from dslib.memory.pool import MIN_BLOCK, SMALL_SEGMENT

KiB, MiB = 1 << 10, 1 << 20


def layout(pool):
    """The blocks of the pool's only segment as (offset, size, free)."""
    (segment,) = pool.blocks()
    return segment


def test_requests_round_to_512_byte_blocks_and_pick_a_pool_by_size():
    assert [round_size(n) for n in (0, 1, 512, 513, 1000, 1536)] == [512, 512, 512, 1024, 1024, 1536]
    assert segment_size(512) == SMALL_SEGMENT and segment_size(MiB) == SMALL_SEGMENT  # small pool
    assert segment_size(MiB + 512) == 20 * MiB  # large pool, shared 20 MiB segments
    assert segment_size(10 * MiB) == 10 * MiB and segment_size(11 * MiB) == 12 * MiB  # own segment, 2 MiB steps
    assert segment_size(512, small_segment=128 * KiB) == 128 * KiB


def test_blocks_split_off_the_segment_in_order_and_coalesce_with_free_neighbours():
    pool = CachingAllocator()
    a, b, c = pool.malloc(100), pool.malloc(1000), pool.malloc(512)
    rest = SMALL_SEGMENT - 2048
    assert layout(pool) == [(0, 512, False), (512, 1024, False), (1536, 512, False), (2048, rest, True)]
    pool.free(b)  # both neighbours in use: stays a hole
    assert layout(pool) == [(0, 512, False), (512, 1024, True), (1536, 512, False), (2048, rest, True)]
    pool.free(a)  # merges with the hole after it
    assert layout(pool) == [(0, 1536, True), (1536, 512, False), (2048, rest, True)]
    pool.free(c)  # merges with both sides: the segment is one free block again
    assert layout(pool) == [(0, SMALL_SEGMENT, True)]
    with pytest.raises(RuntimeError, match="freed twice"):
        pool.free(c)


def test_best_fit_takes_the_smallest_free_block_that_fits_and_splits_it():
    pool = CachingAllocator()
    h1, _, h2, _, h3, _ = (pool.malloc(n) for n in (2048, 512, 1024, 512, 4096, 512))
    for h in (h1, h2, h3):
        pool.free(h)  # holes of 2048 (offset 0), 1024 (offset 2560), 4096 (offset 4096)
    assert pool.malloc(1000).offset == 2560  # exact fit: the 1024 hole
    x = pool.malloc(1536)  # 2048 is the best fit, not 4096 nor the big tail
    assert (x.offset, x.size) == (0, 1536)
    assert (0 + 1536, 512, True) in layout(pool)  # the split-off rest is a free block
    assert pool.malloc(3000).offset == 4096


def test_large_blocks_keep_slack_under_1_mib_instead_of_splitting():
    pool = CachingAllocator()
    x = pool.malloc(2 * MiB)  # a 20 MiB large segment, split: 18 MiB stay free
    assert layout(pool) == [(0, 2 * MiB, False), (2 * MiB, 18 * MiB, True)]
    y = pool.malloc(18 * MiB - 512 * KiB)  # 0.5 MiB slack: not worth a block in the large pool
    assert (y.size, pool.memory_stats()["requested_bytes"]) == (18 * MiB, 20 * MiB - 512 * KiB)
    pool.free(x), pool.free(y)
    assert layout(pool) == [(0, 20 * MiB, True)]


def test_stats_count_blocks_segments_peaks_and_cache_hits_exactly():
    pool = CachingAllocator()
    a = pool.malloc(100)  # new segment: a miss
    b = pool.malloc(700)  # from the segment's free rest: a hit
    pool.free(a)
    pool.malloc(50)  # reuses a's block: a hit
    s = pool.memory_stats()
    assert s["allocated_bytes"] == 512 + 1024 and s["requested_bytes"] == 750
    assert s["reserved_bytes"] == s["peak_reserved_bytes"] == SMALL_SEGMENT and s["num_segments"] == 1
    assert s["peak_allocated_bytes"] == 1536
    assert (s["num_allocs"], s["num_cache_hits"], s["num_frees"]) == (3, 2, 1)
    assert s["cache_hit_rate"] == pytest.approx(2 / 3)
    assert s["fragmentation"] == pytest.approx(1 - 1536 / SMALL_SEGMENT)
    pool.free(b)
    pool.reset_peak_stats()
    pool.reset_accumulated_stats()
    s = pool.memory_stats()
    assert (s["peak_allocated_bytes"], s["num_allocs"], s["num_frees"]) == (512, 0, 0)
    pool.empty_cache()  # one block still in use: the segment stays
    assert pool.memory_stats()["reserved_bytes"] == SMALL_SEGMENT


def test_out_of_memory_empties_the_cache_retries_then_raises_a_clear_error():
    pool = CachingAllocator(limit=3 * MiB)
    pool.free(pool.malloc(MiB))  # a 2 MiB small segment, now fully free (cached)
    big = pool.malloc(MiB + MiB // 2)  # 20 MiB would pass the cap; 1.5 MiB fits only once the cache is gone
    s = pool.memory_stats()
    assert (s["num_alloc_retries"], s["num_segment_frees"], s["reserved_bytes"]) == (1, 1, MiB + MiB // 2)
    with pytest.raises(MemoryError, match=r"out of memory allocating 2\.0 MiB.*limit 3\.0 MiB.*set_limit"):
        pool.malloc(2 * MiB)
    assert pool.memory_stats()["num_ooms"] == 1
    pool.free(big)
    pool.set_limit(None)
    pool.malloc(2 * MiB)  # no cap any more
    for bad in (-1, 1.5, "1G", True):
        with pytest.raises(ValueError, match="limit must be a number of bytes"):
            pool.set_limit(bad)


def test_arrays_are_views_of_their_block_and_return_it_when_the_last_view_dies():
    pool = CachingAllocator()
    a = pool.empty((4, 5), np.float32)
    b = pool.empty(3, "int64")
    assert (a.shape, a.dtype, b.shape, b.dtype) == ((4, 5), np.float32, (3,), np.int64)
    assert a.flags.c_contiguous and a.flags.writeable and not np.shares_memory(a, b)
    a[...] = np.arange(20).reshape(4, 5)
    view = a.T[1:]  # a view of a view: keeps `a` (and its block) alive
    del a
    gc.collect()
    assert pool.memory_stats()["allocated_bytes"] == 1024 and view[0, 2] == 11
    del view
    assert pool.memory_stats()["allocated_bytes"] == 512
    cycle = [pool.empty((2, 2), np.float64)]
    cycle.append(cycle)  # only the cyclic collector frees this one
    del cycle
    gc.collect()
    del b
    s = pool.memory_stats()
    assert (s["allocated_bytes"], s["num_frees"]) == (0, 3) and layout(pool) == [(0, SMALL_SEGMENT, True)]


def test_bad_requests_say_what_was_wrong():
    pool = CachingAllocator()
    with pytest.raises(ValueError, match="negative dimension"):
        pool.empty((2, -1), np.float32)
    with pytest.raises(TypeError, match="Python objects"):
        pool.empty(3, object)
    with pytest.raises(ValueError, match="multiple of 512"):
        CachingAllocator(small_segment=1000)
    assert pool.empty(0, np.float32).shape == (0,) and MIN_BLOCK == 512
