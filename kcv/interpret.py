"""What a trained network computes, and where it looks: the numbers behind the chapters' pictures.

``kcv.viz`` draws; this module computes what it draws, as numpy arrays that
a script or a test can check on their own:

* :func:`activations`: the output of one layer for a batch of images;
* :func:`mean_excitations`: SENet's mean gate per channel and class;
* :func:`class_scores`: a model's class scores before its final softmax;
* :func:`grad_cam` and :func:`class_activation_map`: heat maps of where a
  network looks when it scores a class; :func:`heat_map` gives either one
  with the classes it explains.

Nothing here changes the model it is given: intermediate outputs come from
new ``keras.Model`` objects on the model's own layers (its input to the
tensor wanted), the scores before a softmax from a copy of the last layer
without its activation, and gradients from
:func:`kcv.backend.value_and_input_gradient`, on JAX, TensorFlow and
PyTorch alike. Image tensors follow ``data_format`` (None reads
``keras.config.image_data_format()``): ``(H, W, C)`` or ``(C, H, W)`` for
one image, with a leading batch axis for several.

References:
    Zeiler and Fergus, "Visualizing and Understanding Convolutional
    Networks", ECCV 2014. https://arxiv.org/abs/1311.2901
    Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, Sec. 7.2.
    https://arxiv.org/abs/1709.01507
    Zhou et al., "Learning Deep Features for Discriminative Localization",
    CVPR 2016. https://arxiv.org/abs/1512.04150
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017. https://arxiv.org/abs/1610.02391
"""

import keras
import numpy as np

from kcv import _validation
from kcv import backend
from kcv.layers import SqueezeExcite
from kcv.layers import layout

HEAT_MAP_METHODS = ("grad_cam", "cam")


# --- Inputs ---------------------------------------------------------------


def _numpy(value):
    """A numpy array from an array-like or a backend tensor."""
    if isinstance(value, np.ndarray):
        return value
    if keras.ops.is_tensor(value):
        return keras.ops.convert_to_numpy(value)
    return np.asarray(value)


def _image_batch(argument, image, data_format):
    """``(batch float32 4D array, whether one image was given)``."""
    array = _numpy(image).astype("float32")
    if array.ndim == 3:
        return array[None], True
    if array.ndim == 4:
        return array, False
    layout_name = "(H, W, C)" if data_format == "channels_last" else "(C, H, W)"
    raise ValueError(
        f"`{argument}` must be one image {layout_name} or a batch of them "
        f"({data_format}), received shape {array.shape}."
    )


def _layer(model, layer_name):
    try:
        return model.get_layer(layer_name)
    except ValueError:
        raise ValueError(
            f"`layer_name` {layer_name!r} is not a layer of model {model.name!r}; its layers are "
            f"{[layer.name for layer in model.layers]}."
        ) from None


def _single_output(model):
    if not isinstance(model, keras.Model) or len(getattr(model, "outputs", None) or ()) != 1:
        raise ValueError(
            "`model` must be a functional or sequential keras.Model with a single output "
            f"(for a multi-exit network, pass a model of one exit), received {model!r}."
        )


# --- Activations and SENet's excitations -------------------------------------


def activations(model, images, layer_name=None, batch_size=32):
    """The output of one layer of ``model`` for ``images``, as numpy.

    Args:
        model: a functional or sequential ``keras.Model``.
        images: batch of model inputs (numpy or tensor).
        layer_name: str or None. The layer; None for the model's output.
        batch_size: int. Images per forward pass.

    Returns:
        A numpy array: the layer's output for every image, batch first.

    Example:

    >>> import numpy as np, keras
    >>> inputs = keras.Input((8, 8, 3))
    >>> model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs))
    >>> activations(model, np.zeros((2, 8, 8, 3)), "conv").shape
    (2, 6, 6, 4)

    Reference:
        Zeiler and Fergus, "Visualizing and Understanding Convolutional
        Networks", ECCV 2014 (looking at what layers compute).
    """
    batch_size = _validation.positive_int("batch_size", batch_size)
    output = model.output if layer_name is None else _layer(model, layer_name).output
    probe = keras.Model(model.input, output)
    return probe.predict(_numpy(images), batch_size=batch_size, verbose=0)


def _class_labels(labels, count):
    array = _numpy(labels)
    if array.ndim == 2:
        array = array.argmax(axis=1)
    if array.shape != (count,) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"`labels` must be {count} integer class ids or one-hot rows, received shape "
            f"{_numpy(labels).shape} and dtype {_numpy(labels).dtype}."
        )
    return array


def _is_gated(layer):
    """A SqueezeExcite layer, or a residual block whose ``attention`` is one (SE-ResNet)."""
    return isinstance(layer, SqueezeExcite) or isinstance(
        getattr(layer, "attention", None), SqueezeExcite
    )


def _gate(layer, inputs):
    """The SE gate that ``layer`` computes on ``inputs`` (the layer's own input).

    For a residual block, SE reads the residual branch (Hu et al., Fig. 3):
    the block's ``residual(inputs)`` in inference mode.
    """
    if isinstance(layer, SqueezeExcite):
        return layer.excitation(inputs)
    return layer.attention.excitation(layer.residual(inputs, training=False))


def _se_layers(model, layer_names):
    if layer_names is None:
        found = [layer for layer in model.layers if _is_gated(layer)]
        if not found:
            _validation.fail(
                "model", "a model with SqueezeExcite layers or SE residual blocks", model.name
            )
        return found
    chosen = [_layer(model, name) for name in layer_names]
    wrong = [layer.name for layer in chosen if not _is_gated(layer)]
    if wrong:
        _validation.fail(
            "layer_names", "names of SqueezeExcite layers or SE residual blocks", wrong
        )
    return chosen


def mean_excitations(model, images, labels, layer_names=None, batch_size=32):
    """Mean SE gate per channel, for each class and over all images.

    The gate of a ``kcv.layers.SqueezeExcite`` layer is its
    ``excitation(inputs)``; in a residual block with an SE ``attention``
    (``kcv.models.SEResNet50``, ``SEResNetCIFAR``) it is computed from the
    block's residual branch. The input of each layer is read from a
    ``keras.Model`` on the model's own layers, the gate computed from it.

    Args:
        model: a ``keras.Model`` containing ``kcv.layers.SqueezeExcite``
            layers or residual blocks with an SE ``attention``.
        images: batch of model inputs.
        labels: class ids ``(N,)`` or one-hot ``(N, classes)``.
        layer_names: list of SE layer (or SE block) names, or None for all of them.
        batch_size: int. Images per forward pass.

    Returns:
        ``{layer name: {class id: (C,) mean gate, ..., "all": (C,)}}`` with
        one entry per class present in ``labels``.

    Example:

    >>> import numpy as np, keras, kcv
    >>> inputs = keras.Input((4, 4, 8))
    >>> x = kcv.layers.SqueezeExcite(reduction=2, name="se")(inputs)
    >>> model = keras.Model(inputs, x)
    >>> means = mean_excitations(model, np.ones((3, 4, 4, 8)), np.array([0, 1, 1]))
    >>> sorted(means["se"], key=str), means["se"]["all"].shape
    ([0, 1, 'all'], (8,))

    Reference:
        Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, Sec. 7.2:
        the average activations of the excitation per class.
    """
    batch_size = _validation.positive_int("batch_size", batch_size)
    images = _numpy(images)
    labels = _class_labels(labels, len(images))
    layers = _se_layers(model, layer_names)
    probe = keras.Model(model.input, {layer.name: layer.input for layer in layers})
    gates = {layer.name: [] for layer in layers}
    for start in range(0, len(images), batch_size):
        features = probe(images[start : start + batch_size])
        for layer in layers:
            gates[layer.name].append(keras.ops.convert_to_numpy(_gate(layer, features[layer.name])))
    means = {}
    for name, parts in gates.items():
        values = np.concatenate(parts)
        means[name] = {int(c): values[labels == c].mean(axis=0) for c in np.unique(labels)}
        means[name]["all"] = values.mean(axis=0)
    return means


# --- Class scores, Grad-CAM and CAM -------------------------------------------


def _scores_tensor(model):
    """The symbolic class scores of ``model``: its output, or the logits under a final softmax."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return last.input
    if getattr(last, "activation", None) is not keras.activations.softmax:
        return model.output
    # The same layer without its activation, on the same input and with the
    # same weight values: a new layer, so that `model` stays as it is.
    config = last.get_config()
    config.update(activation="linear", name=f"{last.name}_scores")
    linear = type(last).from_config(config)
    scores = linear(last.input)
    linear.set_weights(last.get_weights())
    return scores


def class_scores(model):
    """A ``keras.Model`` giving ``model``'s class scores before its final softmax.

    Grad-CAM differentiates the score of a class before the softmax
    (Selvaraju et al., Sec. 3): through a softmax, the gradient of one class
    also carries the scores of all the others. When the model's last layer
    applies a softmax (``activation="softmax"``, ``keras.layers.Softmax`` or
    ``keras.layers.Activation("softmax")``), the new model outputs its
    input to the softmax: for a layer with a softmax activation, a copy of
    that layer without it (same configuration, the weights' current values)
    applied to the layer's input. Otherwise it is a model with the same
    output. ``model`` itself is not changed.

    Args:
        model: single-output functional or sequential ``keras.Model``.

    Returns:
        A ``keras.Model`` with the inputs of ``model``, sharing its layers.

    Raises:
        ValueError: for a model with several outputs or without a graph.

    Example:

    >>> import numpy as np, keras
    >>> inputs = keras.Input((3,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    >>> scores = class_scores(model)
    >>> x = np.ones((1, 3), "float32")
    >>> logits = keras.ops.convert_to_numpy(scores(x))
    >>> bool(np.allclose(np.exp(logits) / np.exp(logits).sum(), model.predict(x, verbose=0)))
    True

    Reference:
        Selvaraju et al., "Grad-CAM", ICCV 2017, Sec. 3 ("the score for
        class c, y^c (before the softmax)").
    """
    _single_output(model)
    return keras.Model(model.input, _scores_tensor(model))


def _feature_layer(model, layer_name):
    """The named layer, or the last one whose output is a 4D feature map."""
    if layer_name is not None:
        layer = _layer(model, layer_name)
        if len(layer.output.shape) != 4:
            raise ValueError(
                f"`layer_name` must name a layer with a 4D feature map, {layer_name!r} outputs "
                f"shape {layer.output.shape}."
            )
        return layer
    for layer in reversed(model.layers):
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4:
            return layer
    raise ValueError(f"`model` {model.name!r} has no layer with a 4D output for the heat map.")


def _chosen_classes(class_index, scores):
    if class_index is None:
        return scores.argmax(axis=-1)
    chosen = np.broadcast_to(np.asarray(class_index), scores.shape[:1])
    if not np.issubdtype(chosen.dtype, np.integer) or np.any(
        (chosen < 0) | (chosen >= scores.shape[-1])
    ):
        raise ValueError(
            f"`class_index` must be None or class ids in [0, {scores.shape[-1]}), "
            f"received {class_index!r}."
        )
    return chosen


def _upsampled(maps, size):
    """``(B, h, w)`` maps resized bilinearly to ``size``."""
    resized = keras.ops.image.resize(
        maps[..., None].astype("float32"),
        tuple(size),
        interpolation="bilinear",
        data_format="channels_last",
    )
    return keras.ops.convert_to_numpy(resized)[..., 0]


def _grad_cam_maps(model, batch, class_index, layer_name, data_format):
    """Grad-CAM maps at the feature size (before upsampling) and the classes used."""
    _single_output(model)
    layer = _feature_layer(model, layer_name)
    features = keras.ops.convert_to_numpy(keras.Model(model.input, layer.output)(batch))
    scores_tensor = _scores_tensor(model)
    try:
        head = keras.Model(layer.output, scores_tensor)
    except ValueError:
        raise ValueError(
            f"`layer_name`: the output of {model.name!r} must depend on its input only "
            f"through layer {layer.name!r} (no connection may bypass it)."
        ) from None
    scores = keras.ops.convert_to_numpy(head(features))
    one_hot = np.eye(scores.shape[-1], dtype="float32")[_chosen_classes(class_index, scores)]
    _, grads = backend.value_and_input_gradient(
        lambda a: keras.ops.sum(keras.ops.multiply(head(a), one_hot)), features
    )
    spatial = layout.spatial_axes(data_format)
    channel = layout.channel_axis(data_format)
    weights = grads.mean(axis=spatial, keepdims=True)  # alpha_k^c, Eq. 1
    maps = np.maximum((weights * features).sum(axis=channel), 0.0)  # Eq. 2
    return maps, one_hot.argmax(axis=-1)


def _cam_maps(model, batch, class_index, layer_name, data_format):
    """CAM maps at the feature size (before upsampling) and the classes used."""
    _single_output(model)
    pools = [
        layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not pools or not dense:
        raise ValueError(
            f"`model` {model.name!r} must end with global average pooling and a dense "
            "classifier for CAM (use `grad_cam` for other networks)."
        )
    output = pools[-1].input if layer_name is None else _feature_layer(model, layer_name).output
    features = keras.ops.convert_to_numpy(keras.Model(model.input, output)(batch))
    kernel = keras.ops.convert_to_numpy(dense[-1].kernel.value)
    channel = layout.channel_axis(data_format)
    if features.shape[channel] != kernel.shape[0]:
        raise ValueError(
            f"`layer_name`: the feature map has {features.shape[channel]} channels but the "
            f"classifier {dense[-1].name!r} reads {kernel.shape[0]}."
        )
    classes = _chosen_classes(class_index, keras.ops.convert_to_numpy(model(batch)))
    weights = np.moveaxis(kernel[:, classes], 0, -1)  # (B, C): w_k^c
    if data_format == "channels_last":
        maps = np.einsum("bhwc,bc->bhw", features, weights)
    else:
        maps = np.einsum("bchw,bc->bhw", features, weights)
    return maps, classes


def _unit(maps):
    """Each ``(h, w)`` map divided by its maximum (all-zero maps stay zero)."""
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def heat_map(model, image, method="grad_cam", class_index=None, layer_name=None, data_format=None):
    """A Grad-CAM or CAM heat map, with the class it explains.

    What :func:`grad_cam` (``method="grad_cam"``) and
    :func:`class_activation_map` (``method="cam"``) return, together with the
    class of each map: the top class when ``class_index`` is None.

    Args:
        model, image, class_index, layer_name, data_format: as for
            :func:`grad_cam`.
        method: str. ``"grad_cam"`` or ``"cam"``.

    Returns:
        ``(heat, classes)``: for one image an ``(H, W)`` array in [0, 1] and
        an int; for a batch ``(B, H, W)`` and ``(B,)`` ints.

    Example:

    >>> import numpy as np, keras
    >>> inputs = keras.Input((16, 16, 3))
    >>> x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(5)(x))
    >>> heat, chosen = heat_map(model, np.random.rand(16, 16, 3), class_index=3)
    >>> heat.shape, int(chosen)
    ((16, 16), 3)

    Reference:
        Selvaraju et al., Grad-CAM, ICCV 2017, Sec. 3; Zhou et al., CAM,
        CVPR 2016, Sec. 2.
    """
    method = _validation.one_of("method", method, HEAT_MAP_METHODS)
    data_format = _validation.data_format(data_format)
    batch, single = _image_batch("image", image, data_format)
    size = batch.shape[1:3] if data_format == "channels_last" else batch.shape[2:4]
    if method == "grad_cam":
        maps, classes = _grad_cam_maps(model, batch, class_index, layer_name, data_format)
        heat = _unit(_upsampled(maps, size))
    else:
        maps, classes = _cam_maps(model, batch, class_index, layer_name, data_format)
        heat = _upsampled(_unit(maps - maps.min(axis=(1, 2), keepdims=True)), size)
    heat = np.clip(heat, 0.0, 1.0)
    return (heat[0], classes[0]) if single else (heat, classes)


def grad_cam(model, image, class_index=None, layer_name=None, data_format=None):
    """Grad-CAM heat map: where the network looks when it scores a class.

    For the feature map ``A`` of ``layer_name`` (default: the last layer with
    a 4D output) and the class score ``y^c`` (before any softmax, see
    :func:`class_scores`), the weights are
    ``α_k = mean_{i,j} ∂y^c/∂A_k(i, j)`` (Eq. 1) and the map is
    ``ReLU(Σ_k α_k A_k)`` (Eq. 2), upsampled bilinearly to the input size and
    divided by its maximum. Gradients come from
    :func:`kcv.backend.value_and_input_gradient`, on any backend.

    Args:
        model: single-output ``keras.Model``. A final softmax is left out
            (on a copy of the last layer; ``model`` is not changed).
        image: one input ``(H, W, C)`` / ``(C, H, W)``, or a batch of them.
        class_index: int, one int per image, or None for the top class.
        layer_name: str or None. The convolutional layer to explain; the
            model's output must depend on its input only through it.
        data_format: str or None. Layout of ``image`` and of the features.

    Returns:
        A numpy array in [0, 1] of the input's spatial size: ``(H, W)`` for
        one image, ``(B, H, W)`` for a batch (zero where no feature raises
        the class score).

    Raises:
        ValueError: for a model with several outputs, a layer without a 4D
            output or that a connection bypasses, or a class out of range.

    Example:

    >>> import numpy as np, keras
    >>> inputs = keras.Input((16, 16, 3))
    >>> x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(5)(x))
    >>> grad_cam(model, np.random.rand(16, 16, 3), layer_name="conv").shape
    (16, 16)

    Reference:
        Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
        via Gradient-based Localization", ICCV 2017, Sec. 3, Eq. 1-2.
    """
    return heat_map(model, image, "grad_cam", class_index, layer_name, data_format)[0]


def class_activation_map(model, image, class_index=None, layer_name=None, data_format=None):
    """Class activation map (CAM) of a network ending in GAP and a dense layer.

    ``M_c(i, j) = Σ_k w_k^c f_k(i, j)``: the classifier's weights for class
    ``c`` applied to the last feature map at every position (the feature map
    is what global average pooling reads, or ``layer_name``'s output; the
    classifier is the model's last dense layer). As in the official code the
    map is shifted and scaled to [0, 1], then upsampled bilinearly to the
    input size. For such networks Grad-CAM gives the same map up to the ReLU
    and the scaling (Selvaraju et al., Sec. 3.1).

    Args:
        model: single-output ``keras.Model``: features -> GAP -> [dropout]
            -> dense.
        image: one input ``(H, W, C)`` / ``(C, H, W)``, or a batch of them.
        class_index: int, one int per image, or None for the top class.
        layer_name: str or None. Layer giving the pooled feature map.
        data_format: str or None. Layout of ``image`` and of the features.

    Returns:
        A numpy array in [0, 1]: ``(H, W)`` for one image, ``(B, H, W)`` for
        a batch.

    Raises:
        ValueError: for a model without global average pooling and a dense
            classifier, or a feature map the classifier does not read.

    Example:

    >>> import numpy as np, keras
    >>> inputs = keras.Input((16, 16, 3))
    >>> x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))
    >>> class_activation_map(model, np.random.rand(16, 16, 3)).shape
    (16, 16)

    Reference:
        Zhou et al., "Learning Deep Features for Discriminative
        Localization", CVPR 2016, Sec. 2 and Fig. 2; official
        ``pytorch_CAM.py`` (``returnCAM``).
    """
    return heat_map(model, image, "cam", class_index, layer_name, data_format)[0]


__all__ = [
    "HEAT_MAP_METHODS",
    "activations",
    "class_activation_map",
    "class_scores",
    "grad_cam",
    "heat_map",
    "mean_excitations",
]
