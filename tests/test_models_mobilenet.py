"""MobileNet v1/v2: parameter counts against the formulas and keras.applications,
make_divisible, output_stride (dilation), errors, channels_first.

Paper-size models (ours and keras.applications', weights=None) are built inside
``keras.StatelessScope(initialize_variables=False)``: weight shapes without
initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models.common import make_divisible

# MobileNet, Table 1: (pointwise filters, stride) of the 13 separable blocks.
V1_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [(1024, 2), (1024, 1)]
)
# MobileNetV2, Table 2: (t, c, n, s).
V2_BLOCKS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def _v1_params(alpha, classes=1000, multiplier=1):
    """Stem 3x3 conv + BN; per block depthwise 3x3·C·m + BN(C·m) + pointwise C·m·N + BN(N); dense."""
    cin = int(32 * alpha)
    total = 27 * cin + 2 * cin
    for filters, _ in V1_BLOCKS:
        cout = int(filters * alpha)
        total += 9 * cin * multiplier + 2 * cin * multiplier + cin * multiplier * cout + 2 * cout
        cin = cout
    return total + cin * classes + classes


def _v2_params(alpha, classes=1000):
    """Stem; per block [expand C·h + BN] + depthwise 9h + BN + project h·N + BN; conv 1x1; dense."""
    cin = make_divisible(32 * alpha, 8)
    total = 27 * cin + 2 * cin
    for t, c, n, _ in V2_BLOCKS:
        cout = make_divisible(int(c * alpha), 8)
        for _ in range(n):
            hidden = cin * t
            expand = cin * hidden + 2 * hidden if t != 1 else 0
            total += expand + 9 * hidden + 2 * hidden + hidden * cout + 2 * cout
            cin = cout
    last = make_divisible(1280 * alpha, 8) if alpha > 1 else 1280
    return total + cin * last + 2 * last + last * classes + classes


@pytest.mark.backend_independent
def test_make_divisible():
    # Nearest multiple of 8, halves up ...
    assert [make_divisible(v) for v in (8, 8.8, 12, 22.4, 33.6, 56, 112)] == [
        8,
        8,
        16,
        24,
        32,
        56,
        112,
    ]
    # ... never below the divisor, never more than 10% down: 11 -> 8 loses 27%, so 16.
    assert [make_divisible(v) for v in (0.5, 5, 11, 19)] == [8, 8, 16, 24]
    assert make_divisible(32 * 0.35) == 16 and make_divisible(1280 * 1.4) == 1792
    assert make_divisible(6, 4) == 8 and make_divisible(3, 8, min_value=4) == 4


@pytest.mark.backend_independent
def test_mobilenet_v1_paper_count():
    assert _v1_params(1.0) == 4_231_976  # keras.applications.MobileNet(alpha=1.0)
    assert testing.trainable_parameters(testing.stateless(kcv.models.MobileNetV1)) == 4_231_976


@pytest.mark.backend_independent
def test_mobilenet_v2_paper_count():
    assert _v2_params(1.0) == 3_504_872  # keras.applications.MobileNetV2(alpha=1.0)
    assert testing.trainable_parameters(testing.stateless(kcv.models.MobileNetV2)) == 3_504_872


@pytest.mark.backend_independent
@pytest.mark.parametrize("alpha, multiplier", [(0.25, 1), (0.5, 1), (0.75, 1), (0.5, 2)])
def test_mobilenet_v1_matches_keras_applications(alpha, multiplier):
    ours = testing.stateless(kcv.models.MobileNetV1, alpha=alpha, depth_multiplier=multiplier)
    reference = testing.stateless(
        keras.applications.MobileNet, weights=None, alpha=alpha, depth_multiplier=multiplier
    )
    assert (
        testing.trainable_parameters(ours)
        == testing.trainable_parameters(reference)
        == _v1_params(alpha, multiplier=multiplier)
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize("alpha", [0.35, 0.5, 0.75, 1.4])
def test_mobilenet_v2_matches_keras_applications(alpha):
    ours = testing.stateless(kcv.models.MobileNetV2, alpha=alpha)
    reference = testing.stateless(keras.applications.MobileNetV2, weights=None, alpha=alpha)
    assert (
        testing.trainable_parameters(ours)
        == testing.trainable_parameters(reference)
        == _v2_params(alpha)
    )


@pytest.mark.backend_independent
def test_structure():
    v1 = testing.stateless(kcv.models.MobileNetV1, include_top=False)
    assert v1.output_shape == (None, 7, 7, 1024)
    assert all(
        layer.activation == "relu6"
        for layer in v1.layers
        if isinstance(layer, kcv.layers.DepthwiseSeparableConv)
    )
    top = testing.stateless(kcv.models.MobileNetV1, alpha=0.5, dropout=0.25, classes=3)
    assert top.output_shape == (None, 3) and top.get_layer("dropout").rate == 0.25
    v2 = testing.stateless(kcv.models.MobileNetV2, alpha=1.4, include_top=False)
    assert v2.output_shape == (None, 7, 7, 1792)
    v2 = testing.stateless(kcv.models.MobileNetV2, include_top=False, pooling="avg")
    assert v2.output_shape == (None, 1280)
    blocks = [layer for layer in v2.layers if isinstance(layer, kcv.layers.InvertedResidual)]
    assert len(blocks) == 17
    assert [b.filters for b in blocks] == [c for _, c, n, _ in V2_BLOCKS for _ in range(n)]
    assert sum(b.has_residual for b in blocks) == 10  # every repeat after the first of its stage
    assert v2.get_layer("block_2").output.shape == (None, 56, 56, 24)  # 1/4 features for a decoder


@pytest.mark.backend_independent
@pytest.mark.parametrize("output_stride, side", [(None, 7), (32, 7), (16, 14), (8, 28)])
def test_mobilenet_v2_output_stride(output_stride, side):
    model = testing.stateless(
        kcv.models.MobileNetV2, include_top=False, output_stride=output_stride
    )
    assert model.output_shape == (None, side, side, 1280)
    assert testing.trainable_parameters(model) == 3_504_872 - (
        1280 * 1000 + 1000
    )  # dilation adds no weights


@pytest.mark.backend_independent
def test_output_stride_dilates_the_blocks_after_the_dropped_stride():
    """DeepLab's rule (slim mobilenet.py): the block that drops its stride keeps the previous rate."""

    def geometry(model):
        blocks = [layer for layer in model.layers if isinstance(layer, kcv.layers.InvertedResidual)]
        return [(b.strides[0], b.dilation_rate[0]) for b in blocks]

    # blocks 0-16; strides 2 at blocks 1, 3, 6 and 13.
    os16 = geometry(testing.stateless(kcv.models.MobileNetV2, include_top=False, output_stride=16))
    assert os16[:13] == [(1, 1), (2, 1), (1, 1), (2, 1), (1, 1), (1, 1), (2, 1)] + [(1, 1)] * 6
    assert os16[13:] == [(1, 1), (1, 2), (1, 2), (1, 2)]
    os8 = geometry(testing.stateless(kcv.models.MobileNetV2, include_top=False, output_stride=8))
    assert os8[6:] == [(1, 1)] + [(1, 2)] * 6 + [(1, 2), (1, 4), (1, 4), (1, 4)]


def test_mobilenet_v2_output_stride_8_runs():
    keras.utils.set_random_seed(0)
    model = kcv.models.MobileNetV2(
        alpha=0.35, include_top=False, input_shape=(32, 32, 3), output_stride=8
    )
    y = model.predict(
        np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32"), verbose=0
    )
    assert y.shape == (2, 4, 4, 1280) and np.all(np.isfinite(y))


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "builder, kwargs, argument",
    [
        (kcv.models.MobileNetV1, {"weights": "imagenet"}, "weights"),
        (kcv.models.MobileNetV2, {"weights": "imagenet"}, "weights"),
        (kcv.models.MobileNetV1, {"alpha": 0}, "alpha"),
        (kcv.models.MobileNetV1, {"alpha": 0.01}, "alpha"),
        (kcv.models.MobileNetV2, {"alpha": -1.0}, "alpha"),
        (kcv.models.MobileNetV2, {"alpha": "1.0"}, "alpha"),
        (kcv.models.MobileNetV1, {"depth_multiplier": 0}, "depth_multiplier"),
        (kcv.models.MobileNetV1, {"dropout": 1.0}, "dropout"),
        (kcv.models.MobileNetV1, {"input_shape": (16, 16, 3)}, "input_shape"),
        (kcv.models.MobileNetV2, {"input_shape": (224, 224, 3, 1)}, "input_shape"),
        (kcv.models.MobileNetV2, {"output_stride": 4}, "output_stride"),
        (kcv.models.MobileNetV2, {"output_stride": 12}, "output_stride"),
        (kcv.models.MobileNetV2, {"include_top": False, "pooling": "min"}, "pooling"),
        (kcv.models.MobileNetV2, {"classes": 0}, "classes"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(builder, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}"):
        testing.stateless(builder, **kwargs)


def test_channels_first_gives_the_same_outputs():
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.utils.set_random_seed(0)
    last = kcv.models.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), classes=5, output_stride=8)
    testing.randomize_weights(last, seed=0)
    keras.config.set_image_data_format("channels_first")
    first = kcv.models.MobileNetV2(alpha=0.35, input_shape=(3, 32, 32), classes=5, output_stride=8)
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    expected = last.predict(x, verbose=0)
    got = first.predict(np.transpose(x, (0, 3, 1, 2)), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
