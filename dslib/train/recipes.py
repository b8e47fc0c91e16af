"""Training recipes: complete, runnable setups for the course's models and data sets (see course/training.md).

    python -m dslib.train.recipes resnet8-digits --device torch --threads 2
    python -m dslib.train.recipes ds_vit-digits --device torch --threads 2
    python -m dslib.train.recipes resnet18-shapes10 --device torch --threads 2
    python -m dslib.train.recipes resnet18-cifar10 --device cuda --data ~/data --amp bfloat16 --workers 6
    python -m dslib.train.recipes resnet8-digits --fast                  # a one-minute smoke run
    python -m dslib.train.recipes resnet8-digits --set lr=0.05 --set epochs=20   # override any Recipe field

A run holds out `val_fraction` of the training split (validated every epoch: that is where choices are
made), trains with SGD or AdamW under linear warmup + cosine decay (stepped per optimizer step), evaluates the
test split once at the end, prints the final metrics and the wall time, and writes history.json, curves.png,
metrics.json and checkpoints/ (one per epoch, the last two kept) to --out (default runs/NAME). `--resume`
continues from the newest checkpoint there.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np

import dslib


@dataclass
class Recipe:
    name: str  # the command-line name
    dataset: str  # "digits", "shapes10" or "cifar10"
    model: str  # "resnet8", "resnet18" or "ds_vit" (dslib.models)
    target: float  # the test accuracy the recipe is meant to reach (the course's goal for it)
    model_kwargs: dict = field(default_factory=dict)  # extra arguments of the model's constructor
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"  # "sgd" (momentum, nesterov; decay on every parameter) or "adamw" (no decay on 1-D ones)
    lr: float = 0.1  # peak learning rate, reached after the warmup
    momentum: float = 0.9  # SGD only
    nesterov: bool = True  # SGD only
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0  # linear warmup from lr/1000, then cosine decay to 0 at the last step
    label_smoothing: float = 0.0
    crop_padding: int = 0  # RandomCrop(image size, padding) when > 0
    shifted_patches: int = 0  # k > 1: stack the image's k*k shifted copies as channels (see shifted_copies)
    flip: bool = False  # RandomHorizontalFlip (not for digits: a mirrored 2 is no 2)
    mixup_alpha: float = 0.0  # MixupCutmix when mixup_alpha or cutmix_alpha > 0
    cutmix_alpha: float = 0.0
    clip_grad_norm: float | None = None
    heads_schedule: dict | None = None  # ds_vit: progressive heads {start epoch: active heads}
    train_size: int | None = None  # Shapes10: images generated for training (other data sets: a subset, or all)
    test_size: int | None = None  # Shapes10: test images generated (others: a subset, or all)
    val_fraction: float = 0.1  # share of the training split held out for validation (0: none)
    num_workers: int = 0  # DataLoader worker processes
    amp: str | None = None  # None, "bfloat16" or "float16" (autocast; float16 with loss scaling)
    seed: int = 0  # weights, validation split, shuffling, augmentation


RECIPES = {
    r.name: r
    for r in [
        Recipe("resnet8-digits", "digits", "resnet8", target=0.98, epochs=30, batch_size=64, lr=0.05,
               weight_decay=5e-4, crop_padding=1),
        # 8x8 digits as a 4x4 grid of 2x2 patches, 3x3 windows (the grid padded to 6x6: four windows, shifted
        # every second block), each patch seeing its neighbours through shifted copies (Lee et al. 2021).
        Recipe("ds_vit-digits", "digits", "ds_vit", target=0.96, epochs=40, batch_size=64, optimizer="adamw",
               lr=3e-3, weight_decay=0.05, warmup_epochs=2, label_smoothing=0.1, mixup_alpha=0.2, shifted_patches=3,
               model_kwargs={"image_size": 8, "patch_size": 2, "window_size": 3, "shift": True}),
        Recipe("resnet18-shapes10", "shapes10", "resnet18", target=0.90, epochs=5, batch_size=128, lr=0.1,
               crop_padding=4, flip=True, train_size=10000, test_size=2000),
        # The classic CIFAR-10 ResNet-18 recipe (as in kuangliu/pytorch-cifar): ~95% test accuracy after 200 epochs.
        Recipe("resnet18-cifar10", "cifar10", "resnet18", target=0.94, epochs=200, batch_size=128, lr=0.1,
               weight_decay=5e-4, warmup_epochs=1, crop_padding=4, flip=True, num_workers=4),
    ]
}  # fmt: skip

# --fast: the same pipeline on a few hundred images for two epochs (a smoke test, not a result)
FAST = {"epochs": 2, "train_size": 512, "test_size": 256, "batch_size": 64, "num_workers": 0}


def with_overrides(recipe: Recipe, settings: list[str]) -> Recipe:
    """A copy of `recipe` with "field=value" settings applied (values parsed as JSON, else kept as strings)."""
    fields = {f.name for f in dataclasses.fields(Recipe)}
    changes = {}
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or key not in fields or key == "name":
            raise ValueError(
                f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(fields - {'name'}))}"
            )
        try:
            changes[key] = json.loads(text)
        except json.JSONDecodeError:
            changes[key] = text
    return dataclasses.replace(recipe, **changes)


# ----- data -----
def shifted_copies(img: np.ndarray, k: int) -> np.ndarray:
    """HWC image -> H x W x (k*k*C): the image shifted by every offset of a k x k neighbourhood (zero-padded),
    stacked as channels. Shifted Patch Tokenization (Lee, Lee & Song 2021, "Vision Transformer for Small-Size
    Datasets", Sec. 3.1): each patch token also sees its neighbours' pixels, a locality prior a ViT lacks."""
    r = k // 2
    padded = np.pad(img, ((r, k - 1 - r), (r, k - 1 - r), (0, 0)))
    h, w = img.shape[:2]
    return np.concatenate([padded[dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)], axis=2)


def _datasets(r: Recipe, data_root):
    """(train set, test set) without transforms."""
    from dslib.data.datasets import CIFAR10, Digits, Shapes10

    if r.dataset == "digits":
        return Digits(train=True), Digits(train=False)
    if r.dataset == "shapes10":
        return Shapes10(r.train_size or 10000, train=True, seed=r.seed), Shapes10(r.test_size or 2000, train=False)
    if r.dataset == "cifar10":
        return CIFAR10(data_root, train=True), CIFAR10(data_root, train=False)
    raise ValueError(f"recipe {r.name}: unknown dataset {r.dataset!r} (digits, shapes10 or cifar10)")


def build_data(r: Recipe, data_root=None):
    """(train, validation or None, test) datasets with the recipe's transforms, and the number of classes."""
    from dslib.data import Subset
    from dslib.data import transforms as T

    train, test = _datasets(r, data_root)
    size = train.data.shape[1]
    sample = train.data[:: max(1, len(train.data) // 10000)]  # normalization statistics from <= ~10,000 images
    scaled = sample.reshape(-1, sample.shape[-1]) / 255.0  # (n * H * W, C)
    copies = r.shifted_patches**2 if r.shifted_patches > 1 else 1
    normalize = T.Normalize(scaled.mean(axis=0).tolist() * copies, scaled.std(axis=0).tolist() * copies)
    augment = [T.RandomCrop(size, padding=r.crop_padding)] if r.crop_padding else []
    augment += [T.RandomHorizontalFlip()] if r.flip else []
    tokens = [T.Lambda(partial(shifted_copies, k=r.shifted_patches))] if copies > 1 else []
    train.transform = T.Compose([*augment, *tokens, T.ToTensor(), normalize])
    test.transform = T.Compose([*tokens, T.ToTensor(), normalize])
    plain_train = copy.copy(train)  # the same images, without augmentation, for the validation part
    plain_train.transform = test.transform
    order = np.random.default_rng([r.seed, 1]).permutation(len(train))
    n_val = int(round(r.val_fraction * len(train)))
    train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
    if r.dataset != "shapes10" and r.train_size:
        train_idx = train_idx[: r.train_size]
    test_set = Subset(test, range(min(r.test_size, len(test)))) if r.dataset != "shapes10" and r.test_size else test
    val = Subset(plain_train, val_idx.tolist()) if n_val else None
    return Subset(train, train_idx.tolist()), val, test_set, len(train.classes)


# ----- model and optimizer -----
def build_model(r: Recipe, num_classes: int, in_channels: int):
    from dslib import models

    builders = {"resnet8": models.resnet8, "resnet18": models.resnet18, "ds_vit": models.ds_vit}
    if r.model not in builders:
        raise ValueError(f"recipe {r.name}: unknown model {r.model!r} ({', '.join(builders)})")
    return builders[r.model](num_classes=num_classes, in_channels=in_channels, **r.model_kwargs)


def build_optimizer(r: Recipe, model):
    from dslib import optim

    if r.optimizer == "sgd":
        return optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, nesterov=r.nesterov,
                         weight_decay=r.weight_decay)  # fmt: skip
    if r.optimizer == "adamw":  # no decay on 1-D parameters: biases and the norms' gains
        decay = [p for p in model.parameters() if p.ndim >= 2]
        rest = [p for p in model.parameters() if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": r.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        return optim.AdamW(groups, lr=r.lr)
    raise ValueError(f"recipe {r.name}: unknown optimizer {r.optimizer!r} (sgd or adamw)")


# ----- the run -----
def run(r: Recipe, device="numpy", out=None, data_root=None, resume=False, progress=None, log=print) -> dict:
    """Train and test recipe `r`; writes the outputs to `out` and returns the metrics dict it writes."""
    from dslib.data import DataLoader
    from dslib.nn import functional as F
    from dslib.optim.lr_scheduler import warmup_cosine

    from .trainer import Trainer

    t_start = time.perf_counter()
    out = out or os.path.join("runs", r.name)
    os.makedirs(out, exist_ok=True)
    dslib.manual_seed(r.seed)
    train, val, test, num_classes = build_data(r, data_root)
    in_channels = train[0][0].shape[0]
    loader = DataLoader(train, batch_size=r.batch_size, shuffle=True, num_workers=r.num_workers, seed=r.seed,
                        persistent_workers=r.num_workers > 0)  # fmt: skip

    def eval_loader(ds):
        return None if ds is None else DataLoader(ds, batch_size=256, num_workers=min(r.num_workers, 2))

    model = build_model(r, num_classes, in_channels)
    optimizer = build_optimizer(r, model)
    steps = r.epochs * len(loader)
    warmup = min(int(r.warmup_epochs * len(loader)), steps // 2)  # a one-epoch smoke run still decays
    scheduler = warmup_cosine(optimizer, warmup, steps)
    mixing = None
    if r.mixup_alpha or r.cutmix_alpha:
        from dslib.data.transforms import MixupCutmix

        mixing = MixupCutmix(num_classes, mixup_alpha=r.mixup_alpha, cutmix_alpha=r.cutmix_alpha)
    trainer = Trainer(
        model, optimizer, loss_fn=partial(F.cross_entropy, label_smoothing=r.label_smoothing),
        train_loader=loader, val_loader=eval_loader(val), scheduler=scheduler, device=device,
        amp_dtype=getattr(dslib, r.amp) if r.amp else None, clip_grad_norm=r.clip_grad_norm, mixing=mixing,
        checkpoint_dir=os.path.join(out, "checkpoints"), keep_checkpoints=2, log_every=len(loader),
        progress=sys.stderr.isatty() if progress is None else progress,
    )  # fmt: skip
    if resume and os.path.isdir(trainer.checkpoint_dir) and os.listdir(trainer.checkpoint_dir):
        trainer.load_checkpoint(trainer.checkpoint_dir)
        log(f"resumed from {trainer.checkpoint_dir} at epoch {trainer.epoch}, step {trainer.step}")
    unlock = None
    if r.heads_schedule:
        from dslib.models.vit import ProgressiveHeads

        unlock = ProgressiveHeads(model, {int(k): v for k, v in r.heads_schedule.items()})
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{r.name}: {r.model} ({n_params:,} parameters) on {r.dataset}: {len(train)} train / "
        f"{len(val) if val else 0} validation / {len(test)} test images, {r.epochs} epochs of {len(loader)} steps, "
        f"device {device}")  # fmt: skip
    t_train = time.perf_counter()
    for epoch in range(trainer.epoch, r.epochs):
        if unlock is not None:
            unlock.step(epoch)
        trainer.fit(epochs=epoch + 1)
        h = trainer.history
        line = f"epoch {epoch + 1:3d}/{r.epochs}  loss {h.last('loss'):.4f}  acc {h.last('accuracy', float('nan')):.4f}"
        if val is not None:
            line += f"  val_loss {h.last('val_loss'):.4f}  val_acc {h.last('val_accuracy'):.4f}"
        log(line + f"  lr {h.last('lr'):.2e}  {h.last('samples_per_s'):.0f} samples/s  "
            f"{time.perf_counter() - t_train:.0f} s")  # fmt: skip
    train_seconds = time.perf_counter() - t_train
    result = trainer.evaluate(eval_loader(test))
    wall = time.perf_counter() - t_start
    metrics = {
        "recipe": dataclasses.asdict(r),
        "device": device,
        "torch_threads": _torch_threads(),
        "parameters": n_params,
        "test": result.to_dict(),
        "validation": trainer.last_eval.to_dict() if trainer.last_eval else None,
        "train_seconds": train_seconds,
        "wall_seconds": wall,
        "target": r.target,
        "target_met": result.accuracy >= r.target,
    }
    trainer.history.save_json(os.path.join(out, "history.json"))
    trainer.history.plot(title=f"{r.name} (test accuracy {result.accuracy:.4f})").savefig(
        os.path.join(out, "curves.png"), dpi=100
    )
    with open(os.path.join(out, "metrics.json.tmp"), "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(os.path.join(out, "metrics.json.tmp"), os.path.join(out, "metrics.json"))
    log(f"test: {result}")
    log(f"test accuracy {result.accuracy:.4f} (target {r.target:.2f}: {'met' if metrics['target_met'] else 'NOT met'})"
        f"; wall time {wall:.1f} s (training {train_seconds:.1f} s); outputs in {out}")  # fmt: skip
    return metrics


def _torch_threads():
    import torch

    return torch.get_num_threads()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dslib.train.recipes", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=sorted(RECIPES), help="the recipe")
    parser.add_argument("--fast", action="store_true", help="a smoke run: 512 images, 2 epochs")
    parser.add_argument("--device", default="numpy", help="numpy (default), torch, cuda or cuda:N")
    parser.add_argument("--epochs", type=int, help="override the recipe's number of epochs")
    parser.add_argument("--out", help="output folder (default runs/NAME)")
    parser.add_argument("--data", default=os.environ.get("DSLIB_DATA", "~/data"),
                        help="CIFAR-10 root: holds cifar-10-batches-py/ (default $DSLIB_DATA or ~/data)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="torch and BLAS threads (e.g. 2 on a shared machine)")
    parser.add_argument("--workers", type=int, help="DataLoader worker processes")
    parser.add_argument("--amp", choices=["bfloat16", "float16"], help="mixed precision (torch/cuda devices)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a Recipe field")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        recipe = with_overrides(
            RECIPES[args.name], [f"{k}={json.dumps(v)}" for k, v in FAST.items()] if args.fast else []
        )
        recipe = with_overrides(recipe, args.set)
    except ValueError as err:
        parser.error(str(err))
    if args.epochs is not None:
        recipe = dataclasses.replace(recipe, epochs=args.epochs)
    if args.workers is not None:
        recipe = dataclasses.replace(recipe, num_workers=args.workers)
    if args.amp:
        recipe = dataclasses.replace(recipe, amp=args.amp)
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    try:
        run(recipe, device=args.device, out=args.out, data_root=os.path.expanduser(args.data), resume=args.resume,
            progress=False if args.no_progress else None)  # fmt: skip
    except FileNotFoundError as err:  # CIFAR-10 not downloaded: say what to put where
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
