"""device: where a tensor's array lives, and which backend computes on it.

    "numpy"  (alias "cpu")  NumPy arrays, the default: readable, runs anywhere.
    "torch"                 PyTorch CPU tensors used purely as arrays (fast CPU kernels).
    "cuda" / "cuda:N"       PyTorch CUDA tensors, when a GPU exists.

dslib's autograd never uses torch.autograd: on the torch devices PyTorch is only an array library.
"""

from __future__ import annotations

_TYPES = ("numpy", "torch", "cuda")


class device:  # noqa: N801 - mirrors torch.device
    __slots__ = ("type", "index")

    def __init__(self, spec="numpy", index: int | None = None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string such as 'numpy', 'torch' or 'cuda:0', got {spec!r}")
        text = spec.strip().lower()
        if ":" in text:
            text, _, idx = text.partition(":")
            if not idx.isdigit():
                raise ValueError(f"bad device index in {spec!r}: write 'cuda:0', 'cuda:1', ...")
            index = int(idx)
        if text == "cpu":
            text = "numpy"
        if text not in _TYPES:
            raise ValueError(
                f"unknown device {spec!r}: dslib devices are 'numpy' (or 'cpu'), 'torch', 'cuda', 'cuda:N'"
            )
        if text != "cuda" and index is not None:
            raise ValueError(f"device {text!r} takes no index (got {spec!r})")
        self.type = text
        self.index = (index or 0) if text == "cuda" else None

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


def cuda_is_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()
