"""The training step the graph-mode tests compile: zero_grad, forward, loss, backward, optimizer step (the idiom a
user writes). One definition, so every test compiles the same step."""

from __future__ import annotations

from dslib import nn


def train_step(model, opt, loss_fn=None):
    """A function (x, y) -> loss that runs one training step of `model` with `opt` (cross-entropy by default)."""
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step
