"""dslib: a small, complete deep-learning framework for studying how one works inside.

    import dslib
    x = dslib.randn(3, 4, requires_grad=True)
    (x.relu() ** 2).sum().backward()
    print(x.grad)

Tensors run on NumPy (device="numpy", the default) or on PyTorch's kernels (device="torch" / "cuda");
gradients always come from dslib's own autograd. See dslib/README.md for the tour.
"""

from . import dtypes
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)  # fmt: skip
from .device import cuda_is_available, device
from .dtypes import (
    bfloat16,
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)  # fmt: skip
from .ops.api import (
    abs,
    add,
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    bmm,
    cat,
    chunk,
    clamp,
    clip,
    concatenate,
    cos,
    div,
    einsum,
    eq,
    exp,
    expand,
    flatten,
    flip,
    floor_divide,
    gather,
    ge,
    gelu,
    gt,
    index_select,
    le,
    log,
    log1p,
    logsumexp,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    ne,
    neg,
    norm,
    permute,
    pow,
    relu,
    remainder,
    repeat,
    reshape,
    roll,
    rsqrt,
    scatter_add,
    sigmoid,
    silu,
    sin,
    softplus,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    tanh,
    transpose,
    tril,
    triu,
    unbind,
    unsqueeze,
    var,
    where,
)  # fmt: skip
from .random import Generator, default_generator, manual_seed
from .tensor import Tensor

bool = bool_  # noqa: A001 - dslib.bool, as torch.bool
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001

__version__ = "0.1.0"

from . import amp, data, memory, nn, optim, profiler  # noqa: E402
from .amp import autocast  # noqa: E402
from .graph import compile  # noqa: E402
from .serialization import load, save  # noqa: E402
