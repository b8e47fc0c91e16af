"""Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_), in place on each parameter's .grad.

clip_grad_norm_ treats all gradients as one long vector: it computes their joint p-norm and, when it
exceeds max_norm, scales every gradient by max_norm / (norm + 1e-6) (Pascanu et al. 2013, "On the
difficulty of training recurrent neural networks", Algorithm 1). clip_grad_value_ clamps each element
to [-clip_value, clip_value].
"""

from __future__ import annotations

import math

from ...backend import backend_of
from ...tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(a, norm_type: float):
    """The norm of raw array `a` taken as one vector (torch.linalg.vector_norm): a 0-d array of a's dtype."""
    xp = backend_of(a)
    if norm_type == 2.0:
        norm = xp.sqrt(xp.sum(a * a))
    elif norm_type == math.inf:
        norm = xp.max(xp.abs(a))
    elif norm_type == -math.inf:
        norm = xp.min(xp.abs(a))
    elif norm_type == 0:
        norm = xp.sum(a != 0)  # the number of non-zeros
    else:
        norm = xp.sum(xp.abs(a) ** norm_type) ** (1.0 / norm_type)
    return xp.asarray(norm, xp.dtype_of(a))  # NumPy reductions give scalars: make them 0-d arrays again


def _on(xp, a):
    """Raw array `a` moved to backend xp (a no-op when it is already there)."""
    return a if backend_of(a) is xp else xp.asarray(backend_of(a).to_numpy(a))


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """The joint norm of `tensors` (a Tensor or an iterable of Tensors) taken as one long vector.

    As torch: the norm of each tensor, then the norm of those norms, on the first tensor's device.
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        from ...creation import tensor

        return tensor(0.0)
    xp, dtype = tensors[0]._backend, tensors[0].dtype
    norms = [xp.astype(_on(xp, _vector_norm(t._data, norm_type)), dtype) for t in tensors]
    total = _vector_norm(xp.stack(norms, 0), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return Tensor._make(total)


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor) -> None:
    """Scale every .grad by min(1, max_norm / (total_norm + 1e-6)), in place (always, as torch: no branch on the
    norm's value, so no device sync)."""
    grads = _grads(parameters)
    if not grads:
        return
    xp = total_norm._backend
    coef = xp.asarray(xp.clip(float(max_norm) / (total_norm._data + 1e-6), None, 1.0), total_norm.dtype)
    for g in grads:
        g._data *= _on(g._backend, coef)
        g._vc[0] += 1


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Clip the gradients' joint norm to max_norm in place; returns the norm before clipping (a Tensor)."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)  # a generator is read twice
    grads = _grads(parameters)
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every element of every .grad to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g._backend.setitem(g._data, Ellipsis, g._backend.clip(g._data, -clip_value, clip_value))
        g._vc[0] += 1
