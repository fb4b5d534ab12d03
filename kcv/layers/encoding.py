"""The Encoding layer and the Context Encoding module (EncNet).

Zhang, Xue, Dana. "Deep TEN: Texture Encoding Network". CVPR 2017 (the
Encoding layer). https://arxiv.org/abs/1612.02844
Zhang et al. "Context Encoding for Semantic Segmentation". CVPR 2018
(Context Encoding Module, SE-loss). https://arxiv.org/abs/1803.08904
Official code: PyTorch-Encoding ``encoding/nn/encoding.py`` (``Encoding``)
and ``encoding/models/sseg/encnet.py`` (``EncModule``).
"""

import math

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.normalization import BatchNormalization


@keras.saving.register_keras_serializable(package="kcv")
class Encoding(keras.layers.Layer):
    """Residual encoding: K codewords summarise a set of N feature vectors.

    For features ``x_i ∈ R^C`` (the pixels of a feature map), codewords
    ``c_k`` and smoothing factors ``s_k`` (EncNet, Eq. 1):

    * residuals ``r_ik = x_i - c_k``;
    * soft assignment ``a_ik = softmax_k(-s_k ||r_ik||²)``;
    * encoding ``e_k = Σ_i a_ik r_ik``.

    Sign convention: as in the official code, the layer stores
    ``scale = -s`` (initialised uniform in ``[-1, 0)``) and computes
    ``softmax_k(scale_k ||r_ik||²)``, so weights port from PyTorch-Encoding
    unchanged. Codewords are initialised uniform in ``±1/sqrt(K·C)`` (also
    the official code's).

    Memory is ``O(B·N·K + B·K·C)``: distances come from
    ``||x||² - 2 x·c + ||c||²`` and the encoding from ``Aᵀ X - (Σ_i a_ik) c_k``,
    never the ``B×N×K×C`` residual tensor. Distances, softmax and
    aggregation run in float32 under mixed precision (float16 overflows);
    the output has the layer's compute dtype.

    Args:
        num_codes: int. Number of codewords ``K``.
        data_format: str or None. Layout of a 4D input; None reads
            ``keras.config.image_data_format()``. A 3D input is ``(B, N, C)``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        ``(B, K, C)``: one aggregated residual per codeword.

    Example:

    >>> import numpy as np, kcv
    >>> enc = kcv.layers.Encoding(num_codes=32)
    >>> enc(np.ones((2, 8, 8, 64), "float32")).shape
    (2, 32, 64)
    >>> enc.count_params()  # K·C codewords + K scales
    2080

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        Sec. 3.1; PyTorch-Encoding ``encoding/nn/encoding.py``.
    """

    def __init__(self, num_codes=32, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.num_codes = _validation.positive_int("num_codes", num_codes)
        self.data_format = _validation.data_format(data_format)

    def _channels(self, input_shape):
        if len(input_shape) == 4:
            return _validation.image_shape(self, input_shape, self.data_format)
        if len(input_shape) != 3 or input_shape[-1] is None:
            _validation.fail(
                "Encoding input",
                "a 4D image tensor or a 3D tensor (batch, N, channels) with known channels",
                tuple(input_shape),
            )
        return input_shape[-1]

    def build(self, input_shape):
        channels = self._channels(input_shape)
        bound = 1.0 / math.sqrt(self.num_codes * channels)
        self.codewords = self.add_weight(
            name="codewords",
            shape=(self.num_codes, channels),
            initializer=keras.initializers.RandomUniform(-bound, bound),
        )
        self.scale = self.add_weight(
            name="scale",
            shape=(self.num_codes,),
            initializer=keras.initializers.RandomUniform(-1.0, 0.0),
        )

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if len(inputs.shape) == 4:
            if self.data_format == "channels_first":
                x = ops.transpose(x, (0, 2, 3, 1))
            x = ops.reshape(x, (ops.shape(x)[0], -1, x.shape[-1]))
        codes = ops.cast(self.codewords, "float32")
        scale = ops.cast(self.scale, "float32")
        # ||x_i - c_k||² = ||x_i||² - 2 x_i·c_k + ||c_k||²,   (B, N, K)
        distances = (
            ops.sum(ops.square(x), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(x, ops.transpose(codes))
            + ops.sum(ops.square(codes), axis=-1)
        )
        assignment = ops.softmax(distances * scale, axis=-1)
        # e_k = Σ_i a_ik x_i - (Σ_i a_ik) c_k,   (B, K, C)
        encoded = (
            ops.matmul(ops.transpose(assignment, (0, 2, 1)), x)
            - ops.expand_dims(ops.sum(assignment, axis=1), -1) * codes
        )
        return ops.cast(encoded, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_codes, self._channels(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update({"num_codes": self.num_codes, "data_format": self.data_format})
        return config


@keras.saving.register_keras_serializable(package="kcv")
class ContextEncoding(keras.layers.Layer):
    """Context Encoding Module: a global context gate learned by an Encoding layer.

    ``x -> 1x1 conv + BN + ReLU -> Encoding(K) -> BN over codewords -> ReLU
    -> mean over K = e``; then ``γ = sigmoid(W e + b)`` scales the channels:
    ``y = relu(x + x·γ)`` (EncNet, Sec. 3.2 and Fig. 2; the residual form
    ``x + x·γ`` is the official code's). With ``se_classes`` the module also
    returns SE-loss logits ``W_se e + b_se`` (one per class): the
    Semantic Encoding loss (:class:`kcv.losses.SELoss`) trains them to
    predict which classes appear in the image. PyTorch-Encoding's
    ``EncModule`` on 512 channels with K = 32 has ``512·512 + 2·512 +
    (32·512 + 32) + 2·32 + (512·512 + 512) = 542,304`` parameters without its
    SE head, as this layer does.

    Args:
        num_codes: int. Codewords ``K`` of the Encoding layer (paper: 32).
        se_classes: int or None. Number of classes of the SE-loss head; None
            for no head (the layer then returns ``y`` alone).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        ``y`` (the input's shape), or ``(y, se_logits)`` with ``se_logits``
        of shape ``(B, se_classes)``.

    Example:

    >>> import numpy as np, kcv
    >>> enc = kcv.layers.ContextEncoding(num_codes=8, se_classes=5)
    >>> y, se_logits = enc(np.ones((2, 8, 8, 16), "float32"))
    >>> tuple(y.shape), tuple(se_logits.shape)
    ((2, 8, 8, 16), (2, 5))

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        Sec. 3.2-3.3; PyTorch-Encoding ``encoding/models/sseg/encnet.py``.
    """

    def __init__(self, num_codes=32, se_classes=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.num_codes = _validation.positive_int("num_codes", num_codes)
        if se_classes is not None:
            _validation.positive_int("se_classes", se_classes)
        self.se_classes = se_classes
        self.data_format = _validation.data_format(data_format)

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        policy = self.dtype_policy
        self.reduce = conv_bn.conv_bn_act(self, channels, 1, "conv")
        conv_bn.build_chain(self.reduce, input_shape)
        self.encoding = Encoding(
            self.num_codes, data_format=self.data_format, dtype=policy, name="encoding"
        )
        self.encoding.build(input_shape)
        self.codeword_bn = BatchNormalization(axis=1, dtype=policy, name="codeword_bn")
        self.codeword_bn.build((input_shape[0], self.num_codes, channels))
        self.gate = keras.layers.Dense(channels, activation="sigmoid", dtype=policy, name="gate")
        self.gate.build((input_shape[0], channels))
        self.se_head = None
        if self.se_classes is not None:
            self.se_head = keras.layers.Dense(self.se_classes, dtype=policy, name="se_logits")
            self.se_head.build((input_shape[0], channels))

    def call(self, inputs, training=None):
        encoded = self.encoding(conv_bn.call_chain(self.reduce, inputs, training=training))
        encoded = ops.relu(self.codeword_bn(encoded, training=training))
        context = ops.mean(encoded, axis=1)
        gamma = self.gate(context)
        outputs = ops.relu(inputs + inputs * layout.per_channel(gamma, self.data_format))
        if self.se_head is None:
            return outputs
        return outputs, self.se_head(context)

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        if self.se_classes is None:
            return tuple(input_shape)
        return tuple(input_shape), (input_shape[0], self.se_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_codes": self.num_codes,
                "se_classes": self.se_classes,
                "data_format": self.data_format,
            }
        )
        return config
