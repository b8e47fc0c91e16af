"""labkit/checks.py: assert_close's failure messages say what differs; gradcheck catches a wrong backward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dslib
import labkit


def test_assert_close_accepts_numbers_sequences_arrays_and_tensors():
    labkit.assert_close(1.0 + 1e-9, 1.0, "x")
    labkit.assert_close([1.0, 2.0], (1.0, 2.0), "x")
    labkit.assert_close(dslib.tensor([1.0, 2.0]), np.array([1.0, 2.0]), "x")
    labkit.assert_close(torch.tensor([1.0, 2.0], requires_grad=True) * 1, [1.0, 2.0], "x")
    labkit.assert_close(float("nan"), math.nan, "x")


def test_a_scalar_mismatch_names_what_was_expected_and_what_came():
    with pytest.raises(AssertionError, match=r"^Task 1\.1: a\.grad: expected -3\.0, got 2\.0 \(abs\. error 5,"):
        labkit.assert_close(2.0, -3.0, "Task 1.1: a.grad")


def test_an_array_mismatch_counts_the_bad_values_and_shows_the_first():
    with pytest.raises(
        AssertionError, match=r"Task 2\.1: out: 1 of 3 values differ; first at index \(1,\): expected 2, got 5"
    ):
        labkit.assert_close([1.0, 5.0, 3.0], [1.0, 2.0, 3.0], "Task 2.1: out")


def test_none_a_wrong_shape_and_a_non_number_fail_with_their_own_message():
    with pytest.raises(AssertionError, match=r"got None \(did the code return or set it\?\)"):
        labkit.assert_close(None, 1.0, "t")
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got shape \(2,\)"):
        labkit.assert_close([1.0, 2.0], [1.0, 2.0, 3.0], "t")
    with pytest.raises(AssertionError, match="expected a number or an array, got str"):
        labkit.assert_close("one", 1.0, "t")
    with pytest.raises(AssertionError, match="expected 1.0, got nan"):
        labkit.assert_close(math.nan, 1.0, "t")


def test_tolerances_are_relative_and_absolute():
    labkit.assert_close(1000.5, 1000.0, "t", rtol=1e-3)
    with pytest.raises(AssertionError):
        labkit.assert_close(1000.5, 1000.0, "t", rtol=1e-4)


class _Cube(dslib.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class _WrongCube(_Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x + 0.01


def test_gradcheck_passes_a_correct_backward_on_every_element():
    x = dslib.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=dslib.float64, requires_grad=True)
    assert labkit.gradcheck(_Cube.apply, [x]) is True


def test_gradcheck_fails_a_wrong_backward_with_a_readable_message():
    x = dslib.tensor([0.3, -1.2, 2.0], dtype=dslib.float64, requires_grad=True)
    with pytest.raises(
        AssertionError, match=r"Task 1\.7: gradient of input 0 \(backward\) vs central differences: 3 of 3"
    ):
        labkit.gradcheck(_WrongCube.apply, [x], msg="Task 1.7")


def test_gradcheck_needs_float64_inputs():
    x = dslib.tensor([0.3, -1.2], requires_grad=True)
    with pytest.raises(AssertionError, match="need dslib.float64"):
        labkit.gradcheck(_Cube.apply, [x])


def test_gradcheck_checks_several_inputs_and_skips_those_without_grad():
    a = dslib.tensor([0.5, -1.0], dtype=dslib.float64, requires_grad=True)
    b = dslib.tensor([2.0, 3.0], dtype=dslib.float64)
    assert labkit.gradcheck(lambda a, b: (a * b).tanh(), [a, b])
    c = dslib.tensor([2.0, 3.0], dtype=dslib.float64, requires_grad=True)
    assert labkit.gradcheck(lambda a, c: (a * c).tanh() + c.exp(), [a, c])
