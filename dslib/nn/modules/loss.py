"""Loss modules: thin wrappers over dslib.nn.functional with torch.nn's constructor arguments.

Only non-default options are forwarded, so each module works with any functional that accepts
PyTorch's keyword names.
"""

from __future__ import annotations

from .. import functional as F
from ..module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def _kwargs(self, **options):
        """reduction plus the options that differ from torch's defaults (None / 0.0 / -100)."""
        kw = {"reduction": self.reduction} if self.reduction != "mean" else {}
        kw.update({k: v for k, v in options.items() if v is not None})
        return kw


class CrossEntropyLoss(_Loss):
    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        kw = self._kwargs(
            weight=self.weight,
            ignore_index=self.ignore_index if self.ignore_index != -100 else None,
            label_smoothing=self.label_smoothing or None,
        )
        return F.cross_entropy(input, target, **kw)


class NLLLoss(_Loss):
    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        kw = self._kwargs(weight=self.weight, ignore_index=self.ignore_index if self.ignore_index != -100 else None)
        return F.nll_loss(input, target, **kw)


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, **self._kwargs())


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, **self._kwargs())


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        kw = self._kwargs(weight=self.weight, pos_weight=self.pos_weight)
        return F.binary_cross_entropy_with_logits(input, target, **kw)
