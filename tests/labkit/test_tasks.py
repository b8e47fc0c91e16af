"""labkit/tasks.py: @labkit.task puts the task id into the released stub's NotImplementedError."""

from __future__ import annotations

import pytest

import dslib
import labkit


def test_a_bare_stub_raises_not_implemented_naming_the_task_and_the_function():
    @labkit.task("1.3")
    def topo_sort(root):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError, match=r"^Task 1\.3 — not implemented yet: write the body of topo_sort"):
        topo_sort(None)


def test_the_hint_replaces_the_default_advice():
    @labkit.task("2.1", hint="start from the forward of Task 2.0")
    def f():
        raise NotImplementedError

    with pytest.raises(NotImplementedError, match=r"^Task 2\.1 — not implemented yet: start from the forward"):
        f()


def test_another_tasks_stub_inside_passes_through_with_its_own_id():
    @labkit.task("1.3")
    def topo_sort(root):
        raise NotImplementedError()

    @labkit.task("1.4")
    def backward(root):
        return topo_sort(root)

    with pytest.raises(NotImplementedError, match=r"^Task 1\.3 "):
        backward(None)


def test_a_finished_function_keeps_its_result_name_doc_and_other_errors():
    @labkit.task("1.1")
    def add(a, b):
        """a + b"""
        if a is None:
            raise ValueError("a is None")
        return a + b

    assert add(2, 3) == 5
    assert add.__name__ == "add" and add.__doc__ == "a + b"
    assert labkit.task_of(add) == "1.1"
    with pytest.raises(ValueError, match="a is None"):
        add(None, 1)


def test_on_a_dslib_function_class_each_static_method_names_the_task():
    @labkit.task("1.7")
    class Swish(dslib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            raise NotImplementedError()

        @staticmethod
        def backward(ctx, grad):
            raise NotImplementedError()

    assert labkit.task_of(Swish) == "1.7"
    with pytest.raises(
        NotImplementedError, match=r"^Task 1\.7 — not implemented yet: write the body of Swish\.forward"
    ):
        Swish.apply(dslib.ones(3, requires_grad=True))


def test_a_decorated_dslib_function_still_runs_forward_and_backward():
    @labkit.task("1.7")
    class Double(dslib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad

    x = dslib.ones(3, requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_a_task_id_must_be_a_string():
    with pytest.raises(TypeError, match="task id must be a string"):
        labkit.task(1.3)
