"""dslib.amp: automatic mixed precision, as torch.amp.

`autocast` (autocast_mode.py) runs matmul / linear / conv2d in float16 or bfloat16 and the numerically
touchy ops in float32; `GradScaler` (grad_scaler.py) scales the loss so that float16 gradients do not
underflow, and skips the steps whose gradients overflowed. Run their tests with

    .venv/bin/pytest tests/dslib/amp -q
"""

from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
