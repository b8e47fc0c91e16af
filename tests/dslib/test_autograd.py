"""The autograd engine (dslib/autograd.py): backward, accumulation, grad modes, hooks, retain_grad,
deep graphs, the version counter, freed graphs, and custom Functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from dslib.autograd import Function


def test_backward_of_a_scalar_fills_leaf_grads(device):
    x = dslib.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    assert x.grad.device == device and x.grad.dtype is x.dtype and not x.grad.requires_grad


def test_backward_with_an_explicit_gradient_matches_torch(device):
    g = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    x = dslib.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    (x.exp() * 2).backward(dslib.tensor(g, device=device))
    xt = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (xt.exp() * 2).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_grads_accumulate_over_backward_calls_and_shared_uses():
    x = dslib.tensor([1.0, 2.0], requires_grad=True)
    (x * x + x).sum().backward()  # x used twice: 2x + 1
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 1 + 1 + 3, 2 * 2 + 1 + 3])


def test_leaf_grads_never_share_memory_with_each_other_or_the_given_gradient(device):
    a = dslib.ones(3, device=device, requires_grad=True)
    b = dslib.ones(3, device=device, requires_grad=True)
    g = dslib.ones(3, device=device)
    (a + b).backward(g)
    a.grad.mul_(5)
    assert b.grad.tolist() == [1.0, 1.0, 1.0] and g.tolist() == [1.0, 1.0, 1.0]


def test_gradient_is_cast_and_reduced_to_the_leaf_dtype_and_shape():
    x = dslib.ones(3, 1, dtype=dslib.float32, requires_grad=True)
    y = x.double() * dslib.ones(1, 4, dtype=dslib.float64)
    y.sum().backward()
    assert x.grad.dtype is dslib.float32 and x.grad.shape == (3, 1)
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 1), 4.0))


def test_no_grad_and_enable_grad_as_context_managers():
    x = dslib.ones(2, requires_grad=True)
    with dslib.no_grad():
        y = x * 2
        assert not dslib.is_grad_enabled()
        with dslib.enable_grad():
            z = x * 2
    assert dslib.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_and_enable_grad_as_decorators_with_and_without_parentheses():
    x = dslib.ones(2, requires_grad=True)

    @dslib.no_grad()
    def f():
        return x * 2

    @dslib.no_grad
    def g():
        return x * 2

    @dslib.enable_grad()
    def h():
        return x * 2

    assert not f().requires_grad and not g().requires_grad
    with dslib.no_grad():
        assert h().requires_grad
    assert dslib.is_grad_enabled()


def test_a_recursive_no_grad_function_restores_grad_mode():
    @dslib.no_grad()
    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(5) == 5
    assert dslib.is_grad_enabled()


def test_set_grad_enabled_and_exceptions_restore_the_mode():
    with dslib.set_grad_enabled(False):
        assert not dslib.is_grad_enabled()
    with pytest.raises(ZeroDivisionError), dslib.no_grad():
        1 / 0  # noqa: B018
    assert dslib.is_grad_enabled()


def test_detach_shares_memory_but_cuts_the_graph():
    x = dslib.ones(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d.add_(1)  # shares memory, as torch
    assert y.tolist() == [3.0, 3.0, 3.0]


def test_requires_grad_flag_rules():
    x = dslib.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match=r"only floating point tensors can require gradients, got dtype dslib.int64"):
        dslib.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match=r"requires_grad_\(False\) only works on leaf tensors.*detach"):
        (x * 2).requires_grad_(False)
    assert dslib.tensor([1.0], requires_grad=True).requires_grad


def test_hook_on_a_leaf_can_replace_the_gradient_and_be_removed():
    x = dslib.ones(2, requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: (seen.append(g.tolist()), g * 10)[1])
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_hook_on_a_non_leaf_sees_and_replaces_its_gradient_like_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        seen = []
        y.register_hook(lambda g: seen.append(g.tolist()))
        y.register_hook(lambda g: g * 2)
        (y * 3).sum().backward()
        return seen, x.grad.tolist()

    assert run(dslib) == run(torch)


def test_retain_grad_keeps_a_non_leaf_grad_after_its_hooks_like_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        y.retain_grad()
        y.register_hook(lambda g: g + 1)
        (y * 3).sum().backward()
        return y.grad.tolist(), x.grad.tolist()

    assert run(dslib) == run(torch)


def test_post_accumulate_grad_hook_runs_after_grad_is_stored():
    x = dslib.ones(2, requires_grad=True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * 4).sum().backward()
    assert seen == [[4.0, 4.0]]
    with pytest.raises(RuntimeError, match=r"only be registered on leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_a_chain_of_20000_ops_does_not_hit_the_recursion_limit():
    """The engine walks the graph iteratively: depth is bounded by memory, not Python's stack."""
    x = dslib.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_diamond_graph_gradient_matches_torch():
    def run(lib):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        a = x.exp()
        b = a * x
        c = a.sin() + b.tanh() * a
        c.sum().backward()
        return x.grad.numpy()

    np.testing.assert_allclose(run(dslib), run(torch), rtol=1e-6)


def test_inplace_change_of_a_saved_tensor_is_caught_with_op_and_versions(device):
    x = dslib.ones(3, device=device, requires_grad=True)
    y = x * 2
    z = y * y  # Mul saves y
    y.add_(1)
    with pytest.raises(
        RuntimeError, match=r"MulBackward.*modified by an in-place operation.*version 1.*expected version 0"
    ):
        z.sum().backward()


def test_inplace_change_of_a_saved_output_is_caught():
    x = dslib.ones(3, requires_grad=True)
    y = x.exp()  # Exp saves its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match=r"ExpBackward.*the op's output.*version 1"):
        y.sum().backward()


def test_backward_twice_through_a_freed_graph_raises_clearly():
    x = dslib.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = dslib.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_backward_on_a_non_scalar_without_gradient_asks_for_one():
    x = dslib.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"implicitly created only for scalar outputs.*shape \(2, 3\).*gradient="):
        (x * 2).backward()


def test_backward_on_a_tensor_without_grad_fn_explains_why():
    with pytest.raises(RuntimeError, match=r"does not require grad.*requires_grad=True"):
        dslib.ones(2).sum().backward()


def test_gradient_of_the_wrong_shape_is_refused():
    x = dslib.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the tensor has shape \(2, 3\)"):
        (x * 2).backward(dslib.ones(3))


class Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * x * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x * ctx.scale, None


def test_a_custom_function_with_a_non_tensor_argument(device):
    x = dslib.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name == "CubeBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 24.0])


def test_only_inputs_that_need_it_get_gradients():
    a = dslib.ones(2, requires_grad=True)
    b = dslib.ones(2)
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_integer_and_bool_results_do_not_require_grad_like_torch(device):
    x = dslib.tensor([1.5, -2.0], device=device, requires_grad=True)
    for out in (x.long(), x.to(dslib.int32), x.bool(), x > 0, x.argmax()):
        assert not out.requires_grad and out.grad_fn is None
    (x.long().float() * 2 + x).sum().backward()  # the integer branch contributes nothing
    assert x.grad.tolist() == [1.0, 1.0]
