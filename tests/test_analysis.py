"""kcv.analysis against the papers' tables and hand arithmetic.

The keras.applications counts are pinned twice: to a count worked out here
from the papers' architecture tables (independent of Keras), and to the
papers' rounded figures. They need no download (``weights=None``) and run once
(``backend_independent``: count_macs uses shapes only); the per-backend tests
count kcv's blocks and small models by hand.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv.analysis import ReceptiveField
from kcv.analysis import conv_output_size
from kcv.analysis import count_macs
from kcv.analysis import count_params
from kcv.analysis import receptive_field

backend_independent = pytest.mark.backend_independent

# Counts do not depend on weight values; constant initializers spare JAX one
# compilation of the random initializer per weight shape.
ZEROS = {"kernel_initializer": "zeros"}


# ---------------------------------------------------------------- the papers' networks


def _mobilenet_macs():
    """MobileNet 1.0-224 from Howard et al., Table 1, with Eq. 5 per block.

    Standard 3x3 conv s2, 3 -> 32 at 112x112, then 13 blocks (depthwise
    stride, M -> N); the last block has stride 1 (Table 1 prints "s2", but its
    output stays 7x7 and the official code uses 1), then the 1024 -> 1000 FC.
    """
    macs = 3 * 3 * 3 * 32 * 112 * 112  # 10,838,016
    size = 112
    blocks = (
        [(1, 32, 64), (2, 64, 128), (1, 128, 128), (2, 128, 256), (1, 256, 256), (2, 256, 512)]
        + [(1, 512, 512)] * 5
        + [(2, 512, 1024), (1, 1024, 1024)]
    )
    for stride, m, n in blocks:
        size //= stride  # D_F: the output size
        macs += 3 * 3 * m * size * size + m * n * size * size  # Eq. 5
    return macs + 1024 * 1000


def _mobilenet_v2_macs():
    """MobileNetV2 1.0-224 from Sandler et al., Table 2 (t, c, n, s) and Table 1.

    Each bottleneck: 1x1 expansion at the input size (skipped for t = 1),
    3x3 depthwise at the output size, 1x1 linear projection.
    """
    macs = 3 * 3 * 3 * 32 * 112 * 112  # conv2d 3x3 s2
    size, c_in = 112, 32
    for t, c, n, s in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for i in range(n):
            hidden, out = t * c_in, size // (s if i == 0 else 1)
            macs += c_in * hidden * size * size if t != 1 else 0
            macs += 3 * 3 * hidden * out * out + hidden * c * out * out
            size, c_in = out, c
    return macs + 320 * 1280 * 7 * 7 + 1280 * 1000  # conv2d 1x1 to 1280, then the FC


def _resnet50_macs():
    """ResNet-50 from He et al., Table 1, as Caffe's (and Keras') v1 computes it.

    conv1 7x7/2 at 112, max pool to 56, then bottlenecks (1x1 reduce, 3x3,
    1x1 expand x4) with a projection shortcut in each stage's first block; v1
    strides the first 1x1 (torchvision's v1.5 strides the 3x3: 4.09 G).
    """
    macs = 7 * 7 * 3 * 64 * 112 * 112  # 118,013,952
    size, c_in = 56, 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            out = size // (stride if i == 0 else 1)
            macs += (c_in * width + 9 * width * width + width * 4 * width) * out * out
            macs += c_in * 4 * width * out * out if i == 0 else 0  # projection
            size, c_in = out, 4 * width
    return macs + 2048 * 1000


@pytest.fixture(scope="module")
def mobilenet():
    return keras.applications.MobileNet(weights=None)


@backend_independent
def test_mobilenet_matches_table_1(mobilenet):
    """569 million mult-adds and 4.2 million parameters (Howard et al., Table 1).

    568,740,352 = 567,716,352 in the convolutions + 1,024,000 in the FC
    (Keras' ``conv_preds``, a 1x1 conv on the 1x1 pooled map): the paper
    rounds up. Parameters: 4,231,976 trainable (BN's moving statistics,
    21,888, are not parameters).
    """
    assert count_macs(mobilenet) == _mobilenet_macs() == 568_740_352
    assert round(count_macs(mobilenet) / 1e6) == 569
    assert count_params(mobilenet) == 4_231_976


@backend_independent
def test_mobilenet_cost_breakdown_matches_table_2(mobilenet):
    """Table 2: 1x1 convs 94.86%, depthwise 3.06%, FC 0.18% of the mult-adds.

    The first (standard 3x3) convolution is 10,838,016 / 568,740,352 = 1.91%;
    Table 2 prints 1.19%, likely swapped digits: its four rows then sum to
    99.29%, with 1.91% to 100.01%.
    """
    per_layer = count_macs(mobilenet, by_layer=True)
    total = sum(per_layer.values())

    def share(select):
        return round(100 * sum(m for layer, m in per_layer.items() if select(layer)) / total, 2)

    def pointwise(layer):
        return type(layer) is keras.layers.Conv2D and layer.kernel_size == (1, 1)

    assert share(lambda layer: pointwise(layer) and layer.name != "conv_preds") == 94.86
    assert share(lambda layer: isinstance(layer, keras.layers.DepthwiseConv2D)) == 3.06
    assert share(lambda layer: layer.name == "conv_preds") == 0.18
    assert share(lambda layer: layer.name == "conv1") == 1.91


@backend_independent
def test_mobilenet_v2_matches_table_4():
    """Sandler et al., Table 4: 300M multiply-adds, 3.4M parameters.

    Counted: 300,774,272 (0.26% above the rounded 300M; 1,280,000 of it is
    the FC). Parameters: 3,504,872 trainable = 3,470,760 in the convolutions
    and the FC (the official repository's "3.47M"; Table 4 prints 3.4) +
    34,112 BN scales and offsets.
    """
    model = keras.applications.MobileNetV2(weights=None)
    assert count_macs(model) == _mobilenet_v2_macs() == 300_774_272
    assert abs(count_macs(model) / 300e6 - 1) < 0.005
    bn = sum(
        layer.gamma.shape[0] + layer.beta.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert count_params(model) == 3_504_872 == 3_470_760 + bn


@backend_independent
def test_resnet50_matches_table_1():
    """He et al., Table 1: 3.8·10⁹ FLOPs (multiply-adds) for ResNet-50.

    Counted: 3,857,973,248 = 3.86 G (the FC: 2,048,000). Parameters:
    Keras keeps a bias in each of the 53 convolutions before BN (26,560
    scalars); the official model has none: 25,583,592 - 26,560 = 25,557,032.
    """
    model = keras.applications.ResNet50(weights=None)
    assert count_macs(model) == _resnet50_macs() == 3_857_973_248
    assert round(count_macs(model) / 1e9, 1) == 3.9  # 3.86: "3.8" truncates
    conv_biases = sum(
        layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )
    assert conv_biases == 26_560
    assert count_params(model) - conv_biases == 25_557_032


# ---------------------------------------------------------------- count_macs on kcv blocks


def test_inception_3a_matches_googlenet_table_1():
    """Inception (3a) at 28x28x192: 128M ops in Szegedy et al., Table 1.

    28²·(192·64 + 192·96 + 9·96·128 + 192·16 + 25·16·32 + 192·32)
    = 784·163,328 = 128,049,152. Max pooling, ReLU and BN are not counted.
    """
    for batch_norm in (False, True):
        block = kcv.layers.InceptionModule(64, 96, 128, 16, 32, 32, batch_norm=batch_norm)
        assert count_macs(block, input_shape=(28, 28, 192)) == 784 * 163_328 == 128_049_152


def test_inception_factorized_5x5():
    """Two 3x3 in place of the 5x5: 9·16·32 + 9·32·32 replaces 25·16·32 (per pixel)."""
    block = kcv.layers.InceptionModule(64, 96, 128, 16, 32, 32, factorize_5x5=True)
    per_pixel = 163_328 - 25 * 16 * 32 + 9 * 16 * 32 + 9 * 32 * 32
    assert count_macs(block, input_shape=(28, 28, 192)) == 784 * per_pixel


@pytest.mark.parametrize(
    "stride, in_size, m, n, expected",
    [
        # Table 1, "Conv dw / s1 3x3x512 + Conv / s1 1x1x512x512" at D_F = 14:
        # 9·512·196 + 512·512·196 = 903,168 + 51,380,224.
        (1, 14, 512, 512, 52_283_392),
        # "Conv dw / s2 3x3x256" on 28x28x256, then 1x1x256x512 at D_F = 14:
        # 9·256·196 + 256·512·196 = 451,584 + 25,690,112.
        (2, 28, 256, 512, 26_141_696),
    ],
)
def test_depthwise_separable_is_mobilenet_eq_5(stride, in_size, m, n, expected):
    """D_K·D_K·M·D_F·D_F + M·N·D_F·D_F (Howard et al., Eq. 5)."""
    d_f = in_size // stride
    block = kcv.layers.DepthwiseSeparableConv(n, strides=stride)
    assert (
        count_macs(block, input_shape=(in_size, in_size, m))
        == (3 * 3 * m * d_f * d_f + m * n * d_f * d_f)
        == expected
    )


def test_inverted_residual():
    """24 -> 24, t = 6 at 56x56: 56²·(24·144 + 9·144 + 144·24) = 3136·8,208."""
    block = kcv.layers.InvertedResidual(24, expansion=6)
    assert count_macs(block, input_shape=(56, 56, 24)) == 3136 * 8_208 == 25_740_288


@pytest.mark.parametrize("separable", [False, True])
def test_aspp_counts_the_pooled_branch_at_1x1(separable):
    """DeepLabv3's ASPP on MobileNetV2's 33x33x320 (513 crop, output stride 16).

    256 filters, rates 6/12/18: 1x1 branch 320·256·33², three rate branches
    (3x3: 9·320·256·33²; separable, v3+: (9·320 + 320·256)·33²), image
    pooling 320·256·1 (its 1x1 conv sees the pooled 1x1 map), projection of
    the 5·256 concatenated channels 5·256·256·33².
    """
    aspp = kcv.layers.ASPP(256, rates=(6, 12, 18), separable=separable)
    pixels = 33 * 33
    rate_branch = (9 * 320 + 320 * 256) if separable else 9 * 320 * 256
    expected = 320 * 256 * pixels + 3 * rate_branch * pixels + 320 * 256 + 5 * 256 * 256 * pixels
    per_layer = count_macs(aspp, input_shape=(33, 33, 320), by_layer=True)
    assert sum(per_layer.values()) == expected
    pooled = [macs for layer, macs in per_layer.items() if layer.name == "image_pool"]
    assert pooled == [320 * 256]


@pytest.mark.parametrize(
    "input_shape, expected",
    [
        # N = 8·8 pixels, K = 32, C = 64: distances N·K·C + aggregation K·N·C.
        ((8, 8, 64), 2 * 64 * 32 * 64),
        ((100, 64), 2 * 100 * 32 * 64),  # (N, C) input
    ],
)
def test_encoding_counts_its_two_matrix_products(input_shape, expected):
    assert count_macs(kcv.layers.Encoding(32), input_shape=input_shape) == expected


def test_context_encoding():
    """EncModule on 16x16x128, K = 32, 21 classes: 1x1 conv, Encoding, gate FC, SE head.

    128·128·256 + 2·256·32·128 + 128·128 + 128·21.
    """
    module = kcv.layers.ContextEncoding(32, se_classes=21)
    expected = 128 * 128 * 256 + 2 * 256 * 32 * 128 + 128 * 128 + 128 * 21
    assert count_macs(module, input_shape=(16, 16, 128)) == expected


def test_squeeze_excite_counts_its_two_fcs():
    """SE on 256 channels, r = 16: 256·16 + 16·256; the pooling and gating are not MACs."""
    assert count_macs(kcv.layers.SqueezeExcite(16), input_shape=(7, 7, 256)) == 2 * 256 * 16


# ---------------------------------------------------------------- count_macs: conventions


def test_keras_layer_kinds():
    """One model, every counted kind, each by its formula (batch 1, 'same' unless said)."""
    inputs = keras.Input((16, 16, 8))
    x = keras.layers.Conv2D(12, 3, 2, "same", groups=4, name="grouped", **ZEROS)(inputs)
    x = keras.layers.SeparableConv2D(
        16,
        3,
        padding="same",
        depth_multiplier=2,
        name="sep",
        depthwise_initializer="zeros",
        pointwise_initializer="zeros",
    )(x)
    x = keras.layers.Conv2DTranspose(4, 3, 2, "same", name="transposed", **ZEROS)(x)
    x = keras.layers.Reshape((256, 4))(x)
    x = keras.layers.Conv1D(6, 5, name="conv1d", **ZEROS)(x)
    outputs = keras.layers.Dense(10, name="dense", **ZEROS)(x)  # on (1, 252, 6)
    model = keras.Model(inputs, outputs)
    expected = {
        "grouped": 9 * (8 // 4) * 12 * 8 * 8,  # k²·(C_in/groups)·C_out·H_out·W_out
        "sep": 9 * 12 * 2 * 8 * 8 + 12 * 2 * 16 * 8 * 8,  # depthwise + pointwise
        "transposed": 9 * 16 * 4 * 8 * 8,  # k²·C_in·C_out·H_in·W_in
        "conv1d": 5 * 4 * 6 * 252,  # 256 - 5 + 1 = 252 positions
        "dense": 252 * 6 * 10,  # per position
    }
    per_layer = count_macs(model, by_layer=True)
    assert {layer.name: macs for layer, macs in per_layer.items()} == expected
    assert count_macs(model) == sum(expected.values())
    # A counted layer on its own: "valid" 3x3 on 8x8 -> 6x6.
    assert count_macs(kcv.layers.Conv2D(16, 3), input_shape=(8, 8, 4)) == 9 * 4 * 16 * 36


def test_channels_first_counts_the_same():
    """Channels read from axis 1; runs on TensorFlow's CPU too (no convolution is computed)."""
    last = kcv.layers.InceptionModule(64, 96, 128, 16, 32, 32)
    first = kcv.layers.InceptionModule(64, 96, 128, 16, 32, 32, data_format="channels_first")
    assert count_macs(first, input_shape=(192, 28, 28)) == 128_049_152
    assert count_macs(last, input_shape=(28, 28, 192)) == 128_049_152
    model = keras.Sequential(
        [
            keras.Input((3, 32, 24)),
            keras.layers.Conv2D(8, 3, 2, "same", data_format="channels_first", **ZEROS),
            keras.layers.DepthwiseConv2D(
                3, data_format="channels_first", depthwise_initializer="zeros"
            ),  # "valid": 16x12 -> 14x10
            keras.layers.GlobalAveragePooling2D(data_format="channels_first"),
            keras.layers.Dense(5, **ZEROS),
        ]
    )
    assert count_macs(model) == 9 * 3 * 8 * 16 * 12 + 9 * 8 * 14 * 10 + 8 * 5


def test_unknown_spatial_size_needs_input_shape_and_scales_with_area():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(16, 3, padding="same", **ZEROS)(inputs))
    with pytest.raises(ValueError, match="input_shape"):
        count_macs(model)
    small = count_macs(model, input_shape=(32, 32, 3))
    assert small == 9 * 3 * 16 * 32 * 32
    assert count_macs(model, input_shape=(64, 64, 3)) == 4 * small


def test_counting_leaves_models_and_layers_as_they_were():
    unbuilt = kcv.layers.DepthwiseSeparableConv(8)
    count_macs(unbuilt, input_shape=(8, 8, 4))
    assert not unbuilt.built  # counted on a copy
    model = keras.Sequential([keras.Input((8, 8, 4)), kcv.layers.DepthwiseSeparableConv(8)])
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x, training=False))
    weights = [w.copy() for w in model.get_weights()]
    count_macs(model)
    with pytest.raises(ValueError, match="incompatible"):
        count_macs(model, input_shape=(8, 8, 5))  # wrong channels: Keras refuses mid-pass
    block = model.layers[0]
    sublayers = [v for v in block.blocks if isinstance(v, keras.layers.Layer)]
    assert len(sublayers) >= 4  # depthwise, pointwise, their BNs (and activations)
    for layer in [model, block, *sublayers]:
        assert "call" not in vars(layer), layer.name  # no method is replaced, even for a while
    after = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_array_equal(after, before)
    for w, w0 in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)


def test_layer_called_twice_counts_twice():
    conv = keras.layers.Conv2D(4, 1, **ZEROS)
    inputs = keras.Input((5, 5, 4))
    model = keras.Model(inputs, conv(conv(inputs)))
    assert count_macs(model) == 2 * 4 * 4 * 25


class _TwoScales(keras.layers.Layer):
    """One 3x3 convolution applied at full and half resolution, the results summed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(8, 3, padding="same", **ZEROS)
        self.pool = keras.layers.AveragePooling2D(2)

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        small = self.conv(self.pool(x))
        return self.conv(x) + keras.ops.repeat(keras.ops.repeat(small, 2, axis=1), 2, axis=2)


def test_a_sublayer_called_twice_inside_a_custom_layer_counts_each_call_at_its_size():
    """9·4·8 per output pixel, at 16x16 and at 8x8."""
    per_pixel = 9 * 4 * 8
    layer = _TwoScales(name="two_scales")
    assert count_macs(layer, input_shape=(16, 16, 4)) == per_pixel * (256 + 64)
    inputs = keras.Input((16, 16, 4))
    model = keras.Model(inputs, _TwoScales()(inputs))
    (macs,) = count_macs(model, by_layer=True).values()
    assert macs == per_pixel * (256 + 64)


def test_by_layer_top_gives_each_layer_of_the_model_the_macs_called_inside_it():
    """A block's convolutions go to the block: 9·16·(16·16) + 16·32·(16·16) by hand."""
    inputs = keras.Input((16, 16, 16))
    block = kcv.layers.DepthwiseSeparableConv(32, name="block")
    head = keras.layers.Conv2D(10, 1, name="head")
    model = keras.Model(inputs, head(block(inputs)))
    top = count_macs(model, by_layer="top")
    assert top == {block: (9 * 16 + 16 * 32) * 256, head: 32 * 10 * 256}
    assert sum(top.values()) == count_macs(model)
    with pytest.raises(ValueError, match="`by_layer` must be False, True or 'top'"):
        count_macs(model, by_layer="all")


def test_nested_models_and_subclassed_models_are_counted_inside():
    inner = keras.Sequential(
        [keras.Input((8, 8, 4)), keras.layers.Conv2D(6, 1, **ZEROS), keras.layers.ReLU()]
    )
    head_inputs = keras.Input((8, 8, 6))
    head = keras.Model(head_inputs, keras.layers.Conv2D(2, 3, **ZEROS)(head_inputs))
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, head(inner(inputs)))
    assert count_macs(model) == 4 * 6 * 64 + 9 * 6 * 2 * 36  # "valid" 3x3: 6x6

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [kcv.layers.SqueezeExcite(4), keras.layers.Dense(3, **ZEROS)]

        def call(self, x):
            return self.blocks[1](self.blocks[0](x))

    subclassed = Subclassed()
    subclassed(np.zeros((1, 5, 5, 16), "float32"))  # built by a call: no config to copy from
    assert count_macs(subclassed, input_shape=(5, 5, 16)) == 2 * 16 * 4 + 25 * 16 * 3


def test_a_sublayer_under_any_attribute_is_counted_and_own_weights_are_refused():
    """Sublayers are found by their weights' paths, whatever attribute holds them."""

    class Hidden(keras.layers.Layer):
        def __init__(self, own=False, **kwargs):
            super().__init__(**kwargs)
            self._conv = keras.layers.Conv2D(2, 1, **ZEROS)
            self.own = own

        def build(self, input_shape):
            self._conv.build(input_shape)
            if self.own:
                self.scale = self.add_weight(shape=(2,), initializer="ones")

        def call(self, x):
            y = self._conv(x)
            return y * self.scale if self.own else y

    assert count_macs(Hidden(name="hidden"), input_shape=(4, 4, 3)) == 3 * 2 * 16
    with pytest.raises(ValueError, match="no rule for layer 'scaled' \\(Hidden\\)"):
        count_macs(Hidden(own=True, name="scaled"), input_shape=(4, 4, 3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "mobilenet"}, "`model` must be a Keras layer"),
        ({"model": kcv.layers.Encoding(4)}, "pass `input_shape`"),
        ({"model": kcv.layers.Encoding(4), "input_shape": (8, None, 3)}, "`input_shape` must be"),
        ({"model": kcv.layers.Encoding(4), "input_shape": 8}, "`input_shape` must be a tuple"),
    ],
)
def test_count_macs_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        count_macs(**kwargs)


# ---------------------------------------------------------------- count_params


def test_count_params_is_the_trainable_part_of_keras_count():
    block = kcv.layers.InvertedResidual(24, expansion=6)
    block.build((None, 8, 8, 24))
    non_trainable = sum(int(np.prod(w.shape)) for w in block.non_trainable_weights)
    trainable = sum(int(np.prod(w.shape)) for w in block.trainable_weights)
    # 24·144 + 2·144 + 9·144 + 2·144 + 144·24 + 2·24 (InvertedResidual docstring).
    assert count_params(block) == trainable == block.count_params() - non_trainable == 8_832


def test_count_params_counts_a_shared_layer_once():
    conv = keras.layers.Conv2D(4, 1, **ZEROS)
    inputs = keras.Input((5, 5, 4))
    assert count_params(keras.Model(inputs, conv(conv(inputs)))) == 4 * 4 + 4


def test_count_params_excludes_frozen_layers():
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(5, **ZEROS), keras.layers.Dense(2, **ZEROS)]
    )
    model.layers[0].trainable = False
    assert count_params(model) == 5 * 2 + 2


def test_count_params_errors():
    with pytest.raises(ValueError, match="is not built"):
        count_params(kcv.layers.SqueezeExcite())
    with pytest.raises(ValueError, match="is not built"):
        count_params(keras.Sequential([keras.layers.Dense(3)]))
    with pytest.raises(ValueError, match="`model_or_layer` must be a Keras layer"):
        count_params([keras.layers.Dense(3)])


# ---------------------------------------------------------------- receptive_field


@backend_independent
@pytest.mark.parametrize(
    "chain, size, stride",
    [
        ([(3, 1, 1)] * 3, 7, 1),  # VGG: three 3x3 see what one 7x7 sees
        ([(3, 1, 2)], 5, 1),  # k_eff = 2·(3 - 1) + 1
        ([(7, 2, 1), (3, 2, 1)], 11, 4),  # ResNet stem: 7 + (3 - 1)·2
        ([(3, 1, 6)], 13, 1),  # ASPP rates 6 / 12 / 18 on a 3x3 kernel
        ([(3, 1, 12)], 25, 1),
        ([(3, 1, 18)], 37, 1),
        ([(2, 1, d) for d in (1, 2, 4, 8)], 16, 1),  # WaveNet's dilated stack (Fig. 3)
        # AlexNet (conv1 11/4, pool 3/2, conv2 5, pool 3/2, conv3-5 3, pool 3/2): 195, jump 32.
        ([(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)], 195, 32),
        ([], 1, 1),
    ],
)
def test_receptive_field_known_results(chain, size, stride):
    field = receptive_field(chain)
    assert (field.size, field.stride) == (size, stride)


@backend_independent
def test_receptive_field_start_with_padding():
    """ResNet's stem with PyTorch's padding 3 and 1: start = -3 - 1·2 = -5."""
    assert receptive_field([(7, 2, 1, 3), (3, 2, 1, 1)]) == ReceptiveField(11, 4, -5)
    # "same" 3x3 stride 1 pads 1 whatever the size; the dilated one pads its rate.
    assert receptive_field([(3, 1, 1, "same"), (3, 1, 4, "same")]).start == -1 - 4


@backend_independent
@pytest.mark.parametrize(
    "chain, match",
    [
        ([(3,)], "tuples \\(kernel, stride, dilation\\)"),
        ([3], "tuples \\(kernel, stride, dilation\\)"),
        ([(3, 0)], "`stride` must be an integer >= 1"),
        ([(0, 1)], "`kernel` must be an integer >= 1"),
        ([(3, 1, 1, "full")], "`padding` must be 'valid', 'same'"),
        ("conv", "`model_or_layers` must be"),
    ],
)
def test_receptive_field_errors(chain, match):
    with pytest.raises(ValueError, match=match):
        receptive_field(chain)


def test_receptive_field_of_keras_layers():
    """Conv 7x7/2 + max pool 3x3/2, as layers, a Sequential, and keras' ResNet50 stem."""
    layers = [
        keras.layers.Conv2D(64, 7, strides=2),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(3, strides=2),
    ]
    assert receptive_field(layers) == ReceptiveField(11, 4, 0)
    assert receptive_field(keras.Sequential(layers)) == ReceptiveField(11, 4, 0)
    stem = keras.Sequential(
        [
            keras.Input((224, 224, 3)),
            keras.layers.ZeroPadding2D(3),
            keras.layers.Conv2D(64, 7, strides=2, **ZEROS),
            keras.layers.ZeroPadding2D(1),
            keras.layers.MaxPooling2D(3, strides=2),
        ]
    )
    assert receptive_field(stem) == ReceptiveField(11, 4, -5)  # -3 - 1·2
    # "same" on 224 pads 5 = 2 + 3 ("same" puts the odd pixel at the end): start -2 - 0·2.
    same = [
        keras.layers.Conv2D(64, 7, strides=2, padding="same"),
        keras.layers.MaxPooling2D(3, strides=2, padding="same"),
    ]
    assert receptive_field(same, input_size=224) == ReceptiveField(11, 4, -2)
    assert receptive_field(same, input_size=225) == ReceptiveField(11, 4, -3 - 2)


def test_receptive_field_per_axis_and_causal():
    strips = [keras.layers.Conv2D(1, (3, 1)), keras.layers.Conv2D(1, (1, 5), dilation_rate=2)]
    assert receptive_field(strips) == ReceptiveField((3, 9), 1, 0)
    wavenet = [keras.layers.Conv1D(1, 2, dilation_rate=d, padding="causal") for d in (1, 2, 4, 8)]
    assert receptive_field(wavenet) == ReceptiveField(16, 1, -15)  # the 15 past samples


def _impulse_support(model, height, width):
    """For every output unit, the first and last input row and column that reach it.

    All-ones kernels, no biases, non-negative data: a unit is non-zero exactly
    when a one-hot input pixel lies in its receptive field. Returns two
    ``(first, last)`` pairs of ``(out_height, out_width)`` arrays, rows then
    columns.
    """
    images = np.eye(height * width, dtype="float32").reshape(-1, height, width, 1)
    out = keras.ops.convert_to_numpy(model(images, training=False))[..., 0] > 0
    hit = out.reshape(height, width, *out.shape[1:])  # (in_row, in_col, out_row, out_col)
    supports = []
    for seen in (hit.any(axis=1), hit.any(axis=0)):  # (in_row, ...), (in_col, ...)
        first = seen.argmax(axis=0)
        last = seen.shape[0] - 1 - seen[::-1].argmax(axis=0)
        supports.append((first, last))
    return supports


@pytest.mark.parametrize("height, width", [(47, 38), (48, 41)])
def test_receptive_field_matches_an_impulse_experiment(height, width):
    """Start, size and jump per axis, against the pixels a Keras forward pass reads.

    A unit whose field crosses the border reads padding inside the network
    (zeros that no input pixel reaches), so it sees less than its field; the
    units whose field lies inside the input see exactly their field.
    """
    ones = dict(use_bias=False, kernel_initializer="ones")
    inputs = keras.Input((height, width, 1))
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(inputs)
    x = keras.layers.Conv2D(1, (3, 5), strides=2, padding="same", **ones)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D((3, 2), strides=2, padding="same")(x)
    x = keras.layers.Conv2D(1, 3, dilation_rate=2, padding="same", **ones)(x)
    model = keras.Model(inputs, x)
    field = receptive_field(model)
    # Rows: 3, then 3 + 2·2 = 7 (pool, jump 2), then 7 + 4·4 = 23 (k_eff 5, jump 4);
    # columns: 5, 5 + 1·2 = 7, 23. Starts differ: -1 (zero padding) - left "same" pads.
    assert (field.size, field.stride) == (23, 4)
    supports = _impulse_support(model, height, width)
    for axis, (length, (first, last)) in enumerate(zip((height, width), supports)):
        inside = 0
        for unit in range(first.shape[axis]):
            lo = field.start[axis] + unit * field.stride
            hi = lo + field.size - 1
            index = (unit, 0) if axis == 0 else (0, unit)
            assert lo <= first[index] and last[index] <= hi
            if lo >= 0 and hi < length:
                assert (first[index], last[index]) == (lo, hi)
                inside += 1
        assert inside >= 3


def test_receptive_field_rejects_graphs_and_unknown_layers():
    inputs = keras.Input((16, 16, 8))
    x = keras.layers.Conv2D(8, 3, padding="same", **ZEROS)(inputs)
    residual = keras.Model(inputs, keras.layers.Add()([x, inputs]))
    with pytest.raises(ValueError, match="needs a chain of layers.*'add"):
        receptive_field(residual)
    two_heads = keras.Model(inputs, [x, keras.layers.Conv2D(2, 1, **ZEROS)(inputs)])
    with pytest.raises(ValueError, match="1 inputs and 2 outputs"):
        receptive_field(two_heads)
    with pytest.raises(ValueError, match="no rule for layer .* \\(InceptionModule\\)"):
        receptive_field([kcv.layers.InceptionModule(8, 8, 8, 8, 8, 8)])
    with pytest.raises(ValueError, match="different numbers of spatial axes"):
        receptive_field([keras.layers.Conv2D(1, 3), keras.layers.Conv3D(1, 3)])
    with pytest.raises(ValueError, match="`input_size` must be an int or 2 ints"):
        receptive_field([keras.layers.Conv2D(1, 3)], input_size=(8, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        receptive_field([keras.layers.Conv2D(1, 5)], input_size=3)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(1, 3)

        def call(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="pass its layers as a list"):
        receptive_field(Subclassed())


# ---------------------------------------------------------------- conv_output_size


def _count_windows(size, kernel, stride, pad, dilation):
    """Brute force: window starts i·stride with the dilated kernel inside the padded input."""
    span = dilation * (kernel - 1) + 1
    return sum(1 for start in range(0, size + 2 * pad, stride) if start + span <= size + 2 * pad)


@backend_independent
def test_conv_output_size_against_pytorch_formula_and_brute_force():
    for size in range(1, 30):
        for kernel in (1, 2, 3, 5, 7):
            for stride in (1, 2, 3):
                for pad in (0, 1, 3):
                    for dilation in (1, 2, 6):
                        span = dilation * (kernel - 1) + 1
                        if span > size + 2 * pad:
                            continue
                        # torch.nn.Conv2d: floor((H + 2p - d(k-1) - 1) / s) + 1
                        torch_formula = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
                        got = conv_output_size(size, kernel, stride, pad, dilation)
                        assert (
                            got
                            == torch_formula
                            == _count_windows(size, kernel, stride, pad, dilation)
                        )
                        if pad == 0:
                            assert conv_output_size(size, kernel, stride, "valid", dilation) == got


@backend_independent
def test_conv_output_size_same_is_ceil_of_size_over_stride():
    assert [conv_output_size(n, 3, 2, "same") for n in (7, 8, 224, 225)] == [4, 4, 112, 113]
    assert conv_output_size(33, 3, 1, "same", dilation=18) == 33  # ASPP keeps the map


def test_conv_output_size_matches_keras():
    """Against the shapes Keras' Conv2D (and "same" MaxPooling2D) produce."""
    cases = [  # size, kernel, stride, padding, dilation
        (224, 7, 2, "same", 1),
        (224, 7, 2, "valid", 1),
        (225, 3, 2, "same", 1),
        (15, 4, 3, "valid", 1),
        (33, 3, 1, "valid", 6),
        (33, 3, 1, "same", 12),
        (11, 3, 2, 1, 1),  # explicit padding: ZeroPadding2D(1), then "valid"
        (20, 3, 1, 3, 3),
    ]
    for size, kernel, stride, padding, dilation in cases:
        explicit = isinstance(padding, int)
        conv = keras.layers.Conv2D(
            1, kernel, stride, "valid" if explicit else padding, dilation_rate=dilation, **ZEROS
        )
        x = np.zeros((1, size, size, 1), "float32")
        if explicit:
            x = keras.layers.ZeroPadding2D(padding)(x)
        expected = conv_output_size(size, kernel, stride, padding, dilation)
        assert tuple(conv(x).shape) == (1, expected, expected, 1), (size, kernel, padding)
        pool = keras.layers.MaxPooling2D(kernel, strides=stride, padding="same")
        pooled = pool(np.zeros((1, size, size, 1), "float32"))
        assert pooled.shape[1] == conv_output_size(size, kernel, stride, "same")


@backend_independent
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((3, 5), {}, "`kernel`=5 .* `size`=3"),
        ((3, 3), {"dilation": 2}, "`kernel`=3 at `dilation`=2 spans 5"),
        ((0, 3), {}, "`size` must be an integer >= 1"),
        ((8, 0), {}, "`kernel` must be an integer >= 1"),
        ((8, 3), {"stride": 0}, "`stride` must be an integer >= 1"),
        ((8, 3), {"dilation": 0}, "`dilation` must be an integer >= 1"),
        ((8, 3), {"padding": "full"}, "`padding` must be 'valid', 'same' or an integer"),
        ((8, 3), {"padding": -1}, "`padding` must be"),
        ((8, 3), {"padding": True}, "`padding` must be"),
        ((8.0, 3), {}, "`size` must be an integer"),
    ],
)
def test_conv_output_size_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_output_size(*args, **kwargs)


# ---------------------------------------------------------------- summary and rules


@backend_independent
def test_summary_of_mobilenet_v1_prints_the_papers_totals():
    """Table 1's 4.2 M parameters and 569 M mult-adds; the field grows to 315 pixels."""
    table = kcv.analysis.summary(kcv.models.MobileNetV1(input_shape=(224, 224, 3)))
    assert (table.params, table.macs) == (4_231_976, _mobilenet_macs())
    assert sum(row.macs for row in table.rows) == table.macs
    assert sum(row.params for row in table.rows) == table.params
    rows = {row.name: row for row in table.rows}
    assert rows["conv1"].output_shape == (112, 112, 32)
    assert rows["conv1"].receptive_field == ReceptiveField(3, 2, 0)
    # Araujo et al., Distill 2019, Table 1: MobileNet v1's field is 315 pixels.
    assert rows["block_13"].receptive_field.size == 315
    assert rows["block_13"].receptive_field.stride == 32
    assert rows["avg_pool"].receptive_field is None and rows["predictions"].macs == 1_024_000
    text = str(table)
    assert "4,231,976 trainable parameters, 568,740,352 MACs" in text
    assert "block_13" in text and "315 (stride 32)" in text
    assert table.to_markdown().startswith("| layer | type | output shape |")


@backend_independent
def test_summary_stops_the_field_at_the_first_branch():
    inputs = keras.Input((16, 16, 8))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(inputs)
    y = kcv.layers.InceptionModule(4, 4, 4, 4, 4, 4, name="inception")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", name="after")(y)
    table = kcv.analysis.summary(keras.Model(inputs, y))
    fields = [row.receptive_field for row in table.rows]
    assert fields[0] == ReceptiveField(3, 2, 0) and fields[1:] == [None, None]
    assert table.macs == count_macs(keras.Model(inputs, y))


@backend_independent
def test_summary_errors():
    with pytest.raises(ValueError, match="functional or Sequential keras.Model"):
        kcv.analysis.summary(keras.layers.Conv2D(1, 3))
    inputs = keras.Input((None, None, 3))
    with pytest.raises(ValueError, match="unknown sizes: build it with a fixed `input_shape`"):
        kcv.analysis.summary(keras.Model(inputs, keras.layers.Conv2D(1, 3)(inputs)))


@backend_independent
def test_mobilenet_blocks_have_the_field_of_their_depthwise_convolution():
    block = kcv.layers.InvertedResidual(16, strides=2, dilation_rate=1)
    assert receptive_field([block]) == receptive_field(
        [keras.layers.DepthwiseConv2D(3, 2, padding="same")]
    )
    assert receptive_field([kcv.layers.DepthwiseSeparableConv(8, dilation_rate=2)]).size == 5
    with pytest.raises(ValueError, match="no rule for layer .* \\(InvertedResidual\\)"):
        receptive_field([kcv.layers.InvertedResidual(16, se_reduction=4)])


@backend_independent
def test_count_macs_refuses_a_layer_with_weights_but_no_rule():
    class Bilinear(keras.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 4))

        def call(self, x):
            return keras.ops.matmul(x, self.kernel)

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(
        inputs, Bilinear(name="bilinear")(keras.layers.BatchNormalization()(inputs))
    )
    with pytest.raises(ValueError, match="no rule for layer 'bilinear' \\(Bilinear\\)"):
        count_macs(model)
