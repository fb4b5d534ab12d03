"""Intermediate features by stride: any kcv backbone as a multi-scale feature extractor.

Dense prediction (FCN, DeepLab, EncNet, SPNet) and detection read a
backbone's feature maps at several *strides*, the factor by which a map is
smaller than the input (4, 8, 16, 32). :func:`feature_info` lists, for a
functional model built with a known input size, the last layer at each
stride, the one where a stage ends and the next downsampling has not yet
happened; :func:`feature_extractor` turns those layers' outputs into a model
of its own, sharing the backbone's weights. timm calls this
``features_only`` and torchvision ``create_feature_extractor``; kcv finds
the layers from the shapes, so it works for every functional model without a
table of layer names.
"""

import keras

from kcv import _validation
from kcv.layers.layout import spatial_axes


def _image_side(shape, data_format):
    height, width = (shape[axis] for axis in spatial_axes(data_format))
    return height, width


def feature_info(model, data_format=None):
    """Where each stride of ``model`` ends: one entry per stride, in order.

    Args:
        model: a functional ``keras.Model`` with one image input of known
            height and width (e.g. ``kcv.models.ResNet(18, include_top=False,
            input_shape=(224, 224, 3))``).
        data_format: ``"channels_last"``, ``"channels_first"`` or None
            (``keras.config.image_data_format()``), as the model was built.

    Returns:
        A list of dicts with the keys ``stride`` (int), ``layer`` (the
        layer's name), ``channels`` (int) and ``shape`` (``(H, W)``),
        strides increasing: for each stride the last
        layer (in the model's order) whose 4D output is that many times
        smaller than the input, before the first layer with a larger stride.

    Raises:
        ValueError: naming ``model`` when it is not functional or has no
            image input of known size.

    Example:

    >>> import keras, kcv
    >>> with keras.StatelessScope(initialize_variables=False):
    ...     model = kcv.models.ResNet(18, include_top=False, input_shape=(64, 64, 3))
    >>> [(f["stride"], f["channels"]) for f in feature_info(model)]
    [(2, 64), (4, 64), (8, 128), (16, 256), (32, 512)]
    """
    data_format = _validation.data_format(data_format)
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if not inputs or len(inputs) != 1 or len(inputs[0].shape) != 4:
        _validation.fail("model", "a functional keras.Model with one image input", model)
    height, width = _image_side(inputs[0].shape, data_format)
    if height is None or width is None:
        _validation.fail(
            "model",
            "a model built with a known input height and width (pass input_shape=(H, W, C))",
            model,
            received=f"model {model.name!r} with input shape {tuple(inputs[0].shape)}",
        )
    channel = 1 if data_format == "channels_first" else -1
    ends = {}
    largest = 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            continue  # explicit padding (torchvision's convention) before a strided layer
        try:
            output = layer.output
        except (AttributeError, ValueError):  # a layer used twice has no single output
            continue
        if not hasattr(output, "shape") or len(output.shape) != 4:
            continue
        out_h, out_w = _image_side(output.shape, data_format)
        if not out_h or not out_w:
            continue
        stride = round(height / out_h)
        if stride < 1 or stride != round(width / out_w) or stride < largest:
            continue  # not a plain downsampling of this input, or past a coarser stage
        largest = stride
        ends[stride] = {
            "stride": stride,
            "layer": layer.name,
            "channels": int(output.shape[channel]),
            "shape": (int(out_h), int(out_w)),
        }
    return [ends[s] for s in sorted(ends) if s > 1]


def feature_extractor(model, strides=(4, 8, 16, 32), data_format=None, name=None):
    """A model that returns ``model``'s feature maps at ``strides``, sharing its weights.

    Args:
        model: a functional backbone, as for :func:`feature_info`.
        strides: sequence of int. The strides wanted, each one that
            :func:`feature_info` lists.
        data_format: as for :func:`feature_info`.
        name: str or None. The new model's name (``<model>_features``).

    Returns:
        A ``keras.Model`` from ``model``'s input to a list of feature maps,
        one per stride in the order given.

    Raises:
        ValueError: naming ``strides`` when one is not in the model.

    Example:

    >>> import keras, kcv
    >>> with keras.StatelessScope(initialize_variables=False):
    ...     backbone = kcv.models.MobileNetV2(include_top=False, input_shape=(96, 96, 3))
    ...     features = feature_extractor(backbone, strides=(8, 32))
    >>> [tuple(t.shape) for t in features.outputs]
    [(None, 12, 12, 32), (None, 3, 3, 1280)]
    """
    info = {f["stride"]: f for f in feature_info(model, data_format)}
    strides = _validation.int_sequence("strides", strides)
    missing = [s for s in strides if s not in info]
    if missing or not strides:
        _validation.fail("strides", f"strides of this model, some of {sorted(info)}", strides)
    outputs = [model.get_layer(info[s]["layer"]).output for s in strides]
    return keras.Model(model.inputs, outputs, name=name or f"{model.name}_features")
