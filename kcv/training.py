"""The training recipe the chapters share: nested layers, batch-norm statistics, the schedule.

Keras lists a model's top-level layers (``model.layers``) but has no public
walk into the layers a layer owns, and every kcv block owns several (a
:class:`kcv.layers.BasicBlock` holds two convolutions, two batch
normalizations and maybe a projection). :func:`sublayers` is that walk, over
public attributes only; :func:`set_batch_norm_momentum` uses it for the one
change every short run in the course needs (Ioffe and Szegedy, ICML 2015:
the moving averages must catch up with the batch statistics before a
network is evaluated). :func:`recompute_batch_norm_statistics` replaces the
moving averages by the exact statistics of a data set, as the network sees it
at inference (Li et al., CVPR 2019: dropout before a batch normalization
shifts the variance it records in training). :func:`cosine_schedule` is the
learning-rate schedule of chapter 13, warm-up included, in the arguments one
thinks in (peak, total steps) rather than Keras' ``CosineDecay`` ones.
"""

import keras
import numpy as np

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


def recompute_batch_norm_statistics(model, x, batch_size=256):
    """Sets each batch normalization's moving statistics to those of ``x`` at inference.

    Batch normalization records running averages of its inputs' mean and
    (biased) variance while it trains, with dropout active and with the
    earlier layers changing under it. This pass replaces them by the exact
    mean and variance of its inputs over ``x`` as the trained network
    computes them in inference mode (dropout off), one batch normalization
    after the other in the model's order, each with the statistics of the
    ones before it already replaced. Weights are not changed.

    Args:
        model: a functional ``keras.Model`` with one input, whose batch
            normalizations are its own layers (``model.layers``), not inside other layers.
        x: array of model inputs, e.g. the training images.
        batch_size: int >= 1. Images per forward pass.

    Returns:
        The number of batch normalizations updated.

    Raises:
        ValueError: when ``model`` is not a functional model or holds a batch
            normalization inside another layer (the pass could not reach it).

    Example:

    >>> import keras, numpy as np
    >>> inputs = keras.Input((4,))
    >>> bn = keras.layers.BatchNormalization()
    >>> model = keras.Model(inputs, bn(keras.layers.Dense(3)(inputs)))
    >>> recompute_batch_norm_statistics(model, np.ones((10, 4), "float32"))
    1

    Reference:
        Li et al., "Understanding the Disharmony between Dropout and Batch
        Normalization by Variance Shift", CVPR 2019, Sec. 3. Wu and Johnson,
        "Rethinking 'Batch' in BatchNorm", 2021, Sec. 3 ("precise BN").
    """
    if not isinstance(model, keras.Model) or len(getattr(model, "inputs", None) or ()) != 1:
        _validation.fail(
            "model", "a functional keras.Model with one input (built from keras.Input)", model
        )
    own = [layer for layer in model.layers if _is_batch_norm(layer)]
    nested = [
        layer.name
        for layer in sublayers(model)
        if _is_batch_norm(layer) and all(layer is not o for o in own)
    ]
    if nested:
        _validation.fail(
            "model",
            "a model whose BatchNormalization layers are its own layers, not inside "
            f"other layers (nested: {', '.join(nested[:3])}{'...' * (len(nested) > 3)})",
            model,
            received=f"model {model.name!r}",
        )
    batch_size = _validation.positive_int("batch_size", batch_size)
    for layer in own:
        probe = keras.Model(model.inputs[0], layer.input)
        axis = layer.axis % len(layer.input.shape)
        count, total, squares = 0, 0.0, 0.0
        for start in range(0, len(x), batch_size):
            y = keras.ops.convert_to_numpy(probe.predict_on_batch(x[start : start + batch_size]))
            y = np.moveaxis(y.astype("float64"), axis, -1).reshape(-1, y.shape[axis])
            count += len(y)
            total = total + y.sum(axis=0)
            squares = squares + (y * y).sum(axis=0)
        mean = total / count
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        variance = np.maximum(squares / count - mean * mean, 0.0)
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return len(own)


def cosine_schedule(peak, total_steps, warmup_steps=0, final=0.0):
    """Linear warm-up to ``peak``, then a half cosine down to ``final``.

    The learning rate at step ``t`` (counted from 0) is ``peak * t / w`` for
    ``t < w`` (``w = warmup_steps``), then
    ``final + (peak - final) * (1 + cos(pi * (t - w) / (total_steps - w))) / 2``,
    and ``final`` from ``total_steps`` on.

    Args:
        peak: float > 0. The largest learning rate, reached after the warm-up.
        total_steps: int >= 1. Optimizer steps of the whole run (warm-up included).
        warmup_steps: int in ``[0, total_steps)``. Steps of the linear warm-up.
        final: float in ``[0, peak]``. The learning rate at the end.

    Returns:
        A ``keras.optimizers.schedules.CosineDecay`` with these values (it
        counts its decay steps after the warm-up, and its final value as a
        fraction ``alpha`` of the peak), for any Keras optimizer.

    Example:

    >>> schedule = cosine_schedule(0.1, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(t)), 4) for t in (0, 5, 10, 55, 100)]
    [0.0, 0.05, 0.1, 0.05, 0.0]

    Reference:
        Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017, Eq. (5), one cycle. Goyal et al., "Accurate,
        Large Minibatch SGD: Training ImageNet in 1 Hour", 2017, Sec. 2.2
        (gradual warm-up).
    """
    peak = _validation.number("peak", peak, 0, None, low_open=True)
    total_steps = _validation.positive_int("total_steps", total_steps)
    warmup_steps = _validation.positive_int("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        _validation.fail(
            "warmup_steps", f"an integer in [0, {total_steps}) (total_steps)", warmup_steps
        )
    final = _validation.number("final", final, 0, peak)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak,
        decay_steps=total_steps - warmup_steps,
        alpha=final / peak,
        warmup_target=peak if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
