"""Parameter: a Tensor that a Module registers as one of its learnable weights (torch.nn.Parameter).

Assigning a Parameter to a Module attribute (`self.weight = Parameter(...)`) registers it, so it shows
up in `parameters()` and `state_dict()`. A Parameter shares memory with the tensor it wraps and
requires grad by default. Ops on a Parameter return plain Tensors.
"""

from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(data): expected a dslib Tensor, got {type(data).__name__}")
        self._init(data._data)
        self._vc = data._vc  # same memory, same version counter
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
