"""labkit.checks: assertions for lab test cells whose failure messages tell the student what went wrong.

    labkit.assert_close(a.grad, -3.0, "Task 1.1: mul(a, b) backward, a.grad")
    -> AssertionError: Task 1.1: mul(a, b) backward, a.grad: expected -3.0, got 2.0 (abs. error 5, allowed 1e-06)

    labkit.gradcheck(swish, [x])   # dslib's gradients against central finite differences (float64)

Values may be Python numbers, sequences, NumPy arrays, dslib or torch tensors.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assert_close", "gradcheck", "to_numpy"]


def to_numpy(x) -> np.ndarray:
    """A float64 NumPy copy of a number, a (nested) sequence, an array, or a dslib / torch tensor."""
    if hasattr(x, "detach"):  # dslib.Tensor or torch.Tensor
        x = x.detach()
        if hasattr(x, "cpu"):
            x = x.cpu()
        x = x.numpy()
    elif isinstance(x, (list, tuple)):
        x = [to_numpy(v) for v in x]
    return np.asarray(x, dtype=np.float64)


def assert_close(actual, expected, msg: str, *, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """Raise AssertionError("msg: expected ..., got ...") unless |actual - expected| <= atol + rtol * |expected|.

    `msg` says what is compared and names the task ("Task 1.2: tanh(0.5).data"). A None, a wrong shape or
    a NaN fails with its own message rather than a NumPy error."""
    if actual is None:
        raise AssertionError(f"{msg}: expected {_short(expected)}, got None (did the code return or set it?)")
    try:
        a = to_numpy(actual)
    except (TypeError, ValueError) as e:
        raise AssertionError(
            f"{msg}: expected a number or an array, got {type(actual).__name__}: {_short(actual)}"
        ) from e
    e = to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg}: expected shape {e.shape}, got shape {a.shape} ({_short(actual)})")
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return
    diff = np.abs(a - e)
    if a.ndim == 0:
        raise AssertionError(
            f"{msg}: expected {_short(expected)}, got {_short(actual)} (abs. error {float(diff):.3g}, "
            f"allowed {atol + rtol * abs(float(e)):.3g})"
        )
    idx = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1))), a.shape)
    raise AssertionError(
        f"{msg}: {int(bad.sum())} of {a.size} values differ; first at index {tuple(int(i) for i in idx)}: "
        f"expected {e[idx]:.6g}, got {a[idx]:.6g}\n  expected {_short(expected)}\n  got      {_short(actual)}"
    )


def _short(x, limit: int = 120) -> str:
    if hasattr(x, "detach") or isinstance(x, np.ndarray):
        try:
            x = to_numpy(x).tolist()
        except (TypeError, ValueError):
            pass
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, msg: str = "gradcheck"):
    """Check dslib's gradients of `fn(*inputs)` against central finite differences; True or AssertionError.

    Like torch.autograd.gradcheck: `inputs` are dslib tensors (use float64 for a meaningful check); those
    with requires_grad are checked. The output is reduced with fixed random weights, so every output
    element's gradient is exercised: L = sum(w * fn(*inputs))."""
    import dslib

    inputs = list(inputs)
    out = fn(*inputs)
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 1.5, size=out.shape)
    wt = dslib.tensor(w, dtype=out.dtype, device=out.device)
    for x in inputs:
        if isinstance(x, dslib.Tensor):
            x.grad = None
    (out * wt).sum().backward()

    def loss_at() -> float:
        with dslib.no_grad():
            return float((to_numpy(fn(*inputs)) * w).sum())

    for i, x in enumerate(inputs):
        if not (isinstance(x, dslib.Tensor) and x.requires_grad):
            continue
        if x.dtype != dslib.float64:
            raise AssertionError(f"{msg}: input {i} is {x.dtype}; finite differences need dslib.float64 inputs")
        analytic = np.zeros(x.shape) if x.grad is None else to_numpy(x.grad)
        numeric = np.zeros(x.shape)
        arr = x._data  # perturbed in place, one element at a time (any layout, any device)
        for k in np.ndindex(*x.shape):
            old = float(arr[k])
            arr[k] = old + eps
            plus = loss_at()
            arr[k] = old - eps
            minus = loss_at()
            arr[k] = old
            numeric[k] = (plus - minus) / (2 * eps)
        assert_close(
            analytic, numeric, f"{msg}: gradient of input {i} (backward) vs central differences", rtol=rtol, atol=atol
        )
    return True
