"""Optimizer: the base class of dslib.optim (the torch.optim.Optimizer contract).

An optimizer holds `param_groups` (a list of dicts: "params" plus that group's hyper-parameters, the
constructor's `defaults` filling any key a group leaves out) and `state` (a dict from parameter to that
parameter's buffers, e.g. {"step": 3, "exp_avg": Tensor}). A subclass implements `_step_group(group)`,
which updates every parameter of one group in place on its raw array; `step()` runs it for all groups
under no_grad(), after evaluating the optional closure with grad enabled.

`state_dict()` has torch's structure: {"state": {index: {...}}, "param_groups": [{..., "params": [index,
...]}]}, parameters being numbered 0, 1, ... in group order. Two deliberate differences from torch: "step"
is a Python int (not a 0-d tensor), and `load_state_dict` copies the loaded tensors (torch may alias them).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from itertools import chain

from ..autograd import enable_grad, no_grad
from ..tensor import Tensor


class _Required:
    """Marks a default that every param group must give (torch.optim.optimizer.required)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)  # parameter -> its state, as torch
        self.param_groups: list[dict] = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or dicts, but got a Tensor; "
                "wrap it in a list: [tensor]"
            )
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with its own hyper-parameters) to optimize, as torch does."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: param_group must be a dict, but got {type(param_group).__name__}")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        params = list(params)
        if params and all(isinstance(p, tuple) and len(p) == 2 for p in params):  # named_parameters()
            param_group["param_names"] = [n for n, _ in params]
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: optimizer can only optimize Tensors, but params[{i}] of the new group is "
                    f"{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: can't optimize a non-leaf Tensor (params[{i}], shape {p.shape}, made by "
                    f"{p.grad_fn.name}); optimize the leaf it was computed from, or .detach().requires_grad_()"
                )
        param_group["params"] = params

        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(
                    f"{name}: parameter group didn't specify a value of required optimization parameter {key}"
                )
            param_group.setdefault(key, default)

        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(
                    f"{name}: some parameters appear in more than one parameter group (params[{i}] of the new "
                    f"group, shape {p.shape}, is already optimized); give each parameter to one group only"
                )
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's .grad: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a .grad. `closure` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _step_group(group)")

    # ----- checkpoints -----
    def state_dict(self) -> dict:
        """{"state": {param index: state dict}, "param_groups": [group with "params" as indices]}.

        The state tensors are the optimizer's own (not copies), as in torch.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by state_dict() from an optimizer over same-shaped params."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups'")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(groups)})"
            )
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded state dict contains a parameter group that doesn't match "
                    f"the size of optimizer's group: group {i} has {len(s['params'])} params in the state dict "
                    f"but {len(g['params'])} in the optimizer"
                )
        id_map = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {k} matches no parameter group")
            param = id_map[k]
            state[param] = {key: _copy_to_param(param, key, value, k, name) for key, value in v.items()}
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k not in ("params", "param_names")]
        return "\n".join(lines + [")"])


def _copy_to_param(param: Tensor, key, value, index: int, name: str):
    """A copy of one loaded state value, on the parameter's device (and dtype, for float tensors but "step")."""
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    if key == "step":  # torch keeps the step count in a 0-d tensor; dslib in a Python int
        return int(value.item())
    if value.shape != param.shape:
        raise ValueError(
            f"{name}.load_state_dict: state '{key}' of parameter {index} has shape {value.shape} but the "
            f"parameter has shape {param.shape}; the state dict comes from a different model"
        )
    dtype = param.dtype if value.dtype.is_floating_point else value.dtype
    with no_grad():
        return value.detach().to(device=param.device, dtype=dtype, copy=True)
