"""Graph passes: each takes a captured `Graph`, rewrites it in place and returns how many nodes it changed.

DEFAULT_PASSES is the order `dslib.compile` runs them in: constant folding first (it turns subgraphs into
consts that CSE can then merge), CSE next (fusion must see shared values as shared), DCE to drop what they
left unused, and fusion last (it needs the final use counts).
"""

from .constant_fold import constant_fold
from .cse import common_subexpression_elimination
from .dce import dead_code_elimination
from .fusion import fuse_elementwise

DEFAULT_PASSES = (constant_fold, common_subexpression_elimination, dead_code_elimination, fuse_elementwise)

__all__ = [
    "DEFAULT_PASSES",
    "common_subexpression_elimination",
    "constant_fold",
    "dead_code_elimination",
    "fuse_elementwise",
]
