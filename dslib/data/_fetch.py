"""Loading one batch, wherever it happens (main thread, worker thread, worker process), and what a worker
reports when that fails. Used by dataloader.py and _workers.py; nothing here is public but WorkerInfo and
get_worker_info (re-exported by dslib.data).

    info = dslib.data.get_worker_info()  # inside a worker: WorkerInfo(id=1, num_workers=2, ...); else None
"""

from __future__ import annotations

import pickle
import threading
import traceback
from dataclasses import dataclass

from ._seeding import seed_sample


@dataclass(frozen=True)
class WorkerInfo:
    id: int  # this worker's number, 0 .. num_workers - 1
    num_workers: int
    seed: int  # distinct per worker (and per epoch unless workers persist); seeds random, np.random, dslib
    dataset: object  # this worker's copy of the dataset (the loader's own object for thread workers)
    worker_type: str  # "process" or "thread"


_thread_info = threading.local()
_process_info: WorkerInfo | None = None  # set in a worker process (by _workers.process_worker)


def get_worker_info() -> WorkerInfo | None:
    """This worker's WorkerInfo inside a DataLoader worker (thread or process); None in the main process."""
    return getattr(_thread_info, "info", None) or _process_info


def set_thread_worker_info(info: WorkerInfo) -> None:
    _thread_info.info = info


def set_process_worker_info(info: WorkerInfo) -> None:
    global _process_info
    _process_info = info


class Stopped(Exception):
    """Raised inside a worker when the loader shuts down in the middle of a batch."""


class Progress:
    """Which sample a fetch is at (None while collating), so a failure can name it."""

    index = None


def fetch(dataset, collate_fn, seed: int, epoch: int, indices, progress: Progress, stop=None):
    """collate_fn([dataset[i] for i in indices]), each sample loaded after seed_sample(seed, epoch, i)."""
    samples = []
    for index in indices:
        if stop is not None and stop():
            raise Stopped
        progress.index = index
        seed_sample(seed, epoch, index)
        samples.append(dataset[index])
    progress.index = None
    return collate_fn(samples)


def _preview(indices) -> str:
    indices = list(indices)
    return str(indices) if len(indices) <= 8 else f"[{', '.join(map(str, indices[:8]))}, ...] ({len(indices)} in all)"


class Failure:
    """A worker's exception, as the main process re-raises it (picklable: it crosses process boundaries)."""

    def __init__(self, worker_id: int, where: str, exc: BaseException, crosses_processes: bool):
        self.summary = f"DataLoader worker {worker_id} failed {where}: {type(exc).__name__}: {exc}"
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.exc = None if crosses_processes else exc
        self.exc_pickle = None
        if crosses_processes:
            try:
                self.exc_pickle = pickle.dumps(exc.with_traceback(None))
            except Exception:  # an exception that cannot be pickled: the text above still tells the story
                pass

    @classmethod
    def of_fetch(cls, worker_id: int, progress: Progress, indices, exc, crosses_processes: bool) -> Failure:
        if progress.index is not None:
            where = f"on sample index {progress.index}"
        else:
            where = f"in collate_fn on the batch of sample indices {_preview(indices)}"
        return cls(worker_id, where, exc, crosses_processes)

    def raise_(self):
        original = self.exc
        if original is None and self.exc_pickle is not None:
            try:
                original = pickle.loads(self.exc_pickle)
            except Exception:
                original = None
        message = self.summary
        if self.exc is None:  # the original's traceback stayed in the worker process: show it here
            message += "\n\nTraceback in the worker process:\n" + self.traceback
        raise RuntimeError(message) from original
