"""Keras' convolutions with a choice of computation, fixed when a layer is built.

``Conv2D`` and ``DepthwiseConv2D`` take the arguments of their
``keras.layers`` namesakes plus ``implementation``, hold the same weights and
give the same outputs (tested against NumPy to float32 rounding); only how
they compute differs. Each resolves ``implementation`` once, in ``build``
(:func:`resolve_implementation`: the argument, else the :mod:`kcv.config`
default, else the fastest for the backend), and reports it as
``implementation_in_use``:

* depthwise, ``"shifted"``: XLA on the CPU lowers a depthwise convolution to
  a grouped convolution about 10x slower than the sum of ``k*k`` shifted,
  per-channel scaled inputs computed here (:func:`shifted_depthwise_conv`);
  on JAX its kernel gradient (:func:`shifted_depthwise_kernel_gradient`) is
  accumulated over batch chunks that fit in cache
  (:func:`kcv.backend.custom_conv_gradients`), and for stride 1 its input
  gradient is a flipped-kernel shifted convolution;
* pointwise, ``"matmul"``: XLA and TensorFlow on the CPU compute the weight
  gradient of a 1x1 convolution as a transposed convolution, 5-10x slower
  than the matrix product it is; :func:`pointwise_matmul` computes a 1x1
  convolution as that matrix product. On JAX without an accelerator
  ``Conv2D`` also computes two other convolutions that XLA's CPU kernels
  handle badly as matrix products: one whose output is smaller than its
  kernel (:func:`patch_conv`, where :func:`_patches_pay`) and the kernel
  gradient of a grouped one (:func:`grouped_conv_with_patch_gradient`);
* torch on the CPU, ``Conv2D``'s ``"auto"``, per call: where the kernel
  outweighs the maps, PyTorch's kernel layout copies and oneDNN's
  channels_last kernels on maps of a few pixels cost more than they save,
  so a 1x1 convolution is a matrix product (:func:`_product_pays`) and a
  larger one convolves contiguous NCHW copies (:func:`_copies_pay`);
* atrous, on every backend and implementation: where a dilated, stride-1,
  "same" convolution runs on a map no larger than its rate, its outer taps
  read only padding (DeepLab v3, Sec. 3.3: at such rates "the 3x3 filter
  degenerates to a simple 1x1 filter"). Both layers then convolve with the
  live part of the kernel only (:func:`live_taps`), the same outputs and
  gradients at a fraction of the cost. TensorFlow on the CPU needs it most:
  its input gradient of a convolution at rate 6-18 on a 2x2 map takes
  seconds.

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

from kcv import _validation
from kcv import backend
from kcv import config
from kcv.layers.layout import spatial_axes


def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's "same" padding of one axis: ``(before, after)``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(inputs, kernel_shape, strides, padding, dilation_rate, data_format):
    """``((top, bottom), (left, right))``: the zeros ``padding`` asks for around ``inputs``."""
    if padding != "same":
        return ((0, 0), (0, 0))
    h_axis = 1 if data_format == "channels_last" else 2
    return tuple(
        _same_padding(inputs.shape[h_axis + i], k, s, d)
        for i, (k, s, d) in enumerate(zip(kernel_shape[:2], strides, dilation_rate))
    )


def _pad(inputs, kernel_shape, strides, padding, dilation_rate, data_format):
    """Pads ``inputs`` as ``padding`` asks, so that a "valid" convolution follows."""
    pads = _spatial_pads(inputs, kernel_shape, strides, padding, dilation_rate, data_format)
    if not any(map(any, pads)):
        return inputs
    return ops.pad(inputs, _pad_width(pads, data_format))


def _pad_width(pads, data_format):
    """Per-axis ``pads`` of the height and width as the pad width of a 4D tensor."""
    return [(0, 0), *pads, (0, 0)] if data_format == "channels_last" else [(0, 0), (0, 0), *pads]


def _torch_conv(layer, inputs, kernel, groups, contiguous=False):
    """``layer``'s convolution through :func:`kcv.backend.torch_conv2d` (torch backend)."""
    pads = _spatial_pads(
        inputs, kernel.shape, layer.strides, layer.padding, layer.dilation_rate, layer.data_format
    )
    return backend.torch_conv2d(
        inputs,
        kernel,
        layer.strides,
        pads,
        layer.dilation_rate,
        groups,
        layer.data_format,
        contiguous=contiguous,
    )


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


def _live_part(layer, inputs, kernel):
    """``kernel`` cropped to its live taps on ``inputs`` (:func:`live_taps`)."""
    h_axis = 1 if layer.data_format == "channels_last" else 2
    taps = live_taps(
        layer.kernel_size,
        layer.strides,
        layer.padding,
        layer.dilation_rate,
        tuple(inputs.shape[h_axis : h_axis + 2]),
    )
    return kernel if taps is None else kernel[taps[0], taps[1]]


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
    (forward and backward); ``DepthwiseConv2D(implementation="shifted")``
    uses it. Needs static spatial sizes, which JAX always has.

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


def pointwise_matmul(inputs, kernel, strides, data_format):
    """A 1x1 convolution (one group) as a matrix product over the channel axis.

    A 1x1 kernel needs no padding: "same" and "valid" both read pixels
    ``0, s, 2s, ...`` of each axis, so the output is the product of each of
    those pixels' channel vector with the ``(C_in, C_out)`` kernel. Its
    gradients are matrix products too, which XLA and TensorFlow on the CPU
    compute several times faster than a 1x1 convolution's.

    Args:
        inputs: 4D tensor in ``data_format``.
        kernel: ``(1, 1, C_in, C_out)`` tensor.
        strides: pair of ints.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The 4D output tensor with ``C_out`` channels.
    """
    kernel = ops.reshape(kernel, kernel.shape[2:])
    if tuple(strides) != (1, 1):
        h_axis = 1 if data_format == "channels_last" else 2
        index = [slice(None)] * 4
        index[h_axis], index[h_axis + 1] = (slice(None, None, s) for s in strides)
        inputs = inputs[tuple(index)]
    if data_format == "channels_first":
        return ops.einsum("bchw,cd->bdhw", inputs, kernel)
    # A 2-D product: TensorFlow runs a 4-D one as a broadcast batched
    # product, several times slower.
    shape = ops.shape(inputs)
    outputs = ops.matmul(ops.reshape(inputs, (-1, shape[-1])), kernel)
    return ops.reshape(outputs, (*shape[:-1], kernel.shape[-1]))


def _channels_last(inputs, data_format):
    """``inputs`` in channels_last (a transpose of a channels_first tensor)."""
    return inputs if data_format == "channels_last" else ops.transpose(inputs, (0, 2, 3, 1))


def _in_format(outputs, data_format):
    """A channels_last result back in ``data_format``."""
    return outputs if data_format == "channels_last" else ops.transpose(outputs, (0, 3, 1, 2))


def _patches(padded, kernel_shape, strides, dilation_rate):
    """The input patch of every output pixel: ``((N, kh*kw, C), (out_height, out_width))``.

    ``padded`` is channels_last and padded for a "valid" convolution; row
    ``n`` holds, tap by tap in row-major order, the channel vectors that
    output pixel ``n`` (batch, row, column, flattened) reads.
    """
    kh, kw, channels = kernel_shape[:3]
    windows, out = _tap_windows(
        padded, (kh, kw, channels, 1), strides, dilation_rate, "channels_last"
    )
    return ops.reshape(ops.stack(windows, axis=-2), (-1, kh * kw, padded.shape[-1])), out


def patch_conv(inputs, kernel, strides, padding, dilation_rate, data_format):
    """A convolution (one group) as one matrix product of its input patches with the kernel.

    Each output pixel's ``kh*kw*C_in`` inputs are gathered into a row
    (im2col) and multiplied with the kernel reshaped to ``(kh*kw*C_in,
    C_out)``: the same sums as the convolution, in another order. Its
    gradients are a matrix product and the transpose of the gathering (pads
    and slices). The patch matrix is ``kh*kw`` times the output's pixels, so
    this pays only on small outputs: ``Conv2D`` uses it on JAX's CPU where
    the output has fewer pixels than the kernel has taps (:func:`_patches_pay`).

    Args:
        inputs: 4D tensor in ``data_format``, with static height and width.
        kernel: ``(kh, kw, C_in, C_out)`` tensor.
        strides, dilation_rate: pairs of ints.
        padding: ``"same"`` or ``"valid"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The 4D output tensor with ``C_out`` channels, in ``data_format``.
    """
    x = _channels_last(inputs, data_format)
    padded = _pad(x, kernel.shape, strides, padding, dilation_rate, "channels_last")
    patches, (oh, ow) = _patches(padded, kernel.shape, strides, dilation_rate)
    kh, kw, channels, filters = kernel.shape
    outputs = ops.matmul(
        ops.reshape(patches, (-1, kh * kw * channels)),
        ops.reshape(kernel, (kh * kw * channels, filters)),
    )
    return _in_format(ops.reshape(outputs, (-1, oh, ow, filters)), data_format)


def _grouped_kernel_gradient(padded, grad_outputs, kernel_shape, strides, dilation_rate, groups):
    """The kernel gradient of a grouped "valid" convolution as a product of patches.

    ``padded`` and ``grad_outputs`` are channels_last (a chunk of the batch);
    returns ``(kh, kw, C_in / groups, C_out)``, Keras' grouped kernel
    layout: output channel ``g * C_out / groups + j`` reads input channels
    ``g * C_in / groups ...``.
    """
    kh, kw, per_group, filters = kernel_shape
    patches, _ = _patches(padded, kernel_shape, strides, dilation_rate)
    patches = ops.reshape(patches, (-1, kh * kw, groups, per_group))
    grad = ops.reshape(grad_outputs, (-1, groups, filters // groups))
    return ops.reshape(ops.einsum("ntgc,ngd->tcgd", patches, grad), kernel_shape)


def grouped_conv_with_patch_gradient(
    inputs, kernel, strides, padding, dilation_rate, groups, data_format
):
    """A grouped convolution whose kernel gradient is a product of patches, on JAX.

    XLA's CPU convolution computes a grouped convolution's forward pass and
    input gradient as fast as PyTorch's, but its kernel gradient 100 to 300
    times slower (``benchmarks/README.md``). Here the forward pass and the
    input gradient stay Keras' ``ops.conv`` and its autodiff; the kernel
    gradient is the product of the input patches with the output gradient,
    per group, summed over batch chunks
    (:func:`kcv.backend.custom_conv_gradients`, which refuses forward-mode
    autodiff on JAX). Other backends compute ``ops.conv`` as it is.

    Args:
        inputs: 4D tensor in ``data_format``, with static height and width.
        kernel: ``(kh, kw, C_in / groups, C_out)`` tensor.
        strides, dilation_rate: pairs of ints.
        padding: ``"same"`` or ``"valid"``.
        groups: int > 1.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The 4D output tensor with ``C_out`` channels, in ``data_format``.
    """
    x = _channels_last(inputs, data_format)
    kernel_shape = tuple(kernel.shape)
    padded = _pad(x, kernel_shape, strides, padding, dilation_rate, "channels_last")
    geometry = dict(strides=tuple(strides), dilation_rate=tuple(dilation_rate))
    outputs = backend.custom_conv_gradients(
        functools.partial(ops.conv, padding="valid", data_format="channels_last", **geometry),
        None,
        functools.partial(
            _grouped_kernel_gradient, kernel_shape=kernel_shape, groups=groups, **geometry
        ),
        padded,
        kernel,
    )
    return _in_format(outputs, data_format)


def _patches_pay(inputs, kernel, strides, padding, dilation_rate, data_format):
    """Whether ``Conv2D`` computes this ungrouped convolution as :func:`patch_conv` on JAX's CPU.

    When the output has fewer pixels than the kernel has taps on an axis,
    XLA's CPU convolution leaves its fast kernels for a loop that is tens to
    hundreds of times slower: the forward pass once the input is smaller
    than the kernel (3x3, 256 -> 256 on 2x2 maps, batch 32: 16 ms against
    1.4 as patches; 5x5 on 4x4 maps: 762 ms), the input gradient once the
    output is (3x3 stride 2 on 4x4 maps: 25 ms against 1.0 for the forward
    pass). SE-ResNet-50 at 32x32 has 3x3 convolutions on 2x2 maps. The taps
    count, not the dilated reach: at rate 2 on 4x4 maps (reach 5) and at
    rate 18 on 32x32 maps (reach 37, ASPP's) XLA keeps its fast kernels
    (forward and both gradients, 2.6 and 13.3 ms against 2.9 and 48.0 as
    patches). Larger outputs keep XLA's convolution, faster there.
    """
    sizes = tuple(inputs.shape[axis] for axis in spatial_axes(data_format))
    if None in sizes:
        return False
    for size, k, s, d in zip(sizes, kernel.shape[:2], strides, dilation_rate):
        reach = (k - 1) * d + 1
        out = -(-size // s) if padding == "same" else (size - reach) // s + 1
        if out < k:
            return True
    return False


def _kernel_over_maps(inputs, kernel, strides):
    """How many times the kernel's numbers outnumber the mean of the maps it reads and writes.

    The size measure of the torch rules below: ``inputs`` channels_last, a
    strided convolution reading every ``stride``-th pixel, the output as
    many pixels as it reads.
    """
    rows, cols = (-(-size // stride) for size, stride in zip(inputs.shape[1:3], strides))
    channels, filters = kernel.shape[2:]
    return math.prod(kernel.shape) / (inputs.shape[0] * rows * cols * (channels + filters) / 2)


def _product_pays(inputs, kernel, strides, data_format):
    """Whether "auto" computes this 1x1 convolution on torch's CPU as :func:`pointwise_matmul`.

    Where the kernel holds at least as many numbers as the mean of the maps
    the product reads and writes (``channels_last``; a strided convolution
    reads every ``stride``-th pixel): there PyTorch's convolution needs the
    kernel copied to its ``(out, in, 1, 1)`` layout and the kernel gradient
    copied back, every step, which costs more than the matrix product loses
    to oneDNN's convolution elsewhere. Interleaved A/B, train step, batch 32
    at 32x32, 2-core CPU, against ``"native"``: MobileNetV1 55 -> 41 ms,
    SE-ResNet-50 270 -> 220 ms, MSDNet and GoogLeNet unchanged; a product for
    every 1x1 convolution made GoogLeNet 41 % and MSDNet 10 % slower. With
    the strided ones (SE-ResNet-50's two projection shortcuts on 2x2 and 4x4
    maps) against stride 1 only: SE-ResNet-50 200 -> 175 ms, the other
    models have none. It depends on the batch, so it is decided per call.
    """
    return data_format == "channels_last" and _kernel_over_maps(inputs, kernel, strides) >= 1


def _copies_pay(inputs, kernel, strides, groups, data_format):
    """Whether "auto" convolves contiguous NCHW copies on torch's CPU (``contiguous=True``).

    For a stride-1, ungrouped, ``channels_last`` convolution with a kernel
    larger than 1x1 that holds at least three times as many numbers as the
    mean of its input and output maps: small maps with many channels, where
    oneDNN's NCHW kernels outrun its channels_last ones by more than the
    copies cost. A 3x3 convolution at batch 32, forward and backward, 2-core
    CPU, channels_last views against NCHW copies: 512 channels on 4x4 maps
    (9x the maps) 37.7 / 32.2 ms, at rate 2 57.2 / 38.4 ms, 1024 channels on
    4x4 (18x) 269 / 168 ms, 512 on 2x2 (36x) 32.0 / 20.7 ms; 256 on 4x4
    (4.5x) 6.1 / 5.3 ms; 128 on 4x4 and 512 on 8x8 (2.25x) 1.6 / 1.8 and
    78 / 80 ms; 256 on 8x8 (1.1x) 16.3 / 17.8 ms. It depends on the batch,
    so it is decided per call.
    """
    if tuple(strides) != (1, 1) or groups != 1 or data_format != "channels_last":
        return False
    return math.prod(kernel.shape[:2]) > 1 and _kernel_over_maps(inputs, kernel, strides) >= 3


def shifted_depthwise_conv_with_gradients(
    inputs, kernel, strides, padding, dilation_rate, data_format
):
    """:func:`shifted_depthwise_conv` with the hand-written gradients on JAX.

    Pads the input once, outside the gradient (a pad fused into the chunked
    kernel gradient's reductions makes XLA's loops twice as slow), then
    convolves "valid" through :func:`kcv.backend.custom_conv_gradients`: the
    kernel gradient is :func:`shifted_depthwise_kernel_gradient` summed over
    batch chunks, the input gradient :func:`shifted_depthwise_input_gradient`
    where it applies (stride 1, depth multiplier 1), autodiff's elsewhere.
    On JAX this refuses forward-mode autodiff (``jax.jvp``, ``jax.jacfwd``):
    see :func:`kcv.backend.custom_conv_gradients`. Other backends
    differentiate the shifted form by autodiff, in either mode.

    Args:
        inputs: 4D tensor in ``data_format``, with static height and width.
        kernel: ``(kh, kw, C, M)`` tensor.
        strides, dilation_rate: pairs of ints.
        padding: ``"same"`` or ``"valid"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The 4D output tensor with ``C*M`` channels.

    Raises:
        ValueError: when the input's height or width is unknown (a
            TensorFlow graph traced with ``None`` sizes).
    """
    h_axis = 1 if data_format == "channels_last" else 2
    if None in tuple(inputs.shape[h_axis : h_axis + 2]):
        _validation.fail(
            "implementation",
            "'native' for inputs of unknown height or width (the shifted form "
            f"slices the input at fixed offsets; input shape {tuple(inputs.shape)})",
            "shifted",
        )
    kernel_shape = tuple(kernel.shape)
    padded = _pad(inputs, kernel_shape, strides, padding, dilation_rate, data_format)
    geometry = dict(
        strides=tuple(strides),
        padding="valid",
        dilation_rate=tuple(dilation_rate),
        data_format=data_format,
    )
    input_gradient = None  # autodiff's, unless the flipped-kernel form applies
    if geometry["strides"] == (1, 1) and kernel_shape[3] == 1:
        input_gradient = functools.partial(shifted_depthwise_input_gradient, **geometry)
    return backend.custom_conv_gradients(
        functools.partial(shifted_depthwise_conv, **geometry),
        input_gradient,
        functools.partial(shifted_depthwise_kernel_gradient, kernel_shape=kernel_shape, **geometry),
        padded,
        kernel,
    )


# What "auto" picks on the backends listed, when they run without an
# accelerator (timings in benchmarks/README.md); elsewhere Keras' own kernel.
_FAST_ON_CPU = {
    "depthwise": ("shifted", ("jax",)),
    "pointwise": ("matmul", ("jax", "tensorflow")),
}


def resolve_implementation(kind, requested="auto"):
    """The implementation a convolution layer uses, decided when it is built.

    ``requested`` (a layer's ``implementation`` argument) wins unless it is
    ``"auto"``; then the process default of :mod:`kcv.config` (set in code
    or by ``KCV_DEPTHWISE`` / ``KCV_POINTWISE``), unless that is ``"auto"``
    too; then the fastest computation for the running backend: on a CPU,
    ``"shifted"`` depthwise convolutions on JAX (XLA's grouped convolution is
    about 10x slower, forward and backward) and ``"matmul"`` 1x1
    convolutions on JAX and TensorFlow (their 1x1 convolution gradients are
    transposed convolutions, 5-10x slower than matrix products); ``"native"``
    on PyTorch and on every GPU or TPU.

    Args:
        kind: str. ``"depthwise"`` or ``"pointwise"``.
        requested: str. One of ``kcv.config.CONV_IMPLEMENTATIONS[kind]``.

    Returns:
        str: ``"native"``, ``"shifted"`` (depthwise) or ``"matmul"``
        (pointwise); never ``"auto"``.

    Example:

    >>> resolve_implementation("depthwise", "native")
    'native'
    """
    requested = _validation.one_of("implementation", requested, config.CONV_IMPLEMENTATIONS[kind])
    if requested == "auto":
        requested = config.conv_implementation(kind)
    if requested != "auto":
        return requested
    fast, backends = _FAST_ON_CPU[kind]
    if backend.name() in backends and not backend.has_accelerator():
        return fast
    return "native"


def _chooses_by_size(requested):
    """Whether a ``Conv2D`` built with ``requested`` chooses per call, by size.

    That is "auto" resolved to ``"native"`` on torch without an accelerator
    (:func:`_product_pays`, :func:`_copies_pay`).
    """
    if requested == "auto":
        requested = config.conv_implementation("pointwise")
    return requested == "auto" and backend.name() == "torch" and not backend.has_accelerator()


@keras.saving.register_keras_serializable(package="kcv")
class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` with a choice of computation.

    Same weights, saved variables and outputs as
    ``keras.layers.DepthwiseConv2D`` (tested against a NumPy reference, to
    float32 rounding), plus one argument: ``implementation``, how the
    depthwise convolution is computed.

    * ``"native"``: the backend's grouped convolution: Keras'
      ``ops.depthwise_conv``; on the torch backend PyTorch's ``conv2d``
      without Keras' layout copies (:func:`kcv.backend.torch_conv2d`).
    * ``"shifted"``: :func:`shifted_depthwise_conv`, a sum of ``k*k``
      shifted, per-channel scaled inputs, about 10x faster under XLA on the
      CPU; on JAX with hand-written, batch-chunked gradients
      (:func:`shifted_depthwise_conv_with_gradients`), which refuse
      forward-mode autodiff (``jax.jvp`` raises a ``TypeError``: build with
      ``"native"`` to take one). Needs static input height and width.
    * ``"auto"`` (default): the :mod:`kcv.config` default, else the fastest
      for the backend (:func:`resolve_implementation`).

    The choice is made once, in ``build``, and read back from
    ``implementation_in_use``. Either way a dilated kernel whose outer taps
    read only padding convolves with its live taps (:func:`live_taps`).
    ``get_config`` stores ``implementation`` as given, so a model saved
    with ``"auto"`` takes the loading process's default; every
    implementation holds the same kernel and computes the same function.

    Keras' ``DepthwiseConv2D.call`` calls ``ops.depthwise_conv`` itself,
    with no ``convolution_op`` hook as ``keras.layers.Conv2D`` has. So this
    layer adds that hook, ``convolution_op(inputs, kernel)``, and overrides
    ``call`` with Keras' own ``BaseConv.call`` body around it: the hook,
    then the bias (Keras' ``bias`` weight, reshaped to the channel axis) and
    ``activation``. ``build``, ``compute_output_shape`` and the weights are
    Keras'. (The bias is added with ``+``: Keras' ``ops.add`` on TensorFlow
    adds a ``(1, C, 1, 1)`` bias along the last axis of a channels_first map
    whose width is ``C``.)

    Args:
        kernel_size ... bias_constraint: as in ``keras.layers.DepthwiseConv2D``.
        implementation: str. ``"auto"``, ``"native"`` or ``"shifted"``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Returns:
        The convolved tensor, ``C * depth_multiplier`` channels.

    Example:

    >>> import numpy as np, kcv
    >>> dw = kcv.layers.DepthwiseConv2D(3, padding="same", implementation="shifted")
    >>> dw(np.ones((1, 8, 8, 4), "float32")).shape
    (1, 8, 8, 4)
    >>> dw.implementation_in_use
    'shifted'

    Reference:
        Howard et al., MobileNets, 2017, Sec. 3.1 (depthwise convolution).
    """

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.implementation = _validation.one_of(
            "implementation", implementation, config.CONV_IMPLEMENTATIONS["depthwise"]
        )
        self.implementation_in_use = None

    def build(self, input_shape):
        self.implementation_in_use = resolve_implementation("depthwise", self.implementation)
        super().build(input_shape)

    def convolution_op(self, inputs, kernel):
        """The depthwise convolution of ``inputs`` with ``kernel``, no bias.

        Args:
            inputs: 4D tensor in the layer's ``data_format``.
            kernel: ``(kh, kw, C, M)`` tensor (the layer's ``kernel``).

        Returns:
            The 4D output tensor, computed by ``implementation_in_use``.
        """
        kernel = _live_part(self, inputs, kernel)
        geometry = dict(
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        if self.implementation_in_use == "shifted":
            return shifted_depthwise_conv_with_gradients(inputs, kernel, **geometry)
        if backend.name() == "torch":
            kh, kw, channels, multiplier = kernel.shape
            grouped = ops.reshape(kernel, (kh, kw, 1, channels * multiplier))
            return _torch_conv(self, inputs, grouped, groups=channels)
        return ops.depthwise_conv(inputs, kernel, **geometry)

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.kernel)
        if self.use_bias:
            shape = (1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1)
            # `+`, not Keras' ops.add: on TensorFlow, ops.add turns this into
            # tf.nn.bias_add and guesses NHWC whenever the width equals the
            # channels, adding the bias along the width of a channels_first map.
            outputs = outputs + ops.reshape(self.bias, shape)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def get_config(self):
        return {**super().get_config(), "implementation": self.implementation}


@keras.saving.register_keras_serializable(package="kcv")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with a choice of computation for 1x1 kernels.

    Same weights, saved variables and outputs as ``keras.layers.Conv2D``
    (tested against a NumPy reference, to float32 rounding), plus one
    argument: ``implementation``, how a 1x1 convolution (one group) is
    computed.

    * ``"native"``: the backend's convolution, for every kernel: Keras'
      ``ops.conv``; on the torch backend PyTorch's ``conv2d`` without Keras'
      layout copies (:func:`kcv.backend.torch_conv2d`).
    * ``"matmul"``: a 1x1 kernel (one group) as a matrix product over the
      channel axis (:func:`pointwise_matmul`), whose gradients are matrix
      products too: 5-10x faster under XLA and TensorFlow on the CPU.
      Larger kernels and grouped convolutions are computed as ``"native"``,
      except on JAX without an accelerator, where XLA's convolution is
      slowest: an ungrouped kernel with more taps than its output has
      pixels on an axis is a product of input patches (:func:`patch_conv`; 3x3 on 2x2
      maps 10-25x faster, forward and backward), and a grouped
      convolution's kernel gradient is a product of patches per group
      (:func:`grouped_conv_with_patch_gradient`; 20-300x faster, and with it
      no forward-mode autodiff).
    * ``"auto"`` (default): the :mod:`kcv.config` default, else the fastest
      for the backend (:func:`resolve_implementation`). On torch without an
      accelerator that is ``"native"`` with two choices made per call, by
      size, where the kernel outweighs the maps: a 1x1 kernel is a matrix
      product (:func:`_product_pays`), a larger one convolves contiguous
      NCHW copies (:func:`_copies_pay`).

    The choice is made once, in ``build``, and read back from
    ``implementation_in_use``. Either way a dilated kernel whose outer taps
    read only padding convolves with its live taps (:func:`live_taps`),
    which can leave a 1x1 kernel. ``get_config`` stores ``implementation``
    as given, so a model saved with ``"auto"`` takes the loading process's
    default; every implementation holds the same kernel and computes the
    same function.

    Only Keras' public ``convolution_op(inputs, kernel)`` hook is
    overridden (and ``build``, to fix the implementation): the bias,
    activation, LoRA kernel and ``compute_output_shape`` are Keras' own.

    Args:
        filters ... bias_constraint: as in ``keras.layers.Conv2D``.
        implementation: str. ``"auto"``, ``"native"`` or ``"matmul"``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Returns:
        The convolved tensor.

    Example:

    >>> import numpy as np, kcv
    >>> conv = kcv.layers.Conv2D(16, 1, use_bias=False, implementation="matmul")
    >>> conv(np.ones((1, 8, 8, 4), "float32")).shape
    (1, 8, 8, 16)
    >>> conv.implementation_in_use
    'matmul'

    Reference:
        Lin, Chen, Yan. "Network In Network". ICLR 2014 (1x1 convolutions);
        Howard et al., MobileNets, 2017, Sec. 3.1 (pointwise convolution).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.implementation = _validation.one_of(
            "implementation", implementation, config.CONV_IMPLEMENTATIONS["pointwise"]
        )
        self.implementation_in_use = None
        self._by_size = False
        self._xla_cpu_products = False

    def build(self, input_shape):
        self.implementation_in_use = resolve_implementation("pointwise", self.implementation)
        self._by_size = _chooses_by_size(self.implementation)
        self._xla_cpu_products = (
            self.implementation_in_use == "matmul"
            and backend.name() == "jax"
            and not backend.has_accelerator()
        )
        super().build(input_shape)

    def convolution_op(self, inputs, kernel):
        """The convolution of ``inputs`` with ``kernel``, no bias.

        Args:
            inputs: 4D tensor in the layer's ``data_format``.
            kernel: ``(kh, kw, C_in / groups, filters)`` tensor.

        Returns:
            The 4D output tensor, computed by ``implementation_in_use``.
        """
        kernel = _live_part(self, inputs, kernel)
        pointwise = tuple(kernel.shape[:2]) == (1, 1) and self.groups == 1
        if pointwise and (
            self.implementation_in_use == "matmul"
            or (self._by_size and _product_pays(inputs, kernel, self.strides, self.data_format))
        ):
            return pointwise_matmul(inputs, kernel, self.strides, self.data_format)
        if backend.name() == "torch":
            contiguous = self._by_size and _copies_pay(
                inputs, kernel, self.strides, self.groups, self.data_format
            )
            return _torch_conv(self, inputs, kernel, groups=self.groups, contiguous=contiguous)
        geometry = (self.strides, self.padding, self.dilation_rate)
        if self._xla_cpu_products and self.groups > 1:
            return grouped_conv_with_patch_gradient(
                inputs, kernel, *geometry, self.groups, self.data_format
            )
        if self._xla_cpu_products and _patches_pay(inputs, kernel, *geometry, self.data_format):
            return patch_conv(inputs, kernel, *geometry, self.data_format)
        return ops.conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def get_config(self):
        return {**super().get_config(), "implementation": self.implementation}
