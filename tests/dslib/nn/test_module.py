"""Module infrastructure: registration, traversal, state dicts, to(), hooks, repr and containers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
import dslib.nn as nn
from dslib.nn import Parameter


class Affine(nn.Module):
    """y = x * scale + shift, with a persistent and a non-persistent buffer."""

    def __init__(self, n=3):
        super().__init__()
        self.scale = Parameter(dslib.ones(n))
        self.shift = Parameter(dslib.zeros(n))
        self.register_buffer("count", dslib.zeros(1))
        self.register_buffer("cache", dslib.zeros(n), persistent=False)

    def forward(self, x):
        return x * self.scale + self.shift


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Affine()
        self.b = Affine()
        self.head = nn.Sequential(Affine(), Affine())


def test_parameter_is_a_tensor_that_requires_grad_and_says_parameter_in_repr():
    p = Parameter(dslib.ones(2))
    assert isinstance(p, Parameter) and isinstance(p, dslib.Tensor)
    assert p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:")
    assert not Parameter(dslib.ones(2), requires_grad=False).requires_grad
    assert type(p * 2) is dslib.Tensor  # ops on a Parameter give plain tensors


def test_parameter_shares_memory_with_the_wrapped_tensor():
    t = dslib.zeros(3)
    p = Parameter(t)
    t[0] = 5.0
    assert p[0].item() == 5.0


def test_setattr_registers_parameters_buffers_and_submodules_in_order():
    net = Net()
    assert list(net._modules) == ["a", "b", "head"]
    assert [n for n, _ in net.named_parameters()] == [
        "a.scale", "a.shift", "b.scale", "b.shift", "head.0.scale", "head.0.shift", "head.1.scale", "head.1.shift",
    ]  # fmt: skip
    assert [n for n, _ in net.named_buffers()] == ["a.count", "a.cache", "b.count", "b.cache"] + [
        "head.0.count", "head.0.cache", "head.1.count", "head.1.cache",
    ]  # fmt: skip
    assert [n for n, _ in net.named_children()] == ["a", "b", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "b", "head", "head.0", "head.1"]
    assert len(list(net.modules())) == 6 and len(list(net.children())) == 3


def test_state_dict_holds_params_and_persistent_buffers_detached_with_prefixes():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == [
        "a.scale", "a.shift", "a.count", "b.scale", "b.shift", "b.count",
        "head.0.scale", "head.0.shift", "head.0.count", "head.1.scale", "head.1.shift", "head.1.count",
    ]  # fmt: skip
    assert not sd["a.scale"].requires_grad and not isinstance(sd["a.scale"], Parameter)
    assert net.state_dict(keep_vars=True)["a.scale"] is net.a.scale
    assert list(net.a.state_dict(prefix="x.")) == ["x.scale", "x.shift", "x.count"]


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    tied = nn.Module()
    tied.enc = nn.Linear(2, 3)
    tied.dec = nn.Linear(3, 2)
    tied.dec.weight = tied.enc.weight
    assert len(list(tied.parameters())) == 3


def test_assigning_a_plain_tensor_to_a_parameter_slot_is_a_type_error():
    m = Affine()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        m.scale = dslib.ones(3)
    m.scale = None
    assert "scale" not in m.state_dict()


def test_assigning_before_super_init_names_the_problem():
    class Bad(nn.Module):
        def __init__(self):
            self.w = Parameter(dslib.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_getattr_error_names_the_missing_attribute():
    with pytest.raises(AttributeError, match="'Affine' object has no attribute 'nope'"):
        _ = Affine().nope


def test_delattr_unregisters():
    m = Affine()
    del m.shift
    assert [n for n, _ in m.named_parameters()] == ["scale"]


def test_train_eval_propagate_to_all_submodules():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_load_state_dict_round_trip_copies_values_in_place():
    src, dst = Net(), Net()
    with dslib.no_grad():
        for p in src.parameters():
            p.uniform_(-1, 1)
    scale = dst.a.scale
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst.a.scale is scale  # in place, the Parameter object is kept
    for (k1, v1), (k2, v2) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k1 == k2
        np.testing.assert_array_equal(v1.numpy(), v2.numpy())


def test_load_state_dict_strict_names_missing_and_unexpected_keys():
    net = Net()
    sd = net.state_dict()
    del sd["b.shift"]
    sd["b.extra"] = dslib.zeros(1)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert 'Missing key(s) in state_dict: "b.shift"' in msg
    assert 'Unexpected key(s) in state_dict: "b.extra"' in msg


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    net = Net()
    sd = net.state_dict()
    del sd["a.count"]
    sd["zzz"] = dslib.zeros(1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["a.count"] and unexpected == ["zzz"]


def test_load_state_dict_shape_mismatch_names_the_key_and_both_shapes():
    net = Net()
    sd = net.state_dict()
    sd["head.1.scale"] = dslib.zeros(4)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for head\.1\.scale: .*\(4,\).*\(3,\)"):
            net.load_state_dict(sd, strict=strict)


@pytest.mark.parametrize("target", ["torch", "numpy"])
def test_to_moves_params_and_buffers_and_keeps_parameter_identity(target):
    net = Net().to("torch" if target == "numpy" else "numpy")
    params = list(net.parameters())
    net.a.scale.grad = dslib.ones(3, device=net.a.scale.device)
    assert net.to(target) is net
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.device == target for p in net.parameters())
    assert all(b.device == target for b in net.buffers())
    assert net.a.scale.grad.device == target
    assert isinstance(net.a.scale, Parameter) and net.a.scale.requires_grad


def test_to_dtype_casts_only_floating_tensors():
    bn = nn.BatchNorm1d(3).to(dslib.float64)
    assert bn.weight.dtype is dslib.float64 and bn.running_mean.dtype is dslib.float64
    assert bn.num_batches_tracked.dtype is dslib.int64 and bn.num_batches_tracked.shape == ()
    bn.to("torch", dslib.float32)
    assert bn.weight.dtype is dslib.float32 and bn.weight.device == "torch"
    with pytest.raises(TypeError, match="floating point"):
        bn.to(dslib.int32)


def test_apply_visits_children_before_parent():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Affine", "Affine", "Affine", "Affine", "Sequential", "Net"]


def test_forward_hooks_see_inputs_and_can_replace_output_and_are_removable():
    m = Affine()
    calls = []
    pre = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    post = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    y = m(dslib.ones(3))
    np.testing.assert_allclose(y.detach().numpy(), [3.0, 3.0, 3.0])
    assert calls == [(3,)]
    pre.remove()
    post.remove()
    np.testing.assert_allclose(m(dslib.ones(3)).detach().numpy(), [1.0, 1.0, 1.0])
    assert calls == [(3,)]


def test_zero_grad_sets_to_none_or_zeros():
    m = Affine()
    m(dslib.ones(3)).sum().backward()
    assert m.scale.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.scale.grad.numpy(), np.zeros(3))
    m.zero_grad()
    assert m.scale.grad is None


def test_requires_grad_false_freezes_all_parameters():
    net = Net().requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_forward_missing_names_the_module():
    with pytest.raises(NotImplementedError, match="Net"):
        Net()(dslib.ones(1))


def test_repr_is_nested_like_torch():
    dm = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1, bias=False)))
    tm = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 1, bias=False))
    )
    assert repr(dm) == repr(tm)


def test_sequential_index_slice_len_iter_append():
    a, b, c = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b
    seq.append(c)
    assert list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and seq[0] is b


def test_sequential_from_ordered_dict_uses_the_names():
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]


def test_module_list_and_dict_register_their_modules():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 1))
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    assert list(ml.state_dict())[:2] == ["0.weight", "0.bias"]
    md = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    md["dec"] = nn.Linear(2, 2)
    assert list(md.keys()) == ["enc", "dec"] and "dec" in md
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    with pytest.raises(KeyError, match="nope"):
        md["nope"]


def test_load_state_dict_converts_device_and_dtype_into_the_modules_own():
    src = nn.Linear(3, 2).to(dslib.float64)
    dst = nn.Linear(3, 2).to("torch")
    dst.load_state_dict(src.state_dict())
    assert dst.weight.device == "torch" and dst.weight.dtype is dslib.float32
    np.testing.assert_allclose(dst.weight.detach().numpy(), src.weight.detach().numpy(), rtol=1e-6)
    back = nn.Linear(3, 2)
    back.load_state_dict(dst.state_dict())
    assert back.weight.device == "numpy"
    np.testing.assert_array_equal(back.weight.detach().numpy(), dst.weight.detach().numpy())


def test_load_state_dict_rejects_non_tensors_with_a_hint():
    with pytest.raises(RuntimeError, match='"weight".*from_torch_state_dict'):
        nn.Linear(3, 2).load_state_dict({"weight": torch.zeros(2, 3), "bias": dslib.zeros(2)})


def test_get_submodule_and_parameter_by_dotted_name():
    net = Net()
    assert net.get_submodule("head.1") is net.head[1]
    assert net.get_parameter("head.0.shift") is net.head[0].shift
    with pytest.raises(AttributeError, match="no submodule 'x'"):
        net.get_submodule("head.x")


def test_deepcopy_gives_independent_weights_and_keeps_tied_ones_tied():
    import copy

    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 3))
    model[2].weight = model[0].weight
    model[0].weight.grad = dslib.ones(3, 3)
    clone = copy.deepcopy(model)
    assert clone[0].weight is not model[0].weight and clone[2].weight is clone[0].weight
    assert isinstance(clone[0].weight, Parameter) and clone[0].weight.requires_grad
    np.testing.assert_array_equal(clone[0].weight.grad.numpy(), np.ones((3, 3)))
    with dslib.no_grad():
        clone[0].weight.fill_(7.0)
        clone[1].running_mean.fill_(1.0)
    assert (model[0].weight.detach().numpy() != 7.0).all() and (model[1].running_mean.numpy() == 0).all()
    assert list(clone.state_dict()) == list(model.state_dict())
