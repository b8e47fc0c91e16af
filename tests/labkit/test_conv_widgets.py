"""labkit/conv_widgets.py: the im2col drawing (a matplotlib Figure) and its ipywidgets explorer, without a browser.

The student's im2col is stood in for by torch's unfold (the same patch matrix, transposed), a wrong one and an
unfinished one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import labkit

PNG_MAGIC = b"\x89PNG"


def unfold_im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """A correct im2col: (N, C, H, W) -> (N*Ho*Wo, C*kh*kw), from torch's unfold."""
    cols = torch.nn.functional.unfold(torch.from_numpy(x), kernel_size, dilation, padding, stride)  # (N, CKK, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1]).numpy()


def unfinished_im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    raise NotImplementedError("Task 2.1 — not implemented yet: write the body of im2col")


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [fig._suptitle.get_text() if fig._suptitle else ""]


@pytest.mark.parametrize(
    "size,kernel,stride,padding,dilation",
    [(8, 3, 1, 1, 1), (8, 3, 2, 1, 1), (8, 1, 2, 0, 1), (7, 3, 2, 0, 2), (5, 5, 1, 0, 1), (10, 2, 3, 2, 1)],
)
def test_conv_output_size_matches_torch(size, kernel, stride, padding, dilation):
    out = torch.nn.functional.conv2d(
        torch.zeros(1, 1, size, size),
        torch.zeros(1, 1, kernel, kernel),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    assert labkit.conv_output_size(size, kernel, stride, padding, dilation) == out.shape[-1]


@pytest.mark.parametrize("bad", [{"stride": 0}, {"kernel": 0}, {"padding": -1}, {"dilation": 1.5}, {"size": "8"}])
def test_conv_output_size_names_the_bad_argument(bad):
    args = {"size": 8, "kernel": 3, "stride": 1, "padding": 0, "dilation": 1, **bad}
    (name,) = bad
    with pytest.raises(ValueError, match=f"conv_output_size: {name} must be"):
        labkit.conv_output_size(**args)


def test_patch_index_matrix_holds_the_pixel_numbers_each_row_reads():
    cols = labkit.patch_index_matrix(unfold_im2col, 3, 3, kernel=2, stride=1, padding=0, dilation=1)
    np.testing.assert_array_equal(cols, [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]])
    cols = labkit.patch_index_matrix(unfold_im2col, 3, 3, kernel=3, stride=2, padding=1, dilation=1)
    np.testing.assert_array_equal(cols[0], [0, 0, 0, 0, 1, 2, 0, 4, 5])  # 0: the padding


def test_patch_index_matrix_rejects_a_wrong_shape_and_a_kernel_that_does_not_fit():
    with pytest.raises(
        ValueError, match=r"im2col returned shape \(9, 4\) .* expected \(N\*Ho\*Wo, C\*kh\*kw\) = \(4, 9\)"
    ):
        labkit.patch_index_matrix(lambda x, *a: unfold_im2col(x, *a).T, 4, 4, 3, 1, 0, 1)
    with pytest.raises(ValueError, match="does not fit"):
        labkit.patch_index_matrix(unfold_im2col, 3, 3, 5, 1, 0, 1)


def test_im2col_figure_draws_the_padded_input_and_the_matrix_and_renders_to_png():
    import io

    fig = labkit.im2col_figure(unfold_im2col, height=5, width=5, kernel=3, stride=2, padding=1, position=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    texts = _texts(fig)
    assert "output 3x3" in texts[-1] and "81 numbers" in texts[-1]
    assert [t.get_text() for t in fig.axes[0].texts].count("0") == 7 * 7 - 25  # the padding ring of a 5x5 input
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(PNG_MAGIC)


def test_im2col_figure_says_when_im2col_is_unfinished_or_the_kernel_does_not_fit():
    fig = labkit.im2col_figure(unfinished_im2col)
    assert any("im2col is not written yet" in t and "Task 2.1" in t for t in _texts(fig))
    fig = labkit.im2col_figure(unfold_im2col, height=2, width=2, kernel=3)
    assert any("does not fit" in t for t in _texts(fig))


def test_explorer_redraws_when_a_slider_moves_and_keeps_the_output_pixel_in_range():
    import ipywidgets

    explorer = labkit.im2col_explorer(unfold_im2col, height=6, width=6, kernel=3, stride=1, padding=1)
    assert isinstance(explorer.widget, ipywidgets.VBox)
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
    position = explorer.sliders["position"]
    assert position.max == 6 * 6 - 1
    position.value = 30
    first = bytes(explorer.image.value)
    explorer.sliders["stride"].value = 2  # output 3x3: the position is clamped to the last pixel
    assert position.max == 8 and position.value == 8
    assert bytes(explorer.image.value) != first and bytes(explorer.image.value).startswith(PNG_MAGIC)
    explorer.sliders["kernel"].value = 5  # still fits the 6x6 input padded by 1
    explorer.sliders["height"].value = 2  # (2 + 2) rows: the kernel no longer fits; a message, no exception
    assert position.max == 0


def test_explorer_works_before_the_task_is_done():
    explorer = labkit.im2col_explorer(unfinished_im2col)
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
