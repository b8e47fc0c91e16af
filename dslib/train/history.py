"""History: the metrics a training run logs, as a list of records, with JSON export and matplotlib curves.

Each record is a dict with "step" (optimizer steps so far) and "epoch", plus the values logged at that
point: training records carry loss, accuracy, lr and samples_per_s (means over the steps since the
previous record); validation records carry val_loss and val_accuracy.

    history = trainer.fit(epochs=10)
    steps, losses = history.series("loss")
    history.save_json("run/history.json")
    history.plot().savefig("run/curves.png")
"""

from __future__ import annotations

import json
import math
import os
import tempfile

# The curves History.plot draws: (title, [(key, label), ...]), one panel each.
PANELS = [
    ("loss", [("loss", "train"), ("val_loss", "validation")]),
    ("accuracy", [("accuracy", "train"), ("val_accuracy", "validation")]),
    ("learning rate", [("lr", "lr")]),
    ("throughput (samples/s)", [("samples_per_s", "train")]),
]


class History:
    def __init__(self, records: list[dict] | None = None):
        self.records: list[dict] = [dict(r) for r in records or []]

    def log(self, step: int, epoch: int, **values) -> dict:
        """Append one record {"step", "epoch", **values} and return it."""
        record = {"step": int(step), "epoch": int(epoch), **{k: float(v) for k, v in values.items()}}
        self.records.append(record)
        return record

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of every record that has `key`."""
        pairs = [(r["step"], r[key]) for r in self.records if key in r]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def last(self, key: str, default=None):
        """The latest logged value of `key` (default when it was never logged)."""
        _, values = self.series(key)
        return values[-1] if values else default

    def to_dict(self) -> dict:
        return {"records": [dict(r) for r in self.records]}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        if not isinstance(d, dict) or not isinstance(d.get("records"), list):
            raise ValueError("History.from_dict expects {'records': [dict, ...]} as written by History.to_dict()")
        return cls(d["records"])

    def save_json(self, path) -> None:
        """Write to_dict() as JSON, atomically (nan/inf written as null)."""
        records = [{k: _json_number(v) for k, v in r.items()} for r in self.records]
        text = json.dumps({"records": records}, indent=1)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".history.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def plot(self, title: str | None = None):
        """A matplotlib Figure with one panel per curve kind (loss, accuracy, lr, throughput) against step."""
        from matplotlib.figure import Figure  # not pyplot: no global state, no window, works headless

        fig = Figure(figsize=(12, 3.2), layout="constrained")
        axes = fig.subplots(1, len(PANELS))
        for ax, (name, curves) in zip(axes, PANELS):
            for key, label in curves:
                steps, values = self.series(key)
                if steps:
                    ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
            ax.set_title(name)
            ax.set_xlabel("step")
            if ax.has_data() and len(curves) > 1:
                ax.legend()
        if title:
            fig.suptitle(title)
        return fig

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        return f"History({len(self.records)} records, last: {self.records[-1] if self.records else None})"


def _json_number(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v
