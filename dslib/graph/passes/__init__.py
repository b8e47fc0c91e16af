"""Graph passes: each takes a captured `Graph`, rewrites it in place and returns how many nodes it changed.

DEFAULT_PASSES is the order `dslib.compile` runs them in: constant folding first (it turns subgraphs into
consts that CSE can then merge), CSE next (fusion must see shared values as shared), DCE to drop what they
left unused, conv+BN folding (inference graphs: one conv with folded weights), fusion (it needs the final
use counts), and rematerialization last (after CSE, which would merge a recomputed copy back into its
original; training graphs only). In-place reuse (`mark_inplace`) only annotates the graph for the memory
planner and the arena executor, so it is not a default pass.
"""

from .constant_fold import constant_fold
from .conv_bn import fold_conv_batchnorm
from .cse import common_subexpression_elimination
from .dce import dead_code_elimination
from .fusion import fuse_elementwise
from .inplace import find_inplace, mark_inplace
from .remat import rematerialize

DEFAULT_PASSES = (
    constant_fold,
    common_subexpression_elimination,
    dead_code_elimination,
    fold_conv_batchnorm,
    fuse_elementwise,
    rematerialize,
)

__all__ = [
    "DEFAULT_PASSES",
    "common_subexpression_elimination",
    "constant_fold",
    "dead_code_elimination",
    "find_inplace",
    "fold_conv_batchnorm",
    "fuse_elementwise",
    "mark_inplace",
    "rematerialize",
]
