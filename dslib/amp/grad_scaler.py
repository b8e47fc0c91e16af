"""GradScaler: dynamic loss scaling for float16 training, as torch.amp.GradScaler.

    scaler = dslib.amp.GradScaler()
    for x, y in loader:
        optimizer.zero_grad()
        with dslib.autocast("torch", dtype=dslib.float16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()  # gradients of loss * scale: small ones no longer flush to zero
        scaler.unscale_(optimizer)  # optional: only to look at / clip the true gradients
        dslib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)  # unscales (if not done yet); skips the step if any grad is inf/nan
        scaler.update()  # halves the scale after an overflow, doubles it after growth_interval good steps

float16 keeps 10 mantissa bits but its smallest normal value is 6e-5: gradients below ~6e-8 become 0.
Multiplying the loss by a large scale S shifts every gradient up by S; the optimizer then sees grad / S
in float32 (Micikevicius et al. 2018, "Mixed Precision Training", Sec. 3.2). The scale is dynamic: too
large a scale makes some gradient overflow to inf, that step is skipped and S shrinks by backoff_factor;
after growth_interval steps in a row without overflow S grows by growth_factor.

The scale is kept as a float32 value (as torch keeps a float32 tensor) and updated with torch's exact
rule (torch._amp_update_scale_), so the same sequence of overflows gives the same scale history. bfloat16
has float32's range and needs no scaler.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .. import dtypes
from ..autograd import no_grad
from ..ops import api  # api.Tensor, bound once dslib.tensor is imported (import cycle)

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"  # per-optimizer stage within one iteration


def _fresh_state():
    return {"stage": _READY, "found_inf": None}


def _f32(x: float) -> float:
    """x rounded to float32, as stored in torch's float32 scale tensor (overflow gives inf, silently)."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


def _number(name, value, ok, need):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise ValueError(f"GradScaler: {name} must be {need}, got {value!r}")
    return value


class GradScaler:
    """Dynamic loss scaling (torch.amp.GradScaler's API and rules). With enabled=False every method is a
    pass-through: scale returns its input, step calls optimizer.step(), update does nothing."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        if isinstance(init_scale, str):
            raise TypeError(
                f"GradScaler: init_scale must be a number, got the string {init_scale!r}; dslib's GradScaler "
                "takes no device (torch.amp.GradScaler's first argument): drop it, the scale follows the loss"
            )
        self._init_scale = float(
            _number("init_scale", init_scale, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
        )
        self._growth_factor = float(_number("growth_factor", growth_factor, lambda v: v > 1.0, "a number > 1.0"))
        self._backoff_factor = float(
            _number("backoff_factor", backoff_factor, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")
        )
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) or growth_interval < 1:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}")
        if not isinstance(enabled, bool):
            raise TypeError(f"GradScaler: enabled must be True or False, got {enabled!r}")
        self._growth_interval = growth_interval
        self._enabled = enabled
        self._scale = None  # float32 value, set by the first scale() (torch initializes it lazily too)
        self._growth_tracker = 0  # good steps in a row since the last change of the scale
        self._per_optimizer = defaultdict(_fresh_state)  # id(optimizer) -> stage and found_inf of this iteration

    # ----- the training-loop calls -----
    def scale(self, outputs):
        """outputs * scale, for a Tensor or a (nested) list / tuple of Tensors; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = _f32(self._init_scale)
        if isinstance(outputs, api.Tensor):
            # a 0-d float32 tensor, as torch's: a 0-d float16 loss becomes float32 (type promotion), a batch stays
            s = api.Tensor._make(outputs._backend.full((), self._scale, dtypes.float32))
            return outputs * s
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of Tensors, got {type(outputs)}")

    def unscale_(self, optimizer) -> None:
        """Divide the gradients of `optimizer`'s parameters by the scale, in place, and note whether any is
        inf/nan. At most once per optimizer between update() calls; step() does it when you have not."""
        if not self._enabled:
            return
        self._check_started("unscale_")
        st = self._per_optimizer[id(optimizer)]
        if st["stage"] is _UNSCALED:
            raise RuntimeError(
                "GradScaler.unscale_() has already been called on this optimizer since the last update(); "
                "call it once per optimizer per iteration"
            )
        if st["stage"] is _STEPPED:
            raise RuntimeError("GradScaler.unscale_() is being called after step(); call it before step()")
        inv = _f32(1.0 / self._scale)  # the reciprocal in float64, rounded to float32, as torch
        flags = defaultdict(list)  # backend -> one "all finite" flag per gradient on it
        with no_grad():
            for group in optimizer.param_groups:
                for i, p in enumerate(group["params"]):
                    if p.grad is None:
                        continue
                    g = p.grad
                    if g.dtype is dtypes.float16:
                        raise ValueError(
                            f"GradScaler.unscale_: parameter {i} of a param group (shape {tuple(p.shape)}) has a "
                            "float16 gradient; keep the parameters in float32 (master weights) and let autocast "
                            "run the ops in float16"
                        )
                    b = g._backend
                    flags[b].append(b.all(b.isfinite(g._data)))  # checked before scaling, as torch
                    if inv != 1.0:
                        g._data *= inv  # a Python float: computed in the gradient's dtype
                        g._vc[0] += 1
        if not flags:
            raise RuntimeError(
                "GradScaler: no parameter of this optimizer has a gradient; call scaler.scale(loss).backward() "
                "before scaler.unscale_(optimizer) / scaler.step(optimizer)"
            )
        # one device sync per device, at the end
        st["found_inf"] = not all(bool(b.all(b.stack(fs, 0))) for b, fs in flags.items())
        st["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """unscale_ (unless already done), then optimizer.step(*args, **kwargs) unless a gradient is inf/nan.

        Returns what optimizer.step returned, or None for a skipped step."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: closure use is not supported while the GradScaler is enabled")
        self._check_started("step")
        st = self._per_optimizer[id(optimizer)]
        if st["stage"] is _STEPPED:
            raise RuntimeError("GradScaler.step() has already been called since the last update(); call update()")
        if st["stage"] is _READY:
            self.unscale_(optimizer)
        retval = None
        if not st["found_inf"]:
            retval = optimizer.step(*args, **kwargs)
        st["stage"] = _STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """End the iteration: back off after an overflow in any optimizer, grow after growth_interval good
        steps (torch._amp_update_scale_'s rule); or set the scale to `new_scale` (a number or 1-element Tensor)."""
        if not self._enabled:
            return
        self._check_started("update")
        if new_scale is not None:
            if isinstance(new_scale, api.Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise ValueError("GradScaler.update: new_scale must be a number or a 1-element Tensor without grad")
                new_scale = new_scale.item()
            self._scale = _f32(_number("new_scale", new_scale, lambda v: v > 0, "a number > 0"))
        else:
            found = [st["found_inf"] for st in self._per_optimizer.values() if st["found_inf"] is not None]
            if not found:
                raise RuntimeError(
                    "GradScaler.update: no inf checks were recorded in this iteration; call "
                    "scaler.step(optimizer) (or scaler.unscale_(optimizer)) before scaler.update()"
                )
            if any(found):
                self._scale = _f32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            elif self._growth_tracker + 1 == self._growth_interval:
                grown = _f32(self._scale * self._growth_factor)
                if math.isfinite(grown):
                    self._scale = grown
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
        self._per_optimizer = defaultdict(_fresh_state)

    def _check_started(self, fn):
        if self._scale is None:
            raise RuntimeError(
                f"GradScaler.{fn}: the scale is not set yet; call scaler.scale(loss).backward() earlier in the "
                "iteration"
            )

    # ----- inspection and checkpoints -----
    def get_scale(self) -> float:
        """The current scale as a Python float (1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(_number("growth_factor", new_factor, lambda v: v > 1.0, "a number > 1.0"))

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(
            _number("backoff_factor", new_factor, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")
        )

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        if isinstance(new_interval, bool) or not isinstance(new_interval, int) or new_interval < 1:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {new_interval!r}")
        self._growth_interval = new_interval

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """torch's five entries (scale, growth_factor, backoff_factor, growth_interval, _growth_tracker) as Python
        numbers; {} when disabled. Save it after update()."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state_dict() (also one of torch.amp.GradScaler); a no-op when this scaler is disabled."""
        if not self._enabled:
            return
        if not isinstance(state_dict, dict):
            raise TypeError(f"GradScaler.load_state_dict: expected a dict, got {type(state_dict).__name__}")
        if len(state_dict) == 0:
            raise RuntimeError(
                "GradScaler.load_state_dict: the state dict is empty, possibly because it was saved from a "
                "disabled GradScaler"
            )
        keys = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: missing entries {missing}; expected {list(keys)}")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = _f32(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])

    def __repr__(self):
        if not self._enabled:
            return "GradScaler(enabled=False)"
        return f"GradScaler(scale={self.get_scale()}, growth_interval={self._growth_interval})"
