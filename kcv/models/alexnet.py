"""AlexNet: the paper's two-GPU network and torchvision's single-tower variant.

Krizhevsky, Sutskever, Hinton. "ImageNet Classification with Deep
Convolutional Neural Networks". NeurIPS 2012.
https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks
Krizhevsky. "One weird trick for parallelizing convolutional neural
networks". 2014. https://arxiv.org/abs/1404.5997 (torchvision's variant).

Official models: BVLC Caffe ``models/bvlc_alexnet/train_val.prototxt`` (the
paper's, grouped convolutions for the two GPUs) and torchvision
``models/alexnet.py``.
"""

import keras

from kcv import _validation
from kcv.layers import Conv2D
from kcv.layers import LocalResponseNormalization
from kcv.layers import MaxPooling2D
from kcv.models.common import CONVENTIONS
from kcv.models.common import image_input
from kcv.models.common import model_inputs
from kcv.models.vgg import features_top
from kcv.models.vgg import fully_connected_top

VARIANTS = ("paper", "torchvision")
# (filters, kernel, stride, groups) of conv1-conv5. Paper, Sec. 3.5 and Fig. 2:
# the kernels of conv2, conv4 and conv5 see only the half of the previous layer on
# their GPU (a convolution in 2 groups); conv3 and the dense layers see both.
_LAYERS = {
    "paper": ((96, 11, 4, 1), (256, 5, 1, 2), (384, 3, 1, 1), (384, 3, 1, 2), (256, 3, 1, 2)),
    "torchvision": ((64, 11, 4, 1), (192, 5, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)),
}
DEFAULT_SIZE = {"paper": 227, "torchvision": 224}
# The smallest side whose conv5 map survives the third 3x3/2 pooling: pool5 needs a 3x3
# input, so pool2 needs 7x7, pool1 15x15 after conv1, i.e. (n + 2·pad - 11) // 4 + 1 >= 15.
MIN_SIZE = {"paper": 67, "torchvision": 63}


def _max_pool(x, data_format, name):
    """Overlapping max pooling, 3x3 with stride 2 (Sec. 3.4), no padding."""
    return MaxPooling2D(3, strides=2, data_format=data_format, name=name)(x)


def AlexNet(
    variant="paper",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    dropout=0.5,
    fc_units=4096,
    name=None,
    convention="keras",
):
    """AlexNet: five convolutions, three overlapping max pools and three dense layers.

    ``variant="paper"`` (Sec. 3, Fig. 2, on 227x227 images): ``conv 11x11/4
    (96) + ReLU -> LRN -> max pool 3x3/2 -> conv 5x5 (256, 2 groups) + ReLU
    -> LRN -> max pool -> conv 3x3 (384) + ReLU -> conv 3x3 (384, 2 groups)
    + ReLU -> conv 3x3 (256, 2 groups) + ReLU -> max pool -> dense 4096 +
    ReLU -> dropout -> dense 4096 + ReLU -> dropout -> dense classes``. The
    paper's two-GPU split is a grouped convolution (``groups=2``) in conv2,
    conv4 and conv5, as in BVLC's ``bvlc_alexnet``; the normalization is
    :class:`kcv.layers.LocalResponseNormalization` with the paper's ``k=2,
    n=5, alpha=1e-4, beta=0.75`` (Sec. 3.3) after the ReLU. 9,216 = 6·6·256
    features reach the first dense layer: 60,965,224 trainable parameters
    for 1000 classes (the paper's "60 million").

    ``variant="torchvision"`` (torchvision's ``alexnet``, from "One weird
    trick", on 224x224 images): 64, 192, 384, 256 and 256 filters, conv1
    padded by 2, no grouping and no LRN, dropout before the two hidden dense
    layers: 61,100,840 parameters for 1000 classes, torchvision's count.
    ``kcv.analysis.count_macs`` gives 0.714 GMACs at 224x224,
    torchvision's 0.714 "GFLOPS" (MACs of convolution and dense layers).

    Input sizes: the last feature map is pooled to 6x6 by an adaptive
    average pool (torchvision's ``AdaptiveAvgPool2d((6, 6))``; the identity
    at the default sizes 227 and 224), so other inputs of known size keep
    the same dense layers, where the pool is a plain layer: a pool5 map of
    1 pixel (inputs of 67 to 98 pixels in the paper's network, 63 to 94 in
    torchvision's) is repeated, one of ``6m`` pixels averaged in ``m x m``
    windows; other sizes raise a ``ValueError`` naming ``input_shape``
    (:func:`kcv.models.vgg.fully_connected_top`). Inputs smaller than 67x67 (paper; torchvision: 63x63, its
    ``min_size``) leave nothing after pool5 and are refused. Differences from
    the paper: padding follows BVLC's prototxt (conv2 "same" 5x5, conv3-5
    "same" 3x3, conv1 none), the adaptive pool, and no PCA colour
    augmentation or test-time crops (data, not the model).

    ``convention`` (``"keras"`` or ``"torchvision"``, the argument every
    model with torchvision weights takes, see
    :func:`kcv.models.common.convention_options`) changes nothing here:
    AlexNet has no BN, its strided layers (conv1, the pools) pad
    explicitly or not at all, and its stride-1 "same" convolutions pad
    ``(k - 1) / 2`` on both sides, as PyTorch's. The torchvision variant
    gives torchvision's logits with :func:`kcv.weights.load_torchvision`
    under either.

    Args:
        variant: str. ``"paper"`` or ``"torchvision"``.
        include_top: bool. Whether to end with the dense classifier.
        weights: None. kcv builds models untrained.
        input_tensor: symbolic tensor or None. Image tensor to build on.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 67 (paper) or 63 (torchvision),
            known when ``include_top``;
            None means 227x227 (paper) or 224x224 (torchvision) RGB.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classes: int. Number of classes.
        classifier_activation: str, callable or None. None returns logits.
        dropout: float in [0, 1). Dropout of the two hidden dense layers.
        fc_units: int. Width of the two hidden dense layers (4096; smaller
            for a quick experiment, not from the paper).
        name: str or None. Model name; None gives ``"alexnet"`` or
            ``"alexnet_torchvision"``.
        convention: str. ``"keras"`` (default) or ``"torchvision"``; the
            same network either way (above).

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the 256-channel
        pool5 features with ``include_top=False``.

    Raises:
        ValueError: naming ``variant``, ``input_shape`` (too small) or
            another argument.

    Example:

    >>> import kcv
    >>> model = kcv.models.AlexNet(include_top=False)
    >>> model.output_shape
    (None, 6, 6, 256)

    Reference:
        Krizhevsky et al., ImageNet Classification with Deep Convolutional
        Neural Networks, NeurIPS 2012, Sec. 3-4, Fig. 2; torchvision
        ``models/alexnet.py``.
    """
    _validation.no_weights(weights)
    variant = _validation.one_of("variant", variant, VARIANTS)
    _validation.boolean("include_top", include_top)
    _validation.positive_int("classes", classes)
    _validation.activation("classifier_activation", classifier_activation)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    _validation.positive_int("fc_units", fc_units)
    _validation.one_of("convention", convention, CONVENTIONS)
    inputs, data_format = image_input(
        input_shape,
        DEFAULT_SIZE[variant],
        min_size=MIN_SIZE[variant],
        channels=None,
        require_size=include_top,
        input_tensor=input_tensor,
    )
    paper = variant == "paper"
    x = inputs
    if not paper:
        x = keras.layers.ZeroPadding2D(2, data_format=data_format, name="conv1_pad")(x)
    for index, (filters, kernel, stride, groups) in enumerate(_LAYERS[variant], start=1):
        x = Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="valid" if index == 1 else "same",
            groups=groups,
            activation="relu",
            data_format=data_format,
            name=f"conv{index}",
        )(x)
        if paper and index in (1, 2):
            x = LocalResponseNormalization(data_format=data_format, name=f"norm{index}")(x)
        if index in (1, 2, 5):
            x = _max_pool(x, data_format, f"pool{index}")
    if include_top:
        outputs = fully_connected_top(
            x,
            6,
            fc_units,
            dropout,
            classes,
            classifier_activation,
            data_format,
            not paper,
            tuple(inputs.shape[1:]),
        )
    else:
        outputs = features_top(x, pooling, data_format)
    if name is None:
        name = "alexnet" if paper else "alexnet_torchvision"
    return keras.Model(model_inputs(inputs), outputs, name=name)
