"""FireModule against a NumPy Fire module with the same weights; parameter counts; errors.

The battery (serialization, mixed precision, channels_first, fit) runs on the
catalogue's entries in tests/test_battery.py.
"""

import keras
import numpy as np
import pytest

import kcv


def _relu(x):
    return np.maximum(x, 0.0)


def _conv_same(x, kernel, bias):
    """Stride-1 convolution with zero padding k // 2 on each side, NHWC, loops over taps."""
    k = kernel.shape[0]
    p = k // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(k):
        for j in range(k):
            out += padded[:, i : i + height, j : j + width, :] @ kernel[i, j]
    return out + bias


def _numpy_fire(x, weights):
    """Iandola et al., Sec. 3.2: squeeze 1x1 + ReLU, then [expand 1x1 + ReLU, expand 3x3 + ReLU]."""
    (ks, bs), (k1, b1), (k3, b3) = weights
    s = _relu(_conv_same(x, ks, bs))
    return np.concatenate([_relu(_conv_same(s, k1, b1)), _relu(_conv_same(s, k3, b3))], axis=-1)


def _random_weights(rng, c, squeeze, e1, e3):
    return [
        (rng.normal(0, 0.5, (1, 1, c, squeeze)), rng.normal(0, 0.1, squeeze)),
        (rng.normal(0, 0.5, (1, 1, squeeze, e1)), rng.normal(0, 0.1, e1)),
        (rng.normal(0, 0.5, (3, 3, squeeze, e3)), rng.normal(0, 0.1, e3)),
    ]


def _set(layer, weights):
    # Sublayers in creation order: squeeze, expand_1x1, expand_3x3 (kernel, bias each).
    layer.set_weights([w.astype("float32") for pair in weights for w in pair])


def test_fire_equals_numpy_and_puts_the_1x1_expand_first():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 7, 10)).astype("float32")
    layer = kcv.layers.FireModule(4, 3, 5)
    layer.build(x.shape)
    weights = _random_weights(rng, 10, 4, 3, 5)
    _set(layer, weights)
    got = keras.ops.convert_to_numpy(layer(x))
    expected = _numpy_fire(x.astype("float64"), weights)
    assert got.shape == (2, 6, 7, 8)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # The first 3 channels depend only on the 1x1 expand: a pixel's 1x1 output does not see
    # its neighbours, so changing one pixel changes the first 3 channels only there.
    moved = x.copy()
    moved[:, 0, 0, :] += 5.0
    delta = np.abs(keras.ops.convert_to_numpy(layer(moved)) - got)
    assert delta[:, 1:, 1:, :3].max() == 0.0
    assert delta[:, 1, 1, 3:].max() > 0.0  # the 3x3 expand reaches the neighbour


def test_fire_channels_first_matches_channels_last():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 5, 6)).astype("float32")
    weights = _random_weights(rng, 6, 2, 3, 4)
    last = kcv.layers.FireModule(2, 3, 4, data_format="channels_last")
    last.build(x.shape)
    _set(last, weights)
    first = kcv.layers.FireModule(2, 3, 4, data_format="channels_first")
    first.build((1, 6, 5, 5))
    _set(first, weights)
    assert first.compute_output_shape((1, 6, 5, 5)) == (1, 7, 5, 5)
    from kcv import backend

    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    got = keras.ops.convert_to_numpy(first(np.transpose(x, (0, 3, 1, 2))))
    expected = keras.ops.convert_to_numpy(last(x))
    np.testing.assert_allclose(np.transpose(got, (0, 2, 3, 1)), expected, atol=1e-5)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "channels, args, expected",
    [
        # SqueezeNet 1.0 fire2, 96 -> 16, 64, 64: 96·16 + 16 + 16·64 + 64 + 9·16·64 + 64.
        (96, (16, 64, 64), 11_920),
        # fire9, 512 -> 64, 256, 256: 32,832 + 16,640 + 147,712.
        (512, (64, 256, 256), 197_184),
    ],
)
def test_fire_parameter_counts(channels, args, expected):
    layer = kcv.layers.FireModule(*args)
    layer.build((None, 13, 13, channels))
    assert layer.count_params() == expected
    assert layer.compute_output_shape((None, 13, 13, channels)) == (None, 13, 13, args[1] + args[2])


@pytest.mark.backend_independent
def test_fire_config_is_its_arguments():
    layer = kcv.layers.FireModule(16, 64, 32, data_format="channels_first", name="fire2")
    config = layer.get_config()
    assert {k: config[k] for k in ("squeeze", "expand_1x1", "expand_3x3", "data_format")} == {
        "squeeze": 16,
        "expand_1x1": 64,
        "expand_3x3": 32,
        "data_format": "channels_first",
    }
    assert kcv.layers.FireModule.from_config(config).get_config() == config


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"squeeze": 0, "expand_1x1": 64, "expand_3x3": 64}, "`squeeze` must be an integer >= 1"),
        ({"squeeze": 16, "expand_1x1": 1.5, "expand_3x3": 64}, "`expand_1x1` must be an integer"),
        ({"squeeze": 16, "expand_1x1": 64, "expand_3x3": None}, "`expand_3x3` must be an integer"),
        (
            {"squeeze": 16, "expand_1x1": 64, "expand_3x3": 64, "data_format": "NHWC"},
            "`data_format` must be one of",
        ),
    ],
)
def test_fire_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.FireModule(**kwargs)


@pytest.mark.backend_independent
def test_fire_rejects_a_non_image_input():
    with pytest.raises(ValueError, match="`FireModule input` must be a 4D tensor"):
        kcv.layers.FireModule(4, 4, 4).build((None, 8, 16))
