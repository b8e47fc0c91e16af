"""default_collate (dslib/data/collate.py) against torch.utils.data.default_collate: same structure, shapes,
values and dtypes (except Python floats: float32 here, float64 in torch), and clear errors."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate as torch_collate

import dslib
from dslib.data import default_collate

Point = namedtuple("Point", "x y")


def _same(ours, ref, float_is_32=False):
    """Recursively compare a dslib batch with torch's."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, dslib.Tensor) and ours.device == "numpy"
        expected = ref.numpy()
        if float_is_32 and expected.dtype == np.float64:
            expected = expected.astype(np.float32)
        assert ours.shape == tuple(ref.shape) and ours.numpy().dtype == expected.dtype
        np.testing.assert_array_equal(ours.numpy(), expected)
    elif isinstance(ref, dict):
        assert type(ours) is type(ref) and list(ours) == list(ref)
        for k in ref:
            _same(ours[k], ref[k], float_is_32)
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b, float_is_32)
    else:
        assert ours == ref


def test_arrays_ints_and_tuples_match_torch():
    batch = [(np.random.rand(3, 4).astype(np.float32), i, np.int32(i)) for i in range(5)]
    _same(default_collate(batch), torch_collate(batch))  # the tuple comes back as a list in both


def test_nested_dicts_namedtuples_strings_bools_match_torch():
    batch = [
        {
            "img": np.full((2, 2), i, dtype=np.uint8),
            "meta": {"name": f"s{i}", "flag": i % 2 == 0},
            "p": Point(i, [i, -i]),
        }
        for i in range(3)
    ]
    _same(default_collate(batch), torch_collate(batch))


def test_python_floats_become_float32():
    ours = default_collate([0.5, 1.5])
    assert ours.dtype == dslib.float32
    _same(ours, torch_collate([0.5, 1.5]), float_is_32=True)


def test_dslib_tensors_are_stacked_on_numpy(device):
    samples = [dslib.randn(2, 3, device=device) for _ in range(4)]
    ours = default_collate(samples)
    assert ours.shape == (4, 2, 3) and ours.device == "numpy"
    np.testing.assert_array_equal(ours.numpy(), np.stack([s.numpy() for s in samples]))


def test_bfloat16_tensors_stay_on_their_device():
    samples = [dslib.ones(2, device="torch", dtype=dslib.bfloat16) for _ in range(3)]
    out = default_collate(samples)
    assert out.shape == (3, 2) and out.dtype == dslib.bfloat16


def test_errors_name_the_problem():
    with pytest.raises(RuntimeError, match=r"sample 0 has shape \(3,\), sample 2 has \(4,\)"):
        default_collate([np.zeros(3), np.zeros(3), np.zeros(4)])
    with pytest.raises(RuntimeError, match="same length"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="non-empty list"):
        default_collate([])
    with pytest.raises(KeyError, match="lacks the key"):
        default_collate([{"a": 1}, {"b": 2}])
