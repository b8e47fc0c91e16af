"""labkit.conv_widgets: see what im2col does: the input grid, one output pixel's receptive field, the patch matrix.

    fig = labkit.im2col_figure(im2col, height=5, width=5, kernel=3, stride=2, padding=1)   # a matplotlib Figure
    labkit.im2col_explorer(im2col)   # in a notebook: sliders for the sizes, stride, padding, dilation, output pixel

`im2col` is the student's function (lab 02, Task 2.1): `im2col(x, kernel_size, stride, padding, dilation)`
turns an (N, C, H, W) array into the (N*Ho*Wo, C*kh*kw) patch matrix. The drawing feeds it one 1x1xHxW image
whose pixels hold their own numbers 1..H*W, so every entry of the matrix says which pixel it copied (0: a
padding zero). The receptive field highlighted on the input is computed here from the sizes alone, so a wrong
im2col shows up as a matrix row that does not match the highlighted pixels. Nothing here computes the patch
matrix itself: an unfinished im2col (NotImplementedError) gives a figure that says so. The explorer never
waits for input, so a notebook that shows it still runs top to bottom under papermill.
"""

from __future__ import annotations

import numpy as np

from .widgets import png

__all__ = ["Im2colExplorer", "conv_output_size", "im2col_explorer", "im2col_figure", "patch_index_matrix"]

_HIGHLIGHT, _PAD, _PIXEL = "#ffcf5c", "#d9d9d9", "#eef4fb"


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis: floor((size + 2p - d(k-1) - 1) / s) + 1 (torch's formula)."""
    for name, v, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
        if not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"conv_output_size: {name} must be an int >= {low}, got {v!r}")
    if not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"conv_output_size: padding must be an int >= 0, got {padding!r}")
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def patch_index_matrix(im2col, height: int, width: int, kernel: int, stride: int, padding: int, dilation: int):
    """The patch matrix that `im2col` makes of a 1x1xHxW image holding 1..H*W (float64): entry = pixel number.

    Raises ValueError if the kernel does not fit, or if im2col's result does not have the (Ho*Wo, k*k) shape."""
    ho = conv_output_size(height, kernel, stride, padding, dilation)
    wo = conv_output_size(width, kernel, stride, padding, dilation)
    if ho < 1 or wo < 1:
        raise ValueError(
            f"a {kernel}x{kernel} kernel with dilation {dilation} does not fit in a {height}x{width} input "
            f"padded by {padding}: the output would be {ho}x{wo}"
        )
    image = np.arange(1, height * width + 1, dtype=np.float64).reshape(1, 1, height, width)
    cols = np.asarray(im2col(image, (kernel, kernel), stride, padding, dilation))
    if cols.shape != (ho * wo, kernel * kernel):
        raise ValueError(
            f"im2col returned shape {cols.shape} for a 1x1x{height}x{width} input, expected "
            f"(N*Ho*Wo, C*kh*kw) = ({ho * wo}, {kernel * kernel})"
        )
    return cols


def _receptive_field(position, wo, kernel, stride, padding, dilation):
    """(row, col) in padded-input coordinates of the pixels that output `position` (row-major) reads."""
    i, j = divmod(position, wo)
    return {(i * stride + a * dilation, j * stride + b * dilation) for a in range(kernel) for b in range(kernel)}


def im2col_figure(
    im2col, height=5, width=5, kernel=3, stride=1, padding=0, dilation=1, position=0, title: str | None = None
):
    """A Figure: the padded input (pixel numbers, the receptive field of output `position` highlighted) beside
    the patch matrix im2col makes (its row `position` highlighted), with the shapes and the memory ratio."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.6))
    try:
        cols = patch_index_matrix(im2col, height, width, kernel, stride, padding, dilation)
    except NotImplementedError as e:
        return _message_figure(fig, f"im2col is not written yet:\n{e}")
    except ValueError as e:
        return _message_figure(fig, str(e))
    ho = conv_output_size(height, kernel, stride, padding, dilation)
    wo = conv_output_size(width, kernel, stride, padding, dilation)
    position = int(np.clip(position, 0, ho * wo - 1))
    field = _receptive_field(position, wo, kernel, stride, padding, dilation)
    hp, wp = height + 2 * padding, width + 2 * padding

    ax_in, ax_mat = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.35]})
    for r in range(hp):
        for c in range(wp):
            inside = padding <= r < padding + height and padding <= c < padding + width
            number = (r - padding) * width + (c - padding) + 1 if inside else 0
            color = _HIGHLIGHT if (r, c) in field else (_PIXEL if inside else _PAD)
            ax_in.add_patch(_square(c, r, color))
            ax_in.text(c + 0.5, r + 0.5, str(number), ha="center", va="center", fontsize=_font(max(hp, wp)))
    ax_in.set_xlim(0, wp)
    ax_in.set_ylim(hp, 0)
    ax_in.set_aspect("equal")
    ax_in.set_axis_off()
    ax_in.set_title(
        f"input 1x1x{height}x{width}, padded to {hp}x{wp} (grey: padding)\n"
        f"yellow: what output ({position // wo}, {position % wo}) reads",
        fontsize=9,
    )

    ax_mat.imshow(cols, cmap="Blues", aspect="auto", vmin=0, vmax=height * width, interpolation="nearest")
    rows, k2 = cols.shape
    if rows <= 36 and k2 <= 25:
        for r in range(rows):
            for c in range(k2):
                value = cols[r, c]
                ax_mat.text(c, r, f"{value:g}", ha="center", va="center", fontsize=_font(max(rows / 2, k2)))
    ax_mat.add_patch(_row_box(position, k2))
    ax_mat.set_xlabel("column = kernel tap (kh*kw; times C with channels)")
    ax_mat.set_ylabel("row = output pixel (N*Ho*Wo)")
    ax_mat.set_title(f"your im2col: {rows} x {k2} (row {position} outlined)", fontsize=9)
    ratio = cols.size / (height * width)
    fig.suptitle(
        title
        or (
            f"kernel {kernel}x{kernel}, stride {stride}, padding {padding}, dilation {dilation}: output {ho}x{wo}; "
            f"the patch matrix holds {cols.size} numbers, {ratio:.2g}x the input's {height * width}"
        ),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _square(x, y, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=color, edgecolor="#777777", linewidth=0.6)


def _row_box(row, n_cols):
    from matplotlib.patches import Rectangle

    return Rectangle((-0.5, row - 0.5), n_cols, 1, fill=False, edgecolor="#d62728", linewidth=2)


def _font(n):
    return max(5, min(10, 60 / max(n, 1)))


def _message_figure(fig, text):
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11, color="#b00000")
    return fig


class Im2colExplorer:
    """Sliders for the input size, kernel, stride, padding, dilation and output pixel, and the im2col figure;
    `.widget` is the ipywidgets box. A setting whose kernel does not fit shows the reason in the figure."""

    def __init__(self, im2col, height=5, width=5, kernel=3, stride=1, padding=0, dilation=1):
        import ipywidgets as W

        self.im2col = im2col
        self._adjusting = False

        def slider(name, value, low, high):
            return W.IntSlider(value=value, min=low, max=high, description=name, continuous_update=False)

        self.sliders = {
            "height": slider("height", height, 1, 10),
            "width": slider("width", width, 1, 10),
            "kernel": slider("kernel", kernel, 1, 5),
            "stride": slider("stride", stride, 1, 4),
            "padding": slider("padding", padding, 0, 3),
            "dilation": slider("dilation", dilation, 1, 3),
            "position": slider("output pixel", 0, 0, 0),
        }
        for s in self.sliders.values():  # after they all exist: redraw reads every slider
            s.observe(lambda change: self.redraw(), names="value")
        self.image = W.Image(format="png")
        names = list(self.sliders)
        self.widget = W.VBox(
            [
                W.HBox([self.sliders[n] for n in names[:4]]),
                W.HBox([self.sliders[n] for n in names[4:]]),
                self.image,
            ]
        )
        self.redraw()

    @property
    def settings(self) -> dict:
        return {name: s.value for name, s in self.sliders.items()}

    def redraw(self) -> None:
        """Redraw for the current sliders; the output-pixel slider's range follows the output size."""
        if self._adjusting:
            return
        s = self.settings
        ho = conv_output_size(s["height"], s["kernel"], s["stride"], s["padding"], s["dilation"])
        wo = conv_output_size(s["width"], s["kernel"], s["stride"], s["padding"], s["dilation"])
        pos = self.sliders["position"]
        last = max(max(ho, 0) * max(wo, 0) - 1, 0)  # a kernel that does not fit: the figure says so
        if pos.max != last:
            self._adjusting = True  # setting max may clamp the position, whose observer must not redraw
            try:
                pos.max = last
            finally:
                self._adjusting = False
            s = self.settings
        self.image.value = png(im2col_figure(self.im2col, **s))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def im2col_explorer(im2col, **settings) -> Im2colExplorer:
    """The interactive im2col explorer for the student's `im2col` (display it as a cell's last line)."""
    return Im2colExplorer(im2col, **settings)
