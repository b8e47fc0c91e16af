"""AdamW: Adam with decoupled weight decay (torch.optim.AdamW).

Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2. Adam's L2 penalty
(g + weight_decay * w) is rescaled by the adaptive denominator, so weights with large gradients are
barely regularized. AdamW instead shrinks the weights directly, before the Adam step:

    w <- w * (1 - lr * weight_decay)
    w <- Adam update of w with the unmodified gradient g        (see adam.py for the formulas)

The update rule itself lives in Adam._step_group (the `decoupled` branch); this class sets the flag
and torch's default weight_decay=1e-2.
"""

from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True)
