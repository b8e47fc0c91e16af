"""DataLoader (dslib/data/dataloader.py, _workers.py): batches and order as torch's DataLoader where the
semantics match, the same batches (order and augmentation) whatever num_workers / worker_type, exact
resume with iter_from, worker failures re-raised with the sample index, dead and hung workers reported,
and no worker process or thread left behind after a loop ends, breaks, fails or is garbage collected."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest
import torch
import torch.utils.data as tud

import dslib
from dslib.data import DataLoader, Dataset, TensorDataset, get_worker_info, sample_rng

WORKERS = [(0, "process"), (1, "process"), (2, "process"), (2, "thread")]
WORKER_IDS = [f"{n}-{kind}" for n, kind in WORKERS]


def _worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith(("dslib-DataLoader", "QueueFeederThread"))]


def _children():
    """This process's children, less multiprocessing's resource tracker (one per process, started by spawn)."""
    return [p for p in psutil.Process().children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())]


@pytest.fixture(autouse=True)
def no_leaked_workers():
    """Every test must end with no worker process and no worker thread alive (no gc.collect: reference
    counting alone must shut them down)."""
    yield
    assert _children() == []
    assert _worker_threads() == []


class Numbers(Dataset):
    """Sample i is (i, a float drawn from sample_rng: its 'augmentation'); optionally fails or is slow."""

    def __init__(self, n, fail_at=None, sleep_at=None, sleep_s=0.0, kill_at=None):
        self.n, self.fail_at, self.sleep_at, self.sleep_s, self.kill_at = n, fail_at, sleep_at, sleep_s, kill_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        if i == self.kill_at and get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        if i == self.sleep_at:
            time.sleep(self.sleep_s)
        return i, sample_rng().random()


class WhoLoaded(Dataset):
    """Sample i is (i, the id of the worker that loaded it, its process id, a draw from np.random's global RNG)."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return i, -1 if info is None else info.id, os.getpid(), np.random.random()


def _as_lists(loader):
    return [[b.tolist() if isinstance(b, dslib.Tensor) else b for b in batch] for batch in loader]


# ----- the same batches as torch -----


@pytest.mark.parametrize("num_workers,worker_type", WORKERS, ids=WORKER_IDS)
@pytest.mark.parametrize("drop_last", [False, True])
def test_sequential_batches_match_torch(num_workers, worker_type, drop_last):
    x, y = np.random.rand(11, 2, 3).astype(np.float32), np.arange(11)
    ours = DataLoader(
        TensorDataset(x, y), batch_size=4, drop_last=drop_last, num_workers=num_workers, worker_type=worker_type
    )
    ref = tud.DataLoader(tud.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=4, drop_last=drop_last)
    got, expected = list(ours), list(ref)
    assert len(got) == len(expected) == len(ours) == len(ref)
    for (xb, yb), (txb, tyb) in zip(got, expected):
        assert xb.device == "numpy" and xb.dtype == dslib.float32 and yb.dtype == dslib.int64
        np.testing.assert_array_equal(xb.numpy(), txb.numpy())
        np.testing.assert_array_equal(yb.numpy(), tyb.numpy())


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batch_sampler_and_sampler_match_torch(num_workers):
    data = np.arange(10) * 3
    batches = [[3, 1], [0], [9, 8, 7, 2]]
    ours = DataLoader(
        data, batch_sampler=batches, num_workers=num_workers, worker_type="thread" if num_workers else "process"
    )
    ref = tud.DataLoader(data, batch_sampler=batches)
    assert [b.tolist() for b in ours] == [b.tolist() for b in ref] and len(ours) == 3
    order = [5, 0, 5, 2, 7]
    ours = DataLoader(data, batch_size=2, sampler=order, num_workers=num_workers)
    ref = tud.DataLoader(data, batch_size=2, sampler=order)
    assert [b.tolist() for b in ours] == [b.tolist() for b in ref]


# ----- determinism: shuffle and augmentation depend on (seed, epoch, index) only -----


def test_shuffle_and_augmentation_identical_for_any_workers():
    results = {}
    for num_workers, worker_type in WORKERS:
        loader = DataLoader(
            Numbers(10), batch_size=3, shuffle=True, seed=7, num_workers=num_workers, worker_type=worker_type
        )
        results[num_workers, worker_type] = [_as_lists(loader) for _ in range(2)]  # epochs 0 and 1
    reference = results[0, "process"]
    assert all(r == reference for r in results.values())
    epoch0, epoch1 = reference
    assert [i for b in epoch0 for i in b[0]] != list(range(10))  # shuffled
    assert sorted(i for b in epoch0 for i in b[0]) == list(range(10))
    assert epoch0 != epoch1  # a second pass is the next epoch: new order and new augmentation
    other_seed = _as_lists(DataLoader(Numbers(10), batch_size=3, shuffle=True, seed=8))
    assert other_seed != epoch0


def test_set_epoch_reproduces_an_epoch():
    loader = DataLoader(Numbers(9), batch_size=2, shuffle=True)
    epochs = [_as_lists(loader) for _ in range(3)]
    assert loader.epoch == 2
    loader.set_epoch(1)
    assert _as_lists(loader) == epochs[1]
    assert _as_lists(loader) == epochs[2]  # and then moves on
    fresh = DataLoader(Numbers(9), batch_size=2, shuffle=True)
    fresh.set_epoch(2)
    assert _as_lists(fresh) == epochs[2]


@pytest.mark.parametrize("num_workers,worker_type", WORKERS, ids=WORKER_IDS)
def test_iter_from_equals_skipping(num_workers, worker_type):
    loader = DataLoader(Numbers(11), batch_size=2, shuffle=True, num_workers=num_workers, worker_type=worker_type)
    loader.set_epoch(3)
    full = _as_lists(loader)
    loader.set_epoch(3)
    assert _as_lists(loader.iter_from(4)) == full[4:]
    loader.set_epoch(3)
    assert _as_lists(loader.iter_from(len(full))) == []


def test_iter_from_does_not_load_skipped_batches():
    loaded = []

    class Recording(Numbers):
        def __getitem__(self, i):
            loaded.append(i)
            return super().__getitem__(i)

    loader = DataLoader(Recording(10), batch_size=3)
    batches = _as_lists(loader.iter_from(2))
    assert [b[0] for b in batches] == [[6, 7, 8], [9]] and sorted(loaded) == [6, 7, 8, 9]


# ----- workers -----


@pytest.mark.parametrize("worker_type", ["process", "thread"])
def test_round_robin_worker_info_and_init_fn(worker_type):
    assert get_worker_info() is None
    calls = []
    loader = DataLoader(WhoLoaded(), batch_size=2, num_workers=3, worker_type=worker_type, worker_init_fn=calls.append)
    batches = list(loader)
    assert [b[0].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    assert [b[1].tolist() for b in batches] == [[k % 3] * 2 for k in range(6)]  # batch k -> worker k % 3
    pids = {p for b in batches for p in b[2].tolist()}
    if worker_type == "thread":
        assert sorted(calls) == [0, 1, 2] and pids == {os.getpid()}
    else:
        assert calls == [] and len(pids) == 3 and os.getpid() not in pids  # called in the worker processes
        # each forked worker reseeds the global RNGs (random, np.random, dslib) with its WorkerInfo.seed
        assert len({batches[k][3].tolist()[0] for k in range(3)}) == 3


def test_prefetch_keeps_prefetch_factor_batches_per_worker_in_flight():
    loaded = []

    class Recording(Numbers):
        def __getitem__(self, i):
            loaded.append(i)
            return super().__getitem__(i)

    loader = DataLoader(Recording(40), batch_size=2, num_workers=2, prefetch_factor=3, worker_type="thread")
    it = iter(loader)
    next(it)
    time.sleep(0.3)
    assert len(loaded) == 2 * (1 + 2 * 3)  # the batch taken + 3 per worker in flight, and no more
    del it


@pytest.mark.parametrize("persistent", [False, True])
def test_tensors_keep_dtype_and_structure_across_processes(persistent):
    class Typed(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {
                "x": dslib.full((2,), i, dtype=dslib.float16),
                "y": dslib.tensor(i, dtype=dslib.int32),
                "name": f"n{i}",
            }

    loader = DataLoader(Typed(), batch_size=2, num_workers=1, persistent_workers=persistent)
    batches = list(loader)
    assert batches[1]["x"].dtype == dslib.float16 and batches[1]["y"].dtype == dslib.int32
    assert batches[1]["x"].tolist() == [[2, 2], [3, 3]] and batches[1]["name"] == ["n2", "n3"]
    del loader


def test_persistent_workers_are_reused_and_skip_stale_batches():
    loader = DataLoader(WhoLoaded(), batch_size=2, num_workers=2, persistent_workers=True)
    first = list(loader)
    for _batch in loader:  # leave epoch 1 early: its prefetched batches must not leak into epoch 2
        break
    third = list(loader)
    assert [b[0].tolist() for b in third] == [b[0].tolist() for b in first]
    assert {p for b in first for p in b[2].tolist()} == {p for b in third for p in b[2].tolist()}
    assert len(_children()) == 2  # alive between epochs
    del loader


def test_spawn_start_method():
    ds = TensorDataset(dslib.arange(6), np.arange(6) * 2)  # dslib Tensors: TensorDataset pickles them as numpy
    loader = DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert [[t.tolist() for t in b] for b in loader] == [[[0, 1, 2, 3], [0, 2, 4, 6]], [[4, 5], [8, 10]]]


def test_spawn_with_unpicklable_dataset_explains():
    class Local(Numbers):
        pass

    loader = DataLoader(Local(4), num_workers=1, multiprocessing_context="spawn")
    with pytest.raises(TypeError, match="could not start worker processes with the 'spawn' start method"):
        next(iter(loader))


# ----- failures -----


@pytest.mark.parametrize("worker_type", ["process", "thread"])
def test_worker_exception_names_worker_and_sample_index(worker_type):
    loader = DataLoader(Numbers(50, fail_at=37), batch_size=4, num_workers=2, worker_type=worker_type)
    seen = []
    with pytest.raises(
        RuntimeError, match="^DataLoader worker 1 failed on sample index 37: ValueError: bad sample 37"
    ) as err:
        for batch in loader:
            seen.append(batch[0].tolist())
    assert isinstance(err.value.__cause__, ValueError) and str(err.value.__cause__) == "bad sample 37"
    # stopped at once, although the traceback (kept alive by `err`) still holds the loader's frame
    assert _children() == [] and _worker_threads() == []
    assert len(seen) == 9  # every batch before the failing one (batch 9 = indices 36..39) came out, in order
    if worker_type == "process":
        assert "Traceback in the worker process" in str(err.value) and "__getitem__" in str(err.value)


def test_main_thread_exception_is_the_original_with_a_note():
    with pytest.raises(ValueError, match="bad sample 5") as err:
        list(DataLoader(Numbers(8, fail_at=5), batch_size=2))
    assert any("sample index 5" in note for note in err.value.__notes__)


@pytest.mark.parametrize("worker_type", ["process", "thread"])
def test_collate_and_init_failures_are_reported(worker_type):
    def bad_collate(samples):
        raise KeyError("no collate")

    def bad_init(worker_id):
        raise OSError(f"init {worker_id}")

    loader = DataLoader(Numbers(4), batch_size=2, num_workers=1, collate_fn=bad_collate, worker_type=worker_type)
    with pytest.raises(RuntimeError, match=r"worker 0 failed in collate_fn on the batch of sample indices \[0, 1\]"):
        list(loader)
    loader = DataLoader(Numbers(4), num_workers=2, worker_init_fn=bad_init, worker_type=worker_type)
    with pytest.raises(RuntimeError, match="worker 0 failed in worker_init_fn: OSError: init 0"):
        list(loader)


def test_unpicklable_batch_is_reported():
    loader = DataLoader(Numbers(2), batch_size=2, num_workers=1, collate_fn=lambda s: lambda: s)
    with pytest.raises(RuntimeError, match="worker 0 failed sending its batch to the main process"):
        list(loader)


def test_killed_worker_raises_instead_of_hanging():
    loader = DataLoader(Numbers(20, kill_at=6), batch_size=2, num_workers=2)
    with pytest.raises(RuntimeError, match=r"worker 1 \(pid \d+\) was killed by signal SIGKILL"):
        list(loader)


@pytest.mark.parametrize("worker_type", ["process", "thread"])
def test_timeout_raises_promptly(worker_type):
    sleep_s = 3.0 if worker_type == "process" else 0.6  # a thread cannot be killed: it must finish its sleep
    loader = DataLoader(
        Numbers(8, sleep_at=2, sleep_s=sleep_s), batch_size=2, num_workers=2, timeout=0.3, worker_type=worker_type
    )
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out after 0.3 s waiting for a batch from worker 1"):
        list(loader)
    assert time.monotonic() - start < 2.5


# ----- shutdown -----


@pytest.mark.parametrize("worker_type", ["process", "thread"])
def test_break_error_and_garbage_collection_stop_the_workers(worker_type):
    loader = DataLoader(Numbers(100), batch_size=2, num_workers=2, worker_type=worker_type)
    for _ in loader:
        break
    assert _children() == [] and _worker_threads() == []

    with pytest.raises(ZeroDivisionError):
        for _ in loader:
            raise ZeroDivisionError("in the loop body")
    assert _children() == [] and _worker_threads() == []

    it = iter(loader)
    next(it)
    assert len(_children()) == (2 if worker_type == "process" else 0)
    del it
    assert _children() == [] and _worker_threads() == []

    persistent = DataLoader(Numbers(10), batch_size=2, num_workers=2, worker_type=worker_type, persistent_workers=True)
    list(persistent)
    del persistent
    assert _children() == [] and _worker_threads() == []


def test_iter_without_next_starts_nothing():
    loader = DataLoader(Numbers(4), num_workers=2)
    it = iter(loader)
    assert _children() == []
    del it


# ----- arguments -----


def test_len():
    assert len(DataLoader(Numbers(10), batch_size=3)) == 4
    assert len(DataLoader(Numbers(10), batch_size=3, drop_last=True)) == 3
    assert len(DataLoader(Numbers(10), batch_size=20)) == 1

    class Endless:
        def __iter__(self):
            return iter(range(5))

    with pytest.raises(TypeError, match="has no length"):
        len(DataLoader(Numbers(10), sampler=Endless()))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be a positive integer, got 2.5"),
        ({"batch_size": None}, ValueError, "batch_size=None"),
        ({"sampler": [0, 1], "shuffle": True}, ValueError, "sampler and shuffle=True are mutually exclusive"),
        ({"batch_sampler": [[0]], "batch_size": 2}, ValueError, "batch_sampler is mutually exclusive"),
        ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler is mutually exclusive"),
        ({"num_workers": -1}, ValueError, "num_workers must be a non-negative integer, got -1"),
        ({"prefetch_factor": 2}, ValueError, "prefetch_factor needs num_workers > 0"),
        ({"num_workers": 1, "prefetch_factor": 0}, ValueError, "prefetch_factor must be a positive integer"),
        ({"persistent_workers": True}, ValueError, "persistent_workers=True needs num_workers > 0"),
        ({"timeout": -1}, ValueError, "timeout must be a non-negative number"),
        ({"num_workers": 1, "worker_type": "fiber"}, ValueError, "worker_type must be 'process' or 'thread'"),
        ({"seed": -3}, ValueError, "seed must be a non-negative integer"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
        ({"collate_fn": 3}, TypeError, "collate_fn must be a function"),
        ({"num_workers": 1, "multiprocessing_context": "teleport"}, ValueError, "is not available here"),
        ({"num_workers": 1, "worker_type": "thread", "multiprocessing_context": "fork"}, ValueError, "only applies"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(Numbers(4), **kwargs)


def test_bad_dataset_and_epoch():
    with pytest.raises(TypeError, match="needs a dataset with __getitem__"):
        DataLoader(5)
    loader = DataLoader(Numbers(4))
    with pytest.raises(ValueError, match="epoch must be a non-negative integer"):
        loader.set_epoch(-1)
    with pytest.raises(ValueError, match="batch_index must be a non-negative integer"):
        loader.iter_from(-1)


def test_a_newer_iteration_supersedes_an_older_one_with_persistent_workers():
    loader = DataLoader(Numbers(20), batch_size=2, num_workers=2, persistent_workers=True)
    old = iter(loader)
    next(old)
    new = iter(loader)
    assert [b[0].tolist() for b in new] == [[2 * k, 2 * k + 1] for k in range(10)]  # old's batches dropped
    with pytest.raises(RuntimeError, match="iterator was superseded"):
        next(old)
    del old, new, loader
