"""dslib.save / dslib.load: round trips, the on-disk format, corruption detection and atomic writes."""

from __future__ import annotations

import hashlib
import os
import struct

import numpy as np
import pytest

import dslib
import dslib.nn as nn
from dslib import serialization
from dslib.serialization import CheckpointError


def _arr(t):
    return t.detach().to(dslib.float32).to("numpy").numpy() if t.dtype is dslib.bfloat16 else t.detach().numpy()


def _same(a, b):
    if isinstance(a, dslib.Tensor):
        assert isinstance(b, dslib.Tensor) and a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(_arr(a), _arr(b))
    elif isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b and type(a) is type(b)


def test_state_dict_round_trip_keeps_keys_order_values(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    sd = model.state_dict()
    dslib.save(sd, tmp_path / "m.dsl")
    loaded = dslib.load(tmp_path / "m.dsl")
    _same(dict(sd), loaded)
    assert all(t.device == "numpy" for t in loaded.values())
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    fresh.load_state_dict(loaded)
    _same(dict(fresh.state_dict()), dict(sd))


def test_nested_training_checkpoint_round_trip(tmp_path):
    model = nn.Linear(3, 2)
    ckpt = {
        "model": model.state_dict(),
        "optimizer": {
            "state": {0: {"step": dslib.tensor(3.0), "exp_avg": dslib.randn(2, 3)}, 1: {"step": dslib.tensor(3.0)}},
            "param_groups": [{"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False, "foreach": None}],
        },
        "epoch": 7,
        "best": float("inf"),
        "nan": float("nan"),
        "rng": dslib.default_generator.get_state(),
        "note": "ünïcode",
        (1, "a"): [None, True, -0.0],
    }
    dslib.save(ckpt, tmp_path / "ckpt.dsl")
    _same({**ckpt, "model": dict(ckpt["model"])}, dslib.load(tmp_path / "ckpt.dsl"))


def test_rng_state_restores_the_random_stream(tmp_path):
    dslib.manual_seed(5)
    dslib.randn(3)
    dslib.save({"rng": dslib.default_generator.get_state()}, tmp_path / "r.dsl")
    expected = dslib.randn(4).numpy()
    dslib.randn(10)
    dslib.default_generator.set_state(dslib.load(tmp_path / "r.dsl")["rng"])
    np.testing.assert_array_equal(dslib.randn(4).numpy(), expected)


@pytest.mark.parametrize(
    "dtype", ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
)
def test_every_dtype_round_trips_bit_exactly(tmp_path, dtype):
    dt = getattr(dslib, dtype if dtype != "bool" else "bool_")
    device = "torch" if dt is dslib.bfloat16 else "numpy"
    if dt.is_floating_point:
        t = (dslib.randn(3, 5, device=device) * 100).to(dt)
    elif dt is dslib.bool_:
        t = dslib.randn(3, 5) > 0
    else:
        t = dslib.randint(0, 100, (3, 5), dtype=dt)
    scalar = dslib.tensor(7, dtype=dt if dt is not dslib.bfloat16 else dslib.float32).to(device).to(dt)
    dslib.save({"t": t, "s": scalar, "empty": dslib.zeros(0, 2).to(device).to(dt)}, tmp_path / "t.dsl")
    loaded = dslib.load(tmp_path / "t.dsl", map_location=device)
    _same({"t": t, "s": scalar, "empty": dslib.zeros(0, 2).to(device).to(dt)}, loaded)
    assert loaded["s"].shape == ()


def test_bfloat16_defaults_to_the_torch_device(tmp_path):
    dslib.save([dslib.ones(2, device="torch").bfloat16()], tmp_path / "b.dsl")
    (t,) = dslib.load(tmp_path / "b.dsl")
    assert t.device == "torch" and t.dtype is dslib.bfloat16
    with pytest.raises(TypeError, match="map_location='torch'"):
        dslib.load(tmp_path / "b.dsl", map_location="numpy")


def test_load_puts_tensors_on_numpy_unless_map_location_says_otherwise(tmp_path):
    dslib.save({"a": dslib.ones(2, device="torch"), "b": dslib.ones(2)}, tmp_path / "d.dsl")
    assert {t.device.type for t in dslib.load(tmp_path / "d.dsl").values()} == {"numpy"}
    assert {t.device.type for t in dslib.load(tmp_path / "d.dsl", map_location="torch").values()} == {"torch"}
    mixed = dslib.load(tmp_path / "d.dsl", map_location={"torch": "torch"})
    assert mixed["a"].device == "torch" and mixed["b"].device == "numpy"


def test_parameters_and_requires_grad_survive(tmp_path):
    p = nn.Parameter(dslib.ones(2))
    dslib.save({"p": p, "g": dslib.ones(1, requires_grad=True)}, tmp_path / "p.dsl")
    out = dslib.load(tmp_path / "p.dsl")
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad and out["g"].requires_grad


def test_file_layout_is_the_documented_one(tmp_path):
    dslib.save({"w": dslib.tensor([1.0, 2.0])}, tmp_path / "f.dsl")
    raw = (tmp_path / "f.dsl").read_bytes()
    magic, version, _, mlen, plen = struct.unpack_from("<8sIIQQ", raw)
    assert magic == b"DSLIBCK\x00" and version == 1
    assert len(raw) == 32 + mlen + plen + 32
    assert hashlib.sha256(raw[:-32]).digest() == raw[-32:]
    assert raw[32 : 32 + mlen].decode().startswith('{"root":{"dict":[["w",{"tensor":0}]]}')
    payload = raw[32 + mlen : 32 + mlen + plen]
    np.testing.assert_array_equal(np.frombuffer(payload[:8], "<f4"), [1.0, 2.0])


def test_unsupported_object_raises_type_error_naming_the_key_path(tmp_path):
    target = tmp_path / "x.dsl"
    with pytest.raises(TypeError, match=r"nn\.modules\.linear\.Linear at \[.opt.\]\[.groups.\]\[1\]"):
        dslib.save({"opt": {"groups": [1, nn.Linear(1, 1)]}}, target)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        dslib.save([np.zeros(2)], target)
    with pytest.raises(TypeError, match="dict key"):
        dslib.save({object(): 1}, target)
    assert not target.exists()


def test_bad_magic_is_reported(tmp_path):
    path = tmp_path / "bad.dsl"
    path.write_bytes(b"PK\x03\x04 a zip file, e.g. a torch.save checkpoint")
    with pytest.raises(CheckpointError, match="bad magic"):
        dslib.load(path)


@pytest.mark.parametrize("keep", [4, 20, 60, -1, -33])
def test_truncated_file_is_reported_never_partial_data(tmp_path, keep):
    path = tmp_path / "t.dsl"
    dslib.save({"w": dslib.randn(10, 10), "b": dslib.randn(10)}, path)
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])
    with pytest.raises(CheckpointError, match="truncated" if keep > 8 or keep < 0 else "bad magic|truncated"):
        dslib.load(path)


@pytest.mark.parametrize("where", ["manifest", "payload", "digest"])
def test_flipped_byte_is_a_checksum_mismatch(tmp_path, where):
    path = tmp_path / "c.dsl"
    dslib.save({"w": dslib.randn(10, 10)}, path)
    raw = bytearray(path.read_bytes())
    mlen = struct.unpack_from("<Q", raw, 16)[0]
    pos = {"manifest": 40, "payload": 32 + mlen + 5, "digest": len(raw) - 1}[where]
    raw[pos] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        dslib.load(path)


def test_trailing_garbage_is_reported(tmp_path):
    path = tmp_path / "g.dsl"
    dslib.save([1, 2], path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="corrupted"):
        dslib.load(path)


def test_failed_write_leaves_previous_file_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.dsl"
    dslib.save({"v": dslib.tensor([1.0])}, path)
    before = path.read_bytes()

    def crash(fd):  # the disk fails after the bytes were written, before the rename
        raise OSError("simulated failure during fsync")

    monkeypatch.setattr(serialization.os, "fsync", crash)
    with pytest.raises(OSError, match="simulated"):
        dslib.save({"v": dslib.tensor([2.0])}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.dsl"]
    np.testing.assert_array_equal(dslib.load(path)["v"].numpy(), [1.0])


def test_failed_write_mid_stream_leaves_no_new_file(tmp_path, monkeypatch):
    path = tmp_path / "new.dsl"
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError("simulated: disk full")

    monkeypatch.setattr(serialization.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="disk full"):
        dslib.save({"v": dslib.randn(100)}, path)
    assert os.listdir(tmp_path) == []


def test_save_and_load_through_file_objects(tmp_path):
    with open(tmp_path / "o.dsl", "wb") as f:
        dslib.save({"x": dslib.arange(5)}, f)
    with open(tmp_path / "o.dsl", "rb") as f:
        np.testing.assert_array_equal(dslib.load(f)["x"].numpy(), np.arange(5))


def test_resuming_from_a_training_checkpoint_continues_bit_exactly(tmp_path):
    """model + Adam state + epoch + RNG saved mid-run; a fresh process-like restore continues identically."""
    x, y = dslib.randn(16, 4), dslib.randint(0, 3, (16,))

    def build():
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
        return model, dslib.optim.Adam(model.parameters(), lr=1e-2)

    def step(model, opt):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    model, opt = build()
    for _ in range(2):
        step(model, opt)
    ckpt = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 2,
        "rng": dslib.default_generator.get_state(),
    }
    dslib.save(ckpt, tmp_path / "ckpt.dsl")
    for _ in range(2):
        step(model, opt)
    expected = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    dslib.manual_seed(123)  # a different random state, as in a new process
    model2, opt2 = build()
    loaded = dslib.load(tmp_path / "ckpt.dsl")
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    dslib.default_generator.set_state(loaded["rng"])
    assert loaded["epoch"] == 2
    for _ in range(2):
        step(model2, opt2)
    for k, v in model2.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), expected[k], err_msg=k)
