"""Drop-in convolutions that pick the fastest computation per backend.

``Conv2D`` and ``DepthwiseConv2D`` take the same arguments, hold the same
weights and save to the same format as their ``keras.layers`` namesakes, and
give the same outputs (tested to float32 rounding); only how they compute
differs, where :mod:`kcv.backend` says a backend's own kernel is slow:

* depthwise: XLA on the CPU lowers a depthwise convolution to a grouped
  convolution about 10x slower than the sum of ``k*k`` shifted, per-channel
  scaled inputs computed here (:func:`shifted_depthwise_conv`); its kernel
  gradient (:func:`shifted_depthwise_kernel_gradient`) is accumulated over
  batch chunks that fit in cache (:func:`kcv.backend.custom_conv_gradients`), and
  for stride 1 its input gradient is a flipped-kernel shifted convolution;
* pointwise (1x1, stride 1): XLA on the CPU computes the weight gradient of a
  1x1 convolution as a transposed convolution, 5-10x slower than the matrix
  product it is; kcv computes a 1x1 convolution as that matrix product;
* atrous, on every backend: where a dilated, stride-1, "same" convolution
  runs on a map no larger than its rate, its outer taps read only padding
  (DeepLab v3, Sec. 3.3: at such rates "the 3x3 filter degenerates to a
  simple 1x1 filter"). Both layers then convolve with the live part of the
  kernel only (:func:`live_taps`), the same outputs and gradients at a
  fraction of the cost. TensorFlow on the CPU needs it most: its input
  gradient of a convolution at rate 6-18 on a 2x2 map takes seconds.

Reference:
    Howard et al. "MobileNets". 2017. https://arxiv.org/abs/1704.04861
    (depthwise and pointwise convolutions, Sec. 3.1); Chen et al.
    "Rethinking Atrous Convolution for Semantic Image Segmentation". 2017.
    https://arxiv.org/abs/1706.05587 (Sec. 3.3, Fig. 4: the taps of an
    atrous filter that fall outside the feature map).
"""

import functools
import math

import keras
from keras import ops

from kcv import backend


def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's "same" padding of one axis: ``(before, after)``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad(inputs, kernel_shape, strides, padding, dilation_rate, data_format):
    """Pads ``inputs`` as ``padding`` asks, so that a "valid" convolution follows."""
    if padding != "same":
        return inputs
    h_axis, w_axis = (1, 2) if data_format == "channels_last" else (2, 3)
    pad_width = [(0, 0)] * 4
    for axis, k, s, d in zip((h_axis, w_axis), kernel_shape[:2], strides, dilation_rate):
        pad_width[axis] = _same_padding(inputs.shape[axis], k, s, d)
    return ops.pad(inputs, pad_width) if any(map(any, pad_width)) else inputs


def live_taps(kernel_size, strides, padding, dilation_rate, spatial_size):
    """The taps of a "same" convolution that can read the feature map, per axis.

    A stride-1 "same" convolution with an odd kernel ``k`` and dilation ``d``
    pads ``(k-1)/2 * d`` on each side, so its tap ``i`` reads the input
    ``(i - (k-1)/2) * d`` pixels away from the output pixel. On an axis of
    ``n`` pixels the taps farther than ``n - 1`` read only padding, for
    every output pixel: they contribute zero to the output and receive zero
    gradient. Dropping them leaves a "same" convolution with the kernel's
    central ``2m+1`` taps, ``m = min((k-1)/2, ceil(n/d) - 1)``, and the same
    dilation: the same function.

    Args:
        kernel_size, strides, dilation_rate: pairs of ints.
        padding: ``"same"`` or ``"valid"``.
        spatial_size: ``(height, width)`` of the input; ``None`` entries
            for sizes unknown until run time.

    Returns:
        ``(rows, cols)``, two slices of the kernel's axes, or ``None`` when
        every tap may be live (or the convolution is not stride-1, "same",
        odd-sized, with known sizes).
    """
    if padding != "same" or tuple(strides) != (1, 1) or None in spatial_size:
        return None
    slices = []
    for k, d, n in zip(kernel_size, dilation_rate, spatial_size):
        if k % 2 == 0:
            return None
        centre = (k - 1) // 2
        reach = min(centre, -(-n // d) - 1)
        slices.append(slice(centre - reach, centre + reach + 1))
    if all(s.stop - s.start == k for s, k in zip(slices, kernel_size)):
        return None
    return tuple(slices)


def _live_kernel(layer, inputs):
    """``layer``'s kernel cropped to its live taps on ``inputs``, or None."""
    h_axis = 1 if layer.data_format == "channels_last" else 2
    taps = live_taps(
        layer.kernel_size,
        layer.strides,
        layer.padding,
        layer.dilation_rate,
        tuple(inputs.shape[h_axis : h_axis + 2]),
    )
    if taps is None:
        return None
    return layer.kernel[taps[0], taps[1]]


def _tap_windows(padded, kernel_shape, strides, dilation_rate, data_format):
    """The ``kh*kw`` strided views of a padded input, one per kernel tap.

    Window ``(i, j)`` holds, at output pixel ``(h, w)``, the input pixel
    ``(h*s + i*d, w*s + j*d)`` ("valid" convolution). With a depth multiplier
    ``M > 1`` the windows carry a length-1 axis after the channel axis, to
    broadcast against ``(C, M)`` weights.

    Returns:
        ``(windows, (out_height, out_width))``, windows in row-major tap order.
    """
    kh, kw, _, multiplier = kernel_shape
    last = data_format == "channels_last"
    h_axis = 1 if last else 2
    outs = [
        (padded.shape[axis] - (k - 1) * d - 1) // s + 1
        for axis, k, s, d in zip((h_axis, h_axis + 1), (kh, kw), strides, dilation_rate)
    ]
    if multiplier > 1:
        padded = ops.expand_dims(padded, -1 if last else 2)
        h_axis = 1 if last else 3
    (oh, ow), (sh, sw), (dh, dw) = outs, strides, dilation_rate
    index = [slice(None)] * len(padded.shape)
    windows = []
    for i in range(kh):
        index[h_axis] = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        for j in range(kw):
            index[h_axis + 1] = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
            windows.append(padded[tuple(index)])
    return windows, (oh, ow)


def _tap_shape(kernel_shape, data_format):
    """Shape of one tap's ``(C, M)`` weights, broadcastable against a window."""
    _, _, channels, multiplier = kernel_shape
    if data_format == "channels_last":
        return (channels,) if multiplier == 1 else (channels, multiplier)
    return (channels, 1, 1) if multiplier == 1 else (channels, multiplier, 1, 1)


def shifted_depthwise_conv(inputs, kernel, strides, padding, dilation_rate, data_format):
    """Depthwise convolution as a sum of ``kh*kw`` shifted, scaled inputs.

    Computes exactly what ``keras.ops.depthwise_conv`` computes (same kernel
    layout ``(kh, kw, C, M)``, output channel ``c*M + m``, TensorFlow "same"
    padding), but with elementwise multiply-adds instead of a grouped
    convolution. XLA on the CPU runs this form an order of magnitude faster
    (forward and backward); :func:`kcv.backend.depthwise_implementation`
    decides where it is used. Needs static spatial sizes, which JAX always has.

    Args:
        inputs: 4D tensor in ``data_format``.
        kernel: ``(kh, kw, C, M)`` tensor.
        strides, dilation_rate: pairs of ints.
        padding: ``"same"`` or ``"valid"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The 4D output tensor with ``C*M`` channels.
    """
    kh, kw, channels, multiplier = kernel.shape
    padded = _pad(inputs, kernel.shape, strides, padding, dilation_rate, data_format)
    windows, (oh, ow) = _tap_windows(padded, kernel.shape, strides, dilation_rate, data_format)
    taps = ops.reshape(kernel, (kh * kw,) + _tap_shape(kernel.shape, data_format))
    outputs = windows[0] * taps[0]
    for t in range(1, kh * kw):
        outputs = outputs + windows[t] * taps[t]
    if multiplier > 1:
        last = data_format == "channels_last"
        shape = (-1, oh, ow, channels * multiplier) if last else (-1, channels * multiplier, oh, ow)
        outputs = ops.reshape(outputs, shape)
    return outputs


def shifted_depthwise_input_gradient(
    grad_outputs, kernel, strides, padding, dilation_rate, data_format
):
    """Gradient of a stride-1, "valid" :func:`shifted_depthwise_conv` w.r.t. its input.

    The transpose of a stride-1 correlation is a "full" correlation of the
    output gradient with the flipped kernel: pad ``dY`` by ``(k-1)·d`` on each
    side and convolve "valid" with ``K[::-1, ::-1]``. Written this way XLA
    computes it as one more shifted multiply-add, instead of autodiff's sum
    of ``k*k`` padded copies. Depth multiplier 1 only.

    Returns:
        A tensor of the (padded) input's shape.
    """
    if padding != "valid" or strides != (1, 1) or kernel.shape[3] != 1:
        raise ValueError("the input gradient is written for stride 1, 'valid', multiplier 1")
    kh, kw = kernel.shape[:2]
    h_axis = 1 if data_format == "channels_last" else 2
    pad_width = [(0, 0)] * 4
    pad_width[h_axis] = ((kh - 1) * dilation_rate[0],) * 2
    pad_width[h_axis + 1] = ((kw - 1) * dilation_rate[1],) * 2
    return shifted_depthwise_conv(
        ops.pad(grad_outputs, pad_width),
        ops.flip(kernel, axis=(0, 1)),
        strides,
        "valid",
        dilation_rate,
        data_format,
    )


def shifted_depthwise_kernel_gradient(
    inputs, grad_outputs, kernel_shape, strides, padding, dilation_rate, data_format
):
    """Gradient of :func:`shifted_depthwise_conv` with respect to its kernel.

    ``dK[i, j, c, m] = sum over batch and output pixels of
    window_ij[..., c] * dY[..., c*M + m]``: one product per tap, all reduced in
    one pass over the data where the backend can (:func:`kcv.backend.sum_together`).

    Returns:
        A tensor of ``kernel_shape``.
    """
    _, _, channels, multiplier = kernel_shape
    padded = _pad(inputs, kernel_shape, strides, padding, dilation_rate, data_format)
    windows, (oh, ow) = _tap_windows(padded, kernel_shape, strides, dilation_rate, data_format)
    last = data_format == "channels_last"
    if multiplier > 1:
        shape = (-1, oh, ow, channels, multiplier) if last else (-1, channels, multiplier, oh, ow)
        grad_outputs = ops.reshape(grad_outputs, shape)
    rank = len(grad_outputs.shape)
    axes = (0, 1, 2) if last else (0, rank - 2, rank - 1)
    # Accumulate in float32: a float16 sum over every pixel of a batch overflows.
    products = [ops.cast(w * grad_outputs, "float32") for w in windows]
    sums = backend.sum_together(products, axes)
    return ops.cast(ops.reshape(ops.stack(sums), kernel_shape), grad_outputs.dtype)


@keras.saving.register_keras_serializable(package="kcv")
class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` that runs fast on every backend.

    Same arguments, weights, saved format and outputs as
    ``keras.layers.DepthwiseConv2D`` (tested to float32 rounding); only the
    computation differs where :func:`kcv.backend.depthwise_implementation`
    picks the shifted multiply-add form (JAX on CPU), and where a dilated
    kernel has taps that read only padding (:func:`live_taps`).

    Args:
        See ``keras.layers.DepthwiseConv2D``.

    Returns:
        The convolved tensor, ``C * depth_multiplier`` channels.

    Example:

    >>> import numpy as np, kcv
    >>> dw = kcv.layers.DepthwiseConv2D(3, padding="same")
    >>> dw(np.ones((1, 8, 8, 4), "float32")).shape
    (1, 8, 8, 4)

    Reference:
        Howard et al., MobileNets, 2017, Sec. 3.1 (depthwise convolution).
    """

    def call(self, inputs):
        live = _live_kernel(self, inputs)
        kernel = self.kernel if live is None else live
        if backend.depthwise_implementation() == "native":
            if live is None:
                return super().call(inputs)
            return _convolve(self, ops.depthwise_conv, inputs, kernel)
        # Pad once, outside the gradient: a pad fused into the chunked kernel
        # gradient's reductions makes XLA's loops twice as slow.
        kernel_shape = tuple(kernel.shape)
        padded = _pad(
            inputs, kernel_shape, self.strides, self.padding, self.dilation_rate, self.data_format
        )
        geometry = dict(
            strides=self.strides,
            padding="valid",
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        input_gradient = None  # autodiff's, unless the flipped-kernel form applies
        if self.strides == (1, 1) and self.depth_multiplier == 1:
            input_gradient = functools.partial(shifted_depthwise_input_gradient, **geometry)
        outputs = backend.custom_conv_gradients(
            functools.partial(shifted_depthwise_conv, **geometry),
            input_gradient,
            functools.partial(
                shifted_depthwise_kernel_gradient, kernel_shape=kernel_shape, **geometry
            ),
            padded,
            kernel,
        )
        return _bias_and_activation(self, outputs)


@keras.saving.register_keras_serializable(package="kcv")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose 1x1 form runs as a matrix product.

    Same arguments, weights, saved format and outputs as
    ``keras.layers.Conv2D``. A 1x1 convolution (one group) is the product
    of every pixel's channel vector with the ``(C_in, C_out)`` kernel, taken
    at every ``strides``-th pixel; where
    :func:`kcv.backend.pointwise_implementation` says ``"matmul"`` (JAX and
    TensorFlow on CPU) it is computed that way, so that its gradients are
    matrix products too. A dilated kernel whose outer taps read only padding
    convolves with its live taps (:func:`live_taps`), which can leave a 1x1.
    Every other convolution is Keras' own.

    Args:
        See ``keras.layers.Conv2D``.

    Returns:
        The convolved tensor.

    Example:

    >>> import numpy as np, kcv
    >>> conv = kcv.layers.Conv2D(16, 1, use_bias=False)
    >>> conv(np.ones((1, 8, 8, 4), "float32")).shape
    (1, 8, 8, 16)

    Reference:
        Lin, Chen, Yan. "Network In Network". ICLR 2014 (1x1 convolutions);
        Howard et al., MobileNets, 2017, Sec. 3.1 (pointwise convolution).
    """

    def call(self, inputs):
        live = _live_kernel(self, inputs)
        kernel = self.kernel if live is None else live
        pointwise = tuple(kernel.shape[:2]) == (1, 1) and self.groups == 1
        if not pointwise or backend.pointwise_implementation() == "native":
            if live is None:
                return super().call(inputs)
            return _convolve(self, ops.conv, inputs, kernel)
        kernel = ops.reshape(kernel, kernel.shape[2:])
        if self.strides != (1, 1):
            # A 1x1 kernel needs no padding: "same" and "valid" both read
            # pixels 0, s, 2s, ... of each axis.
            h_axis = 1 if self.data_format == "channels_last" else 2
            index = [slice(None)] * 4
            index[h_axis], index[h_axis + 1] = (slice(None, None, s) for s in self.strides)
            inputs = inputs[tuple(index)]
        if self.data_format == "channels_last":
            # A 2-D product: TensorFlow runs a 4-D one as a broadcast batched
            # product, several times slower.
            shape = ops.shape(inputs)
            outputs = ops.matmul(ops.reshape(inputs, (-1, shape[-1])), kernel)
            outputs = ops.reshape(outputs, (*shape[:-1], kernel.shape[-1]))
        else:
            outputs = ops.einsum("bchw,cd->bdhw", inputs, kernel)
        return _bias_and_activation(self, outputs)


def _convolve(layer, op, inputs, kernel):
    """``layer``'s convolution with ``op`` (a ``keras.ops`` convolution) and
    another ``kernel`` (its live taps), then its bias and activation."""
    outputs = op(
        inputs,
        kernel,
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation_rate,
        data_format=layer.data_format,
    )
    return _bias_and_activation(layer, outputs)


def _bias_and_activation(layer, outputs):
    """Adds the layer's bias on its channel axis and applies its activation."""
    if layer.use_bias:
        shape = [1, 1, 1, 1]
        shape[-1 if layer.data_format == "channels_last" else 1] = -1
        outputs = outputs + ops.reshape(layer.bias, shape)
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return outputs
