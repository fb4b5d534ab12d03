"""Squeeze-and-Excitation ResNets (SENet) and the residual stages they stack.

Hu, Shen, Albanie, Sun, Wu. "Squeeze-and-Excitation Networks". CVPR 2018 /
TPAMI 2019. https://arxiv.org/abs/1709.01507
He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition".
CVPR 2016. https://arxiv.org/abs/1512.03385

Official code: hujie-frank/SENet (Caffe models, e.g. ``SE-ResNet-50.prototxt``).
The block layout followed is torchvision's ``models/resnet.py`` and timm's
``models/resnet.py`` (``seresnet50``), whose parameter counts we match
(ResNet-50: 25,557,032; SE-ResNet-50: 28,088,024). The CIFAR network follows
Sec. 4.2 of He et al. with the SE block of moskomule/senet.pytorch
(``senet/se_resnet.py``, ``se_resnet20``).

:func:`resnet_stages` is the stage builder shared by these networks and by
the segmentation backbones: with ``output_stride`` it replaces the last
strides by dilation, as DeepLab and EncNet do, and its ``block_hook`` lets
them insert a module into every residual block (SPNet's strip pooling,
EncNet's CIFAR encoding gates).
"""

import functools

import keras

from kcv._validation import one_of
from kcv._validation import positive_int
from kcv.layers import SqueezeExcite
from kcv.layers.layout import channel_axis
from kcv.models._utils import apply_conv_bn_act
from kcv.models._utils import atrous_schedule
from kcv.models._utils import check_classes
from kcv.models._utils import check_weights
from kcv.models._utils import classifier
from kcv.models._utils import image_input


def _add_and_relu(shortcut, residual, name):
    x = keras.layers.Add(name=f"{name}_add")([shortcut, residual])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def _shortcut(x, channels, strides, data_format, name):
    """Identity, or a 1x1 projection + BN where the shape changes (He et al., option B)."""
    if strides == 1 and x.shape[channel_axis(data_format)] == channels:
        return x
    return apply_conv_bn_act(
        x, channels, 1, f"{name}_shortcut", data_format, activation=None, strides=strides
    )


def _no_hook(x, point):
    return x


def _residual_end(x, reduction, hook, data_format, name):
    """SE on the residual branch, after its last BN and before the addition (SENet, Fig. 3)."""
    if reduction is not None:
        x = SqueezeExcite(reduction, data_format=data_format, name=f"{name}_se")(x)
    return hook(x, "residual")


def _bottleneck(x, filters, strides, dilation_rate, reduction, hook, data_format, name):
    """1x1 (filters) -> 3x3 (filters, stride, dilation) -> 1x1 (4·filters) [-> SE] + shortcut."""
    residual = apply_conv_bn_act(x, filters, 1, f"{name}_conv1", data_format)
    residual = apply_conv_bn_act(
        residual,
        filters,
        3,
        f"{name}_conv2",
        data_format,
        strides=strides,
        dilation_rate=dilation_rate,
    )
    residual = hook(residual, "inner")
    residual = apply_conv_bn_act(
        residual, 4 * filters, 1, f"{name}_conv3", data_format, activation=None
    )
    residual = _residual_end(residual, reduction, hook, data_format, name)
    return _add_and_relu(_shortcut(x, 4 * filters, strides, data_format, name), residual, name)


def _basic_block(x, filters, strides, dilation_rate, reduction, hook, data_format, name):
    """3x3 (filters, stride) -> 3x3 (filters) [-> SE] + shortcut."""
    residual = apply_conv_bn_act(
        x, filters, 3, f"{name}_conv1", data_format, strides=strides, dilation_rate=dilation_rate
    )
    residual = hook(residual, "inner")
    residual = apply_conv_bn_act(
        residual,
        filters,
        3,
        f"{name}_conv2",
        data_format,
        dilation_rate=dilation_rate,
        activation=None,
    )
    residual = _residual_end(residual, reduction, hook, data_format, name)
    return _add_and_relu(_shortcut(x, filters, strides, data_format, name), residual, name)


_BLOCKS = {"bottleneck": _bottleneck, "basic": _basic_block}


def resnet_stages(
    x,
    block,
    depths,
    filters,
    strides,
    data_format,
    reduction=None,
    output_stride=None,
    input_stride=1,
    block_hook=None,
):
    """Stacks residual stages on a feature map; returns every stage's output.

    Stage ``s`` has ``depths[s]`` blocks of width ``filters[s]``; its first
    block has stride ``strides[s]`` (and the projection shortcut). In a
    bottleneck the stride sits on the 3x3 convolution, as in torchvision and
    timm (ResNet "v1.5"); the original Caffe ResNet and SENet models put it on
    the first 1x1, with the same parameter count. Every convolution is
    followed by BN (no bias); blocks are named ``conv{s+2}_block{b+1}``
    (``conv2`` is the first stage, as in the paper's Table 1).

    With ``output_stride`` the strides that would take the total stride
    beyond it become dilation of the blocks after them
    (:func:`kcv.models._utils.atrous_schedule`): for ResNet-50 with
    ``output_stride=16`` the last stage keeps 1/16 resolution with dilation
    2 (its first block dilation 1); with 8, stages 4 and 5 are dilated by 2
    and 4. The parameter count does not change.

    ``block_hook`` inserts a module inside every block, as the networks
    built on ResNets do (EncNet's encoding gate, SPNet's strip pooling). It
    is called as ``block_hook(x, point, stage, block, name)`` (``stage`` and
    ``block`` count from 0, ``name`` is the block's name) at two points, and
    returns the tensor that continues the block (``x`` to leave it as is):

    * ``"inner"``: after the 3x3 convolution + BN + ReLU of a bottleneck
      (the first one of a basic block);
    * ``"residual"``: the residual branch after its last BN (and after SE
      when ``reduction`` is set), just before the addition.

    Args:
        x: symbolic 4D tensor, the output of the stem.
        block: "bottleneck" (output ``4 · filters`` channels) or "basic".
        depths: sequence of ints. Blocks per stage.
        filters: sequence of ints. Width of each stage.
        strides: sequence of ints. Stride of each stage's first block.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        reduction: int or None. SE reduction ratio; None for a plain ResNet.
        output_stride: int or None. Largest total stride kept; None keeps all.
        input_stride: int. Total stride of ``x`` relative to the image.
        block_hook: callable or None. See above.

    Returns:
        A list with the output tensor of every stage.
    """
    block_fn = _BLOCKS[one_of("block", block, tuple(_BLOCKS))]
    unit_strides = [s if b == 0 else 1 for depth, s in zip(depths, strides) for b in range(depth)]
    schedule = iter(atrous_schedule(unit_strides, output_stride, input_stride))
    outputs = []
    for stage, (depth, width) in enumerate(zip(depths, filters)):
        for index in range(depth):
            stride, rate = next(schedule)
            name = f"conv{stage + 2}_block{index + 1}"
            hook = (
                _no_hook
                if block_hook is None
                else functools.partial(block_hook, stage=stage, block=index, name=name)
            )
            x = block_fn(x, width, stride, rate, reduction, hook, data_format, name)
        outputs.append(x)
    return outputs


def resnet_backbone(
    inputs,
    data_format,
    depths=(3, 4, 6, 3),
    reduction=16,
    output_stride=None,
    widths=(64, 128, 256, 512),
    block_hook=None,
):
    """The ImageNet (SE-)ResNet feature extractor: stem and four bottleneck stages.

    Stem ``conv 7x7/2 (widths[0]) + BN + ReLU -> max pool 3x3/2``, then
    :func:`resnet_stages` with bottleneck widths ``widths`` (ResNet-50:
    64, 128, 256, 512, outputs 256 to 2048 channels) and strides 1, 2, 2, 2.

    Args:
        inputs: symbolic image tensor (``keras.Input``).
        data_format: ``"channels_last"`` or ``"channels_first"``.
        depths: blocks per stage; (3, 4, 6, 3) is ResNet-50, (3, 4, 23, 3) ResNet-101.
        reduction: int or None. SE reduction ratio; None for a plain ResNet.
        output_stride: None, 8, 16 or 32. Total stride of the last stage.
        widths: bottleneck width of each stage (outputs ``4 · widths``); the
            stem has ``widths[0]`` channels, 64 in ResNet-50.
        block_hook: callable or None. A module inside every block, see
            :func:`resnet_stages`.

    Returns:
        The four stage outputs, at strides 4, 8, 16 and 32 (or less with
        ``output_stride``).
    """
    one_of("output_stride", output_stride, (None, 8, 16, 32))
    x = apply_conv_bn_act(inputs, widths[0], 7, "conv1", data_format, strides=2)
    x = keras.layers.MaxPooling2D(
        3, strides=2, padding="same", data_format=data_format, name="pool1"
    )(x)
    return resnet_stages(
        x,
        "bottleneck",
        depths,
        widths,
        (1, 2, 2, 2),
        data_format,
        reduction=reduction,
        output_stride=output_stride,
        input_stride=4,
        block_hook=block_hook,
    )


def _check_reduction(reduction):
    if reduction is not None:
        positive_int("reduction", reduction)
    return reduction


def SEResNet50(
    include_top=True,
    weights=None,
    input_shape=None,
    classes=1000,
    pooling=None,
    classifier_activation="softmax",
    reduction=16,
    name="se_resnet50",
):
    """SE-ResNet-50: ResNet-50 with a Squeeze-and-Excitation block in every bottleneck.

    ``conv 7x7/2 (64) -> max pool 3x3/2 -> [3, 4, 6, 3] bottleneck blocks
    (widths 64-512, outputs 256-2048) -> global average pool -> dense``
    (He et al., Table 1). Each block is ``1x1 -> 3x3 -> 1x1 (4x)``, BN after
    every convolution (no bias) and ReLU after the first two; SE recalibrates
    the residual branch before it is added to the shortcut (SENet, Fig. 3),
    and ReLU follows the addition. The stride of a stage's first block is on
    its 3x3 convolution, as in torchvision and timm; the official Caffe
    models (and Cadene's port) stride the first 1x1 instead. Shortcuts are
    identity, or a 1x1 projection + BN where the shape changes.

    Trainable parameters for 1000 classes: 28,088,024 (= timm / Cadene
    ``se_resnet50``), of which the SE blocks hold 2,530,992;
    ``reduction=None`` gives the plain ResNet-50: 25,557,032 (= torchvision;
    ``keras.applications.ResNet50`` has 26,560 more because it keeps biases
    before BN).

    Args:
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32; None means 224x224 RGB.
        classes: int. Number of classes.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. None returns logits.
        reduction: int or None. SE reduction ratio ``r`` (paper: 16); None
            removes the SE blocks (ResNet-50).
        name: str. Model name.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the 2048-channel
        features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.SEResNet50(include_top=False, input_shape=(64, 64, 3))
    >>> model.output_shape
    (None, 2, 2, 2048)

    Reference:
        Hu et al., Squeeze-and-Excitation Networks, CVPR 2018, Sec. 3-4,
        Fig. 3, Table 1; He et al., Deep Residual Learning, CVPR 2016, Table 1.
    """
    check_weights(weights)
    check_classes(classes)
    reduction = _check_reduction(reduction)
    inputs, data_format = image_input(input_shape, 224, min_size=32, channels=None)
    x = resnet_backbone(inputs, data_format, reduction=reduction)[-1]
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def SEResNetCIFAR(
    depth=20,
    include_top=True,
    weights=None,
    input_shape=None,
    classes=10,
    pooling=None,
    classifier_activation="softmax",
    reduction=16,
    name="se_resnet_cifar",
):
    """The CIFAR-10 ResNet of He et al. (Sec. 4.2), with SE in every block.

    ``conv 3x3 (16) + BN + ReLU -> 3 stages of n basic blocks (16, 32, 64
    channels, 32x32 -> 16x16 -> 8x8) -> global average pool -> dense``, with
    ``depth = 6n + 2``. A basic block is ``3x3 + BN + ReLU -> 3x3 + BN [-> SE]
    -> + shortcut -> ReLU``. ``reduction=None`` removes SE: the plain ResNet,
    for the with/without comparison.

    Differences from He et al.: the two shortcuts that change shape are a
    1x1 projection + BN (option B) instead of zero-padded identity (option
    A), as in moskomule/senet.pytorch's ``se_resnet20``: ResNet-20 has
    272,474 trainable parameters for 10 classes instead of the paper's 0.27M
    (269,722); SE with ``r = 16`` adds 2,373 (hidden widths
    ``max(1, C // r)`` = 1, 2, 4).

    Args:
        depth: int. ``6n + 2`` layers: 20, 32, 44, 56, 110...
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 4; None means 32x32 RGB.
        classes: int. Number of classes (CIFAR-10: 10).
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. None returns logits.
        reduction: int or None. SE reduction ratio; None for the plain ResNet.
        name: str. Model name.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the 64-channel
        features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> se = kcv.models.SEResNetCIFAR(depth=20)
    >>> plain = kcv.models.SEResNetCIFAR(depth=20, reduction=None)
    >>> se.count_params() - plain.count_params()  # the SE blocks
    2373

    Reference:
        He et al., Deep Residual Learning, CVPR 2016, Sec. 4.2;
        Hu et al., Squeeze-and-Excitation Networks, CVPR 2018, Sec. 6.1.
    """
    check_weights(weights)
    check_classes(classes)
    reduction = _check_reduction(reduction)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"`depth` must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110...), received {depth!r}."
        )
    inputs, data_format = image_input(input_shape, 32, min_size=4, channels=None)
    x = apply_conv_bn_act(inputs, 16, 3, "conv1", data_format)
    n = (depth - 2) // 6
    x = resnet_stages(
        x, "basic", (n, n, n), (16, 32, 64), (1, 2, 2), data_format, reduction=reduction
    )[-1]
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
