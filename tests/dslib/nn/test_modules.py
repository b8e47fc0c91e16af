"""Every dslib.nn layer against torch.nn with the same weights: outputs, input gradients, parameter
gradients and buffers (BatchNorm's running stats), on every dslib device, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
import dslib.nn as nn
from dslib.interop import from_torch_state_dict

ATOL, RTOL = 1e-10, 1e-8


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: on a shared 2-core machine torch's thread pool only adds contention (5x slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().to("numpy").numpy()


def _close(a, b, what, atol=ATOL, rtol=RTOL):
    np.testing.assert_allclose(_np(a), _np(b), atol=atol, rtol=rtol, err_msg=what)


def compare(tmod, dmod, inputs, device, *, train=True, steps=1, kwargs=None, atol=ATOL, rtol=RTOL):
    """Run torch and dslib modules on the same inputs (NumPy arrays) and compare everything observable.

    Weights are copied torch -> dslib through the state dict; float inputs get gradients. The loss is
    a random linear function of the (first) output, so every gradient entry is checked.
    """
    tmod = tmod.double().train(train)
    dmod.load_state_dict(from_torch_state_dict(tmod.state_dict()))
    dmod.to(device, dslib.float64).train(train)
    kwargs = kwargs or {}
    for step in range(steps):
        t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
        d_in = [dslib.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in inputs]
        t_out = tmod(*t_in, **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
        d_out = dmod(
            *d_in, **{k: dslib.tensor(v, device=device) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        )
        t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
        d_outs = d_out if isinstance(d_out, tuple) else (d_out,)
        for i, (a, b) in enumerate(zip(t_outs, d_outs)):
            if a is None:
                assert b is None, f"output {i}: torch gives None"
                continue
            assert tuple(b.shape) == tuple(a.shape), f"output {i} shape"
            assert b.device == device
            _close(b, a, f"step {step} output {i}", atol, rtol)
        g = np.random.default_rng(step).standard_normal(tuple(t_outs[0].shape))
        (t_outs[0] * torch.tensor(g)).sum().backward()
        (d_outs[0] * dslib.tensor(g, device=device)).sum().backward()
        for i, (a, b) in enumerate(zip(t_in, d_in)):
            if a.requires_grad:
                _close(b.grad, a.grad, f"step {step} grad of input {i}", atol, rtol)
        tparams = dict(tmod.named_parameters())
        dparams = dict(dmod.named_parameters())
        assert list(dparams) == list(tparams)
        for name, p in tparams.items():
            if p.grad is None:
                assert dparams[name].grad is None, name
            else:
                _close(dparams[name].grad, p.grad, f"step {step} grad of {name}", atol, rtol)
            p.grad = None
            dparams[name].grad = None
        tbufs = dict(tmod.named_buffers())
        dbufs = dict(dmod.named_buffers())
        assert list(dbufs) == list(tbufs)
        for name, b in tbufs.items():
            _close(dbufs[name], b, f"step {step} buffer {name}", atol, rtol)
    assert list(dmod.state_dict()) == list(tmod.state_dict())


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----- Linear, Conv2d -----
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(device, shape, bias):
    compare(torch.nn.Linear(5, 4, bias=bias), nn.Linear(5, 4, bias=bias), [rand(*shape)], device)


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), dilation=2, padding=(2, 1), bias=False),
    dict(kernel_size=3, groups=2, padding=1),
    dict(kernel_size=4, padding="same"),
    dict(kernel_size=3, padding="valid"),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("kw", CONV_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d_matches_torch(device, kw):
    compare(torch.nn.Conv2d(4, 6, **kw), nn.Conv2d(4, 6, **kw), [rand(2, 4, 7, 8)], device)


def test_conv2d_unbatched_input_matches_torch(device):
    compare(torch.nn.Conv2d(3, 2, 3), nn.Conv2d(3, 2, 3), [rand(3, 6, 6)], device)


# ----- normalization -----
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(momentum=None),
        dict(momentum=0.3, eps=1e-3),
        dict(affine=False),
        dict(bias=False),
        dict(track_running_stats=False),
    ],
)
@pytest.mark.parametrize("dims", ["1d-NC", "1d-NCL", "2d"])
def test_batchnorm_training_updates_running_stats_like_torch(device, kw, dims):
    cls, shape = {
        "1d-NC": ("BatchNorm1d", (8, 3)),
        "1d-NCL": ("BatchNorm1d", (4, 3, 5)),
        "2d": ("BatchNorm2d", (4, 3, 5, 2)),
    }[dims]
    tmod, dmod = getattr(torch.nn, cls)(3, **kw), getattr(nn, cls)(3, **kw)
    compare(tmod, dmod, [rand(*shape) * 3 + 1], device, train=True, steps=3)
    compare(tmod, dmod, [rand(*shape, seed=9)], device, train=False)


def test_batchnorm_eval_uses_running_stats(device):
    bn = nn.BatchNorm1d(2).to(device)
    with dslib.no_grad():
        bn.running_mean.fill_(1.0)
        bn.running_var.fill_(4.0)
    bn.eval()
    out = bn(dslib.tensor([[1.0, 3.0], [5.0, 1.0]], device=device))
    np.testing.assert_allclose(_np(out), [[0.0, 1.0], [2.0, 0.0]], atol=1e-5)
    assert bn.num_batches_tracked.item() == 0


def test_batchnorm_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*\(N, C, H, W\).*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(dslib.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(dslib.randn(2, 3, 4, 4))


@pytest.mark.parametrize(
    "args, kw, shape",
    [((5,), {}, (2, 3, 5)), (((3, 5),), dict(eps=1e-3), (2, 3, 5)), ((5,), dict(elementwise_affine=False), (4, 5)),
     ((5,), dict(bias=False), (4, 5))],
)  # fmt: skip
def test_layernorm_matches_torch(device, args, kw, shape):
    compare(torch.nn.LayerNorm(*args, **kw), nn.LayerNorm(*args, **kw), [rand(*shape)], device)


@pytest.mark.parametrize(
    "kw, shape", [(dict(), (2, 6, 3, 3)), (dict(affine=False), (2, 6, 4)), (dict(eps=1e-2, bias=False), (3, 6))]
)
def test_groupnorm_matches_torch(device, kw, shape):
    compare(torch.nn.GroupNorm(3, 6, **kw), nn.GroupNorm(3, 6, **kw), [rand(*shape)], device)


# ----- dropout, embedding, activations, pooling, reshaping -----
def test_dropout_is_identity_in_eval_and_scales_kept_units_in_training(device):
    drop = nn.Dropout(0.25).to(device)
    x = dslib.ones(200, 100, device=device)
    assert drop.eval()(x) is x or np.array_equal(_np(drop(x)), _np(x))
    y = _np(drop.train()(x))
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.02
    compare(torch.nn.Dropout(0.0), nn.Dropout(0.0), [rand(3, 4)], device)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch_and_padding_row_gets_no_grad(device, padding_idx):
    idx = np.array([[0, 2, 4], [2, 2, 1]])
    tmod = torch.nn.Embedding(5, 3, padding_idx=padding_idx)
    dmod = nn.Embedding(5, 3, padding_idx=padding_idx)
    compare(tmod, dmod, [idx], device)
    if padding_idx is not None:
        assert (_np(dmod.weight)[padding_idx] == 0).all()


def test_embedding_from_pretrained_freezes_by_default():
    emb = nn.Embedding.from_pretrained(dslib.randn(4, 2))
    assert not emb.weight.requires_grad and emb(dslib.tensor([1, 3])).shape == (2, 2)


ACTIVATIONS = [
    ("ReLU", {}), ("LeakyReLU", dict(negative_slope=0.2)), ("GELU", {}), ("GELU", dict(approximate="tanh")),
    ("SiLU", {}), ("Tanh", {}), ("Sigmoid", {}),
    ("Softmax", dict(dim=1)), ("Softmax", dict(dim=-1)), ("LogSoftmax", dict(dim=1)), ("Flatten", {}),
    ("Flatten", dict(start_dim=0, end_dim=1)), ("Identity", {}),
]  # fmt: skip


@pytest.mark.parametrize("name, kw", ACTIVATIONS, ids=lambda x: str(x))
def test_activation_and_shape_modules_match_torch(device, name, kw):
    compare(getattr(torch.nn, name)(**kw), getattr(nn, name)(**kw), [rand(3, 4, 5)], device)


POOLS = [
    ("MaxPool2d", dict(kernel_size=2)), ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", dict(kernel_size=2, ceil_mode=True)), ("AvgPool2d", dict(kernel_size=2)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool2d", dict(output_size=(2, 3))), ("AdaptiveAvgPool2d", dict(output_size=1)),
]  # fmt: skip


@pytest.mark.parametrize("name, kw", POOLS, ids=lambda x: str(x))
def test_pooling_matches_torch(device, name, kw):
    compare(getattr(torch.nn, name)(**kw), getattr(nn, name)(**kw), [rand(2, 3, 7, 9)], device)


# ----- MultiheadAttention -----
L, S, N, E = 4, 5, 2, 8


def _mha_inputs(batch_first):
    shape_q, shape_kv = ((N, L, E), (N, S, E)) if batch_first else ((L, N, E), (S, N, E))
    return [rand(*shape_q, seed=1), rand(*shape_kv, seed=2), rand(*shape_kv, seed=3)]


MHA_CASES = {
    "plain": {},
    "no-weights": dict(need_weights=False),
    "per-head-weights": dict(average_attn_weights=False),
    "bool-causal": dict(attn_mask=np.triu(np.ones((L, S), dtype=bool), 1)),
    "float-mask": dict(attn_mask=rand(L, S, seed=4)),
    "3d-float-mask": dict(attn_mask=rand(N * 2, L, S, seed=5)),
    "key-padding": dict(key_padding_mask=np.array([[False] * 4 + [True], [False] * 3 + [True] * 2])),
    "key-padding-no-weights": dict(
        key_padding_mask=np.array([[False] * 4 + [True], [False] * 3 + [True] * 2]), need_weights=False
    ),
    "both-masks": dict(
        attn_mask=np.triu(np.ones((L, S), dtype=bool), 2), key_padding_mask=np.array([[False] * 4 + [True]] * 2)
    ),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_matches_torch(device, case, batch_first):
    kw = dict(MHA_CASES[case])
    tmod = torch.nn.MultiheadAttention(E, 2, batch_first=batch_first)
    dmod = nn.MultiheadAttention(E, 2, batch_first=batch_first)
    compare(tmod, dmod, _mha_inputs(batch_first), device, kwargs=kw)


def test_multihead_attention_unbatched_and_no_bias_match_torch(device):
    tmod, dmod = torch.nn.MultiheadAttention(E, 4, bias=False), nn.MultiheadAttention(E, 4, bias=False)
    compare(tmod, dmod, [rand(L, E), rand(S, E, seed=1), rand(S, E, seed=2)], device)


def test_multihead_attention_state_dict_has_torchs_keys_and_shapes():
    tsd, dsd = torch.nn.MultiheadAttention(E, 2).state_dict(), nn.MultiheadAttention(E, 2).state_dict()
    assert [(k, tuple(v.shape)) for k, v in dsd.items()] == [(k, tuple(v.shape)) for k, v in tsd.items()]


def test_multihead_attention_dropout_only_in_training(device):
    mha = nn.MultiheadAttention(E, 2, dropout=0.5, batch_first=True).to(device)
    q = dslib.randn(N, L, E, device=device)
    _, w = mha(q, q, q)
    assert (_np(w) == 0).any()
    mha.eval()
    _, w = mha(q, q, q)
    np.testing.assert_allclose(_np(w).sum(-1), 1.0, rtol=1e-5)


def test_multihead_attention_rejects_bad_shapes():
    mha = nn.MultiheadAttention(E, 2, batch_first=True)
    with pytest.raises(RuntimeError, match=r"embed_dim=8.*key.*\(2, 5, 6\)"):
        mha(dslib.randn(N, L, E), dslib.randn(N, S, 6), dslib.randn(N, S, E))
    with pytest.raises(RuntimeError, match=r"attn_mask must have shape \(4, 5\)"):
        mha(dslib.randn(N, L, E), dslib.randn(N, S, E), dslib.randn(N, S, E), attn_mask=dslib.zeros(5, 4))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(6, 4)


# ----- losses -----
LOSSES = [
    ("CrossEntropyLoss", {}, "class"), ("CrossEntropyLoss", dict(reduction="sum", label_smoothing=0.1), "class"),
    ("NLLLoss", dict(reduction="none"), "class"), ("MSELoss", {}, "float"), ("L1Loss", dict(reduction="sum"), "float"),
    ("BCEWithLogitsLoss", {}, "binary"),
]  # fmt: skip


def test_weighted_cross_entropy_keeps_weight_as_buffer_like_torch(device):
    w = np.array([1.0, 2.0, 0.5, 1.5])
    tmod, dmod = torch.nn.CrossEntropyLoss(weight=torch.tensor(w)), nn.CrossEntropyLoss(weight=dslib.tensor(w))
    assert list(dmod.state_dict()) == list(tmod.state_dict()) == ["weight"]
    compare(tmod, dmod, [rand(6, 4), np.array([0, 3, 1, 1, 2, 0])], device)
    tmod, dmod = (
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)),
        nn.BCEWithLogitsLoss(pos_weight=dslib.tensor(w)),
    )
    compare(tmod, dmod, [rand(6, 4), (rand(6, 4, seed=1) > 0).astype(np.float64)], device)


@pytest.mark.parametrize("name, kw, kind", LOSSES, ids=lambda x: str(x))
def test_loss_modules_match_torch(device, name, kw, kind):
    x = rand(6, 4)
    target = {
        "class": np.array([0, 3, 1, 1, 2, 0]),
        "float": rand(6, 4, seed=1),
        "binary": (rand(6, 4, seed=1) > 0).astype(np.float64),
    }[kind]
    compare(getattr(torch.nn, name)(**kw), getattr(nn, name)(**kw), [x, target], device)


# ----- bad input -----
def test_linear_wrong_in_features_names_layer_and_input_shape():
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=5, out_features=4.*in_features=5.*\(3, 6\)"):
        nn.Linear(5, 4)(dslib.randn(3, 6))


def test_conv2d_wrong_in_channels_names_layer_and_input_shape():
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\).*\(N, 3, H, W\).*\(2, 4, 9, 9\)"):
        nn.Conv2d(3, 8, 3)(dslib.randn(2, 4, 9, 9))
    with pytest.raises(RuntimeError, match=r"\(4, 9\)"):
        nn.Conv2d(3, 8, 3)(dslib.randn(4, 9))


def test_conv2d_bad_constructor_arguments():
    with pytest.raises(ValueError, match="divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")


def test_layernorm_wrong_trailing_shape():
    with pytest.raises(RuntimeError, match=r"LayerNorm\(\(5,\).*\(2, 4\)"):
        nn.LayerNorm(5)(dslib.randn(2, 4))


def test_module_reprs_match_torch():
    pairs = [
        ("Linear", (3, 4), {}), ("Conv2d", (3, 4, 3), dict(stride=2, padding=1, bias=False)),
        ("Conv2d", (3, 4, 3), dict(padding="same")), ("BatchNorm2d", (3,), {}),
        ("LayerNorm", (5,), {}), ("GroupNorm", (2, 4), {}), ("Dropout", (0.1,), {}), ("Embedding", (5, 3), dict(padding_idx=0)),
        ("ReLU", (), {}), ("GELU", (), dict(approximate="tanh")), ("Flatten", (), {}), ("Softmax", (), dict(dim=1)),
        ("Identity", (), {}), ("AdaptiveAvgPool2d", ((2, 2),), {}),
    ]  # fmt: skip
    for name, args, kw in pairs:
        assert repr(getattr(nn, name)(*args, **kw)) == repr(getattr(torch.nn, name)(*args, **kw))
