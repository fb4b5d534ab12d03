"""kcv.models.feature_info / feature_extractor: a backbone's feature maps by stride.

The channel counts per stride are checked against timm's ``feature_info`` for
the same architectures (``resnet18``, ``resnet50``, ``mobilenetv2_100``:
reductions 2, 4, 8, 16, 32), an independent listing of where each stage ends.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import testing
from kcv.models import features


@pytest.mark.parametrize(
    "build, channels",
    [
        (
            lambda: kcv.models.ResNet(18, include_top=False, input_shape=(64, 64, 3)),
            [64, 64, 128, 256, 512],
        ),
        (
            lambda: kcv.models.ResNet(50, include_top=False, input_shape=(64, 64, 3)),
            [64, 256, 512, 1024, 2048],
        ),
        # timm lists 320 at stride 32: it stops before MobileNetV2's last 1x1
        # convolution, which kcv (the last layer at that stride) includes.
        (
            lambda: kcv.models.MobileNetV2(include_top=False, input_shape=(96, 96, 3)),
            [16, 24, 32, 96, 1280],
        ),
    ],
)
def test_channels_per_stride_match_timm(build, channels):
    info = features.feature_info(testing.stateless(build))
    assert [f["stride"] for f in info] == [2, 4, 8, 16, 32]
    assert [f["channels"] for f in info] == channels
    keras.utils.clear_session(free_memory=False)


def test_explicit_padding_layers_are_not_feature_maps():
    # torchvision's convention pads before each strided layer (ZeroPadding2D, 34x34 at 64).
    model = testing.stateless(
        lambda: kcv.models.ResNet(
            18, include_top=False, input_shape=(64, 64, 3), convention="torchvision"
        )
    )
    info = features.feature_info(model)
    assert [(f["stride"], f["channels"], f["shape"][0]) for f in info][:2] == [
        (2, 64, 32),
        (4, 64, 16),
    ]
    keras.utils.clear_session(free_memory=False)


def test_stride_ends_where_the_next_downsampling_begins():
    # VGG-16: each stage ends with its max pooling; the last layer at stride 2 is the
    # second stage's last convolution, not the first stage's pooling before it.
    model = testing.stateless(
        lambda: kcv.models.VGG(16, include_top=False, input_shape=(64, 64, 3))
    )
    by_stride = {f["stride"]: f for f in features.feature_info(model)}
    assert by_stride[2]["channels"] == 128 and by_stride[32]["shape"] == (2, 2)
    layer = model.get_layer(by_stride[2]["layer"])
    assert isinstance(layer, keras.layers.Conv2D) or "conv" in layer.name
    keras.utils.clear_session(free_memory=False)


def test_the_extractor_shares_the_backbone_and_computes_its_maps():
    backbone = kcv.models.ResNet(18, include_top=False, input_shape=(32, 32, 3))
    extractor = features.feature_extractor(backbone, strides=(16, 4))
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    maps = [keras.ops.convert_to_numpy(m) for m in extractor(x, training=False)]
    assert [m.shape for m in maps] == [(2, 2, 2, 256), (2, 8, 8, 64)]
    info = {f["stride"]: f["layer"] for f in features.feature_info(backbone)}
    assert extractor.get_layer(info[16]) is backbone.get_layer(info[16])  # same weights
    direct = keras.Model(backbone.inputs, backbone.get_layer(info[4]).output)
    np.testing.assert_allclose(maps[1], keras.ops.convert_to_numpy(direct(x)), atol=1e-6)
    assert extractor.name == f"{backbone.name}_features"


def test_channels_first():
    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow has no NCHW convolution on CPU")
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        model = testing.stateless(
            lambda: kcv.models.ResNet(18, include_top=False, input_shape=(3, 64, 64))
        )
        info = features.feature_info(model)
        assert [(f["stride"], f["channels"]) for f in info][-1] == (32, 512)
        assert info[-1]["shape"] == (2, 2)
    finally:
        keras.config.set_image_data_format(previous)
        keras.utils.clear_session(free_memory=False)


def test_bad_models_and_strides_are_named():
    inputs = keras.Input((None, None, 3))
    unknown_size = keras.Model(inputs, keras.layers.Conv2D(4, 3, strides=2)(inputs))
    with pytest.raises(ValueError, match="^`model` must be a model built with a known input"):
        features.feature_info(unknown_size)
    with pytest.raises(ValueError, match="^`model` must be a functional keras.Model"):
        features.feature_info(keras.layers.Dense(3))
    small = testing.stateless(
        lambda: kcv.models.ResNet(18, include_top=False, input_shape=(32, 32, 3))
    )
    with pytest.raises(
        ValueError, match=r"^`strides` must be strides of this model, some of \[2, 4"
    ):
        features.feature_extractor(small, strides=(4, 64))
    keras.utils.clear_session(free_memory=False)
