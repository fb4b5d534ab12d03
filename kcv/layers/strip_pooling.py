"""Strip pooling: the strip pooling module (SPM) and mixed pooling module (MPM) of SPNet.

Hou, Zhang, Cheng, Feng. "Strip Pooling: Rethinking Spatial Pooling for Scene
Parsing". CVPR 2020. https://arxiv.org/abs/2003.13328
Official code: https://github.com/Andrew-Qibin/SPNet (``models/resnet.py``,
class ``SPBlock``: the SPM; ``models/customize.py``, class ``StripPooling``:
the MPM).

A strip pool averages a whole row or a whole column: ``ops.mean(...,
keepdims=True)`` gives it exactly, and broadcasting expands it back to
``H x W`` exactly (no resize), for any, even unknown, spatial size.
"""

import keras
import numpy as np
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.conv import Conv2D


def adaptive_average_pooling_matrix(input_size, output_size):
    """The ``(output_size, input_size)`` matrix of 1D adaptive average pooling.

    Row ``i`` averages the input bin ``[floor(i·n/m), ceil((i+1)·n/m))`` for
    ``n = input_size`` and ``m = output_size``: the bins of PyTorch's
    ``adaptive_avg_pool2d``. They cover the input, may overlap when ``n`` is
    not a multiple of ``m``, and repeat pixels when ``m > n``.

    Args:
        input_size: int >= 1. Length ``n`` of the pooled axis.
        output_size: int >= 1. Number ``m`` of bins.

    Returns:
        A float64 NumPy array of shape ``(output_size, input_size)`` whose rows
        sum to 1.
    """
    _validation.positive_int("input_size", input_size)
    _validation.positive_int("output_size", output_size)
    matrix = np.zeros((output_size, input_size))
    for i in range(output_size):
        start = (i * input_size) // output_size
        end = -(-((i + 1) * input_size) // output_size)  # ceil, in integers
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_average_pool2d(inputs, output_size, data_format=None):
    """2D adaptive average pooling to a fixed ``output_size``, as in PyTorch.

    Output pixel ``(i, j)`` is the mean of the input over rows
    ``[floor(i·H/P), ceil((i+1)·H/P))`` and columns
    ``[floor(j·W/Q), ceil((j+1)·W/Q))``. Computed as two matrix products with
    :func:`adaptive_average_pooling_matrix` (``A_H · X · A_Wᵀ`` per channel), so
    it is exact, differentiable, and the same on every backend. The spatial
    sizes of ``inputs`` must be known (static).

    Args:
        inputs: 4D tensor in ``data_format``.
        output_size: int or pair ``(P, Q)``.
        data_format: str or None. None reads ``keras.config.image_data_format()``.

    Returns:
        A tensor ``(B, P, Q, C)`` (channels_last) or ``(B, C, P, Q)``.

    Raises:
        ValueError: when a spatial size of ``inputs`` is unknown.
    """
    data_format = _validation.data_format(data_format)
    out_h, out_w = _validation.int_pair("output_size", output_size)
    shape = tuple(inputs.shape)
    height, width = shape[1:3] if data_format == "channels_last" else shape[2:4]
    if height is None or width is None:
        _validation.fail("inputs", f"a tensor of known height and width ({data_format})", shape)
    rows = ops.convert_to_tensor(adaptive_average_pooling_matrix(height, out_h), dtype=inputs.dtype)
    cols = ops.convert_to_tensor(adaptive_average_pooling_matrix(width, out_w), dtype=inputs.dtype)
    if data_format == "channels_last":
        pooled = ops.einsum("ph,bhwc->bpwc", rows, inputs)
        return ops.einsum("qw,bpwc->bpqc", cols, pooled)
    pooled = ops.einsum("ph,bchw->bcpw", rows, inputs)
    return ops.einsum("qw,bcpw->bcpq", cols, pooled)


def _image_shape(batch, height, width, channels, data_format_value):
    if data_format_value == "channels_last":
        return (batch, height, width, channels)
    return (batch, channels, height, width)


class _StripPoolingBase(keras.layers.Layer):
    """Shared plumbing: convolution (no bias) + BN [+ ReLU] chains."""

    def _conv_bn(self, filters, kernel_size, name, relu=False):
        return conv_bn.conv_bn_act(
            self, filters, kernel_size, name, activation="relu" if relu else None
        )

    def _strips(self, inputs):
        """The two strip pools, ``(B, H, 1, C)`` and ``(B, 1, W, C)`` in channels_last."""
        h_axis, w_axis = layout.spatial_axes(self.data_format)
        return (
            ops.mean(inputs, axis=w_axis, keepdims=True),  # mean over each row
            ops.mean(inputs, axis=h_axis, keepdims=True),  # mean over each column
        )

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="kcv")
class StripPooling(_StripPoolingBase):
    """SPNet's strip pooling module (SPM): a gate built from row and column means.

    For an input ``x`` with ``C`` channels and spatial size ``H x W``
    (paper, Sec. 3.2 and Fig. 2; official ``SPBlock``):

    * horizontal strip pooling: ``y^h_i = (1/W) Σ_j x_{i,j}`` (``H x 1``),
      then a ``3x1`` convolution ``C -> C`` + BN;
    * vertical strip pooling: ``y^v_j = (1/H) Σ_i x_{i,j}`` (``1 x W``),
      then a ``1x3`` convolution ``C -> C`` + BN;
    * fusion: ``y_{c,i,j} = y^h_{c,i} + y^v_{c,j}`` (each strip expanded to
      ``H x W`` by broadcasting, which is exact);
    * gate and output: ``z = x · σ(f(relu(y)))`` with ``f`` a ``1x1``
      convolution ``C -> C`` with bias and ``σ`` the sigmoid.

    So the gate at ``(i, j)`` sees rows ``i-1..i+1`` and columns ``j-1..j+1``
    of the input in full, and no pixel outside that thick cross. The module
    keeps the input shape and works with unknown spatial sizes.

    Widths follow the official ``SPBlock`` with ``inplanes = outplanes = C``
    (there ``midplanes = outplanes``): convolutions before BN have no bias,
    the final ``1x1`` has one. Trainable parameters:
    ``3C² + 2C + 3C² + 2C + C² + C = 7C² + 5C``, 28,992 for ``C = 64``.
    The official ``SPBlock`` returns the gate and its caller multiplies
    (``out * spm(out)`` in the ResNet bottleneck); this layer returns the
    product. BN uses Keras' defaults (momentum 0.99, epsilon 1e-3), as every
    kcv layer; the official code uses PyTorch momentum 0.1 (0.9 in Keras
    terms) and epsilon 1e-5.

    Args:
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        A tensor of the input's shape: the input times a gate in ``(0, 1)``.

    Example:

    >>> import numpy as np, kcv
    >>> spm = kcv.layers.StripPooling()
    >>> tuple(spm(np.ones((2, 16, 12, 64), "float32")).shape)
    (2, 16, 12, 64)
    >>> sum(int(np.prod(w.shape)) for w in spm.trainable_weights)  # 7·64² + 5·64
    28992

    Reference:
        Hou et al., Strip Pooling: Rethinking Spatial Pooling for Scene
        Parsing, CVPR 2020, Sec. 3.1-3.2 and Fig. 2; official
        ``models/resnet.py::SPBlock``.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _validation.data_format(data_format)
        self.supports_masking = False

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        batch = input_shape[0]
        height, width = (input_shape[i] for i in layout.spatial_axes(self.data_format))
        fmt = self.data_format
        self.horizontal = self._conv_bn(channels, (3, 1), "horizontal_conv")
        self.vertical = self._conv_bn(channels, (1, 3), "vertical_conv")
        self.gate_conv = Conv2D(
            channels,
            1,
            use_bias=True,
            data_format=fmt,
            dtype=self.dtype_policy,
            name="gate_conv",
        )
        conv_bn.build_chain(self.horizontal, _image_shape(batch, height, 1, channels, fmt))
        conv_bn.build_chain(self.vertical, _image_shape(batch, 1, width, channels, fmt))
        self.gate_conv.build(tuple(input_shape))

    def call(self, inputs, training=None):
        rows, columns = self._strips(inputs)
        rows = conv_bn.call_chain(self.horizontal, rows, training=training)
        columns = conv_bn.call_chain(self.vertical, columns, training=training)
        fused = ops.relu(rows + columns)  # (B, H, 1, C) + (B, 1, W, C) -> (B, H, W, C)
        gate = ops.sigmoid(self.gate_conv(fused))
        return inputs * ops.cast(gate, inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format})
        return config


@keras.saving.register_keras_serializable(package="kcv")
class MixedPooling(_StripPoolingBase):
    """SPNet's mixed pooling module (MPM): pyramid and strip pooling, residual.

    For an input ``x`` with ``C`` channels, ``H x W`` (paper, Sec. 3.3 and
    Fig. 3; official ``customize.py::StripPooling``, whose layer names are
    kept), with ``m = C // 4`` and every convolution followed by BN, without
    bias:

    * reduce: ``x1 = relu(BN(conv1_1(x)))``, ``x2 = relu(BN(conv1_2(x)))``,
      two ``1x1`` convolutions ``C -> m``;
    * short-range branch on ``x1`` (Fig. 3a): ``conv2_0`` (``3x3``) at full
      resolution; ``conv2_1`` (``3x3``) on ``x1`` adaptively average-pooled
      to ``P0 x P0`` and ``conv2_2`` on it pooled to ``P1 x P1``, both
      upsampled bilinearly to ``H x W``; ``s = relu(BN(conv2_5(relu(sum))))``
      with ``conv2_5`` a ``3x3``;
    * long-range branch on ``x2`` (Fig. 3b): the ``1 x W`` strip (mean over
      H) through ``conv2_3`` (``1x3``), the ``H x 1`` strip (mean over W)
      through ``conv2_4`` (``3x1``), broadcast to ``H x W`` and summed;
      ``l = relu(BN(conv2_6(relu(sum))))`` with ``conv2_6`` a ``3x3``;
    * output: ``relu(x + BN(conv3([s, l])))``, ``conv3`` a ``1x1``
      ``2m -> C``.

    Trainable parameters: ``2·(C·m + 2m)`` (conv1_1, conv1_2)
    ``+ 5·(9m² + 2m)`` (conv2_0, 2_1, 2_2, 2_5, 2_6) ``+ 2·(3m² + 2m)``
    (conv2_3, 2_4) ``+ 2m·C + 2C`` (conv3) ``= 4Cm + 51m² + 18m + 2C``:
    1,176 for ``C = 16``; 4,397,568 for ``C = 1024``, the width at which
    SPNet's head uses the module.

    Adaptive average pooling is PyTorch's (:func:`adaptive_average_pool2d`:
    bin ``i`` covers ``[floor(i·H/P), ceil((i+1)·H/P))``); it accepts any
    known size, also ``H < P`` (bins then repeat pixels), but needs ``H`` and
    ``W`` known at build. The strip pools are exact means with broadcasting.

    Difference from the official code: the upsampling is
    ``keras.ops.image.resize(..., interpolation="bilinear")``, which has no
    ``align_corners`` and samples at half-pixel centres (PyTorch's
    ``align_corners=False``); SPNet interpolates with ``align_corners=True``.
    Output row ``o`` samples the pooled grid at ``o·(P-1)/(H-1)`` with
    ``align_corners=True`` (corner pixels take the corner cells exactly) and
    at ``(o + 0.5)·P/H - 0.5``, clamped to ``[0, P-1]``, here: the two agree
    at the centre and differ by up to half a pooled cell towards the
    borders, where here about ``H/(2P)`` rows (columns) on each side repeat
    the border cell. Parameters are the same and weights port unchanged;
    outputs of ported weights differ slightly. The strip branches are
    unaffected (expanding a size-1 axis is exact either way). BN uses Keras'
    defaults (momentum 0.99, epsilon 1e-3; PyTorch: 0.1, i.e. 0.9 here, and
    1e-5).

    Args:
        pool_sizes: pair of ints. Output sizes ``(P0, P1)`` of the two square
            adaptive average pools of the short-range branch; SPNet uses
            ``(20, 12)`` for its 1/8-resolution features.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        A tensor of the input's shape (non-negative: the module ends in ReLU).

    Example:

    >>> import numpy as np, kcv
    >>> mpm = kcv.layers.MixedPooling(pool_sizes=(20, 12))
    >>> tuple(mpm(np.ones((1, 32, 32, 16), "float32")).shape)
    (1, 32, 32, 16)
    >>> sum(int(np.prod(w.shape)) for w in mpm.trainable_weights)  # C = 16, m = 4
    1176

    Reference:
        Hou et al., Strip Pooling: Rethinking Spatial Pooling for Scene
        Parsing, CVPR 2020, Sec. 3.3 and Fig. 3; official
        ``models/customize.py::StripPooling``.
    """

    def __init__(self, pool_sizes=(20, 12), data_format=None, **kwargs):
        super().__init__(**kwargs)
        # The output sizes of the two adaptive average pools, e.g. (20, 12).
        self.pool_sizes = _validation.int_sequence("pool_sizes", pool_sizes, length=2)
        self.data_format = _validation.data_format(data_format)
        self.supports_masking = False

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        if channels < 4:
            _validation.fail(
                "MixedPooling input",
                "a tensor of at least 4 channels (its branches have C // 4)",
                tuple(input_shape),
            )
        batch = input_shape[0]
        height, width = (input_shape[i] for i in layout.spatial_axes(self.data_format))
        if height is None or width is None:
            _validation.fail(
                "MixedPooling input",
                "a tensor of known height and width (its adaptive pools depend on them)",
                tuple(input_shape),
            )
        inter = channels // 4
        fmt = self.data_format

        def shape(h, w, c=inter):
            return _image_shape(batch, h, w, c, fmt)

        self.conv1_1 = self._conv_bn(inter, 1, "conv1_1", relu=True)
        self.conv1_2 = self._conv_bn(inter, 1, "conv1_2", relu=True)
        self.conv2_0 = self._conv_bn(inter, 3, "conv2_0")
        self.conv2_1 = self._conv_bn(inter, 3, "conv2_1")
        self.conv2_2 = self._conv_bn(inter, 3, "conv2_2")
        self.conv2_3 = self._conv_bn(inter, (1, 3), "conv2_3")
        self.conv2_4 = self._conv_bn(inter, (3, 1), "conv2_4")
        self.conv2_5 = self._conv_bn(inter, 3, "conv2_5", relu=True)
        self.conv2_6 = self._conv_bn(inter, 3, "conv2_6", relu=True)
        self.conv3 = self._conv_bn(channels, 1, "conv3")
        p0, p1 = self.pool_sizes
        for chain, chain_shape in (
            (self.conv1_1, tuple(input_shape)),
            (self.conv1_2, tuple(input_shape)),
            (self.conv2_0, shape(height, width)),
            (self.conv2_1, shape(p0, p0)),
            (self.conv2_2, shape(p1, p1)),
            (self.conv2_3, shape(1, width)),
            (self.conv2_4, shape(height, 1)),
            (self.conv2_5, shape(height, width)),
            (self.conv2_6, shape(height, width)),
            (self.conv3, shape(height, width, 2 * inter)),
        ):
            conv_bn.build_chain(chain, chain_shape)

    def _pool_conv_upsample(self, x, pool_size, chain, size, training):
        pooled = adaptive_average_pool2d(x, pool_size, self.data_format)
        y = conv_bn.call_chain(chain, pooled, training=training)
        return ops.image.resize(y, size, interpolation="bilinear", data_format=self.data_format)

    def call(self, inputs, training=None):
        size = tuple(inputs.shape[i] for i in layout.spatial_axes(self.data_format))
        x1 = conv_bn.call_chain(self.conv1_1, inputs, training=training)
        x2 = conv_bn.call_chain(self.conv1_2, inputs, training=training)
        # Short-range context: full resolution plus two pooled, upsampled grids.
        x2_1 = conv_bn.call_chain(self.conv2_0, x1, training=training)
        p0, p1 = self.pool_sizes
        x2_2 = self._pool_conv_upsample(x1, p0, self.conv2_1, size, training)
        x2_3 = self._pool_conv_upsample(x1, p1, self.conv2_2, size, training)
        short = conv_bn.call_chain(self.conv2_5, ops.relu(x2_1 + x2_2 + x2_3), training=training)
        # Long-range context: strips, expanded by broadcasting.
        rows, columns = self._strips(x2)
        x2_4 = conv_bn.call_chain(self.conv2_3, columns, training=training)  # 1 x W, 1x3
        x2_5 = conv_bn.call_chain(self.conv2_4, rows, training=training)  # H x 1, 3x1
        long = conv_bn.call_chain(self.conv2_6, ops.relu(x2_5 + x2_4), training=training)
        merged = ops.concatenate([short, long], axis=layout.channel_axis(self.data_format))
        out = conv_bn.call_chain(self.conv3, merged, training=training)
        return ops.relu(inputs + out)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_sizes": self.pool_sizes, "data_format": self.data_format})
        return config
