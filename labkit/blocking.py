"""labkit.blocking: `reference_blocked`, which makes the library's own answer unusable during a hidden test.

A lab asks the student to write a piece that dslib (or PyTorch) already has. A hidden test runs the student's
code inside

    with labkit.reference_blocked("dslib.silu", "dslib.ops.elementwise.Silu.forward", task="1.7"):
        y = swish(x)

and every named attribute is swapped, for the duration of the block, for a function that raises
`ReferenceUsed("Task 1.7: dslib.silu is blocked here: write it yourself")`.

Names are dotted paths: a module attribute (`dslib.silu`), or an attribute of a class (`torch.Tensor.backward`,
`dslib.ops.elementwise.Silu.forward`: subclasses inherit the blocked one). Other names bound to the same object
are blocked too, so re-exports and `from x import y` copies cannot get around it: every module of the named
package (`dslib.nn.functional.silu` is `dslib.ops.api.silu`), and the calling namespace (the notebook's
globals) with the classes defined in it (a student's `forward = Silu.forward`).

A student who catches the exception and carries on still fails: leaving the block raises ReferenceUsed if any
blocked name was called inside it. ReferenceUsed is an AssertionError, so graders count it as a failed test.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
import warnings

__all__ = ["ReferenceUsed", "reference_blocked"]


class ReferenceUsed(AssertionError):
    """Raised when code under test calls a reference implementation that the test blocks."""


class reference_blocked:  # noqa: N801 - used like a function: `with reference_blocked(...)`
    """Context manager: the named attributes raise ReferenceUsed while the block runs (see the module doc)."""

    def __init__(self, *names: str, task: str | None = None):
        if not names:
            raise TypeError("reference_blocked: name at least one dotted attribute, e.g. 'dslib.silu'")
        self.names = names
        self.task = task
        self.used: list[str] = []  # the blocked names that were called, in order
        self._swaps: list[tuple] = []  # (namespace, attribute, had_own_value, original)

    def _message(self, name):
        prefix = f"Task {self.task}: " if self.task else ""
        return f"{prefix}{name} is blocked here: write it yourself instead of calling the reference implementation"

    def _blocker(self, name):
        def blocked(*args, **kwargs):
            self.used.append(name)
            raise ReferenceUsed(self._message(name))

        blocked.__name__ = blocked.__qualname__ = f"blocked<{name}>"
        return blocked

    def __enter__(self):
        caller = inspect.currentframe().f_back
        extra_namespaces = [caller.f_globals] if caller is not None else []
        del caller
        try:
            for name in self.names:
                owner, attr = _resolve_parent(name)
                target = _unwrap(inspect.getattr_static(owner, attr))
                blocker = self._blocker(name)
                self._swap(owner, attr, blocker)
                for namespace, key in _aliases(target, name.split(".")[0], extra_namespaces):
                    try:
                        self._swap(namespace, key, blocker)
                    except (TypeError, AttributeError):
                        pass  # an immutable (C extension) type: nothing can call through it by that name anyway
        except BaseException:
            self._restore()
            raise
        return self

    def _swap(self, namespace, key, blocker):
        if any(ns is namespace and k == key for ns, k, _, _ in self._swaps):
            return  # already blocked under another of the names
        if isinstance(namespace, dict):  # a module's globals or the notebook's namespace
            original, had_own = namespace[key], True
            namespace[key] = _rewrap(original, blocker)
        else:  # a module or a class: a class may inherit the attribute rather than own it
            own = vars(namespace).get(key, _MISSING)
            had_own = own is not _MISSING
            original = own if had_own else inspect.getattr_static(namespace, key)
            setattr(namespace, key, _rewrap(original, blocker))
        self._swaps.append((namespace, key, had_own, original))

    def _restore(self):
        for namespace, key, had_own, original in reversed(self._swaps):
            if isinstance(namespace, dict):
                namespace[key] = original
            elif had_own:
                setattr(namespace, key, original)
            else:
                delattr(namespace, key)
        self._swaps.clear()

    def __exit__(self, exc_type, exc, tb):
        self._restore()
        if exc_type is None and self.used:
            # the code under test swallowed the ReferenceUsed and carried on: it still used the reference
            raise ReferenceUsed(self._message(self.used[0]))
        return False


_MISSING = object()


def _resolve_parent(name: str):
    """('dslib.ops.elementwise.Silu.forward') -> (the Silu class, 'forward'): import the longest module prefix."""
    parts = name.split(".")
    if len(parts) < 2:
        raise ValueError(f"reference_blocked: {name!r} is not a dotted path such as 'dslib.silu'")
    obj = None
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        rest = parts[i:]
        break
    if obj is None:
        raise ValueError(f"reference_blocked: cannot import any module prefix of {name!r}")
    for part in rest[:-1]:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"reference_blocked: {name!r} does not exist ({part!r} is missing)") from None
    try:
        inspect.getattr_static(obj, rest[-1])
    except AttributeError:
        raise ValueError(f"reference_blocked: {name!r} does not exist") from None
    return obj, rest[-1]


def _unwrap(value):
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    return value


def _rewrap(original, blocker):
    """The blocker, wrapped as the original was (a staticmethod stays a staticmethod)."""
    if isinstance(original, staticmethod):
        return staticmethod(blocker)
    if isinstance(original, classmethod):
        return classmethod(lambda cls, *a, **k: blocker(*a, **k))
    return blocker


def _aliases(target, package: str, extra_namespaces):
    """(namespace, key) for every other binding of `target` in the package's modules and the extra namespaces.

    Module globals are scanned (a dict namespace), and the classes defined in a scanned namespace (class
    attributes: `Tensor.silu = api.silu`, or a student's `forward = Silu.forward`)."""
    if isinstance(target, (int, float, str, bytes, bool, type(None))):
        return []  # constants are not implementations; `is` on them would match unrelated names
    found = []
    with warnings.catch_warnings():  # touching some modules' deprecated attributes warns (torch.distributed)
        warnings.simplefilter("ignore")
        _scan(target, package, extra_namespaces, found)
    return found


def _scan(target, package, extra_namespaces, found):
    namespaces = [
        m.__dict__
        for n, m in list(sys.modules.items())
        if m is not None and (n == package or n.startswith(package + "."))
    ]
    namespaces += extra_namespaces
    seen = set()
    extra_ids = {id(ns) for ns in extra_namespaces}
    for ns in namespaces:
        if id(ns) in seen:
            continue
        seen.add(id(ns))
        module_name = ns.get("__name__")
        for key, value in list(ns.items()):
            if _unwrap(value) is target:
                found.append((ns, key))
            elif isinstance(value, type) and (value.__module__ == module_name or id(ns) in extra_ids):
                for ckey, cvalue in list(vars(value).items()):
                    if _unwrap(cvalue) is target and not isinstance(cvalue, types.MemberDescriptorType):
                        found.append((value, ckey))
