"""ChannelShuffle and the ShuffleNet v2 unit against independent references.

The shuffle is checked against channel orders written out by hand (ShuffleNet,
Fig. 1c: channel ``i`` of group ``j`` moves to position ``i·g + j``), the unit
against a NumPy transcription of torchvision's ``InvertedResidual.forward``
(``models/shufflenetv2.py``): split / branches / ``torch.cat`` / shuffle.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing

# Output channel order of the shuffle, written out by hand: with C = g·n the
# channels are g groups of n; the output takes the first channel of each
# group, then the second of each group, and so on.
HAND_ORDERS = [
    (6, 2, [0, 3, 1, 4, 2, 5]),
    (6, 3, [0, 2, 4, 1, 3, 5]),
    (12, 4, [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]),
    (8, 2, [0, 4, 1, 5, 2, 6, 3, 7]),
    (5, 1, [0, 1, 2, 3, 4]),
    (4, 4, [0, 1, 2, 3]),
]


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _skip_channels_first_without_support(data_format):
    if data_format == "channels_first":
        supported, reason = backend.channels_first_support()
        if not supported:
            pytest.skip(reason)


@pytest.mark.parametrize("channels, groups, order", HAND_ORDERS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_channel_shuffle_matches_the_hand_written_order(channels, groups, order, data_format):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, channels)).astype("float32")
    layer = kcv.layers.ChannelShuffle(groups, data_format=data_format)
    if data_format == "channels_first":
        y = np.transpose(_np(layer(np.transpose(x, (0, 3, 1, 2)))), (0, 2, 3, 1))
    else:
        y = _np(layer(x))
    np.testing.assert_array_equal(y, x[..., order])
    assert layer.weights == []


def test_shuffle_by_g_then_by_n_restores_the_order():
    """Transposing (g, n) and then (n, g) is the identity (for C = 12: g = 3, n = 4)."""
    x = np.random.default_rng(1).standard_normal((1, 2, 2, 12)).astype("float32")
    y = kcv.layers.ChannelShuffle(4)(kcv.layers.ChannelShuffle(3)(x))
    np.testing.assert_array_equal(_np(y), x)
    assert not np.array_equal(_np(kcv.layers.ChannelShuffle(3)(x)), x)


def test_channel_shuffle_groups_must_divide_the_channels():
    layer = kcv.layers.ChannelShuffle(5)
    with pytest.raises(ValueError, match=r"`groups` must be a divisor of 12 .*received 5"):
        layer.build((None, 4, 4, 12))
    layer = kcv.layers.ChannelShuffle(3, data_format="channels_first")
    with pytest.raises(ValueError, match=r"`groups` must be a divisor of 8"):
        layer.build((None, 8, 4, 12))  # channels on axis 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"groups": 0}, "`groups` must be an integer >= 1"),
        ({"groups": 2.0}, "`groups` must be an integer >= 1"),
        ({"groups": 2, "data_format": "NCHW"}, "`data_format` must be one of"),
    ],
)
def test_channel_shuffle_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.ChannelShuffle(**kwargs)


# --- the unit --------------------------------------------------------------


def _bn(x, layer):
    gamma, beta, mean, var = (_np(w).astype("float64") for w in layer.weights)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def _pointwise(x, layer):
    return np.einsum("bhwc,cd->bhwd", x, _np(layer.kernel)[0, 0].astype("float64"))


def _depthwise3x3(x, layer, stride):
    """torchvision's ``nn.Conv2d(c, c, 3, stride, padding=1, groups=c)``, channels_last."""
    kernel = _np(layer.kernel)[:, :, :, 0].astype("float64")  # (3, 3, C)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h = (x.shape[1] - 1) // stride + 1
    w = (x.shape[2] - 1) // stride + 1
    out = np.zeros((x.shape[0], h, w, x.shape[3]))
    for i in range(3):
        for j in range(3):
            out += (
                padded[
                    :, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (w - 1) + 1 : stride
                ]
                * kernel[i, j]
            )
    return out


def _relu(x):
    return np.maximum(x, 0.0)


def _reference_unit(unit, x, stride):
    """NumPy transcription of torchvision's InvertedResidual (shufflenetv2.py) forward."""
    by_name = {layer.name: layer for layer in unit.branch1 + unit.branch2}

    def branch2(t):
        t = _relu(_bn(_pointwise(t, by_name["branch2_reduce"]), by_name["branch2_reduce_bn"]))
        t = _bn(
            _depthwise3x3(t, by_name["branch2_depthwise"], stride), by_name["branch2_depthwise_bn"]
        )
        return _relu(
            _bn(_pointwise(t, by_name["branch2_pointwise"]), by_name["branch2_pointwise_bn"])
        )

    if stride == 1:
        half = x.shape[-1] // 2
        out = np.concatenate([x[..., :half], branch2(x[..., half:])], axis=-1)
    else:
        left = _bn(
            _depthwise3x3(x, by_name["branch1_depthwise"], 2), by_name["branch1_depthwise_bn"]
        )
        left = _relu(
            _bn(_pointwise(left, by_name["branch1_pointwise"]), by_name["branch1_pointwise_bn"])
        )
        out = np.concatenate([left, branch2(x)], axis=-1)
    # channel_shuffle(out, 2): the two halves interleaved, written as an explicit order.
    c = out.shape[-1]
    order = [k // 2 + (k % 2) * (c // 2) for k in range(c)]
    return out[..., order]


@pytest.mark.parametrize(
    "filters, stride, in_shape",
    [(16, 1, (2, 6, 5, 16)), (16, 2, (2, 7, 9, 8)), (24, 2, (1, 5, 5, 24))],
)
def test_unit_matches_torchvision_forward(filters, stride, in_shape):
    """Odd sizes for stride 2: Keras' "same" padding is then torchvision's padding=1."""
    unit = kcv.layers.ShuffleNetV2Unit(filters, strides=stride)
    x = np.random.default_rng(2).standard_normal(in_shape).astype("float32")
    unit.build(x.shape)
    testing.randomize_weights(unit, seed=3)
    y = _np(unit(x, training=False))
    expected = _reference_unit(unit, x.astype("float64"), stride)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_stride_1_passes_the_first_half_through_to_the_even_channels():
    """After concat [x1, branch] and the shuffle, x1 sits at channels 0, 2, 4, ..."""
    unit = kcv.layers.ShuffleNetV2Unit(8)
    x = np.random.default_rng(4).standard_normal((2, 4, 4, 8)).astype("float32")
    y = _np(unit(x, training=False))
    np.testing.assert_allclose(y[..., [0, 2, 4, 6]], x[..., :4], rtol=0, atol=0)


def test_unit_structure_has_no_conv_bias_and_torchvision_layout():
    unit = kcv.layers.ShuffleNetV2Unit(116, strides=2)
    unit.build((None, 28, 28, 24))
    assert [layer.name for layer in unit.branch1] == [
        "branch1_depthwise",
        "branch1_depthwise_bn",
        "branch1_pointwise",
        "branch1_pointwise_bn",
        "branch1_pointwise_act",
    ]
    assert [layer.name for layer in unit.branch2] == [
        "branch2_reduce",
        "branch2_reduce_bn",
        "branch2_reduce_act",
        "branch2_depthwise",
        "branch2_depthwise_bn",
        "branch2_pointwise",
        "branch2_pointwise_bn",
        "branch2_pointwise_act",
    ]
    kernels = [tuple(w.shape) for w in unit.trainable_weights if len(w.shape) == 4]
    assert kernels == [(3, 3, 24, 1), (1, 1, 24, 58), (1, 1, 24, 58), (3, 3, 58, 1), (1, 1, 58, 58)]
    assert not [w.path for w in unit.weights if w.path.endswith("bias")]  # BN follows each conv
    # torchvision stage2, first unit of shufflenet_v2_x1_0 (24 -> 116):
    # branch1 9·24 + 48 + 24·58 + 116 = 1,772; branch2 24·58 + 116 + 9·58 + 116 + 58·58 + 116
    # = 5,626.
    assert (
        unit.count_params() - sum(int(np.prod(w.shape)) for w in unit.non_trainable_weights) == 7398
    )
    assert unit.compute_output_shape((None, 28, 28, 24)) == (None, 14, 14, 116)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_unit_data_formats_agree(data_format):
    _skip_channels_first_without_support(data_format)
    x = np.random.default_rng(5).standard_normal((2, 7, 7, 8)).astype("float32")
    last = kcv.layers.ShuffleNetV2Unit(16, strides=2, data_format="channels_last")
    last.build(x.shape)
    testing.randomize_weights(last, seed=6)
    other = kcv.layers.ShuffleNetV2Unit(16, strides=2, data_format=data_format)
    xin = x if data_format == "channels_last" else np.transpose(x, (0, 3, 1, 2))
    other.build(xin.shape)
    other.set_weights(last.get_weights())
    y = _np(other(xin, training=False))
    if data_format == "channels_first":
        y = np.transpose(y, (0, 2, 3, 1))
    np.testing.assert_allclose(y, _np(last(x, training=False)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": 0}, "`filters` must be an integer >= 2"),
        ({"filters": 15}, "`filters` must be an even integer"),
        ({"filters": 16, "strides": 3}, "`strides` must be one of 1, 2"),
        ({"filters": 16, "strides": (2, 2)}, "`strides` must be one of 1, 2"),
        ({"filters": 16, "data_format": "NHWC"}, "`data_format` must be one of"),
    ],
)
def test_unit_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.ShuffleNetV2Unit(**kwargs)


def test_stride_1_unit_needs_filters_equal_to_the_input_channels():
    with pytest.raises(ValueError, match=r"`filters` must be the input channels \(24\)"):
        kcv.layers.ShuffleNetV2Unit(16).build((None, 8, 8, 24))
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        kcv.layers.ShuffleNetV2Unit(16).build((None, 8, 16))
    kcv.layers.ShuffleNetV2Unit(16, strides=2).build((None, 8, 8, 24))  # any width with stride 2


def test_config_round_trip():
    unit = kcv.layers.ShuffleNetV2Unit(32, strides=2, name="u")
    config = unit.get_config()
    assert {k: config[k] for k in ("filters", "strides", "data_format")} == {
        "filters": 32,
        "strides": 2,
        "data_format": "channels_last",
    }
    assert kcv.layers.ShuffleNetV2Unit.from_config(config).get_config() == config
    shuffle = kcv.layers.ChannelShuffle(3, data_format="channels_first")
    assert kcv.layers.ChannelShuffle.from_config(shuffle.get_config()).groups == 3
