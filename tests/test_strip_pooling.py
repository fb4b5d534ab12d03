"""StripPooling (SPM) and MixedPooling (MPM) against SPNet's definitions.

Hou et al., "Strip Pooling: Rethinking Spatial Pooling for Scene Parsing",
CVPR 2020; official SPBlock (resnet.py) and StripPooling (customize.py).
"""

import math
import re

import keras
import numpy as np
import pytest

from kcv.layers.strip_pooling import MixedPooling
from kcv.layers.strip_pooling import StripPooling
from kcv.layers.strip_pooling import adaptive_average_pool2d
from kcv.layers.strip_pooling import adaptive_average_pooling_matrix
from kcv.testing import randomize_weights


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype="float64")


def _trainable_params(layer):
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights))


# ---------------------------------------------------------------------------
# NumPy references (channels_last, float64)


def _conv_same(x, kernel):
    """Stride-1 "same" convolution (odd kernel) of (B, H, W, Cin) with (kh, kw, Cin, Cout)."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    height, width = x.shape[1:3]
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            out = out + padded[:, i : i + height, j : j + width, :] @ kernel[i, j]
    return out


def _conv_bn(x, chain):
    """A kcv conv (no bias) + inference-mode BN [+ ReLU] chain, in NumPy."""
    conv, bn = chain[0], chain[1]
    y = _conv_same(x, _np(conv.kernel))
    y = (y - _np(bn.moving_mean)) / np.sqrt(_np(bn.moving_variance) + bn.epsilon)
    y = y * _np(bn.gamma) + _np(bn.beta)
    return np.maximum(y, 0.0) if len(chain) == 3 else y


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _spm_reference(x, layer):
    rows = _conv_bn(x.mean(axis=2, keepdims=True), layer.horizontal)  # (B, H, 1, C), 3x1
    cols = _conv_bn(x.mean(axis=1, keepdims=True), layer.vertical)  # (B, 1, W, C), 1x3
    fused = np.maximum(rows + cols, 0.0)
    gate = _sigmoid(fused @ _np(layer.gate_conv.kernel)[0, 0] + _np(layer.gate_conv.bias))
    return x * gate


def _adaptive_pool_reference(x, out_h, out_w):
    """PyTorch's adaptive_avg_pool2d, loop by loop: bin [floor(i·n/m), ceil((i+1)·n/m))."""
    batch, height, width, channels = x.shape
    out = np.zeros((batch, out_h, out_w, channels))
    for i in range(out_h):
        h0, h1 = math.floor(i * height / out_h), math.ceil((i + 1) * height / out_h)
        for j in range(out_w):
            w0, w1 = math.floor(j * width / out_w), math.ceil((j + 1) * width / out_w)
            out[:, i, j, :] = x[:, h0:h1, w0:w1, :].mean(axis=(1, 2))
    return out


def _bilinear_matrix(out_size, in_size):
    """Half-pixel-centre bilinear interpolation (PyTorch align_corners=False, no antialias)."""
    matrix = np.zeros((out_size, in_size))
    for o in range(out_size):
        src = max((o + 0.5) * in_size / out_size - 0.5, 0.0)
        i0 = min(int(math.floor(src)), in_size - 1)
        i1 = min(i0 + 1, in_size - 1)
        frac = src - i0
        matrix[o, i0] += 1.0 - frac
        matrix[o, i1] += frac
    return matrix


def _resize(x, height, width):
    rows, cols = _bilinear_matrix(height, x.shape[1]), _bilinear_matrix(width, x.shape[2])
    return np.einsum("ph,bhwc,qw->bpqc", rows, x, cols)


def _mpm_reference(x, layer):
    height, width = x.shape[1:3]
    x1 = _conv_bn(x, layer.conv1_1)
    x2 = _conv_bn(x, layer.conv1_2)
    x2_1 = _conv_bn(x1, layer.conv2_0)
    p0, p1 = layer.pool_sizes
    x2_2 = _resize(_conv_bn(_adaptive_pool_reference(x1, p0, p0), layer.conv2_1), height, width)
    x2_3 = _resize(_conv_bn(_adaptive_pool_reference(x1, p1, p1), layer.conv2_2), height, width)
    short = _conv_bn(np.maximum(x2_1 + x2_2 + x2_3, 0.0), layer.conv2_5)
    x2_4 = _conv_bn(x2.mean(axis=1, keepdims=True), layer.conv2_3)  # 1 x W strip, 1x3
    x2_5 = _conv_bn(x2.mean(axis=2, keepdims=True), layer.conv2_4)  # H x 1 strip, 3x1
    long = _conv_bn(np.maximum(x2_4 + x2_5, 0.0), layer.conv2_6)
    out = _conv_bn(np.concatenate([short, long], axis=-1), layer.conv3)
    return np.maximum(x + out, 0.0)


# ---------------------------------------------------------------------------
# Parameter counts


@pytest.mark.parametrize(
    "channels, expected",
    [
        (64, 28_992),  # 7·64² + 5·64 = 28,672 + 320
        (8, 488),  # 7·8² + 5·8 = 448 + 40
        (512, 1_837_568),  # 7·512² + 5·512 = 1,835,008 + 2,560
    ],
)
def test_spm_parameter_count(channels, expected):
    """3C² + 2C (3x1 conv + BN) + 3C² + 2C (1x3 conv + BN) + C² + C (1x1 conv, bias)."""
    layer = StripPooling()
    layer.build((None, 8, 8, channels))
    assert _trainable_params(layer) == 7 * channels**2 + 5 * channels == expected
    assert len(layer.trainable_weights) == 8  # 3 kernels, 1 bias, 2 x (gamma, beta)
    assert len(layer.non_trainable_weights) == 4  # 2 x (moving mean, moving variance)
    kernels = sorted(tuple(w.shape) for w in layer.trainable_weights if len(w.shape) == 4)
    c = channels
    assert kernels == sorted([(3, 1, c, c), (1, 3, c, c), (1, 1, c, c)])


def _mpm_params(c):
    m = c // 4
    return (
        2 * (c * m + 2 * m)  # conv1_1, conv1_2: 1x1 C -> m + BN
        + 5 * (9 * m * m + 2 * m)  # conv2_0, 2_1, 2_2, 2_5, 2_6: 3x3 + BN
        + 2 * (3 * m * m + 2 * m)  # conv2_3 (1x3), conv2_4 (3x1) + BN
        + (2 * m * c + 2 * c)  # conv3: 1x1 2m -> C + BN
    )


@pytest.mark.parametrize(
    "channels, expected",
    [
        (16, 1_176),  # m = 4: 4·16·4 + 51·4² + 18·4 + 2·16 = 256 + 816 + 72 + 32
        (18, 1_212),  # m = 18 // 4 = 4: 288 + 816 + 72 + 36
        (1024, 4_397_568),  # SPHead's width, m = 256: 1,048,576 + 3,342,336 + 4,608 + 2,048
    ],
)
def test_mpm_parameter_count(channels, expected):
    """4Cm + 51m² + 18m + 2C trainable parameters, m = C // 4."""
    layer = MixedPooling()
    layer.build((None, 24, 24, channels))
    m = channels // 4
    assert _trainable_params(layer) == _mpm_params(channels) == expected
    assert expected == 4 * channels * m + 51 * m * m + 18 * m + 2 * channels
    assert len(layer.trainable_weights) == 10 + 2 * 10  # 10 kernels, 10 BNs
    assert len(layer.non_trainable_weights) == 2 * 10
    assert all(len(w.shape) == 4 or "_bn" in w.path for w in layer.trainable_weights)  # no bias


# ---------------------------------------------------------------------------
# StripPooling semantics


def test_spm_matches_the_equations():
    x = np.random.default_rng(0).standard_normal((2, 5, 7, 6)).astype("float32")
    layer = StripPooling()
    layer.build(x.shape)
    randomize_weights(layer, seed=1)  # BN statistics too, so that BN is not the identity
    y = _np(layer(x, training=False))
    np.testing.assert_allclose(y, _spm_reference(x.astype("float64"), layer), rtol=1e-4, atol=1e-5)


def test_spm_gate_lies_strictly_between_zero_and_one():
    x = np.random.default_rng(2).standard_normal((2, 6, 9, 8)).astype("float32")
    x[np.abs(x) < 1e-2] = 0.5  # ratios only where the input is clearly nonzero
    layer = StripPooling()
    y = _np(layer(x, training=False))
    ratio = y / x
    assert np.all(ratio > 0.0) and np.all(ratio < 1.0), (ratio.min(), ratio.max())
    assert ratio.std() > 1e-3  # a gate that varies, not a constant


def _cross(shape, row, col):
    """Pixels whose 3-row / 3-column strip neighbourhood contains (row, col)."""
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return (np.abs(rows - row) <= 1) | (np.abs(cols - col) <= 1)


@pytest.mark.parametrize("row, col", [(5, 4), (0, 8), (10, 0), (3, 6)])
def test_spm_sees_rows_and_columns_only(row, col):
    """Output (h, w) depends on input (r, c) iff |h - r| <= 1 or |w - c| <= 1.

    A pixel changes the mean of its row r and column c; the 3x1 convolution
    spreads row r to the gate of rows r-1..r+1 (all columns) and the 1x3 one
    column c to columns c-1..c+1 (all rows). A pixel at least 2 rows AND 2
    columns away never reaches (h, w). Positive weights and inputs keep every
    ReLU open and the sigmoid strictly increasing, so each dependence shows.
    """
    layer = StripPooling()
    x = np.random.default_rng(3).uniform(0.5, 1.0, (1, 11, 9, 4)).astype("float32")
    layer.build(x.shape)
    rng = np.random.default_rng(4)
    for weight in layer.weights:
        if len(weight.shape) == 4:
            weight.assign(rng.uniform(0.05, 0.15, weight.shape).astype("float32"))
    bumped = x.copy()
    bumped[0, row, col, :] += 5.0
    changed = np.abs(_np(layer(bumped, training=False)) - _np(layer(x, training=False))) > 1e-7
    np.testing.assert_array_equal(changed[0].any(axis=-1), _cross(x.shape[1:3], row, col))
    assert changed[0][_cross(x.shape[1:3], row, col)].all()  # every channel, every pixel


def test_spm_works_with_unknown_spatial_size():
    inputs = keras.Input((None, None, 6))
    layer = StripPooling()
    model = keras.Model(inputs, layer(inputs))
    assert tuple(model.output.shape) == (None, None, None, 6)
    for shape in [(2, 5, 7, 6), (1, 9, 4, 6)]:
        x = np.random.default_rng(5).standard_normal(shape).astype("float32")
        y = model.predict(x, verbose=0)
        expected = _spm_reference(x.astype("float64"), layer)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# Adaptive average pooling


def test_adaptive_pooling_bins_are_pytorchs():
    """10 -> 4: bins [0, 3), [2, 5), [5, 8), [7, 10) (floor / ceil of i·10/4)."""
    expected = np.zeros((4, 10))
    for i, (start, end) in enumerate([(0, 3), (2, 5), (5, 8), (7, 10)]):
        expected[i, start:end] = 1.0 / (end - start)
    np.testing.assert_allclose(adaptive_average_pooling_matrix(10, 4), expected)
    # More bins than pixels: each bin holds one pixel, pixels repeat.
    np.testing.assert_allclose(
        adaptive_average_pooling_matrix(2, 4), [[1, 0], [1, 0], [0, 1], [0, 1]]
    )


@pytest.mark.parametrize(
    "size, out",
    [
        ((7, 7), (3, 3)),
        ((10, 10), (4, 4)),
        ((32, 32), (20, 20)),
        ((9, 6), (4, 5)),
        ((5, 5), (20, 12)),
        ((6, 6), (6, 6)),
        ((8, 3), (1, 1)),
    ],
)
def test_adaptive_pooling_matches_a_numpy_reference(size, out):
    x = np.random.default_rng(6).standard_normal((2, *size, 3)).astype("float32")
    expected = _adaptive_pool_reference(x.astype("float64"), *out)
    got = _np(adaptive_average_pool2d(x, out, data_format="channels_last"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # channels_first is the same computation on transposed axes (no convolution involved).
    got_first = _np(adaptive_average_pool2d(x.transpose(0, 3, 1, 2), out, "channels_first"))
    np.testing.assert_allclose(got_first.transpose(0, 2, 3, 1), expected, rtol=1e-5, atol=1e-6)


def test_adaptive_pooling_needs_known_sizes():
    with pytest.raises(ValueError, match="must be a tensor of known height and width"):
        adaptive_average_pool2d(keras.KerasTensor((None, None, 5, 3)), 2, "channels_last")
    with pytest.raises(ValueError, match="`output_size` must be an integer >= 1"):
        adaptive_average_pool2d(np.ones((1, 4, 4, 1), "float32"), 0, "channels_last")


# ---------------------------------------------------------------------------
# MixedPooling semantics


@pytest.mark.parametrize(
    "shape, pool_sizes",
    [((2, 7, 9, 8), (3, 4)), ((1, 6, 5, 8), (20, 12))],  # upsampled / downsampled pooled maps
)
def test_mpm_matches_the_official_forward(shape, pool_sizes):
    x = np.random.default_rng(7).standard_normal(shape).astype("float32")
    layer = MixedPooling(pool_sizes=pool_sizes)
    layer.build(x.shape)
    randomize_weights(layer, seed=8)
    y = _np(layer(x, training=False))
    np.testing.assert_allclose(y, _mpm_reference(x.astype("float64"), layer), rtol=1e-4, atol=1e-4)


def test_mpm_is_residual():
    """relu(x + BN(conv3(...))): with conv3's BN zeroed the module is relu(x)."""
    x = np.random.default_rng(9).standard_normal((2, 6, 6, 8)).astype("float32")
    layer = MixedPooling(pool_sizes=(3, 2))
    layer.build(x.shape)
    bn = layer.conv3[1]
    bn.gamma.assign(np.zeros(8, "float32"))
    bn.beta.assign(np.zeros(8, "float32"))
    np.testing.assert_allclose(_np(layer(x, training=False)), np.maximum(x, 0.0), atol=1e-6)


def test_mpm_has_a_global_receptive_field():
    """The strip and pooled branches carry any pixel to every output pixel."""
    layer = MixedPooling(pool_sizes=(3, 2))
    x = np.random.default_rng(10).uniform(0.5, 1.0, (1, 12, 12, 8)).astype("float32")
    layer.build(x.shape)
    rng = np.random.default_rng(11)
    for weight in layer.weights:  # positive kernels: every ReLU stays open
        if len(weight.shape) == 4:
            weight.assign(rng.uniform(0.01, 0.05, weight.shape).astype("float32"))
    bumped = x.copy()
    bumped[0, 0, 0, :] += 5.0
    changed = np.abs(_np(layer(bumped, training=False)) - _np(layer(x, training=False))) > 1e-7
    assert changed[0].any(axis=-1).all()


# ---------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "pool_sizes", [20, (20,), (20, 12, 6), (20, 0), (20, 12.5), (True, 2), "ab", None]
)
def test_bad_pool_sizes_are_named(pool_sizes):
    with pytest.raises(ValueError, match="`pool_sizes` must be a pair of integers >= 1"):
        MixedPooling(pool_sizes=pool_sizes)


def test_pool_sizes_list_is_stored_as_a_tuple():
    assert MixedPooling(pool_sizes=[6, 3]).get_config()["pool_sizes"] == (6, 3)


@pytest.mark.parametrize("cls", [StripPooling, MixedPooling])
def test_bad_data_format_is_named(cls):
    with pytest.raises(ValueError, match="`data_format` must be one of"):
        cls(data_format="NHWC")


@pytest.mark.parametrize("cls", [StripPooling, MixedPooling])
@pytest.mark.parametrize("shape", [(2, 16), (2, 8, 16), (2, 4, 4, 4, 16)])
def test_wrong_rank_is_rejected_at_build(cls, shape):
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        cls().build(shape)


@pytest.mark.parametrize("cls", [StripPooling, MixedPooling])
def test_unknown_channels_are_rejected(cls):
    with pytest.raises(ValueError, match="with a known channel dimension"):
        cls().build((2, 8, 8, None))


@pytest.mark.parametrize("channels", [1, 3])
def test_mpm_needs_four_channels(channels):
    pattern = r"must be a tensor of at least 4 channels.*" + re.escape(str((None, 8, 8, channels)))
    with pytest.raises(ValueError, match=pattern):
        MixedPooling().build((None, 8, 8, channels))


@pytest.mark.parametrize("shape", [(None, None, None, 8), (None, 8, None, 8)])
def test_mpm_needs_known_spatial_sizes_at_build(shape):
    with pytest.raises(
        ValueError, match=r"must be a tensor of known height and width.*" + re.escape(str(shape))
    ):
        MixedPooling().build(shape)


def test_mpm_rejects_a_symbolic_input_of_unknown_size():
    with pytest.raises(ValueError, match="must be a tensor of known height and width"):
        MixedPooling()(keras.Input((None, None, 8)))
