"""The pool behind the numpy backend: the switches, thread safety, and eager training unchanged by it."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import dslib
from dslib.memory import CachingAllocator, is_pool_array


def test_backend_helpers_allocate_from_the_pool_only_while_it_is_on():
    before, was_on = dslib.memory.memory_stats()["num_allocs"], dslib.memory.enabled()
    with dslib.memory.use_pool():
        assert dslib.memory.enabled()
        z, f, o = dslib.zeros(3, 4), dslib.full((2,), 7.5), dslib.ones(2, dtype=dslib.int64)
        c = z.clone()
        assert all(is_pool_array(t._data) for t in (z, f, o, c))
        assert z.tolist() == [[0.0] * 4] * 3 and f.tolist() == [7.5, 7.5] and o.tolist() == [1, 1]
        assert (z + 1)._data.base is None  # a ufunc result: NumPy's own allocation, not pooled
    assert dslib.memory.enabled() == was_on  # restored on exit
    with dslib.memory.use_pool(False):
        assert not is_pool_array(dslib.zeros(2)._data)
    assert dslib.memory.memory_stats()["num_allocs"] >= before + 4
    assert "Served from cache" in dslib.memory.summary()


def test_switches_reject_bad_values(monkeypatch):
    with pytest.raises(TypeError, match="True or False"):
        dslib.memory.set_enabled("yes")
    monkeypatch.setenv("DSLIB_MEMORY_POOL", "maybe")
    with pytest.raises(ValueError, match="DSLIB_MEMORY_POOL='maybe'"):
        dslib.memory._env_enabled()
    monkeypatch.setenv("DSLIB_MEMORY_POOL", "1")
    assert dslib.memory._env_enabled()


def test_alloc_and_free_from_many_threads_never_hand_out_overlapping_blocks():
    pool = CachingAllocator(small_segment=64 << 10)
    errors = []

    def work(tid):
        rng = np.random.default_rng(tid)
        live = []
        for _ in range(300):
            a = pool.empty(int(rng.integers(1, 3000)), np.int32)
            a.fill(tid)
            live.append(a)
            if len(live) > 8 or rng.random() < 0.3:
                b = live.pop(int(rng.integers(len(live))))
                if not (b == tid).all():  # another thread wrote into this thread's block
                    errors.append(tid)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads every few bytecodes, inside the pool's critical sections
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    s = pool.memory_stats()
    assert not errors and s["allocated_bytes"] == 0 and s["num_frees"] == s["num_allocs"] == 1200
    assert all(len(seg) == 1 and seg[0][2] for seg in pool.blocks())  # every segment coalesced back whole


def _train(pool_on: bool, steps: int = 3):
    nn = dslib.nn
    dslib.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 3)
    )
    opt = dslib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = dslib.from_numpy(rng.standard_normal((4, 1, 8, 8), dtype=np.float32))
    y = dslib.from_numpy(rng.integers(0, 3, 4))
    with dslib.memory.use_pool(pool_on):
        for _ in range(steps):
            opt.zero_grad()
            dslib.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_eager_training_gives_identical_results_with_the_pool_on_and_off():
    before = dslib.memory.memory_stats()["num_allocs"]
    on = _train(True)
    assert dslib.memory.memory_stats()["num_allocs"] > before  # the pool was really used
    off = _train(False)
    assert all(np.array_equal(a, b) for a, b in zip(on, off, strict=True))
