"""Per-sample random streams: what makes data augmentation reproducible whatever the worker layout.

Before the DataLoader loads sample `index` of epoch `epoch` (in the main thread, a worker thread or a worker
process) it calls `seed_sample(seed, epoch, index)`; random transforms then draw from `sample_rng()`:

    from dslib.data import sample_rng, seed_sample
    seed_sample(0, 3, 17)               # what the loader does before dataset[17] in epoch 3
    flip = sample_rng().random() < 0.5  # what a random transform does

So an augmented sample depends on (seed, epoch, index) only: not on num_workers, worker_type, which worker
loaded it, or where a run was resumed. The generator is per thread and built on first use (seeding costs
about 0.1 ms, so loaders whose datasets draw nothing pay nothing). Random samplers draw their orders from
(seed, epoch) through `derive_rng` with a different tag, so shuffling and augmentation streams never coincide.
"""

from __future__ import annotations

import threading
import zlib

import numpy as np

SAMPLE_TAG = 0x5EED_DA7A  # first entropy word of per-sample streams
SAMPLER_TAG = 0x5A4D_9E1E  # ... of sampler orders (RandomSampler & co.)
WORKER_TAG = 0x3042_4B52  # ... of the per-worker seeds in WorkerInfo.seed
SPLIT_TAG = 0x5B11_7000  # ... of random_split permutations from an integer seed

_local = threading.local()


def check_seed(name: str, value) -> int:
    """`value` as a Python int if it is a non-negative integer, else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def derive_rng(tag: int, *words: int) -> np.random.Generator:
    """A PCG64 generator seeded from the words (tag first: streams with different tags are independent).

    The tag always leads because SeedSequence pads short entropy with zeros: [s, e] and [s, e, 0] would
    otherwise give the same stream.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([tag, *words])))


def _index_word(index) -> int:
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and index >= 0:
        return int(index)
    # Samplers may yield other keys (negative ints, strings, tuples): a stable (not per-process) hash.
    return zlib.crc32(repr(index).encode()) | (1 << 63)


def seed_sample(seed: int, epoch: int, index) -> None:
    """Make `sample_rng()` in this thread the stream of sample `index` in `epoch` of a run seeded `seed`."""
    _local.key = (check_seed("seed", seed), check_seed("epoch", epoch), _index_word(index))
    _local.rng = None  # built on first use by sample_rng()


def sample_rng() -> np.random.Generator:
    """The numpy Generator random transforms draw from (this thread's; seeded by `seed_sample`).

    Outside a DataLoader (nothing called seed_sample in this thread) it is a Generator seeded with 0.
    """
    rng = getattr(_local, "rng", None)
    if rng is None:
        key = getattr(_local, "key", None)
        rng = np.random.default_rng(0) if key is None else derive_rng(SAMPLE_TAG, *key)
        _local.rng = rng
    return rng
