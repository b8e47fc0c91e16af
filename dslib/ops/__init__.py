"""Differentiable ops: each is a Function with forward and backward side by side.

elementwise.py  arithmetic, math functions, activations, comparisons, casts
reduction.py    sum, mean, max/min/amax/amin, var/std, logsumexp, argmax
shape.py        reshape/view, permute/transpose, expand, cat/stack, pad, repeat, roll, tril/triu
indexing.py     __getitem__/__setitem__, gather, scatter_add, index_select
linalg.py       matmul, einsum
"""
