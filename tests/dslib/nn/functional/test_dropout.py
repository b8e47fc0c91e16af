"""dropout: scaling, determinism under dslib.manual_seed, gradient through the same mask, eval identity."""

import numpy as np
import pytest

import dslib
import dslib.nn.functional as F


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_dropout_zeroes_about_p_and_scales_the_rest(device):
    dslib.manual_seed(0)
    x = dslib.ones(200, 100, device=device)
    y = F.dropout(x, 0.3).numpy()
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / 0.7, rtol=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.02


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_dropout_is_reproducible_and_its_gradient_uses_the_same_mask(device):
    dslib.manual_seed(3)
    x = dslib.randn(10, 10, device=device, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (y.detach().numpy() != 0) * 2.0)
    dslib.manual_seed(3)
    x2 = dslib.randn(10, 10, device=device)
    np.testing.assert_array_equal(F.dropout(x2, 0.5).numpy(), y.detach().numpy())


def test_dropout_is_identity_in_eval_and_rejects_bad_p():
    x = dslib.randn(3, 3)
    assert F.dropout(x, 0.5, training=False) is x
    assert float(F.dropout(x, 1.0).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)
