"""dslib.save / dslib.load: checkpoints in a documented format that never unpickles (never runs) code.

File layout (all integers little-endian):

    offset  size  field
    0       8     magic b"DSLIBCK\\x00"
    8       4     format version (uint32, currently 1)
    12      4     reserved (uint32, 0)
    16      8     M = manifest length in bytes (uint64)
    24      8     P = payload length in bytes (uint64)
    32      M     manifest: UTF-8 JSON, {"root": <node>, "tensors": [<tensor entry>, ...]}
    32+M    P     payload: raw tensor bytes, each tensor starting at a multiple of 64
    32+M+P  32    SHA-256 of bytes [0, 32+M+P)

A <node> is the saved object: JSON null/true/false/number/string as themselves; a list as a JSON
array; {"tuple": [...]}, {"dict": [[key node, value node], ...]} (keys may be str, int, float, bool,
None or tuples, so optimizer state dicts keep their int keys), {"float": "nan"|"inf"|"-inf"}, and
{"tensor": i} referring to tensor entry i. A tensor entry is {"dtype": "float32", "shape": [2, 3],
"device": "numpy", "offset": bytes from the payload start, "nbytes": ..., "requires_grad": bool,
"parameter": bool}; its bytes are C-order little-endian elements (bfloat16 as its 16-bit pattern,
bool as one byte 0/1). Any other object raises TypeError naming its key path, before the file is touched.

Writes are atomic: the bytes go to a temporary file in the same directory, which is fsync'ed and
renamed over the target; on any failure the temporary file is removed and a previous file at the
path stays intact. Loading checks the magic, the lengths (truncation) and the checksum before
building anything, so a damaged file raises CheckpointError and never returns partial data.
Tensors load onto the 'numpy' device unless `map_location` is given ('numpy', 'torch', 'cuda:N', or
a dict {saved device: target device}); bfloat16 tensors, which NumPy cannot hold, default to 'torch'.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile

import numpy as np

from . import dtypes
from .backend import get_backend
from .device import device as Device
from .tensor import Tensor

MAGIC = b"DSLIBCK\x00"
VERSION = 1
_HEADER = struct.Struct("<8sIIQQ")  # magic, version, reserved, manifest length, payload length
_DIGEST = 32
_ALIGN = 64


class CheckpointError(ValueError):
    """A file that is not a valid dslib checkpoint: bad magic, unsupported version, truncated, corrupted."""


# ----- encoding -----
def _tensor_bytes(t: Tensor) -> bytes:
    if t.dtype is dtypes.bfloat16:
        import torch

        arr = t._data.detach().cpu().view(torch.int16).numpy()
    else:
        arr = t._backend.to_numpy(t._data)
    arr = np.asarray(arr, order="C")  # (np.ascontiguousarray turns 0-d into 1-d)
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def _encode(obj, path, tensors, chunks, offset):
    """The JSON node for obj; appends tensor entries and their bytes. Returns (node, new payload offset)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj, offset
    if isinstance(obj, (int, np.integer)):
        return int(obj), offset
    if isinstance(obj, (float, np.floating)):
        obj = float(obj)
        return (obj if math.isfinite(obj) else {"float": repr(obj)}), offset
    if isinstance(obj, Tensor):
        from .nn.parameter import Parameter

        data = _tensor_bytes(obj)
        pad = (-offset) % _ALIGN
        if pad:
            chunks.append(b"\x00" * pad)
            offset += pad
        tensors.append(
            {
                "dtype": obj.dtype.name,
                "shape": list(obj.shape),
                "device": str(obj.device),
                "offset": offset,
                "nbytes": len(data),
                "requires_grad": bool(obj.requires_grad),
                "parameter": isinstance(obj, Parameter),
            }
        )
        chunks.append(data)
        return {"tensor": len(tensors) - 1}, offset + len(data)
    if isinstance(obj, (list, tuple)):
        items = []
        for i, v in enumerate(obj):
            node, offset = _encode(v, f"{path}[{i}]", tensors, chunks, offset)
            items.append(node)
        return (items if isinstance(obj, list) else {"tuple": items}), offset
    if isinstance(obj, dict):
        pairs = []
        for k, v in obj.items():
            if not _plain_key(k):
                raise TypeError(
                    f"dslib.save: unsupported dict key {k!r} at {path or 'root'}: keys must be str, int, float, "
                    "bool, None or tuples of those"
                )
            knode, _ = _encode(k, path, [], [], 0)
            vnode, offset = _encode(v, f"{path}[{k!r}]", tensors, chunks, offset)
            pairs.append([knode, vnode])
        return {"dict": pairs}, offset
    raise TypeError(
        f"dslib.save: cannot save object of type {type(obj).__module__}.{type(obj).__qualname__} at "
        f"{path or 'root'}: only dslib Tensors, dict, list, tuple, str, int, float, bool and None are "
        "supported (save a module's state_dict(), not the module)"
    )


def _plain_key(k) -> bool:
    if k is None or isinstance(k, (str, int, float, bool)):
        return True
    return isinstance(k, tuple) and all(_plain_key(x) for x in k)


def _serialize(obj) -> bytes:
    tensors, chunks = [], []
    root, payload_len = _encode(obj, "", tensors, chunks, 0)
    manifest = json.dumps({"root": root, "tensors": tensors}, allow_nan=False, separators=(",", ":")).encode()
    header = _HEADER.pack(MAGIC, VERSION, 0, len(manifest), payload_len)
    h = hashlib.sha256(header)
    h.update(manifest)
    for c in chunks:
        h.update(c)
    return b"".join([header, manifest, *chunks, h.digest()])


def _write_atomic(path, data: bytes) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable; not every platform can open a directory
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save(obj, f) -> None:
    """Save nested dicts/lists/tuples of tensors and plain values to a path (atomically) or a binary file."""
    data = _serialize(obj)  # raises TypeError for unsupported objects before anything is written
    if hasattr(f, "write"):
        f.write(data)
    else:
        _write_atomic(f, data)


# ----- decoding -----
def _parse(buf: bytes, name: str):
    if len(buf) < len(MAGIC) or buf[: len(MAGIC)] != MAGIC:
        raise CheckpointError(f"{name}: bad magic: not a dslib checkpoint (expected it to start with {MAGIC!r})")
    if len(buf) < _HEADER.size:
        raise CheckpointError(f"{name}: truncated: {len(buf)} bytes, shorter than the {_HEADER.size}-byte header")
    _, version, _, mlen, plen = _HEADER.unpack_from(buf)
    if version != VERSION:
        raise CheckpointError(f"{name}: unsupported format version {version} (this dslib reads version {VERSION})")
    expected = _HEADER.size + mlen + plen + _DIGEST
    if len(buf) < expected:
        raise CheckpointError(f"{name}: truncated: the file has {len(buf)} bytes, its header says {expected}")
    if len(buf) > expected:
        raise CheckpointError(f"{name}: corrupted: {len(buf) - expected} unexpected bytes after the checksum")
    body = memoryview(buf)[: expected - _DIGEST]
    if hashlib.sha256(body).digest() != buf[expected - _DIGEST :]:
        raise CheckpointError(f"{name}: checksum mismatch: the file is corrupted (SHA-256 of its contents differs)")
    try:
        manifest = json.loads(bytes(body[_HEADER.size : _HEADER.size + mlen]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:  # only reachable if the writer was broken
        raise CheckpointError(f"{name}: corrupted manifest: {err}") from None
    return manifest, body[_HEADER.size + mlen :]


def _target_device(saved: str, dt, map_location):
    if map_location is None:
        return "torch" if dt is dtypes.bfloat16 else "numpy"
    if isinstance(map_location, dict):
        return map_location.get(saved, "numpy" if dt is not dtypes.bfloat16 else "torch")
    if isinstance(map_location, (str, Device)):
        return map_location
    raise TypeError(f"dslib.load: map_location must be None, a device string or a dict, got {map_location!r}")


def _make_tensor(entry, payload, map_location):
    from .nn.parameter import Parameter

    dt = dtypes.get(entry["dtype"])
    shape = tuple(entry["shape"])
    raw = payload[entry["offset"] : entry["offset"] + entry["nbytes"]]
    if dt is dtypes.bfloat16:
        arr = np.frombuffer(raw, dtype="<i2").reshape(shape).copy()
    else:
        arr = np.frombuffer(raw, dtype=dtypes.to_numpy(dt).newbyteorder("<")).reshape(shape)
        arr = arr.astype(dtypes.to_numpy(dt))  # native byte order, and a writable copy
    b = get_backend(_target_device(entry["device"], dt, map_location))
    if dt is dtypes.bfloat16:
        if b.name == "numpy":
            raise TypeError(
                "dslib.load: a bfloat16 tensor cannot live on the 'numpy' device: pass map_location='torch'"
            )
        import torch

        array = torch.from_numpy(arr).view(torch.bfloat16).to(b.tdevice)
    else:
        array = b.from_numpy(arr) if b.name != "numpy" else arr
    t = Tensor._make(array)
    if entry.get("parameter"):
        return Parameter(t, requires_grad=entry.get("requires_grad", True))
    if entry.get("requires_grad"):
        t.requires_grad_(True)
    return t


def _decode(node, tensors):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(x, tensors) for x in node]
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "tuple" in node:
        return tuple(_decode(x, tensors) for x in node["tuple"])
    if "dict" in node:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in node["dict"]}
    if "float" in node:
        return float(node["float"])
    raise CheckpointError(f"dslib.load: unknown manifest node {node!r}")


def load(f, map_location=None):
    """Load what dslib.save wrote; tensors go to 'numpy' unless map_location says otherwise."""
    if hasattr(f, "read"):
        buf, name = f.read(), getattr(f, "name", "<file>")
    else:
        with open(f, "rb") as fh:
            buf, name = fh.read(), os.fspath(f)
    manifest, payload = _parse(buf, name)
    tensors = [_make_tensor(e, payload, map_location) for e in manifest["tensors"]]
    return _decode(manifest["root"], tensors)
