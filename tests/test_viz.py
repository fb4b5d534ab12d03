"""kcv.viz: every figure draws headless with the parts it promises; Grad-CAM
and CAM find the region that drives a class, on every backend.

The heat-map tests use a network whose answer is known: channel 0 of the
input lights the top-left corner and drives class 0, channel 1 lights the
bottom-right corner and drives class 1 (identity 1x1 convolution with stride
2, global average pooling, identity classifier). The plotting tests take
numpy inputs only and run once (``backend_independent``).
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
from kcv import backend
from kcv import viz

independent = pytest.mark.backend_independent


@pytest.fixture
def close():
    """Closes the figures a test hands over."""
    figures = []
    yield figures.append
    for fig in figures:
        plt.close(fig)


def _skip_unsupported(data_format):
    supported, reason = backend.channels_first_support()
    if data_format == "channels_first" and not supported:
        pytest.skip(reason)


def _two_corner_model(data_format="channels_last", activation=None):
    shape = (16, 16, 2) if data_format == "channels_last" else (2, 16, 16)
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(
        2, 1, strides=2, activation="relu", data_format=data_format, name="conv"
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="gap")(x)
    outputs = keras.layers.Dense(2, activation=activation, name="classifier")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights(
        [np.eye(2, dtype="float32")[None, None], np.zeros(2, "float32")]
    )
    model.get_layer("classifier").set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    return model


def _two_corner_image(data_format="channels_last"):
    image = np.zeros((16, 16, 2), "float32")
    image[:6, :6, 0] = 1.0  # drives class 0
    image[10:, 10:, 1] = 0.5  # drives class 1
    return image if data_format == "channels_last" else np.moveaxis(image, -1, 0)


CORNERS = {0: (slice(0, 8), slice(0, 8)), 1: (slice(8, 16), slice(8, 16))}


# --- kcv.backend.value_and_input_gradient -------------------------------------


def test_input_gradient_of_a_function():
    value, grad = backend.value_and_input_gradient(
        lambda x: keras.ops.sum(x**2), np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
    )
    assert value == pytest.approx(14.25)
    np.testing.assert_allclose(grad, [[2.0, -4.0], [1.0, 6.0]])


def test_input_gradient_through_a_model_and_of_a_constant():
    dense = keras.layers.Dense(3)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")
    _, grad = backend.value_and_input_gradient(lambda a: keras.ops.sum(dense(a)), x)
    kernel = keras.ops.convert_to_numpy(dense.kernel.value)
    np.testing.assert_allclose(grad, np.broadcast_to(kernel.sum(axis=1), x.shape), rtol=1e-5)
    value, grad = backend.value_and_input_gradient(lambda a: keras.ops.sum(keras.ops.ones((2,))), x)
    assert value == 2.0 and grad.shape == x.shape and not grad.any()


# --- Grad-CAM and CAM -------------------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("method", [viz.grad_cam, viz.class_activation_map])
def test_heat_map_lights_the_region_that_drives_the_class(method, data_format):
    _skip_unsupported(data_format)
    model = _two_corner_model(data_format)
    image = _two_corner_image(data_format)
    for class_index, corner in CORNERS.items():
        heat = method(model, image, class_index=class_index, data_format=data_format)
        assert heat.shape == (16, 16)
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        assert heat[corner].sum() / heat.sum() > 0.99
        assert heat[corner].max() == heat.max()


def test_grad_cam_equals_cam_for_a_gap_and_dense_network():
    model, image = _two_corner_model(), _two_corner_image()
    for class_index in CORNERS:
        np.testing.assert_allclose(
            viz.grad_cam(model, image, class_index),
            viz.class_activation_map(model, image, class_index),
            atol=1e-6,
        )


def test_grad_cam_uses_scores_before_the_softmax_and_restores_it():
    image = _two_corner_image()
    with_softmax = _two_corner_model(activation="softmax")
    np.testing.assert_allclose(
        viz.grad_cam(with_softmax, image, 1), viz.grad_cam(_two_corner_model(), image, 1), atol=1e-6
    )
    assert with_softmax.get_layer("classifier").activation is keras.activations.softmax


def test_heat_maps_of_a_batch_with_one_class_per_image():
    model = _two_corner_model()
    batch = np.stack([_two_corner_image(), _two_corner_image()])
    heat = viz.grad_cam(model, batch, class_index=[0, 1], layer_name="conv")
    assert heat.shape == (2, 16, 16)
    assert heat[0][CORNERS[0]].max() == 1.0 and heat[1][CORNERS[1]].max() == 1.0
    # Without class_index: the top class, class 0 (mean 9/64 against 4.5/64).
    np.testing.assert_allclose(viz.class_activation_map(model, batch)[1], heat[0], atol=1e-6)


def test_grad_cam_rejects_a_layer_that_a_connection_bypasses():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="first")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", name="second")(a)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    image = np.ones((8, 8, 3), "float32")
    with pytest.raises(ValueError, match="`layer_name`.*bypass"):
        viz.grad_cam(model, image, layer_name="second")
    assert viz.grad_cam(model, image).shape == (8, 8)  # default: the Add, after the skip


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: viz.grad_cam(m, np.zeros((16, 16))), "`image` must be one image"),
        (lambda m: viz.grad_cam(m, _two_corner_image(), class_index=2), "`class_index`"),
        (lambda m: viz.grad_cam(m, _two_corner_image(), layer_name="nope"), "`layer_name` 'nope'"),
        (lambda m: viz.grad_cam_figure(m, _two_corner_image(), method="saliency"), "`method`"),
        (
            lambda m: viz.grad_cam(m, _two_corner_image(), layer_name="gap"),
            "`layer_name` must name",
        ),
        (
            lambda m: viz.class_activation_map(m, _two_corner_image(), layer_name="gap"),
            "4D feature",
        ),
    ],
)
def test_heat_map_arguments_are_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call(_two_corner_model())


def test_heat_maps_need_one_output_and_cam_a_classifier():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    two_exits = keras.Model(inputs, [keras.layers.Flatten()(x), keras.layers.Flatten()(x)])
    with pytest.raises(ValueError, match="`model` must be .* single output"):
        viz.grad_cam(two_exits, np.ones((8, 8, 3)))
    with pytest.raises(ValueError, match="global average pooling and a dense"):
        viz.class_activation_map(keras.Model(inputs, x), np.ones((8, 8, 3)))


def test_grad_cam_figure_overlays_the_heat_map(close):
    fig = viz.grad_cam_figure(_two_corner_model(), _two_corner_image(), class_names=["cat", "dog"])
    close(fig)
    overlay, colorbar = fig.axes
    assert overlay.get_title() == "Grad-CAM: cat"
    assert len(overlay.images) == 2 and colorbar.get_ylabel() == "relevance (max = 1)"


# --- SENet excitations and feature maps -------------------------------------------


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


def test_mean_excitations_per_class_are_the_gates():
    model, images, labels = _se_model()
    means = viz.mean_excitations(model, images, labels, layer_names=["se1"], batch_size=2)
    high, low = 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))
    assert list(means) == ["se1"] and list(means["se1"]) == [0, 2, "all"]
    np.testing.assert_allclose(means["se1"][0], [high, low], rtol=1e-5)
    np.testing.assert_allclose(means["se1"][2], [low, high], rtol=1e-5)
    overall = (2 * means["se1"][0] + 3 * means["se1"][2]) / 5
    np.testing.assert_allclose(means["se1"]["all"], overall, rtol=1e-5)


def test_se_excitations_draws_one_panel_per_se_layer(close):
    model, images, labels = _se_model()
    fig = viz.se_excitations(model, images, np.eye(3)[labels], class_names=["a", "b", "c"])
    close(fig)
    assert [ax.get_title() for ax in fig.axes] == ["se1", "se2"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["a", "c", "all"]
    assert all(line.get_xdata().size == 2 for line in fig.axes[0].lines)


def test_se_excitations_arguments_are_checked():
    model, images, labels = _se_model()
    with pytest.raises(ValueError, match="`layer_names` must name SqueezeExcite"):
        viz.mean_excitations(model, images, labels, layer_names=[model.layers[-1].name])
    with pytest.raises(ValueError, match="`labels` must be 5 integer"):
        viz.mean_excitations(model, images, labels[:3])
    with pytest.raises(ValueError, match="no SqueezeExcite"):
        viz.mean_excitations(_two_corner_model(), np.zeros((1, 16, 16, 2)), [0])


def test_feature_maps_of_a_model_layer(close):
    model = _two_corner_model()
    assert viz.activations(model, _two_corner_image()[None], "conv").shape == (1, 8, 8, 2)
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
