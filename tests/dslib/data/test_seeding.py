"""Per-sample random streams (dslib/data/_seeding.py): sample_rng() is a function of (seed, epoch, index)
set by seed_sample, per thread, independent of sampler streams, and seeded with 0 when nothing set it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dslib.data import RandomSampler, sample_rng, seed_sample


def _draw(seed, epoch, index, n=4):
    seed_sample(seed, epoch, index)
    return sample_rng().random(n)


def test_stream_is_a_function_of_seed_epoch_index():
    a = _draw(0, 1, 2)
    _draw(5, 5, 5)  # something else in between changes nothing
    np.testing.assert_array_equal(_draw(0, 1, 2), a)
    others = [_draw(1, 1, 2), _draw(0, 2, 2), _draw(0, 1, 3), _draw(0, 1, 0), _draw(0, 0, 1)]
    assert all(not np.array_equal(a, o) for o in others)
    seed_sample(0, 1, 2)
    assert sample_rng() is sample_rng()  # one stream per sample: successive draws continue it
    np.testing.assert_array_equal(np.concatenate([sample_rng().random(2), sample_rng().random(2)]), a)


def test_numpy_integer_indices_and_other_keys():
    np.testing.assert_array_equal(_draw(0, 0, np.int64(7)), _draw(0, 0, 7))
    np.testing.assert_array_equal(_draw(0, 0, "cat.png"), _draw(0, 0, "cat.png"))
    assert not np.array_equal(_draw(0, 0, "cat.png"), _draw(0, 0, "dog.png"))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        seed_sample(-1, 0, 0)
    with pytest.raises(ValueError, match="epoch must be a non-negative integer"):
        seed_sample(0, 1.5, 0)


def test_per_thread_and_default_seeded_with_zero():
    seed_sample(3, 0, 0)
    main_value = sample_rng().random()
    seen = {}

    def other_thread():
        seen["fresh"] = sample_rng().random()  # nothing seeded in this thread yet
        seed_sample(3, 0, 0)
        seen["seeded"] = sample_rng().random()

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen["fresh"] == np.random.default_rng(0).random()
    assert seen["seeded"] == main_value
    assert sample_rng().random() != main_value  # the main thread's stream went on undisturbed


def test_sample_streams_differ_from_sampler_orders():
    order = list(RandomSampler(range(100), seed=0))
    seed_sample(0, 0, 0)
    assert list(sample_rng().permutation(100)) != order
