"""dslib.data: datasets, samplers, the DataLoader (with background workers), transforms and datasets.

    from dslib.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=2, seed=0)
    for xb, yb in loader: ...

The names mirror torch.utils.data. `transforms` and `datasets` (and the other submodules) are imported on
first access, so `import dslib.data` stays cheap.
"""

import importlib

from ._fetch import WorkerInfo, get_worker_info
from ._seeding import sample_rng, seed_sample
from .collate import default_collate
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .sampler import (
    BatchSampler,
    ClassBalancedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    WeightedRandomSampler,
)  # fmt: skip

_LAZY_SUBMODULES = ("transforms", "datasets", "mixing", "validation", "curriculum", "hard_examples")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'dslib.data' has no attribute {name!r}")


__all__ = [
    "BatchSampler",
    "ClassBalancedSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "get_worker_info",
    "random_split",
    "sample_rng",
    "seed_sample",
    "transforms",
    "datasets",
]
