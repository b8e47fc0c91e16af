"""labkit.tasks: the `@task("1.3")` decorator that ties a lab function to its task id.

nbgrader replaces a solution region with a fixed stub (`raise NotImplementedError()`) and cannot put the
task id into it. The decorator does it instead: when the decorated function's own body raises a bare
`NotImplementedError()` (the released stub), it is re-raised as

    NotImplementedError("Task 1.3 — not implemented yet: write the body of topo_sort ...")

so the student can follow any failure back to the task's cell. A NotImplementedError that already carries a
message (say, from another task's stub called inside this one) passes through unchanged.

On a class (a `dslib.autograd.Function` subclass, say), every function and staticmethod defined in the class
body is wrapped the same way.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["task", "task_of"]


def task(task_id: str, hint: str | None = None):
    """Decorator: mark a function or class as the answer to task `task_id` (e.g. "1.3")."""
    if not isinstance(task_id, str) or not task_id:
        raise TypeError(f'labkit.task: the task id must be a string such as "1.3", got {task_id!r}')

    def decorate(obj):
        if inspect.isclass(obj):
            for name, member in list(vars(obj).items()):
                if isinstance(member, staticmethod):
                    setattr(obj, name, staticmethod(_wrap(member.__func__, task_id, hint, f"{obj.__name__}.{name}")))
                elif isinstance(member, classmethod):
                    setattr(obj, name, classmethod(_wrap(member.__func__, task_id, hint, f"{obj.__name__}.{name}")))
                elif inspect.isfunction(member):
                    setattr(obj, name, _wrap(member, task_id, hint, f"{obj.__name__}.{name}"))
            obj.__labkit_task__ = task_id
            return obj
        if callable(obj):
            return _wrap(obj, task_id, hint, getattr(obj, "__name__", repr(obj)))
        raise TypeError(f"labkit.task({task_id!r}) decorates a function or a class, not {type(obj).__name__}")

    return decorate


def task_of(obj) -> str | None:
    """The task id an object was decorated with, or None."""
    return getattr(obj, "__labkit_task__", None)


def _wrap(fn, task_id, hint, qualname):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as e:
            if e.args:  # a message already (another task's stub, or a deliberate one): keep it
                raise
            what = hint or f"write the body of {qualname} (replace the `raise NotImplementedError()` line)"
            raise NotImplementedError(f"Task {task_id} — not implemented yet: {what}") from None

    wrapper.__labkit_task__ = task_id
    return wrapper
