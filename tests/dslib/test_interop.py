"""PyTorch interop: a torch model and its dslib port (the same class body with `nn` swapped) loaded from
the torch state dict give the same outputs and parameter gradients, and the weights export back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
import dslib.nn as dnn
from dslib.interop import from_torch_state_dict, load_torch_state_dict, to_torch_state_dict


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: on a shared 2-core machine torch's thread pool only adds contention (5x slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_cnn(nn):
    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
            )  # fmt: skip
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.0), nn.Linear(16, 10))

        def forward(self, x):
            return self.head(self.features(x))

    return SmallCNN()


def make_block(nn):
    class Block(nn.Module):
        """A pre-norm transformer block: x + attn(ln(x)); x + mlp(ln(x))."""

        def __init__(self, d=16, heads=4):
            super().__init__()
            self.emb = nn.Embedding(20, d)
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
            self.out = nn.Linear(d, 20)

        def forward(self, idx, mask):
            x = self.emb(idx)
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            x = x + self.mlp(self.ln2(x))
            return self.out(x)

    return Block()


def _grads_match(tmodel, dmodel, atol, rtol):
    dgrads = dict(dmodel.named_parameters())
    for name, p in tmodel.named_parameters():
        assert dgrads[name].grad is not None, name
        np.testing.assert_allclose(
            dgrads[name].grad.to("numpy").numpy(), p.grad.numpy(), atol=atol, rtol=rtol, err_msg=name
        )


def _export_back(tmodel_cls, dmodel):
    fresh = tmodel_cls(torch.nn)
    fresh.load_state_dict(to_torch_state_dict(dmodel.state_dict()), strict=True)
    for (k, a), (_, b) in zip(fresh.state_dict().items(), dmodel.state_dict().items()):
        assert a.dtype == getattr(torch, b.dtype.name), k
        np.testing.assert_array_equal(a.numpy(), b.to("numpy").numpy(), err_msg=k)
    return fresh


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_cnn_port_matches_torch_forward_gradients_and_running_stats(device):
    torch.manual_seed(0)
    tmodel = make_cnn(torch.nn)
    dmodel = make_cnn(dnn)
    load_torch_state_dict(dmodel, tmodel.state_dict())
    dmodel.to(device)
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    y = np.array([1, 0, 9, 3])
    for _ in range(2):  # two training steps: BatchNorm running stats move
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
        dloss = dnn.functional.cross_entropy(dmodel(dslib.tensor(x, device=device)), dslib.tensor(y, device=device))
        np.testing.assert_allclose(dloss.item(), tloss.item(), rtol=1e-5)
        tloss.backward()
        dloss.backward()
    _grads_match(tmodel, dmodel, atol=1e-5, rtol=1e-4)
    tmodel.eval()
    dmodel.eval()
    with torch.no_grad():
        tout = tmodel(torch.tensor(x)).numpy()
    np.testing.assert_allclose(dmodel(dslib.tensor(x, device=device)).detach().to("numpy").numpy(), tout, atol=1e-5)
    fresh = _export_back(make_cnn, dmodel)
    assert fresh.features[1].num_batches_tracked.item() == 2


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_transformer_block_port_matches_torch_forward_and_gradients(device):
    torch.manual_seed(0)
    tmodel = make_block(torch.nn)
    dmodel = make_block(dnn)
    assert list(dmodel.state_dict()) == list(tmodel.state_dict())
    dmodel.load_state_dict(from_torch_state_dict(tmodel.state_dict()))
    dmodel.to(device)
    idx = np.random.default_rng(0).integers(0, 20, (2, 7))
    mask = np.triu(np.ones((7, 7), dtype=bool), 1)
    tout = tmodel(torch.tensor(idx), torch.tensor(mask))
    dout = dmodel(dslib.tensor(idx, device=device), dslib.tensor(mask, device=device))
    np.testing.assert_allclose(dout.detach().to("numpy").numpy(), tout.detach().numpy(), atol=2e-5, rtol=1e-4)
    g = np.random.default_rng(1).standard_normal(tout.shape).astype(np.float32)
    (tout * torch.tensor(g)).sum().backward()
    (dout * dslib.tensor(g, device=device)).sum().backward()
    _grads_match(tmodel, dmodel, atol=1e-4, rtol=1e-3)
    _export_back(make_block, dmodel)


def test_state_dict_conversion_keeps_order_dtypes_and_copies():
    sd = torch.nn.BatchNorm1d(3).state_dict()
    d = from_torch_state_dict(sd)
    assert list(d) == list(sd)
    assert d["num_batches_tracked"].dtype is dslib.int64 and d["num_batches_tracked"].shape == ()
    assert all(t.device == "numpy" for t in d.values())
    d["running_mean"][0] = 5.0
    assert sd["running_mean"][0].item() == 0.0  # a copy, not a view
    back = to_torch_state_dict(d)
    assert back["running_mean"][0].item() == 5.0 and back["num_batches_tracked"].dtype == torch.int64
    on_torch = from_torch_state_dict(sd, device="torch")
    assert all(t.device == "torch" for t in on_torch.values())


def test_conversion_is_recursive_and_handles_bfloat16():
    nested = {"model": {"w": torch.ones(2, dtype=torch.bfloat16)}, "epoch": 3, "hist": [torch.zeros(1)]}
    d = from_torch_state_dict(nested)
    assert d["epoch"] == 3 and d["model"]["w"].dtype is dslib.bfloat16 and d["model"]["w"].device == "torch"
    assert d["hist"][0].device == "numpy"
    back = to_torch_state_dict(d)
    assert back["model"]["w"].dtype == torch.bfloat16 and torch.equal(back["model"]["w"], nested["model"]["w"])


def test_load_torch_state_dict_strict_reports_key_mismatches():
    model = dnn.Linear(3, 2)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        load_torch_state_dict(model, {"weight": torch.zeros(2, 3)})
    missing, unexpected = load_torch_state_dict(model, {"weight": torch.zeros(2, 3), "x": torch.zeros(1)}, strict=False)
    assert missing == ["bias"] and unexpected == ["x"]
    assert (model.weight.detach().numpy() == 0).all()
