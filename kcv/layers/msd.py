"""The layers of the Multi-Scale DenseNet (MSDNet).

An MSDNet keeps feature maps at S scales side by side (scale 0 the finest,
each next one half the resolution) from its first layer on, so that a
classifier can be attached to the coarsest scale after any block and the
network can stop early on easy images. Its layers take and return *lists* of
per-scale tensors, finest first:

* :class:`MSDFirstLayer` makes the S scales from the image;
* :class:`MSDDenseLayer` grows every scale densely, from the same scale and
  from the next finer one;
* :class:`MSDTransition` compresses the channels of every scale (1x1);
* :class:`MSDClassifier` is an exit: a small convolutional head on the
  coarsest scale.

Channel counts follow the official code: a network-wide base count ``n`` is
multiplied per scale by ``growth_factor[s]``, so scale ``s`` of a layer with
base ``n`` has ``n * growth_factor[s]`` channels.

Reference:
    Huang, Chen, Li, Wu, van der Maaten, Weinberger. "Multi-Scale Dense
    Networks for Resource Efficient Image Classification". ICLR 2018.
    https://arxiv.org/abs/1703.09844 — official PyTorch code:
    https://github.com/kalviny/MSDNet-PyTorch, ``models/msdnet.py``.
"""

import itertools

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.normalization import BatchNormalization
from kcv.layers.pooling import MaxPooling2D


def _factors(argument, value):
    """A non-empty tuple of positive ints (one per scale)."""
    return _validation.int_sequence(argument, value)


def _scale_shapes(layer, input_shape):
    """Checks a list of per-scale 4D shapes; returns it as a list of tuples."""
    if (
        not isinstance(input_shape, (tuple, list))
        or not input_shape
        or not all(isinstance(s, (tuple, list)) for s in input_shape)
    ):
        _validation.fail(
            f"{type(layer).__name__} input",
            "a list of per-scale tensors (finest first)",
            input_shape,
        )
    shapes = [tuple(s) for s in input_shape]
    if len(shapes) > len(layer.growth_factor):
        _validation.fail(
            "growth_factor",
            f"a sequence with one factor per input scale ({len(shapes)} inputs)",
            layer.growth_factor,
        )
    for shape in shapes:
        _validation.image_shape(layer, shape, layer.data_format)
    return shapes


def _spatial(shape, data_format):
    return tuple(shape[axis] for axis in layout.spatial_axes(data_format))


def _with_channels(shape, channels, data_format):
    axis = layout.channel_axis(data_format)
    shape = list(shape)
    shape[axis] = channels
    return tuple(shape)


def _concat_shape(shape, extra_channels, data_format):
    axis = layout.channel_axis(data_format)
    return _with_channels(shape, shape[axis] + extra_channels, data_format)


def _halved(shape, data_format):
    """Spatial sizes after a "same" stride-2 convolution."""
    return layout.same_conv_output_shape(
        shape, shape[layout.channel_axis(data_format)], (2, 2), data_format
    )


def _built(layer):
    if not layer.built:
        _validation.fail(
            type(layer).__name__, "a built layer (call it on its input first)", layer.name
        )


@keras.saving.register_keras_serializable(package="kcv")
class MSDFirstLayer(keras.layers.Layer):
    """MSDNet's first layer: the image at S scales.

    Scale 0 is the stem: a 3x3 convolution (``stem="cifar"``) or a 7x7
    stride-2 convolution and 3x3 stride-2 max pooling (``stem="imagenet"``);
    each coarser scale ``s`` is a 3x3 stride-2 convolution of scale ``s-1``.
    Every convolution is followed by BN and ReLU and has no bias, except the
    ImageNet stem's 7x7 convolution, which keeps one as in the official code
    (a plain ``nn.Conv2d``, whose ``bias`` defaults to True: ``filters`` more
    parameters). Scale ``s`` has ``filters * growth_factor[s]`` channels. On
    the CIFAR stem with ``filters=16, growth_factor=(1, 2, 4)`` that is
    ``27·16 + 2·16`` + ``9·16·32 + 2·32`` + ``9·32·64 + 2·64`` = 23,696
    trainable parameters.

    Args:
        filters: int. Channels at scale 0 (the paper's and official code's
            ``nChannels``).
        growth_factor: tuple of int. Channel multiplier per scale; its length
            is the number of scales S (official ``grFactor``).
        stem: str. ``"cifar"`` or ``"imagenet"``.
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A list of S tensors, finest first.

    Example:

    >>> import numpy as np, kcv
    >>> first = kcv.layers.MSDFirstLayer(16, growth_factor=(1, 2, 4))
    >>> [tuple(t.shape) for t in first(np.ones((1, 32, 32, 3), "float32"))]
    [(1, 32, 32, 16), (1, 16, 16, 32), (1, 8, 8, 64)]

    Reference:
        Huang et al., MSDNet, ICLR 2018, Sec. 4 and Fig. 2 (first layer);
        official ``MSDNFirstLayer``. Difference: stride-2 convolutions and
        the max pooling use Keras' "same" padding (one extra row/column after
        the input on even sizes) where the official code pads one pixel on
        every side; shapes and parameter counts are the same.
    """

    def __init__(self, filters, growth_factor=(1, 2, 4), stem="cifar", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _validation.positive_int("filters", filters)
        self.growth_factor = _factors("growth_factor", growth_factor)
        self.stem = _validation.one_of("stem", stem, ("cifar", "imagenet"))
        self.data_format = _validation.data_format(data_format)

    def build(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        widths = [self.filters * f for f in self.growth_factor]
        if self.stem == "cifar":
            stem = conv_bn.conv_bn_act(self, widths[0], 3, "scale0_conv")
        else:
            # Biased 7x7/2 convolution, then BN, ReLU and max pooling (official stem).
            stem = conv_bn.conv_bn_act(
                self, widths[0], 7, "scale0_conv", strides=2, batch_norm=False, activation=None
            ) + [
                BatchNormalization(
                    axis=layout.channel_axis(self.data_format),
                    dtype=self.dtype_policy,
                    name="scale0_conv_bn",
                ),
                keras.layers.Activation("relu", dtype=self.dtype_policy, name="scale0_conv_act"),
                MaxPooling2D(
                    3,
                    2,
                    padding="same",
                    data_format=self.data_format,
                    dtype=self.dtype_policy,
                    name="scale0_pool",
                ),
            ]
        self.scale_layers = [stem] + [
            conv_bn.conv_bn_act(self, width, 3, f"scale{s}_conv", strides=2)
            for s, width in enumerate(widths[1:], start=1)
        ]
        shape = input_shape
        for layers in self.scale_layers:
            shape = conv_bn.build_chain(layers, shape)

    def call(self, inputs, training=None):
        outputs = []
        x = inputs
        for layers in self.scale_layers:
            x = conv_bn.call_chain(layers, x, training)
            outputs.append(x)
        return outputs

    def scale_parts(self):
        """What each output scale needs: ``{scale: (sublayers, input scales)}``.

        Scale ``s`` (an index into ``growth_factor``) is computed from scale
        ``s - 1`` of this layer, so it needs the convolutions of scales
        ``0 ... s``; it reads no input scale (the image is not a scale).
        :func:`kcv.adaptive.exit_costs` uses this for lazy evaluation.

        Returns:
            dict ``scale -> (list of sublayers, tuple of input scales)``.
        """
        _built(self)
        return {
            s: ([layer for chain in self.scale_layers[: s + 1] for layer in chain], ())
            for s in range(len(self.scale_layers))
        }

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.stem == "imagenet":
            shape = _halved(_halved(shape, self.data_format), self.data_format)
        shapes = []
        for s, factor in enumerate(self.growth_factor):
            if s:
                shape = _halved(shape, self.data_format)
            shape = _with_channels(shape, self.filters * factor, self.data_format)
            shapes.append(shape)
        return shapes

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "growth_factor": self.growth_factor,
            "stem": self.stem,
            "data_format": self.data_format,
        }


@keras.saving.register_keras_serializable(package="kcv")
class MSDDenseLayer(keras.layers.Layer):
    """One multi-scale dense layer: every scale gains new channels.

    The input holds the S' coarsest of the network's S scales (S' =
    ``len(inputs)``; scale indices ``S - S' ... S - 1`` into
    ``growth_factor``). Scale ``s`` gains ``g_s = growth_rate *
    growth_factor[s]`` channels, concatenated after its input (dense
    connectivity, paper Fig. 2 and Eq. in Sec. 4):

    * if a finer scale ``s-1`` is in the input: ``g_s // 2`` channels from a
      3x3 stride-2 convolution of scale ``s-1`` ("diagonal" connection) and
      ``g_s // 2`` from a 3x3 convolution of scale ``s`` ("horizontal"),
      in the order [input, strided, regular] of the official code;
    * at the finest input scale (no finer neighbour): ``g_s`` channels from a
      3x3 convolution of that scale.

    With ``bottleneck=True`` each of those convolutions is preceded by a 1x1
    convolution + BN + ReLU to ``min(C_in, bottleneck_factor[t] * C_out)``
    channels, where ``C_in``/``C_out`` are the channels entering/leaving that
    path and ``t`` is the scale it reads (the official code's rule
    ``nInner = min(nIn, bnWidth * nOut)``). Every convolution is followed by
    BN and ReLU, without bias.

    ``out_scales`` lower than the number of inputs by one drops the finest
    scale (the paper's network pruning): it then only feeds the strided path
    of the next scale.

    Args:
        growth_rate: int. New channels at scale 0 (official ``growthRate``).
        growth_factor: tuple of int. Channel multiplier per scale; length S.
        bottleneck_factor: tuple of int or None. Bottleneck width factor per
            scale (official ``bnFactor``), one per scale; None takes
            ``growth_factor``, as every configuration of the paper does.
        bottleneck: bool. Use the 1x1 bottlenecks.
        out_scales: int or None. Number of output scales: the number of
            inputs (None) or one fewer.
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A list of ``out_scales`` tensors, finest first, each with its input's
        spatial size and ``C_s + g_s`` channels.

    Example:

    >>> import numpy as np, kcv
    >>> first = kcv.layers.MSDFirstLayer(16)
    >>> dense = kcv.layers.MSDDenseLayer(6)
    >>> scales = dense(first(np.ones((1, 32, 32, 3), "float32")))
    >>> [t.shape[-1] for t in scales]   # 16 + 6, 32 + 12, 64 + 24
    [22, 44, 88]

    Reference:
        Huang et al., MSDNet, ICLR 2018, Sec. 4 (Fig. 2, "dense
        connectivity", "network reduction"); official ``MSDNLayer``,
        ``ConvDownNormal``, ``ConvNormal`` and ``ConvBN``. Difference: the
        stride-2 convolutions use Keras' "same" padding (see
        :class:`MSDFirstLayer`).
    """

    def __init__(
        self,
        growth_rate,
        growth_factor=(1, 2, 4),
        bottleneck_factor=None,
        bottleneck=True,
        out_scales=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.growth_rate = _validation.positive_int("growth_rate", growth_rate)
        self.growth_factor = _factors("growth_factor", growth_factor)
        self.bottleneck_factor = (
            self.growth_factor
            if bottleneck_factor is None
            else _factors("bottleneck_factor", bottleneck_factor)
        )
        if len(self.bottleneck_factor) != len(self.growth_factor):
            _validation.fail(
                "bottleneck_factor",
                f"a sequence with one entry per scale, like `growth_factor` ({len(self.growth_factor)})",
                bottleneck_factor,
            )
        self.bottleneck = bool(bottleneck)
        self.out_scales = (
            None if out_scales is None else _validation.positive_int("out_scales", out_scales)
        )
        self.data_format = _validation.data_format(data_format)

    def _geometry(self, input_shape):
        """Checks the input; returns (shapes, first input scale, number of outputs)."""
        shapes = _scale_shapes(self, input_shape)
        outputs = len(shapes) if self.out_scales is None else self.out_scales
        if outputs not in (len(shapes), len(shapes) - 1) or outputs < 1:
            _validation.fail(
                "out_scales",
                f"the number of input scales ({len(shapes)}) or one fewer",
                self.out_scales,
            )
        for finer, coarser in itertools.pairwise(shapes):
            want = tuple(
                None if n is None else -(-n // 2) for n in _spatial(finer, self.data_format)
            )
            got = _spatial(coarser, self.data_format)
            if None not in want + got and want != got:
                _validation.fail(
                    f"{type(self).__name__} input",
                    "scales that each halve the previous height and width (rounded up)",
                    shapes,
                )
        return shapes, len(self.growth_factor) - len(shapes), outputs

    def _conv_path(self, in_channels, out_channels, strides, width_factor, name):
        layers = []
        if self.bottleneck:
            inner = min(in_channels, width_factor * out_channels)
            layers += conv_bn.conv_bn_act(self, inner, 1, f"{name}_bottleneck")
        return layers + conv_bn.conv_bn_act(self, out_channels, 3, f"{name}_conv", strides=strides)

    def build(self, input_shape):
        shapes, first, outputs = self._geometry(input_shape)
        axis = layout.channel_axis(self.data_format)
        # Per output scale j: the layer chains of its new channels and the
        # input scale each chain reads (j - 1: strided path, j: regular path).
        self.paths, self._sources = [], []
        for j in range(len(shapes) - outputs, len(shapes)):
            s = first + j
            growth = self.growth_rate * self.growth_factor[s]
            if j == 0:
                sources = [0]
                paths = [
                    self._conv_path(
                        shapes[0][axis], growth, 1, self.bottleneck_factor[s], f"scale{s}_normal"
                    )
                ]
            else:
                sources = [j - 1, j]
                paths = [
                    self._conv_path(
                        shapes[j - 1][axis],
                        growth // 2,
                        2,
                        self.bottleneck_factor[s - 1],
                        f"scale{s}_down",
                    ),
                    self._conv_path(
                        shapes[j][axis],
                        growth // 2,
                        1,
                        self.bottleneck_factor[s],
                        f"scale{s}_normal",
                    ),
                ]
            for source, layers in zip(sources, paths):
                conv_bn.build_chain(layers, shapes[source])
            self.paths.append(paths)
            self._sources.append(sources)
        self._first_output = len(shapes) - outputs
        self._inputs = len(shapes)

    def call(self, inputs, training=None):
        axis = layout.channel_axis(self.data_format)
        outputs = []
        for j, (paths, sources) in enumerate(
            zip(self.paths, self._sources), start=self._first_output
        ):
            new = [
                conv_bn.call_chain(layers, inputs[source], training)
                for layers, source in zip(paths, sources)
            ]
            outputs.append(ops.concatenate([inputs[j]] + new, axis=axis))
        return outputs

    def scale_parts(self):
        """What each output scale needs: ``{scale: (sublayers, input scales)}``.

        Output scale ``s`` (an index into ``growth_factor``) is its input
        scale ``s`` with the new channels of its paths concatenated, so it
        needs those paths' sublayers and input scales ``s`` and, for the
        strided path, ``s - 1``. :func:`kcv.adaptive.exit_costs` uses this
        for lazy evaluation.

        Returns:
            dict ``scale -> (list of sublayers, tuple of input scales)``.
        """
        _built(self)
        first = len(self.growth_factor) - self._inputs
        parts = {}
        for j, (paths, sources) in enumerate(
            zip(self.paths, self._sources), start=self._first_output
        ):
            reads = tuple(sorted({first + j, *(first + source for source in sources)}))
            parts[first + j] = ([layer for chain in paths for layer in chain], reads)
        return parts

    def compute_output_shape(self, input_shape):
        shapes, first, outputs = self._geometry(input_shape)
        result = []
        for j in range(len(shapes) - outputs, len(shapes)):
            growth = self.growth_rate * self.growth_factor[first + j]
            new = growth if j == 0 else 2 * (growth // 2)
            result.append(_concat_shape(shapes[j], new, self.data_format))
        return result

    def get_config(self):
        return {
            **super().get_config(),
            "growth_rate": self.growth_rate,
            "growth_factor": self.growth_factor,
            "bottleneck_factor": self.bottleneck_factor,
            "bottleneck": self.bottleneck,
            "out_scales": self.out_scales,
            "data_format": self.data_format,
        }


@keras.saving.register_keras_serializable(package="kcv")
class MSDTransition(keras.layers.Layer):
    """MSDNet's transition: a 1x1 convolution + BN + ReLU at every scale.

    Compresses the channels after the network drops a scale (paper Sec. 4,
    "network reduction", reduction factor θ = 0.5): scale ``s`` of the
    input (the S' coarsest of S scales, as in :class:`MSDDenseLayer`) is
    mapped to ``filters * growth_factor[s]`` channels, where the model sets
    ``filters = floor(θ · n)`` for a base channel count ``n``.

    Args:
        filters: int. Output channels at scale 0.
        growth_factor: tuple of int. Channel multiplier per scale; length S.
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A list with one tensor per input scale, sizes unchanged.

    Example:

    >>> import numpy as np, kcv
    >>> scales = [np.ones((1, 16, 16, 40), "float32"), np.ones((1, 8, 8, 80), "float32")]
    >>> [t.shape[-1] for t in kcv.layers.MSDTransition(20)(scales)]
    [40, 80]

    Reference:
        Huang et al., MSDNet, ICLR 2018, Sec. 4 and Appendix A; official
        ``MSDNet._build_transition``.
    """

    def __init__(self, filters, growth_factor=(1, 2, 4), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _validation.positive_int("filters", filters)
        self.growth_factor = _factors("growth_factor", growth_factor)
        self.data_format = _validation.data_format(data_format)

    def _widths(self, shapes):
        first = len(self.growth_factor) - len(shapes)
        return [self.filters * f for f in self.growth_factor[first:]]

    def build(self, input_shape):
        shapes = _scale_shapes(self, input_shape)
        first = len(self.growth_factor) - len(shapes)
        self.scale_layers = [
            conv_bn.conv_bn_act(self, width, 1, f"scale{first + j}_conv")
            for j, width in enumerate(self._widths(shapes))
        ]
        for layers, shape in zip(self.scale_layers, shapes):
            conv_bn.build_chain(layers, shape)

    def call(self, inputs, training=None):
        return [
            conv_bn.call_chain(layers, x, training) for layers, x in zip(self.scale_layers, inputs)
        ]

    def scale_parts(self):
        """What each output scale needs: ``{scale: (sublayers, input scales)}``.

        Output scale ``s`` is a 1x1 convolution of input scale ``s`` alone.
        :func:`kcv.adaptive.exit_costs` uses this for lazy evaluation.

        Returns:
            dict ``scale -> (list of sublayers, tuple of input scales)``.
        """
        _built(self)
        first = len(self.growth_factor) - len(self.scale_layers)
        return {first + j: (list(chain), (first + j,)) for j, chain in enumerate(self.scale_layers)}

    def compute_output_shape(self, input_shape):
        shapes = _scale_shapes(self, input_shape)
        return [
            _with_channels(shape, width, self.data_format)
            for shape, width in zip(shapes, self._widths(shapes))
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "growth_factor": self.growth_factor,
            "data_format": self.data_format,
        }


@keras.saving.register_keras_serializable(package="kcv")
class MSDClassifier(keras.layers.Layer):
    """An MSDNet exit: classifier on the coarsest scale.

    Two 3x3 stride-2 convolutions + BN + ReLU of ``filters`` channels, global
    average pooling and a dense layer to ``classes`` logits. The paper uses
    128 channels on CIFAR and keeps the input's channel count on ImageNet
    (``filters=None``). On a 64-channel coarsest scale with 10 classes:
    ``9·64·128 + 2·128 + 9·128·128 + 2·128 + 128·10 + 10`` = 222,986
    trainable parameters.

    Args:
        classes: int. Number of logits.
        filters: int or None. Channels of the two convolutions; None keeps
            the input's channel count (the ImageNet exits).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        ``(batch, classes)`` logits. The input may be the list of scales
        (the last, coarsest, one is used) or one tensor.

    Example:

    >>> import numpy as np, kcv
    >>> exit_ = kcv.layers.MSDClassifier(10)
    >>> exit_(np.ones((2, 8, 8, 64), "float32")).shape
    (2, 10)

    Reference:
        Huang et al., MSDNet, ICLR 2018, Appendix A ("classifiers"); official
        ``MSDNet._build_classifier_cifar`` / ``_build_classifier_imagenet``.
        Difference: global average pooling where the official code uses a
        2x2 average pool; both give the same value on the 2x2 maps of the
        paper's input sizes, and the global pool accepts any size.
    """

    def __init__(self, classes, filters=128, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.classes = _validation.positive_int("classes", classes)
        self.filters = None if filters is None else _validation.positive_int("filters", filters)
        self.data_format = _validation.data_format(data_format)

    @staticmethod
    def _coarsest(value):
        is_list = (
            isinstance(value, (tuple, list))
            and value
            and not isinstance(value[0], (int, type(None)))
        )
        return value[-1] if is_list else value

    def build(self, input_shape):
        shape = tuple(self._coarsest(input_shape))
        channels = _validation.image_shape(self, shape, self.data_format)
        width = channels if self.filters is None else self.filters
        self.head = (
            conv_bn.conv_bn_act(self, width, 3, "conv1", strides=2)
            + conv_bn.conv_bn_act(self, width, 3, "conv2", strides=2)
            + [
                keras.layers.GlobalAveragePooling2D(
                    data_format=self.data_format, dtype=self.dtype_policy, name="pool"
                ),
                keras.layers.Dense(self.classes, dtype=self.dtype_policy, name="logits"),
            ]
        )
        conv_bn.build_chain(self.head, shape)

    def call(self, inputs, training=None):
        return conv_bn.call_chain(self.head, self._coarsest(inputs), training)

    def compute_output_shape(self, input_shape):
        return (next(iter(self._coarsest(input_shape))), self.classes)

    def get_config(self):
        return {
            **super().get_config(),
            "classes": self.classes,
            "filters": self.filters,
            "data_format": self.data_format,
        }
