"""`DataLoader`: batches a dataset in a (seeded) order, optionally loading ahead in background workers.

    from dslib.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, num_workers=2, seed=0)
    for epoch in range(10):
        loader.set_epoch(epoch)          # epoch e's order and augmentation: a function of (seed, e) only
        for xb, yb in loader: ...
    for xb, yb in loader.iter_from(17):  # resume the current epoch at batch 17 (0..16 are never loaded)

PyTorch's semantics and argument names (torch.utils.data.DataLoader), with three additions for exact
resume: `seed`, `set_epoch(e)` and `iter_from(batch_index)`. Every sample is loaded after
`seed_sample(seed, epoch, index)`, so batches are identical whatever `num_workers` and `worker_type`.
Iterating again without `set_epoch` moves on to the next epoch (a new order when shuffling, as in torch).

With `num_workers > 0`, workers (processes, or threads with `worker_type="thread"`) keep
`prefetch_factor` batches each in flight; batches come back in order; a worker's exception is re-raised
here as RuntimeError("DataLoader worker 1 failed on sample index 37: ValueError: ...") chained to it;
leaving the loop (break, an exception, garbage collection) stops and joins the workers.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import sys

from ._fetch import Progress, fetch
from ._processes import ProcessWorkers
from ._seeding import check_seed
from ._workers import ThreadWorkers, _Config
from .collate import default_collate
from .sampler import BatchSampler, RandomSampler, SequentialSampler

WORKER_TYPES = ("process", "thread")


def _non_negative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_callable(name: str, value):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a function (or None), got {type(value).__name__}")
    return value


def _default_context():
    """fork on Linux (fast, nothing to pickle), else the platform's default (spawn on macOS and Windows)."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _batching(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last, seed):
    """(batch_size, sampler, batch_sampler) from DataLoader's arguments, checked as torch checks them."""
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError(
                "batch_sampler is mutually exclusive with batch_size, shuffle, sampler and drop_last: "
                "the batch sampler alone decides the batches"
            )
        if not hasattr(batch_sampler, "__iter__"):
            raise TypeError(f"batch_sampler must be iterable, got {type(batch_sampler).__name__}")
        return None, None, batch_sampler
    if batch_size is None:
        raise ValueError("batch_size=None (no batching) is not supported: use batch_size=1")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if sampler is not None and shuffle:
        raise ValueError(
            "sampler and shuffle=True are mutually exclusive: the sampler decides the order "
            "(pass shuffle=False, or drop the sampler to shuffle with seed=)"
        )
    if sampler is None:
        sampler = RandomSampler(dataset, seed=seed) if shuffle else SequentialSampler(dataset)
    elif not hasattr(sampler, "__iter__"):
        raise TypeError(f"sampler must be iterable (a Sampler or a list of indices), got {type(sampler).__name__}")
    return batch_size, sampler, BatchSampler(sampler, batch_size, drop_last)


class DataLoader:
    """Iterate over `dataset` in batches (see the module docstring)."""

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn=None,
        pin_memory: bool = False,  # accepted for PyTorch compatibility: batches are host numpy arrays already
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        seed: int = 0,
        worker_type: str = "process",
        *,
        multiprocessing_context=None,  # None (fork on Linux), a start method name, or a multiprocessing context
    ):
        if not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader needs a dataset with __getitem__, got {type(dataset).__name__}")
        self.dataset = dataset
        self.num_workers = _non_negative_int("num_workers", num_workers)
        self.shuffle = _check_bool("shuffle", shuffle)
        self.drop_last = _check_bool("drop_last", drop_last)
        self.pin_memory = _check_bool("pin_memory", pin_memory)
        self.persistent_workers = _check_bool("persistent_workers", persistent_workers)
        self.collate_fn = _check_callable("collate_fn", collate_fn) or default_collate
        self.worker_init_fn = _check_callable("worker_init_fn", worker_init_fn)
        self.seed = check_seed("seed", seed)
        if worker_type not in WORKER_TYPES:
            raise ValueError(f"worker_type must be 'process' or 'thread', got {worker_type!r}")
        self.worker_type = worker_type
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"timeout must be a non-negative number of seconds (0: wait forever), got {timeout!r}")
        self.timeout = timeout  # as in torch, ignored with num_workers=0 (nothing to wait for)
        self.prefetch_factor = self._check_worker_options(prefetch_factor, multiprocessing_context)

        self.batch_size, self.sampler, batch_sampler = _batching(
            dataset, batch_size, shuffle, sampler, batch_sampler, drop_last, self.seed
        )
        self.batch_sampler = batch_sampler
        self.epoch = 0
        self._epoch_started = False  # has an iteration of self.epoch begun? (the next one then moves on)
        self._pool = None  # the persistent workers, while they live

    def _check_worker_options(self, prefetch_factor, context):
        self.multiprocessing_context = None
        if self.num_workers == 0:
            if prefetch_factor is not None:
                raise ValueError("prefetch_factor needs num_workers > 0: with no workers nothing is loaded ahead")
            if self.persistent_workers:
                raise ValueError("persistent_workers=True needs num_workers > 0")
            if context is not None:
                raise ValueError("multiprocessing_context needs num_workers > 0 and worker_type='process'")
            return None
        if prefetch_factor is None:
            prefetch_factor = 2
        if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int) or prefetch_factor <= 0:
            raise ValueError(
                f"prefetch_factor must be a positive integer (batches in flight per worker), got {prefetch_factor!r}"
            )
        if context is not None and self.worker_type != "process":
            raise ValueError("multiprocessing_context only applies to worker_type='process'")
        if isinstance(context, str):
            if context not in multiprocessing.get_all_start_methods():
                raise ValueError(
                    f"multiprocessing_context {context!r} is not available here: use one of "
                    f"{multiprocessing.get_all_start_methods()}"
                )
            context = multiprocessing.get_context(context)
        elif context is not None and not hasattr(context, "Process"):
            raise TypeError(f"multiprocessing_context must be a start method name or a context, got {context!r}")
        self.multiprocessing_context = context if context is not None else _default_context()
        return prefetch_factor

    def __len__(self) -> int:
        """The number of batches in an epoch."""
        try:
            return len(self.batch_sampler)
        except TypeError:
            raise TypeError(f"len(DataLoader): its sampler ({type(self.sampler).__name__}) has no length") from None

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch`: its order (set on the sampler) and its augmentation."""
        self.epoch = check_seed("epoch", epoch)
        self._epoch_started = False
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(self.epoch)

    def __iter__(self):
        return self.iter_from(0)

    def iter_from(self, batch_index: int):
        """Iterate over the current epoch from batch `batch_index` on; earlier batches are never loaded.

        The current epoch is the one set by `set_epoch`, or the next one when that has been iterated already
        (exactly as `iter(loader)`): for an exact resume call `set_epoch(e)` and then `iter_from(b)`.
        """
        _non_negative_int("batch_index", batch_index)
        if self._epoch_started:
            self.set_epoch(self.epoch + 1)
        else:
            self.set_epoch(self.epoch)  # (re)applies the epoch to a sampler someone else may have changed
        self._epoch_started = True
        # the index lists of this epoch are fixed now; the skipped ones cost only their indices
        batches = itertools.islice(iter(self.batch_sampler), batch_index, None)
        if self.num_workers == 0:
            return self._main_thread_batches(batches, self.epoch)
        return self._worker_batches(batches, self.epoch)

    def _main_thread_batches(self, batches, epoch: int):
        progress = Progress()
        for indices in batches:
            try:
                batch = fetch(self.dataset, self.collate_fn, self.seed, epoch, indices, progress)
            except Exception as exc:
                where = f"sample index {progress.index}" if progress.index is not None else "collate_fn"
                exc.add_note(f"(raised in DataLoader with num_workers=0, on {where}, epoch {epoch})")
                raise
            yield batch

    def _new_pool(self, epoch: int):
        config = _Config(
            self.dataset, self.collate_fn, self.worker_init_fn, self.seed, self.num_workers, epoch, self.worker_type
        )
        if self.worker_type == "thread":
            return ThreadWorkers(config)
        return ProcessWorkers(config, self.multiprocessing_context)

    def _worker_batches(self, batches, epoch: int):
        # Workers start at the first next() (a generator that never starts never runs its finally),
        # and only when there is something to load.
        first = next(batches, None)
        if first is None:
            return
        batches = itertools.chain([first], batches)
        pool = self._pool or self._new_pool(epoch)
        if self.persistent_workers:
            self._pool = pool
        generation = pool.new_generation()
        pending = collections.deque()  # tickets of the batches in flight, oldest first

        def submit_next() -> bool:
            indices = next(batches, None)
            if indices is not None:
                pending.append(pool.submit(epoch, indices))
            return indices is not None

        try:
            while len(pending) < self.prefetch_factor * self.num_workers and submit_next():
                pass
            while pending:
                if pool.generation != generation:
                    raise RuntimeError(
                        "this DataLoader iterator was superseded: a newer iteration over the same loader started, "
                        "and with persistent_workers=True they share one set of workers. Finish (or break out of) "
                        "one loop before starting the next"
                    )
                batch = pool.get(pending.popleft(), self.timeout)
                submit_next()
                yield batch
        finally:
            if self.persistent_workers and not pool.broken:
                pool.discard(pending)
            else:
                pool.shutdown()
                if self._pool is pool:
                    self._pool = None

    def shutdown_workers(self) -> None:
        """Stop the persistent workers now (they also stop when the loader is garbage collected)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self):
        try:
            self.shutdown_workers()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self) -> str:
        workers = f", num_workers={self.num_workers} ({self.worker_type})" if self.num_workers else ""
        return f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}{workers}, seed={self.seed})"
