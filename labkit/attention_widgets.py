"""labkit.attention_widgets: where a Vision Transformer's heads look, drawn over the image they classify.

    maps = labkit.window_attention_to_full(weights, (8, 8), window_size=3, shift=1)   # (heads, L, L)
    fig = labkit.attention_figure(image, [maps0, maps1], layer=1, head=0, query=27)  # a matplotlib Figure
    labkit.attention_viewer(images, get_maps, grid_size=(8, 8), labels=y)            # ipywidgets, in a notebook

An attention map of one layer for one image is a NumPy array (heads, L, L) over the L = Gh * Gw patch tokens
(row-major over the patch grid): row i is the softmax that query token i spreads over the keys. Window
attention computes it per window, (nW, heads, w*w, w*w) on the padded, possibly shifted grid;
`window_attention_to_full` puts those numbers back at the tokens' own positions (zero between tokens of
different windows, padding dropped), so both kinds of layer are shown the same way.

The viewer has a slider for the image, drop-downs for the layer and the head ("mean" averages the heads) and a
slider for the query token (-1: the attention each patch receives, averaged over all queries). `get_maps(i)`
returns image i's list of per-layer maps; it is called once per image and cached. Nothing waits for input, so
a notebook that shows the viewer still runs top to bottom under papermill.
"""

from __future__ import annotations

import html
import math

import numpy as np

from .widgets import png

__all__ = ["AttentionViewer", "attention_figure", "attention_grid", "attention_viewer", "window_attention_to_full"]


def _grid(grid_size) -> tuple[int, int]:
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
    if not all(isinstance(g, (int, np.integer)) and g >= 1 for g in (gh, gw)):
        raise ValueError(f"grid_size must be a positive int or a pair (Gh, Gw) of them, got {grid_size!r}")
    return int(gh), int(gw)


def window_attention_to_full(weights, grid_size, window_size: int, shift: int = 0) -> np.ndarray:
    """(nW, heads, n, n) window attention of one image -> (heads, L, L) over the unpadded, unshifted grid.

    The windows are those of the grid padded to multiples of window_size and rolled by -shift (Swin's
    layout, windows and tokens in row-major order); a pair of tokens in different windows gets 0."""
    a = np.asarray(weights, dtype=np.float64)
    gh, gw = _grid(grid_size)
    w = int(window_size)
    if w < 1 or not 0 <= int(shift) < w:
        raise ValueError(
            f"window_attention_to_full: need window_size >= 1 and 0 <= shift < window_size, got {w}, {shift}"
        )
    hp, wp = math.ceil(gh / w) * w, math.ceil(gw / w) * w
    n_windows, n = (hp // w) * (wp // w), w * w
    if a.ndim != 4 or a.shape[0] != n_windows or a.shape[2:] != (n, n):
        raise ValueError(
            f"window_attention_to_full: a {gh}x{gw} grid in {w}x{w} windows needs weights of shape "
            f"({n_windows}, heads, {n}, {n}), got {a.shape}"
        )
    ids = np.full((hp, wp), -1)
    ids[:gh, :gw] = np.arange(gh * gw).reshape(gh, gw)  # token index, -1 for padding
    ids = np.roll(ids, (-int(shift), -int(shift)), axis=(0, 1))
    ids = ids.reshape(hp // w, w, wp // w, w).transpose(0, 2, 1, 3).reshape(n_windows, n)  # (nW, n)
    full = np.zeros((a.shape[1], gh * gw, gh * gw))
    for k in range(n_windows):
        real = ids[k] >= 0
        t = ids[k][real]
        full[:, t[:, None], t[None, :]] = a[k][:, real][:, :, real]
    return full


def attention_grid(maps, head="mean", query=None, grid_size=None) -> np.ndarray:
    """(Gh, Gw): the attention that token `query` pays to every patch, or (query None) the attention each
    patch receives, averaged over all queries. `head` is an int or "mean" (the average of the heads)."""
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"attention_grid: maps must have shape (heads, L, L), got {a.shape}")
    n_tokens = a.shape[1]
    gh, gw = _grid(grid_size if grid_size is not None else math.isqrt(n_tokens))
    if gh * gw != n_tokens:
        raise ValueError(f"attention_grid: grid_size {(gh, gw)} holds {gh * gw} tokens, the maps have {n_tokens}")
    if head == "mean":
        a = a.mean(0)
    elif isinstance(head, (int, np.integer)) and 0 <= head < a.shape[0]:
        a = a[int(head)]
    else:
        raise ValueError(f"attention_grid: head must be 'mean' or an int in [0, {a.shape[0]}), got {head!r}")
    if query is None:
        return a.mean(0).reshape(gh, gw)
    if not isinstance(query, (int, np.integer)) or not 0 <= query < n_tokens:
        raise ValueError(f"attention_grid: query must be None or a token index in [0, {n_tokens}), got {query!r}")
    return a[int(query)].reshape(gh, gw)


def attention_figure(image, layer_maps, layer: int = 0, head="mean", query=None, grid_size=None,
                     label=None, prediction=None, layer_names=None):  # fmt: skip
    """A matplotlib Figure: the image with its patch grid (the query patch outlined), and the chosen layer's
    attention over the patches, with the outline of the image's strokes drawn on top."""
    from matplotlib.figure import Figure

    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:  # (C, H, W) -> (H, W) for one channel, (H, W, C) for colour
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    if not 0 <= layer < len(layer_maps):
        raise ValueError(f"attention_figure: layer must be in [0, {len(layer_maps)}), got {layer!r}")
    maps = np.asarray(layer_maps[layer])
    gh, gw = _grid(grid_size if grid_size is not None else math.isqrt(maps.shape[-1]))
    heat = attention_grid(maps, head, query, (gh, gw))
    h, w = img.shape[:2]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    fig = Figure(figsize=(7.2, 3.4))
    ax_img, ax_att = fig.subplots(1, 2)
    ax_img.imshow(img, cmap="gray_r", extent=extent)
    im = ax_att.imshow(heat, cmap="magma", extent=extent, vmin=0.0)
    gray = img if img.ndim == 2 else img.mean(-1)
    if gray.max() > gray.min():  # the strokes' outline over the attention, so both can be seen at once
        level = gray.min() + 0.5 * (gray.max() - gray.min())
        ax_att.contour(np.arange(w), np.arange(h), gray, levels=[level], colors="#4fd1ff", linewidths=1.2)
    for ax in (ax_img, ax_att):
        for r in range(1, gh):
            ax.axhline(r * h / gh - 0.5, color="#8aa", lw=0.5)
        for c in range(1, gw):
            ax.axvline(c * w / gw - 0.5, color="#8aa", lw=0.5)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=ax_att, fraction=0.046, pad=0.04)
    if query is not None:
        from matplotlib.patches import Rectangle

        qr, qc = divmod(int(query), gw)
        ph, pw = h / gh, w / gw
        for ax in (ax_img, ax_att):
            ax.add_patch(Rectangle((qc * pw - 0.5, qr * ph - 0.5), pw, ph, fill=False, ec="#1f9e3a", lw=2.5))
    title = "image" if label is None else f"label {label}"
    if prediction is not None:
        title += f", predicted {prediction}"
    ax_img.set_title(title)
    name = layer_names[layer] if layer_names else f"layer {layer}"
    who = "mean of heads" if head == "mean" else f"head {head}"
    what = (
        "attention received (mean over queries)" if query is None else f"attention of the green patch (token {query})"
    )
    ax_att.set_title(f"{name}, {who}\n{what}", fontsize=9)
    fig.tight_layout()
    return fig


class AttentionViewer:
    """Image slider, layer and head drop-downs, query slider, and the figure; `.widget` is the ipywidgets box."""

    def __init__(self, images, get_maps, grid_size, labels=None, predictions=None, layer_names=None, num_heads=None):
        import ipywidgets as W

        if len(images) == 0:
            raise ValueError("AttentionViewer: images is empty: pass at least one image")
        if not callable(get_maps):
            raise TypeError(f"AttentionViewer: get_maps must be callable (index -> list of maps), got {get_maps!r}")
        self.images, self.get_maps, self.grid_size = images, get_maps, _grid(grid_size)
        self.labels, self.predictions, self.layer_names = labels, predictions, layer_names
        self._cache: dict[int, list] = {}
        first = self.maps(0)
        heads = num_heads or np.asarray(first[0]).shape[0]
        n_tokens = self.grid_size[0] * self.grid_size[1]
        names = layer_names or [f"layer {i}" for i in range(len(first))]
        self.image = W.IntSlider(0, 0, len(images) - 1, description="image", continuous_update=False)
        self.layer = W.Dropdown(options=[(n, i) for i, n in enumerate(names)], value=0, description="layer")
        self.head = W.Dropdown(options=[("mean", "mean")] + [(str(h), h) for h in range(heads)], value="mean",
                               description="head")  # fmt: skip
        self.query = W.IntSlider(-1, -1, n_tokens - 1, description="query", continuous_update=False)
        self.status = W.HTML()
        self.picture = W.Image(format="png")
        for control in (self.image, self.layer, self.head, self.query):
            control.observe(lambda change: self.redraw(), names="value")
        hint = W.HTML("<small>query -1: the attention each patch receives, averaged over all queries</small>")
        self.widget = W.VBox([W.HBox([self.image, self.layer]), W.HBox([self.head, self.query]), hint,
                              self.status, self.picture])  # fmt: skip
        self.redraw()

    def maps(self, index: int) -> list:
        if index not in self._cache:
            self._cache[index] = list(self.get_maps(index))
        return self._cache[index]

    def figure(self):
        i = self.image.value
        query = None if self.query.value < 0 else self.query.value
        pick = lambda seq: None if seq is None else seq[i]  # noqa: E731
        return attention_figure(self.images[i], self.maps(i), self.layer.value, self.head.value, query,
                                self.grid_size, pick(self.labels), pick(self.predictions), self.layer_names)  # fmt: skip

    def redraw(self) -> None:
        """Draw the current choice; an error (a task not done yet) shows as a message, never raises."""
        try:
            fig = self.figure()
        except Exception as e:  # noqa: BLE001 - shown to the student, the last drawing stays
            self.status.value = f"<b style='color:#b00'>{type(e).__name__}: {html.escape(str(e))}</b>"
            return
        self.status.value = ""
        self.picture.value = png(fig)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def attention_viewer(images, get_maps, grid_size, labels=None, predictions=None, layer_names=None) -> AttentionViewer:
    """An interactive attention-map viewer (display it as a cell's last line); see the module docstring."""
    return AttentionViewer(images, get_maps, grid_size, labels, predictions, layer_names)
