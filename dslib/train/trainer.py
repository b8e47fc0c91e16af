"""Trainer: the training loop, with gradient accumulation, mixed precision, checkpoints and exact resume.

    from dslib.train import Trainer
    trainer = Trainer(model, optimizer, train_loader=train, val_loader=val, scheduler=sched, device="torch",
                      checkpoint_dir="runs/x/checkpoints", checkpoint_every=100)
    history = trainer.fit(epochs=10)           # or fit(max_steps=500); a second fit() continues
    print(trainer.evaluate(test))              # accuracy, loss, per-class recall, confusion matrix
    trainer.load_checkpoint("runs/x/checkpoints")   # the newest checkpoint: continue exactly where it stopped

One optimizer step ("step") consumes `accumulation_steps` micro-batches (the loader's batches): each
micro-batch's loss is divided by the number of micro-batches in its group before backward, so the summed
gradient is the gradient of the group's mean loss; the last group of an epoch may be shorter. The scheduler
is stepped after every optimizer step. With `amp_dtype` the forward pass and loss run under
`dslib.autocast` and, for float16, the loss is scaled by a GradScaler (Micikevicius et al. 2018, "Mixed
Precision Training"); gradients are unscaled before clipping.

With `compile=True` each optimizer step (forward, backward, optimizer and scheduler step) is captured once
by `dslib.compile` and replayed from its static graph, with results equal to eager mode; configurations the
graph cannot capture (gradient accumulation, GradScaler, batch mixing, a scheduler that is not a dslib
LRScheduler) raise a ValueError at construction.

Exact resume: a checkpoint is taken between optimizer steps and holds the model, optimizer, scheduler,
scaler, mixing state, dslib's random state, the epoch, the position in the epoch and the history. The
loader must make each epoch's order a function of the epoch (`set_epoch`) and start mid-epoch without
replaying (`iter_from`), as dslib.data.DataLoader does; then a resumed run repeats the uninterrupted one
bit for bit on the numpy device.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time

import numpy as np

from .. import dtypes
from ..autograd import no_grad
from ..device import device as Device
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..serialization import load, save
from ..tensor import Tensor
from . import checkpoint as ckpt
from .history import History
from .metrics import EvalResult, evaluate


def split_batch(batch, device):
    """(inputs, targets) of a loader's batch, moved to `device`."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(
            f"Trainer: the loader must yield (inputs, targets) pairs, got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )
    return tuple(_to(t, device) for t in batch)


def _to(t, device):
    if isinstance(t, Tensor):
        return t.to(device)
    if isinstance(t, np.ndarray):
        from ..creation import from_numpy

        return from_numpy(t).to(device)
    raise TypeError(f"Trainer: batches must hold dslib Tensors or NumPy arrays, got {type(t).__name__}")


def autocast_context(device, amp_dtype):
    """dslib.autocast for `device` when amp_dtype is set, else a context that does nothing."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    from ..amp import autocast

    return autocast(device_type=Device(device).type, dtype=amp_dtype)


def _positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Trainer: {name} must be a positive int, got {value!r}")
    return value


def _cross_entropy(logits, targets):
    from ..nn import functional as F

    return F.cross_entropy(logits, targets)


class Trainer:
    def __init__(
        self,
        model: Module,
        optimizer: Optimizer,
        loss_fn=None,  # loss_fn(logits, targets) -> mean loss; default F.cross_entropy (takes soft targets too)
        train_loader=None,  # yields (inputs, targets); has len(), and ideally set_epoch() and iter_from()
        val_loader=None,  # evaluated at the end of every epoch
        scheduler=None,  # stepped after every optimizer step
        device="numpy",  # where the model and the batches live
        accumulation_steps: int = 1,  # micro-batches per optimizer step
        amp_dtype=None,  # None, dslib.float16 or dslib.bfloat16: autocast the forward pass
        grad_scaler=None,  # a dslib.amp.GradScaler; made for float16 when not given
        clip_grad_norm: float | None = None,  # max total gradient 2-norm
        mixing=None,  # batch-level mixing, e.g. dslib.data.transforms.MixupCutmix: (x, y) -> (x, soft y)
        checkpoint_dir=None,  # where step_XXXXXXXX.dslib files go (also written at every epoch's end)
        checkpoint_every: int | None = None,  # optimizer steps between checkpoints
        keep_checkpoints: int = 3,  # the newest k checkpoint files are kept
        progress: bool = True,  # tqdm progress bars
        log_every: int = 50,  # optimizer steps per history record (and one at every epoch's end)
        compile: bool = False,  # noqa: A002 - capture each step with dslib.compile and replay it
    ):
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a dslib.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Trainer: optimizer must be a dslib.optim Optimizer, got {type(optimizer).__name__}")
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"Trainer: scheduler must have a step() method, got {type(scheduler).__name__}")
        if amp_dtype is not None and amp_dtype not in (dtypes.float16, dtypes.bfloat16):
            raise ValueError(f"Trainer: amp_dtype must be None, dslib.float16 or dslib.bfloat16, got {amp_dtype!r}")
        if checkpoint_every is not None and checkpoint_dir is None:
            raise ValueError(
                f"Trainer: checkpoint_every={checkpoint_every!r} needs checkpoint_dir= (the folder to write "
                "checkpoints to)"
            )
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"Trainer: clip_grad_norm must be a positive number or None, got {clip_grad_norm!r}")
        self.accumulation_steps = _positive_int(accumulation_steps, "accumulation_steps (micro-batches per step)")
        self.checkpoint_every = _positive_int(checkpoint_every, "checkpoint_every", allow_none=True)
        self.keep_checkpoints = _positive_int(keep_checkpoints, "keep_checkpoints")
        self.log_every = _positive_int(log_every, "log_every")
        self.device = str(Device(device))
        self.model = model.to(self.device)
        self.optimizer, self.scheduler, self.loss_fn = optimizer, scheduler, loss_fn or _cross_entropy
        self.train_loader, self.val_loader, self.mixing = train_loader, val_loader, mixing
        self.amp_dtype, self.clip_grad_norm, self.progress = amp_dtype, clip_grad_norm, bool(progress)
        if grad_scaler is None and amp_dtype is dtypes.float16:
            from ..amp import GradScaler

            grad_scaler = GradScaler()
        self.scaler = grad_scaler
        self._step_fn = self._compile_step() if compile else None
        self.checkpoint_dir = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        self.history = History()
        self.last_eval: EvalResult | None = None
        self.epoch = 0  # the epoch in progress (epochs completed so far)
        self.batch = 0  # the next micro-batch of that epoch
        self.step = 0  # optimizer steps taken
        self._reset_window()

    # ----- the loop -----
    def fit(self, epochs: int | None = None, max_steps: int | None = None) -> History:
        """Train until `epochs` epochs are complete or `max_steps` optimizer steps are taken (both counted
        from the start of training, so a later call, or a resumed trainer, continues)."""
        if epochs is None and max_steps is None:
            raise ValueError("Trainer.fit: give epochs= and/or max_steps= (when to stop)")
        _positive_int(epochs, "epochs", allow_none=True)
        _positive_int(max_steps, "max_steps", allow_none=True)
        if self.train_loader is None:
            raise ValueError("Trainer.fit: no train_loader; pass Trainer(..., train_loader=...)")
        n_batches = len(self.train_loader)
        if n_batches == 0:
            raise ValueError("Trainer.fit: the train_loader has no batches (dataset smaller than one batch?)")
        epochs = epochs if epochs is not None else 2**62
        self.model.train()
        self.optimizer.zero_grad()
        if not self._win["samples"]:
            self._win["t0"] = time.perf_counter()  # throughput counts training time, not the time between fits
        while self.epoch < epochs and (max_steps is None or self.step < max_steps):
            self._train_epoch(n_batches, epochs, max_steps)
            if self.batch >= n_batches:
                self._end_epoch()
        return self.history

    def _train_epoch(self, n_batches, epochs, max_steps):
        """Micro-batches self.batch.. of epoch self.epoch, until the epoch ends or max_steps is reached."""
        from tqdm.auto import tqdm

        loader, n = self.train_loader, self.accumulation_steps
        bar = tqdm(
            total=n_batches,
            initial=self.batch,
            desc=f"epoch {self.epoch + 1}" + ("" if epochs >= 2**62 else f"/{epochs}"),
            disable=not self.progress,
            leave=False,
            dynamic_ncols=True,
        )
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(self.epoch)
        if self.batch >= n_batches:
            batches = iter(())
        elif self.batch > 0 and hasattr(loader, "iter_from"):
            batches = loader.iter_from(self.batch)
        else:  # a plain iterable: replay the skipped batches (correct if its order is a function of the epoch)
            batches = itertools.islice(loader, self.batch, None)
        try:
            for batch in batches:
                group_start = self.batch - self.batch % n
                group_size = min(n, n_batches - group_start)
                if self._step_fn is not None:
                    self._compiled_step(batch)
                else:
                    self._forward_backward(batch, group_size)
                self.batch += 1
                bar.update(1)
                if self.batch == group_start + group_size:
                    self._optimizer_step()
                    if self.step % self.log_every == 0:
                        record = self._flush_window()
                        bar.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.3f}")
                    if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                        self.save_checkpoint()
                    if max_steps is not None and self.step >= max_steps:
                        break
        finally:
            bar.close()
            close = getattr(batches, "close", None)
            if close is not None:  # stop a DataLoader's workers when we leave mid-epoch
                close()

    def _forward_backward(self, batch, group_size: int):
        x, y = split_batch(batch, self.device)
        targets = y
        if self.mixing is not None:
            x, targets = self.mixing(x, y)
        with autocast_context(self.device, self.amp_dtype):
            logits = self.model(x)
            loss = self.loss_fn(logits, targets)
        scaled = loss / group_size
        if self.scaler is not None:
            scaled = self.scaler.scale(scaled)
        scaled.backward()
        with no_grad():  # running sums for the log, kept as tensors: no device sync per batch
            b = y.shape[0]
            self._win["loss"].append(loss.detach().float() * b)
            # against the label, or for soft targets (mixup, CutMix) against their largest class
            labels = targets.argmax(dim=1) if targets.ndim == 2 else targets
            if labels.ndim == 1:
                self._win["correct"].append((logits.argmax(dim=1) == labels).sum())
            self._win["samples"] += b

    def _compile_step(self):
        """The compiled one-batch training step (compile=True), or a ValueError naming what it cannot capture."""
        from ..graph import compile as graph_compile
        from ..optim.lr_scheduler import LRScheduler

        unsupported = [
            (self.accumulation_steps != 1, f"accumulation_steps={self.accumulation_steps} (use 1)"),
            (self.scaler is not None, "a GradScaler (float16 amp; use amp_dtype=dslib.bfloat16 or None)"),
            (self.mixing is not None, "batch mixing (it draws random numbers)"),
            (self.scheduler is not None and not isinstance(self.scheduler, LRScheduler), "a non-dslib scheduler"),
        ]
        bad = [why for cond, why in unsupported if cond]
        if bad:
            raise ValueError(f"Trainer(compile=True) cannot capture {', '.join(bad)}; pass compile=False for these")

        def step(x, y):
            with autocast_context(self.device, self.amp_dtype):
                logits = self.model(x)
                loss = self.loss_fn(logits, y)
            (loss / 1).backward()  # (as the eager loop's loss / group_size)
            if self.clip_grad_norm is not None:
                from ..nn.utils import clip_grad_norm_

                clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], self.clip_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad()
            if self.scheduler is not None:
                self.scheduler.step()
            with no_grad():
                correct = (logits.argmax(dim=1) == y).sum() if y.ndim == 1 else None
            return loss.detach(), correct

        return graph_compile(step)

    def _compiled_step(self, batch):
        x, y = split_batch(batch, self.device)
        self._win["lr"] = float(self.optimizer.param_groups[0]["lr"])  # the lr this step uses
        loss, correct = self._step_fn(x, y)
        b = y.shape[0]
        with no_grad():
            self._win["loss"].append(loss.float() * b)
        if correct is not None:
            self._win["correct"].append(correct)
        self._win["samples"] += b

    def _optimizer_step(self):
        if self._step_fn is not None:  # compile=True: the captured step already updated everything
            self.step += 1
            self._win["steps"] += 1
            return
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if self.clip_grad_norm is not None:
            from ..nn.utils import clip_grad_norm_

            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            clip_grad_norm_(params, self.clip_grad_norm)
        self._win["lr"] = float(self.optimizer.param_groups[0]["lr"])  # the lr this step used
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        self._win["steps"] += 1

    def _end_epoch(self):
        if self._win["steps"]:
            self._flush_window()
        if self.val_loader is not None:
            self.last_eval = self.evaluate(self.val_loader)
            self.history.log(self.step, self.epoch, val_loss=self.last_eval.loss, val_accuracy=self.last_eval.accuracy)
            self.model.train()
        self.epoch += 1
        self.batch = 0
        if self.checkpoint_dir is not None:
            self.save_checkpoint()
        self._win["t0"] = time.perf_counter()  # validation and checkpoint time is not training throughput

    # ----- the log -----
    def _reset_window(self, sums=None):
        self._win = {"loss": [], "correct": [], "samples": 0, "steps": 0, "lr": None, "t0": time.perf_counter()}
        if sums:  # restored from a checkpoint: the window's sums so far, as plain numbers
            self._win.update(samples=sums["samples"], steps=sums["steps"], lr=sums["lr"])
            self._win["loss"] = [sums["loss"]]
            self._win["correct"] = [] if sums["correct"] is None else [sums["correct"]]

    def _window_sums(self) -> dict:
        w = self._win
        total = 0.0
        for v in w["loss"]:  # summed in order, as plain floats: the same result after a resume
            total += v if isinstance(v, float) else float(v.item())
        correct = sum(c if isinstance(c, int) else int(c.item()) for c in w["correct"]) if w["correct"] else None
        return {"loss": total, "correct": correct, "samples": w["samples"], "steps": w["steps"], "lr": w["lr"]}

    def _flush_window(self) -> dict:
        s = self._window_sums()
        n = max(s["samples"], 1)
        seconds = time.perf_counter() - self._win["t0"]
        values = {"loss": s["loss"] / n, "lr": s["lr"], "samples_per_s": s["samples"] / max(seconds, 1e-9)}
        if self._win["correct"]:
            values["accuracy"] = s["correct"] / n
        self._reset_window()
        return self.history.log(self.step, self.epoch, **values)

    # ----- evaluation -----
    def evaluate(self, loader) -> EvalResult:
        """Accuracy, mean loss, per-class recall and confusion matrix of the model on `loader`."""
        return evaluate(self.model, loader, device=self.device, loss_fn=self.loss_fn, amp_dtype=self.amp_dtype)

    # ----- checkpoints -----
    def state_dict(self) -> dict:
        """Everything an exact resume needs (see dslib/train/checkpoint.py for the layout)."""

        def maybe(obj):
            return obj.state_dict() if obj is not None and hasattr(obj, "state_dict") else None

        mixing = maybe(self.mixing)
        if mixing is None and isinstance(getattr(self.mixing, "rng", None), np.random.Generator):
            mixing = {"rng": self.mixing.rng.bit_generator.state}  # a MixupCutmix with its own generator

        return {
            "format": ckpt.FORMAT,
            "model_class": type(self.model).__name__,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": maybe(self.scheduler),
            "scaler": maybe(self.scaler),
            "mixing": mixing,
            "rng": ckpt.rng_state(),
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "history": self.history.to_dict(),
            "window": self._window_sums(),
        }

    def save_checkpoint(self, path=None) -> str:
        """Write a checkpoint (atomically) to `path`, or to checkpoint_dir/step_XXXXXXXX.dslib keeping the newest
        keep_checkpoints files. Returns the path."""
        if path is None:
            if self.checkpoint_dir is None:
                raise ValueError("Trainer.save_checkpoint: give a path, or construct the Trainer with checkpoint_dir=")
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            path = ckpt.checkpoint_path(self.checkpoint_dir, self.step)
            save(self.state_dict(), path)
            ckpt.prune_checkpoints(self.checkpoint_dir, self.keep_checkpoints)
            return path
        save(self.state_dict(), path)
        return os.fspath(path)

    def load_checkpoint(self, path) -> Trainer:
        """Restore the state save_checkpoint wrote; `path` may be a checkpoint directory (its newest file)."""
        if os.path.isdir(path):
            found = ckpt.latest_checkpoint(path)
            if found is None:
                raise FileNotFoundError(f"Trainer.load_checkpoint: no step_XXXXXXXX.dslib checkpoint in {path}")
            path = found
        state = load(path)
        if not isinstance(state, dict) or state.get("format") != ckpt.FORMAT:
            raise ValueError(f"{path} is not a Trainer checkpoint (no 'format': '{ckpt.FORMAT}' entry)")
        ckpt.check_model_state(self.model, state["model"], path)
        for name in ("scheduler", "scaler"):
            saved, mine = state[name] is not None, getattr(self, name) is not None
            if saved != mine:
                raise ValueError(
                    f"{path} was written by a Trainer {'with' if saved else 'without'} a {name}, but this Trainer "
                    f"has {'none' if saved else 'one'}; resume with the same training setup"
                )
        if state["mixing"] is not None and self.mixing is None:
            raise ValueError(f"{path} was written by a Trainer with mixing, but this Trainer has none")
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as err:
            raise ValueError(f"{path}: the optimizer state does not fit this optimizer: {err}") from err
        for name in ("scheduler", "scaler"):
            if state[name] is not None:
                getattr(self, name).load_state_dict(state[name])
        if state["mixing"] is not None:
            if hasattr(self.mixing, "load_state_dict"):
                self.mixing.load_state_dict(state["mixing"])
            else:
                self.mixing.rng.bit_generator.state = state["mixing"]["rng"]
        ckpt.set_rng_state(state["rng"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.history = History.from_dict(state["history"])
        self._reset_window(state["window"])
        return self

    resume = load_checkpoint  # trainer.resume("runs/x/checkpoints")
