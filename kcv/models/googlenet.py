"""GoogLeNet (Inception v1) and its common CIFAR-10 variant.

Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich.
"Going Deeper with Convolutions". CVPR 2015. https://arxiv.org/abs/1409.4842

The paper's DistBelief code is not public. :func:`GoogLeNet` follows Table 1
and Sec. 5 of the paper, with the details they leave open taken from the BVLC
Caffe reproduction (``models/bvlc_googlenet/train_val.prototxt`` in
BVLC/caffe) and torchvision's ``models/googlenet.py`` (BN variant, auxiliary
classifiers); ``convention="torchvision"`` builds torchvision's network
itself, so that :func:`kcv.weights.load_torchvision` loads its weights.
:func:`GoogLeNetCIFAR` follows kuangliu/pytorch-cifar ``models/googlenet.py``,
the variant most CIFAR-10 tutorials train.
"""

import keras

from kcv import _validation
from kcv.layers import InceptionModule
from kcv.layers import MaxPooling2D
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.models.common import CONVENTIONS
from kcv.models.common import classifier
from kcv.models.common import image_input

# Table 1, one tuple per stage (3, 4, 5) of (module, (#1x1, #3x3 reduce, #3x3,
# #5x5 reduce, #5x5, pool proj)); a 3x3/2 max pooling separates the stages.
_STAGES = (
    (
        ("3a", (64, 96, 128, 16, 32, 32)),
        ("3b", (128, 128, 192, 32, 96, 64)),
    ),
    (
        ("4a", (192, 96, 208, 16, 48, 64)),
        ("4b", (160, 112, 224, 24, 64, 64)),
        ("4c", (128, 128, 256, 24, 64, 64)),
        ("4d", (112, 144, 288, 32, 64, 64)),
        ("4e", (256, 160, 320, 32, 128, 128)),
    ),
    (
        ("5a", (256, 160, 320, 32, 128, 128)),
        ("5b", (384, 192, 384, 48, 128, 128)),
    ),
)


def _max_pool(x, data_format, name, ceil_mode=False, pool_size=3):
    """Table 1's "max pool 3x3/2"; "same" padding halves the side, rounding up.

    ``ceil_mode=True`` is torchvision's ``MaxPool2d(pool_size, 2,
    ceil_mode=True)``, unpadded, whose last window may overhang the end: a
    ``ZeroPadding2D`` of one pixel at the end of each side (``name_pad``),
    then a "valid" pooling give its ``ceil((n - k) / 2) + 1`` windows for
    every side ``n``. The zeros change no maximum: the inputs follow a ReLU
    and every window holds a pixel of the map. (Keras' "same" gives the same
    windows on even sides only.)
    """
    if ceil_mode:
        x = keras.layers.ZeroPadding2D(
            ((0, 1), (0, 1)), data_format=data_format, name=f"{name}_pad"
        )(x)
    return MaxPooling2D(
        pool_size,
        strides=2,
        padding="valid" if ceil_mode else "same",
        data_format=data_format,
        name=name,
    )(x)


def _inception_stages(x, data_format, batch_norm, factorize_5x5, torchvision=False):
    """Inception stages 3-5 of Table 1; returns the output and every module's output.

    ``torchvision``: torchvision's modules (a 3x3 in the third branch) and
    pools (ceil mode; 2x2 before stage 5).
    """
    taps = {}
    for index, stage in enumerate(_STAGES):
        if index:
            x = _max_pool(
                x,
                data_format,
                f"pool{index + 2}",
                ceil_mode=torchvision,
                pool_size=2 if torchvision and index == 2 else 3,
            )
        for module, filters in stage:
            x = InceptionModule(
                *filters,
                batch_norm=batch_norm,
                factorize_5x5=factorize_5x5,
                wide_kernel=3 if torchvision else 5,
                data_format=data_format,
                name=f"inception_{module}",
            )(x)
            taps[module] = x
    return x, taps


def _auxiliary_classifier(
    x, classes, classifier_activation, data_format, batch_norm, name, torchvision=False
):
    """The side classifier of Sec. 5 attached to inception (4a) and (4d).

    Its pooling is the paper's 5x5/3 average (4x4 on a 14x14 map), or with
    ``torchvision`` torchvision's ``adaptive_avg_pool2d(x, (4, 4))`` (other
    windows: on 14x14 four of 4 pixels starting at 0, 3, 7 and 10).
    """
    if torchvision:
        pool = keras.layers.AdaptiveAveragePooling2D(
            4, data_format=data_format, name=f"{name}_pool"
        )
    else:
        pool = keras.layers.AveragePooling2D(
            5, strides=3, data_format=data_format, name=f"{name}_pool"
        )
    x = pool(x)
    x = apply_conv_bn_act(x, 128, 1, f"{name}_conv", data_format, batch_norm=batch_norm)
    x = keras.layers.Flatten(data_format=data_format, name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return keras.layers.Dense(
        classes, activation=classifier_activation, name=f"{name}_predictions"
    )(x)


def GoogLeNet(
    include_top=True,
    weights=None,
    input_shape=None,
    classes=1000,
    pooling=None,
    classifier_activation="softmax",
    batch_norm=None,
    aux_logits=False,
    convention="keras",
    name="googlenet",
):
    """GoogLeNet, the 22-layer Inception network of ILSVRC 2014 (Table 1).

    ``conv 7x7/2 (64) -> max pool 3x3/2 -> conv 1x1 (64) -> conv 3x3 (192)
    -> max pool -> inception 3a, 3b -> max pool -> 4a-4e -> max pool ->
    5a, 5b -> global average pool -> dropout 0.4 -> dense``. Every
    convolution is followed by ReLU; pooling is "same"-padded, so a 224x224
    image gives the paper's 112, 56, 28, 14 and 7 pixel maps.

    With ``batch_norm=False`` (the paper) convolutions carry a bias and there
    is no BN: 6,998,552 trainable parameters for 1000 classes (Table 1 rounds
    the modules and reports about 6.8M). ``batch_norm=True`` puts BN between
    every convolution (then bias-free) and its ReLU, as torchvision does:
    7,005,832 parameters (torchvision's 6,624,904 differs by using a 3x3
    where the paper has the 5x5).

    ``aux_logits=True`` adds the two auxiliary classifiers of Sec. 5 on the
    outputs of inception (4a) and (4d): ``average pool 5x5/3 -> conv 1x1
    (128) + ReLU -> dense 1024 + ReLU -> dropout 0.7 -> dense classes``
    (3,188,840 and 3,190,888 parameters at 224x224). The model then returns
    ``[main, aux1, aux2]``; the paper adds the auxiliary losses with weight
    0.3 during training and discards them at inference, e.g.
    ``model.compile(loss=[loss] * 3, loss_weights=[1.0, 0.3, 0.3])``. Their
    dense layer needs a known input size of at least 65 (4a must be 5x5).

    Differences from the paper: the local response normalisation after the
    first max pooling and after the 3x3 convolution is omitted (Keras has no
    LRN layer, and BN made it obsolete); padding is TensorFlow's "same"
    instead of Caffe's ceil-mode pooling (same map sizes at 224x224).

    ``convention="torchvision"`` builds torchvision's ``googlenet``, whose
    weights :func:`kcv.weights.load_torchvision` loads (the same logits on
    every backend): BN after every convolution (``batch_norm`` defaults to
    True; torchvision's ``BatchNorm2d(eps=0.001)``, Keras' epsilon), the
    first convolution padded 3 on both sides (PyTorch's ``padding=3``;
    Keras' "same" pads a stride-2 layer on an even side at the end only),
    the max pools in torchvision's ``ceil_mode`` (the last window may
    overhang the end: one pixel of zeros at the end of each side,
    ``pool1_pad``, then a "valid" pooling; zeros change no maximum after a
    ReLU), a 2x2 pool before stage 5 (torchvision's ``maxpool4``), the
    auxiliary classifiers' pool adaptive to 4x4 (``adaptive_avg_pool2d``),
    and in each Inception module a 3x3 where the paper has the 5x5
    (``InceptionModule(..., wide_kernel=3)``; a known torchvision slip, kept
    for its pretrained weights): 6,624,904 parameters, torchvision's count
    (13,004,888 with ``aux_logits``). The dropouts stay the paper's (0.4;
    torchvision's is 0.2; neither acts at inference). torchvision's
    pretrained model also re-normalises its input (``transform_input=True``),
    which the model does not: feed it images normalised with mean and std
    0.5, ``kcv.weights.preprocessing("GoogLeNet_Weights.IMAGENET1K_V1")``.

    Args:
        include_top: bool. Whether to end with the classifier (global
            average pooling, dropout 0.4, dense ``classes``).
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32 (65 with ``aux_logits``); None
            means 224x224 RGB.
        classes: int. Number of classes of the classifiers.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. Activation of the
            classifiers; None returns logits.
        batch_norm: bool or None. BN after every convolution (no conv
            biases); None means False under ``convention="keras"`` (the
            paper) and True under ``"torchvision"``.
        aux_logits: bool. Add the two auxiliary classifiers (needs
            ``include_top=True``).
        convention: str. ``"keras"`` (default): the paper's network with
            Keras' padding; ``"torchvision"``: torchvision's ``googlenet``
            (above).
        name: str. Model name.

    Returns:
        A ``keras.Model``: class scores ``(B, classes)``, the list of three
        with ``aux_logits``, or the features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.GoogLeNet(input_shape=(224, 224, 3))
    >>> model.count_params()
    6998552
    >>> kcv.analysis.count_params(kcv.models.GoogLeNet(convention="torchvision"))
    6624904

    Reference:
        Szegedy et al., Going Deeper with Convolutions, CVPR 2015, Sec. 5,
        Table 1 and Fig. 3.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    torchvision = _validation.one_of("convention", convention, CONVENTIONS) == "torchvision"
    batch_norm = torchvision if batch_norm is None else batch_norm
    if aux_logits and not include_top:
        _validation.fail(
            "aux_logits", "False when `include_top=False` (it adds classifiers)", aux_logits
        )
    inputs, data_format = image_input(
        input_shape, 224, min_size=65 if aux_logits else 32, channels=None, require_size=aux_logits
    )
    x = apply_conv_bn_act(
        inputs,
        64,
        7,
        "conv1",
        data_format,
        batch_norm=batch_norm,
        strides=2,
        padding="symmetric" if torchvision else "same",
    )
    x = _max_pool(x, data_format, "pool1", ceil_mode=torchvision)
    x = apply_conv_bn_act(x, 64, 1, "conv2_reduce", data_format, batch_norm=batch_norm)
    x = apply_conv_bn_act(x, 192, 3, "conv2", data_format, batch_norm=batch_norm)
    x = _max_pool(x, data_format, "pool2", ceil_mode=torchvision)
    x, taps = _inception_stages(x, data_format, batch_norm, False, torchvision)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation, dropout=0.4)
    if aux_logits:
        outputs = [outputs] + [
            _auxiliary_classifier(
                taps[module],
                classes,
                classifier_activation,
                data_format,
                batch_norm,
                f"aux{i}",
                torchvision,
            )
            for i, module in enumerate(("4a", "4d"), start=1)
        ]
    return keras.Model(inputs, outputs, name=name)


def GoogLeNetCIFAR(
    include_top=True,
    weights=None,
    input_shape=None,
    classes=10,
    pooling=None,
    classifier_activation="softmax",
    batch_norm=True,
    factorize_5x5=True,
    name="googlenet_cifar",
):
    """GoogLeNet for 32x32 images, as trained in most CIFAR-10 tutorials.

    The Inception stages 3-5 of Table 1 unchanged, on a stem for small
    images: a single ``conv 3x3 (192) + BN + ReLU`` with no downsampling, so
    stage 3 runs at 32x32, stage 4 at 16x16 and stage 5 at 8x8, followed by
    global average pooling and a dense layer.

    Source: kuangliu/pytorch-cifar ``models/googlenet.py``. Differences from
    :func:`GoogLeNet` (all from that source): the stem, no dropout, no
    auxiliary classifiers, and by default BN after every convolution with the
    5x5 of each module factorised into two 3x3 (BN-Inception, Ioffe and
    Szegedy 2015). Difference from the source: convolutions before BN have
    no bias (kcv's convention), so 6,158,346 trainable parameters for 10
    classes instead of its 6,166,250 (7,904 biases). ``batch_norm=False,
    factorize_5x5=False`` gives the paper's modules on this stem.

    Args:
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 4; None means 32x32 RGB.
        classes: int. Number of classes (CIFAR-10: 10).
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. None returns logits.
        batch_norm: bool. BN after every convolution (no conv biases).
        factorize_5x5: bool. Two 3x3 convolutions in place of each 5x5.
        name: str. Model name.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the features
        with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.GoogLeNetCIFAR(classes=10)
    >>> model.output_shape
    (None, 10)

    Reference:
        Szegedy et al., Going Deeper with Convolutions, CVPR 2015, Table 1;
        https://github.com/kuangliu/pytorch-cifar (models/googlenet.py).
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    inputs, data_format = image_input(input_shape, 32, min_size=4, channels=None)
    x = apply_conv_bn_act(inputs, 192, 3, "conv1", data_format, batch_norm=batch_norm)
    x, _ = _inception_stages(x, data_format, batch_norm, factorize_5x5)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
