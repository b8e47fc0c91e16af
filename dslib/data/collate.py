"""`default_collate`: turns a list of samples into one batch, as torch.utils.data.default_collate does.

    default_collate([(np.zeros((3, 8, 8)), 1), (np.ones((3, 8, 8)), 0)])
    # -> [Tensor of shape (2, 3, 8, 8), Tensor([1, 0]) of dtype int64]

Numpy arrays and dslib Tensors are stacked along a new first dim; Python ints become an int64 tensor,
floats float32 (torch gives float64: float32 is what models here train in), bools bool; numpy scalars keep
their dtype; strings stay a list. Dicts, namedtuples, tuples and lists are collated field by field (tuples
come back as lists, as in torch). Batches live on the "numpy" device; the training loop moves them.
"""

from __future__ import annotations

import collections.abc

import numpy as np

from ..tensor import Tensor

_NUMERIC_KINDS = "biuf"


def _describe_shapes(shapes) -> str:
    first = shapes[0]
    bad = next(i for i, s in enumerate(shapes) if s != first)
    return (
        f"default_collate cannot stack samples of different shapes: sample 0 has shape {first}, sample {bad} has "
        f"{shapes[bad]}. Resize or crop them in a transform, or pass a collate_fn that pads"
    )


def _stack_arrays(arrays: list) -> Tensor:
    shapes = [a.shape for a in arrays]
    if any(s != shapes[0] for s in shapes):
        raise RuntimeError(_describe_shapes(shapes))
    if arrays[0].dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"default_collate: numpy arrays of dtype {arrays[0].dtype} cannot become tensors")
    return Tensor._make(np.stack(arrays))


def _stack_tensors(batch: list) -> Tensor:
    tensors = [t.detach() for t in batch]
    if any(t.dtype.name == "bfloat16" for t in tensors):  # NumPy has no bfloat16: stack on the tensors' device
        from ..ops.api import stack

        shapes = [t.shape for t in tensors]
        if any(s != shapes[0] for s in shapes):
            raise RuntimeError(_describe_shapes(shapes))
        return stack(tensors)
    return _stack_arrays([t.numpy() for t in tensors])


def _numbers(batch: list) -> Tensor:
    array = np.asarray(batch)
    if array.dtype.kind not in _NUMERIC_KINDS or array.ndim != 1:
        raise TypeError(f"default_collate: cannot make a tensor of the numbers {batch[:5]!r}...")
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64)
    return Tensor._make(array)


def default_collate(batch):
    """Collate a list of samples into a batch (see the module docstring for the rules)."""
    if not isinstance(batch, collections.abc.Sequence) or isinstance(batch, (str, bytes)) or not batch:
        raise TypeError(f"default_collate needs a non-empty list of samples, got {type(batch).__name__}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        return _stack_arrays([np.asarray(a) for a in batch])
    if isinstance(elem, np.generic):
        return Tensor._make(np.array(batch))  # numpy scalars keep their dtype (as torch does)
    if isinstance(elem, (bool, int, float)):
        return _numbers(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        try:
            fields = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        except KeyError as err:
            raise KeyError(f"default_collate: a sample lacks the key {err} that sample 0 has") from None
        try:
            return type(elem)(fields)
        except TypeError:  # a Mapping type that cannot be built from a dict
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = {len(sample) for sample in batch}
        if len(sizes) != 1:
            raise RuntimeError(f"default_collate: each sample in the batch should have the same length, got {sizes}")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(
        "default_collate: a batch must hold dslib Tensors, numpy arrays, numbers, strings, dicts or "
        f"sequences; found {type(elem).__name__}. Pass collate_fn= to batch other types"
    )
