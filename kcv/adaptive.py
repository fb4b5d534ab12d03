"""Adaptive inference with early-exit networks (MSDNet, Sec. 3).

Two settings of the paper, computed from the softmax outputs of every exit
(numpy arrays: ``probs[k, i, c]`` is exit ``k``'s probability of class
``c`` for sample ``i``), so they work with any backend's predictions:

*Anytime prediction*: the network may be stopped at any time and answers
with its latest exit; :func:`anytime_accuracy` is the accuracy of each exit.

*Budgeted batch classification*: a batch of images shares a computational
budget; easy images leave at an early exit, hard ones go on. A sample leaves
at the first exit ``k`` whose top softmax probability reaches a threshold
``θ_k``. The thresholds are fitted on validation data so that a fraction
``p_k`` of the samples leaves at exit ``k``, where ``p_k ∝ q^k``
(:func:`geometric_exit_fractions`; ``q`` sets the budget): the official
code's ``dynamic_evaluate``. :func:`dynamic_evaluate` applies them to test
data; :func:`budgeted_batch_curve` sweeps ``q`` to trace accuracy against
average cost, the paper's Fig. 7.

Reference:
    Huang et al. "Multi-Scale Dense Networks for Resource Efficient Image
    Classification". ICLR 2018, Sec. 3 and 5.
    https://arxiv.org/abs/1703.09844 — official
    https://github.com/kalviny/MSDNet-PyTorch, ``adaptive_inference.py``.
"""

import dataclasses

import keras
import numpy as np

from kcv import _validation
from kcv import analysis


def _probs(argument, value):
    """Checks an ``(exits, samples, classes)`` array of probabilities."""
    array = np.asarray(value, dtype="float64")
    if array.ndim != 3 or 0 in array.shape:
        _validation.fail(
            argument,
            "an array of shape (exits, samples, classes)",
            value,
            f"an array of shape {array.shape}",
        )
    return array


def _distributions(argument, value):
    """Checks probabilities: ``(exits, samples, classes)``, each row summing to 1."""
    probs = _probs(argument, value)
    if np.any(probs < 0) or not np.allclose(probs.sum(axis=2), 1.0, atol=1e-3):
        _validation.fail(
            argument,
            "probabilities, non-negative and summing to 1 over classes "
            "(apply kcv.adaptive.softmax to logits first)",
            value,
            "values outside that",
        )
    return probs


def _labels(labels, samples):
    array = np.asarray(labels)
    if array.shape != (samples,) or not np.issubdtype(array.dtype, np.integer):
        _validation.fail(
            "labels",
            f"{samples} integer class ids",
            labels,
            f"an array of shape {array.shape} and dtype {array.dtype}",
        )
    return array


def softmax(logits, axis=-1):
    """Numerically stable softmax of numpy logits (e.g. stacked exit outputs)."""
    logits = np.asarray(logits, dtype="float64")
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def anytime_accuracy(probs, labels):
    """Accuracy of every exit on its own (the anytime-prediction curve).

    Args:
        probs: array ``(exits, samples, classes)`` of probabilities or logits.
        labels: int array ``(samples,)``.

    Returns:
        A numpy array ``(exits,)`` of accuracies in [0, 1].

    Example:

    >>> import numpy as np
    >>> probs = np.array([[[0.9, 0.1], [0.8, 0.2]], [[0.9, 0.1], [0.3, 0.7]]])
    >>> anytime_accuracy(probs, np.array([0, 1])).tolist()
    [0.5, 1.0]
    """
    probs = _probs("probs", probs)
    labels = _labels(labels, probs.shape[1])
    return (probs.argmax(axis=2) == labels).mean(axis=1)


def geometric_exit_fractions(q, n_exits):
    """Fraction of samples leaving at each exit: ``p_k ∝ q^k``, k = 1..n.

    ``q < 1`` sends most samples out early (a small budget), ``q > 1`` most
    to the last exits, ``q = 1`` spreads them evenly.

    Args:
        q: float > 0.
        n_exits: int >= 1.

    Returns:
        A numpy array ``(n_exits,)`` summing to 1.

    Example:

    >>> geometric_exit_fractions(0.5, 3).round(3).tolist()
    [0.571, 0.286, 0.143]

    Reference:
        Official ``dynamic_evaluate``: ``probs = exp(log(q) * [1..n])``,
        normalised.
    """
    _validation.number("q", q, 0, low_open=True)
    _validation.positive_int("n_exits", n_exits)
    weights = np.exp(np.log(float(q)) * np.arange(1, n_exits + 1))
    return weights / weights.sum()


def exit_thresholds(val_probs, fractions):
    """Confidence thresholds that make ``fractions`` of ``val_probs`` exit per classifier.

    Exit by exit, among the samples that have not left yet, the
    ``floor(n · p_k)`` most confident ones (top softmax probability at exit
    ``k``) leave; ``θ_k`` is the confidence of the last of them. Samples at
    or above ``θ_k`` at exit ``k`` are counted as gone (ties included, as in
    the official code). The last threshold is ``-inf``: every sample still
    there leaves at the last exit. If ``floor(n · p_k)`` is 0, or more than
    the samples left, ``θ_k`` is ``+inf`` (nobody leaves there), as in the
    official code.

    Args:
        val_probs: array ``(exits, samples, classes)`` of validation softmax
            probabilities.
        fractions: array ``(exits,)`` of non-negative fractions summing to 1
            (e.g. :func:`geometric_exit_fractions`).

    Returns:
        A numpy array ``(exits,)`` of thresholds.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(10), size=(3, 100))
    >>> exit_thresholds(probs, [0.5, 0.3, 0.2]).shape
    (3,)

    Reference:
        Huang et al., MSDNet, ICLR 2018, Sec. 3 ("budgeted batch
        classification"); official ``Tester.dynamic_eval_find_threshold``.
    """
    probs = _distributions("val_probs", val_probs)
    exits, samples, _ = probs.shape
    fractions = np.asarray(fractions, dtype="float64")
    if fractions.shape != (exits,) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        _validation.fail(
            "fractions",
            f"{exits} non-negative numbers summing to 1 (one per exit)",
            fractions.tolist(),
        )
    confidence = probs.max(axis=2)
    thresholds = np.full(exits, np.inf)
    gone = np.zeros(samples, dtype=bool)
    for k in range(exits - 1):
        quota = int(np.floor(samples * fractions[k]))
        remaining = np.flatnonzero(~gone)
        if 1 <= quota <= remaining.size:
            thresholds[k] = np.sort(confidence[k, remaining])[::-1][quota - 1]
        gone |= confidence[k] >= thresholds[k]
    thresholds[-1] = -np.inf
    return thresholds


@dataclasses.dataclass(frozen=True)
class DynamicResult:
    """Outcome of :func:`dynamic_evaluate`.

    Attributes:
        accuracy: float. Fraction of samples classified correctly.
        mean_cost: float. Average cost per sample (units of ``exit_costs``).
        exits: numpy int array ``(exits,)``. Samples that left at each exit.
    """

    accuracy: float
    mean_cost: float
    exits: np.ndarray

    def __iter__(self):
        """Unpacks as ``accuracy, mean_cost, exits``."""
        return iter((self.accuracy, self.mean_cost, self.exits))


def dynamic_evaluate(test_probs, labels, thresholds, exit_costs):
    """Budgeted-batch evaluation: each sample leaves at its first confident exit.

    Sample ``i`` leaves at the first exit ``k`` with ``max_c probs[k, i, c]
    >= thresholds[k]`` and is classified there; it costs ``exit_costs[k]``,
    the *cumulative* cost of evaluating the network up to and including
    exit ``k`` (e.g. MACs from :func:`kcv.analysis.count_macs`).

    Args:
        test_probs: array ``(exits, samples, classes)`` of softmax probabilities.
        labels: int array ``(samples,)``.
        thresholds: array ``(exits,)``, from :func:`exit_thresholds`.
        exit_costs: array ``(exits,)`` of non-decreasing cumulative costs.

    Returns:
        A :class:`DynamicResult` ``(accuracy, mean_cost, exits)``.

    Example:

    >>> import numpy as np
    >>> probs = np.array([[[0.9, 0.1], [0.6, 0.4]], [[0.8, 0.2], [0.1, 0.9]]])
    >>> accuracy, cost, exits = dynamic_evaluate(probs, np.array([0, 1]),
    ...                                          [0.85, -np.inf], [1.0, 3.0])
    >>> accuracy, cost, exits.tolist()
    (1.0, 2.0, [1, 1])
    """
    probs = _distributions("test_probs", test_probs)
    exits, samples, _ = probs.shape
    labels = _labels(labels, samples)
    thresholds = np.asarray(thresholds, dtype="float64")
    costs = np.asarray(exit_costs, dtype="float64")
    for argument, array in (("thresholds", thresholds), ("exit_costs", costs)):
        if array.shape != (exits,):
            _validation.fail(
                argument,
                f"an array with one entry per exit ({exits})",
                array,
                f"an array of shape {array.shape}",
            )
    if np.any(np.diff(costs) < 0) or np.any(costs < 0):
        _validation.fail("exit_costs", "non-negative and non-decreasing", costs.tolist())
    confident = probs.max(axis=2) >= thresholds[:, None]
    confident[-1] = True
    chosen = confident.argmax(axis=0)
    predictions = probs.argmax(axis=2)[chosen, np.arange(samples)]
    return DynamicResult(
        accuracy=float(np.mean(predictions == labels)),
        mean_cost=float(costs[chosen].mean()),
        exits=np.bincount(chosen, minlength=exits),
    )


def exit_model(model, exit_index):
    """The network up to one exit: evaluating it computes nothing past that exit.

    Anytime prediction stopped at exit ``k`` (1-based): a functional
    ``keras.Model`` sharing the weights of ``model`` whose output is exit
    ``k``'s, built from only the layers that exit needs, so the later
    blocks are never run. ``model.predict`` of the full model gives every
    exit in one pass.

    Args:
        model: a functional ``keras.Model`` with one output per exit.
        exit_index: int in ``[1, len(model.outputs)]``.

    Returns:
        A ``keras.Model`` with the same inputs and one output.

    Example:

    >>> import kcv
    >>> model = kcv.models.MSDNet(preset="cifar_anytime", classes=10)
    >>> first = exit_model(model, 1)
    >>> len(first.layers) < len(model.layers)
    True
    """
    if not isinstance(model, keras.Model) or len(model.outputs) < 1:
        _validation.fail("model", "a functional keras.Model with one output per exit", model)
    exits = len(model.outputs)
    if (
        isinstance(exit_index, bool)
        or not isinstance(exit_index, int)
        or not 1 <= exit_index <= exits
    ):
        _validation.fail("exit_index", f"an integer in [1, {exits}]", exit_index)
    return keras.Model(
        model.inputs, model.outputs[exit_index - 1], name=f"{model.name}_exit_{exit_index}"
    )


def exit_costs(model, input_shape=None, lazy=False):
    """Cumulative multiply-accumulates up to each exit of a multi-output model.

    Exit ``k`` costs every layer needed to compute exits ``1..k`` — the
    backbone up to exit ``k`` *and* the earlier classifiers, which a sample
    reaching exit ``k`` has been through (as the official code measures it).
    Counted with :func:`kcv.analysis.count_macs` (batch 1), traced once: the
    MACs of each of the model's layers, summed over the layers of the
    sub-model ``keras.Model(model.inputs, model.outputs[:k + 1])``.

    With ``lazy=True``, the costs of *lazy evaluation* (paper, Sec. 4,
    "computational considerations"): an exit reads only the coarsest scale,
    which needs only the coarser part of the layers before it — scale ``s``
    of the layer ``d`` layers before an exit is needed only if the ``d``
    strided paths between them can reach the coarsest scale. The finer
    scales are computed later, and only if the sample goes on to an exit
    that needs them. Multi-scale layers say what each output scale needs
    through their ``scale_parts()`` method (:class:`kcv.layers.MSDFirstLayer`,
    :class:`kcv.layers.MSDDenseLayer`, :class:`kcv.layers.MSDTransition`);
    every other layer is counted whole. The predictions are the same, only
    the cost of reaching the early exits falls; features no exit needs are
    never counted.

    Args:
        model: a functional ``keras.Model`` with one output per exit, first
            (cheapest) to last, e.g. :func:`kcv.models.MSDNet`.
        input_shape: tuple or None. Input shape without batch, required when
            the model's spatial size is unknown.
        lazy: bool. Count only the scales each exit needs (see above).

    Returns:
        A numpy int array ``(exits,)``, non-decreasing.

    Example:

    >>> import kcv
    >>> model = kcv.models.MSDNet(preset="cifar_anytime", classes=10)
    >>> costs = exit_costs(model)
    >>> len(costs), bool(costs[0] < costs[-1])
    (7, True)
    >>> bool(exit_costs(model, lazy=True)[0] < costs[0])
    True

    Reference:
        Huang et al., MSDNet, ICLR 2018, Sec. 4 ("lazy evaluation") and
        Fig. 2; official ``MSDNet-PyTorch`` ``op_counter.py`` (eager costs).
    """
    if not isinstance(model, keras.Model) or len(model.outputs) < 1:
        _validation.fail("model", "a functional keras.Model with one output per exit", model)
    if not isinstance(lazy, bool):
        _validation.fail("lazy", "True or False", lazy)
    per_layer = analysis.count_macs(model, input_shape, by_layer="top")
    layer_sets = [
        keras.Model(model.inputs, model.outputs[: k + 1]).layers for k in range(len(model.outputs))
    ]
    if not lazy:
        return np.array([sum(per_layer.get(layer, 0) for layer in layers) for layers in layer_sets])
    per_sublayer = analysis.count_macs(model, input_shape, by_layer=True)
    computed = {}  # multi-scale layer -> {id: sublayer} computed for the exits so far
    costs = []
    for layers in layer_sets:
        scaled = [layer for layer in layers if hasattr(layer, "scale_parts")]
        wanted = None  # the scales of the current layer that the exit needs
        for layer in reversed(scaled):  # from the layer before the exit back to the first
            parts = layer.scale_parts()
            wanted = {max(parts)} if wanted is None else wanted
            reads = set()
            for scale in wanted:
                sublayers, inputs = parts[scale]
                computed.setdefault(layer, {}).update((id(s), s) for s in sublayers)
                reads.update(inputs)
            wanted = reads
        costs.append(
            sum(
                sum(per_sublayer.get(s, 0) for s in computed.get(layer, {}).values())
                if hasattr(layer, "scale_parts")
                else per_layer.get(layer, 0)
                for layer in layers
            )
        )
    return np.array(costs)


def budgeted_batch_curve(val_probs, val_labels, test_probs, test_labels, exit_costs, qs=None):
    """Accuracy against average cost as the budget parameter ``q`` varies.

    For each ``q``: fractions from :func:`geometric_exit_fractions`,
    thresholds fitted on the validation set, evaluated on the test set.

    Args:
        val_probs, val_labels: validation softmax outputs and labels.
        test_probs, test_labels: test softmax outputs and labels.
        exit_costs: cumulative cost of each exit.
        qs: iterable of q > 0; default ``np.linspace(0.05, 2.5, 40)``.

    Returns:
        A list of ``(q, DynamicResult)``, in the order of ``qs``.
    """
    probs = _probs("val_probs", val_probs)
    _labels(val_labels, probs.shape[1])
    qs = np.linspace(0.05, 2.5, 40) if qs is None else qs
    curve = []
    for q in qs:
        thresholds = exit_thresholds(probs, geometric_exit_fractions(float(q), probs.shape[0]))
        curve.append((float(q), dynamic_evaluate(test_probs, test_labels, thresholds, exit_costs)))
    return curve
