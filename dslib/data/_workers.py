"""The DataLoader's background workers: the protocol both pools speak, and the pool of threads.

Both pools (threads here, processes in _processes.py) speak one protocol. `submit(epoch, indices)` hands
a batch to the next worker in strict round-robin and returns its ticket `(task_id, worker_id)`;
`get(ticket, timeout)` returns that batch (or re-raises its worker's failure). Each worker answers its
tasks in the order it got them, so the oldest ticket's batch is always at the head of its worker's
results: order is preserved without a sort. `discard(tickets)` forgets batches nobody will ask for (a
loop left early, with persistent workers); `shutdown()` stops and joins every worker. Nothing here is
public; dataloader.py is the entry point:

    DataLoader(dataset, batch_size=32, num_workers=2, worker_type="thread")
"""

from __future__ import annotations

import itertools
import queue
import threading
import time

from ._fetch import Failure, Progress, Stopped, WorkerInfo, fetch, set_thread_worker_info
from ._seeding import WORKER_TAG, derive_rng

SHUTDOWN_GRACE_S = 5.0  # how long a stopping worker may take to finish its sample before it is terminated


def worker_seed(seed: int, epoch: int, worker_id: int) -> int:
    return int(derive_rng(WORKER_TAG, seed, epoch, worker_id).integers(2**31))


class _Config:
    """What every worker needs (pickled once per process worker)."""

    def __init__(self, dataset, collate_fn, worker_init_fn, seed, num_workers, epoch, worker_type):
        self.dataset, self.collate_fn, self.worker_init_fn = dataset, collate_fn, worker_init_fn
        self.seed, self.num_workers, self.epoch, self.worker_type = seed, num_workers, epoch, worker_type

    def info(self, worker_id: int) -> WorkerInfo:
        seed = worker_seed(self.seed, self.epoch, worker_id)
        return WorkerInfo(worker_id, self.num_workers, seed, self.dataset, self.worker_type)


class _Pool:
    """The shared bookkeeping: tickets, round-robin, discarded tasks."""

    def __init__(self, num_workers: int):
        self.num_workers = num_workers
        self._task_ids = itertools.count()
        self._discarded: set[int] = set()
        self._in_flight: set[int] = set()
        self.generation = 0  # bumped by each iteration that uses the pool (persistent workers outlive one)
        self.broken = False  # a timeout or a dead worker: this pool must not be reused
        self.closed = False

    def submit(self, epoch: int, indices) -> tuple[int, int]:
        task_id = next(self._task_ids)
        worker_id = task_id % self.num_workers
        self._send(worker_id, (task_id, epoch, list(indices)))
        self._in_flight.add(task_id)
        return task_id, worker_id

    def discard(self, tickets) -> None:
        self._discarded.update(task_id for task_id, _ in tickets)

    def new_generation(self) -> int:
        """Start a new iteration: every batch still in flight belongs to an older one and is dropped."""
        self._discarded |= self._in_flight
        self.generation += 1
        return self.generation

    def get(self, ticket, timeout: float):
        task_id, worker_id = ticket
        deadline = None if not timeout else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            got_id, payload = self._receive(worker_id, remaining, timeout)
            self._in_flight.discard(got_id)
            if got_id is None:  # worker_init_fn failed: the worker reports it instead of any batch
                self.broken = True
                payload.raise_()
            if got_id in self._discarded:
                self._discarded.discard(got_id)
                continue
            if got_id != task_id:  # cannot happen while each worker answers in order
                self.broken = True
                raise RuntimeError(f"DataLoader internal error: expected batch {task_id}, got {got_id}")
            if isinstance(payload, Failure):
                payload.raise_()
            return payload

    def _timed_out(self, worker_id: int, timeout: float, what: str):
        self.broken = True
        raise RuntimeError(
            f"DataLoader timed out after {timeout} s waiting for a batch from worker {worker_id}{what}: "
            "a sample took too long to load. Raise timeout=, or check the dataset's __getitem__ for a hang"
        )

    def __del__(self):
        try:
            self.shutdown()
        except Exception:  # interpreter shutdown: modules may be gone; daemon workers die with the process
            pass


# ----- threads -----


def _thread_worker(config: _Config, worker_id: int, tasks: queue.SimpleQueue, results: queue.SimpleQueue, stop):
    set_thread_worker_info(config.info(worker_id))
    try:
        if config.worker_init_fn is not None:
            config.worker_init_fn(worker_id)
    except BaseException as exc:  # noqa: BLE001 - reported to the main thread, which re-raises it
        results.put((None, Failure(worker_id, "in worker_init_fn", exc, crosses_processes=False)))
        return
    progress = Progress()
    while True:
        task = tasks.get()
        if task is None:
            return
        task_id, epoch, indices = task
        try:
            batch = fetch(config.dataset, config.collate_fn, config.seed, epoch, indices, progress, stop.is_set)
        except Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - as above
            batch = Failure.of_fetch(worker_id, progress, indices, exc, crosses_processes=False)
        results.put((task_id, batch))


class ThreadWorkers(_Pool):
    """Worker threads: no start-up cost and no copies, best for datasets that release the GIL (numpy, I/O)."""

    def __init__(self, config: _Config):
        super().__init__(config.num_workers)
        self._stop = threading.Event()
        self._tasks = [queue.SimpleQueue() for _ in range(config.num_workers)]
        self._results = [queue.SimpleQueue() for _ in range(config.num_workers)]
        self.threads = [
            threading.Thread(
                target=_thread_worker,
                args=(config, i, self._tasks[i], self._results[i], self._stop),
                name=f"dslib-DataLoader-worker-{i}",
                daemon=True,
            )
            for i in range(config.num_workers)
        ]
        for t in self.threads:
            t.start()

    def _send(self, worker_id, task):
        self._tasks[worker_id].put(task)

    def _receive(self, worker_id, remaining, timeout):
        deadline = None if remaining is None else time.monotonic() + remaining
        while True:  # wait in slices, to notice a worker thread that is gone (it only ends when told to)
            left = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            try:
                return self._results[worker_id].get(timeout=left)
            except queue.Empty:
                pass
            if not self.threads[worker_id].is_alive():
                self.broken = True
                raise RuntimeError(f"DataLoader worker thread {worker_id} ended unexpectedly")
            if deadline is not None and time.monotonic() >= deadline:
                self._timed_out(worker_id, timeout, "")

    def shutdown(self):
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        for q in self._tasks:
            q.put(None)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        # A thread still inside a hung __getitem__ cannot be killed; it is a daemon and exits after that sample.
