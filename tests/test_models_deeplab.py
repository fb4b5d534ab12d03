"""DeepLabv3 / v3+: counts against torchvision (the paper's head and torchvision's), output stride
and rates, decoder, errors, layouts.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
weight shapes without initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing

# torchvision's documented parameter counts (models/segmentation, COCO_WITH_VOC_LABELS
# weights: 21 classes, auxiliary FCN head included).
TORCHVISION_DEEPLABV3_RESNET50 = 42_004_074
TORCHVISION_DEEPLABV3_RESNET101 = 60_996_202
# FCNHead(1024, 21): 3x3 conv 1024 -> 256 + BN, 1x1 256 -> 21 with bias.
TORCHVISION_AUX_HEAD = 9 * 1024 * 256 + 2 * 256 + 256 * 21 + 21
# DeepLabHead's 3x3 conv 256 -> 256 + BN between ASPP and the logits (not in the paper).
TORCHVISION_EXTRA_CONV = 9 * 256 * 256 + 2 * 256


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "backbone, torchvision",
    [("resnet50", TORCHVISION_DEEPLABV3_RESNET50), ("resnet101", TORCHVISION_DEEPLABV3_RESNET101)],
)
def test_resnet_deeplabv3_counts_against_torchvision(backbone, torchvision):
    model = testing.stateless(
        kcv.models.DeepLabV3, (64, 64, 3), 21, backbone=backbone, output_stride=8
    )
    aspp = model.get_layer("aspp")
    assert aspp.rates == (12, 24, 36)  # torchvision's rates: (6, 12, 18) doubled at stride 8
    assert testing.trainable_parameters(aspp) == 15_535_104  # torchvision ASPP(2048, [12, 24, 36])
    assert (
        testing.trainable_parameters(model)
        == torchvision - TORCHVISION_AUX_HEAD - TORCHVISION_EXTRA_CONV
    )
    assert (
        testing.trainable_parameters(model)
        == {"resnet50": 39_048_533, "resnet101": 58_040_661}[backbone]
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "backbone, torchvision",
    [("resnet50", TORCHVISION_DEEPLABV3_RESNET50), ("resnet101", TORCHVISION_DEEPLABV3_RESNET101)],
)
def test_torchvision_convention_builds_deeplabhead(backbone, torchvision):
    """convention="torchvision": DeepLabHead's 3x3 conv + BN + ReLU between ASPP and the
    logits, ASPP dropout 0.5, BN epsilon 1e-5 and PyTorch's padding everywhere; the count is
    torchvision's less its auxiliary classifier only."""
    model = testing.stateless(
        kcv.models.DeepLabV3,
        (64, 64, 3),
        21,
        backbone=backbone,
        output_stride=8,
        convention="torchvision",
    )
    assert testing.trainable_parameters(model) == torchvision - TORCHVISION_AUX_HEAD
    assert (
        testing.trainable_parameters(model)
        == {
            "resnet50": 39_638_869,
            "resnet101": 58_630_997,
        }[backbone]
    )
    names = [layer.name for layer in model.layers]
    head = ["aspp", "head_conv", "head_conv_bn", "head_conv_act", "logits", "segmentation"]
    assert names[names.index("aspp") :] == head
    assert model.get_layer("head_conv").kernel_size == (3, 3)
    assert not model.get_layer("head_conv").use_bias and model.get_layer("logits").use_bias
    aspp = model.get_layer("aspp")
    assert (aspp.rates, aspp.dropout, aspp.bn_epsilon) == ((12, 24, 36), 0.5, 1e-5)
    norms = [
        layer
        for layer in kcv.training.sublayers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert {norm.epsilon for norm in norms} == {1e-5}
    assert model.get_layer("conv1_pad").padding == ((3, 3), (3, 3))  # nn.Conv2d(3, 64, 7, 2, 3)
    paper = testing.stateless(
        kcv.models.DeepLabV3, (64, 64, 3), 21, backbone=backbone, output_stride=8
    )
    assert "head_conv" not in [layer.name for layer in paper.layers]
    assert (paper.get_layer("aspp").dropout, paper.get_layer("aspp").bn_epsilon) == (0.1, 1e-3)


@pytest.mark.backend_independent
@pytest.mark.parametrize("builder", [kcv.models.DeepLabV3, kcv.models.DeepLabV3Plus])
@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet_tiny"])
def test_output_stride_sets_the_feature_size_and_doubles_the_rates(builder, backbone):
    for output_stride, rates in ((16, (6, 12, 18)), (8, (12, 24, 36))):
        model = testing.stateless(
            builder, (64, 64, 3), 5, backbone=backbone, output_stride=output_stride, filters=8
        )
        aspp = model.get_layer("aspp")
        assert aspp.rates == rates
        assert tuple(aspp.input.shape[1:3]) == (64 // output_stride,) * 2
        assert model.output_shape == (None, 64, 64, 5)
    # Dilation replaces stride: the same weights at both output strides.
    counts = {
        os: testing.trainable_parameters(
            testing.stateless(builder, (64, 64, 3), 5, backbone=backbone, output_stride=os)
        )
        for os in (8, 16)
    }
    assert counts[8] == counts[16]


@pytest.mark.backend_independent
def test_v3plus_decoder_joins_stride_4_features():
    model = testing.stateless(
        kcv.models.DeepLabV3Plus, (64, 64, 3), 5, backbone="resnet50", filters=256, output_stride=16
    )
    assert model.get_layer("aspp_upsample").output.shape == (None, 16, 16, 256)
    assert model.get_layer("decoder_low_level").input.shape == (None, 16, 16, 256)  # conv2 stage
    assert model.get_layer("decoder_concat").output.shape == (None, 16, 16, 256 + 48)
    v3 = testing.stateless(kcv.models.DeepLabV3, (64, 64, 3), 5, backbone="resnet50")
    # The decoder: 1x1 256 -> 48 + BN, two 3x3 convs 304 -> 256 and 256 -> 256 + BN.
    decoder = (256 * 48 + 96) + (9 * 304 * 256 + 512) + (9 * 256 * 256 + 512)
    assert testing.trainable_parameters(model) - testing.trainable_parameters(v3) == decoder
    # MobileNetV2 low-level features: block_2 (24 channels at alpha 1, stride 4).
    mobile = testing.stateless(kcv.models.DeepLabV3Plus, (64, 64, 3), 5)
    assert mobile.get_layer("decoder_low_level").input.shape == (None, 16, 16, 24)
    assert mobile.get_layer("aspp").input.shape == (None, 4, 4, 320)  # block_16, no 1x1 to 1280


@pytest.mark.backend_independent
def test_separable_decoder_counts():
    kwargs = {"backbone": "resnet50", "output_stride": 16}
    regular = testing.stateless(kcv.models.DeepLabV3Plus, (64, 64, 3), 5, **kwargs)
    separable = testing.stateless(
        kcv.models.DeepLabV3Plus, (64, 64, 3), 5, separable=True, **kwargs
    )
    assert separable.get_layer("aspp").separable and not regular.get_layer("aspp").separable

    def saving(cin, cout=256):  # 3x3 conv + BN -> depthwise 3x3 + BN + pointwise 1x1 + BN
        return 9 * cin * cout - (9 * cin + 2 * cin + cin * cout)

    # Three ASPP rate branches on 2048 channels, decoder convs on 304 and 256 channels.
    assert testing.trainable_parameters(regular) - testing.trainable_parameters(
        separable
    ) == 3 * saving(2048) + saving(304) + saving(256)


@pytest.mark.backend_independent
def test_mobilenet_v2_backbone_follows_alpha():
    model = testing.stateless(kcv.models.DeepLabV3, (32, 32, 3), 3, alpha=0.35, filters=16)
    features = testing.stateless(
        kcv.models.MobileNetV2, alpha=0.35, include_top=False, input_shape=(32, 32, 3)
    )
    # The classification features minus their last 1x1 conv 112 -> 1280 + BN.
    backbone = testing.trainable_parameters(features) - (112 * 1280 + 2 * 1280)
    aspp = (112 * 16 + 32) * 2 + 3 * (9 * 112 * 16 + 32) + (5 * 16 * 16 + 32)
    assert testing.trainable_parameters(model) == backbone + aspp + 16 * 3 + 3


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "builder, kwargs, argument",
    [
        (kcv.models.DeepLabV3, {"backbone": "xception"}, "backbone"),
        (kcv.models.DeepLabV3Plus, {"backbone": "resnet18"}, "backbone"),
        (kcv.models.DeepLabV3, {"output_stride": 4}, "output_stride"),
        (kcv.models.DeepLabV3Plus, {"output_stride": 32}, "output_stride"),
        (kcv.models.DeepLabV3, {"input_shape": (30, 30, 3)}, "input_shape"),
        (kcv.models.DeepLabV3Plus, {"input_shape": (64, 40, 3)}, "input_shape"),
        (kcv.models.DeepLabV3, {"input_shape": (36, 36, 3), "output_stride": 8}, "input_shape"),
        (kcv.models.DeepLabV3, {"weights": "voc"}, "weights"),
        (kcv.models.DeepLabV3Plus, {"weights": "cityscapes"}, "weights"),
        (kcv.models.DeepLabV3, {"backbone": "resnet50", "alpha": 0.5}, "alpha"),
        (kcv.models.DeepLabV3, {"alpha": 0}, "alpha"),
        (kcv.models.DeepLabV3, {"rates": ()}, "rates"),
        (kcv.models.DeepLabV3, {"rates": (6, 12.5)}, "rates"),
        (kcv.models.DeepLabV3, {"classes": 0}, "classes"),
        (kcv.models.DeepLabV3, {"filters": 0}, "filters"),
        (kcv.models.DeepLabV3Plus, {"low_level_filters": -1}, "low_level_filters"),
        (kcv.models.DeepLabV3, {"classifier_activation": "no_such"}, "classifier_activation"),
        (kcv.models.DeepLabV3, {"convention": "pytorch"}, "convention"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(builder, kwargs, argument):
    arguments = {"input_shape": (64, 64, 3), "classes": 5, **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        testing.stateless(builder, **arguments)


def test_logits_softmax_and_any_size():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    model = kcv.models.DeepLabV3((None, None, 3), 4, backbone="resnet_tiny", filters=8)
    assert model.output_names == ["segmentation"]
    assert tuple(model(x).shape) == (2, 32, 32, 4)
    assert tuple(model(np.concatenate([x, x], axis=1)).shape) == (2, 64, 32, 4)
    probs = kcv.models.DeepLabV3Plus(
        (32, 32, 3), 4, backbone="resnet_tiny", filters=8, classifier_activation="softmax"
    )(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(probs).sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "builder, kwargs",
    [
        (
            kcv.models.DeepLabV3,
            {"backbone": "resnet_tiny", "filters": 8, "classifier_activation": "softmax"},
        ),
        (
            kcv.models.DeepLabV3Plus,
            {"backbone": "resnet_tiny", "output_stride": 8, "filters": 8, "separable": True},
        ),
    ],
)
def test_channels_first_gives_the_same_outputs(builder, kwargs):
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.utils.set_random_seed(0)
    last = builder((32, 32, 3), 3, **kwargs)
    testing.randomize_weights(last, seed=0)
    keras.config.set_image_data_format("channels_first")
    first = builder((3, 32, 32), 3, **kwargs)
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(last(x, training=False))
    got = keras.ops.convert_to_numpy(first(np.transpose(x, (0, 3, 1, 2)), training=False))
    atol = 1e-4 * (1 + np.abs(expected).max())
    np.testing.assert_allclose(np.transpose(got, (0, 2, 3, 1)), expected, atol=atol)
