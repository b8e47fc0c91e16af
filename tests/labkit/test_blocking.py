"""labkit/blocking.py: reference_blocked makes the reference implementation unusable inside the block, by
any of its names, and restores everything afterwards."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import dslib
import dslib.ops.elementwise as E
import labkit

_alias_of_silu = dslib.silu  # a module-level copy, as a student's `from dslib import silu` makes


def test_a_blocked_function_raises_reference_used_naming_the_task_and_is_restored_after():
    original = dslib.silu
    with pytest.raises(labkit.ReferenceUsed, match=r"^Task 1\.7: dslib\.silu is blocked here: write it yourself"):
        with labkit.reference_blocked("dslib.silu", task="1.7"):
            dslib.silu(dslib.ones(2))
    assert dslib.silu is original
    assert dslib.silu(dslib.zeros(1)).tolist() == [0.0]


def test_reference_used_is_an_assertion_error_so_graders_count_a_failed_test():
    assert issubclass(labkit.ReferenceUsed, AssertionError)


def test_every_other_name_of_the_same_function_is_blocked_too():
    for fn_name in ("dslib.nn.functional.silu", "dslib.ops.api.silu", "_alias_of_silu"):
        with pytest.raises(labkit.ReferenceUsed, match=r"^dslib\.silu is blocked"):
            with labkit.reference_blocked("dslib.silu"):
                eval(fn_name)(dslib.ones(1))
    assert _alias_of_silu is dslib.ops.api.silu is dslib.nn.functional.silu


def test_a_blocked_static_method_is_blocked_in_subclasses_and_restored_exactly():
    class MySilu(E.Silu):
        pass

    raw = inspect.getattr_static(E.Silu, "forward")
    with pytest.raises(labkit.ReferenceUsed, match="Silu.forward is blocked"):
        with labkit.reference_blocked("dslib.ops.elementwise.Silu.forward", task="1.7"):
            MySilu.apply(dslib.ones(2))
    assert inspect.getattr_static(E.Silu, "forward") is raw
    assert "forward" not in vars(MySilu)
    np.testing.assert_allclose(MySilu.apply(dslib.zeros(2)).numpy(), [0.0, 0.0])


def test_a_student_class_that_copied_the_reference_method_is_blocked_in_the_notebook_namespace():
    namespace = {"__name__": "__main__", "labkit": labkit, "dslib": dslib, "E": E}
    code = (
        "class Swish(dslib.autograd.Function):\n"
        "    forward = staticmethod(E.Silu.forward)\n"
        "    backward = staticmethod(E.Silu.backward)\n"
        "with labkit.reference_blocked('dslib.ops.elementwise.Silu.forward', task='1.7'):\n"
        "    Swish.apply(dslib.ones(2))\n"
    )
    with pytest.raises(labkit.ReferenceUsed, match="Silu.forward is blocked"):
        exec(code, namespace)
    assert (
        inspect.getattr_static(namespace["Swish"], "forward").__func__
        is inspect.getattr_static(E.Silu, "forward").__func__
    )


def test_swallowing_the_exception_does_not_help_leaving_the_block_raises_it():
    with pytest.raises(labkit.ReferenceUsed, match="dslib.silu is blocked"):
        with labkit.reference_blocked("dslib.silu") as blocked:
            try:
                dslib.silu(dslib.ones(1))
            except Exception:
                pass
    assert blocked.used == ["dslib.silu"]


def test_blocking_torch_autograd_stops_backward_and_leaves_torch_working_after():
    x = torch.ones(2, requires_grad=True)
    for call in (lambda: (x * x).sum().backward(), lambda: torch.autograd.backward((x * x).sum())):
        with pytest.raises(labkit.ReferenceUsed, match=r"^Task 1\.6: torch\.(autograd|Tensor)\.backward is blocked"):
            with labkit.reference_blocked("torch.autograd.backward", "torch.Tensor.backward", task="1.6"):
                call()
    with labkit.reference_blocked("torch.autograd.backward", "torch.Tensor.backward"):
        y = (x * 3).sum()  # the forward still works
    y.backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_an_error_in_the_block_propagates_and_everything_is_restored():
    original = dslib.silu
    with pytest.raises(KeyError):
        with labkit.reference_blocked("dslib.silu"):
            raise KeyError("boom")
    assert dslib.silu is original and dslib.nn.functional.silu is original


def test_an_unknown_name_is_a_value_error_and_blocks_nothing():
    original = dslib.silu
    with pytest.raises(ValueError, match="does not exist"):
        with labkit.reference_blocked("dslib.silu", "dslib.no_such_function"):
            pass
    assert dslib.silu is original
    with pytest.raises(ValueError, match="not a dotted path"):
        labkit.reference_blocked("silu").__enter__()


def test_two_names_of_the_same_function_block_and_restore_cleanly():
    original = dslib.silu
    with pytest.raises(labkit.ReferenceUsed):
        with labkit.reference_blocked("dslib.silu", "dslib.ops.api.silu"):
            dslib.nn.functional.silu(dslib.ones(1))
    assert dslib.silu is dslib.ops.api.silu is dslib.nn.functional.silu is original


class _Base:
    def method(self):
        return "reference"


class _Child(_Base):
    pass


def test_an_inherited_method_named_through_a_subclass_is_blocked_there_and_removed_after():
    with pytest.raises(labkit.ReferenceUsed, match="_Child.method is blocked"):
        with labkit.reference_blocked(f"{__name__}._Child.method"):
            _Child().method()
    assert "method" not in vars(_Child) and _Child().method() == "reference"
