"""kcv.viz: every figure draws headless with the parts it promises.

The figures of a model draw what ``kcv.interpret`` computes (Grad-CAM, CAM,
SENet's excitations, activations; tested against hand-worked maps in
``tests/test_interpret.py``): here they are checked to draw exactly that.
The plotting tests take numpy inputs only and run once
(``backend_independent``).
"""

import csv
import io

import keras
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import kcv
from kcv import adaptive
from kcv import viz

independent = pytest.mark.backend_independent


@pytest.fixture
def close():
    """Closes the figures a test hands over."""
    figures = []
    yield figures.append
    for fig in figures:
        plt.close(fig)


def _two_corner_model(activation=None):
    """Channel 0 lights the top-left corner and drives class 0, channel 1 the bottom-right."""
    inputs = keras.Input((16, 16, 2))
    x = keras.layers.Conv2D(2, 1, strides=2, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation=activation, name="classifier")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights(
        [np.eye(2, dtype="float32")[None, None], np.zeros(2, "float32")]
    )
    model.get_layer("classifier").set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    return model


def _two_corner_image():
    image = np.zeros((16, 16, 2), "float32")
    image[:6, :6, 0] = 1.0  # drives class 0
    image[10:, 10:, 1] = 0.5  # drives class 1
    return image


# --- Figures of a model (what they show: kcv.interpret, tests/test_interpret.py) ----------


def test_grad_cam_figure_overlays_the_heat_map(close):
    fig = viz.grad_cam_figure(_two_corner_model(), _two_corner_image(), class_names=["cat", "dog"])
    close(fig)
    overlay, colorbar = fig.axes
    assert overlay.get_title() == "Grad-CAM: cat"
    assert len(overlay.images) == 2 and colorbar.get_ylabel() == "relevance (max = 1)"
    heat = kcv.interpret.grad_cam(_two_corner_model(), _two_corner_image(), 0)
    np.testing.assert_allclose(overlay.images[1].get_array()[..., 3], 0.6 * heat, atol=1e-6)


def test_grad_cam_figure_draws_cam_and_leaves_the_model_alone(close):
    model = _two_corner_model(activation="softmax")
    fig = viz.grad_cam_figure(model, _two_corner_image(), class_index=1, method="cam", alpha=1.0)
    close(fig)
    assert fig.axes[0].get_title() == "CAM: class 1"
    heat = kcv.interpret.class_activation_map(model, _two_corner_image(), 1)
    np.testing.assert_allclose(fig.axes[0].images[1].get_array()[..., 3], heat, atol=1e-6)
    assert model.get_layer("classifier").activation is keras.activations.softmax


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "saliency"}, "`method`"),
        ({"alpha": 1.5}, "`alpha` must be in"),
    ],
)
def test_grad_cam_figure_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.grad_cam_figure(_two_corner_model(), _two_corner_image(), **kwargs)


def _se_model():
    """Two SE layers; "se1" gates are sigmoid(4 z - 2) for squeezed channels z."""
    inputs = keras.Input((6, 6, 2))
    x = kcv.layers.SqueezeExcite(1, name="se1")(inputs)
    x = kcv.layers.SqueezeExcite(1, name="se2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    eye = np.eye(2, dtype="float32")
    zeros = np.zeros(2, "float32")
    model.get_layer("se1").set_weights([eye, zeros, 4 * eye, zeros - 2])
    images = np.zeros((5, 6, 6, 2), "float32")
    images[:2, ..., 0] = 1.0
    images[2:, ..., 1] = 1.0
    return model, images, np.array([0, 0, 2, 2, 2])


def test_se_excitations_draws_one_panel_per_se_layer(close):
    model, images, labels = _se_model()
    fig = viz.se_excitations(model, images, np.eye(3)[labels], class_names=["a", "b", "c"])
    close(fig)
    assert [ax.get_title() for ax in fig.axes] == ["se1", "se2"]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["a", "c", "all"]
    assert fig.axes[0].get_legend() is None
    assert all(line.get_xdata().size == 2 for line in fig.axes[0].lines)
    means = kcv.interpret.mean_excitations(model, images, labels)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), means["se1"][0])


def test_se_excitations_ten_classes_get_ten_colours_and_the_legend_covers_no_panel(close):
    inputs = keras.Input((4, 4, 8))
    x = kcv.layers.SqueezeExcite(reduction=2, name="se")(inputs)
    labels = np.arange(20) % 10
    fig = viz.se_excitations(keras.Model(inputs, x), np.ones((20, 4, 4, 8)), labels)
    close(fig)
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in fig.axes[0].lines[:10]}
    assert len(colours) == 10
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend_box = fig.legends[0].get_window_extent(renderer)
    assert all(legend_box.x0 >= ax.get_window_extent(renderer).x1 for ax in fig.axes)


def test_se_excitations_arguments_are_checked():
    model, images, labels = _se_model()
    with pytest.raises(ValueError, match="`layer_names` must be names of SqueezeExcite"):
        viz.se_excitations(model, images, labels, layer_names=[model.layers[-1].name])
    with pytest.raises(ValueError, match="`labels` must be 5 integer"):
        viz.se_excitations(model, images, labels[:3])


def test_feature_maps_of_a_model_layer(close):
    model = _two_corner_model()
    fig = viz.feature_maps(model, _two_corner_image(), layer_name="conv")
    close(fig)
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].images[0].get_array()[:3, :3], 1.0)
    with pytest.raises(ValueError, match="`image` is required"):
        viz.feature_maps(model)


# --- Plotting only (numpy inputs) ---------------------------------------------------


@independent
def test_subplots_house_style(close):
    fig, axes = viz.subplots(2, 3)
    close(fig)
    assert len(axes) == 6 and fig.get_size_inches().tolist() == [12.0, 6.0]
    line = axes[0].plot([0, 1])[0]
    assert line.get_color() == viz.COLORS[0]
    assert viz.subplots(ax=axes[1])[1] == [axes[1]]
    with pytest.raises(ValueError, match="`ax` must be a matplotlib Axes"):
        viz.subplots(ax="left")


@independent
def test_palettes_are_distinct_colours():
    for palette in (viz.COLORS, viz.SEGMENTATION_COLORS):
        rgb = [matplotlib.colors.to_rgb(c) for c in palette]
        assert len(set(rgb)) == len(palette)


class _History:
    """What ``model.fit`` returns, as far as training_curves reads it."""

    def __init__(self, history):
        self.history = history


@independent
def test_training_curves_one_run(close):
    history = _History(
        {
            "loss": [1.0, 0.5, 0.4],
            "accuracy": [0.3, 0.6, 0.7],
            "val_loss": [1.1, 0.7, 0.6],
            "val_accuracy": [0.2, 0.5, 0.6],
        }
    )
    fig = viz.training_curves(history)
    close(fig)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    loss = fig.axes[0]
    assert [line.get_label() for line in loss.lines] == ["train", "validation"]
    assert loss.lines[1].get_linestyle() == "--" and loss.get_xlabel() == "epoch"
    np.testing.assert_array_equal(loss.lines[0].get_xdata(), [1, 2, 3])


@independent
def test_training_curves_compare_runs(close):
    runs = {
        "ResNet": {"loss": [1.0, 0.6], "val_loss": [1.2, 0.9]},
        "SE-ResNet": _History({"loss": [0.9, 0.5], "val_loss": [1.1, 0.7]}),
    }
    fig = viz.training_curves(runs, metrics=["loss"])
    close(fig)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == [
        "ResNet, train",
        "ResNet, validation",
        "SE-ResNet, train",
        "SE-ResNet, validation",
    ]
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    with pytest.raises(ValueError, match="`metrics` must name recorded metrics"):
        viz.training_curves(runs, metrics=["accuracy"])
    with pytest.raises(ValueError, match="`history` must be a keras History"):
        viz.training_curves([1.0, 0.5])
    with pytest.raises(ValueError, match="`history` must be a keras History"):
        viz.training_curves({})


@independent
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_feature_maps_grid(close, data_format):
    maps = np.random.default_rng(0).random((1, 5, 5, 20))
    if data_format == "channels_first":
        maps = np.moveaxis(maps, -1, 1)
    fig = viz.feature_maps(maps, max_maps=10, data_format=data_format)
    close(fig)
    assert len(fig.axes) == 10 and fig.axes[3].get_title() == "channel 3"
    assert fig.axes[0].images[0].get_array().shape == (5, 5)
    with pytest.raises(ValueError, match="`source` must give the activations of one image"):
        viz.feature_maps(np.zeros((2, 5, 5, 3)))


@independent
def test_segmentation_overlay_legend_lists_classes_present(close):
    mask = np.zeros((8, 10), "int64")
    mask[2:5, 2:5] = 3
    mask[0] = 255
    pred = mask.copy()
    pred[0] = 0
    pred[6:, :] = 1
    names = ["background", "aeroplane", "bicycle", "bird"]
    fig = viz.segmentation_overlay(
        np.random.default_rng(0).random((8, 10, 3)), mask, names, pred=pred
    )
    close(fig)
    truth, predicted = fig.axes
    legend = [t.get_text() for t in predicted.get_legend().get_texts()]
    assert legend == ["background", "aeroplane", "bird"]
    overlay = truth.images[1].get_array()
    assert np.all(overlay[0, :, 3] == 0) and np.all(overlay[1:, :, 3] == 0.5)  # ignored: clear
    np.testing.assert_allclose(
        overlay[3, 3, :3], matplotlib.colors.to_rgb(viz.SEGMENTATION_COLORS[3])
    )
    assert predicted.get_title() == "prediction (pixel accuracy 71.4%)"  # 50 of 70 labelled


@independent
def test_segmentation_overlay_many_classes_get_distinct_colours(close):
    mask = np.array([[0, 12], [20, 255]])
    fig = viz.segmentation_overlay(np.zeros((2, 2)), mask, [f"c{k}" for k in range(21)])
    close(fig)
    handles = fig.axes[0].get_legend().legend_handles
    assert len({tuple(h.get_facecolor()) for h in handles}) == 3


@independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mask": np.full((4, 4), 7)}, r"`mask` holds labels \[7\]"),
        ({"mask": np.zeros((4, 5), "int64")}, "`mask` must be an integer label map"),
        ({"mask": np.zeros((4, 4))}, "`mask` must be an integer label map"),
        ({"pred": np.full((4, 4), -1)}, r"`pred` holds labels \[-1\]"),
        ({"class_names": []}, "`class_names`"),
        ({"alpha": 2.0}, "`alpha`"),
        ({"colors": ["red"]}, "`colors` must give one colour per class"),
        ({"image": np.zeros((2, 4, 4, 3))}, "`image` must be one image"),
    ],
)
def test_segmentation_overlay_arguments_are_checked(kwargs, match):
    arguments = {
        "image": np.zeros((4, 4, 3)),
        "mask": np.zeros((4, 4), "int64"),
        "class_names": ["a", "b"],
    }
    with pytest.raises(ValueError, match=match):
        viz.segmentation_overlay(**{**arguments, **kwargs})


@independent
def test_receptive_field_taps_per_rate(close):
    fig = viz.receptive_field_figure(3, rates=(1, 6, 12, 18))
    close(fig)
    assert len(fig.axes) == 4
    for ax, rate in zip(fig.axes, (1, 6, 12, 18)):
        canvas = ax.images[0].get_array()
        rows, cols = np.nonzero(canvas)
        assert canvas.shape == (39, 39) and rows.size == 9
        assert sorted(set(rows - 19)) == [-rate, 0, rate] == sorted(set(cols - 19))


@independent
def test_receptive_field_on_a_small_feature_map(close):
    # DeepLabv3, Fig. 4: at a large rate only some taps fall on the feature map.
    fig = viz.receptive_field_figure(3, rates=(1, 12, 24), feature_size=33, position=(0, 16))
    close(fig)
    taps = [int(ax.images[0].get_array().sum()) for ax in fig.axes]
    assert taps == [6, 6, 2]
    assert fig.axes[2].get_title().endswith("2 of 9 taps on the map")


@independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel_size": 4}, "`kernel_size` must be odd"),
        ({"rates": ()}, "`rates` must be a non-empty"),
        ({"rates": (1, 0)}, "`rates` must be an integer >= 1"),
        ({"position": (1, 1)}, "`position` needs `feature_size`"),
        ({"feature_size": 8, "position": (8, 0)}, "`position` must lie on the 8x8"),
    ],
)
def test_receptive_field_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.receptive_field_figure(**kwargs)


def _exit_probs():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 120)
    logits = rng.standard_normal((3, 120, 4)) + np.arange(1, 4)[:, None, None] * np.eye(4)[labels]
    return adaptive.softmax(logits), labels


@independent
def test_budget_curves_msdnet_against_a_single_exit_network(close):
    probs, labels = _exit_probs()
    costs = [1e6, 2e6, 3e6]
    curve = adaptive.budgeted_batch_curve(probs, labels, probs, labels, costs, qs=[0.2, 1.0, 2.0])
    fig = viz.budget_curves(
        [curve, [(3.5e6, 0.8)]],
        ["MSDNet", "ResNet"],
        anytime=[(costs, adaptive.anytime_accuracy(probs, labels)), None],
    )
    close(fig)
    budget, anytime = fig.axes
    msdnet, resnet = budget.lines
    expected = sorted((r.mean_cost, r.accuracy) for _, r in curve)
    np.testing.assert_allclose(np.c_[msdnet.get_xdata(), msdnet.get_ydata()], expected)
    assert resnet.get_marker() == "*" and len(anytime.lines) == 1
    assert anytime.lines[0].get_color() == msdnet.get_color()
    assert [t.get_text() for t in budget.get_legend().get_texts()] == ["MSDNet", "ResNet"]
    assert budget.get_xlabel() == "average MACs per image"


@independent
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([[(1e6, 0.5)]], ["a", "b"]), {}, "`labels` must give one label per curve"),
        (([[(1e6, 75.0)]], ["a"]), {}, r"`curves\[0\]` must be"),
        (([[(1e6, 0.5)]], ["a"]), {"anytime": []}, "`anytime` must have one entry per curve"),
        (([[(1e6, 0.5)]], ["a"]), {"anytime": [([1e6, 2e6], [0.5])]}, r"`anytime\[0\]` must be"),
        (([[(1e6, 0.5)]], ["a"]), {"anytime": [3]}, r"`anytime\[0\]` must be"),
    ],
)
def test_budget_curves_arguments_are_checked(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.budget_curves(*args, **kwargs)


_TIMINGS = """family,implementation,median_ms,p25_ms,p75_ms
SE,native torch,4.0,3.5,4.5
SE,kcv jax,2.0,1.8,2.5
MobileNetV2,native torch,10.0,9.0,11.0
MobileNetV2,kcv jax,15.0,14.0,17.0
MobileNetV2,kcv torch,12.0,11.0,13.0
"""


@independent
def test_timing_bars_one_bar_per_row_with_ratios(close):
    rows = list(csv.DictReader(io.StringIO(_TIMINGS)))
    fig = viz.timing_bars(rows, group="family", series="implementation", error=("p25_ms", "p75_ms"))
    close(fig)
    (ax,) = fig.axes
    assert len(ax.patches) == 5
    assert [t.get_text() for t in ax.texts] == ["1.00×", "1.00×", "0.50×", "1.50×", "1.20×"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["SE", "MobileNetV2"]
    assert ax.get_ylabel() == "median (ms)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["native torch", "kcv jax", "kcv torch"]


@independent
def test_timing_bars_default_columns_and_reference(close):
    rows = [
        {"name": "SE", "backend": "jax", "median_ms": 2.0, "iqr_ms": 0.2},
        {"name": "SE", "backend": "torch", "median_ms": 3.0, "iqr_ms": 0.4},
    ]
    fig = viz.timing_bars(rows, error="iqr_ms", reference="torch")
    close(fig)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.67×", "1.00×"]


@independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"table": []}, "`table` must hold at least one row"),
        ({"value": "mean_ms"}, "`value`: column 'mean_ms' is missing"),
        ({"error": "std"}, "`error`: column 'std' is missing"),
        ({"error": 3}, "`error` must be None"),
        ({"reference": "tf"}, "`reference` must be one of"),
        (
            {"table": [{"name": "a", "backend": "jax", "median_ms": "fast"}]},
            "`value`: column 'median_ms' must hold numbers",
        ),
        ({"table": [{"name": "a", "backend": "jax", "median_ms": 1}] * 2}, "`table` has two rows"),
    ],
)
def test_timing_bars_arguments_are_checked(kwargs, match):
    arguments = {"table": [{"name": "a", "backend": "jax", "median_ms": 1.0}]}
    with pytest.raises(ValueError, match=match):
        viz.timing_bars(**{**arguments, **kwargs})


# --- Block diagrams -------------------------------------------------------------------


def _patches(fig):
    """(boxes, merge circles, arrows) drawn on the figure's one Axes."""
    (ax,) = fig.axes
    kinds = (matplotlib.patches.FancyBboxPatch, matplotlib.patches.Circle)
    boxes, circles = ([p for p in ax.patches if type(p) is kind] for kind in kinds)
    arrows = [p for p in ax.patches if isinstance(p, matplotlib.patches.FancyArrowPatch)]
    return boxes, circles, arrows


_ASPP = [
    ("x", "tensor", "H×W×C"),
    [
        ("1×1 conv", "conv"),
        ("3×3 conv, rate 6", "conv"),
        ("3×3 conv, rate 12", "conv"),
        [("global pooling", "pool"), ("1×1 conv", "conv"), ("upsample", "resize")],
    ],
    ("concat", "concat"),
    ("1×1 conv", "conv", "H×W×F"),
]


@independent
def test_block_diagram_draws_a_box_per_step_and_an_arrow_per_edge(close):
    fig = viz.block_diagram(_ASPP, title="ASPP")
    close(fig)
    boxes, circles, arrows = _patches(fig)
    assert len(boxes) == 8 and len(circles) == 1
    # 4 from x into the branches, 2 inside the pooling branch, 4 into concat, 1 after it.
    assert len(arrows) == 11
    assert fig.axes[0].get_title() == "ASPP"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("1×1 conv") == 3 and "H×W×F" in texts and "C" in texts
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["feature map", "convolution", "pooling", "resize / expand"]


@independent
def test_block_diagram_layout_branches_in_one_column_merge_to_the_right(close):
    fig = viz.block_diagram(_ASPP)
    close(fig)
    boxes, (concat,), _ = _patches(fig)
    x, first_branch, second, third, pooling, conv, upsample, projection = boxes
    firsts = [first_branch, second, third, pooling]
    assert len({b.get_x() for b in firsts}) == 1 and len({b.get_y() for b in firsts}) == 4
    assert x.get_x() + x.get_width() < first_branch.get_x()
    assert pooling.get_x() < conv.get_x() < upsample.get_x() < concat.center[0]
    assert concat.center[0] < projection.get_x()
    # The input and the merge sit at the middle of the branches.
    middle = np.mean([b.get_y() + b.get_height() / 2 for b in firsts])
    assert concat.center[1] == pytest.approx(middle)
    assert x.get_y() + x.get_height() / 2 == pytest.approx(middle)


@independent
def test_block_diagram_colours_boxes_by_kind(close):
    fig = viz.block_diagram(
        [("x", "tensor"), ("conv", "conv"), ("pool", "pool"), ("conv", "conv"), "op"],
        legend=False,
    )
    close(fig)
    boxes, _, arrows = _patches(fig)
    colours = [tuple(b.get_facecolor()) for b in boxes]
    assert colours[1] == colours[3] and len(set(colours)) == 4
    assert len(arrows) == 4 and fig.axes[0].get_legend() is None


@independent
def test_block_diagram_skip_arrow_runs_above_the_block(close):
    se = [
        ("U", "tensor", "H×W×C"),
        ("pool", "pool"),
        ("FC", "dense"),
        ("FC", "dense"),
        ("scale", "multiply"),
        ("X", "tensor"),
    ]
    fig = viz.block_diagram(se, skips=[(0, 4, "identity")])
    close(fig)
    boxes, (scale,), arrows = _patches(fig)
    assert len(arrows) == 6
    skip = arrows[-1].get_path().vertices
    top = max(b.get_y() + b.get_height() for b in boxes)
    assert skip[:, 1].max() > top
    assert skip[0, 0] == pytest.approx(boxes[0].get_x() + boxes[0].get_width() / 2)
    assert skip[3] == pytest.approx([scale.center[0], scale.center[1] + scale.radius], abs=0.02)
    assert "identity" in [t.get_text() for t in fig.axes[0].texts]


@independent
def test_block_diagram_draws_into_given_axes(close):
    fig, (ax,) = viz.subplots()
    close(fig)
    assert viz.block_diagram(["a", "b"], ax=ax, box_width=0.8) is fig
    assert len(_patches(fig)[0]) == 2 and ax.patches[0].get_width() == 0.8


@independent
@pytest.mark.parametrize(
    "stages, kwargs, match",
    [
        ([], {}, "`stages` must be a non-empty list of stages"),
        (("a", "b"), {}, "`stages` must be a non-empty list"),
        (["a", 3], {}, r"`stages\[1\]` must be a box"),
        (["a", ("b", "conv", "shape", "extra")], {}, r"`stages\[1\]` must be a box"),
        (["a", ("b", "lstm")], {}, r"`stages\[1\] kind` must be one of 'tensor'"),
        (["a", ["b"], "c"], {}, r"`stages\[1\]` must be a list of at least two parallel"),
        (["a", ["b", "c"]], {}, r"`stages\[1\]` must be followed by a box"),
        (["a", ["b", "c"], ["d", "e"], "f"], {}, r"`stages\[1\]` must be followed by a box"),
        (["a", ["b", ["c", ("d", "fft")]], "e"], {}, r"`stages\[1\]\[1\]\[1\] kind`"),
        (["a", "b"], {"skips": [(1, 0)]}, "`skips` must be pairs"),
        (["a", "b"], {"skips": [(0, 2)]}, "`skips` must be pairs"),
        (["a", ["b", "c"], "d"], {"skips": [(0, 1)]}, "`skips` must be pairs"),
        (["a", "b"], {"skips": [0]}, "`skips` must be pairs"),
        (["a", "b"], {"box_width": 0}, "`box_width` must be a number > 0"),
    ],
)
def test_block_diagram_arguments_are_checked(stages, kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.block_diagram(stages, **kwargs)
