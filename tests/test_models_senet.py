"""SE-ResNets: ResNet-50 / SE-ResNet-50 counts, SE placement, dilation (output_stride), CIFAR.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
weight shapes without initialised values, cheap and backend-independent. Each
residual block is one layer (``conv{stage}_block{n}``, a :class:`kcv.layers.Bottleneck`
or :class:`kcv.layers.BasicBlock`); the order of the operations inside a block
(SE on the residual branch after its last BN, before the addition) is checked
against a NumPy reference in tests/test_residual.py.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models import common
from kcv.models import resnet
from kcv.models import senet

BLOCKS = (kcv.layers.BasicBlock, kcv.layers.Bottleneck)


def _blocks(model):
    return [layer for layer in model.layers if isinstance(layer, BLOCKS)]


def _se_layers(model):
    """Every SqueezeExcite of a model: top-level layers and the blocks' extensions."""
    nested = [
        extension
        for block in _blocks(model)
        for extension in (block.attention, block.inner_attention)
        if extension is not None
    ]
    return [layer for layer in model.layers + nested if isinstance(layer, kcv.layers.SqueezeExcite)]


def _convs(model):
    """Every convolution of a model: top-level layers and those inside the blocks."""
    nested = [
        layer
        for block in _blocks(model)
        for unit in block.units + [block.shortcut or []]
        for layer in unit
    ]
    return [layer for layer in model.layers + nested if isinstance(layer, kcv.layers.Conv2D)]


def _bottleneck_params(cin, width, projection):
    """1x1 + 3x3 + 1x1 (4x), each followed by BN (2 per channel), [+ 1x1 projection + BN]."""
    params = (
        (cin * width + 2 * width)
        + (9 * width * width + 2 * width)
        + (width * 4 * width + 8 * width)
    )
    return params + (cin * 4 * width + 8 * width if projection else 0)


# ResNet-50 (He et al., Table 1), per stage: first block (with projection) + the others.
RESNET50_STAGES = {
    "conv2": _bottleneck_params(64, 64, True)
    + 2 * _bottleneck_params(256, 64, False),  # 75,008 + 2·70,400
    "conv3": _bottleneck_params(256, 128, True)
    + 3 * _bottleneck_params(512, 128, False),  # 379,392 + 3·280,064
    "conv4": _bottleneck_params(512, 256, True)
    + 5 * _bottleneck_params(1024, 256, False),  # 1,512,448 + 5·1,117,184
    "conv5": _bottleneck_params(1024, 512, True)
    + 2 * _bottleneck_params(2048, 512, False),  # 6,039,552 + 2·4,462,592
}
RESNET50_STEM = 7 * 7 * 3 * 64 + 2 * 64  # 9,536
FC = 2048 * 1000 + 1000


def _se_params(channels, reduction=16):
    """SE on C channels: C -> C/r -> C, both with bias (SENet, Sec. 3)."""
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden + hidden + channels


@pytest.mark.backend_independent
def test_resnet50_parameter_count():
    assert RESNET50_STAGES == {
        "conv2": 215_808,
        "conv3": 1_219_584,
        "conv4": 7_098_368,
        "conv5": 14_964_736,
    }
    expected = RESNET50_STEM + sum(RESNET50_STAGES.values()) + FC
    assert expected == 25_557_032  # torchvision resnet50
    model = testing.stateless(kcv.models.SEResNet50, reduction=None)
    assert testing.trainable_parameters(model) == expected
    assert not _se_layers(model)
    assert all(
        block.attention is None and block.inner_attention is None for block in _blocks(model)
    )


@pytest.mark.backend_independent
def test_se_resnet50_parameter_count():
    se = 3 * _se_params(256) + 4 * _se_params(512) + 6 * _se_params(1024) + 3 * _se_params(2048)
    assert se == 3 * 8_464 + 4 * 33_312 + 6 * 132_160 + 3 * 526_464 == 2_530_992
    model = testing.stateless(kcv.models.SEResNet50)
    assert (
        testing.trainable_parameters(model) == 25_557_032 + se == 28_088_024
    )  # timm / Cadene se_resnet50
    assert len(_se_layers(model)) == 16
    assert all(isinstance(block.attention, kcv.layers.SqueezeExcite) for block in _blocks(model))


@pytest.mark.backend_independent
def test_keras_applications_resnet50_differs_by_its_conv_biases():
    """keras.applications keeps a bias on every convolution before BN (DESIGN.md, known traps)."""
    biases = 64 + sum(
        n * (w + w + 4 * w) + 4 * w  # 3 convs per block + the projection of the first block
        for n, w in ((3, 64), (4, 128), (6, 256), (3, 512))
    )
    assert biases == 26_560
    reference = testing.stateless(keras.applications.ResNet50, weights=None)
    assert testing.trainable_parameters(reference) == 25_557_032 + biases


@pytest.mark.backend_independent
def test_block_layout():
    """Stride on the 3x3, no conv bias, SE on the residual branch (the block's attention)."""
    model = testing.stateless(kcv.models.SEResNet50, input_shape=(64, 64, 3))
    blocks = _blocks(model)
    assert [block.name for block in blocks] == [
        f"conv{s}_block{b}" for s, n in ((2, 3), (3, 4), (4, 6), (5, 3)) for b in range(1, n + 1)
    ]
    assert all(isinstance(block, kcv.layers.Bottleneck) for block in blocks)
    conv3_1 = model.get_layer("conv3_block1")
    assert conv3_1.conv1[0].strides == (1, 1)
    assert conv3_1.conv2[0].strides == (2, 2)
    assert conv3_1.shortcut[0].strides == (2, 2)
    assert not any(conv.use_bias for conv in _convs(model))
    assert len(_convs(model)) == 1 + 3 * 16 + 4  # stem, three per block, four projections
    block = model.get_layer("conv4_block3")
    assert isinstance(block.attention, kcv.layers.SqueezeExcite)
    assert block.attention.reduction == 16 and block.inner_attention is None
    assert block.shortcut is None  # identity shortcut
    assert block.input is model.get_layer("conv4_block2").output
    sizes = {
        "conv1": 32,
        "pool1": 16,
        "conv2_block3": 16,
        "conv3_block4": 8,
        "conv4_block6": 4,
        "conv5_block3": 2,
    }
    for name, side in sizes.items():
        assert model.get_layer(name).output.shape[1] == side, name
    assert model.get_layer("conv5_block3").output.shape[-1] == 2048


@pytest.mark.backend_independent
def test_atrous_schedule():
    strides = [2, 1, 2, 1, 2, 1]  # three stages of two units, from a stride-4 stem
    assert common.atrous_schedule(strides, None, 4) == [
        (2, 1),
        (1, 1),
        (2, 1),
        (1, 1),
        (2, 1),
        (1, 1),
    ]
    assert common.atrous_schedule(strides, 32, 4) == common.atrous_schedule(strides, None, 4)
    assert common.atrous_schedule(strides, 16, 4) == [
        (2, 1),
        (1, 1),
        (2, 1),
        (1, 1),
        (1, 1),
        (1, 2),
    ]
    assert common.atrous_schedule(strides, 8, 4) == [(2, 1), (1, 1), (1, 1), (1, 2), (1, 2), (1, 4)]


def _backbone(output_stride, side=64):
    inputs = keras.Input((side, side, 3))
    with keras.StatelessScope(initialize_variables=False):
        features = resnet.resnet_backbone(
            inputs,
            "channels_last",
            output_stride=output_stride,
            attention=senet.squeeze_excite(16, "channels_last"),
        )
    return keras.Model(inputs, features)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "output_stride, sides",
    [(None, (16, 8, 4, 2)), (32, (16, 8, 4, 2)), (16, (16, 8, 4, 4)), (8, (16, 8, 8, 8))],
)
def test_resnet_backbone_output_stride(output_stride, sides):
    model = _backbone(output_stride)
    assert [shape[1] for shape in model.output_shape] == list(sides)
    assert [shape[-1] for shape in model.output_shape] == [256, 512, 1024, 2048]
    assert (
        testing.trainable_parameters(model) == 25_557_032 - FC + 2_530_992
    )  # dilation adds no weights


@pytest.mark.backend_independent
def test_output_stride_dilates_after_the_dropped_stride():
    """As torchvision's replace_stride_with_dilation: the first block keeps the previous rate."""

    def conv2(model, name):
        layer = model.get_layer(name).conv2[0]
        return layer.strides[0], layer.dilation_rate[0]

    os16 = _backbone(16)
    assert conv2(os16, "conv4_block1") == (2, 1)
    assert conv2(os16, "conv5_block1") == (1, 1)
    assert conv2(os16, "conv5_block2") == conv2(os16, "conv5_block3") == (1, 2)
    assert os16.get_layer("conv5_block1").shortcut[0].strides == (1, 1)
    os8 = _backbone(8)
    assert conv2(os8, "conv3_block1") == (2, 1)
    assert conv2(os8, "conv4_block1") == (1, 1)
    assert conv2(os8, "conv4_block6") == conv2(os8, "conv5_block1") == (1, 2)
    assert conv2(os8, "conv5_block3") == (1, 4)


class _Probe(keras.layers.Layer):
    """Identity that records the shape it is built for."""

    def build(self, input_shape):
        self.built_shape = tuple(input_shape)

    def call(self, inputs):
        return inputs


@pytest.mark.backend_independent
def test_extension_factories_reach_every_block():
    """The factories are asked once per block; what they return sits in that block,
    inner_attention on the 3x3 output (width channels), attention on the residual
    branch (4x width), before the addition."""
    calls = {"attention": [], "inner_attention": []}

    def factory(point):
        def make(stage, block):
            calls[point].append((stage, block))
            return _Probe(name=f"{point}_probe")

        return make

    inputs = keras.Input((64, 64, 3))
    with keras.StatelessScope(initialize_variables=False):
        model = keras.Model(
            inputs,
            resnet.resnet_backbone(
                inputs,
                "channels_last",
                attention=factory("attention"),
                inner_attention=factory("inner_attention"),
            ),
        )
    expected = [(s, b) for s, n in enumerate((3, 4, 6, 3)) for b in range(n)]
    assert calls["attention"] == calls["inner_attention"] == expected
    block = model.get_layer("conv4_block2")
    assert block.inner_attention.built_shape == (None, 4, 4, 256)  # after the 3x3, width 256
    assert block.attention.built_shape == (None, 4, 4, 1024)  # the residual branch
    assert all(isinstance(b.attention, _Probe) for b in _blocks(model))
    assert testing.trainable_parameters(model) == 25_557_032 - FC  # the probes add nothing
    # A factory that returns None leaves the blocks as they are.
    with keras.StatelessScope(initialize_variables=False):
        plain = keras.Model(
            inputs,
            resnet.resnet_backbone(inputs, "channels_last", attention=lambda stage, block: None),
        )
    assert all(b.attention is None for b in _blocks(plain))
    assert testing.trainable_parameters(plain) == 25_557_032 - FC


@pytest.mark.backend_independent
def test_backbone_widths():
    """A narrower ResNet-50 layout (stem of widths[0] channels), as the segmentation chapters use."""
    inputs = keras.Input((32, 32, 3))
    with keras.StatelessScope(initialize_variables=False):
        features = resnet.resnet_backbone(
            inputs, "channels_last", depths=(1, 1, 1, 1), widths=(8, 16, 32, 64)
        )
    stem = 7 * 7 * 3 * 8 + 2 * 8
    stages = sum(
        _bottleneck_params(cin, w, True) for cin, w in ((8, 8), (32, 16), (64, 32), (128, 64))
    )
    assert testing.trainable_parameters(keras.Model(inputs, features)) == stem + stages
    assert [f.shape[-1] for f in features] == [32, 64, 128, 256]


def test_dilated_stages_run():
    """A stride dropped for output_stride (stride 2 -> dilation 2) still computes finite maps."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    features = resnet.resnet_stages(
        inputs, "basic", (2,), (4,), (2,), "channels_last", output_stride=1
    )
    model = keras.Model(inputs, features[-1])
    assert model.get_layer("conv2_block1").conv1[0].strides == (1, 1)
    assert model.get_layer("conv2_block2").conv1[0].dilation_rate == (2, 2)
    assert model.get_layer("conv2_block2").conv2[0].dilation_rate == (2, 2)
    y = model.predict(np.ones((2, 12, 12, 3), "float32"), verbose=0)
    assert y.shape == (2, 12, 12, 4) and np.all(np.isfinite(y))


@pytest.mark.backend_independent
@pytest.mark.parametrize("depth, plain", [(20, 272_474), (56, None)])
def test_cifar_parameter_counts(depth, plain):
    """ResNet-20 with projection shortcuts (see kcv/catalogue.py for the arithmetic);
    SE adds 2·C·(C//16) + C//16 + C per block, n blocks per width."""
    n = (depth - 2) // 6
    se = n * (_se_params(16) + _se_params(32) + _se_params(64))
    without = testing.trainable_parameters(
        testing.stateless(kcv.models.SEResNetCIFAR, depth=depth, reduction=None)
    )
    if plain is not None:
        assert without == plain
    model = testing.stateless(kcv.models.SEResNetCIFAR, depth=depth)
    assert testing.trainable_parameters(model) == without + se
    assert len(_se_layers(model)) == 3 * n
    assert all(isinstance(block, kcv.layers.BasicBlock) for block in _blocks(model))
    convs = [layer for layer in _convs(model) if layer.kernel_size == (3, 3)]
    assert len(convs) + 1 == depth  # 3x3 convolutions + the dense layer
    assert model.output_shape == (None, 10)
    for name, side in (
        ("conv2_block1", 32),
        ("conv3_block1", 16),
        (f"conv4_block{n}", 8),
    ):
        assert model.get_layer(name).output.shape[1] == side, name


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "builder, kwargs, argument",
    [
        (kcv.models.SEResNet50, {"weights": "imagenet"}, "weights"),
        (kcv.models.SEResNet50, {"reduction": 0}, "reduction"),
        (kcv.models.SEResNet50, {"input_shape": (16, 16, 3)}, "input_shape"),
        (kcv.models.SEResNet50, {"input_shape": (3, 224)}, "input_shape"),
        (kcv.models.SEResNet50, {"include_top": False, "pooling": "mean"}, "pooling"),
        (kcv.models.SEResNet50, {"classes": 2.5}, "classes"),
        (kcv.models.SEResNetCIFAR, {"weights": "cifar10"}, "weights"),
        (kcv.models.SEResNetCIFAR, {"depth": 21}, "depth"),
        (kcv.models.SEResNetCIFAR, {"depth": 2}, "depth"),
        (kcv.models.SEResNetCIFAR, {"depth": True}, "depth"),
        (kcv.models.SEResNetCIFAR, {"reduction": -4}, "reduction"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(builder, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}"):
        testing.stateless(builder, **kwargs)


@pytest.mark.backend_independent
def test_bad_output_stride():
    with pytest.raises(ValueError, match="`output_stride`"):
        _backbone(4)


def test_channels_first_gives_the_same_outputs():
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.utils.set_random_seed(0)
    last = kcv.models.SEResNetCIFAR(depth=8, input_shape=(16, 16, 3), reduction=4)
    testing.randomize_weights(last, seed=0)
    keras.config.set_image_data_format("channels_first")
    first = kcv.models.SEResNetCIFAR(depth=8, input_shape=(3, 16, 16), reduction=4)
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype("float32")
    expected = last.predict(x, verbose=0)
    got = first.predict(np.transpose(x, (0, 3, 1, 2)), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
