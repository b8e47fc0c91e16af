"""The printable SSA IR and its Graphviz export."""

import dslib
from dslib import nn


def test_print_shows_one_ssa_line_per_node_with_types():
    dslib.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(128, 64), nn.ReLU())
    fast = dslib.compile(mlp, passes=())
    fast(dslib.randn(32, 128))
    text = str(fast.graph)
    assert "%x0 = input : float32[32, 128]" in text
    assert "%0.weight = param : float32[64, 128]" in text
    assert "%0 = linear(%x0, %0.weight, %0.bias) : float32[32, 64]" in text
    assert "%1 = relu(%0) : float32[32, 64]" in text
    assert text.splitlines()[-2] == "  return %1"


def test_print_shows_constants_and_fused_kernels():
    fast = dslib.compile(lambda x: (x + dslib.tensor(2.0)).exp() * 3)
    fast(dslib.randn(4))
    text = str(fast.graph)
    assert "= const 2.0 : float32[]" in text
    assert "fused[add, exp, mul](%x0, %c0" in text


def test_to_dot_has_a_node_per_value_and_an_edge_per_read():
    fast = dslib.compile(lambda x, y: x * y + x, passes=())
    fast(dslib.randn(2), dslib.randn(2))
    dot = fast.graph.to_dot()
    assert dot.startswith("digraph G {") and dot.rstrip().endswith("}")
    assert dot.count("->") == 5  # x->mul, y->mul, mul->add, x->add, add->return
    assert '"%0 = mul\\nfloat32[2]"' in dot
