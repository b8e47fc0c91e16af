"""History: records, series, JSON round trip and the matplotlib curves."""

from __future__ import annotations

import json
import math

import pytest

from dslib.train import History


def _history():
    h = History()
    for step in (10, 20, 30):
        h.log(step, step // 20, loss=1.0 / step, accuracy=step / 40, lr=0.1, samples_per_s=500.0)
    h.log(30, 1, val_loss=0.05, val_accuracy=0.7)
    return h


def test_series_and_last_pick_the_records_that_have_the_key():
    h = _history()
    assert h.series("loss") == ([10, 20, 30], [0.1, 0.05, 1.0 / 30])
    assert h.series("val_accuracy") == ([30], [0.7])
    assert h.last("accuracy") == 0.75 and h.last("missing", default=-1) == -1
    assert len(h) == 4 and h.records[0] == {"step": 10, "epoch": 0, "loss": 0.1, "accuracy": 0.25, "lr": 0.1,
                                            "samples_per_s": 500.0}  # fmt: skip


def test_json_round_trip(tmp_path):
    h = _history()
    h.log(40, 2, loss=math.nan)
    h.save_json(tmp_path / "h.json")
    data = json.loads((tmp_path / "h.json").read_text())  # strict JSON: nan became null
    assert data["records"][-1] == {"step": 40, "epoch": 2, "loss": None}
    assert History.from_dict(h.to_dict()).records == h.records
    with pytest.raises(ValueError, match="expects {'records'"):
        History.from_dict([1, 2])


def test_plot_draws_one_panel_per_metric_with_train_and_validation_curves(tmp_path):
    fig = _history().plot(title="toy")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "learning rate", "throughput (samples/s)"]
    loss_ax = fig.axes[0]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train", "validation"]
    assert list(loss_ax.get_lines()[0].get_xdata()) == [10, 20, 30]
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
