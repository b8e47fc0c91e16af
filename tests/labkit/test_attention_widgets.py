"""labkit/attention_widgets.py: window attention put back on the token grid, the attention figure (a matplotlib
Figure) and its ipywidgets viewer, without a browser."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import labkit
from dslib.models.window_attention import window_partition

PNG_MAGIC = b"\x89PNG"


def _window_token_ids(grid, w, shift):
    """(nW, w*w) token index of every window slot (-1 for padding), from dslib's own window_partition and np.roll."""
    gh, gw = grid
    hp, wp = -(-gh // w) * w, -(-gw // w) * w
    ids = np.full((hp, wp), -1)
    ids[:gh, :gw] = np.arange(gh * gw).reshape(gh, gw)
    ids = np.roll(ids, (-shift, -shift), axis=(0, 1))
    return window_partition(ids[None, :, :, None], w)[0, :, :, 0]


@pytest.mark.parametrize(
    "grid,w,shift", [((8, 8), 3, 0), ((8, 8), 3, 1), ((5, 7), 3, 1), ((6, 6), 2, 1), ((3, 3), 3, 0)]
)
def test_window_attention_to_full_puts_each_weight_at_its_query_and_key(grid, w, shift):
    ids = _window_token_ids(grid, w, shift)
    n_windows, n = ids.shape
    heads = 2
    # weight [k, h, i, j] encodes (h, query token, key token) so every number says where it must land
    q_ids, k_ids = ids[:, None, :, None], ids[:, None, None, :]
    weights = 1e6 * np.arange(1, heads + 1)[None, :, None, None] + 1000.0 * q_ids + k_ids
    weights = np.broadcast_to(weights, (n_windows, heads, n, n))
    full = labkit.window_attention_to_full(weights, grid, w, shift)
    tokens = grid[0] * grid[1]
    assert full.shape == (heads, tokens, tokens)
    same_window = np.zeros((tokens, tokens), dtype=bool)
    for row in ids:
        real = row[row >= 0]
        same_window[np.ix_(real, real)] = True
    a, b = np.meshgrid(np.arange(tokens), np.arange(tokens), indexing="ij")
    for h in range(heads):
        expected = np.where(same_window, 1e6 * (h + 1) + 1000.0 * a + b, 0.0)
        np.testing.assert_array_equal(full[h], expected)


def test_window_attention_to_full_of_softmax_rows_keeps_the_rows_of_real_tokens_summing_to_one():
    from dslib.models.window_attention import window_mask

    rng = np.random.default_rng(0)
    blocked = window_mask((8, 8), 3, 1)  # (9, 9, 9), True = blocked: padding keys and wrapped neighbours
    scores = np.where(blocked[:, None], -np.inf, rng.standard_normal((9, 4, 9, 9)))
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    full = labkit.window_attention_to_full(weights, (8, 8), 3, 1)
    np.testing.assert_allclose(full.sum(-1), 1.0)  # no weight on padding is lost: the mask gave it none


@pytest.mark.parametrize(
    "weights_shape,grid,w,shift,match",
    [
        ((9, 2, 9, 9), (8, 8), 3, 3, "shift < window_size"),
        ((4, 2, 9, 9), (8, 8), 3, 0, r"needs weights of shape \(9, heads, 9, 9\)"),
        ((9, 2, 9, 9), (8, 0), 3, 0, "grid_size must be"),
    ],
)
def test_window_attention_to_full_says_what_is_wrong(weights_shape, grid, w, shift, match):
    with pytest.raises(ValueError, match=match):
        labkit.window_attention_to_full(np.zeros(weights_shape), grid, w, shift)


def test_attention_grid_picks_a_head_or_the_mean_and_a_query_or_the_attention_received():
    maps = np.random.default_rng(1).random((3, 16, 16))
    np.testing.assert_allclose(labkit.attention_grid(maps, 1, 5), maps[1, 5].reshape(4, 4))
    np.testing.assert_allclose(labkit.attention_grid(maps, "mean", 5), maps.mean(0)[5].reshape(4, 4))
    np.testing.assert_allclose(labkit.attention_grid(maps, 2, None), maps[2].mean(0).reshape(4, 4))
    np.testing.assert_allclose(labkit.attention_grid(maps[:, :12, :12], 0, 0, (3, 4)), maps[0, 0, :12].reshape(3, 4))
    with pytest.raises(ValueError, match="head must be 'mean' or an int in \\[0, 3\\)"):
        labkit.attention_grid(maps, 3, None)
    with pytest.raises(ValueError, match="query must be None or a token index in \\[0, 16\\)"):
        labkit.attention_grid(maps, 0, 16)
    with pytest.raises(ValueError, match="grid_size \\(3, 3\\) holds 9 tokens, the maps have 16"):
        labkit.attention_grid(maps, 0, None, (3, 3))
    with pytest.raises(ValueError, match="maps must have shape \\(heads, L, L\\)"):
        labkit.attention_grid(maps[0], 0, None)


def _maps(seed=0, layers=2, heads=4, tokens=64):
    rng = np.random.default_rng(seed)
    return [rng.dirichlet(np.ones(tokens), size=(heads, tokens)) for _ in range(layers)]


def test_attention_figure_draws_the_image_and_the_chosen_map():
    image = np.random.default_rng(2).random((1, 8, 8))
    fig = labkit.attention_figure(image, _maps(), layer=1, head=2, query=36, label=3, prediction=5,
                                  layer_names=["block 0", "block 1 (shifted)"])  # fmt: skip
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "label 3, predicted 5"
    assert "block 1 (shifted), head 2" in titles[1] and "token 36" in titles[1]
    heat = fig.axes[1].images[-1].get_array()
    np.testing.assert_allclose(heat, _maps()[1][2, 36].reshape(8, 8))
    assert len(fig.axes[0].patches) == 1  # the query patch outlined
    fig = labkit.attention_figure(image[0], _maps(), layer=0)  # (H, W) image, mean of heads, attention received
    assert "mean of heads" in fig.axes[1].get_title() and "attention received" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="layer must be in \\[0, 2\\)"):
        labkit.attention_figure(image, _maps(), layer=2)


def test_viewer_redraws_on_every_control_and_computes_each_images_maps_once():
    images = np.random.default_rng(3).random((3, 1, 8, 8))
    calls = []

    def get_maps(i):
        calls.append(i)
        return _maps(seed=i)

    viewer = labkit.attention_viewer(images, get_maps, (8, 8), labels=[0, 1, 2], predictions=[0, 1, 1])
    assert bytes(viewer.picture.value).startswith(PNG_MAGIC) and viewer.status.value == ""
    assert [o[1] for o in viewer.head.options] == ["mean", 0, 1, 2, 3] and viewer.query.min == -1
    pictures = {bytes(viewer.picture.value)}
    for control, value in [
        (viewer.image, 2),
        (viewer.layer, 1),
        (viewer.head, 3),
        (viewer.query, 10),
        (viewer.image, 0),
    ]:
        control.value = value
        assert viewer.status.value == ""
        pictures.add(bytes(viewer.picture.value))
    assert len(pictures) == 6  # every change drew something new
    assert calls == [0, 2]  # image 0 once (cached on the way back), image 2 once


def test_viewer_shows_an_unfinished_task_as_a_message_and_keeps_the_last_picture():
    images = np.zeros((2, 1, 8, 8))

    def get_maps(i):
        if i == 1:
            raise NotImplementedError("Task 4.6 — not implemented yet: write the body of WindowAttention.forward")
        return _maps()

    viewer = labkit.AttentionViewer(images, get_maps, (8, 8))
    before = bytes(viewer.picture.value)
    viewer.image.value = 1
    assert "NotImplementedError: Task 4.6" in viewer.status.value
    assert bytes(viewer.picture.value) == before


def test_viewer_says_what_is_wrong_with_its_arguments():
    with pytest.raises(ValueError, match="images is empty"):
        labkit.AttentionViewer([], lambda i: _maps(), (8, 8))
    with pytest.raises(TypeError, match="get_maps must be callable"):
        labkit.AttentionViewer(np.zeros((1, 8, 8)), "maps", (8, 8))
