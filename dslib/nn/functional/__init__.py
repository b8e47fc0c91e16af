"""dslib.nn.functional: the stateless layer functions, under torch.nn.functional's names and signatures.

One file per concept: conv.py, pooling.py, normalization.py, linear.py, activation.py (softmax and
friends), dropout.py, embedding.py, loss.py, attention.py. Each op is a Function with its forward
and backward side by side; the heavy kernels live per backend in dslib/backend/{numpy,torch}_kernels.py.
"""

from ...ops.api import pad
from .activation import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)  # fmt: skip
from .attention import scaled_dot_product_attention
from .conv import conv2d
from .dropout import dropout
from .embedding import embedding
from .linear import linear
from .loss import binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss, nll_loss
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "group_norm",
    "hardtanh",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "relu6",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]
