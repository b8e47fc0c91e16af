"""dslib.amp.GradScaler against torch.amp.GradScaler("cpu"): the same scripted losses, with injected inf and
nan gradients, give the same scale history, the same skipped steps and the same parameters; plus its
state dict, the disabled pass-through and every misuse error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dslib
from dslib.amp import GradScaler
from dslib.nn.utils import clip_grad_norm_

# per step: the multiplier of the loss sum(w * w * x); inf, nan and 1e36 (its gradients overflow float32 once
# scaled) make that step skip
SCRIPT = [1.0, 1.0, float("inf"), 1.0, 1.0, 1.0, 1.0, float("nan"), 1.0, 1e36, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
SKIPPED = [i for i, m in enumerate(SCRIPT) if not math.isfinite(m) or m > 1e30]

# NumPy warns when the injected inf / nan / overflow flows through the ops: expected here
pytestmark = [
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]

OPTIMIZERS = {
    "sgd_momentum": (
        lambda ps: dslib.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    ),
    "adam": (lambda ps: dslib.optim.Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05)),
    "adamw": (
        lambda ps: dslib.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    ),
}
SCALER_ARGS = [
    dict(init_scale=2.0**10, growth_interval=3),
    dict(init_scale=1000.1, growth_factor=2.7, backoff_factor=0.37, growth_interval=2),  # float32 rounding matters
]


def _run(lib, opt_fn, scaler_kw, device="numpy", clip=None):
    """Run SCRIPT; return (scales after each update, step return values, [initial params] + params after each
    step, the scaler)."""
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    if lib is torch:
        w, xt = torch.tensor(w0, requires_grad=True), torch.tensor(x)
        scaler = torch.amp.GradScaler("cpu", **scaler_kw)
    else:
        w, xt = dslib.tensor(w0, device=device, requires_grad=True), dslib.tensor(x, device=device)
        scaler = GradScaler(**scaler_kw)
    opt = opt_fn([w])
    scales, rets, params = [], [], [w0]
    for m in SCRIPT:
        opt.zero_grad()
        loss = (w * w * xt).sum() * m
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(opt)
            (torch.nn.utils.clip_grad_norm_ if lib is torch else clip_grad_norm_)([w], clip)
        rets.append(scaler.step(opt))
        scaler.update()
        scales.append(scaler.get_scale())
        params.append(w.detach().to("numpy").numpy().copy() if lib is dslib else w.detach().numpy().copy())
    return scales, rets, params, scaler


@pytest.mark.parametrize("scaler_kw", SCALER_ARGS, ids=["powers_of_two", "odd_factors"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_scale_history_skips_and_params_match_torch(device, opt, scaler_kw):
    d_opt, t_opt = OPTIMIZERS[opt]
    t_scales, t_rets, t_params, t_scaler = _run(torch, t_opt, scaler_kw)
    d_scales, d_rets, d_params, d_scaler = _run(dslib, d_opt, scaler_kw, device)
    assert d_scales == t_scales  # exactly: the same float32 rounding of every update
    assert d_rets == t_rets == [None] * len(SCRIPT)  # optimizer.step() returns None; so does a skipped step
    for i in range(len(SCRIPT)):
        before, after = d_params[i], d_params[i + 1]
        np.testing.assert_allclose(after, t_params[i + 1], rtol=1e-5, atol=1e-6, err_msg=f"step {i}")
        if i in SKIPPED:  # the parameters did not move
            np.testing.assert_array_equal(after, before)
        else:
            assert not np.array_equal(after, before), f"step {i} should have updated the parameters"
    assert d_scaler.state_dict() == t_scaler.state_dict()


def test_scale_backs_off_on_overflow_and_grows_after_the_interval():
    scales = _run(dslib, OPTIMIZERS["sgd_momentum"][0], dict(init_scale=2.0**10, growth_interval=3))[0]
    # steps 0,1 good; 2 inf -> 512; 3,4,5 good -> 1024; 6 good; 7 nan -> 512; 8 good; 9 overflow -> 256; ...
    assert scales[:10] == [1024.0, 1024.0, 512.0, 512.0, 512.0, 1024.0, 1024.0, 512.0, 512.0, 256.0]
    assert scales[12] == 512.0 and scales[15] == 1024.0


def test_unscale_then_clip_grad_norm_then_step_matches_torch(device):
    d_opt, t_opt = OPTIMIZERS["adamw"]
    kw = dict(init_scale=2.0**8, growth_interval=2)
    t_scales, _, t_params, _ = _run(torch, t_opt, kw, clip=0.5)
    d_scales, _, d_params, _ = _run(dslib, d_opt, kw, device, clip=0.5)
    assert d_scales == t_scales
    for i, (d, t) in enumerate(zip(d_params, t_params)):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-6, err_msg=f"step {i}")


def test_unscale_divides_gradients_by_the_scale(device):
    w = dslib.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    opt = dslib.optim.SGD([w], lr=0.1)
    scaler = GradScaler(init_scale=2.0**8)
    scaler.scale((w * w).sum()).backward()
    np.testing.assert_array_equal(w.grad.to("numpy").numpy(), 256.0 * np.array([2.0, -4.0, 6.0], np.float32))
    scaler.unscale_(opt)
    np.testing.assert_array_equal(w.grad.to("numpy").numpy(), [2.0, -4.0, 6.0])
    assert w.grad.dtype is dslib.float32


def test_a_skipped_step_leaves_adam_state_untouched():
    w = dslib.tensor([1.0, 2.0], requires_grad=True)
    opt = dslib.optim.Adam([w], lr=0.1)
    scaler = GradScaler()
    for m in (1.0, float("inf")):
        opt.zero_grad()
        scaler.scale((w * m).sum()).backward()
        scaler.step(opt)
        scaler.update()
    assert opt.state[w]["step"] == 1


def test_two_optimizers_skip_separately_and_the_scale_backs_off_if_either_overflowed():
    """As torch: each optimizer skips on its own gradients; update() backs off when any optimizer saw inf."""
    results = {}
    for lib in (torch, dslib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0], requires_grad=True)
        opt_a = (torch.optim.SGD if lib is torch else dslib.optim.SGD)([a], lr=0.1)
        opt_b = (torch.optim.SGD if lib is torch else dslib.optim.SGD)([b], lr=0.1)
        scaler = torch.amp.GradScaler("cpu", init_scale=4.0) if lib is torch else GradScaler(init_scale=4.0)
        scaler.scale(a.sum() + b.sum() * float("inf")).backward()
        scaler.step(opt_a)
        scaler.step(opt_b)
        scaler.update()
        results[lib.__name__] = (a.detach().numpy().tolist(), b.detach().numpy().tolist(), scaler.get_scale())
    d, t = results["dslib"], results["torch"]
    np.testing.assert_allclose(d[0], t[0], rtol=1e-7)
    np.testing.assert_allclose(d[0], [0.9, 1.9], rtol=1e-6)  # a stepped
    assert d[1:] == t[1:] == ([3.0], 2.0)  # b did not; the scale halved


def test_scale_accepts_lists_and_tuples_of_tensors():
    scaler = GradScaler(init_scale=8.0)
    a, b = dslib.tensor(1.0), dslib.tensor([2.0, 3.0])
    out = scaler.scale([a, (b, a)])
    assert isinstance(out, list) and isinstance(out[1], tuple)
    assert out[0].item() == 8.0 and out[1][0].tolist() == [16.0, 24.0]


def test_scale_of_a_float16_loss_is_float32_as_torch():
    """The scale is a 0-d float32 tensor, so a 0-d float16 loss is promoted (no overflow at 65536 * loss)."""
    scaled = GradScaler().scale(dslib.tensor(2.0).half())
    ref = torch.amp.GradScaler("cpu").scale(torch.tensor(2.0).half())
    assert scaled.dtype is dslib.float32 and ref.dtype == torch.float32 and scaled.item() == ref.item()


def test_state_dict_round_trips_and_loads_torch_state():
    _, _, _, t_scaler = _run(torch, OPTIMIZERS["sgd_momentum"][1], dict(init_scale=2.0**10, growth_interval=3))
    scaler = GradScaler()
    scaler.load_state_dict(t_scaler.state_dict())
    assert scaler.state_dict() == t_scaler.state_dict()
    fresh = GradScaler()
    fresh.load_state_dict(scaler.state_dict())
    assert fresh.get_scale() == scaler.get_scale() and fresh.state_dict() == scaler.state_dict()


def test_state_dict_survives_dslib_save_and_load(tmp_path):
    scaler = GradScaler(init_scale=123.0, growth_interval=7)
    dslib.save({"scaler": scaler.state_dict()}, tmp_path / "ckpt.dslib")
    restored = GradScaler()
    restored.load_state_dict(dslib.load(tmp_path / "ckpt.dslib")["scaler"])
    assert restored.state_dict() == scaler.state_dict()


def test_load_state_dict_resumes_the_growth_count():
    """A resumed scaler grows after the same number of further good steps as the original would."""
    w = dslib.tensor([1.0], requires_grad=True)
    opt = dslib.optim.SGD([w], lr=0.01)

    def good_step(s):
        opt.zero_grad()
        s.scale(w.sum()).backward()
        s.step(opt)
        s.update()

    a = GradScaler(init_scale=4.0, growth_interval=3)
    good_step(a)
    good_step(a)
    b = GradScaler()
    b.load_state_dict(a.state_dict())
    good_step(b)
    assert b.get_scale() == 8.0 and b.state_dict()["_growth_tracker"] == 0


def test_disabled_scaler_is_a_pass_through():
    w = dslib.tensor([1.0, 2.0], requires_grad=True)
    opt = dslib.optim.SGD([w], lr=0.5)
    scaler = GradScaler(enabled=False)
    loss = (w * w).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.unscale_(opt)  # no-op
    assert scaler.step(opt) is None
    scaler.update()
    np.testing.assert_allclose(w.detach().numpy(), [0.0, 0.0])
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {} and not scaler.is_enabled()
    scaler.load_state_dict({})  # a no-op when disabled, as torch


def test_update_with_an_explicit_new_scale():
    w = dslib.tensor([1.0], requires_grad=True)
    scaler = GradScaler()
    scaler.scale(w.sum()).backward()
    scaler.update(new_scale=100.0)
    assert scaler.get_scale() == 100.0
    scaler.update(new_scale=dslib.tensor(0.1))
    assert scaler.get_scale() == float(np.float32(0.1))


def _scaled_backward(scaler, w):
    scaler.scale((w * w).sum()).backward()


def test_misuse_raises_clear_errors():
    w = dslib.tensor([1.0, 2.0], requires_grad=True)
    opt = dslib.optim.SGD([w], lr=0.1)
    scaler = GradScaler()
    with pytest.raises(RuntimeError, match="scale is not set yet"):
        scaler.step(opt)
    _scaled_backward(scaler, w)
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="being called after step"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="no inf checks were recorded"):
        scaler.update()
    with pytest.raises(RuntimeError, match="closure"):
        scaler.step(opt, closure=lambda: 0.0)


def test_step_without_any_gradient_raises():
    w = dslib.tensor([1.0], requires_grad=True)
    other = dslib.tensor([1.0], requires_grad=True)
    scaler = GradScaler()
    scaler.scale(other.sum()).backward()
    with pytest.raises(RuntimeError, match="no parameter of this optimizer has a gradient"):
        scaler.step(dslib.optim.SGD([w], lr=0.1))


def test_float16_gradients_are_refused():
    w = dslib.tensor([1.0, 2.0], requires_grad=True).half().detach().requires_grad_()
    scaler = GradScaler()
    scaler.scale((w * w).sum()).backward()
    with pytest.raises(ValueError, match="float16 gradient"):
        scaler.unscale_(dslib.optim.SGD([w], lr=0.1))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(init_scale=0.0), "init_scale must be a finite number > 0"),
        (dict(init_scale=float("inf")), "init_scale must be a finite number > 0"),
        (dict(growth_factor=1.0), "growth_factor must be a number > 1.0"),
        (dict(backoff_factor=1.0), "backoff_factor must be a number in \\(0, 1\\)"),
        (dict(backoff_factor=0.0), "backoff_factor must be a number in \\(0, 1\\)"),
        (dict(growth_interval=0), "growth_interval must be a positive int"),
        (dict(growth_interval=2.5), "growth_interval must be a positive int"),
    ],
)
def test_bad_constructor_arguments_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradScaler(**kwargs)


def test_a_torch_style_device_argument_is_explained():
    with pytest.raises(TypeError, match="takes no device"):
        GradScaler("cuda")
    with pytest.raises(TypeError, match="enabled must be True or False"):
        GradScaler(enabled="no")


def test_scale_rejects_other_outputs():
    with pytest.raises(ValueError, match="outputs must be a Tensor or a list/tuple of Tensors"):
        GradScaler().scale(3.0)
