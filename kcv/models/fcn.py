"""FCN: fully convolutional networks with skip fusion (FCN-32s, FCN-16s, FCN-8s).

Long, Shelhamer, Darrell. "Fully Convolutional Networks for Semantic
Segmentation". CVPR 2015. https://arxiv.org/abs/1411.4038
Shelhamer, Long, Darrell. The same title, extended. TPAMI 2017.
https://arxiv.org/abs/1605.06211

Official code: shelhamer/fcn.berkeleyvision.org (Caffe; ``voc-fcn32s``,
``voc-fcn16s``, ``voc-fcn8s``, ``voc-fcn8s-atonce`` ``net.py``, and
``surgery.py`` for the bilinear kernels). torchvision's
``models/segmentation/fcn.py`` (``fcn_resnet50``) is a different network of
the same name, a dilated ResNet with a 3x3 head and no skips.
"""

import keras
import numpy as np

from kcv import _validation
from kcv.layers import Conv2D
from kcv.layers.layout import channel_axis
from kcv.layers.layout import spatial_axes
from kcv.models.common import image_input
from kcv.models.resnet import DEPTHS
from kcv.models.resnet import resnet_backbone
from kcv.models.vgg import vgg_features

BACKBONES = ("vgg16", "resnet18", "resnet50")
STRIDES = (32, 16, 8)
FEATURE_STRIDE = 32
DEFAULT_SIZE = 512


def bilinear_kernel(size):
    """The ``(size, size)`` bilinear interpolation kernel of FCN's ``surgery.upsample_filt``.

    ``(1 - |i - c| / f) · (1 - |j - c| / f)`` with ``f = ceil(size / 2)`` and
    centre ``c = f - 1`` (odd ``size``) or ``f - 0.5`` (even). A transposed
    convolution with stride ``s`` and this kernel of size ``2s`` upsamples by
    ``s`` with bilinear weights.
    """
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 else factor - 0.5
    taps = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(taps, taps)


@keras.saving.register_keras_serializable(package="kcv")
class BilinearKernel(keras.initializers.Initializer):
    """Initializer of a transposed convolution that upsamples each channel bilinearly.

    For a ``keras.layers.Conv2DTranspose`` kernel of shape ``(k, k, C_out,
    C_in)``: :func:`bilinear_kernel` ``(k)`` from input channel ``c`` to
    output channel ``c`` and zero between different channels (FCN's
    ``surgery.interp``; ``C_in = 1`` feeds every output channel). With
    ``kernel_size = 2·s``, ``strides = s`` and ``padding="same"`` the layer
    computes bilinear interpolation with half-pixel centres (Keras'
    ``UpSampling2D(interpolation="bilinear")``, PyTorch's
    ``align_corners=False``) away from the border; the outer ``s/2`` pixels
    fade towards the zero padding.

    Returns:
        The kernel, a tensor of ``shape`` and ``dtype``.

    Raises:
        ValueError: for a shape that is not ``(k, k, C, C)`` or ``(k, k, C, 1)``.

    Example:

    >>> import keras, kcv
    >>> up = keras.layers.Conv2DTranspose(
    ...     3, 4, strides=2, padding="same", use_bias=False,
    ...     kernel_initializer=kcv.models.fcn.BilinearKernel())
    >>> up(keras.ops.ones((1, 4, 4, 3))).shape
    (1, 8, 8, 3)

    Reference:
        Long et al., Fully Convolutional Networks for Semantic Segmentation,
        CVPR 2015, Sec. 3.3; fcn.berkeleyvision.org ``surgery.py``.
    """

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) != 4 or shape[0] != shape[1] or (shape[3] != shape[2] and shape[3] != 1):
            _validation.fail(
                "shape",
                "a transposed-convolution kernel (k, k, channels, channels) or (k, k, channels, 1)",
                shape,
            )
        size, _, out_channels, in_channels = shape
        mixing = np.eye(out_channels) if in_channels == out_channels else np.ones((out_channels, 1))
        kernel = bilinear_kernel(size)[:, :, None, None] * mixing[None, None]
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        return keras.ops.convert_to_tensor(kernel.astype(dtype), dtype=dtype)

    def get_config(self):
        return {}


def _upsample(x, classes, factor, trainable, data_format, name):
    """Transposed convolution by ``factor``, kernel ``2·factor``, bilinear initial weights, no bias."""
    return keras.layers.Conv2DTranspose(
        classes,
        2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearKernel(),
        data_format=data_format,
        trainable=trainable,
        name=name,
    )(x)


def _score(x, classes, data_format, name):
    """1x1 class-scoring convolution with bias, zero-initialised (paper, Sec. 4.3)."""
    return Conv2D(classes, 1, kernel_initializer="zeros", data_format=data_format, name=name)(x)


def FCN(
    input_shape,
    classes,
    backbone="vgg16",
    stride=32,
    weights=None,
    classifier_activation=None,
    dropout=0.5,
    fc_units=4096,
    name=None,
):
    """FCN-32s, 16s and 8s: a classification network made convolutional, with skip fusion.

    The classification network loses its classifier, its dense layers become
    convolutions, a 1x1 convolution scores ``classes`` on its stride-32
    features, and transposed convolutions upsample the scores back to the
    input (paper, Sec. 3-4, Fig. 3):

    * ``stride=32`` (FCN-32s): ``score_fr`` upsampled by 32 (``upscore32``);
    * ``stride=16`` (FCN-16s): ``score_fr`` upsampled by 2 (``upscore2``)
      plus ``score_pool4`` (a 1x1 scoring convolution on the stride-16
      features), the sum upsampled by 16 (``upscore16``);
    * ``stride=8`` (FCN-8s): that sum upsampled by 2 (``upscore_pool4``)
      plus ``score_pool3`` (on the stride-8 features), upsampled by 8
      (``upscore8``).

    Backbones: ``"vgg16"`` (the paper's): VGG-16's five blocks
    (:func:`kcv.models.vgg.vgg_features`, with conv biases, no BN), then
    ``fc6`` (7x7 convolution, ``fc_units`` = 4096 channels, ReLU, dropout)
    and ``fc7`` (1x1, 4096, ReLU, dropout), VGG's dense layers
    convolutionalised (their weights are the dense ones reshaped); the skips
    come from ``block4_pool`` and ``block3_pool`` (pool4, pool3).
    ``"resnet18"``, ``"resnet50"``: :func:`kcv.models.resnet.resnet_backbone`
    (torchvision's layout); ResNets have no hidden dense layers, so the
    scores come straight from the last stage, and the skips from the
    stride-16 and stride-8 stages (``conv4``, ``conv3``), fused the same way.

    Choices, each from the paper or the official code: the classic
    staged-training variant of the fusion (``voc-fcn16s``, ``voc-fcn8s``,
    a plain sum), not the "at-once" one that scales pool4 by 0.01 and pool3
    by 0.0001 (``voc-fcn8s-atonce``, PAMI Sec. 4.2); the 2x upsamplings are
    initialised to bilinear interpolation (:class:`BilinearKernel`) and
    learned (CVPR Sec. 4.2; the released prototxts later froze them), the
    final upsampling is fixed to bilinear interpolation (non-trainable,
    CVPR Sec. 4.3: "the final layer deconvolutional filters are fixed to
    bilinear interpolation"); transposed convolutions have no bias; every
    class-scoring convolution (``score_fr``, ``score_pool4``,
    ``score_pool3``) is zero-initialised (Sec. 4.3), so an untrained FCN
    outputs zeros. Difference from the official code: "same" padding
    throughout instead of padding conv1_1 by 100 and cropping the upsampled
    scores (``crop`` layers): the score maps align with the image by
    construction, which requires sides that are multiples of 32.

    Trainable parameters, 21 classes (PASCAL VOC), ``c = 21``:
    VGG-16 through fc7 134,260,544 (torchvision ``vgg16`` 138,357,544 less
    its last dense layer 4,097,000) + ``score_fr`` ``4096·c + c`` = 86,037:
    FCN-32s 134,346,581; + ``upscore2`` ``4·4·c·c`` = 7,056 + ``score_pool4``
    ``512·c + c`` = 10,773: FCN-16s 134,364,410; + ``upscore_pool4`` 7,056 +
    ``score_pool3`` ``256·c + c`` = 5,397: FCN-8s 134,376,863. The fixed
    final upsampling holds ``(2s)²·c²`` non-trainable weights (1,806,336,
    451,584, 112,896). ResNet-18: features 11,176,512, 32s 11,187,285, 16s
    11,199,738, 8s 11,209,503; ResNet-50: features 23,508,032, 32s
    23,551,061, 16s 23,579,642, 8s 23,597,471.

    Args:
        input_shape: tuple or None. ``(H, W, C)`` (``(C, H, W)`` in
            ``channels_first``); known H and W must be multiples of 32 (>= 32).
            None means 512x512 RGB.
        classes: int. Number of classes (score channels).
        backbone: str. ``"vgg16"``, ``"resnet18"`` or ``"resnet50"``.
        stride: int. 32, 16 or 8: FCN-32s, FCN-16s, FCN-8s.
        weights: None. kcv builds models untrained.
        classifier_activation: str, callable or None. None (default) returns
            the scores; ``"softmax"`` acts over the channel axis.
        dropout: float in [0, 1). Dropout after fc6 and fc7 (VGG-16).
        fc_units: int. Channels of fc6 and fc7 (VGG-16 only: 4096; smaller
            for a quick experiment, not from the paper).
        name: str or None. Model name; None gives ``"fcn{stride}s_{backbone}"``.

    Returns:
        A ``keras.Model`` from images to ``(B, H, W, classes)`` scores
        (``(B, classes, H, W)`` in ``channels_first``), output layer named
        ``"segmentation"``.

    Raises:
        ValueError: naming ``backbone``, ``stride``, ``input_shape`` (not a
            multiple of 32, or too small) or another argument.

    Example:

    >>> import kcv
    >>> model = kcv.models.FCN((64, 64, 3), classes=5, backbone="resnet18", stride=8)
    >>> model.output_shape
    (None, 64, 64, 5)

    Reference:
        Long et al., Fully Convolutional Networks for Semantic Segmentation,
        CVPR 2015, Sec. 3-4, Fig. 3; Shelhamer et al., TPAMI 2017, Sec. 4;
        https://github.com/shelhamer/fcn.berkeleyvision.org.
    """
    _validation.no_weights(weights)
    backbone = _validation.one_of("backbone", backbone, BACKBONES)
    stride = _validation.one_of("stride", stride, STRIDES)
    _validation.positive_int("classes", classes)
    _validation.activation("classifier_activation", classifier_activation)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    _validation.positive_int("fc_units", fc_units)
    if backbone != "vgg16" and fc_units != 4096:
        _validation.fail(
            "fc_units",
            f"4096 for backbone={backbone!r} (it is the width of fc6/fc7 of VGG-16)",
            fc_units,
        )
    inputs, data_format = image_input(
        input_shape, DEFAULT_SIZE, min_size=FEATURE_STRIDE, channels=None
    )
    sides = [inputs.shape[axis] for axis in spatial_axes(data_format)]
    if any(side is not None and side % FEATURE_STRIDE for side in sides):
        _validation.fail(
            "input_shape",
            f"a shape with height and width divisible by {FEATURE_STRIDE} (the stride of the "
            "backbone's last features, upsampled back to the input size)",
            tuple(inputs.shape[1:]),
        )
    if backbone == "vgg16":
        _, _, pool3, pool4, pool5 = vgg_features(inputs, 16, False, data_format)
        x = pool5
        for index, kernel in ((6, 7), (7, 1)):
            x = Conv2D(
                fc_units,
                kernel,
                padding="same",
                activation="relu",
                data_format=data_format,
                name=f"fc{index}",
            )(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"drop{index}")(x)
        skip16, skip8, features = pool4, pool3, x
    else:
        block, depths = DEPTHS[int(backbone[len("resnet") :])]
        _, skip8, skip16, features = resnet_backbone(inputs, data_format, depths, block)
    score = _score(features, classes, data_format, "score_fr")
    if stride < 32:
        score = keras.layers.Add(name="fuse_pool4")(
            [
                _upsample(score, classes, 2, True, data_format, "upscore2"),
                _score(skip16, classes, data_format, "score_pool4"),
            ]
        )
    if stride < 16:
        score = keras.layers.Add(name="fuse_pool3")(
            [
                _upsample(score, classes, 2, True, data_format, "upscore_pool4"),
                _score(skip8, classes, data_format, "score_pool3"),
            ]
        )
    score = _upsample(score, classes, stride, False, data_format, f"upscore{stride}")
    if classifier_activation == "softmax":
        outputs = keras.layers.Softmax(axis=channel_axis(data_format), name="segmentation")(score)
    else:
        outputs = keras.layers.Activation(classifier_activation or "linear", name="segmentation")(
            score
        )
    if name is None:
        name = f"fcn{stride}s_{backbone}"
    return keras.Model(inputs, outputs, name=name)
