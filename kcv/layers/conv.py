"""Drop-in convolutions that pick the fastest computation per backend.

``Conv2D`` and ``DepthwiseConv2D`` take the same arguments, hold the same
weights and save to the same format as their ``keras.layers`` namesakes, and
give the same outputs (tested to float32 rounding); only how they compute
differs, where :mod:`kcv.backend` says a backend's own kernel is slow:

* depthwise: XLA on the CPU lowers a depthwise convolution to a grouped
  convolution about 10x slower than the sum of ``k*k`` shifted, per-channel
  scaled inputs computed here (:func:`shifted_depthwise_conv`); its kernel
  gradient is accumulated over batch chunks that fit in cache
  (:func:`kcv.backend.chunked_kernel_gradient`);
* pointwise (1x1, stride 1): XLA on the CPU computes the weight gradient of a
  1x1 convolution as a transposed convolution, 5-10x slower than the matrix
  product it is; kcv computes a 1x1 convolution as that matrix product.

Reference:
    Howard et al. "MobileNets". 2017. https://arxiv.org/abs/1704.04861
    (depthwise and pointwise convolutions, Sec. 3.1).
"""

import functools
import math

import keras
from keras import ops

from kcv import backend


def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's "same" padding: ``(before, after, output_size)``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2, out


def shifted_depthwise_conv(
    inputs, kernel, strides, padding, dilation_rate, data_format
):
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
    last = data_format == "channels_last"
    h_axis, w_axis = (1, 2) if last else (2, 3)
    sizes = (inputs.shape[h_axis], inputs.shape[w_axis])
    pads, outs = [], []
    for size, k, s, d in zip(sizes, (kh, kw), strides, dilation_rate):
        if padding == "same":
            before, after, out = _same_padding(size, k, s, d)
        else:
            before, after, out = 0, 0, (size - (k - 1) * d - 1) // s + 1
        pads.append((before, after))
        outs.append(out)
    if any(p != (0, 0) for p in pads):
        pad_width = [(0, 0)] * 4
        pad_width[h_axis], pad_width[w_axis] = pads
        inputs = ops.pad(inputs, pad_width)

    # Per-tap weights broadcast against the input: (C, M) placed on the channel axis.
    if multiplier == 1:
        taps = ops.reshape(kernel, (kh, kw, channels) if last else (kh, kw, channels, 1, 1))
    else:
        inputs = ops.expand_dims(inputs, -1 if last else 2)
        taps = kernel if last else ops.reshape(kernel, (kh, kw, channels, multiplier, 1, 1))

    (oh, ow), (sh, sw), (dh, dw) = outs, strides, dilation_rate
    h_axis = 1 if last else len(inputs.shape) - 2
    index = [slice(None)] * len(inputs.shape)
    outputs = None
    for i in range(kh):
        index[h_axis] = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        for j in range(kw):
            index[h_axis + 1] = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
            term = inputs[tuple(index)] * taps[i, j]
            outputs = term if outputs is None else outputs + term
    if multiplier > 1:
        shape = (-1, oh, ow, channels * multiplier) if last else (-1, channels * multiplier, oh, ow)
        outputs = ops.reshape(outputs, shape)
    return outputs


@keras.saving.register_keras_serializable(package="kcv")
class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` that runs fast on every backend.

    Same arguments, weights, saved format and outputs as
    ``keras.layers.DepthwiseConv2D`` (tested to float32 rounding); only the
    computation differs where :func:`kcv.backend.depthwise_implementation`
    picks the shifted multiply-add form (JAX on CPU).

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
        if backend.depthwise_implementation() == "native":
            return super().call(inputs)
        convolve = functools.partial(
            shifted_depthwise_conv,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        outputs = backend.chunked_kernel_gradient(convolve, inputs, self.kernel)
        return _bias_and_activation(self, outputs)


@keras.saving.register_keras_serializable(package="kcv")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose 1x1 form runs as a matrix product.

    Same arguments, weights, saved format and outputs as
    ``keras.layers.Conv2D``. A pointwise convolution (1x1 kernel, stride 1,
    one group) is the product of every pixel's channel vector with the
    ``(C_in, C_out)`` kernel; where :func:`kcv.backend.pointwise_implementation`
    says ``"matmul"`` (JAX on CPU) it is computed that way, so that its weight
    gradient is a matrix product too. Every other convolution is Keras' own.

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
        pointwise = (
            self.kernel_size == (1, 1) and self.strides == (1, 1) and self.groups == 1
        )
        if not pointwise or backend.pointwise_implementation() == "native":
            return super().call(inputs)
        kernel = ops.reshape(self.kernel, self.kernel.shape[2:])
        if self.data_format == "channels_last":
            outputs = ops.matmul(inputs, kernel)
        else:
            outputs = ops.einsum("bchw,cd->bdhw", inputs, kernel)
        return _bias_and_activation(self, outputs)


def _bias_and_activation(layer, outputs):
    """Adds the layer's bias on its channel axis and applies its activation."""
    if layer.use_bias:
        shape = [1, 1, 1, 1]
        shape[-1 if layer.data_format == "channels_last" else 1] = -1
        outputs = outputs + ops.reshape(layer.bias, shape)
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return outputs
