"""BasicBlock and Bottleneck against the paper's equations, computed in NumPy.

He et al., CVPR 2016, Eq. 1-2 (``y = relu(F(x) + W_s x)``), Fig. 2 and 5; Xie
et al. (ResNeXt), Fig. 3c (grouped 3x3); Hu et al. (SENet), Fig. 3 (SE on the
residual branch before the addition). The layer battery runs on the blocks'
entries in kcv/catalogue.py (tests/test_battery.py).
"""

import os
import tempfile

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing


def _np(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), "float64")


def _conv(x, kernel, stride=1, dilation=1, groups=1):
    """NumPy convolution, channels_last, TensorFlow "same" padding (extra pixel at the end)."""
    batch, height, width, channels = x.shape
    kh, kw, group_in, filters = kernel.shape
    assert group_in * groups == channels
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + (kh - 1) * dilation + 1 - height, 0)
    pad_w = max((out_w - 1) * stride + (kw - 1) * dilation + 1 - width, 0)
    padded = np.pad(
        x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    out = np.zeros((batch, out_h, out_w, filters))
    group_out = filters // groups
    for g in range(groups):
        xs = padded[..., g * group_in : (g + 1) * group_in]
        for i in range(kh):
            for j in range(kw):
                patch = xs[
                    :,
                    i * dilation : i * dilation + (out_h - 1) * stride + 1 : stride,
                    j * dilation : j * dilation + (out_w - 1) * stride + 1 : stride,
                ]
                out[..., g * group_out : (g + 1) * group_out] += (
                    patch @ kernel[i, j, :, g * group_out : (g + 1) * group_out]
                )
    return out


def _unit(x, unit, relu=True):
    """conv -> BN (inference statistics) -> [ReLU] of a block's unit, in NumPy."""
    conv, bn = unit[0], unit[1]
    y = _conv(
        x,
        _np(conv.kernel),
        stride=conv.strides[0],
        dilation=conv.dilation_rate[0],
        groups=conv.groups,
    )
    gamma, beta, mean, var = (
        _np(w) for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)
    )
    y = gamma * (y - mean) / np.sqrt(var + bn.epsilon) + beta
    return np.maximum(y, 0.0) if relu else y


def _se(x, layer):
    """SENet Eq. 2-4: x · sigmoid(W2 relu(W1 GAP(x) + b1) + b2)."""
    z = x.mean(axis=(1, 2))
    hidden = np.maximum(z @ _np(layer.reduce.kernel) + _np(layer.reduce.bias), 0.0)
    s = 1.0 / (1.0 + np.exp(-(hidden @ _np(layer.expand.kernel) + _np(layer.expand.bias))))
    return x * s[:, None, None, :]


def _block_reference(x, block):
    """He et al. Eq. 1-2: relu(F(x) + shortcut(x)), F the residual branch with its extensions."""
    units = block.units
    y = x
    for index, unit in enumerate(units):
        y = _unit(y, unit, relu=index < len(units) - 1)
        if index == len(units) - 2 and block.inner_attention is not None:
            y = _se(y, block.inner_attention)  # after the 3x3 (bottleneck) / first 3x3 (basic)
    if block.attention is not None:
        y = _se(y, block.attention)  # the end of the residual branch, before the addition
    if block.plain:  # He et al. Sec. 4.1: the plain network's layer has no shortcut
        return np.maximum(y, 0.0)
    shortcut = x if block.shortcut is None else _unit(x, block.shortcut, relu=False)
    return np.maximum(y + shortcut, 0.0)


CASES = {
    "basic_projection_se": (
        lambda: kcv.layers.BasicBlock(
            8,
            strides=2,
            attention=kcv.layers.SqueezeExcite(4),
            inner_attention=kcv.layers.SqueezeExcite(2),
        ),
        (2, 7, 6, 4),
    ),
    "basic_identity_dilated": (lambda: kcv.layers.BasicBlock(6, dilation_rate=2), (2, 7, 7, 6)),
    "bottleneck_projection_se": (
        lambda: kcv.layers.Bottleneck(
            4,
            strides=2,
            attention=kcv.layers.SqueezeExcite(4),
            inner_attention=kcv.layers.SqueezeExcite(2),
        ),
        (2, 8, 9, 8),
    ),
    "bottleneck_identity": (lambda: kcv.layers.Bottleneck(4), (2, 5, 5, 16)),
    "basic_plain_strided": (lambda: kcv.layers.BasicBlock(8, strides=2, plain=True), (2, 7, 6, 4)),
    "bottleneck_plain": (lambda: kcv.layers.Bottleneck(4, plain=True), (2, 5, 5, 16)),
    "resnext_grouped_dilated": (
        lambda: kcv.layers.Bottleneck(8, dilation_rate=2, groups=4, width_per_group=16),
        (2, 6, 6, 16),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_the_equations(name):
    build, shape = CASES[name]
    block = build()
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    block(x)
    testing.randomize_weights(block, seed=1)
    y = keras.ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(y, _block_reference(x.astype("float64"), block), atol=1e-4)


def test_bottleneck_structure():
    """1x1 -> 3x3 (stride, dilation, groups) -> 1x1 (4x); no conv bias; ResNeXt widths."""
    block = kcv.layers.Bottleneck(64, strides=2, groups=32, width_per_group=4)
    with keras.StatelessScope(initialize_variables=False):  # shapes only, cheap
        block.build((None, 56, 56, 256))
    assert block.width == 128 and block.output_channels == 256
    kernels = [tuple(unit[0].kernel.shape) for unit in block.units + [block.shortcut]]
    assert kernels == [(1, 1, 256, 128), (3, 3, 4, 128), (1, 1, 128, 256), (1, 1, 256, 256)]
    assert [unit[0].strides for unit in block.units] == [(1, 1), (2, 2), (1, 1)]
    assert block.shortcut[0].strides == (2, 2)
    assert not any(unit[0].use_bias for unit in block.units + [block.shortcut])
    assert [len(unit) for unit in block.units] == [3, 3, 2]  # no ReLU before the addition


@pytest.mark.parametrize(
    "block, input_shape, expected",
    [
        # ResNet-50 conv2_x (He et al., Table 1): first block with projection 64 -> 256,
        # then 256 -> 256. 1x1 64·64 + 128, 3x3 9·64·64 + 128, 1x1 64·256 + 512, projection
        # 64·256 + 512 = 4,224 + 36,992 + 16,896 + 16,896.
        (lambda: kcv.layers.Bottleneck(64), (None, 56, 56, 64), 75_008),
        (lambda: kcv.layers.Bottleneck(64), (None, 56, 56, 256), 70_400),
        # ResNeXt-50 32x4d conv2_x, first block: width 128; 1x1 64·128 + 256, grouped 3x3
        # 9·4·128 + 256, 1x1 128·256 + 512, projection 64·256 + 512.
        (
            lambda: kcv.layers.Bottleneck(64, groups=32, width_per_group=4),
            (None, 56, 56, 64),
            63_488,
        ),
        # ResNet-18 conv3_x first block: 3x3 64 -> 128 stride 2, 3x3 128 -> 128, projection.
        # 73,728 + 256 + 147,456 + 256 + 8,192 + 256.
        (lambda: kcv.layers.BasicBlock(128, strides=2), (None, 56, 56, 64), 230_144),
        # The same layer of a plain network: no projection (230,144 - 8,192 - 256).
        (lambda: kcv.layers.BasicBlock(128, strides=2, plain=True), (None, 56, 56, 64), 221_696),
    ],
)
def test_parameter_counts(block, input_shape, expected):
    layer = block()
    with keras.StatelessScope(initialize_variables=False):  # shapes only, cheap
        layer.build(input_shape)
    assert int(sum(np.prod(w.shape) for w in layer.trainable_weights)) == expected


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (kcv.layers.BasicBlock, {"filters": 0}, "`filters` must be an integer >= 1, received 0"),
        (kcv.layers.BasicBlock, {"filters": 8.0}, "`filters` must be an integer >= 1"),
        (kcv.layers.BasicBlock, {"strides": -1}, "`strides` must be an integer >= 1, received -1"),
        (kcv.layers.Bottleneck, {"dilation_rate": 0}, "`dilation_rate` must be an integer >= 1"),
        (
            kcv.layers.Bottleneck,
            {"strides": 2, "dilation_rate": 2},
            "`dilation_rate` must be 1 when `strides` > 1",
        ),
        (kcv.layers.Bottleneck, {"groups": 0}, "`groups` must be an integer >= 1"),
        (
            kcv.layers.Bottleneck,
            {"width_per_group": 4},  # int(8 · 4 / 64) = 0 channels per group
            r"`width_per_group` must be large enough that int\(filters · width_per_group / 64\)",
        ),
        (kcv.layers.Bottleneck, {"attention": "se"}, "`attention` must be None or a keras"),
        (
            kcv.layers.BasicBlock,
            {"inner_attention": kcv.layers.SqueezeExcite},
            "`inner_attention` must be None or a keras",
        ),
        (
            kcv.layers.BasicBlock,
            {"attention": kcv.layers.SqueezeExcite(data_format="channels_first")},
            "`attention` must be a layer with the block's data_format 'channels_last', "
            "received SqueezeExcite with data_format='channels_first'",
        ),
        (kcv.layers.BasicBlock, {"data_format": "NHWC"}, "`data_format` must be one of"),
        (kcv.layers.Bottleneck, {"plain": "yes"}, "`plain` must be True or False, received 'yes'"),
    ],
)
def test_bad_arguments_are_named(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**{"filters": 8, "data_format": "channels_last", **kwargs})


@pytest.mark.parametrize("plain", [False, True])
def test_identity_is_easy_with_a_shortcut_and_lost_without(plain):
    # He et al. Sec. 3.1: with the branch's last BN scale at zero, a residual block is the
    # identity (for x >= 0, e.g. the previous block's ReLU output); a plain block outputs
    # zeros: to be the identity, its convolutions would have to learn it.
    block = kcv.layers.BasicBlock(6, plain=plain)
    x = np.abs(np.random.default_rng(0).standard_normal((2, 5, 5, 6))).astype("float32")
    block(x)
    testing.randomize_weights(block, seed=1)
    last_bn = block.units[-1][1]
    last_bn.gamma.assign(np.zeros(6, "float32"))
    last_bn.beta.assign(np.zeros(6, "float32"))
    y = keras.ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(y, np.zeros_like(x) if plain else x, atol=1e-6)


def test_unknown_option_is_rejected():
    with pytest.raises(ValueError, match="expansion"):  # Keras' own check of layer kwargs
        kcv.layers.Bottleneck(8, expansion=2)


def test_extension_that_changes_the_shape_is_rejected_at_build():
    block = kcv.layers.Bottleneck(4, attention=keras.layers.Dense(3))
    with pytest.raises(ValueError, match="`attention` must be a layer that keeps the shape"):
        block.build((2, 8, 8, 16))


@pytest.mark.parametrize("shape", [(2, 16), (2, 4, 4, 4, 16)])
def test_wrong_rank_is_rejected_at_build(shape):
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        kcv.layers.BasicBlock(8).build(shape)


def test_attention_is_serialized_with_the_block():
    block = kcv.layers.Bottleneck(
        4, attention=kcv.layers.SqueezeExcite(4), inner_attention=kcv.layers.SqueezeExcite(2)
    )
    inputs = keras.Input((6, 6, 8))
    model = keras.Model(inputs, block(inputs))
    testing.randomize_weights(model, seed=0)
    config = block.get_config()
    assert config["attention"]["class_name"] == "SqueezeExcite"
    assert config["attention"]["config"]["reduction"] == 4
    assert config["inner_attention"]["config"]["reduction"] == 2
    clone = kcv.layers.Bottleneck.from_config(config)
    assert isinstance(clone.attention, kcv.layers.SqueezeExcite)
    assert clone.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("float32")
    expected = model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "block.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    reloaded = loaded.layers[-1]
    assert isinstance(reloaded.attention, kcv.layers.SqueezeExcite)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-5)


def test_mixed_precision_block_with_a_float32_attention():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("float32")
    block = kcv.layers.Bottleneck(2, attention=kcv.layers.SqueezeExcite(2), dtype="mixed_float16")
    y = block(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in block.weights)


@pytest.mark.parametrize("cls", [kcv.layers.BasicBlock, kcv.layers.Bottleneck])
def test_channels_first_gives_the_same_outputs(cls):
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)

    def model(data_format):
        shape = (7, 7, 8) if data_format == "channels_last" else (8, 7, 7)
        inputs = keras.Input(shape)
        block = cls(
            4,
            strides=2,
            attention=kcv.layers.SqueezeExcite(2, data_format=data_format),
            data_format=data_format,
        )
        return keras.Model(inputs, block(inputs))

    last, first = model("channels_last"), model("channels_first")
    testing.randomize_weights(last, seed=0)
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 7, 7, 8)).astype("float32")
    expected = keras.ops.convert_to_numpy(last(x, training=False))
    got = keras.ops.convert_to_numpy(first(np.transpose(x, (0, 3, 1, 2)), training=False))
    np.testing.assert_allclose(np.transpose(got, (0, 2, 3, 1)), expected, atol=1e-5)


def test_residual_is_what_attention_receives():
    """SENet Fig. 6 reads the gate of each block: attention.excitation(residual(x))."""
    block = kcv.layers.Bottleneck(4, strides=2, attention=kcv.layers.SqueezeExcite(4))
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype("float32")
    block(x)
    testing.randomize_weights(block, seed=2)
    branch = keras.ops.convert_to_numpy(block.residual(x, training=False))
    shortcut = _unit(x.astype("float64"), block.shortcut, relu=False)
    expected = keras.ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(
        np.maximum(_se(branch.astype("float64"), block.attention) + shortcut, 0.0),
        expected,
        atol=1e-4,
    )
    gate = keras.ops.convert_to_numpy(block.attention.excitation(branch))
    assert gate.shape == (2, 16) and np.all((gate > 0) & (gate < 1))
