"""What the segmentation networks share: the dilated encoder and the output step.

Chen, Papandreou, Schroff, Adam. "Rethinking Atrous Convolution for Semantic
Image Segmentation". 2017. https://arxiv.org/abs/1706.05587 (Sec. 3.1, the
atrous backbone at an output stride).

:func:`segmentation_encoder` is the feature extractor of
:mod:`kcv.models.deeplab`, :mod:`kcv.models.encnet` and :mod:`kcv.models.spnet`:
a MobileNetV2 (:func:`kcv.models.MobileNetV2`) or a ResNet
(:func:`kcv.models.resnet.resnet_backbone`) whose last strides become
dilation, as DeepLab's ``core/feature_extractor.py`` and PyTorch-Encoding's
dilated ResNets do. :func:`segmentation_output` is their last step (1x1
logits, bilinear upsampling to the input size).
"""

import keras

from kcv import _validation
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.layers.layout import channel_axis
from kcv.layers.layout import spatial_axes
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.mobilenet import MobileNetV2
from kcv.models.resnet import resnet_backbone

BACKBONES = ("mobilenet_v2", "resnet50", "resnet101", "resnet_tiny")
RESNET_BACKBONES = ("resnet50", "resnet101", "resnet_tiny")
# Blocks per stage and bottleneck widths: ResNet-50/101 (He et al., Table 1), and
# a course-size ResNet with ResNet-50's layout, one block per stage, 1/8 of the widths.
RESNET_DEPTHS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet_tiny": (1, 1, 1, 1)}
RESNET_WIDTHS = {
    "resnet50": (64, 128, 256, 512),
    "resnet101": (64, 128, 256, 512),
    "resnet_tiny": (8, 16, 32, 64),
}
OUTPUT_STRIDES = (8, 16)
DEFAULT_SIZE = 512


def _check_size(inputs, data_format, output_stride, require_size):
    shape = tuple(inputs.shape[1:])
    sides = [inputs.shape[axis] for axis in spatial_axes(data_format)]
    if require_size and None in sides:
        _validation.fail("input_shape", "a shape with known height and width", shape)
    if any(side is not None and side % output_stride for side in sides):
        _validation.fail(
            "input_shape",
            f"a shape with height and width divisible by the output stride {output_stride} "
            f"(the logits are upsampled by {output_stride} back to the input size)",
            shape,
        )


def segmentation_encoder(
    input_shape,
    backbone,
    output_stride,
    alpha=1.0,
    inner_attention=None,
    choices=BACKBONES,
    require_size=False,
    convention="keras",
):
    """A dilated feature extractor: the encoder of the segmentation networks.

    The last strides of the backbone become dilation (atrous convolution,
    DeepLabv3 Sec. 3.1, :func:`kcv.models.common.atrous_schedule`) so that
    its features stay at ``1/output_stride`` of the input; the parameters
    do not change. ``convention`` sets the padding of the strided layers and
    the BN epsilon of the backbone (:func:`kcv.models.common.convention_options`:
    Keras' ``"same"`` and 1e-3, or torchvision's symmetric padding and 1e-5);
    dilated layers stride 1 and pad alike under both.

    * ``"resnet50"``, ``"resnet101"``: the plain ResNet of
      :func:`kcv.models.resnet.resnet_backbone` (7x7 stem, bottlenecks, no
      SE); features: the last stage (2048 channels); low-level features:
      the first stage (``conv2``, 256 channels, stride 4).
    * ``"resnet_tiny"``: the same layout with one block per stage and
      bottleneck widths 8, 16, 32, 64 (stem 8 channels; features 256
      channels, low-level 32): 128,392 parameters, small enough to train in
      a chapter on a laptop CPU. Not from a paper.
    * ``"mobilenet_v2"``: :func:`kcv.models.MobileNetV2` with width
      ``alpha``; features: the last inverted residual (``block_16``, 320
      channels at ``alpha=1``), without the final 1x1 convolution to 1280,
      as DeepLab's ``mobilenet_v2`` feature extractor (``layer_18``);
      low-level features: ``block_2`` (24 channels at ``alpha=1``, stride
      4), where DeepLab takes the expanded depthwise output inside that
      block (``layer_4/depthwise_output``, 144 channels), which a kcv
      :class:`kcv.layers.InvertedResidual` does not expose.

    Args:
        input_shape: tuple or None. ``(H, W, C)`` (``(C, H, W)`` in
            ``channels_first``); known sides must be multiples of
            ``output_stride``. None means 512x512 RGB.
        backbone: str. One of ``choices``.
        output_stride: 8 or 16. Total stride of the features.
        alpha: float > 0. Width multiplier of ``"mobilenet_v2"`` (must stay
            1.0 for the ResNets).
        inner_attention: callable or None. For the ResNets, the factory
            ``(stage, block) -> Layer or None`` of a module inside the
            residual blocks (:func:`kcv.models.resnet.resnet_stages`; SPNet's
            strip pooling).
        choices: the backbones the calling network accepts.
        require_size: bool. Whether height and width must be known.
        convention: str. ``"keras"`` (default) or ``"torchvision"``.

    Returns:
        ``(inputs, data_format, low_level_features, features)``.

    Raises:
        ValueError: naming ``backbone``, ``output_stride``, ``alpha``,
            ``convention`` or ``input_shape``.

    Example:

    >>> inputs, data_format, low, high = segmentation_encoder((64, 64, 3), "resnet_tiny", 8)
    >>> tuple(low.shape), tuple(high.shape)
    ((None, 16, 16, 32), (None, 8, 8, 256))
    """
    _validation.one_of("backbone", backbone, choices)
    _validation.one_of("output_stride", output_stride, OUTPUT_STRIDES)
    _validation.number("alpha", alpha, 0, low_open=True)
    options = convention_options(convention)
    data_format = keras.config.image_data_format()
    if input_shape is None:
        rgb = (DEFAULT_SIZE, DEFAULT_SIZE, 3)
        input_shape = rgb if data_format == "channels_last" else rgb[::-1]
    if backbone == "mobilenet_v2":
        mobilenet = MobileNetV2(
            alpha=alpha,
            include_top=False,
            input_shape=input_shape,
            output_stride=output_stride,
            convention=convention,
        )
        inputs = mobilenet.inputs[0]
        low_level, high_level = (
            mobilenet.get_layer("block_2").output,
            mobilenet.get_layer("block_16").output,
        )
    else:
        if alpha != 1.0:
            _validation.fail(
                "alpha",
                f"1.0 for backbone={backbone!r} (it is the width of backbone='mobilenet_v2' only)",
                alpha,
            )
        inputs, data_format = image_input(
            input_shape, DEFAULT_SIZE, min_size=output_stride, channels=None
        )
        stages = resnet_backbone(
            inputs,
            data_format,
            depths=RESNET_DEPTHS[backbone],
            widths=RESNET_WIDTHS[backbone],
            output_stride=output_stride,
            inner_attention=inner_attention,
            **options,
        )
        low_level, high_level = stages[0], stages[-1]
    _check_size(inputs, data_format, output_stride, require_size)
    return inputs, data_format, low_level, high_level


def upsample(x, factor, data_format, name):
    """Bilinear upsampling by an integer ``factor`` (half-pixel centres, ``align_corners=False``)."""
    return keras.layers.UpSampling2D(
        factor, data_format=data_format, interpolation="bilinear", name=name
    )(x)


def segmentation_output(x, classes, factor, data_format, classifier_activation):
    """1x1 convolution to ``classes`` logits, upsampled by ``factor`` to the input size.

    The output layer is named ``"segmentation"``; ``classifier_activation``
    (None for logits) follows the upsampling, ``"softmax"`` over the channel
    axis of ``data_format``.
    """
    _validation.activation("classifier_activation", classifier_activation)
    x = apply_conv_bn_act(x, classes, 1, "logits", data_format, batch_norm=False, activation=None)
    if classifier_activation is None:
        return upsample(x, factor, data_format, "segmentation")
    x = upsample(x, factor, data_format, "upsample")
    if classifier_activation == "softmax":
        return keras.layers.Softmax(axis=channel_axis(data_format), name="segmentation")(x)
    return keras.layers.Activation(classifier_activation, name="segmentation")(x)
