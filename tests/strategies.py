"""Hypothesis strategies shared by the test suite: small shapes, broadcastable shape pairs, reduction dims.

Shapes stay small (at most 4 dims of size <= 4) so each example runs in milliseconds.
"""

from __future__ import annotations

from hypothesis import strategies as st

MAX_DIMS = 4
MAX_SIZE = 4


def shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIZE):
    """A tuple shape such as (), (3,), (2, 1, 4)."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcastable_shapes(draw, min_dims=0, max_dims=MAX_DIMS, allow_empty=False):
    """A pair of shapes that broadcast together: each trailing dim is equal or 1 on one side; one
    side may have fewer dims. With allow_empty, a dim may be 0 (broadcast against 0 or 1)."""
    base = draw(shapes(min_dims, max_dims, min_side=0 if allow_empty else 1))
    a, b = [], []
    for n in base:
        choice = draw(st.integers(0, 2))  # 0: both n, 1: a has 1, 2: b has 1
        a.append(1 if choice == 1 else n)
        b.append(1 if choice == 2 else n)
    drop_a = draw(st.integers(0, len(base)))
    drop_b = draw(st.integers(0, len(base))) if drop_a == 0 else 0
    return tuple(a[drop_a:]), tuple(b[drop_b:])


@st.composite
def shape_and_dims(draw, min_dims=1, max_dims=MAX_DIMS):
    """A shape and a reduction `dim`: None, one int (maybe negative) or a tuple of distinct ints."""
    shape = draw(shapes(min_dims, max_dims))
    n = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or n == 0:
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-n, n - 1))
    axes = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return shape, tuple(axes)
