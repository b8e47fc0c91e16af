"""labkit.schedule_widgets: see a warmup + cosine learning-rate schedule, yours beside dslib's.

    fig = labkit.schedule_figure(warmup_cosine_lr, base_lr=0.1, warmup_steps=10, total_steps=100, eta_min=1e-3)
    labkit.schedule_explorer(warmup_cosine_lr)   # in a notebook: sliders for the warmup, total steps, min lr, base lr

`lr_fn` is the student's function (lab 03, Task 3.5): `lr_fn(step, base_lr, warmup_steps, total_steps,
warmup_start_factor=..., eta_min=...)` -> the learning rate of optimizer step `step`. The figure draws it for
steps 0..total_steps and, dashed on top, the reference: the lr that `dslib.optim.lr_scheduler.warmup_cosine`
sets on a throwaway optimizer step by step (a linear warmup then a cosine decay, Loshchilov & Hutter 2017,
"SGDR", Eq. 5; warmup as in Goyal et al. 2017, "Accurate, Large Minibatch SGD", Sec. 2.2). Nothing here
computes the schedule in closed form: an unfinished `lr_fn` (NotImplementedError) leaves only the reference
curve and a title that says so. The explorer never waits for input, so a notebook that shows it still runs top
to bottom under papermill.
"""

from __future__ import annotations

import math

from .widgets import png

__all__ = ["ScheduleExplorer", "reference_schedule", "schedule_explorer", "schedule_figure"]


def _check(base_lr, warmup_steps, total_steps, warmup_start_factor, eta_min) -> None:
    for name, v in (("warmup_steps", warmup_steps), ("total_steps", total_steps)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"schedule: {name} must be an int, got {v!r}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"schedule: need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
            f"total_steps={total_steps}"
        )
    for name, v in (("base_lr", base_lr), ("eta_min", eta_min), ("warmup_start_factor", warmup_start_factor)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TypeError(f"schedule: {name} must be a finite number, got {v!r}")
    if base_lr <= 0:
        raise ValueError(f"schedule: base_lr must be > 0, got {base_lr!r}")
    if not 0 <= eta_min <= base_lr:
        raise ValueError(f"schedule: eta_min must be in [0, base_lr={base_lr}], got {eta_min!r}")
    if not 0 < warmup_start_factor <= 1:
        raise ValueError(f"schedule: warmup_start_factor must be in (0, 1], got {warmup_start_factor!r}")


def reference_schedule(base_lr, warmup_steps, total_steps, warmup_start_factor=1e-3, eta_min=0.0) -> list[float]:
    """The lr of steps 0..total_steps (total_steps + 1 values) as dslib's warmup_cosine sets them."""
    _check(base_lr, warmup_steps, total_steps, warmup_start_factor, eta_min)
    import dslib
    from dslib.optim.lr_scheduler import warmup_cosine

    param = dslib.zeros(1, requires_grad=True)
    optimizer = dslib.optim.SGD([param], lr=float(base_lr))
    scheduler = warmup_cosine(
        optimizer, warmup_steps, total_steps, warmup_start_factor=warmup_start_factor, eta_min=eta_min
    )
    lrs = []
    for _ in range(total_steps + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    return lrs


def _student_schedule(lr_fn, base_lr, warmup_steps, total_steps, warmup_start_factor, eta_min):
    """(lrs, None) from the student's function, or (None, why) when it is unfinished or fails."""
    try:
        lrs = [
            float(
                lr_fn(
                    step,
                    base_lr,
                    warmup_steps,
                    total_steps,
                    warmup_start_factor=warmup_start_factor,
                    eta_min=eta_min,
                )
            )
            for step in range(total_steps + 1)
        ]
    except NotImplementedError as e:
        return None, f"your schedule is not written yet: {e}"
    except Exception as e:  # noqa: BLE001 - shown to the student in the figure, not raised in the notebook
        return None, f"your schedule raised {type(e).__name__}: {e}"
    return lrs, None


def schedule_figure(
    lr_fn, base_lr=0.1, warmup_steps=10, total_steps=100, eta_min=0.0, warmup_start_factor=1e-3, title=None
):
    """A Figure: the student's lr per step (solid) over dslib's warmup_cosine (dashed), the warmup end marked,
    and the largest difference between the two in the title."""
    from matplotlib.figure import Figure

    reference = reference_schedule(base_lr, warmup_steps, total_steps, warmup_start_factor, eta_min)
    yours, why = _student_schedule(lr_fn, base_lr, warmup_steps, total_steps, warmup_start_factor, eta_min)
    steps = list(range(total_steps + 1))
    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    if yours is not None:
        ax.plot(steps, yours, color="#1f77b4", lw=2.5, label="yours")
    ax.plot(steps, reference, color="#d62728", lw=1.2, ls="--", label="dslib warmup_cosine")
    if warmup_steps:
        ax.axvline(warmup_steps, color="grey", lw=0.8, ls=":")
        ax.annotate("end of warmup", (warmup_steps, base_lr), xytext=(4, -12), textcoords="offset points", fontsize=8)
    ax.axhline(eta_min, color="grey", lw=0.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.legend(loc="upper right", fontsize=8)
    if title is None:
        setting = f"base_lr {base_lr:g}, warmup {warmup_steps}, total {total_steps}, eta_min {eta_min:g}"
        if why is not None:
            title = f"{setting}\n{why}"
        else:
            worst = max(abs(a - b) for a, b in zip(yours, reference))
            title = f"{setting}\nlargest difference from dslib: {worst:.2g}"
    ax.set_title(title, fontsize=9, color="#b00000" if why else "black")
    fig.tight_layout()
    return fig


class ScheduleExplorer:
    """Sliders for warmup steps, total steps, min lr (as a fraction of base_lr) and base lr, and the figure;
    `.widget` is the ipywidgets box. The warmup slider's maximum follows total_steps (warmup < total)."""

    def __init__(self, lr_fn, base_lr=0.1, warmup_steps=10, total_steps=100, eta_min=0.0, warmup_start_factor=1e-3):
        import ipywidgets as W

        _check(base_lr, warmup_steps, total_steps, warmup_start_factor, eta_min)
        self.lr_fn = lr_fn
        self.warmup_start_factor = warmup_start_factor
        self._adjusting = False
        self.sliders = {
            "total_steps": W.IntSlider(
                value=total_steps, min=2, max=max(1000, total_steps), description="total steps",
                continuous_update=False,
            ),
            "warmup_steps": W.IntSlider(
                value=warmup_steps, min=0, max=total_steps - 1, description="warmup", continuous_update=False
            ),
            "min_lr_ratio": W.FloatSlider(
                value=eta_min / base_lr, min=0.0, max=1.0, step=0.01, description="min lr / base", readout_format=".2f",
                continuous_update=False,
            ),
            "base_lr": W.FloatLogSlider(
                value=base_lr, base=10, min=-4, max=0, step=0.1, description="base lr", readout_format=".2g",
                continuous_update=False,
            ),
        }  # fmt: skip
        for s in self.sliders.values():  # after they all exist: redraw reads every slider
            s.observe(lambda change: self.redraw(), names="value")
        self.image = W.Image(format="png")
        self.widget = W.VBox([W.HBox(list(self.sliders.values())[:2]), W.HBox(list(self.sliders.values())[2:]),
                              self.image])  # fmt: skip
        self.redraw()

    @property
    def settings(self) -> dict:
        """The schedule's arguments for the current sliders."""
        s = {name: slider.value for name, slider in self.sliders.items()}
        base_lr = float(s["base_lr"])
        return {
            "base_lr": base_lr,
            "warmup_steps": int(s["warmup_steps"]),
            "total_steps": int(s["total_steps"]),
            "eta_min": min(base_lr, float(s["min_lr_ratio"]) * base_lr),
            "warmup_start_factor": self.warmup_start_factor,
        }

    def redraw(self) -> None:
        """Redraw for the current sliders."""
        if self._adjusting:
            return
        warmup, total = self.sliders["warmup_steps"], self.sliders["total_steps"]
        if warmup.max != total.value - 1:
            self._adjusting = True  # lowering max may clamp the warmup, whose observer must not redraw
            try:
                warmup.max = total.value - 1
            finally:
                self._adjusting = False
        self.image.value = png(schedule_figure(self.lr_fn, **self.settings))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def schedule_explorer(lr_fn, **settings) -> ScheduleExplorer:
    """The interactive schedule explorer for the student's `lr_fn` (display it as a cell's last line)."""
    return ScheduleExplorer(lr_fn, **settings)
