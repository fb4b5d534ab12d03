"""The one ResNet: stem, residual stages with output stride, ResNet and ResNeXt.

He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition". CVPR 2016.
https://arxiv.org/abs/1512.03385
Xie, Girshick, Dollár, Tu, He. "Aggregated Residual Transformations for Deep
Neural Networks" (ResNeXt). CVPR 2017. https://arxiv.org/abs/1611.05431

Official code: KaimingHe/deep-residual-networks (Caffe), facebookresearch/ResNeXt
(Torch). Layout and parameter counts follow torchvision ``models/resnet.py``
(``resnet18`` ... ``resnet152``, ``resnext50_32x4d``, ``resnext101_32x8d``):
no convolution bias before BN, stride on the 3x3 of a bottleneck ("v1.5"),
projection shortcuts (1x1 conv + BN) where the shape changes.

Every ResNet in kcv is built here: :func:`resnet_stages` stacks the residual
blocks of :mod:`kcv.layers.residual` (:class:`kcv.layers.BasicBlock`,
:class:`kcv.layers.Bottleneck`), replacing the last strides by dilation for
an ``output_stride`` (DeepLab, EncNet, SPNet) and extending the blocks with
layers made by ``attention`` / ``inner_attention`` factories (SE-ResNet's
SE blocks, EncNet's encoding gates, SPNet's strip pooling);
:func:`resnet_backbone` is the ImageNet feature extractor (7x7 stem and four
stages) that :mod:`kcv.models.senet` and :mod:`kcv.models.segmentation` use.
"""

import keras

from kcv import _validation
from kcv.layers import BasicBlock
from kcv.layers import Bottleneck
from kcv.layers.conv_bn import KERAS_BN_EPSILON
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.models.common import atrous_schedule
from kcv.models.common import classifier
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.common import max_pool
from kcv.models.common import model_inputs

BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
# He et al., Table 1: block type and blocks per stage of each depth.
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)
OUTPUT_STRIDES = (None, 8, 16, 32)


def resnet_stem(inputs, filters, data_format, padding="same", bn_epsilon=KERAS_BN_EPSILON):
    """The ImageNet stem: ``conv 7x7/2 (filters) + BN + ReLU -> max pool 3x3/2``.

    Layers ``conv1`` (with ``conv1_bn``, ``conv1_act``) and ``pool1``; total
    stride 4 (He et al., Table 1, ``conv1`` and the pooling of ``conv2_x``).
    With ``padding="symmetric"`` (torchvision's ``padding=3`` and ``1``)
    they are preceded by ``conv1_pad`` and ``pool1_pad``.

    Args:
        inputs: symbolic image tensor.
        filters: int. Channels of the 7x7 convolution (64).
        data_format: ``"channels_last"`` or ``"channels_first"``.
        padding: ``"same"`` or ``"symmetric"``
            (:func:`kcv.layers.conv_bn.padding_layers`).
        bn_epsilon: float. Epsilon of the BN.

    Returns:
        The stem's output tensor.
    """
    x = apply_conv_bn_act(
        inputs, filters, 7, "conv1", data_format, strides=2, padding=padding, bn_epsilon=bn_epsilon
    )
    return max_pool(x, 3, 2, padding, data_format, "pool1")


def resnet_stages(
    x,
    block,
    depths,
    filters,
    strides,
    data_format,
    output_stride=None,
    input_stride=1,
    attention=None,
    inner_attention=None,
    **block_kwargs,
):
    """Stacks residual stages on a feature map; returns every stage's output.

    Stage ``s`` has ``depths[s]`` blocks with ``filters[s]`` filters; its
    first block has stride ``strides[s]`` (and the projection shortcut).
    Blocks are layers named ``conv{s+2}_block{b+1}`` (``conv2`` is the first
    stage, as in the paper's Table 1).

    With ``output_stride`` the strides that would take the total stride
    beyond it become dilation of the blocks after them
    (:func:`kcv.models.common.atrous_schedule`): for ResNet-50 with
    ``output_stride=16`` the last stage keeps 1/16 resolution with dilation
    2 (its first block dilation 1); with 8, stages 4 and 5 are dilated by 2
    and 4. The parameter count does not change.

    ``attention`` and ``inner_attention`` extend the blocks with layers, as
    the networks built on ResNets do: each is called as ``factory(stage,
    block)`` (both counting from 0) for every block and returns a new
    ``keras.layers.Layer`` for that block's argument of the same name, or
    None to leave the block as it is. ``attention`` acts on the residual
    branch before the addition (SE-ResNet's SE, EncNet's CIFAR encoding
    gate); ``inner_attention`` after the 3x3 convolution of a bottleneck
    (the first one of a basic block; SPNet's strip pooling).

    Args:
        x: symbolic 4D tensor, the output of the stem.
        block: ``"bottleneck"`` (output ``4 · filters`` channels),
            ``"basic"``, or a block class taking the arguments of
            :class:`kcv.layers.BasicBlock`.
        depths: sequence of ints. Blocks per stage.
        filters: sequence of ints. Filters of each stage.
        strides: sequence of ints. Stride of each stage's first block.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        output_stride: int or None. Largest total stride kept; None keeps all.
        input_stride: int. Total stride of ``x`` relative to the image.
        attention: callable ``(stage, block) -> Layer or None``, or None.
        inner_attention: callable ``(stage, block) -> Layer or None``, or None.
        **block_kwargs: more block arguments, the same for every block
            (``groups``, ``width_per_group`` of a ResNeXt bottleneck).

    Returns:
        A list with the output tensor of every stage.

    Example:

    >>> import keras
    >>> inputs = keras.Input((32, 32, 16))
    >>> outputs = resnet_stages(inputs, "basic", (2, 2), (16, 32), (1, 2), "channels_last")
    >>> [tuple(y.shape) for y in outputs]
    [(None, 32, 32, 16), (None, 16, 16, 32)]
    """
    if isinstance(block, str):
        block = BLOCKS[_validation.one_of("block", block, tuple(BLOCKS))]
    unit_strides = [s if b == 0 else 1 for depth, s in zip(depths, strides) for b in range(depth)]
    schedule = iter(atrous_schedule(unit_strides, output_stride, input_stride))
    outputs = []
    for stage, (depth, width) in enumerate(zip(depths, filters)):
        for index in range(depth):
            stride, rate = next(schedule)
            x = block(
                width,
                strides=stride,
                dilation_rate=rate,
                attention=None if attention is None else attention(stage, index),
                inner_attention=None if inner_attention is None else inner_attention(stage, index),
                data_format=data_format,
                name=f"conv{stage + 2}_block{index + 1}",
                **block_kwargs,
            )(x)
        outputs.append(x)
    return outputs


def resnet_backbone(
    inputs,
    data_format,
    depths=(3, 4, 6, 3),
    block="bottleneck",
    widths=WIDTHS,
    output_stride=None,
    attention=None,
    inner_attention=None,
    padding="same",
    bn_epsilon=KERAS_BN_EPSILON,
    **block_kwargs,
):
    """The ImageNet ResNet feature extractor: the 7x7 stem and four stages.

    :func:`resnet_stem` with ``widths[0]`` channels, then
    :func:`resnet_stages` with ``widths`` filters and strides 1, 2, 2, 2
    (ResNet-50: bottleneck filters 64 to 512, outputs 256 to 2048 channels).

    Args:
        inputs: symbolic image tensor (``keras.Input``).
        data_format: ``"channels_last"`` or ``"channels_first"``.
        depths: blocks per stage; (3, 4, 6, 3) is ResNet-50 (see ``DEPTHS``).
        block: ``"bottleneck"`` or ``"basic"`` (ResNet-18/34).
        widths: filters of each stage; the stem has ``widths[0]`` channels.
        output_stride: None, 8, 16 or 32. Total stride of the last stage.
        attention, inner_attention: see :func:`resnet_stages`.
        padding: ``"same"`` or ``"symmetric"`` (torchvision's), for the stem
            and every block (:func:`kcv.layers.conv_bn.padding_layers`).
        bn_epsilon: float. Epsilon of every BN (Keras' 1e-3, torchvision's 1e-5).
        block_kwargs: further keyword arguments of the blocks (``groups``...),
            see :func:`resnet_stages`.

    Returns:
        The four stage outputs, at strides 4, 8, 16 and 32 (or less with
        ``output_stride``).

    Example:

    >>> import keras
    >>> inputs = keras.Input((64, 64, 3))
    >>> features = resnet_backbone(inputs, "channels_last", output_stride=8)
    >>> [tuple(f.shape[1:]) for f in features]
    [(16, 16, 256), (8, 8, 512), (8, 8, 1024), (8, 8, 2048)]
    """
    _validation.one_of("output_stride", output_stride, OUTPUT_STRIDES)
    x = resnet_stem(inputs, widths[0], data_format, padding=padding, bn_epsilon=bn_epsilon)
    return resnet_stages(
        x,
        block,
        depths,
        widths,
        (1, 2, 2, 2),
        data_format,
        output_stride=output_stride,
        input_stride=4,
        attention=attention,
        inner_attention=inner_attention,
        padding=padding,
        bn_epsilon=bn_epsilon,
        **block_kwargs,
    )


def _imagenet_resnet(
    depth,
    depths_table,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    output_stride,
    name,
    convention,
    **block_kwargs,
):
    _validation.no_weights(weights)
    options = convention_options(convention)
    _validation.positive_int("classes", classes)
    _validation.boolean("include_top", include_top)
    _validation.activation("classifier_activation", classifier_activation)
    _validation.one_of("output_stride", output_stride, OUTPUT_STRIDES)
    block, depths = depths_table[_validation.one_of("depth", depth, tuple(depths_table))]
    inputs, data_format = image_input(
        input_shape, 224, min_size=32, channels=None, input_tensor=input_tensor
    )
    x = resnet_backbone(
        inputs,
        data_format,
        depths=depths,
        block=block,
        output_stride=output_stride,
        **options,
        **block_kwargs,
    )[-1]
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(model_inputs(inputs), outputs, name=name)


def ResNet(
    depth=50,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    output_stride=None,
    name=None,
    convention="keras",
):
    """ResNet-18, 34, 50, 101 or 152 (He et al., Table 1).

    ``conv 7x7/2 (64) + BN + ReLU -> max pool 3x3/2 -> four stages (strides
    1, 2, 2, 2) -> global average pool -> dense``. ResNet-18/34 stack
    :class:`kcv.layers.BasicBlock` (two 3x3, 64 to 512 channels); ResNet-50,
    101 and 152 :class:`kcv.layers.Bottleneck` (1x1-3x3-1x1, outputs 256 to
    2048 channels), ``[3, 4, 6, 3]``, ``[3, 4, 23, 3]`` and ``[3, 8, 36, 3]``
    blocks per stage. Shortcuts are the identity, or a 1x1 projection + BN
    where the shape changes (option B); no convolution has a bias (BN
    follows each); a bottleneck strides its 3x3 ("v1.5", as torchvision).

    Trainable parameters for 1000 classes equal torchvision's: ResNet-18
    11,689,512; ResNet-34 21,797,672; ResNet-50 25,557,032; ResNet-101
    44,549,160; ResNet-152 60,192,808 (``keras.applications.ResNet50`` has
    26,560 more, the convolution biases it keeps before BN).

    ``convention`` sets the arithmetic that the same weights depend on
    (:func:`kcv.models.common.convention_options`). ``"keras"`` (default):
    "same" padding (TensorFlow's rule: on a 224 input the 7x7/2 stem pads
    ``(2, 3)``; the 3x3/2 pooling and every strided 3x3 pad an even size by
    ``(0, 1)``) and Keras' BN epsilon 1e-3. ``"torchvision"``:
    torchvision's ``padding=3`` and ``padding=1`` on both sides (explicit
    ``ZeroPadding2D`` layers ``conv1_pad`` and ``pool1_pad``, and
    ``conv2_pad`` / ``conv1_pad`` inside the strided bottleneck / basic
    blocks; zeros before the max pool equal PyTorch's -inf padding because
    it follows a ReLU) and ``nn.BatchNorm2d``'s epsilon 1e-5: with
    :func:`kcv.weights.load_torchvision` the model gives torchvision's
    logits. The shortcut's 1x1/2 convolution reads the same pixels under
    both conventions, and parameter counts do not change.

    Args:
        depth: int. 18, 34, 50, 101 or 152.
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv builds models untrained (pretrained weights are
            loaded afterwards).
        input_tensor: symbolic tensor or None. Image tensor to build on.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32; None means 224x224 RGB.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classes: int. Number of classes.
        classifier_activation: str, callable or None. None returns logits.
        output_stride: None, 8, 16 or 32. Largest total stride: the strides
            beyond it become dilation (DeepLab's atrous ResNet); None keeps
            the paper's 32.
        name: str or None. Model name; None gives ``"resnet{depth}"``.
        convention: str. ``"keras"`` (default) or ``"torchvision"``: padding
            and BN epsilon, as above.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the last
        stage's features (512 or 2048 channels) with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.ResNet(18, include_top=False, input_shape=(64, 64, 3))
    >>> model.output_shape
    (None, 2, 2, 512)

    Reference:
        He et al., Deep Residual Learning for Image Recognition, CVPR 2016,
        Sec. 3-4, Table 1; torchvision ``models/resnet.py``.
    """
    return _imagenet_resnet(
        depth,
        DEPTHS,
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        output_stride,
        f"resnet{depth}" if name is None else name,
        convention,
    )


RESNEXT_DEPTHS = {50: DEPTHS[50], 101: DEPTHS[101], 152: DEPTHS[152]}


def ResNeXt(
    depth=50,
    cardinality=32,
    width_per_group=4,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    output_stride=None,
    name=None,
    convention="keras",
):
    """ResNeXt: ResNet-50/101/152 with aggregated (grouped) 3x3 transformations.

    ResNet's bottleneck network (:func:`ResNet`) whose 3x3 convolutions are
    split into ``cardinality`` groups of ``width_per_group · filters / 64``
    channels each (Xie et al., Fig. 3c, Table 1): ResNeXt-50 32x4d has
    bottleneck widths 128, 256, 512 and 1024 and the same outputs as
    ResNet-50 (256 to 2048 channels). Widths follow torchvision,
    ``int(filters · width_per_group / 64) · cardinality``.

    Trainable parameters for 1000 classes equal torchvision's: ResNeXt-50
    32x4d 25,028,904; ResNeXt-101 32x8d 88,791,336. ``cardinality=1,
    width_per_group=128`` is torchvision's ``wide_resnet50_2`` (depth 50)
    and ``wide_resnet101_2`` (depth 101).

    Args:
        depth: int. 50, 101 or 152 (blocks per stage as ResNet's).
        cardinality: int. Groups of every 3x3 convolution (``C``, 32).
        width_per_group: int. Channels of each group in the first stage
            (``d``: 4 in 32x4d, 8 in 32x8d).
        include_top, weights, input_tensor, input_shape, pooling, classes: as for :func:`ResNet`.
        classifier_activation, output_stride: as for :func:`ResNet`.
        name: str or None. Model name; None gives
            ``"resnext{depth}_{cardinality}x{width_per_group}d"``.
        convention: str. ``"keras"`` (default) or ``"torchvision"``: padding
            and BN epsilon, as for :func:`ResNet`.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the
        2048-channel features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.ResNeXt(50, include_top=False, input_shape=(64, 64, 3))
    >>> model.output_shape, model.get_layer("conv2_block1").width
    ((None, 2, 2, 2048), 128)

    Reference:
        Xie et al., Aggregated Residual Transformations for Deep Neural
        Networks, CVPR 2017, Sec. 3, Table 1; torchvision ``models/resnet.py``
        (``resnext50_32x4d``, ``resnext101_32x8d``).
    """
    cardinality = _validation.positive_int("cardinality", cardinality)
    width_per_group = _validation.positive_int("width_per_group", width_per_group)
    return _imagenet_resnet(
        depth,
        RESNEXT_DEPTHS,
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        output_stride,
        f"resnext{depth}_{cardinality}x{width_per_group}d" if name is None else name,
        convention,
        groups=cardinality,
        width_per_group=width_per_group,
    )
