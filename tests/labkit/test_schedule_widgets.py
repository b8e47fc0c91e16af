"""labkit/schedule_widgets.py: the learning-rate schedule figure (the student's curve over dslib's warmup_cosine) and
the ipywidgets explorer around it, without a browser."""

from __future__ import annotations

import math

import ipywidgets
import pytest
from matplotlib.figure import Figure

import labkit

PNG_MAGIC = b"\x89PNG"


def closed_form(step, base_lr, warmup_steps, total_steps, warmup_start_factor=1e-3, eta_min=0.0):
    """A correct warmup + cosine, written independently of dslib (what lab 03's Task 3.5 asks for)."""
    if step < warmup_steps:
        return base_lr * (warmup_start_factor + (1 - warmup_start_factor) * step / warmup_steps)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * progress)) / 2


def unfinished(step, base_lr, warmup_steps, total_steps, warmup_start_factor=1e-3, eta_min=0.0):
    raise NotImplementedError("Task 3.5 — not implemented yet: write the body of warmup_cosine_lr")


def no_warmup(step, base_lr, warmup_steps, total_steps, warmup_start_factor=1e-3, eta_min=0.0):
    return closed_form(step, base_lr, 0, total_steps, warmup_start_factor, eta_min)  # a typical mistake


def test_reference_schedule_is_dslibs_warmup_cosine_stepped_and_matches_the_closed_form():
    lrs = labkit.reference_schedule(0.1, 5, 20, warmup_start_factor=0.01, eta_min=0.002)
    assert len(lrs) == 21
    assert lrs[0] == pytest.approx(0.001) and lrs[5] == pytest.approx(0.1) and lrs[20] == pytest.approx(0.002)
    assert lrs == pytest.approx([closed_form(t, 0.1, 5, 20, 0.01, 0.002) for t in range(21)], rel=1e-9)


def test_the_figure_draws_both_curves_and_reports_the_largest_difference():
    fig = labkit.schedule_figure(closed_form, base_lr=0.1, warmup_steps=10, total_steps=50, eta_min=0.01)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "yours" in labels and "dslib warmup_cosine" in labels
    yours = next(line for line in ax.get_lines() if line.get_label() == "yours")
    assert len(yours.get_xdata()) == 51
    title = ax.get_title()
    assert "largest difference from dslib" in title
    assert float(title.rsplit(" ", 1)[1]) < 1e-12


def test_a_wrong_schedule_shows_a_large_difference_and_an_unfinished_one_says_so():
    wrong = labkit.schedule_figure(no_warmup, base_lr=0.1, warmup_steps=10, total_steps=50)
    assert float(wrong.axes[0].get_title().rsplit(" ", 1)[1]) > 0.01
    fig = labkit.schedule_figure(unfinished, base_lr=0.1, warmup_steps=10, total_steps=50)
    title = fig.axes[0].get_title()
    assert "your schedule is not written yet: Task 3.5 — not implemented yet" in title
    assert [line.get_label() for line in fig.axes[0].get_lines() if line.get_label() == "yours"] == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(warmup_steps=10, total_steps=10), "need 0 <= warmup_steps < total_steps"),
        (dict(warmup_steps=-1, total_steps=10), "need 0 <= warmup_steps < total_steps"),
        (dict(base_lr=0.0), "base_lr must be > 0"),
        (dict(base_lr=0.1, eta_min=0.2), "eta_min must be in"),
        (dict(warmup_start_factor=0.0), "warmup_start_factor must be in"),
    ],
)
def test_bad_settings_are_refused_with_the_argument_named(kwargs, message):
    settings = dict(base_lr=0.1, warmup_steps=2, total_steps=10, eta_min=0.0, warmup_start_factor=1e-3) | kwargs
    with pytest.raises(ValueError, match=message):
        labkit.schedule_figure(closed_form, **settings)


def test_non_integer_steps_are_a_type_error():
    with pytest.raises(TypeError, match="warmup_steps must be an int"):
        labkit.reference_schedule(0.1, 2.5, 10)


def test_the_explorer_draws_at_once_and_redraws_when_a_slider_moves():
    explorer = labkit.schedule_explorer(closed_form, base_lr=0.1, warmup_steps=10, total_steps=100, eta_min=0.005)
    assert isinstance(explorer.widget, ipywidgets.VBox)
    first = bytes(explorer.image.value)
    assert first.startswith(PNG_MAGIC)
    assert explorer.settings == pytest.approx(
        {"base_lr": 0.1, "warmup_steps": 10, "total_steps": 100, "eta_min": 0.005, "warmup_start_factor": 1e-3}
    )
    explorer.sliders["warmup_steps"].value = 30
    assert bytes(explorer.image.value) != first and explorer.settings["warmup_steps"] == 30


def test_the_warmup_slider_stays_below_total_steps():
    explorer = labkit.schedule_explorer(closed_form, base_lr=0.1, warmup_steps=40, total_steps=100)
    explorer.sliders["total_steps"].value = 20
    assert explorer.sliders["warmup_steps"].max == 19
    assert explorer.settings["warmup_steps"] <= 19  # clamped, and the figure was drawn for a valid setting
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
