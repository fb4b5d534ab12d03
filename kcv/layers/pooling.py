"""Max pooling with a choice of computation: XLA's CPU gradient is slow.

``MaxPooling2D`` takes the arguments of ``keras.layers.MaxPooling2D`` plus
``implementation``, has no weights and gives the same outputs and gradients
(tested against Keras' layer on every backend, ties included); only how it
computes differs. XLA on the CPU computes a max pooling's gradient with a
``select_and_scatter`` loop that is 6-14x slower than PyTorch's (3x3, stride
1, 16x16 maps of 480 channels, batch 32, forward and backward: 159 ms
against PyTorch's 18), and GoogLeNet pools in every inception module. On
JAX without an accelerator the layer therefore computes
:func:`shifted_max_pool`: the maximum of the ``kh*kw`` strided windows of
the input, with a hand-written gradient that sends each output's gradient to
the first input pixel (row-major within the window) holding the maximum, as
XLA's and PyTorch's kernels do: 20 ms there (GoogLeNet's train step on JAX,
CIFAR size, batch 32: 3.3 -> 1.9 s).

Reference:
    Szegedy et al. "Going Deeper with Convolutions". 2014.
    https://arxiv.org/abs/1409.4842 (the 3x3 max-pooling branch of every
    inception module, Fig. 2).
"""

import keras
from keras import ops

from kcv import _validation
from kcv import backend
from kcv.layers.conv import _pad_width
from kcv.layers.conv import _spatial_pads
from kcv.layers.conv import _tap_windows
from kcv.layers.layout import spatial_axes

IMPLEMENTATIONS = ("auto", "native", "shifted")


def _max_of_windows(inputs, pool_size, strides, pads, data_format):
    """``(outputs, windows)``: the maximum over the strided windows of the input
    padded with -inf by ``pads``, and the windows (row-major taps)."""
    padded = inputs
    if any(map(any, pads)):
        padded = ops.pad(inputs, _pad_width(pads, data_format), constant_values=float("-inf"))
    windows, _ = _tap_windows(padded, (*pool_size, 1, 1), strides, (1, 1), data_format)
    outputs = windows[0]
    for window in windows[1:]:
        outputs = ops.maximum(outputs, window)
    return outputs, windows


def _first_max(outputs, windows):
    """Per output, the row-major index of the first window tap equal to it (int8;
    int32 beyond 127 taps)."""
    taps = len(windows)
    dtype = "int8" if taps < 128 else "int32"
    first = ops.full(outputs.shape, taps - 1, dtype)
    for tap in range(taps - 2, -1, -1):
        first = ops.where(ops.equal(windows[tap], outputs), ops.cast(tap, dtype), first)
    return first


def _shares(grad_outputs, first, taps, length, data_format):
    """Per input position ``q`` of a ``length`` grid, the sum over ``taps`` (``(tap, (di,
    dj))``) of output ``q - (di, dj)``'s gradient where that tap held its maximum."""
    h_axis = spatial_axes(data_format)[0]
    if not taps:  # a stride larger than the window: no tap lands on this phase
        shape = list(grad_outputs.shape)
        shape[h_axis : h_axis + 2] = length
        return ops.zeros(shape, grad_outputs.dtype)
    outs = grad_outputs.shape[h_axis : h_axis + 2]
    before = [max(shift[a] for _, shift in taps) for a in range(2)]
    reach = _pad_width([(b, max(0, n - o)) for b, n, o in zip(before, length, outs)], data_format)
    grad = ops.pad(grad_outputs, reach)
    first = ops.pad(first, reach, constant_values=-1)
    zero = ops.zeros((), grad_outputs.dtype)
    total = None
    index = [slice(None)] * 4
    for tap, shift in taps:
        for a in range(2):
            start = before[a] - shift[a]
            index[h_axis + a] = slice(start, start + length[a])
        window = tuple(index)
        term = ops.where(ops.equal(first[window], tap), grad[window], zero)
        total = term if total is None else total + term
    return total


def _interleave(phases, axis):
    """One tensor whose pixel ``q * len(phases) + r`` along ``axis`` is ``phases[r]``'s ``q``."""
    if len(phases) == 1:
        return phases[0]
    stacked = ops.stack(phases, axis=axis + 1)
    shape = list(stacked.shape)
    shape[axis : axis + 2] = [shape[axis] * len(phases)]
    return ops.reshape(stacked, shape)


def _route_to_first_max(grad_outputs, first, input_shape, pool_size, strides, pads, data_format):
    """The input gradient: each output's gradient at its first maximum, summed per input pixel.

    Output pixel ``o`` reads padded input ``o * stride + tap``. The padded
    input splits into ``stride`` phases per axis (its pixels ``q * stride +
    r``); phase ``r`` receives from the taps ``i`` with ``i % stride == r``,
    from output ``q - i // stride``: slices of the padded output gradient,
    one fused loop per phase, then the phases interleaved.
    """
    h_axis = spatial_axes(data_format)[0]
    padded = [input_shape[h_axis + a] + sum(pads[a]) for a in range(2)]
    length = [-(-n // stride) for n, stride in zip(padded, strides)]
    taps = list(enumerate(divmod(t, pool_size[1]) for t in range(pool_size[0] * pool_size[1])))
    phases = [
        [
            _shares(
                grad_outputs,
                first,
                [
                    (tap, (i // strides[0], j // strides[1]))
                    for tap, (i, j) in taps
                    if (i % strides[0], j % strides[1]) == (ri, rj)
                ],
                length,
                data_format,
            )
            for rj in range(strides[1])
        ]
        for ri in range(strides[0])
    ]
    rows = [_interleave(row, h_axis + 1) for row in phases]
    total = _interleave(rows, h_axis)
    index = [slice(None)] * 4
    for a in range(2):
        index[h_axis + a] = slice(pads[a][0], pads[a][0] + input_shape[h_axis + a])
    return total[tuple(index)]


def shifted_max_pool(inputs, pool_size, strides, padding, data_format):
    """Max pooling as the maximum of strided windows; on JAX with a first-max gradient.

    Computes what ``keras.ops.max_pool`` computes (TensorFlow's "same"
    padding, with -inf). On JAX the gradient is hand-written
    (:func:`kcv.backend.with_reverse_gradient`): each output's gradient
    goes to the first input pixel of its window, in row-major order, that
    equals the maximum — XLA's and PyTorch's choice among tied inputs (a
    ReLU's zeros tie often) — and the input gradient reads, per tap, one
    slice of the padded output gradient per phase of the stride: 4-30x
    faster than XLA's ``select_and_scatter`` on a CPU. Forward-mode
    autodiff (``jax.jvp``) is refused on JAX; a ``MaxPooling2D`` built with
    ``implementation="native"`` takes it. Other backends compute
    ``keras.ops.max_pool``.

    Args:
        inputs: 4D tensor in ``data_format`` (JAX's shapes are static when it
            computes, even where a model was built for any image size).
        pool_size, strides: pairs of ints.
        padding: ``"same"`` or ``"valid"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The pooled 4D tensor.

    Example:

    >>> import numpy as np
    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> y = shifted_max_pool(x, (2, 2), (2, 2), "valid", "channels_last")
    >>> np.asarray(y)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    pool_size, strides = tuple(pool_size), tuple(strides)
    if backend.name() != "jax":
        return ops.max_pool(inputs, pool_size, strides, padding, data_format)
    input_shape = tuple(inputs.shape)
    pads = _spatial_pads(inputs, pool_size, strides, padding, (1, 1), data_format)

    def pool(x):
        return _max_of_windows(x, pool_size, strides, pads, data_format)[0]

    def forward(x):
        outputs, windows = _max_of_windows(x, pool_size, strides, pads, data_format)
        return outputs, _first_max(outputs, windows)

    def backward(first, grad_outputs):
        return (
            _route_to_first_max(
                grad_outputs, first, input_shape, pool_size, strides, pads, data_format
            ),
        )

    return backend.with_reverse_gradient(pool, forward, backward, (inputs,), _FORWARD_MODE_HINT)


_FORWARD_MODE_HINT = (
    "kcv's max pooling on JAX's CPU has a hand-written reverse-mode gradient only "
    "(kcv.layers.pooling.shifted_max_pool). For jax.jvp or jax.jacfwd, build the "
    'layer with implementation="native".'
)


@keras.saving.register_keras_serializable(package="kcv")
class MaxPooling2D(keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` with a choice of computation.

    Same arguments, outputs and gradients as ``keras.layers.MaxPooling2D``,
    plus ``implementation``:

    * ``"native"``: Keras' ``ops.max_pool``.
    * ``"shifted"``: :func:`shifted_max_pool`, JAX only: the maximum of the
      strided windows, with a hand-written first-max gradient 4-30x faster
      than XLA's on a CPU; it refuses forward-mode autodiff (``jax.jvp``).
    * ``"auto"`` (default): ``"shifted"`` on JAX without an accelerator,
      ``"native"`` elsewhere.

    The choice is made in ``build`` and read back from
    ``implementation_in_use``; ``get_config`` stores ``implementation`` as
    given.

    Args:
        pool_size ... data_format: as in ``keras.layers.MaxPooling2D``.
        implementation: str. ``"auto"``, ``"native"`` or ``"shifted"``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Returns:
        The pooled tensor.

    Raises:
        ValueError: ``implementation="shifted"`` off the JAX backend.

    Example:

    >>> import numpy as np, kcv
    >>> pool = kcv.layers.MaxPooling2D(3, strides=1, padding="same")
    >>> pool(np.ones((2, 8, 8, 4), "float32")).shape
    (2, 8, 8, 4)

    Reference:
        Szegedy et al., Going Deeper with Convolutions, 2014, Fig. 2.
    """

    def __init__(
        self,
        pool_size=(2, 2),
        strides=None,
        padding="valid",
        data_format=None,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(
            pool_size=pool_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            **kwargs,
        )
        self.implementation = _validation.one_of("implementation", implementation, IMPLEMENTATIONS)
        self.implementation_in_use = None

    def build(self, input_shape):
        on_jax = backend.name() == "jax"
        if self.implementation == "shifted" and not on_jax:
            _validation.fail("implementation", "'auto' or 'native' off the JAX backend", "shifted")
        fast = on_jax and not backend.has_accelerator()
        shifted = self.implementation == "shifted" or (self.implementation == "auto" and fast)
        self.implementation_in_use = "shifted" if shifted else "native"
        super().build(input_shape)

    def call(self, inputs):
        if self.implementation_in_use != "shifted":
            return super().call(inputs)
        return shifted_max_pool(
            inputs, self.pool_size, self.strides, self.padding, self.data_format
        )

    def get_config(self):
        return {**super().get_config(), "implementation": self.implementation}
