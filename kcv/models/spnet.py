"""SPNet: strip pooling in the backbone and mixed pooling in the head.

Hou, Zhang, Cheng, Feng. "Strip Pooling: Rethinking Spatial Pooling for Scene
Parsing". CVPR 2020. https://arxiv.org/abs/2003.13328

Official code: https://github.com/Andrew-Qibin/SPNet (``models/resnet.py``:
``Bottleneck`` with ``spm_on`` and ``ResNet._make_layer``, which decides
where the strip pooling modules go; ``models/spnet.py``: ``SPNet``,
``SPHead``; ``models/customize.py``: ``StripPooling``, the mixed pooling
module).
"""

import keras

from kcv import _validation
from kcv.layers import MixedPooling
from kcv.layers import StripPooling
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.layers.layout import channel_axis
from kcv.models.segmentation import RESNET_BACKBONES
from kcv.models.segmentation import RESNET_DEPTHS
from kcv.models.segmentation import segmentation_encoder
from kcv.models.segmentation import segmentation_output


def strip_pooling_modules(depths, data_format):
    """The ``inner_attention`` factory that puts SPNet's strip pooling where the official ResNet does.

    Official ``ResNet._make_layer`` (``spm_on=True``): a
    :class:`kcv.layers.StripPooling` in the last block of each of the first
    three stages and in every block of the last stage, on the output of the
    bottleneck's 3x3 convolution + BN + ReLU (the ``inner_attention`` of
    :class:`kcv.layers.Bottleneck`), so it gates the ``filters`` channels of
    the bottleneck, before its 1x1 expansion. The modules are named ``spm``
    inside their blocks.

    Args:
        depths: blocks per stage of the ResNet.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A callable ``(stage, block) -> StripPooling or None`` for
        :func:`kcv.models.resnet.resnet_stages`.
    """
    last_stage = len(depths) - 1

    def factory(stage, block):
        if stage != last_stage and block != depths[stage] - 1:
            return None
        return StripPooling(data_format=data_format, name="spm")

    return factory


def SPNet(
    input_shape,
    classes,
    backbone="resnet50",
    output_stride=8,
    strip_pooling=True,
    pool_sizes=(20, 12),
    dropout=0.1,
    weights=None,
    classifier_activation=None,
    name="spnet",
):
    """SPNet: a dilated ResNet with strip pooling and a mixed-pooling head.

    Backbone: a dilated ResNet at output stride 8 (``resnet50``: 1/8
    resolution, stages 4 and 5 dilated by 2 and 4) with
    :class:`kcv.layers.StripPooling` (the strip pooling module, SPM) inside
    the residual blocks where the official code puts them
    (:func:`strip_pooling_modules`: the last block of stages 2-4, every block
    of stage 5, after the 3x3 convolution). Head (official ``SPHead``; the
    paper's Sec. 3 describes the modules): ``1x1 conv (C/2) + BN + ReLU ->
    MixedPooling -> MixedPooling -> 3x3 conv (C/4) + BN + ReLU -> spatial
    dropout 0.1 -> 1x1 conv to classes`` on the ``C`` backbone channels
    (2048 -> 1024 -> 512 for ResNet-50), then bilinear upsampling by the
    output stride.
    :class:`kcv.layers.MixedPooling` (MPM) pools ``pool_sizes`` grids and
    strips for short- and long-range context.

    Parameters, ``backbone="resnet50"``, 21 classes: ResNet-50 features
    23,508,032 + strip pooling modules ``7C² + 5C`` on 64, 128, 256 and
    3 x 512 channels (28,992 + 115,328 + 460,032 + 5,512,704 = 6,117,056)
    + head: 1x1 2048 -> 1024 + BN 2,099,200, two MPMs on 1024 channels
    2 x 4,397,568, 3x3 1024 -> 512 + BN 4,719,616, logits ``512·21 + 21``
    = 45,249,813 (the official structure, counted with the 7x7 stem).

    Differences from the official code: its ResNets have the deep stem
    (three 3x3 convolutions 64-64-128; +123,776 parameters with ResNet-50),
    and at output stride 8 its stage 5 dilates its first block by 4, where
    kcv's atrous schedule (as torchvision and PyTorch-Encoding) keeps the
    rate 2 of the stage before; the auxiliary FCN head on stage 4
    (``aux=True``) is left out. Upsampling (here and inside MPM) has
    half-pixel centres, the official code ``align_corners=True`` (see
    :func:`kcv.models.DeepLabV3` and :class:`kcv.layers.MixedPooling`); so
    height and width must be known multiples of the output stride. BN uses
    Keras' defaults.

    Args:
        input_shape: tuple. ``(H, W, C)`` (``(C, H, W)`` in
            ``channels_first``); H and W known multiples of
            ``output_stride`` (the mixed pooling needs the sizes).
        classes: int. Number of classes.
        backbone: str. ``"resnet50"``, ``"resnet101"`` or ``"resnet_tiny"``
            (to train on a CPU; see
            :func:`kcv.models.segmentation.segmentation_encoder`).
        output_stride: 8 (paper) or 16. Total stride of the backbone.
        strip_pooling: bool. Strip pooling modules in the backbone (False:
            the ablation with the mixed-pooling head only).
        pool_sizes: pair of ints. Adaptive pool sizes of the mixed pooling
            modules (official: (20, 12)).
        dropout: float in [0, 1). Spatial dropout before the classifier.
        weights: None. kcv ships no pretrained weights.
        classifier_activation: str, callable or None. None (default) returns
            logits; ``"softmax"`` acts over the channel axis.
        name: str. Model name.

    Returns:
        A ``keras.Model`` from images to ``(B, H, W, classes)`` logits
        (``(B, classes, H, W)`` in ``channels_first``), output named
        ``"segmentation"``.

    Example:

    >>> import kcv
    >>> model = kcv.models.SPNet((32, 32, 3), classes=4, backbone="resnet_tiny")
    >>> model.output_shape
    (None, 32, 32, 4)
    >>> [l.name for l in model.layers if getattr(l, "inner_attention", None) is not None]
    ['conv2_block1', 'conv3_block1', 'conv4_block1', 'conv5_block1']

    Reference:
        Hou et al., Strip Pooling: Rethinking Spatial Pooling for Scene
        Parsing, CVPR 2020, Sec. 3; official ``models/resnet.py`` and
        ``models/spnet.py``.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    _validation.one_of("backbone", backbone, RESNET_BACKBONES)
    _validation.boolean("strip_pooling", strip_pooling)
    factory = None
    if strip_pooling:
        factory = strip_pooling_modules(RESNET_DEPTHS[backbone], keras.config.image_data_format())
    inputs, data_format, _, features = segmentation_encoder(
        input_shape,
        backbone,
        output_stride,
        inner_attention=factory,
        choices=RESNET_BACKBONES,
        require_size=True,
    )
    inter = features.shape[channel_axis(data_format)] // 2
    x = apply_conv_bn_act(features, inter, 1, "head_reduce", data_format)
    x = MixedPooling(pool_sizes, data_format=data_format, name="mixed_pooling1")(x)
    x = MixedPooling(pool_sizes, data_format=data_format, name="mixed_pooling2")(x)
    x = apply_conv_bn_act(x, inter // 2, 3, "head_conv", data_format)
    x = keras.layers.SpatialDropout2D(dropout, data_format=data_format, name="head_dropout")(x)
    outputs = segmentation_output(x, classes, output_stride, data_format, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
