"""The training recipe the chapters share: reaching nested layers, batch-norm momentum.

Keras lists a model's top-level layers (``model.layers``) but has no public
walk into the layers a layer owns, and every kcv block owns several (a
:class:`kcv.layers.BasicBlock` holds two convolutions, two batch
normalizations and maybe a projection). :func:`sublayers` is that walk, over
public attributes only; :func:`set_batch_norm_momentum` uses it for the one
change every short run in the course needs (Ioffe and Szegedy, ICML 2015:
the moving averages must catch up with the batch statistics before a
network is evaluated).
"""

import keras

from kcv import _validation


def _children(layer):
    """The layers ``layer`` holds: ``model.layers`` and public attributes (lists included).

    ``dir()``, not ``vars()``: on the torch backend a layer is a
    ``torch.nn.Module``, which keeps its sublayers out of ``__dict__``.
    Properties are skipped (they compute, and may need a built layer).
    """
    if isinstance(layer, keras.Model):
        yield from layer.layers
    cls = type(layer)
    stack = [
        getattr(layer, name, None)
        for name in dir(layer)
        if not name.startswith("_") and not isinstance(getattr(cls, name, None), property)
    ]
    while stack:
        value = stack.pop(0)
        if isinstance(value, keras.layers.Layer):
            yield value
        elif isinstance(value, (list, tuple)):
            stack[:0] = list(value)


def sublayers(layer):
    """Every layer inside ``layer``, depth first, each once (``layer`` itself excluded).

    Args:
        layer: a ``keras.layers.Layer`` or ``keras.Model``.

    Returns:
        A list of layers: a model's layers and, inside each, the layers it
        keeps in public attributes (``block.conv1``, ``block.attention``...),
        recursively.

    Example:

    >>> import keras, kcv
    >>> block = kcv.layers.BasicBlock(8, strides=2)
    >>> block.build((None, 8, 8, 4))
    >>> sum(isinstance(x, keras.layers.BatchNormalization) for x in kcv.training.sublayers(block))
    3
    """
    if not isinstance(layer, keras.layers.Layer):
        _validation.fail("layer", "a keras.layers.Layer or keras.Model", layer)
    found, seen, pending = [], {id(layer)}, [layer]
    while pending:
        current = pending.pop()
        children = [child for child in _children(current) if id(child) not in seen]
        for child in children:
            seen.add(id(child))
            found.append(child)
        pending.extend(reversed(children))
    return found


def set_batch_norm_momentum(model, momentum=0.9):
    """Sets the moving-average momentum of every batch normalization in ``model``.

    Keras' default momentum 0.99 leaves ``0.99**T`` of the initial moving
    statistics after ``T`` steps (37 % after 100): a network trained for a
    few hundred steps would be evaluated with statistics that are still
    partly made up. PyTorch's default (``momentum=0.1`` there) is 0.9 in
    Keras' convention. Call this after building the model and before
    compiling it (compiled train steps read the attribute when traced).

    Args:
        model: a ``keras.Model`` or layer.
        momentum: float in [0, 1). Weight of the old moving average.

    Returns:
        The number of ``keras.layers.BatchNormalization`` layers changed.

    Example:

    >>> import kcv
    >>> model = kcv.models.ResNet(18, input_shape=(32, 32, 3), classes=10)
    >>> kcv.training.set_batch_norm_momentum(model, 0.9)  # stem, 16 convolutions, 3 projections
    20

    Reference:
        Ioffe and Szegedy, Batch Normalization, ICML 2015, Alg. 2.
    """
    _validation.number("momentum", momentum, 0, 1, high_open=True)
    layers = [layer for layer in [model, *sublayers(model)] if _is_batch_norm(layer)]
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


def _is_batch_norm(layer):
    return isinstance(layer, keras.layers.BatchNormalization)
