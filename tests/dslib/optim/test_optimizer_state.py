"""The Optimizer base contract: param groups, zero_grad, closures, state_dict round trips and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from dslib.optim import SGD, Adam, AdamW

from .reference import make_params, synthetic_grads, to_numpy

OPTIMIZERS = {
    "sgd_nesterov": (
        lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
    "adam_amsgrad": (
        lambda ps: Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
        lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
    ),
    "adamw": (lambda ps: AdamW(ps, lr=0.01), lambda ps: torch.optim.AdamW(ps, lr=0.01)),
}


def _groups(ps):
    return [{"params": ps[:1], "lr": 0.1}, {"params": ps[1:]}]


def _train(opt, params, grads, device):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = dslib.tensor(g, device=device)
        opt.step()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resuming_from_state_dict_equals_uninterrupted_training(device, name):
    """Train 5 steps, save, load into a fresh optimizer over copies of the params, train 5 more == 10 straight
    steps (bit for bit on numpy)."""
    make, _ = OPTIMIZERS[name]
    grads = synthetic_grads(10)
    straight, _ = make_params(device)
    opt = make(_groups(straight))
    _train(opt, straight, grads, device)

    first, _ = make_params(device)
    opt1 = make(_groups(first))
    _train(opt1, first, grads[:5], device)
    saved = opt1.state_dict()
    resumed = [dslib.tensor(to_numpy(p), device=device).requires_grad_() for p in first]
    opt2 = make(_groups(resumed))
    opt2.load_state_dict(saved)
    _train(opt1, first, grads[5:], device)  # the original keeps training: must not disturb the copy
    _train(opt2, resumed, grads[5:], device)
    for p, q in zip(straight, resumed):
        if device == "numpy":
            np.testing.assert_array_equal(to_numpy(p), to_numpy(q))
        else:
            np.testing.assert_allclose(to_numpy(p), to_numpy(q), rtol=1e-6, atol=1e-7)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["params"] == resumed[:1]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_has_torchs_structure(name):
    make, make_torch = OPTIMIZERS[name]
    ours, theirs = make_params("numpy")
    opt, ref = make(_groups(ours)), make_torch(_groups(theirs))
    for p, q, g in zip(ours, theirs, synthetic_grads(1)[0]):
        p.grad, q.grad = dslib.tensor(g), torch.tensor(g)
    opt.step()
    ref.step()
    sd, tsd = opt.state_dict(), ref.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]] == [[0], [1, 2, 3]]
    assert set(sd["param_groups"][1]) <= set(tsd["param_groups"][1])
    for key in sd["param_groups"][1]:
        assert sd["param_groups"][1][key] == tsd["param_groups"][1][key], key
    assert sd["state"].keys() == tsd["state"].keys()
    for i in sd["state"]:
        assert sd["state"][i].keys() == tsd["state"][i].keys()
        for key, value in sd["state"][i].items():
            want = tsd["state"][i][key]
            if key == "step":
                assert value == int(want.item())
            else:
                np.testing.assert_allclose(to_numpy(value), want.numpy(), rtol=1e-6, atol=1e-7)


def test_load_state_dict_moves_state_to_the_parameters_device():
    a = dslib.randn(3, requires_grad=True)
    opt = Adam([a])
    a.grad = dslib.randn(3)
    opt.step()
    b = dslib.randn(3, device="torch", requires_grad=True)
    opt2 = Adam([b])
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[b]["exp_avg"].device == b.device
    np.testing.assert_array_equal(to_numpy(opt2.state[b]["exp_avg"]), to_numpy(opt.state[a]["exp_avg"]))
    b.grad = dslib.randn(3, device="torch")
    opt2.step()
    assert opt2.state[b]["step"] == 2


def test_load_state_dict_rejects_a_different_number_of_groups():
    a, b = dslib.ones(2, requires_grad=True), dslib.ones(2, requires_grad=True)
    saved = SGD([{"params": [a]}, {"params": [b]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match=r"different number of parameter groups \(2\) than the optimizer \(1\)"):
        SGD([a, b], lr=0.1).load_state_dict(saved)


def test_load_state_dict_rejects_a_group_of_a_different_size():
    a, b = dslib.ones(2, requires_grad=True), dslib.ones(2, requires_grad=True)
    saved = SGD([a], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="group 0 has 1 params in the state dict but 2 in the optimizer"):
        SGD([a, b], lr=0.1).load_state_dict(saved)


def test_load_state_dict_rejects_state_of_another_shape():
    a = dslib.ones(2, requires_grad=True)
    opt = SGD([a], lr=0.1, momentum=0.9)
    a.grad = dslib.ones(2)
    opt.step()
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(2,\).*shape \(3,\)"):
        SGD([dslib.ones(3, requires_grad=True)], lr=0.1, momentum=0.9).load_state_dict(opt.state_dict())


def test_params_given_as_groups_get_the_defaults_merged_in():
    a, b = dslib.ones(2, requires_grad=True), dslib.ones(2, requires_grad=True)
    opt = SGD([{"params": [a], "lr": 0.5}], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "momentum": 0.0})
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.0]
    assert opt.param_groups[1]["params"] == [b]


def test_named_parameters_are_accepted_and_their_names_kept():
    a = dslib.ones(2, requires_grad=True)
    opt = Adam([("weight", a)])
    assert opt.param_groups[0]["params"] == [a] and opt.param_groups[0]["param_names"] == ["weight"]


def test_a_parameter_in_two_groups_is_an_error():
    a = dslib.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


def test_a_non_tensor_parameter_is_an_error():
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but params\\[1\\].*ndarray"):
        SGD([dslib.ones(2, requires_grad=True), np.ones(2)], lr=0.1)


def test_a_non_leaf_parameter_is_an_error():
    a = dslib.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        SGD([a * 2], lr=0.1)


@pytest.mark.parametrize("params", [[], dslib.ones(2, requires_grad=True), {dslib.ones(2, requires_grad=True)}])
def test_params_must_be_a_nonempty_ordered_collection(params):
    with pytest.raises((ValueError, TypeError), match="empty parameter list|iterable of Tensors|ordered collections"):
        if isinstance(params, set):
            SGD([{"params": params}], lr=0.1)
        else:
            SGD(params, lr=0.1)


def test_zero_grad_sets_none_by_default_or_zeros_in_place():
    a = dslib.ones(2, requires_grad=True)
    opt = SGD([a], lr=0.1)
    a.grad = dslib.ones(2)
    g = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is g and a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_step_evaluates_the_closure_with_grad_enabled_and_returns_its_loss():
    w = dslib.tensor([1.0, -2.0], requires_grad=True)
    opt = SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with dslib.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(w.detach().numpy(), [0.8, -1.6], rtol=1e-6)


def test_step_does_not_record_the_update_in_the_graph():
    w = dslib.ones(2, requires_grad=True)
    w.grad = dslib.ones(2)
    Adam([w]).step()
    assert w.is_leaf and w.requires_grad and w.grad_fn is None


def test_state_dict_survives_dslib_save_and_load(tmp_path):
    """Int keys, tuples (betas) and Python step counts go through dslib's checkpoint format unchanged."""
    w = dslib.randn(3, requires_grad=True)
    opt = Adam([w], lr=0.01, amsgrad=True)
    w.grad = dslib.randn(3)
    opt.step()
    dslib.save(opt.state_dict(), tmp_path / "opt.ckpt")
    opt2 = Adam([dslib.tensor(w.detach().numpy(), requires_grad=True)], lr=0.5)
    opt2.load_state_dict(dslib.load(tmp_path / "opt.ckpt"))
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    (state,) = opt2.state.values()
    assert state["step"] == 1
    np.testing.assert_array_equal(state["max_exp_avg_sq"].numpy(), opt.state[w]["max_exp_avg_sq"].numpy())
