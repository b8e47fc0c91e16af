"""Trainer: it learns, accumulates gradients as one bigger batch would, steps the schedule per optimizer step,
checkpoints every N steps keeping the last k, resumes bit for bit, and rejects bad input with clear errors."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import dslib
import dslib.nn as nn
import dslib.optim as optim
from dslib.optim.lr_scheduler import warmup_cosine
from dslib.train import Trainer, list_checkpoints

from .toy import ToyLoader, blobs, toy_model


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_fit_learns_the_blobs_and_logs_every_metric():
    x, y = blobs(60)
    model = toy_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, opt, train_loader=ToyLoader(x, y), val_loader=ToyLoader(x, y, shuffle=False),
                      progress=False, log_every=4)  # fmt: skip
    history = trainer.fit(epochs=6)
    assert trainer.step == 6 * 8 and trainer.epoch == 6 and trainer.batch == 0
    _, losses = history.series("loss")
    assert losses[-1] < 0.5 * losses[0]
    assert history.last("val_accuracy") >= 0.95
    for key in ("loss", "accuracy", "lr", "samples_per_s"):
        steps, values = history.series(key)
        assert len(values) >= 6 and all(math.isfinite(v) for v in values), key
    assert history.series("val_loss")[0] == [8 * (e + 1) for e in range(6)]  # one validation per epoch
    assert trainer.last_eval.confusion_matrix.sum() == 60


def test_a_second_fit_continues_where_the_first_stopped():
    x, y = blobs(40)
    model = toy_model()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), train_loader=ToyLoader(x, y), progress=False)
    trainer.fit(max_steps=3)
    assert (trainer.step, trainer.epoch, trainer.batch) == (3, 0, 3)
    trainer.fit(epochs=2)
    assert (trainer.step, trainer.epoch, trainer.batch) == (10, 2, 0)
    trainer.fit(epochs=2)  # already done: nothing happens
    assert trainer.step == 10


class FixedBatches:
    """A loader that yields the given batches, in order, every epoch."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter((dslib.from_numpy(x), dslib.from_numpy(y)) for x, y in self.batches)


def test_accumulation_equals_one_step_on_the_concatenated_micro_batches():
    """3 micro-batches of 2 then a short group of 1 micro-batch == batches of 6 and 2 samples."""
    x, y = blobs(8)
    micro = [(x[i : i + 2], y[i : i + 2]) for i in range(0, 8, 2)]
    whole = [(x[:6], y[:6]), (x[6:], y[6:])]
    results = []
    for batches, n in ((micro, 3), (whole, 1)):
        dslib.manual_seed(0)
        model = toy_model(dropout=0, batchnorm=False)
        opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        trainer = Trainer(model, opt, train_loader=FixedBatches(batches), accumulation_steps=n, progress=False)
        trainer.fit(epochs=2)
        assert trainer.step == 4
        results.append(_weights(model))
    for k in results[0]:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_scheduler_steps_once_per_optimizer_step():
    x, y = blobs(40)
    model = toy_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = warmup_cosine(opt, warmup_steps=3, total_steps=9)
    reference = warmup_cosine(optim.SGD(toy_model().parameters(), lr=0.1), warmup_steps=3, total_steps=9)
    expected = []
    for _ in range(9):
        expected.append(reference.get_last_lr()[0])
        reference.step()
    # 5 micro-batches per epoch in groups of 2, 2, 1: 3 optimizer steps per epoch
    trainer = Trainer(model, opt, train_loader=ToyLoader(x, y), scheduler=sched, accumulation_steps=2,
                      progress=False, log_every=1)  # fmt: skip
    history = trainer.fit(epochs=3)
    assert trainer.step == 9 and sched.last_epoch == 9
    assert history.series("lr")[1] == pytest.approx(expected)


def test_gradient_clipping_bounds_the_update():
    x, y = blobs(8)
    model = toy_model(dropout=0, batchnorm=False)
    before = _weights(model)
    opt = optim.SGD(model.parameters(), lr=1.0)
    Trainer(model, opt, train_loader=FixedBatches([(x * 100, y)]), clip_grad_norm=0.01, progress=False).fit(epochs=1)
    change = np.sqrt(sum(((_weights(model)[k] - before[k]) ** 2).sum() for k in before))
    assert change == pytest.approx(0.01, rel=1e-3)  # lr 1 * a gradient clipped to norm 0.01


def test_mixing_gives_the_loss_soft_targets_and_accuracy_follows_their_largest_class():
    x, y = blobs(16)
    seen, matches = [], []

    def shifted_mixing(inputs, labels):  # soft targets whose largest class is NOT the original label
        shifted = (labels.numpy() + 1) % 3
        return inputs, dslib.from_numpy(np.eye(3, dtype=np.float32)[shifted] * 0.9 + 0.1 / 3)

    def loss_fn(logits, targets):
        seen.append(targets.shape)
        matches.extend(logits.argmax(dim=1).numpy() == targets.argmax(dim=1).numpy())
        return nn.functional.cross_entropy(logits, targets)

    model = toy_model()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), loss_fn=loss_fn, mixing=shifted_mixing,
                      train_loader=ToyLoader(x, y), progress=False)  # fmt: skip
    history = trainer.fit(epochs=1)
    assert seen == [(8, 3), (8, 3)]
    assert history.last("accuracy") == pytest.approx(np.mean(matches))


def _resumable_trainer(ckpt_dir, accumulation_steps, device="numpy", **kw):
    x, y = blobs(40)
    model = toy_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=20)
    return Trainer(
        model, opt, train_loader=ToyLoader(x, y), val_loader=ToyLoader(x[:16], y[:16], shuffle=False),
        scheduler=sched, accumulation_steps=accumulation_steps, checkpoint_dir=ckpt_dir, progress=False,
        log_every=3, device=device, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("accumulation_steps", [1, 2])
def test_resume_mid_epoch_is_bit_exact_on_numpy(tmp_path, accumulation_steps):
    """Stopped after step 7 of 20 (mid-epoch) and resumed from its checkpoint in a fresh process state, a run
    ends with the same weights, optimizer state and history as an uninterrupted one: shuffling, a random
    transform, dropout, BatchNorm statistics, momentum and a warmup-cosine schedule all continue exactly."""
    dslib.manual_seed(0)
    full = _resumable_trainer(None, accumulation_steps)
    full.fit(max_steps=20)

    dslib.manual_seed(0)
    first = _resumable_trainer(tmp_path, accumulation_steps, checkpoint_every=7)
    first.fit(max_steps=7)
    assert 0 < first.batch < len(first.train_loader)  # really mid-epoch
    dslib.manual_seed(12345)  # a different random state and different initial weights
    resumed = _resumable_trainer(tmp_path, accumulation_steps)
    resumed.load_checkpoint(tmp_path)  # the newest checkpoint: step 7
    assert resumed.step == 7
    resumed.fit(max_steps=20)

    a, b = _weights(full.model), _weights(resumed.model)
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs after resume"
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        ma, mb = full.optimizer.state[p]["momentum_buffer"], resumed.optimizer.state[q]["momentum_buffer"]
        assert np.array_equal(ma.numpy(), mb.numpy())
    assert full.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]

    def without_time(history):
        return [{k: v for k, v in r.items() if k != "samples_per_s"} for r in history.records]

    assert without_time(full.history) == without_time(resumed.history)
    assert (full.epoch, full.batch) == (resumed.epoch, resumed.batch)


def test_resume_is_exact_on_torch_too(tmp_path):
    """On the torch device dropout draws from a torch.Generator; the checkpoint carries its state."""
    dslib.manual_seed(0)
    full = _resumable_trainer(None, 1, device="torch")
    full.fit(max_steps=12)
    dslib.manual_seed(0)
    first = _resumable_trainer(tmp_path, 1, device="torch", checkpoint_every=7)
    first.fit(max_steps=7)
    dslib.manual_seed(99)
    resumed = _resumable_trainer(tmp_path, 1, device="torch").load_checkpoint(tmp_path)
    resumed.fit(max_steps=12)
    a, b = _weights(full.model), _weights(resumed.model)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_checkpoints_every_n_steps_keep_the_newest_k(tmp_path):
    x, y = blobs(40)
    model = toy_model()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), train_loader=ToyLoader(x, y),
                      checkpoint_dir=tmp_path / "ck", checkpoint_every=2, keep_checkpoints=3, progress=False)  # fmt: skip
    trainer.fit(max_steps=9)  # steps 2, 4, 5 (epoch end), 6, 8
    names = [os.path.basename(p) for p in list_checkpoints(tmp_path / "ck")]
    assert names == ["step_00000005.dslib", "step_00000006.dslib", "step_00000008.dslib"]
    assert not [f for f in os.listdir(tmp_path / "ck") if f.endswith(".tmp")]  # atomic writes leave no debris


def test_save_checkpoint_to_an_explicit_path_and_load_it(tmp_path):
    x, y = blobs(40)
    model = toy_model()
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-2), train_loader=ToyLoader(x, y), progress=False)
    trainer.fit(max_steps=3)
    path = trainer.save_checkpoint(tmp_path / "a.dslib")
    fresh = toy_model()
    other = Trainer(fresh, optim.Adam(fresh.parameters(), lr=1e-3), train_loader=ToyLoader(x, y), progress=False)
    other.load_checkpoint(path)
    assert other.step == 3 and other.optimizer.param_groups[0]["lr"] == 1e-2
    assert all(np.array_equal(v, _weights(other.model)[k]) for k, v in _weights(model).items())


# ----- bad input -----


def _trainer(**kw):
    model = toy_model()
    return Trainer(model, optim.SGD(model.parameters(), lr=0.1), progress=False, **kw)


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_accumulation_steps_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match=f"accumulation_steps .*got {value!r}"):
        _trainer(accumulation_steps=value)


def test_checkpoint_every_needs_a_checkpoint_dir():
    with pytest.raises(ValueError, match="checkpoint_every=10 needs checkpoint_dir="):
        _trainer(checkpoint_every=10)


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="model must be a dslib.nn.Module"):
        Trainer("resnet", None)
    with pytest.raises(TypeError, match="optimizer must be a dslib.optim Optimizer"):
        Trainer(toy_model(), "sgd")
    with pytest.raises(ValueError, match="amp_dtype must be None, dslib.float16 or dslib.bfloat16"):
        _trainer(amp_dtype=dslib.float32)
    with pytest.raises(ValueError, match="clip_grad_norm must be a positive number"):
        _trainer(clip_grad_norm=0)
    with pytest.raises(ValueError, match="give epochs= and/or max_steps="):
        _trainer(train_loader=[]).fit()
    with pytest.raises(ValueError, match="no train_loader"):
        _trainer().fit(epochs=1)
    with pytest.raises(ValueError, match="max_steps must be a positive int, got 0"):
        _trainer(train_loader=[1]).fit(max_steps=0)


def test_a_loader_that_does_not_yield_pairs_is_named():
    x = dslib.randn(4, 8)
    with pytest.raises(TypeError, match=r"must yield \(inputs, targets\) pairs, got tuple of length 3"):
        _trainer(train_loader=[(x, x, x)]).fit(epochs=1)


def test_resume_from_another_models_checkpoint_names_the_mismatched_keys(tmp_path):
    x, y = blobs(16)
    trainer = _trainer(train_loader=ToyLoader(x, y))
    path = trainer.save_checkpoint(tmp_path / "toy.dslib")
    bigger = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3), nn.Linear(3, 3))
    other = Trainer(bigger, optim.SGD(bigger.parameters(), lr=0.1), progress=False)
    before = _weights(bigger)
    with pytest.raises(ValueError) as err:
        other.load_checkpoint(path)
    msg = str(err.value)
    assert "toy.dslib does not fit this Sequential" in msg
    assert "missing from the checkpoint: 2.weight, 2.bias, 3.weight, 3.bias;" in msg  # toy: Linear, BN, ReLU, ...
    assert "not in this model: 1.weight, 1.bias, 1.running_mean" in msg
    assert "shape mismatch: 0.weight (checkpoint (16, 8), model (32, 8))" in msg
    assert all(np.array_equal(v, _weights(bigger)[k]) for k, v in before.items())  # nothing was loaded


def test_resume_with_a_different_setup_or_file_is_refused(tmp_path):
    x, y = blobs(16)
    trainer = _trainer(train_loader=ToyLoader(x, y))
    path = trainer.save_checkpoint(tmp_path / "plain.dslib")
    model = toy_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with_sched = Trainer(model, opt, scheduler=warmup_cosine(opt, 1, 5), progress=False)
    with pytest.raises(ValueError, match="written by a Trainer without a scheduler, but this Trainer has one"):
        with_sched.load_checkpoint(path)
    dslib.save({"weights": dslib.zeros(3)}, tmp_path / "other.dslib")
    with pytest.raises(ValueError, match="is not a Trainer checkpoint"):
        trainer.load_checkpoint(tmp_path / "other.dslib")
    with pytest.raises(FileNotFoundError, match="no step_XXXXXXXX.dslib checkpoint in"):
        trainer.load_checkpoint(tmp_path)


def test_progress_bars_go_to_stderr_only_when_asked(capsys):
    x, y = blobs(16)
    model = toy_model()
    Trainer(model, optim.SGD(model.parameters(), lr=0.1), train_loader=ToyLoader(x, y), progress=True).fit(epochs=2)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err
    Trainer(model, optim.SGD(model.parameters(), lr=0.1), train_loader=ToyLoader(x, y), progress=False).fit(epochs=2)
    assert capsys.readouterr().err == ""


def test_resume_with_dslib_data_pipeline_is_bit_exact(tmp_path):
    """The real pipeline: Digits with RandomCrop, a shuffling DataLoader (threads in one run, none in the other),
    MixupCutmix and dropout; stopped after step 7 of 20 and resumed, it matches the uninterrupted run bit for bit."""
    from dslib.data import DataLoader, Subset
    from dslib.data.datasets import Digits
    from dslib.data.transforms import Compose, MixupCutmix, RandomCrop, ToTensor

    data = Subset(Digits(train=True, transform=Compose([RandomCrop(8, padding=1), ToTensor()])), range(96))

    def make(ckpt_dir=None, workers=0, **kw):
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(),
            nn.Linear(4 * 8 * 8, 10),
        )  # fmt: skip
        opt = optim.AdamW(model.parameters(), lr=3e-3)
        loader = DataLoader(data, batch_size=16, shuffle=True, num_workers=workers, worker_type="thread", seed=3)
        return Trainer(model, opt, train_loader=loader, scheduler=warmup_cosine(opt, 3, 20),
                       mixing=MixupCutmix(10, mixup_alpha=0.2, cutmix_alpha=1.0), checkpoint_dir=ckpt_dir,
                       progress=False, **kw)  # fmt: skip

    dslib.manual_seed(0)
    full = make()
    full.fit(max_steps=20)
    dslib.manual_seed(0)
    make(tmp_path, workers=2, checkpoint_every=7).fit(max_steps=7)
    dslib.manual_seed(5)
    resumed = make(tmp_path, workers=2).load_checkpoint(tmp_path / "step_00000007.dslib")
    assert (resumed.epoch, resumed.batch) == (1, 1)
    resumed.fit(max_steps=20)
    a, b = _weights(full.model), _weights(resumed.model)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("amp_dtype", [dslib.bfloat16, dslib.float16])
def test_mixed_precision_trains_with_float32_master_weights(amp_dtype):
    """Under autocast the model still learns; parameters stay float32; float16 gets a GradScaler by default."""
    x, y = blobs(60)
    model = toy_model(dropout=0)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), train_loader=ToyLoader(x, y),
                      val_loader=ToyLoader(x, y, shuffle=False), device="torch", amp_dtype=amp_dtype, progress=False)  # fmt: skip
    assert (trainer.scaler is not None) == (amp_dtype is dslib.float16)
    history = trainer.fit(epochs=5)
    assert all(p.dtype is dslib.float32 for p in model.parameters())
    _, losses = history.series("loss")
    assert losses[-1] < 0.5 * losses[0] and history.last("val_accuracy") >= 0.9


def test_float16_scaler_state_is_checkpointed(tmp_path):
    from dslib.amp import GradScaler

    x, y = blobs(40)
    model = toy_model()
    scaler = GradScaler(init_scale=1024.0, growth_interval=1)  # doubles after every finite step
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), train_loader=ToyLoader(x, y), device="torch",
                      amp_dtype=dslib.float16, grad_scaler=scaler, progress=False)  # fmt: skip
    trainer.fit(max_steps=2)
    assert scaler.get_scale() == 4096.0
    path = trainer.save_checkpoint(tmp_path / "amp.dslib")
    fresh = toy_model()
    other = Trainer(fresh, optim.SGD(fresh.parameters(), lr=0.1), device="torch", amp_dtype=dslib.float16,
                    progress=False)  # fmt: skip
    assert other.scaler.get_scale() == 65536.0
    other.load_checkpoint(path)
    assert other.scaler.get_scale() == 4096.0


def test_stopping_mid_epoch_shuts_the_loader_workers_down():
    import multiprocessing

    from dslib.data import DataLoader, TensorDataset

    x, y = blobs(64)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, num_workers=2)
    model = toy_model()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), train_loader=loader, progress=False)
    trainer.fit(max_steps=3)  # 3 of 8 batches: the epoch's iterator is abandoned mid-way
    assert trainer.batch == 3
    assert multiprocessing.active_children() == []
    trainer.fit(max_steps=10)  # and the next fit starts new workers, from batch 3
    assert (trainer.epoch, trainer.batch) == (1, 2)
