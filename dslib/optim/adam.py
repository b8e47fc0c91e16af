"""Adam: adaptive moment estimation (torch.optim.Adam).

Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1, with PyTorch's placement
of eps (outside the bias-corrected square root) and optional AMSGrad (Reddi et al. 2018, "On the
Convergence of Adam and Beyond"). For each parameter w with gradient g, step t = 1, 2, ...:

    g    <- -g                                   if maximize
    g    <- g + weight_decay * w                 (L2 penalty; AdamW instead decays w, see adamw.py)
    m_t   = beta1 * m_{t-1} + (1 - beta1) * g
    v_t   = beta2 * v_{t-1} + (1 - beta2) * g^2
    v_t   = max(v_max, v_t)                      if amsgrad (v_max keeps the running maximum)
    w    <- w - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

The state arrays (exp_avg = m, exp_avg_sq = v, max_exp_avg_sq) are allocated once, at the first step,
and updated in place afterwards.
"""

from __future__ import annotations

from ..backend import backend_of
from ..tensor import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,  # accepted so torch code ports unchanged; dslib has one implementation
        fused: bool | None = None,
    ):
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: Invalid learning rate: {lr} (lr must be >= 0)")
        if eps < 0.0:
            raise ValueError(f"{name}: Invalid epsilon value: {eps} (eps must be >= 0)")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta} (betas must be in [0, 1))")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay} (weight_decay must be >= 0)")
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, amsgrad: bool) -> dict:
        xp = backend_of(p._data)
        state = {
            "step": 0,
            "exp_avg": Tensor._make(xp.zeros(p.shape, p.dtype)),
            "exp_avg_sq": Tensor._make(xp.zeros(p.shape, p.dtype)),
        }
        if amsgrad:
            state["max_exp_avg_sq"] = Tensor._make(xp.zeros(p.shape, p.dtype))
        return state

    def _step_group(self, group: dict) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            w, g = p._data, p.grad._data  # raw arrays; w is updated in place, g never is
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = self._init_state(p, amsgrad)
            state["step"] += 1
            t = state["step"]
            if maximize:
                g = -g
            if weight_decay != 0:
                if decoupled:  # AdamW: w <- w * (1 - lr * weight_decay)
                    w *= 1 - lr * weight_decay
                else:  # L2 penalty: g <- g + weight_decay * w
                    g = g + weight_decay * w

            # In place, with few temporaries, rounding as torch's lerp_, addcmul_ and addcdiv_ do.
            m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
            delta = g - m
            delta *= 1 - beta1
            m += delta  # m_t = m + (1 - beta1) * (g - m) = beta1 * m + (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g  # v_t = beta2 * v + (1 - beta2) * g^2
            if amsgrad:
                v_max = state["max_exp_avg_sq"]._data
                v_max[...] = backend_of(w).maximum(v_max, v)  # v_max = max(v_max, v_t)
                v = v_max

            bias_correction1 = 1 - beta1**t
            bias_correction2_sqrt = (1 - beta2**t) ** 0.5
            step_size = lr / bias_correction1
            denom = backend_of(w).sqrt(v)
            denom /= bias_correction2_sqrt
            denom += eps  # sqrt(v_t / (1 - beta2^t)) + eps = sqrt(v_hat) + eps
            update = step_size * m
            update /= denom
            w -= update  # w <- w - lr * m_hat / (sqrt(v_hat) + eps)
            p._vc[0] += 1
