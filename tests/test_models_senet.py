"""SE-ResNets: ResNet-50 / SE-ResNet-50 counts, SE placement, dilation (output_stride), CIFAR.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
weight shapes without initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models import _utils
from kcv.models import senet


def _stateless(builder, **kwargs):
    with keras.StatelessScope(initialize_variables=False):
        return builder(**kwargs)


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


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
    model = _stateless(kcv.models.SEResNet50, reduction=None)
    assert _trainable(model) == expected
    assert not any(isinstance(layer, kcv.layers.SqueezeExcite) for layer in model.layers)


@pytest.mark.backend_independent
def test_se_resnet50_parameter_count():
    se = 3 * _se_params(256) + 4 * _se_params(512) + 6 * _se_params(1024) + 3 * _se_params(2048)
    assert se == 3 * 8_464 + 4 * 33_312 + 6 * 132_160 + 3 * 526_464 == 2_530_992
    model = _stateless(kcv.models.SEResNet50)
    assert _trainable(model) == 25_557_032 + se == 28_088_024  # timm / Cadene se_resnet50
    assert sum(isinstance(layer, kcv.layers.SqueezeExcite) for layer in model.layers) == 16


@pytest.mark.backend_independent
def test_keras_applications_resnet50_differs_by_its_conv_biases():
    """keras.applications keeps a bias on every convolution before BN (DESIGN.md, known traps)."""
    biases = 64 + sum(
        n * (w + w + 4 * w) + 4 * w  # 3 convs per block + the projection of the first block
        for n, w in ((3, 64), (4, 128), (6, 256), (3, 512))
    )
    assert biases == 26_560
    reference = _stateless(keras.applications.ResNet50, weights=None)
    assert _trainable(reference) == 25_557_032 + biases


@pytest.mark.backend_independent
def test_block_layout():
    """Stride on the 3x3, no conv bias, SE on the residual branch before the addition."""
    model = _stateless(kcv.models.SEResNet50, input_shape=(64, 64, 3))
    assert model.get_layer("conv3_block1_conv1").strides == (1, 1)
    assert model.get_layer("conv3_block1_conv2").strides == (2, 2)
    assert model.get_layer("conv3_block1_shortcut").strides == (2, 2)
    assert not any(layer.use_bias for layer in model.layers if isinstance(layer, kcv.layers.Conv2D))
    se, add = model.get_layer("conv4_block3_se"), model.get_layer("conv4_block3_add")
    assert se.input is model.get_layer("conv4_block3_conv3_bn").output
    assert add.input[1] is se.output
    assert add.input[0] is model.get_layer("conv4_block2_out").output  # identity shortcut
    sizes = {
        "conv1": 32,
        "pool1": 16,
        "conv2_block3_out": 16,
        "conv3_block4_out": 8,
        "conv4_block6_out": 4,
        "conv5_block3_out": 2,
    }
    for name, side in sizes.items():
        assert model.get_layer(name).output.shape[1] == side, name
    assert model.get_layer("conv5_block3_out").output.shape[-1] == 2048


@pytest.mark.backend_independent
def test_atrous_schedule():
    strides = [2, 1, 2, 1, 2, 1]  # three stages of two units, from a stride-4 stem
    assert _utils.atrous_schedule(strides, None, 4) == [
        (2, 1),
        (1, 1),
        (2, 1),
        (1, 1),
        (2, 1),
        (1, 1),
    ]
    assert _utils.atrous_schedule(strides, 32, 4) == _utils.atrous_schedule(strides, None, 4)
    assert _utils.atrous_schedule(strides, 16, 4) == [
        (2, 1),
        (1, 1),
        (2, 1),
        (1, 1),
        (1, 1),
        (1, 2),
    ]
    assert _utils.atrous_schedule(strides, 8, 4) == [(2, 1), (1, 1), (1, 1), (1, 2), (1, 2), (1, 4)]


def _backbone(output_stride, side=64):
    inputs = keras.Input((side, side, 3))
    with keras.StatelessScope(initialize_variables=False):
        features = senet.resnet_backbone(inputs, "channels_last", output_stride=output_stride)
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
    assert _trainable(model) == 25_557_032 - FC + 2_530_992  # dilation adds no weights


@pytest.mark.backend_independent
def test_output_stride_dilates_after_the_dropped_stride():
    """As torchvision's replace_stride_with_dilation: the first block keeps the previous rate."""

    def conv2(model, name):
        layer = model.get_layer(f"{name}_conv2")
        return layer.strides[0], layer.dilation_rate[0]

    os16 = _backbone(16)
    assert conv2(os16, "conv4_block1") == (2, 1)
    assert conv2(os16, "conv5_block1") == (1, 1)
    assert conv2(os16, "conv5_block2") == conv2(os16, "conv5_block3") == (1, 2)
    assert os16.get_layer("conv5_block1_shortcut").strides == (1, 1)
    os8 = _backbone(8)
    assert conv2(os8, "conv3_block1") == (2, 1)
    assert conv2(os8, "conv4_block1") == (1, 1)
    assert conv2(os8, "conv4_block6") == conv2(os8, "conv5_block1") == (1, 2)
    assert conv2(os8, "conv5_block3") == (1, 4)


@pytest.mark.backend_independent
def test_block_hook_inserts_modules_inside_every_block():
    """The hook sees every block at its two points; what it returns continues the block."""
    calls = []

    def hook(x, point, stage, block, name):
        calls.append((point, stage, block, name))
        return keras.layers.Identity(name=f"{name}_{point}_hook")(x)

    inputs = keras.Input((64, 64, 3))
    with keras.StatelessScope(initialize_variables=False):
        model = keras.Model(inputs, senet.resnet_backbone(inputs, "channels_last", block_hook=hook))
    assert len(calls) == 2 * 16
    assert calls[:2] == [("inner", 0, 0, "conv2_block1"), ("residual", 0, 0, "conv2_block1")]
    assert calls[-1] == ("residual", 3, 2, "conv5_block3")
    inner, residual = (
        model.get_layer("conv4_block2_inner_hook"),
        model.get_layer("conv4_block2_residual_hook"),
    )
    assert inner.input is model.get_layer("conv4_block2_conv2_act").output
    assert model.get_layer("conv4_block2_conv3").input is inner.output
    assert residual.input is model.get_layer("conv4_block2_se").output  # after SE
    assert model.get_layer("conv4_block2_add").input[1] is residual.output
    assert _trainable(model) == 25_557_032 - FC + 2_530_992  # Identity adds nothing


@pytest.mark.backend_independent
def test_backbone_widths():
    """A narrower ResNet-50 layout (stem of widths[0] channels), as the segmentation chapters use."""
    inputs = keras.Input((32, 32, 3))
    with keras.StatelessScope(initialize_variables=False):
        features = senet.resnet_backbone(
            inputs, "channels_last", depths=(1, 1, 1, 1), reduction=None, widths=(8, 16, 32, 64)
        )
    stem = 7 * 7 * 3 * 8 + 2 * 8
    stages = sum(
        _bottleneck_params(cin, w, True) for cin, w in ((8, 8), (32, 16), (64, 32), (128, 64))
    )
    assert _trainable(keras.Model(inputs, features)) == stem + stages
    assert [f.shape[-1] for f in features] == [32, 64, 128, 256]


def test_dilated_stages_run():
    """A stride dropped for output_stride (stride 2 -> dilation 2) still computes finite maps."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    features = senet.resnet_stages(
        inputs, "basic", (2,), (4,), (2,), "channels_last", output_stride=1
    )
    model = keras.Model(inputs, features[-1])
    assert model.get_layer("conv2_block1_conv1").strides == (1, 1)
    assert model.get_layer("conv2_block2_conv1").dilation_rate == (2, 2)
    y = model.predict(np.ones((2, 12, 12, 3), "float32"), verbose=0)
    assert y.shape == (2, 12, 12, 4) and np.all(np.isfinite(y))


@pytest.mark.backend_independent
@pytest.mark.parametrize("depth, plain", [(20, 272_474), (56, None)])
def test_cifar_parameter_counts(depth, plain):
    """ResNet-20 with projection shortcuts (see kcv/catalogue.py for the arithmetic);
    SE adds 2·C·(C//16) + C//16 + C per block, n blocks per width."""
    n = (depth - 2) // 6
    se = n * (_se_params(16) + _se_params(32) + _se_params(64))
    without = _trainable(_stateless(kcv.models.SEResNetCIFAR, depth=depth, reduction=None))
    if plain is not None:
        assert without == plain
    model = _stateless(kcv.models.SEResNetCIFAR, depth=depth)
    assert _trainable(model) == without + se
    assert sum(isinstance(layer, kcv.layers.SqueezeExcite) for layer in model.layers) == 3 * n
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, kcv.layers.Conv2D) and layer.kernel_size == (3, 3)
    ]
    assert len(convs) + 1 == depth  # 3x3 convolutions + the dense layer
    assert model.output_shape == (None, 10)
    for name, side in (
        ("conv2_block1_out", 32),
        ("conv3_block1_out", 16),
        (f"conv4_block{n}_out", 8),
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
        _stateless(builder, **kwargs)


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
