"""SGD: stochastic gradient descent with optional (Nesterov) momentum and weight decay (torch.optim.SGD).

Momentum as in Sutskever et al. 2013, "On the importance of initialization and momentum in deep
learning" (the form PyTorch uses, where the learning rate multiplies the whole buffer). For each
parameter w with gradient g, step t:

    g   <- -g                              if maximize
    g   <- g + weight_decay * w            (L2 penalty folded into the gradient)
    b_1  = g,  b_t = momentum * b_{t-1} + (1 - dampening) * g      if momentum != 0
    g   <- g + momentum * b_t  (nesterov)  or  g <- b_t
    w   <- w - lr * g
"""

from __future__ import annotations

from ..backend import backend_of
from ..tensor import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,  # accepted so torch code ports unchanged; dslib has one implementation
        fused: bool | None = None,
    ):
        if lr < 0.0:
            raise ValueError(f"SGD: Invalid learning rate: {lr} (lr must be >= 0)")
        if momentum < 0.0:
            raise ValueError(f"SGD: Invalid momentum value: {momentum} (momentum must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: Invalid weight_decay value: {weight_decay} (weight_decay must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: Nesterov momentum requires a momentum and zero dampening (got momentum={momentum}, "
                f"dampening={dampening})"
            )
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
            maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _step_group(self, group: dict) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            w, g = p._data, p.grad._data  # raw arrays; w is updated in place, g never is
            if maximize:
                g = -g
            if weight_decay != 0:
                g = g + weight_decay * w
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:  # b_1 = g (asarray: NumPy turns 0-d results into scalars)
                    xp = backend_of(w)
                    b = xp.copy(xp.asarray(g, p.dtype))
                    state["momentum_buffer"] = Tensor._make(b)
                else:  # b_t = momentum * b_{t-1} + (1 - dampening) * g
                    b = buf._data
                    b *= momentum
                    backend_of(b).add_scaled_(b, g, 1 - dampening)
                g = g + momentum * b if nesterov else b
            backend_of(w).add_scaled_(w, g, -lr)  # w <- w - lr * g
            p._vc[0] += 1
