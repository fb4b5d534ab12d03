"""Squeeze-and-Excitation ResNets (SENet): SE-ResNet-50 and the CIFAR ResNet.

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

Both are :mod:`kcv.models.resnet` networks whose blocks get a
:class:`kcv.layers.SqueezeExcite` as their ``attention`` (on the residual
branch, before the addition).
"""

import keras

from kcv import _validation
from kcv.layers import SqueezeExcite
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.models.common import classifier
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.resnet import resnet_backbone
from kcv.models.resnet import resnet_stages


def _check_reduction(reduction):
    if reduction is not None:
        _validation.positive_int("reduction", reduction)
    return reduction


def squeeze_excite(reduction, data_format):
    """The ``attention`` factory of an SE-ResNet: an SE block in every residual block.

    Args:
        reduction: int or None. SE reduction ratio; None gives no factory
            (the plain ResNet).
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A callable ``(stage, block) -> kcv.layers.SqueezeExcite`` named
        ``"se"``, or None.
    """
    if reduction is None:
        return None
    return lambda stage, block: SqueezeExcite(reduction, data_format=data_format, name="se")


def SEResNet50(
    include_top=True,
    weights=None,
    input_shape=None,
    classes=1000,
    pooling=None,
    classifier_activation="softmax",
    reduction=16,
    convention="keras",
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
        convention: str. ``"keras"`` (default) or ``"torchvision"``: padding
            and BN epsilon (:func:`kcv.models.common.convention_options`);
            ``"torchvision"`` is timm's arithmetic, with which
            :func:`kcv.weights.load_timm` loads timm's ``seresnet50``.
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
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    reduction = _check_reduction(reduction)
    inputs, data_format = image_input(input_shape, 224, min_size=32, channels=None)
    x = resnet_backbone(
        inputs,
        data_format,
        attention=squeeze_excite(reduction, data_format),
        **convention_options(convention),
    )[-1]
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
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    reduction = _check_reduction(reduction)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        _validation.fail("depth", "6n + 2 with n >= 1 (20, 32, 44, 56, 110...)", depth)
    inputs, data_format = image_input(input_shape, 32, min_size=4, channels=None)
    x = apply_conv_bn_act(inputs, 16, 3, "conv1", data_format)
    n = (depth - 2) // 6
    x = resnet_stages(
        x,
        "basic",
        (n, n, n),
        (16, 32, 64),
        (1, 2, 2),
        data_format,
        attention=squeeze_excite(reduction, data_format),
    )[-1]
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
