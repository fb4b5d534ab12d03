"""The layer test battery: what every kcv layer must pass on every backend.

kcv's own tests, the grader and learners use the same checks. A
:class:`LayerCase` names a layer class, its constructor arguments and an input
shape (``channels_last``, batch included) plus what is known about it (output
shape, parameter count). :func:`run_checks` runs the checks below on the
backend of the current process and returns one :class:`CheckResult` each;
:func:`run_layer_test` raises an ``AssertionError`` listing every failure.

The checks (names in :data:`CHECKS`):

``serialization``
    ``get_config`` holds only ``__init__`` arguments, ``from_config`` rebuilds
    the same config, ``keras.saving`` (de)serializes the layer, and a
    ``.keras`` file of a model holding it reloads with the same outputs.
``weights``
    all weights are created by ``build`` (none later, in ``call``); counts of
    trainable / non-trainable weights and trainable parameters as expected.
``call``
    the symbolic call (``keras.Input``, unknown batch), the eager call and
    ``compute_output_shape`` agree on the shape; compiled inference
    (``predict``: jit on JAX, a graph on TensorFlow) matches the eager call.
``training``
    ``training=True`` and ``training=False`` both give finite outputs and
    inference is deterministic.
``fit``
    one ``fit`` step in the backend's default compiled mode gives a finite
    loss, and the gradient of a loss reaches every trainable weight (finite,
    not all zero).
``channels_first``
    the same weights give the same outputs (transposed) in
    ``channels_first``; skipped, with the reason, where the backend has no
    NCHW convolution (TensorFlow on CPU).
``mixed_precision``
    under ``mixed_float16`` and ``mixed_bfloat16`` the output has the compute
    dtype, every variable stays float32, and outputs are finite.

Only ``call`` and ``training`` need the eager call. On JAX, where an eager call
compiles each operation on its own, the other checks compute their outputs
and gradients as one compiled program each (``predict``, a jitted gradient):
same verdicts, a fraction of the time. TensorFlow and PyTorch run them eagerly.

Example:

>>> import kcv
>>> from kcv.testing import run_layer_test
>>> results = run_layer_test(kcv.layers.SqueezeExcite, {"reduction": 4},
...                          (2, 8, 8, 16), expected_trainable_params=148)
"""

import dataclasses
import inspect
import os
import re
import tempfile

import keras
import numpy as np

from kcv import backend

CHECKS = (
    "serialization",
    "weights",
    "call",
    "training",
    "fit",
    "channels_first",
    "mixed_precision",
)

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """One layer configuration to test.

    Args:
        name: str. Identifier used in test ids and reports.
        layer_cls: the layer class.
        init_kwargs: dict. Constructor arguments (no ``data_format``/``dtype``:
            the battery sets those itself).
        input_shape: tuple, or a list of tuples for a layer that takes a list
            of tensors (MSDNet's scales). Shapes with batch, ``channels_last``.
        expected_output_shape: tuple or None. Output shape, ``channels_last``
            (a list of shapes for a layer that returns a list).
        expected_trainable_params: int or None. From the paper's formula.
        expected_num_trainable_weights: int or None.
        expected_num_non_trainable_weights: int or None.
        atol: float. Absolute tolerance of numeric comparisons in float32.
    """

    name: str
    layer_cls: type
    init_kwargs: dict
    input_shape: tuple
    expected_output_shape: tuple = None
    expected_trainable_params: int = None
    expected_num_trainable_weights: int = None
    expected_num_non_trainable_weights: int = None
    atol: float = 1e-5

    def make(self, **overrides):
        """Returns a new layer with ``init_kwargs`` updated by ``overrides``."""
        return self.layer_cls(**{**self.init_kwargs, **overrides})

    @property
    def multi_input(self):
        """Whether the layer takes a list of tensors."""
        return _is_shape_list(self.input_shape)

    @property
    def input_shapes(self):
        """The input shapes as a list (one entry for a single-tensor layer)."""
        return (
            [tuple(s) for s in self.input_shape] if self.multi_input else [tuple(self.input_shape)]
        )

    @property
    def batch_size(self):
        return self.input_shapes[0][0]

    def inputs(self, seed=0, data_format="channels_last"):
        """Deterministic standard-normal float32 inputs (an array, or a list)."""
        rng = np.random.default_rng(seed)
        arrays = [
            _to_format(rng.standard_normal(shape).astype("float32"), data_format)
            for shape in self.input_shapes
        ]
        return arrays if self.multi_input else arrays[0]

    def symbolic_inputs(self, data_format="channels_last"):
        """``keras.Input`` tensors (no fixed batch) for this case."""
        inputs = [keras.Input(_to_format_shape(s, data_format)[1:]) for s in self.input_shapes]
        return inputs if self.multi_input else inputs[0]

    def model(self, **overrides):
        """A functional model: ``keras.Input`` (no fixed batch) -> the layer."""
        inputs = self.symbolic_inputs(overrides.get("data_format", "channels_last"))
        name = "case_" + re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
        return keras.Model(inputs, self.make(**overrides)(inputs), name=name)


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """One model configuration, for the cross-backend ``.keras`` catalogue.

    Args:
        name: str. Identifier used in test ids and reports.
        builder: callable returning a ``keras.Model``; called with
            ``input_shape`` (no batch, ``channels_last``) and ``kwargs``.
        kwargs: dict. Other builder arguments.
        input_shape: tuple. Input shape with batch, in ``channels_last``.
        expected_trainable_params: int or None. From the paper / official code.
        atol: float. Tolerance of numeric comparisons, relative to
            ``1 + max |output|``.
    """

    name: str
    builder: object
    kwargs: dict
    input_shape: tuple
    expected_trainable_params: int = None
    atol: float = 1e-5

    def model(self, **overrides):
        """A new model built by ``builder`` at this case's input size."""
        return self.builder(input_shape=tuple(self.input_shape[1:]), **{**self.kwargs, **overrides})

    def inputs(self, seed=0, data_format="channels_last"):
        """Deterministic standard-normal float32 inputs for this case."""
        x = np.random.default_rng(seed).standard_normal(self.input_shape)
        return _to_format(x.astype("float32"), data_format)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``status`` is passed, failed or skipped."""

    check: str
    status: str
    message: str = ""


class _Skip(Exception):
    pass


def run_checks(case, checks=CHECKS, seed=0):
    """Runs ``checks`` on ``case`` in this process's backend.

    Args:
        case: a :class:`LayerCase`.
        checks: iterable of names from :data:`CHECKS`.
        seed: int. Seeds weights and inputs.

    Returns:
        A list of :class:`CheckResult`, one per check, in the order given.
        An exception raised by the layer is a failure, reported with its type
        and message.
    """
    results = []
    for check in checks:
        if check not in CHECKS:
            raise ValueError(f"`checks` must be names from {CHECKS}, received {check!r}.")
        keras.utils.set_random_seed(seed)
        try:
            _CHECK_FUNCTIONS[check](case, seed)
        except _Skip as skip:
            results.append(CheckResult(check, SKIPPED, str(skip)))
        except AssertionError as failure:
            results.append(CheckResult(check, FAILED, str(failure)))
        except Exception as error:  # the layer under test may raise anything
            results.append(CheckResult(check, FAILED, f"{type(error).__name__}: {error}"))
        else:
            results.append(CheckResult(check, PASSED))
    return results


def run_layer_test(layer_cls, init_kwargs, input_shape, checks=CHECKS, seed=0, **expected):
    """Runs the battery on one configuration; raises if any check fails.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_shape: tuple with batch, ``channels_last``.
        checks: names from :data:`CHECKS`.
        seed: int.
        **expected: the optional ``expected_*`` fields of :class:`LayerCase`.

    Returns:
        The list of :class:`CheckResult` (passed and skipped).

    Raises:
        AssertionError: naming every failed check and why.
    """
    case = LayerCase(
        layer_cls.__name__, layer_cls, dict(init_kwargs), tuple(input_shape), **expected
    )
    results = run_checks(case, checks, seed)
    failures = [r for r in results if r.status == FAILED]
    if failures:
        raise AssertionError(
            f"{case.name}: {len(failures)} check(s) failed:\n"
            + "\n".join(f"- {r.check}: {r.message}" for r in failures)
        )
    return results


# ---------------------------------------------------------------------------
# Helpers


def _to_format_shape(shape, data_format):
    if data_format == "channels_first" and len(shape) == 4:
        return (shape[0], shape[3], shape[1], shape[2])
    return tuple(shape)


def _is_shape_list(shape):
    return isinstance(shape, list) or (
        isinstance(shape, tuple) and bool(shape) and isinstance(shape[0], (tuple, list))
    )


def _to_format(x, data_format):
    if data_format == "channels_first" and x.ndim == 4:
        return np.transpose(x, (0, 3, 1, 2))
    return x


def _from_format(x, data_format):
    if data_format == "channels_first" and x.ndim == 4:
        return np.transpose(x, (0, 2, 3, 1))
    return x


def _numpy(outputs):
    """Converts a tensor or a nest of tensors to a list of numpy arrays."""
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(outputs)]


def _inference(model, x):
    """A model's outputs in inference, a flat list: compiled on JAX, eager elsewhere.

    For the checks that compare or inspect outputs, not how they are computed
    (``call`` compares compiled with eager itself). An eager call on JAX
    compiles every operation on its own: a battery run on JAX spent most of its
    time there; one compiled program (``predict``) costs a fraction of it.
    TensorFlow's and PyTorch's eager calls are cheaper than their compiled ones.
    The outputs keep their dtype (numpy arrays on JAX, tensors elsewhere).
    """
    if backend.name() == "jax":
        batch = len(keras.tree.flatten(x)[0])
        return keras.tree.flatten(model.predict(x, batch_size=batch, verbose=0))
    return keras.tree.flatten(model(x, training=False))


def _shapes(outputs):
    return [tuple(t.shape) for t in keras.tree.flatten(outputs)]


def _output_shapes(shape_or_shapes):
    """``compute_output_shape`` may return one shape or a nest of shapes."""
    if isinstance(shape_or_shapes, (tuple, list)) and all(
        isinstance(d, int) or d is None for d in shape_or_shapes
    ):
        return [tuple(shape_or_shapes)]
    return [tuple(s) for s in shape_or_shapes]


def _assert_close(actual, desired, atol, what):
    for i, (a, d) in enumerate(zip(actual, desired)):
        assert a.shape == d.shape, f"{what}: output {i} has shape {a.shape}, expected {d.shape}"
        err = float(np.max(np.abs(a.astype("float64") - d.astype("float64")), initial=0.0))
        scale = 1.0 + float(np.max(np.abs(d), initial=0.0))
        assert err <= atol * scale, (
            f"{what}: output {i} differs by {err:.3g} (tolerance {atol * scale:.3g})"
        )


def _assert_finite(arrays, what):
    for i, a in enumerate(arrays):
        assert np.all(np.isfinite(a.astype("float32"))), f"{what}: output {i} has NaN or Inf"


def randomize_weights(model, seed=0):
    """Sets every weight to seeded random values, variances kept positive.

    Fresh batch-norm statistics (mean 0, variance 1) hide layout bugs; random
    ones do not. Used before comparing saved and reloaded models.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            # He scale on the fan-in keeps activations of deep models finite.
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, min(0.2, float(np.sqrt(2.0 / fan_in))), shape)
        else:
            value = rng.normal(0.0, 0.2, shape)
        variable.assign(value.astype(variable.dtype))


def stateless(builder, *args, **kwargs):
    """Builds a model without allocating or initializing its weights.

    Paper-size models (VGG-16's 138 M parameters) then cost only their
    graph: shapes, parameter counts and structure can be checked in a second.

    Args:
        builder: a callable returning a model or layer (``kcv.models.VGG``).
        *args, **kwargs: passed to ``builder``.

    Returns:
        What ``builder`` returns, built inside ``keras.StatelessScope``.

    Example:

    >>> import kcv
    >>> from kcv.testing import stateless, trainable_parameters
    >>> trainable_parameters(stateless(kcv.models.ResNet, 18))
    11689512
    """
    with keras.StatelessScope(initialize_variables=False):
        return builder(*args, **kwargs)


def stateless_for_macs(builder, *args, **kwargs):
    """:func:`stateless`, except on PyTorch, where the model is built for real.

    :func:`kcv.analysis.count_macs` clones the graph; on PyTorch the clone
    cannot hold uninitialized variables (``torch.nn.Parameter`` needs a tensor).

    Args:
        builder, *args, **kwargs: as :func:`stateless`.

    Returns:
        The model.
    """
    if keras.backend.backend() == "torch":
        return builder(*args, **kwargs)
    return stateless(builder, *args, **kwargs)


def trainable_parameters(model_or_layer):
    """The number of trainable parameters: the product of each trainable weight's shape.

    Counted from the shapes alone, independently of Keras' ``count_params``
    and of :func:`kcv.analysis.count_params`, so it also works on
    :func:`stateless` models.

    Args:
        model_or_layer: a built ``keras.Model`` or ``keras.layers.Layer``.

    Returns:
        int.
    """
    return int(sum(np.prod(w.shape) for w in model_or_layer.trainable_weights))


# ---------------------------------------------------------------------------
# The checks


_BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}


def _check_serialization(case, seed):
    layer = case.make()
    x = case.inputs(seed)
    layer(x)
    config = layer.get_config()
    signature = inspect.signature(case.layer_cls.__init__).parameters
    unknown = set(config) - set(signature) - _BASE_CONFIG_KEYS
    assert not unknown, f"get_config() returns keys __init__ does not take: {sorted(unknown)}"
    clone = case.layer_cls.from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) changes the config"
    # Unregistered classes (a learner's, a test's) are found by name.
    custom = {case.layer_cls.__name__: case.layer_cls}
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer), custom_objects=custom
    )
    assert type(revived) is case.layer_cls, f"keras.saving revives a {type(revived).__name__}"
    assert revived.get_config() == config, "keras.saving round trip changes the config"

    model = case.model()
    randomize_weights(model, seed)
    expected = _numpy(_inference(model, x))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, custom_objects=custom)
    _assert_close(_numpy(_inference(loaded, x)), expected, case.atol, ".keras reload")


def _check_weights(case, seed):
    layer = case.make()
    layer.build(case.input_shapes if case.multi_input else case.input_shape)
    built = len(layer.weights)
    layer(case.inputs(seed))
    assert len(layer.weights) == built, (
        f"call() created {len(layer.weights) - built} weight(s); create them in build()"
    )
    expectations = (
        ("trainable weights", case.expected_num_trainable_weights, len(layer.trainable_weights)),
        (
            "non-trainable weights",
            case.expected_num_non_trainable_weights,
            len(layer.non_trainable_weights),
        ),
        (
            "trainable parameters",
            case.expected_trainable_params,
            trainable_parameters(layer),
        ),
    )
    for what, want, got in expectations:
        if want is not None:
            assert got == want, f"{got:,} {what}, expected {want:,}"


def _check_call(case, seed):
    layer = case.make()
    x = case.inputs(seed)
    eager = layer(x, training=False)
    eager_shapes = _shapes(eager)
    symbolic = layer(case.symbolic_inputs())
    symbolic_shapes = [(case.batch_size,) + s[1:] for s in _shapes(symbolic)]
    assert symbolic_shapes == eager_shapes, (
        f"symbolic call gives {symbolic_shapes}, eager call {eager_shapes}"
    )
    shapes_in = case.input_shapes if case.multi_input else case.input_shape
    computed = _output_shapes(layer.compute_output_shape(shapes_in))
    assert computed == eager_shapes, (
        f"compute_output_shape gives {computed}, the call {eager_shapes}"
    )
    if case.expected_output_shape is not None:
        expected = _output_shapes(case.expected_output_shape)
        got = eager_shapes if len(expected) > 1 else eager_shapes[:1]
        assert got == expected, f"output shape {got}, expected {expected}"
    model = case.model()
    randomize_weights(model, seed)
    compiled = model.predict(x, batch_size=case.batch_size, verbose=0)
    _assert_close(
        _numpy(compiled), _numpy(model(x, training=False)), case.atol, "compiled vs eager"
    )


def _check_training(case, seed):
    layer = case.make()
    x = case.inputs(seed)
    _assert_finite(_numpy(layer(x, training=True)), "training=True")
    first = _numpy(layer(x, training=False))
    _assert_finite(first, "training=False")
    _assert_close(_numpy(layer(x, training=False)), first, 0.0, "repeated inference")


def _loss(targets, outputs):
    flat = keras.tree.flatten(outputs)
    return sum(
        keras.ops.mean(
            keras.ops.square(keras.ops.cast(o, "float32") - keras.ops.convert_to_tensor(t))
        )
        for o, t in zip(flat, targets)
    )


def _check_fit(case, seed):
    model = case.model()
    if not model.trainable_weights:  # a permutation (ChannelShuffle): no step to take
        raise _Skip("no trainable weights: nothing to fit")
    x = case.inputs(seed)
    rng = np.random.default_rng(seed + 1)
    targets = [
        rng.standard_normal((case.batch_size,) + tuple(o.shape[1:])).astype("float32")
        for o in model.outputs
    ]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=["mse"] * len(targets))
    history = model.fit(
        x,
        targets if len(targets) > 1 else targets[0],
        batch_size=case.batch_size,
        epochs=1,
        verbose=0,
    )
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), f"fit step loss is {loss}"
    _, grads = backend.value_and_gradients(model, x, targets, _loss, jit=True)
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, f"no gradient reaches {variable.path}"
        assert np.all(np.isfinite(grad)), f"gradient of {variable.path} is not finite"
        assert np.any(grad != 0), f"gradient of {variable.path} is zero everywhere"


def _check_channels_first(case, seed):
    if "data_format" not in inspect.signature(case.layer_cls.__init__).parameters:
        raise _Skip(f"{case.layer_cls.__name__} takes no data_format")
    if any(len(shape) != 4 for shape in case.input_shapes):
        raise _Skip("channels_first applies to 4D image inputs only")
    supported, reason = backend.channels_first_support()
    if not supported:
        raise _Skip(reason)
    last = case.model(data_format="channels_last")
    first = case.model(data_format="channels_first")
    randomize_weights(last, seed)
    first.set_weights(last.get_weights())
    expected = _numpy(_inference(last, case.inputs(seed)))
    got = [
        _from_format(y, "channels_first")
        for y in _numpy(_inference(first, case.inputs(seed, "channels_first")))
    ]
    _assert_close(got, expected, case.atol, "channels_first vs channels_last")


def _check_mixed_precision(case, seed):
    x = case.inputs(seed)
    for policy in ("mixed_float16", "mixed_bfloat16"):
        model = case.model(dtype=policy)
        outputs = _inference(model, x)
        compute = keras.dtype_policies.get(policy).compute_dtype
        dtypes = sorted({keras.backend.standardize_dtype(t.dtype) for t in outputs})
        assert dtypes == [compute], f"{policy}: output dtype {dtypes}, expected {compute}"
        wrong = [
            v.path for v in model.weights if keras.backend.standardize_dtype(v.dtype) != "float32"
        ]
        assert not wrong, f"{policy}: variables not float32: {wrong}"
        _assert_finite(_numpy(outputs), policy)


_CHECK_FUNCTIONS = {
    "serialization": _check_serialization,
    "weights": _check_weights,
    "call": _check_call,
    "training": _check_training,
    "fit": _check_fit,
    "channels_first": _check_channels_first,
    "mixed_precision": _check_mixed_precision,
}
