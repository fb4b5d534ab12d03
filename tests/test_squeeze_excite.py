"""SqueezeExcite against the paper's equations (SENet, Eq. 2-4)."""

import keras
import numpy as np
import pytest

import kcv


def _reference(x, w1, b1, w2, b2, gate):
    """NumPy SE on channels_last x: scale = gate(W2 relu(W1 z + b1) + b2)."""
    z = x.mean(axis=(1, 2))
    hidden = np.maximum(z @ w1 + b1, 0.0)
    logits = hidden @ w2 + b2
    if gate == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-logits))
    else:
        s = np.clip(logits + 3.0, 0.0, 6.0) / 6.0
    return x * s[:, None, None, :]


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_matches_the_equations(gate):
    x = np.random.default_rng(0).standard_normal((3, 5, 7, 32)).astype("float32")
    layer = kcv.layers.SqueezeExcite(reduction=8, gate=gate)
    y = keras.ops.convert_to_numpy(layer(x))
    w1, b1, w2, b2 = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    assert w1.shape == (32, 4) and w2.shape == (4, 32)
    np.testing.assert_allclose(y, _reference(x, w1, b1, w2, b2, gate), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "channels, reduction, expected",
    [(256, 16, 8464), (64, 16, 580), (8, 16, 2 * 8 + 1 + 8)],  # width max(1, C // r)
)
def test_parameter_count_formula(channels, reduction, expected):
    layer = kcv.layers.SqueezeExcite(reduction)
    layer.build((None, 4, 4, channels))
    assert layer.count_params() == expected


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reduction": 0}, "`reduction` must be an integer >= 1"),
        ({"reduction": 2.5}, "`reduction` must be an integer >= 1"),
        ({"reduction": None}, "`reduction` must be an integer >= 1, received None"),
        ({"gate": "tanh"}, "`gate` must be one of 'sigmoid', 'hard_sigmoid'"),
        ({"data_format": "NHWC"}, "`data_format` must be one of"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.SqueezeExcite(**kwargs)


@pytest.mark.parametrize("shape", [(2, 16), (2, 4, 4, 4, 16)])
def test_wrong_rank_is_rejected_at_build(shape):
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        kcv.layers.SqueezeExcite().build(shape)


def test_unknown_channels_are_rejected():
    with pytest.raises(ValueError, match="with a known channel dimension"):
        kcv.layers.SqueezeExcite().build((2, 8, 8, None))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_excitation_is_the_gate_the_block_applies(data_format):
    x = np.random.default_rng(1).standard_normal((3, 16, 5, 6)).astype("float32")
    layer = kcv.layers.SqueezeExcite(reduction=4, data_format=data_format)
    y = keras.ops.convert_to_numpy(layer(x))
    gate = keras.ops.convert_to_numpy(layer.excitation(x))
    assert gate.shape == (3, 16 if data_format == "channels_first" else 6)
    assert np.all((gate >= 0) & (gate <= 1))
    per_channel = (
        gate[:, :, None, None] if data_format == "channels_first" else gate[:, None, None, :]
    )
    np.testing.assert_allclose(y, x * per_channel, rtol=1e-6, atol=1e-6)


def test_squeeze_channels_set_the_width():
    """MobileNetV3's SE: width make_divisible(C // 4, 8) = 24 for C = 72, not 72 // 4 = 18."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 72)).astype("float32")
    layer = kcv.layers.SqueezeExcite(None, gate="hard_sigmoid", squeeze_channels=24)
    y = keras.ops.convert_to_numpy(layer(x))
    w1, b1, w2, b2 = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    assert w1.shape == (72, 24) and w2.shape == (24, 72)
    assert layer.count_params() == 72 * 24 + 24 + 24 * 72 + 72
    np.testing.assert_allclose(
        y, _reference(x, w1, b1, w2, b2, "hard_sigmoid"), rtol=1e-5, atol=1e-5
    )


def test_keras_hard_sigmoid_is_torch_hardsigmoid():
    """torch.nn.Hardsigmoid: 0 below -3, 1 above 3, x / 6 + 1/2 between (Keras 2's was 0.2x + 0.5)."""
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0], "float32")
    got = keras.ops.convert_to_numpy(keras.activations.hard_sigmoid(x))
    np.testing.assert_allclose(got, [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0], atol=1e-6)


def test_default_config_is_unchanged_and_old_configs_load():
    layer = kcv.layers.SqueezeExcite(8)
    config = layer.get_config()
    assert (config["reduction"], config["gate"], config["squeeze_channels"]) == (8, "sigmoid", None)
    old = {k: v for k, v in config.items() if k != "squeeze_channels"}
    restored = kcv.layers.SqueezeExcite.from_config(old)
    restored.build((None, 4, 4, 64))
    assert restored.count_params() == 2 * 64 * 8 + 8 + 64  # max(1, C // r) as before


@pytest.mark.parametrize("value", [0, 2.5, "8"])
def test_bad_squeeze_channels(value):
    with pytest.raises(ValueError, match="`squeeze_channels` must be an integer >= 1"):
        kcv.layers.SqueezeExcite(squeeze_channels=value)
