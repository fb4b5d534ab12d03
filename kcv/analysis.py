"""Accounting for convolutional networks: parameters, MACs, receptive fields, output sizes.

The numbers the papers put in their tables, computed from a Keras model or
layer on any backend:

* :func:`count_params`: trainable parameters;
* :func:`count_macs`: multiply-accumulates of the convolutions and dense
  layers for one image, the papers' "mult-adds" (MobileNet, Table 1-2);
* :func:`receptive_field`: size, jump (effective stride) and start of the
  receptive field of a chain of convolutions and poolings;
* :func:`conv_output_size`: the output length of a convolution or pooling;
* :func:`summary`: a per-layer table of output shape, parameters, MACs and
  receptive field, with the totals.

References:
    Howard et al. "MobileNets: Efficient Convolutional Neural Networks for
    Mobile Vision Applications". 2017 (mult-adds, Eq. 5, Tables 1-2).
    https://arxiv.org/abs/1704.04861
    Sandler et al. "MobileNetV2: Inverted Residuals and Linear Bottlenecks".
    CVPR 2018 (Table 4). https://arxiv.org/abs/1801.04381
    He et al. "Deep Residual Learning for Image Recognition". CVPR 2016
    (Table 1: FLOPs counted as multiply-adds). https://arxiv.org/abs/1512.03385
    Araujo, Norris, Sim. "Computing Receptive Fields of Convolutional Neural
    Networks". Distill 2019. https://distill.pub/2019/computing-receptive-fields
    Dumoulin, Visin. "A guide to convolution arithmetic for deep learning".
    2016 (output sizes). https://arxiv.org/abs/1603.07285
"""

import dataclasses
import inspect
import math

import keras

from kcv import _validation
from kcv.layers.depthwise import DepthwiseSeparableConv
from kcv.layers.depthwise import InvertedResidual
from kcv.layers.encoding import Encoding

_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_COUNTED = _CONVOLUTIONS + _DEPTHWISE + _SEPARABLE + _TRANSPOSED + (keras.layers.Dense, Encoding)

# Layers whose weights only scale and shift: they hold no multiply-accumulates.
_AFFINE = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.PReLU,
)

_POOLING = (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
)
_ZERO_PADDING = (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D)
# Layers that act on each pixel on its own (BN at inference): no effect on the field.
_PER_PIXEL = (
    keras.layers.InputLayer,
    keras.layers.BatchNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Identity,
    keras.layers.Rescaling,
)


def _check_padding(value):
    if value in ("valid", "same"):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"`padding` must be 'valid', 'same' or an integer >= 0 (symmetric "
            f"explicit padding), received {value!r}."
        )
    return value


def count_params(model_or_layer):
    """Counts the trainable parameters of a built Keras model or layer.

    Non-trainable weights (BatchNormalization's moving mean and variance) are
    not counted, as in the papers' tables; a weight shared by several layers
    counts once. ``keras.Model.count_params()`` counts both kinds.

    Args:
        model_or_layer: keras.layers.Layer (a keras.Model is one). Must be
            built: called on data, built with ``build(input_shape)``, or a
            model with a known input.

    Returns:
        int. The number of trainable scalars.

    Raises:
        ValueError: when ``model_or_layer`` is not a built Keras layer.

    Example:

    >>> import kcv
    >>> block = kcv.layers.DepthwiseSeparableConv(64)
    >>> block.build((None, 16, 16, 32))
    >>> kcv.analysis.count_params(block)  # 9·32 + 2·32 (BN) + 32·64 + 2·64 (BN)
    2528

    Reference:
        Howard et al., MobileNets, 2017, Table 1 (4.2 million parameters).
    """
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise ValueError(
            f"`model_or_layer` must be a Keras layer or model, received "
            f"{type(model_or_layer).__name__}."
        )
    if not model_or_layer.built:
        raise ValueError(
            f"`model_or_layer` ({model_or_layer.name!r}) is not built, so it has no "
            "weights yet: call it on data or call `build(input_shape)` first."
        )
    unique = {id(w): w for w in model_or_layer.trainable_weights}
    return sum(math.prod(w.shape) for w in unique.values())


def _parent_path(variable):
    """``"block/conv"`` for a variable whose path is ``"block/conv/kernel"``."""
    return variable.path.rpartition("/")[0]


def _own_trainable_weights(layer):
    """The trainable weights a layer created itself, not those of its sublayers.

    A model lists its sublayers (``keras.Model.layers``); another layer's own
    weights are those whose path (``keras.Variable.path``) is the layer's
    own (``keras.layers.Layer.path``): a sublayer's weights lie one level
    deeper, ``<layer>/<sublayer>/kernel``, whatever attribute holds it.
    """
    if isinstance(layer, keras.Model):
        nested = {id(w) for sub in layer.layers for w in sub.weights}
        return [w for w in layer.trainable_weights if id(w) not in nested]
    return [w for w in layer.trainable_weights if _parent_path(w) == layer.path]


def _holds_layers(layer):
    """True for a model with layers, or a layer holding weights of sublayers."""
    if isinstance(layer, keras.Model):
        return bool(layer.layers)
    return any(_parent_path(w) != layer.path for w in layer.weights)


def _position(layer, sublayer):
    """Where ``sublayer``'s weights first come in ``layer.weights`` (the order
    in which ``layer`` holds its sublayers); after all of them if it has none."""
    prefix = f"{sublayer.path}/"
    return next(
        (i for i, w in enumerate(layer.weights) if w.path.startswith(prefix)),
        len(layer.weights),
    )


def _layer_macs(layer, input_shape, output_shape):
    """MACs of one call of a counted layer, from its input and output shapes (batch 1)."""
    if isinstance(layer, keras.layers.Dense):
        return math.prod(input_shape[1:-1]) * input_shape[-1] * layer.units
    if isinstance(layer, Encoding) and len(input_shape) == 3:
        return 2 * input_shape[1] * layer.num_codes * input_shape[2]
    last = layer.data_format == "channels_last"
    channels = input_shape[-1] if last else input_shape[1]
    pixels_in = math.prod(input_shape[1:-1] if last else input_shape[2:])
    if isinstance(layer, Encoding):
        # Distances X·Cᵀ (N·K·C) and aggregation Aᵀ·X (K·N·C).
        return 2 * pixels_in * layer.num_codes * channels
    taps = math.prod(layer.kernel_size)
    if isinstance(layer, _TRANSPOSED):
        return taps * channels * layer.filters * pixels_in
    pixels_out = math.prod(output_shape[1:-1] if last else output_shape[2:])
    if isinstance(layer, _DEPTHWISE):
        return taps * channels * layer.depth_multiplier * pixels_out
    if isinstance(layer, _SEPARABLE):
        return (taps + layer.filters) * channels * layer.depth_multiplier * pixels_out
    return taps * (channels // layer.groups) * layer.filters * pixels_out


def _input_shape(model, input_shape):
    """The batch-1 input shape of the forward pass, with clear errors."""
    if input_shape is not None:
        if not isinstance(input_shape, (tuple, list)) or not input_shape:
            raise ValueError(
                "`input_shape` must be a tuple of positive integers without the batch "
                f"axis, e.g. (224, 224, 3), received {input_shape!r}."
            )
        for size in input_shape:
            _validation.positive_int("input_shape", size)
        return (1, *input_shape)
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"{model.name!r} has no known input: pass `input_shape` without the batch "
            "axis, e.g. count_macs(layer, input_shape=(32, 32, 64))."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"count_macs handles models with one input; {model.name!r} has {len(inputs)}."
        )
    shape = tuple(inputs[0].shape)
    if any(size is None for size in shape[1:]):
        raise ValueError(
            f"{model.name!r} has input shape {shape} with unknown sizes: pass "
            "`input_shape` without the batch axis, e.g. input_shape=(224, 224, 3)."
        )
    return (1, *shape[1:])


def _fresh_input(value):
    """A new symbolic input like ``value`` (a ``keras.KerasTensor``); anything else as is."""
    if isinstance(value, keras.KerasTensor):
        return keras.Input(batch_shape=value.shape, dtype=value.dtype)
    return value


def _reuse(layer):
    """``clone_function`` of :func:`keras.models.clone_model` that keeps every layer."""
    return layer


def _trace_counted_calls(model, shape):
    """``[(layer, input shape, output shape, enclosing layers), ...]``: each call
    of a counted layer, with the layers (outermost first) it was called inside.

    A symbolic forward pass at ``shape`` (``keras.KerasTensor``s: shapes only,
    nothing computed) through public Keras: a functional model is walked with
    ``keras.models.clone_model(..., clone_function=<the same layer>,
    call_function=...)``, which calls every layer of its graph in Keras'
    execution order on new symbolic inputs; a Sequential model layer after
    layer; any other layer holding sublayers is re-traced by calling its
    ``call`` on symbolic inputs, which turns the calls of its sublayers into
    a functional graph (``keras.Model(inputs, outputs)``), walked the same
    way. Its calls are listed in the order the layer holds its sublayers,
    the order of ``layer.weights`` (the graph's own order is by depth, not
    by call).
    """
    calls, enclosing = [], []

    def visit(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if isinstance(layer, keras.layers.Layer):  # a graph also holds keras.ops operations
            enclosing.append(layer)
            look_inside(layer, args, kwargs, outputs)
            enclosing.pop()
        return outputs

    def look_inside(layer, args, kwargs, outputs):
        if isinstance(layer, _COUNTED):
            inputs = args[0] if args else next(iter(kwargs.values()))
            output = keras.tree.flatten(outputs)[0]
            calls.append((layer, tuple(inputs.shape), tuple(output.shape), tuple(enclosing[:-1])))
            return
        if not isinstance(layer, _AFFINE) and _own_trainable_weights(layer):
            raise ValueError(
                f"count_macs has no rule for layer {layer.name!r} ({type(layer).__name__}), "
                "which holds trainable weights of its own: it counts convolutions, dense "
                "layers and kcv.layers.Encoding, and treats normalizations as free. Build "
                "the layer from those, or count it by hand."
            )
        if not _holds_layers(layer):
            return  # no sublayer with weights: nothing to count inside
        fresh_args = keras.tree.map_structure(_fresh_input, args)
        fresh_kwargs = keras.tree.map_structure(_fresh_input, kwargs)
        if isinstance(layer, keras.Sequential):
            x = fresh_args[0]
            for sub in layer.layers:
                x = visit(sub, x)
            return
        if getattr(layer, "inputs", None) and getattr(layer, "outputs", None):  # functional
            inputs = keras.tree.pack_sequence_as(layer.input, keras.tree.flatten(fresh_args[0]))
            keras.models.clone_model(
                layer, input_tensors=inputs, clone_function=_reuse, call_function=visit
            )
            return
        # Layer.__call__ hands `training` to a `call` that takes it, and drops
        # it otherwise; called directly, `call` gets it only when it takes it.
        fresh_kwargs.pop("training", None)
        if "training" in inspect.signature(layer.call).parameters:
            fresh_kwargs["training"] = False
        traced = layer.call(*fresh_args, **fresh_kwargs)
        inputs = [
            x
            for x in keras.tree.flatten((fresh_args, fresh_kwargs))
            if isinstance(x, keras.KerasTensor)
        ]
        parts = []

        def visit_sublayer(sub, *sub_args, **sub_kwargs):
            start = len(calls)
            outputs = visit(sub, *sub_args, **sub_kwargs)
            if calls[start:]:
                parts.append((_position(layer, sub), calls[start:]))
                del calls[start:]
            return outputs

        try:
            graph = keras.Model(inputs, traced)
        except ValueError as error:
            raise ValueError(
                f"count_macs traces {type(layer).__name__} {layer.name!r} as a functional "
                f"graph of its sublayers, which needs unique sublayer names: {error}"
            ) from error
        keras.models.clone_model(graph, clone_function=_reuse, call_function=visit_sublayer)
        for _, part in sorted(parts, key=lambda item: item[0]):
            calls.extend(part)

    visit(model, keras.Input(batch_shape=shape))
    return calls


def count_macs(model, input_shape=None, by_layer=False):
    """Counts the multiply-accumulates (MACs) of one image through a model.

    Convention (the papers': MobileNet's "mult-adds", ResNet's "FLOPs"), per
    call of a layer on one image (batch 1):

    * convolution (``keras.layers.Conv1D/2D/3D``, ``kcv.layers.Conv2D``):
      ``k_h·k_w·(C_in / groups)·C_out·H_out·W_out``;
    * depthwise: ``k_h·k_w·C_in·multiplier·H_out·W_out``;
    * separable (``SeparableConv1D/2D``): depthwise + pointwise
      ``C_in·multiplier·C_out·H_out·W_out`` (MobileNet, Eq. 5);
    * transposed convolution: ``k_h·k_w·C_in·C_out·H_in·W_in`` (each input
      pixel scatters one ``k_h×k_w`` kernel per output channel);
    * dense: ``C_in·C_out`` per position (``·N`` on a ``(1, N, C_in)`` input);
    * ``kcv.layers.Encoding`` with ``N`` pixels, ``K`` codewords and ``C``
      channels: ``2·N·K·C``, its two matrix products, the distances
      ``X·Cᵀ`` (``N·K·C``) and the aggregation ``Aᵀ·X`` (``K·N·C``); the
      norms, softmax and the ``(Σ_i a_ik)·c_k`` correction are not counted.

    Biases, batch normalization, activations, pooling, additions and
    resizing are not counted; a layer with trainable weights of its own that
    is none of the above (a custom layer computing with ``keras.ops``) is an
    error, not a silent zero. Layers nested inside composite layers (kcv's
    blocks, nested models) are counted at every call, with the shapes they
    actually see: ASPP's image-pooling 1x1 convolution at 1x1, for instance.
    ``channels_first`` layers are counted the same way, reading channels on
    axis 1.

    How: one symbolic forward pass at batch 1 (``keras.KerasTensor``s:
    shapes only, nothing computed, so ``channels_first`` works on
    TensorFlow's CPU too), through public Keras only. A functional model is
    walked with ``keras.models.clone_model(model, clone_function=<the same
    layer>, call_function=<record, then call>)``, which calls each layer of
    its graph in order; a Sequential model layer after layer; any other
    layer holding sublayers (a kcv block, a subclassed model) is re-traced
    by calling its ``call`` on symbolic inputs (batch normalization in
    inference mode), which makes the calls of its sublayers a functional
    graph (``keras.Model(inputs, outputs)``), walked the same way, down to
    the counted layers. Nothing of ``model`` is replaced or changed (its
    layers are only called again on symbolic inputs, as in a new functional
    model); an unbuilt layer is counted on a copy built from its config.

    Limits of the symbolic re-trace: a layer is looked into when it holds
    weights of sublayers, read from the weights' paths
    (``keras.Variable.path``: ``<layer>/<sublayer>/kernel``, whatever
    attribute holds the sublayer; a model's from ``keras.Model.layers``). A
    weight whose path is the layer's own is the layer's own, and without a
    rule for the layer the count stops with the error above. A custom
    layer's ``call`` must run on symbolic tensors (no Python branch on
    tensor values, which a compiled model refuses too) and its outputs must
    come from its inputs.

    Args:
        model: keras.layers.Layer or keras.Model with one input.
        input_shape: tuple of ints without the batch axis, e.g.
            ``(224, 224, 3)``. Required when the model's input has unknown
            sizes or the layer has no input tensor (a layer not called in a
            functional model); it overrides the model's own input shape.
        by_layer: ``False``, ``True`` or ``"top"``. ``True``: return a dict
            ``{layer: MACs}`` instead of the total, over the counted layers,
            in the order of their first call in a functional or Sequential
            model, and inside another layer in the order it holds its
            sublayers (the order of ``layer.weights``). ``"top"``: the same
            dict over the layers of ``model`` itself, each with the MACs of
            every counted call made inside it (a block's convolutions go to
            the block); what a part of a functional model costs is then the
            sum over its layers, without tracing the part again.

    Returns:
        int, the total MACs; or a dict when ``by_layer`` is set.

    Raises:
        ValueError: when ``input_shape`` is needed but missing, or invalid;
            when a layer holds trainable weights but has no counting rule.

    Example:

    >>> import kcv
    >>> block = kcv.layers.DepthwiseSeparableConv(64)
    >>> kcv.analysis.count_macs(block, input_shape=(16, 16, 32))  # 9·32·256 + 32·64·256
    598016

    Reference:
        Howard et al., MobileNets, 2017, Sec. 3.1, Eq. 5, Tables 1-2;
        He et al., ResNet, CVPR 2016, Table 1.
    """
    if not isinstance(model, keras.layers.Layer):
        raise ValueError(
            f"`model` must be a Keras layer or model, received {type(model).__name__}."
        )
    if by_layer not in (False, True, "top"):
        _validation.fail("by_layer", "False, True or 'top'", by_layer)
    shape = _input_shape(model, input_shape)
    if not model.built:
        model = type(model).from_config(model.get_config())
        model.build(shape)
    macs = {}
    for layer, in_shape, out_shape, enclosing in _trace_counted_calls(model, shape):
        # enclosing[0] is the model; enclosing[1], when there, the model's layer the call is in.
        key = enclosing[1] if by_layer == "top" and len(enclosing) > 1 else layer
        macs[key] = macs.get(key, 0) + _layer_macs(layer, in_shape, out_shape)
    if by_layer:
        return macs
    return sum(macs.values())


def conv_output_size(size, kernel, stride=1, padding="valid", dilation=1):
    """The output length of a convolution or pooling along one axis.

    With the effective kernel ``k_eff = d·(k - 1) + 1`` (an atrous kernel's
    span):

    * ``"valid"``: ``floor((size - k_eff) / stride) + 1``;
    * ``"same"`` (Keras / TensorFlow): ``ceil(size / stride)``, whatever the
      kernel; the input is padded by ``max((out - 1)·stride + k_eff - size, 0)``
      in total, the odd pixel at the end;
    * an int ``p`` (PyTorch's symmetric ``padding=p``):
      ``floor((size + 2p - d·(k - 1) - 1) / stride) + 1``.

    Args:
        size: int >= 1. Input length.
        kernel: int >= 1. Kernel (or pooling window) length.
        stride: int >= 1.
        padding: ``"valid"``, ``"same"`` or an int >= 0.
        dilation: int >= 1. Atrous rate.

    Returns:
        int. The output length.

    Raises:
        ValueError: for a non-positive size, kernel, stride or dilation, an
            unknown padding, or a kernel wider than the (padded) input.

    Example:

    >>> from kcv.analysis import conv_output_size
    >>> conv_output_size(224, 7, stride=2, padding=3)  # ResNet's stem, PyTorch
    112
    >>> conv_output_size(33, 3, padding="valid", dilation=6)  # 33 - 13 + 1
    21

    Reference:
        Dumoulin, Visin, A guide to convolution arithmetic for deep learning,
        2016, Relationships 1-6 and 15; PyTorch ``torch.nn.Conv2d`` (shape).
    """
    for argument, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        _validation.positive_int(argument, value)
    _validation.positive_int("dilation", dilation)
    padding = _check_padding(padding)
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else padding
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * pad:
        raise ValueError(
            f"`kernel`={kernel} at `dilation`={dilation} spans {span} pixels, more than "
            f"`size`={size} plus the padding 2·{pad}: the output would be empty."
        )
    return (size + 2 * pad - span) // stride + 1


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of one output unit of a chain of layers.

    Each field is an int when it is the same along every spatial axis, else
    a tuple with one value per axis (height, width, ...).

    Attributes:
        size: input pixels seen by one output unit, ``r`` in Araujo et al.
        stride: the jump ``j``: input pixels between the fields of two
            neighbouring output units (the product of the strides).
        start: input coordinate of the first pixel in the field of output
            unit 0; negative when the field reaches into the padding. Unit
            ``i`` sees ``[start + i·stride, start + i·stride + size - 1]``.
    """

    size: int | tuple
    stride: int | tuple
    start: int | tuple


def _left_right(padding, span, stride, size):
    """Padding ``(left, right)`` of one axis; "same" as TensorFlow pads."""
    if padding != "same":
        return padding
    if size is None:  # taken as a multiple of the stride
        total = max(span - stride, 0)
    else:
        total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _layer_steps(layer):
    """Per-axis ``(kernel, stride, dilation, padding)`` of a layer; None if per pixel."""
    if isinstance(layer, _PER_PIXEL):
        return None
    if isinstance(layer, _ZERO_PADDING):
        pads = (layer.padding,) if isinstance(layer.padding[0], int) else layer.padding
        return [(1, 1, 1, tuple(pad)) for pad in pads]
    if isinstance(layer, _POOLING):
        kernels, strides, dilations = layer.pool_size, layer.strides, (1,) * len(layer.pool_size)
    elif isinstance(layer, _CONVOLUTIONS + _DEPTHWISE + _SEPARABLE):
        kernels, strides, dilations = layer.kernel_size, layer.strides, layer.dilation_rate
    elif isinstance(layer, DepthwiseSeparableConv) or (
        isinstance(layer, InvertedResidual) and layer.se_reduction is None
    ):
        # Their 1x1 convolutions and the residual path add nothing to the field
        # of the depthwise convolution ("same" padding). With SE, every output
        # sees the whole image: no rule.
        return [
            (k, s, d, "same")
            for k, s, d in zip(layer.kernel_size, layer.strides, layer.dilation_rate)
        ]
    else:
        raise ValueError(
            f"receptive_field has no rule for layer {layer.name!r} "
            f"({type(layer).__name__}): it handles convolutions (also depthwise and "
            "separable), kcv's DepthwiseSeparableConv and InvertedResidual (without "
            "SE), max / average pooling, zero padding, and per-pixel layers (batch "
            "normalization, activations, dropout). For another composite block, "
            "pass its sublayers in call order."
        )
    steps = []
    for k, s, d in zip(kernels, strides, dilations):
        if layer.padding == "valid":
            padding = (0, 0)
        elif layer.padding == "causal":
            padding = (d * (k - 1), 0)
        else:
            padding = "same"
        steps.append((k, s, d, padding))
    return steps


def _spec_steps(spec):
    """The one-axis step of a ``(kernel, stride[, dilation[, padding]])`` tuple."""
    if not isinstance(spec, (tuple, list)) or not 2 <= len(spec) <= 4:
        raise ValueError(
            "`model_or_layers` items must be Keras layers or tuples (kernel, stride, "
            f"dilation) with an optional 4th item padding, received {spec!r}."
        )
    kernel, stride, dilation, padding = tuple(spec) + (1, "valid")[len(spec) - 2 :]
    _validation.positive_int("kernel", kernel)
    _validation.positive_int("stride", stride)
    _validation.positive_int("dilation", dilation)
    padding = _check_padding(padding)
    if padding != "same":
        padding = (0, 0) if padding == "valid" else (padding, padding)
    return [(kernel, stride, dilation, padding)]


def _functional_chain(model):
    """The layers of a functional model, checked to form one chain."""
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no graph to read (a subclassed or unbuilt "
            "model): pass its layers as a list, in the order call() applies them."
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"receptive_field needs a chain of layers, but model {model.name!r} has "
            f"{len(inputs)} inputs and {len(outputs)} outputs."
        )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    tensor = inputs[0]
    for layer in layers:
        if layer.input is not tensor:
            raise ValueError(
                f"receptive_field needs a chain of layers, but layer {layer.name!r} of "
                f"model {model.name!r} does not take its input from the layer before it "
                "(a branch, a merge or a residual connection). A graph's field is the "
                "largest over its paths: pass the layers of one path as a list."
            )
        tensor = layer.output
    if tensor is not outputs[0]:
        raise ValueError(
            f"receptive_field needs a chain of layers, but the output of model "
            f"{model.name!r} is not the output of its last layer."
        )
    return layers, tuple(inputs[0].shape)


def _chain(model_or_layers):
    """``(items, input shape or None)`` for each accepted form of the argument."""
    if isinstance(model_or_layers, keras.Sequential):
        inputs = getattr(model_or_layers, "inputs", None)
        return list(model_or_layers.layers), tuple(inputs[0].shape) if inputs else None
    if isinstance(model_or_layers, keras.Model):
        return _functional_chain(model_or_layers)
    if isinstance(model_or_layers, keras.layers.Layer):
        return [model_or_layers], None
    if isinstance(model_or_layers, (tuple, list)):
        return list(model_or_layers), None
    raise ValueError(
        "`model_or_layers` must be a Keras model or layer, or a list of layers or of "
        f"(kernel, stride, dilation) tuples, received {type(model_or_layers).__name__}."
    )


def _spatial_sizes(items, input_shape):
    """The spatial sizes of a model's input, read with its first layer's data format."""
    data_format = next(
        (item.data_format for item in items if getattr(item, "data_format", None)),
        keras.config.image_data_format(),
    )
    return input_shape[1:-1] if data_format == "channels_last" else input_shape[2:]


def _collapse(values):
    return values[0] if len(set(values)) == 1 else tuple(values)


def receptive_field(model_or_layers, input_size=None):
    """The receptive field of a chain of convolution and pooling layers.

    Follows Araujo et al.'s recurrence, one layer after the other, with the
    effective kernel ``k_eff = d·(k - 1) + 1`` of a dilation ``d``:

    ``r_out = r_in + (k_eff - 1)·j_in``,  ``j_out = j_in·s``,
    ``start_out = start_in - p_left·j_in``,

    from ``r = 1, j = 1, start = 0`` at the input. Padding only moves the
    start: "valid" pads nothing, an int ``p`` pads ``p`` on both sides,
    Keras' "causal" pads ``d·(k - 1)`` on the left, and "same" pads as
    TensorFlow does, which depends on the input size: known sizes (from
    ``input_size`` or the model's input) give the exact start; an unknown size
    is taken as a multiple of the stride. Size and jump never depend on it.

    Per-pixel layers (batch normalization, activations, dropout, rescaling)
    do not change the field; zero padding moves the start. kcv's
    ``DepthwiseSeparableConv`` and ``InvertedResidual`` (without SE) have the
    field of their depthwise convolution: their 1x1 convolutions and the
    residual path add nothing to it. A graph with
    branches (Inception, residual additions, ASPP) is not a chain: its field
    is the largest over its paths; pass one path as a list.

    Args:
        model_or_layers: a ``keras.Sequential``, a functional ``keras.Model``
            whose layers form a chain, one Keras layer, or a list of layers
            and / or tuples ``(kernel, stride, dilation)`` (ints, one spatial
            axis; an optional 4th item is the padding, as in
            :func:`conv_output_size`; ``(kernel, stride)`` means dilation 1).
        input_size: int, tuple of ints per spatial axis, or None. Input size,
            used only for the start of "same" padding; None reads the model's
            input shape where there is one.

    Returns:
        :class:`ReceptiveField` ``(size, stride, start)``; each an int when
        equal on every spatial axis, else a tuple per axis.

    Raises:
        ValueError: for a model that is not a chain, a layer without a
            receptive-field rule, or a malformed tuple.

    Example:

    >>> from kcv.analysis import receptive_field
    >>> receptive_field([(3, 1, 1)] * 3).size  # three 3x3 convolutions see 7x7
    7
    >>> [receptive_field([(3, 1, rate)]).size for rate in (6, 12, 18)]  # ASPP
    [13, 25, 37]
    >>> receptive_field([(7, 2, 1, 3), (3, 2, 1, 1)])  # ResNet stem, PyTorch padding
    ReceptiveField(size=11, stride=4, start=-5)

    Reference:
        Araujo, Norris, Sim, Computing Receptive Fields of Convolutional
        Neural Networks, Distill 2019, Sec. "Single-path networks" (field
        size, and region in the input image; dilation as the effective
        kernel ``d·(k - 1) + 1``).
    """
    items, input_shape = _chain(model_or_layers)
    steps = [
        _layer_steps(item) if isinstance(item, keras.layers.Layer) else _spec_steps(item)
        for item in items
    ]
    steps = [step for step in steps if step is not None]
    rank = max((len(step) for step in steps), default=1)
    if any(len(step) not in (1, rank) for step in steps):
        raise ValueError(
            "`model_or_layers` mixes layers with different numbers of spatial axes: "
            f"{sorted({len(step) for step in steps})}."
        )
    if input_size is not None:
        sizes = (input_size,) * rank if isinstance(input_size, int) else tuple(input_size)
        if len(sizes) != rank:
            raise ValueError(
                f"`input_size` must be an int or {rank} ints (one per spatial axis), "
                f"received {input_size!r}."
            )
        for size in sizes:
            _validation.positive_int("input_size", size)
    elif input_shape is not None:
        sizes = tuple(_spatial_sizes(items, input_shape))
    else:
        sizes = (None,) * rank
    fields = []
    for axis in range(rank):
        size, jump, start, length = 1, 1, 0, sizes[axis]
        for step in steps:
            kernel, stride, dilation, padding = step[axis if len(step) == rank else 0]
            span = dilation * (kernel - 1) + 1
            left, right = _left_right(padding, span, stride, length)
            start -= left * jump
            size += (span - 1) * jump
            jump *= stride
            if length is not None:
                length = (length + left + right - span) // stride + 1
                if length < 1:
                    raise ValueError(
                        f"The input size {sizes} is too small for this chain: a layer "
                        "would output nothing (check `input_size`)."
                    )
        fields.append((size, jump, start))
    return ReceptiveField(*(_collapse(values) for values in zip(*fields)))


@dataclasses.dataclass(frozen=True)
class LayerSummary:
    """One row of :func:`summary`: a top-level layer of a model.

    Attributes:
        name: the layer's name.
        kind: its class name.
        output_shape: tuple without the batch axis (a tuple of them for a
            layer with several outputs), or None when it is not defined.
        params: trainable parameters of the layer and its sublayers.
        macs: multiply-accumulates of its calls for one image (see
            :func:`count_macs`).
        receptive_field: :class:`ReceptiveField` of its output on the input
            image while the model is a chain up to this layer; None after the
            first branch, merge or layer without a rule (see
            :func:`receptive_field`).
    """

    name: str
    kind: str
    output_shape: tuple | None
    params: int
    macs: int
    receptive_field: ReceptiveField | None


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """The table of :func:`summary`; ``str()`` gives it as text, :meth:`to_markdown` as Markdown.

    Attributes:
        name: the model's name.
        rows: tuple of :class:`LayerSummary`, in the model's layer order.
        params: trainable parameters of the model (shared weights once).
        macs: multiply-accumulates for one image, the sum of the rows.
    """

    name: str
    rows: tuple
    params: int
    macs: int

    _HEADER = ("layer", "type", "output shape", "parameters", "MACs", "receptive field")

    def _cells(self):
        for row in self.rows:
            field = row.receptive_field
            yield (
                row.name,
                row.kind,
                "—" if row.output_shape is None else str(row.output_shape),
                f"{row.params:,}",
                f"{row.macs:,}",
                "—" if field is None else f"{field.size} (stride {field.stride})",
            )

    def _total(self):
        return (
            f"{self.name}: {self.params:,} trainable parameters, {self.macs:,} MACs "
            f"({self.params / 1e6:.2f} M parameters, {self.macs / 1e6:.1f} M MACs) for one image"
        )

    def __str__(self):
        cells = [self._HEADER, *self._cells()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self._HEADER))]
        right = (False, False, False, True, True, False)
        lines = [
            "  ".join(
                c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)
            ).rstrip()
            for row in cells
        ]
        rule = "-" * len(max(lines, key=len))
        return "\n".join([lines[0], rule, *lines[1:], rule, self._total()])

    def to_markdown(self):
        """The table as Markdown, with the totals in a last line."""
        lines = [
            "| " + " | ".join(self._HEADER) + " |",
            "|---|---|---|---:|---:|---|",
            *(
                "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
                for cells in self._cells()
            ),
        ]
        return "\n".join(lines) + f"\n\n{self._total()}\n"


def _output_shape(layer):
    try:
        outputs = keras.tree.flatten(layer.output)
    except (AttributeError, ValueError):  # a layer called more than once has no single output
        return None
    shapes = tuple(tuple(t.shape[1:]) for t in outputs)
    return shapes[0] if len(shapes) == 1 else shapes


def _extends_chain(layer, tensor):
    """True when ``layer`` reads only ``tensor`` and has a receptive-field rule."""
    try:
        if layer.input is not tensor:
            return False
        _layer_steps(layer)
    except (AttributeError, ValueError):  # several inputs or calls, or no rule
        return False
    return True


def summary(model):
    """Per-layer table of a model: output shape, parameters, MACs, receptive field.

    One row per top-level layer (a kcv block or a nested model is one row,
    its sublayers counted inside it), with the totals that the papers' tables
    give: trainable parameters (:func:`count_params`) and multiply-accumulates
    for one image (:func:`count_macs`, whose conventions apply). The receptive
    field (:func:`receptive_field`) is given while the model is a chain: from
    the first branch, merge, residual connection or global pooling on, a
    single field is not defined by one path and the column shows "—".

    Args:
        model: a built functional or Sequential ``keras.Model`` with one
            input of known spatial size (e.g. built with
            ``input_shape=(224, 224, 3)``).

    Returns:
        :class:`ModelSummary`; print it for the text table, or call
        ``to_markdown()``.

    Raises:
        ValueError: for a model without a graph (subclassed), several
            inputs, or an input of unknown size; and what :func:`count_macs`
            raises.

    Example:

    >>> import kcv
    >>> table = kcv.analysis.summary(kcv.models.MobileNetV1(input_shape=(224, 224, 3)))
    >>> table.params, table.macs  # the paper: 4.2 million, 569 million
    (4231976, 568740352)
    >>> print(table)  # doctest: +SKIP

    Reference:
        Howard et al., MobileNets, 2017, Table 1 (body architecture) and
        Table 2 (resources per layer type).
    """
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if not inputs:
        raise ValueError(
            "`model` must be a built functional or Sequential keras.Model (one with a "
            f"graph of layers), received {type(model).__name__}."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"summary handles models with one input; {model.name!r} has {len(inputs)}."
        )
    input_shape = tuple(inputs[0].shape)
    if any(size is None for size in input_shape[1:]):
        raise ValueError(
            f"{model.name!r} has input shape {input_shape} with unknown sizes: build it "
            "with a fixed `input_shape`, e.g. input_shape=(224, 224, 3)."
        )
    macs, total = {}, 0  # per top-level layer: the calls made inside it
    for layer, in_shape, out_shape, outer in _trace_counted_calls(model, (1, *input_shape[1:])):
        count = _layer_macs(layer, in_shape, out_shape)
        top = outer[1] if len(outer) > 1 else layer  # outer[0] is the model
        macs[id(top)] = macs.get(id(top), 0) + count
        total += count
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    spatial = tuple(_spatial_sizes(layers, input_shape))
    chain, tensor, rows = [], inputs[0], []
    for layer in layers:
        field = None
        if chain is not None and _extends_chain(layer, tensor):
            chain.append(layer)
            tensor = layer.output
            field = receptive_field(chain, input_size=spatial)
        else:
            chain = None
        rows.append(
            LayerSummary(
                name=layer.name,
                kind=type(layer).__name__,
                output_shape=_output_shape(layer),
                params=count_params(layer) if layer.built else 0,
                macs=macs.get(id(layer), 0),
                receptive_field=field,
            )
        )
    return ModelSummary(model.name, tuple(rows), count_params(model), total)
