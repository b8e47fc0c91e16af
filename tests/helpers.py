"""The shared op-checking helper (tinygrad's `helper_test_op`, for dslib).

    check_op([(3, 4), (4,)], torch_fn=lambda a, b: a * b, dslib_fn=lambda a, b: a * b)

For each device (numpy, torch) it draws random float inputs of the given shapes, runs the op in dslib
and in PyTorch, and compares (1) the forward values and (2) the gradients of a random linear
function of the output, computed by dslib's autograd and by torch.autograd. It then checks dslib's
gradients against central finite differences in float64 on the numpy device.

`inputs=` gives explicit arrays instead of shapes (e.g. positive values for log, or integer index
arrays with requires_grad=False via `grad=[True, False]`).
"""

from __future__ import annotations

import numpy as np
import torch

import dslib

DEVICES = ("numpy", "torch")
TOL = {"float32": (1e-5, 1e-4), "float64": (1e-9, 1e-7)}  # (atol, rtol) for forward and gradients


def _to_dslib(arr, device, grad):
    t = dslib.tensor(arr, device=device)
    if grad:
        t.requires_grad_(True)
    return t


def _to_torch(arr, grad):
    t = torch.tensor(arr)
    if grad:
        t.requires_grad_(True)
    return t


def _as_np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach().to("numpy").numpy())


def check_op(
    shapes=None,
    torch_fn=None,
    dslib_fn=None,
    *,
    inputs=None,
    grad=None,
    dtype="float32",
    devices=DEVICES,
    atol=None,
    rtol=None,
    low=-2.0,
    high=2.0,
    finite_diff=True,
    fd_eps=1e-6,
    fd_max_elems=64,
    seed=0,
):
    """Compare dslib_fn with torch_fn, forward and backward, on every device; then finite differences.

    dslib_fn receives dslib Tensors, torch_fn torch tensors, in the same order. Returns nothing; raises
    AssertionError with the device, the input index and the max difference on any mismatch.
    """
    torch_fn = torch_fn or dslib_fn
    dslib_fn = dslib_fn or torch_fn
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]
    inputs = [np.asarray(a) for a in inputs]
    if grad is None:
        grad = [a.dtype.kind == "f" for a in inputs]
    d_atol, d_rtol = TOL.get(dtype, TOL["float32"])
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol

    t_in = [_to_torch(a, g) for a, g in zip(inputs, grad)]
    t_out = torch_fn(*t_in)
    ref = t_out.detach().numpy()
    out_grad = rng.standard_normal(ref.shape).astype(ref.dtype) if ref.dtype.kind == "f" else None
    t_grads = None
    if out_grad is not None and any(grad):
        t_out.backward(torch.tensor(out_grad))
        t_grads = [t.grad.numpy() if g and t.grad is not None else None for t, g in zip(t_in, grad)]

    for device in devices:
        d_in = [_to_dslib(a, device, g) for a, g in zip(inputs, grad)]
        d_out = dslib_fn(*d_in)
        got = _as_np(d_out)
        assert got.shape == ref.shape, f"[{device}] forward shape {got.shape} != torch {ref.shape}"
        np.testing.assert_allclose(got, ref, atol=atol, rtol=rtol, err_msg=f"[{device}] forward")
        if t_grads is None:
            continue
        d_out.backward(dslib.tensor(out_grad, device=device))
        for i, (t, tg) in enumerate(zip(d_in, t_grads)):
            if tg is None:
                continue
            assert t.grad is not None, f"[{device}] input {i}: dslib produced no gradient"
            np.testing.assert_allclose(
                _as_np(t.grad), tg, atol=atol, rtol=rtol, err_msg=f"[{device}] grad of input {i}"
            )

    if finite_diff and t_grads is not None:
        check_finite_differences(dslib_fn, inputs, grad, eps=fd_eps, max_elems=fd_max_elems, seed=seed)


def check_finite_differences(dslib_fn, inputs, grad, eps=1e-6, max_elems=64, seed=0, atol=1e-5, rtol=1e-4):
    """dslib's float64 gradients of sum(out * w) against central differences, on the numpy device."""
    rng = np.random.default_rng(seed + 1)
    inputs64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs]
    d_in = [_to_dslib(a, "numpy", g) for a, g in zip(inputs64, grad)]
    out = dslib_fn(*d_in)
    w = rng.standard_normal(out.shape)
    (out * dslib.tensor(w, dtype=dslib.float64)).sum().backward()

    def f(arrays):
        with dslib.no_grad():
            o = dslib_fn(*[dslib.tensor(a) for a in arrays])
        return float((o.numpy().astype(np.float64) * w).sum())

    for i, (a, g) in enumerate(zip(inputs64, grad)):
        if not g:
            continue
        got = d_in[i].grad
        analytic = np.zeros(a.size) if got is None else got.numpy().reshape(-1)  # no gradient: d(out)/d(input) = 0
        flat_idx = rng.choice(a.size, size=min(a.size, max_elems), replace=False)
        for j in flat_idx:
            plus, minus = [x.copy() for x in inputs64], [x.copy() for x in inputs64]
            plus[i].reshape(-1)[j] += eps
            minus[i].reshape(-1)[j] -= eps
            numeric = (f(plus) - f(minus)) / (2 * eps)
            assert abs(numeric - analytic[j]) <= atol + rtol * abs(numeric), (
                f"finite differences: input {i} element {j}: numeric {numeric:.8g} vs autograd {analytic[j]:.8g}"
            )
