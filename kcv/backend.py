"""The one module of kcv that imports TensorFlow, JAX or PyTorch directly.

Everything else in kcv is written with ``keras.ops`` and asks this module when it
needs a fact about the running backend: its name and devices, which backends
are installed, gradients for the test battery and for saliency maps
(:func:`value_and_input_gradient`), PyTorch checkpoints for pretrained
weights (:func:`load_torch_file`), and the JAX-only pieces of kcv's fast
convolutions and pooling (:func:`sum_together`, :func:`custom_conv_gradients`,
:func:`with_reverse_gradient`). Which
implementation a convolution layer uses is not decided here: the layer
resolves it when it is built (``kcv.layers.conv.resolve_implementation``,
from its ``implementation`` argument and :mod:`kcv.config`).

Importing this module loads neither Keras nor a backend: the functions that
need Keras import it when called. So :func:`installed_backends` answers
where Keras cannot start for lack of a backend (``python -m kcv`` says so).
"""

import importlib
import importlib.metadata
import inspect

import numpy as np

BACKENDS = ("jax", "tensorflow", "torch")

# Distributions that provide each backend's Python package, in order of preference.
_DISTRIBUTIONS = {
    "jax": ("jax",),
    "tensorflow": ("tensorflow-cpu", "tensorflow", "tf-nightly"),
    "torch": ("torch",),
}
_MODULES = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}


def name():
    """Returns the name of the running Keras backend (``"jax"``, ...)."""
    import keras

    return keras.backend.backend()


def installed_backends():
    """Returns ``{backend: version or None}`` for the three backends kcv supports.

    Reads package metadata only: nothing is imported, so this is cheap and safe
    to call whichever backend is running.
    """
    found = {}
    for backend in BACKENDS:
        found[backend] = None
        for dist in _DISTRIBUTIONS[backend]:
            try:
                found[backend] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def _module():
    return importlib.import_module(_MODULES[name()])


def devices():
    """Returns the running backend's devices as strings, e.g. ``["cpu:0"]``."""
    backend = name()
    if backend == "jax":
        return [f"{d.platform}:{d.id}" for d in _module().devices()]
    if backend == "tensorflow":
        return [
            d.name.replace("/device:", "").lower() for d in _module().config.list_logical_devices()
        ]
    if backend == "torch":
        torch = _module()
        found = ["cpu:0"]
        if torch.cuda.is_available():
            found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return found
    return ["cpu:0"]


def has_accelerator():
    """True when the running backend sees a GPU or TPU."""
    return any(not d.startswith("cpu") for d in devices())


def use_full_float32_precision():
    """Makes float32 matrix products and convolutions run in full float32.

    On NVIDIA GPUs since Ampere, JAX, PyTorch and TensorFlow may compute
    float32 matrix products and convolutions with TensorFloat-32 (a 10-bit
    mantissa) unless told otherwise, which moves results by about 1e-3
    relative. That is a speed setting, fine for training, but it breaks
    comparisons against float64 references at 1e-5: the test suite and the
    chapters that check numbers call this first (the grader runs on the CPU).
    It changes nothing on a CPU. Only the running backend is configured.

    Example:

    >>> from kcv import backend
    >>> backend.use_full_float32_precision()
    """
    backend = name()
    if backend == "jax":
        _module().config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        torch = _module()
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif backend == "tensorflow":
        _module().config.experimental.enable_tensor_float_32_execution(False)


def channels_first_support():
    """Returns ``(supported, reason)`` for ``channels_first`` convolutions.

    TensorFlow has no NCHW convolution kernels on the CPU; JAX and PyTorch run
    both layouts everywhere.
    """
    if name() == "tensorflow" and not has_accelerator():
        return False, "TensorFlow implements NCHW convolutions on GPU only"
    return True, ""


def sum_together(tensors, axes):
    """Sums each tensor over ``axes``; on JAX, all in one pass over the data.

    Several reductions of products of the same inputs (the taps of a kernel
    gradient) are memory-bound when each streams its inputs on its own. On
    JAX they become one variadic ``lax.reduce``, which XLA fuses into a single
    loop. Other backends sum each tensor with ``keras.ops.sum``.

    Args:
        tensors: list of tensors of one shape and dtype.
        axes: tuple of axes to reduce.

    Returns:
        The list of sums, in order.
    """
    import keras

    if name() != "jax":
        return [keras.ops.sum(t, axis=axes) for t in tensors]
    from jax import lax

    zeros = tuple(np.zeros((), tensors[0].dtype) for _ in tensors)
    return list(
        lax.reduce(tuple(tensors), zeros, lambda a, b: tuple(x + y for x, y in zip(a, b)), axes)
    )


def custom_conv_gradients(
    convolve, input_gradient, kernel_gradient, inputs, kernel, chunk_bytes=None
):
    """Returns ``convolve(inputs, kernel)``; on JAX, with hand-written gradients.

    A kernel gradient is a sum over the batch of per-example products, and on
    a CPU it is memory-bound: XLA streams the whole batch through memory. On
    JAX this function gives ``convolve`` a custom gradient: the kernel
    gradient is ``kernel_gradient`` summed over batch chunks of about
    ``chunk_bytes`` of input, each small enough to stay in cache (with
    :func:`sum_together`, about 4x faster than autodiff for a MobileNetV2
    block on a CPU); the input gradient is ``input_gradient``, or autodiff's
    when it is None. Other backends call ``convolve`` directly.

    By default a chunk holds about 2 MiB of input (a core's L2 cache on
    the 2-core Xeon the benchmarks ran on), but at least two examples:
    XLA's reduction over a chunk of a single example is about twice as
    slow. A depthwise 3x3 kernel gradient, batch 32 (ms, 4 MiB chunks ->
    these): 16x16 maps of 64 channels 4.4 -> 1.3, 8x8 of 256 3.1 -> 1.3,
    32x32 of 32 5.2 -> 3.1; batch 16 on 32x32 maps of 128 channels 7.9 ->
    4.3, of 384 channels 15.0 -> 15.6 (two examples either way; one: 30).

    Forward-mode autodiff (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) is
    refused on JAX: a ``jax.custom_vjp`` function has a reverse-mode rule
    only, and JAX raises ``TypeError: can't apply forward-mode autodiff
    (jvp) to a custom_vjp function``; where ``jax.jvp`` reaches this call
    directly (not through a ``jax.jit`` of it) the message goes on to name
    the way out, a layer built with ``implementation="native"``. A forward-mode rule cannot be added:
    ``jax.custom_jvp`` and ``jax.custom_vjp`` do not compose, and reverse
    mode through a ``custom_jvp`` rule would transpose autodiff's gradient,
    not the chunked one this function exists for.

    Args:
        convolve: ``convolve(inputs, kernel) -> outputs``, linear in both.
        input_gradient: ``input_gradient(grad_outputs, kernel) -> grad_inputs``,
            or None for autodiff.
        kernel_gradient: ``kernel_gradient(inputs, grad_outputs) -> grad_kernel``
            for a chunk of the batch.
        inputs: batch-first tensor.
        kernel: the kernel (variable or tensor).
        chunk_bytes: int or None. Target input bytes per chunk (a chunk
            holds at least one example); None: the larger of 2 MiB and two
            examples.

    Returns:
        ``convolve(inputs, kernel)``.
    """
    if name() != "jax":
        return convolve(inputs, kernel)
    import jax
    import keras

    # Variables become their (autocast) values.
    inputs, kernel = keras.ops.convert_to_tensor(inputs), keras.ops.convert_to_tensor(kernel)
    batch = inputs.shape[0]
    per_example = max(1, inputs.dtype.itemsize * int(np.prod(inputs.shape[1:])))
    if chunk_bytes is None:
        chunk_bytes = max(2 * 2**20, 2 * per_example)
    most = max(1, chunk_bytes // per_example)
    chunk = max(d for d in range(1, min(batch, most) + 1) if batch % d == 0)

    def forward(x, k):
        return convolve(x, k), (x, k)

    def backward(saved, grad_out):
        x, k = saved
        if input_gradient is None:
            (grad_x,) = jax.vjp(lambda x_: convolve(x_, k), x)[1](grad_out)
        else:
            grad_x = input_gradient(grad_out, k)
        split = (batch // chunk, chunk)

        def accumulate(total, pair):
            return total + kernel_gradient(*pair).astype("float32"), None

        grad_k, _ = jax.lax.scan(
            accumulate,
            jax.numpy.zeros(k.shape, "float32"),
            (x.reshape(split + x.shape[1:]), grad_out.reshape(split + grad_out.shape[1:])),
        )
        return grad_x, grad_k.astype(k.dtype)

    return with_reverse_gradient(convolve, forward, backward, (inputs, kernel), _FORWARD_MODE_HINT)


_FORWARD_MODE_HINT = (
    "kcv's shifted depthwise convolution, and its grouped convolution on JAX's "
    "CPU, have a hand-written reverse-mode gradient only "
    "(kcv.backend.custom_conv_gradients). For jax.jvp or jax.jacfwd, build the "
    'layer with implementation="native" (or call kcv.config.set_conv_implementation('
    'depthwise="native", pointwise="native") before building it).'
)


def with_reverse_gradient(function, forward, backward, inputs, hint):
    """Returns ``function(*inputs)``; on JAX, with a hand-written reverse-mode gradient.

    On JAX ``function`` becomes a ``jax.custom_vjp``: ``forward(*inputs)``
    returns ``(outputs, saved)``, ``backward(saved, grad_outputs)`` the
    gradients with respect to ``inputs``, one per input, as a tuple.
    Forward-mode autodiff (``jax.jvp``) is then refused with JAX's
    ``TypeError``, followed by ``hint`` (how to take one anyway) where
    ``jax.jvp`` reaches this call directly (not through a ``jax.jit`` of
    it). Other backends call ``function`` and differentiate it by autodiff.

    Args:
        function: ``function(*inputs) -> outputs``.
        forward: ``forward(*inputs) -> (outputs, saved)``, the same outputs.
        backward: ``backward(saved, grad_outputs) -> tuple of grad_inputs``.
        inputs: tuple of tensors (variables become their autocast values).
        hint: str. Appended to the forward-mode error.

    Returns:
        ``function(*inputs)``.

    Example:

    >>> import numpy as np
    >>> with_reverse_gradient(
    ...     lambda x: 2 * x, lambda x: (2 * x, None), lambda _, g: (2 * g,),
    ...     (np.ones(2, "float32"),), "").tolist()
    [2.0, 2.0]
    """
    if name() != "jax":
        return function(*inputs)
    import jax
    import keras

    custom = jax.custom_vjp(function)
    custom.defvjp(forward, backward)
    try:
        return custom(*(keras.ops.convert_to_tensor(x) for x in inputs))
    except TypeError as error:
        if "forward-mode" not in str(error):
            raise
        raise TypeError(f"{error} {hint}") from error


def value_and_gradients(model, inputs, targets, loss_fn, jit=False):
    """Loss and per-variable gradients of ``model`` in training mode (eagerly unless ``jit``).

    Args:
        model: a built ``keras.layers.Layer`` or ``keras.Model``.
        inputs: the model's input (array or list of arrays).
        targets: array (or list of arrays, one per output) for ``loss_fn``.
        loss_fn: ``loss_fn(targets, outputs) -> scalar``, written in keras.ops.
        jit: bool. On JAX, compile the gradient computation as one program
            (one XLA compilation instead of one per operation: much faster
            the first time on the CPU). Other backends ignore it.

    Returns:
        ``(loss, gradients)``: a Python float and one numpy array per entry of
        ``model.trainable_variables``, in the same order.
    """
    import keras

    backend = name()
    variables = model.trainable_variables
    if backend == "jax":
        import jax

        # stateless_call hands keyword arguments straight to call().
        takes_training = "training" in inspect.signature(model.call).parameters
        flags = {"training": True} if takes_training else {}

        def loss_of(trainable):
            outputs, _ = model.stateless_call(
                trainable,
                [v.value for v in model.non_trainable_variables],
                inputs,
                **flags,
            )
            return loss_fn(targets, outputs)

        gradient_fn = jax.value_and_grad(loss_of)
        if jit:
            gradient_fn = jax.jit(gradient_fn)
        loss, grads = gradient_fn([v.value for v in variables])
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(targets, model(inputs, training=True))
        grads = tape.gradient(loss, [v.value for v in variables])
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        loss = loss_fn(targets, model(inputs, training=True))
        if loss.requires_grad:  # False for a layer without trainable weights
            loss.backward()
        loss = loss.detach()
        grads = [v.value.grad for v in variables]
    else:
        raise NotImplementedError(f"Gradients are not wired for backend {backend!r}.")
    grads = [None if g is None else np.asarray(keras.ops.convert_to_numpy(g)) for g in grads]
    return float(keras.ops.convert_to_numpy(loss)), grads


def value_and_input_gradient(fn, inputs, jit=False):
    """A scalar function and its gradient with respect to its input (eagerly unless ``jit``).

    What saliency methods need: e.g. Grad-CAM's gradient of a class score
    with respect to a feature map (``fn`` runs the rest of the network).
    Model weights are constants here; layers run as ``fn`` calls them.

    Args:
        fn: ``fn(x) -> scalar tensor``, written in keras.ops.
        inputs: float array (numpy or backend tensor), the point ``x``.
        jit: bool. On JAX, compile ``fn`` and its gradient as one program
            (one XLA compilation instead of one per operation); the weights
            ``fn`` reads become constants of that program. Other backends
            ignore it.

    Returns:
        ``(value, gradient)``: a Python float and a float32 numpy array of
        the shape of ``inputs`` (zeros where ``fn`` does not depend on ``x``).

    Example:

    >>> import numpy as np, keras
    >>> value, grad = value_and_input_gradient(
    ...     lambda x: keras.ops.sum(x ** 2), np.array([1.0, 2.0], "float32"))
    >>> value, grad.tolist()
    (5.0, [2.0, 4.0])
    """
    import keras

    backend = name()
    x = keras.ops.convert_to_tensor(inputs, dtype="float32")
    if backend == "jax":
        import jax

        gradient_fn = jax.value_and_grad(fn)
        value, grad = (jax.jit(gradient_fn) if jit else gradient_fn)(x)
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        grad = tape.gradient(value, x)
    elif backend == "torch":
        import torch

        x = x.detach().requires_grad_(True)
        value = fn(x)
        grad = None
        if value.requires_grad:
            (grad,) = torch.autograd.grad(value, x, allow_unused=True)
        value = value.detach()
    else:
        raise NotImplementedError(f"Gradients are not wired for backend {backend!r}.")
    if grad is None:
        grad = keras.ops.zeros_like(x)
    return (
        float(keras.ops.convert_to_numpy(value)),
        np.asarray(keras.ops.convert_to_numpy(grad), dtype="float32"),
    )


def versions():
    """Returns an ordered mapping of the versions that matter for a bug report."""
    import keras

    import kcv

    info = {"kcv": kcv.__version__, "keras": keras.__version__}
    for backend, version in installed_backends().items():
        info[backend] = version or "not installed"
    return info


def load_torch_file(path):
    """Reads a PyTorch checkpoint, e.g. a torchvision ``.pth`` state dict, on the CPU.

    ``torch.load(path, map_location="cpu", weights_only=True)``: the safe
    loader, which unpickles tensors and plain containers only, never code.
    Works whichever Keras backend runs (PyTorch must be installed);
    :func:`kcv.weights.load_torchvision` reads ``.pth`` files with it.

    Args:
        path: str or path-like. The file.

    Returns:
        What the file holds: for a state dict, a mapping of parameter names
        to ``torch.Tensor``.

    Raises:
        ImportError: PyTorch is not installed (the message says how to
            proceed without it).
    """
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading {str(path)!r} needs PyTorch: pip install torch (or pass the state dict "
            "as a dict of NumPy arrays, or use a .safetensors file)."
        ) from error
    return torch.load(path, map_location="cpu", weights_only=True)


def torch_conv2d(
    inputs, kernel, strides, pads, dilation_rate, groups, data_format, contiguous=False
):
    """A 2D convolution on the torch backend without Keras' layout copies.

    Keras' torch ``ops.conv`` on a channels_last map copies the input to
    NCHW, copies it back to PyTorch's channels_last memory format, and copies
    the kernel likewise, on every call, forward and backward (the 957
    ``copy_`` per MSDNet-block step in benchmarks/README.md). An NHWC tensor
    permuted to NCHW already *is* a channels_last tensor: this function hands
    ``torch.nn.functional.conv2d`` that view, and the kernel as a
    ``(filters, C / groups, kh, kw)`` view, and permutes the channels_last
    result back, also a view. Same arithmetic; symmetric padding is the
    convolution's own, uneven padding (a stride-2 "same" convolution's odd
    pixel after) one ``F.pad``.

    With ``contiguous=True`` it copies the input and the kernel to PyTorch's
    default (NCHW, OIHW) layouts instead, and the output back to
    ``data_format``: on small maps with many channels oneDNN's NCHW kernels
    outrun its channels_last ones by more than the copies cost
    (:func:`kcv.layers.conv.Conv2D` chooses per call).

    Args:
        inputs: 4D torch tensor in ``data_format``.
        kernel: ``(kh, kw, C / groups, filters)`` tensor or Keras variable.
        strides, dilation_rate: pairs of ints.
        pads: ``((top, bottom), (left, right))`` zero padding.
        groups: int. ``C / kernel.shape[2]``.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        contiguous: bool. Convolve contiguous NCHW copies (see above).

    Returns:
        The 4D output in ``data_format``.

    Example:

    >>> # on the torch backend, inside kcv.layers.Conv2D.convolution_op:
    >>> # torch_conv2d(x, layer.kernel, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "channels_last")
    """
    import keras
    import torch.nn.functional as F

    x = keras.ops.convert_to_tensor(inputs)
    weight = keras.ops.convert_to_tensor(kernel).permute(3, 2, 0, 1)
    if data_format == "channels_last":
        x = x.permute(0, 3, 1, 2)
    if all(before == after for before, after in pads):
        padding = (pads[0][0], pads[1][0])
    else:
        x = F.pad(x, (*pads[1], *pads[0]))
        padding = 0
    if contiguous:
        x, weight = x.contiguous(), weight.contiguous()
    y = F.conv2d(
        x,
        weight,
        stride=tuple(strides),
        padding=padding,
        dilation=tuple(dilation_rate),
        groups=groups,
    )
    y = y.permute(0, 2, 3, 1) if data_format == "channels_last" else y
    return y.contiguous() if contiguous else y


# Fewer channels than this: torch_batch_norm_training normalizes NCHW copies.
_FEW_CHANNELS = 16


def _torch_value(variable, dtype):
    """A Keras variable's (autocast) torch value in ``dtype``: ``ops.cast`` without its
    Python dispatch, which costs more than the cast on small tensors."""
    value = variable.value
    return value if value.dtype == dtype else value.to(dtype)


def torch_batch_norm_training(layer, inputs):
    """``keras.layers.BatchNormalization``'s training step as PyTorch's one fused kernel.

    Keras' torch backend computes a training batch normalization as separate
    operations (the moments, then subtract, multiply, add, each with its
    gradient); PyTorch has one fused kernel, forward and backward. This
    function gives ``layer`` (a Keras ``BatchNormalization``, training, no
    mask, no renorm, not synchronized) that kernel while keeping Keras'
    semantics: float16/bfloat16 inputs normalized in float32, the batch
    variance *biased* both for normalizing and for ``moving_variance`` (Keras'
    convention; PyTorch's running variance is unbiased, so the unbiased
    variance its kernel returns is scaled back by ``(n - 1) / n``), moving
    statistics updated as Keras does, output in the layer's compute dtype. The
    channel axis is moved to position 1 as a view, so a channels_last map is
    not copied — unless it has fewer than 16 channels on the CPU: PyTorch's
    channels_last CPU kernel vectorizes over the channels and runs scalar
    below one vector, so the map is copied to NCHW and back. Forward and backward,
    batch 32, 2-core CPU: 6 channels at 32x32 1157 -> 469 us, 12 at 16x16
    328 -> 251 us; 16 at 32x32 400 us on the view against 1444 us with the
    copies, 24 at 16x16 300 against 482 us. MSDNet's train step (growth
    rate 6), interleaved A/B: 227.5 -> 215.8 ms.

    Args:
        layer: the ``keras.layers.BatchNormalization`` being called.
        inputs: its input tensor (torch).

    Returns:
        The normalized tensor, or None when a channel has a single value in
        the batch (PyTorch's kernel refuses it): the caller then runs Keras'
        own computation.

    Example:

    >>> # on the torch backend, inside kcv.layers.BatchNormalization.call:
    >>> # outputs = torch_batch_norm_training(self, inputs)
    """
    import keras
    import torch
    import torch.nn.functional as F

    ops = keras.ops
    x = ops.convert_to_tensor(inputs)
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    axis = layer.axis % x.ndim
    x = x.movedim(axis, 1)
    count = x.numel() // x.shape[1]
    if count < 2:
        return None
    copies = x.device.type == "cpu" and x.shape[1] < _FEW_CHANNELS and not x.is_contiguous()
    if copies:
        x = x.contiguous()
    statistics = [torch.zeros(x.shape[1], dtype=x.dtype, device=x.device) for _ in range(2)]
    gamma = _torch_value(layer.gamma, x.dtype) if layer.scale else None
    beta = _torch_value(layer.beta, x.dtype) if layer.center else None
    # momentum=1: the "running" buffers receive this batch's mean and unbiased variance.
    outputs = F.batch_norm(x, *statistics, gamma, beta, True, 1.0, layer.epsilon)
    mean, variance = statistics[0], statistics[1] * ((count - 1) / count)
    momentum = layer.momentum
    moving_mean = _torch_value(layer.moving_mean, x.dtype)
    moving_variance = _torch_value(layer.moving_variance, x.dtype)
    layer.moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(moving_variance * momentum + variance * (1.0 - momentum))
    outputs = outputs.movedim(1, axis)
    return ops.cast(outputs.contiguous() if copies else outputs, layer.compute_dtype)
