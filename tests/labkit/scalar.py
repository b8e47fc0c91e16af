"""A complete micrograd-style scalar `Value` (lab 01's engine, solved) for testing labkit's graph tools."""

from __future__ import annotations

import math


class Value:
    def __init__(self, data, _prev=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._op = _op
        self._backward = lambda: None
        self.label = ""

    def _unary(self, data, op, local):
        out = type(self)(data, (self,), op)

        def _backward():
            self.grad += local() * out.grad

        out._backward = _backward
        return out

    def __add__(self, other):
        other = as_value(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = as_value(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k):
        return self._unary(self.data**k, f"**{k}", lambda: k * self.data ** (k - 1))

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, "tanh", lambda: 1 - t * t)

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, "exp", lambda: e)

    def relu(self):
        return self._unary(max(self.data, 0.0), "relu", lambda: float(self.data > 0))

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev if p not in seen)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-as_value(other))

    def __truediv__(self, other):
        return self * as_value(other) ** -1

    def __radd__(self, other):
        return as_value(other) + self

    def __rmul__(self, other):
        return as_value(other) * self

    def __rsub__(self, other):
        return as_value(other) - self

    def __rtruediv__(self, other):
        return as_value(other) / self


def as_value(x):
    return x if isinstance(x, Value) else Value(x)


class UnfinishedValue(Value):
    """A Value whose backward is still the released stub of Task 1.4."""

    def backward(self):
        raise NotImplementedError("Task 1.4 — not implemented yet: write the body of backward")
