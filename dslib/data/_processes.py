"""The DataLoader's worker processes: true parallelism for Python-heavy datasets.

    DataLoader(dataset, batch_size=32, num_workers=2)  # worker_type="process", fork on Linux

Each worker gets its tasks on a multiprocessing Queue (its feeder thread means the main process never
blocks sending one) and sends results back on a one-way Pipe of its own; the main process waits on that
pipe and on the process's sentinel together, so a worker that dies is noticed at once instead of hanging
the loop. dslib Tensors refuse pickling, so a batch crosses as numpy arrays with their dtype and device
(`_pack` / `_unpack`). The protocol (tickets, order, discards) is _workers._Pool's.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import signal
import sys
import time
import warnings
from multiprocessing.connection import wait

import numpy as np

from ._fetch import Failure, Progress, Stopped, fetch, set_process_worker_info
from ._workers import SHUTDOWN_GRACE_S, _Config, _Pool


class _Packed:
    """A dslib Tensor in transit: its data as a numpy array, and the dtype and device to rebuild it on."""

    def __init__(self, tensor):
        t = tensor.detach()
        self.dtype, self.device = t.dtype.name, str(t.device)
        self.array = t.to(dtype="float32").numpy() if self.dtype == "bfloat16" else t.numpy()

    def unpack(self):
        from ..creation import from_numpy, tensor

        if self.device == "numpy":
            return from_numpy(self.array)
        return tensor(self.array, device=self.device).to(dtype=self.dtype)


def _map(obj, fn, kind):
    if isinstance(obj, kind):
        return fn(obj)
    if isinstance(obj, dict):
        items = [(k, _map(v, fn, kind)) for k, v in obj.items()]
        try:
            return type(obj)(items)
        except TypeError:  # a dict type not built from items (defaultdict): a plain dict
            return dict(items)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_map(v, fn, kind) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(v, fn, kind) for v in obj)
    return obj


def _pack(batch):
    from ..tensor import Tensor

    return _map(batch, _Packed, Tensor)


def _unpack(batch):
    return _map(batch, _Packed.unpack, _Packed)


def _process_worker(config: _Config, worker_id: int, tasks, result_conn, stop, parent_pid: int):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops us
    info = config.info(worker_id)
    set_process_worker_info(info)
    random.seed(info.seed)
    np.random.seed(info.seed)
    from ..random import manual_seed

    manual_seed(info.seed)
    if "torch" in sys.modules:  # one intra-op thread per worker, as torch's DataLoader does
        sys.modules["torch"].set_num_threads(1)

    def send(message) -> bool:
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            where = "sending its batch to the main process (pickling failed: return numpy arrays or dslib Tensors)"
            data = pickle.dumps((message[0], Failure(worker_id, where, exc, crosses_processes=True)))
        try:
            result_conn.send_bytes(data)
            return True
        except OSError:  # the main process is gone or closed the pipe
            return False

    try:
        if config.worker_init_fn is not None:
            config.worker_init_fn(worker_id)
    except BaseException as exc:  # noqa: BLE001
        send((None, Failure(worker_id, "in worker_init_fn", exc, crosses_processes=True)))
        return
    progress = Progress()
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid or stop.is_set():  # orphaned (main process killed), or told to stop
                return
            continue
        if task is None:
            return
        task_id, epoch, indices = task
        try:
            batch = _pack(fetch(config.dataset, config.collate_fn, config.seed, epoch, indices, progress, stop.is_set))
        except Stopped:
            return
        except BaseException as exc:  # noqa: BLE001
            batch = Failure.of_fetch(worker_id, progress, indices, exc, crosses_processes=True)
        if not send((task_id, batch)):
            return


def _exit_description(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class ProcessWorkers(_Pool):
    """Worker processes: true parallelism for Python-heavy datasets, at the price of start-up and copies."""

    def __init__(self, config: _Config, context):
        super().__init__(config.num_workers)
        self.context = context
        self._stop = context.Event()
        self._tasks, self._conns, self.processes = [], [], []
        try:
            for i in range(config.num_workers):
                tasks = context.Queue()
                reader, writer = context.Pipe(duplex=False)
                p = context.Process(
                    target=_process_worker,
                    args=(config, i, tasks, writer, self._stop, os.getpid()),
                    name=f"dslib-DataLoader-worker-{i}",
                    daemon=True,
                )
                self._tasks.append(tasks)
                self._conns.append(reader)
                try:
                    with warnings.catch_warnings():
                        # Python >= 3.12 warns on fork() with threads alive; torch's DataLoader forks the same way.
                        warnings.filterwarnings("ignore", message=".*multi-threaded.*", category=DeprecationWarning)
                        p.start()
                finally:
                    writer.close()  # only the worker writes: its death then closes the pipe
                self.processes.append(p)
        except Exception as exc:
            self.shutdown()
            raise TypeError(
                f"DataLoader could not start worker processes with the {context.get_start_method()!r} start "
                f"method, which pickles the dataset, collate_fn and worker_init_fn: {type(exc).__name__}: {exc}. "
                "Define them at module level (no lambdas or local functions) and keep dslib Tensors out of "
                "dataset attributes (hold numpy arrays), or use worker_type='thread'"
            ) from exc

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _send(self, worker_id, task):
        self._tasks[worker_id].put(task)

    def _receive(self, worker_id, remaining, timeout):
        conn, process = self._conns[worker_id], self.processes[worker_id]
        ready = wait([conn, process.sentinel], remaining)
        if not ready:
            self._timed_out(worker_id, timeout, f" (pid {process.pid})")
        if conn.poll():  # data first: a worker may send and then die
            try:
                got_id, payload = pickle.loads(conn.recv_bytes())
                return got_id, (payload if isinstance(payload, Failure) else _unpack(payload))
            except EOFError:
                pass
        process.join(1.0)
        self.broken = True
        raise RuntimeError(
            f"DataLoader worker {worker_id} (pid {process.pid}) {_exit_description(process.exitcode)} "
            "while loading. If it ran out of memory, lower batch_size or num_workers; run with num_workers=0 to "
            "see a crash in the main process"
        )

    def shutdown(self):
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        for q in self._tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        grace = 0.0 if self.broken else SHUTDOWN_GRACE_S  # a hung or dead pool is not waited for
        deadline = time.monotonic() + grace
        for conn, p in zip(self._conns, self.processes):
            # drain results, so a worker blocked sending one can see the stop and exit
            while p.exitcode is None and time.monotonic() < deadline:
                if conn in wait([conn, p.sentinel], max(0.0, deadline - time.monotonic())):
                    try:
                        conn.recv_bytes()
                    except (EOFError, OSError):
                        p.join(max(0.0, deadline - time.monotonic()))
        for p in self.processes:
            if p.exitcode is None:
                p.terminate()
                p.join(2.0)
            if p.exitcode is None:
                p.kill()
                p.join()
            p.close()
        for conn in self._conns:
            conn.close()
        for q in self._tasks:
            q.cancel_join_thread()  # never block on a feeder thread whose reader is gone...
            q.close()
            feeder = getattr(q, "_thread", None)  # ...but do join it when it can finish (tasks are small)
            if feeder is not None:
                feeder.join(1.0)
