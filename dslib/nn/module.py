"""Module: the base class of every layer and model, with torch.nn.Module's contract.

Assigning a `Parameter`, a `Module` or (through `register_buffer`) a buffer tensor to an attribute
registers it; `parameters()`, `state_dict()`, `to()`, `train()/eval()` and `zero_grad()` then walk the
tree of submodules. State dict keys are the dotted attribute paths (`"0.weight"`, `"bn.running_mean"`),
in registration order, exactly as in PyTorch, so weights port between the two by key.
"""

from __future__ import annotations

import copy
import itertools
from collections import OrderedDict, namedtuple

from .. import dtypes
from ..autograd import no_grad
from ..backend import get_backend
from ..device import device as Device
from ..tensor import Tensor
from .parameter import Parameter


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class RemovableHandle:
    """Returned by register_*_hook: `handle.remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _parse_to(args, kwargs):
    """(device, dtype) from Module.to's torch-style arguments."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)  # accepted for torch compatibility; copies here are synchronous
    if kwargs:
        raise TypeError(f"Module.to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, dtypes.dtype):
            dtype = a
        elif isinstance(a, (str, Device)):
            device = a
        elif a is not None:
            raise TypeError(f"Module.to(): expected a device, a dtype or a Tensor, got {a!r}")
    if dtype is not None:
        dtype = dtypes.get(dtype)
        if not dtype.is_floating_point:
            raise TypeError(f"Module.to() only accepts floating point dtypes, but got desired dtype={dtype}")
    return device, dtype


def _moved(t: Tensor, device, dtype):
    """The raw array of `t` on `device`, cast to `dtype` when t is floating point (no graph)."""
    with no_grad():
        out = t.detach()
        if device is not None:
            out = out.to(device)
        if dtype is not None and out.is_floating_point():
            out = out.to(dtype)
    return out._data


def _copy_into(dst: Tensor, src: Tensor):
    """Overwrite dst's memory with src's values (any device or dtype), without recording a graph."""
    b = dst._backend
    raw = src._data
    if src._backend is not b:
        raw = b.from_numpy(src._backend.to_numpy(raw)) if b.name != "numpy" else src._backend.to_numpy(raw)
    if b.dtype_of(raw) is not dst.dtype:
        raw = b.astype(raw, dst.dtype)
    b.setitem(dst._data, Ellipsis, raw)
    dst._vc[0] += 1


def _tensor_copy(t: Tensor) -> Tensor:
    """An independent copy of t (same class, requires_grad and grad), outside any graph."""
    out = Tensor._make(t._backend.copy(t._data))
    if isinstance(t, Parameter):
        out = Parameter(out, requires_grad=t.requires_grad)
    elif t.requires_grad:
        out.requires_grad_(True)
    if t.grad is not None:
        out.grad = Tensor._make(t.grad._backend.copy(t.grad._data))
    return out


class Module:
    """Base class for all neural network modules; subclass it and define `forward`."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # ----- registration -----
    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call (call super().__init__() first)")

    def _check_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f'{kind} name can\'t be empty or contain ".", got "{name}"')
        if (
            hasattr(self, name)
            and name not in self._parameters
            and name not in self._buffers
            and name not in self._modules
        ):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(dslib.nn.Parameter or None required)"
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"cannot assign non-leaf Tensor to parameter '{name}': wrap a detached tensor, "
                f"Parameter(t.detach()), or compute it in forward()"
            )
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is state but not a parameter (BatchNorm's running_mean); persistent ones are saved."""
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._check_init("child modules")
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f'module name must be a non-empty string without ".", got {name!r}')
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self.__dict__.pop(name, None)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(dslib.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self.__dict__.pop(name, None)
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' (Module or None expected)"
                )
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ----- traversal -----
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(name, Parameter) pairs; a parameter shared by two submodules appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{mod._get_name()} has no submodule '{part}' (looking up '{target}')")
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter '{name}' (looking up '{target}')")
        return mod._parameters[name]

    # ----- modes and transforms -----
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.zero_()

    def apply(self, fn) -> Module:
        """Call fn(m) on every submodule (children first) and then on self, as torch does."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, device, dtype):
        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                p._data = _moved(p, device, dtype)  # same Parameter object: optimizers keep working
                if p.grad is not None:
                    p.grad = Tensor._make(_moved(p.grad, device, dtype))
            for b in m._buffers.values():
                if b is not None:
                    b._data = _moved(b, device, dtype)
        return self

    def to(self, *args, **kwargs) -> Module:
        """to(device), to(dtype), to(device, dtype) or to(tensor): moves/casts params and buffers in place.

        Only floating point tensors change dtype (integer buffers such as num_batches_tracked keep
        theirs). Parameters stay the same Python objects, so an optimizer built before `to()` still works.
        """
        device, dtype = _parse_to(args, dict(kwargs))
        if device is not None:
            get_backend(device)  # fail early on an unknown or unavailable device
        return self._apply_to_tensors(device, dtype)

    def cpu(self) -> Module:
        return self.to("numpy")

    def cuda(self, device: int | None = None) -> Module:
        return self.to(f"cuda:{device or 0}")

    def float(self) -> Module:
        return self.to(dtypes.float32)

    def double(self) -> Module:
        return self.to(dtypes.float64)

    def half(self) -> Module:
        return self.to(dtypes.float16)

    def bfloat16(self) -> Module:
        return self.to(dtypes.bfloat16)

    # ----- hooks and calling -----
    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, args) -> None or new args (a tuple, or one value), run before forward."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook) -> RemovableHandle:
        """hook(module, args, output) -> None or a replacement output, run after forward."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    # ----- state dict -----
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Ordered {dotted name: tensor} of parameters and persistent buffers (detached unless keep_vars)."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, missing_keys, errors):
        local = [(n, p) for n, p in self._parameters.items() if p is not None]
        local += [
            (n, b) for n, b in self._buffers.items() if b is not None and n not in self._non_persistent_buffers_set
        ]
        for name, target in local:
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                errors.append(
                    f'While copying the parameter named "{key}", expected a dslib Tensor but got '
                    f"{type(value).__name__} (convert torch tensors with dslib.interop.from_torch_state_dict)"
                )
                continue
            if tuple(value.shape) != tuple(target.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from checkpoint, "
                    f"the shape in current model is {tuple(target.shape)}."
                )
                continue
            _copy_into(target, value)

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy tensors from `state_dict` into this module's parameters and buffers (in place).

        Returns (missing_keys, unexpected_keys). With strict=True any missing or unexpected key is an
        error; a shape mismatch is always an error. The error message lists every offending key.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing, errors = [], []
        expected = set()
        for prefix, m in self.named_modules(remove_duplicate=False):
            p = prefix + "." if prefix else ""
            m._load_from_state_dict(state_dict, p, missing, errors)
            expected.update(p + n for n, v in m._parameters.items() if v is not None)
            expected.update(
                p + n for n, v in m._buffers.items() if v is not None and n not in m._non_persistent_buffers_set
            )
        missing = list(dict.fromkeys(missing))
        unexpected = [k for k in state_dict.keys() if k not in expected]
        msgs = []
        if strict:
            if unexpected:
                msgs.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                msgs.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        msgs += errors
        if msgs:
            raise RuntimeError(f"Error(s) in loading state_dict for {self._get_name()}:\n\t" + "\n\t".join(msgs))
        return _IncompatibleKeys(missing, unexpected)

    # ----- copying -----
    def __deepcopy__(self, memo):
        """copy.deepcopy(model): fresh parameters and buffers (grads too), shared ones stay shared.

        Tensors are not picklable (see Tensor.__reduce_ex__), so the module's own tensors are copied here
        and entered into the memo before the attribute dicts are deep-copied.
        """
        for t in itertools.chain(self.parameters(), self.buffers()):
            if id(t) not in memo:
                memo[id(t)] = _tensor_copy(t)
        new = object.__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            object.__setattr__(new, key, copy.deepcopy(value, memo))
        return new

    # ----- repr -----
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in repr (e.g. 'in_features=3, out_features=4')."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
