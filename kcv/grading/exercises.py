"""The exercises: what a learner builds, what it is compared with, and how it is scored.

An exercise is either a layer (:class:`LayerExercise`: a ``keras.layers.Layer``
subclass compared with its reference in :mod:`kcv.layers`) or a function
(:class:`FunctionExercise`: a numpy function compared with its reference in
kcv, e.g. :func:`kcv.adaptive.exit_thresholds`). Each names the class or
function the learner must define, the reference (as a dotted path, resolved
only in clean processes), the configurations it is tested on, the points of
each check, a hint per check, and the numeric tolerances per backend.

Layer checks (names in :data:`LAYER_CHECKS`, the public subset in
:data:`PUBLIC_LAYER_CHECKS` runs in a notebook's ``check()`` cell):

``constructs``     the class takes the documented arguments (and ``**kwargs``);
``output_shape``   output shape and dtype on a concrete input, and on a
                   symbolic input with unknown batch (and spatial) sizes;
``parameters``     the trainable parameter count;
``numerics``       the output equals the reference's given the same weights,
                   transplanted in creation order;
``training``       ``training=True`` behaves as the reference does (batch
                   statistics, their moving averages, dropout);
``gradients``      a gradient reaches every trainable weight (a zero gradient
                   passes when the output still depends on the weight — ReLUs
                   dead for these weights and inputs — or when the
                   reference's weight in that place gets none either);
``config``         ``get_config`` holds the arguments and ``from_config``
                   rebuilds an equivalent layer;
``compiled``       the compiled ``predict`` (jit on JAX, a graph on TensorFlow)
                   equals the eager call.

Function checks (:data:`FUNCTION_CHECKS`): ``defined``, ``output_shape``,
``last_exit``, ``values`` (random cases), ``edge_cases`` and ``pure`` (the
inputs are left unchanged).

Example:

>>> from kcv.grading import exercises
>>> exercise = exercises.get("squeeze_excite")
>>> exercise.class_name, exercise.max_score(["jax", "torch"])
('SqueezeExcite', 30.0)
"""

import dataclasses

import numpy as np

from kcv.grading import diagnoses

LAYER_CHECKS = (
    "constructs",
    "output_shape",
    "parameters",
    "numerics",
    "training",
    "gradients",
    "config",
    "compiled",
)
PUBLIC_LAYER_CHECKS = ("constructs", "output_shape", "parameters")
LAYER_POINTS = {
    "constructs": 1,
    "output_shape": 2,
    "parameters": 2,
    "numerics": 4,
    "training": 2,
    "gradients": 2,
    "config": 1,
    "compiled": 1,
}
FUNCTION_CHECKS = ("defined", "output_shape", "last_exit", "values", "edge_cases", "pure")
PUBLIC_FUNCTION_CHECKS = ("defined", "output_shape", "last_exit")
FUNCTION_POINTS = {
    "defined": 1,
    "output_shape": 1,
    "last_exit": 1,
    "values": 4,
    "edge_cases": 3,
    "pure": 1,
}

_LAYER_HINTS = {
    "constructs": (
        "Define `class {name}(keras.layers.Layer)` whose `__init__` takes {arguments} "
        "and `**kwargs`, stores the arguments and passes `**kwargs` to `super().__init__`."
    ),
    "output_shape": (
        "Check the number of output channels and the padding, and that `call()` also "
        "works on `keras.Input` tensors whose batch and spatial sizes are None: take "
        "sizes from `keras.ops.shape(x)` at run time, never from Python ints you computed."
    ),
    "parameters": (
        "Compare your sublayers with the table in the notebook: a convolution followed "
        "by BatchNormalization has no bias, the other convolutions and Dense layers do."
    ),
    "numerics": (
        "The weights are copied into your layer in the order it creates them: create the "
        "sublayers in the order the notebook lists, with the same kernel shapes. Then "
        "compare your call() with the equations, one step at a time."
    ),
    "training": (
        "Pass `training` on to every BatchNormalization and Dropout sublayer, and add "
        "no randomness the reference does not have."
    ),
    "gradients": (
        "Every weight you create must influence the output: use each sublayer in "
        "call(), with keras.ops only (numpy cuts the gradient)."
    ),
    "config": (
        "get_config() must return every `__init__` argument (`{{**super().get_config(), ...}}`), "
        "so that `from_config(get_config())` rebuilds the same layer."
    ),
    "compiled": (
        "Use keras.ops only in call(): no numpy, no `.numpy()`, no Python `if` on tensor "
        "values, so that it traces under jax.jit and tf.function."
    ),
}

_FUNCTION_HINTS = {
    "defined": "Define `def {name}({arguments}):` at the top level of the solution cell.",
    "output_shape": "Return a float numpy array with one threshold per exit: shape (exits,).",
    "last_exit": "Every sample still there leaves at the last exit: its threshold is -inf.",
    "values": (
        "Exit by exit, among the samples that have not left yet, the floor(n·p_k) most "
        "confident leave; the threshold is the confidence of the last of them."
    ),
    "edge_cases": (
        "A quota of 0 (or more samples than are left) gives +inf; samples at or above a "
        "threshold count as gone, ties included."
    ),
    "pure": "Do not modify the arrays you are given (sort a copy: np.sort, not .sort()).",
}


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Elementwise tolerance: ``|got - expected| <= atol + rtol * |expected|``.

    Args:
        atol: float. Absolute part.
        rtol: float. Relative part.
    """

    atol: float
    rtol: float

    def close(self, got, expected):
        """Returns the boolean array of elements within tolerance."""
        return np.abs(got - expected) <= self.atol + self.rtol * np.abs(expected)


# float32 on the CPU, single-threaded: the backends differ from the reference by
# a few ulps (kcv computes 1x1 convolutions as matrix products on JAX).
DEFAULT_TOLERANCES = {
    "jax": Tolerance(2e-5, 2e-4),
    "tensorflow": Tolerance(2e-5, 2e-4),
    "torch": Tolerance(2e-5, 2e-4),
    "numpy": Tolerance(1e-9, 1e-6),
}


@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """One constructor configuration of a layer exercise.

    Args:
        name: str. Shown in feedback.
        kwargs: dict. Constructor arguments (JSON values: ints, floats, strings,
            bools, None, lists — lists are passed on as tuples).
        input_shape: tuple. Concrete input shape, batch first, channels_last.
        symbolic_shape: tuple. Shape of the ``keras.Input`` of the symbolic
            call, with None for sizes that must be allowed to be unknown.
        compiled: bool. Also compare a compiled ``predict`` with the eager call.
        dropout_argument: str or None. The constructor argument that sets a
            dropout rate in this configuration: ``training=True`` is then
            checked against the reference run with that argument set to 0
            (dropout zeroes each element with probability p and scales the
            others by 1/(1-p)).
    """

    name: str
    kwargs: dict
    input_shape: tuple
    symbolic_shape: tuple
    compiled: bool = False
    dropout_argument: str = None


@dataclasses.dataclass(frozen=True)
class LayerExercise:
    """A layer the learner implements, graded against a ``kcv.layers`` class.

    Args:
        name: str. The exercise's name (``kcv grade --exercise NAME``).
        title: str. One line for reports.
        class_name: str. The class the submission must define.
        reference: str. Dotted path of the reference class.
        arguments: tuple of str. The documented ``__init__`` arguments.
        configs: tuple of :class:`LayerConfig`.
        hints: dict. Per-check hints replacing the defaults.
        points: dict. Points per check, per backend.
        tolerances: dict. ``{backend: Tolerance}``.
        diagnoses: tuple of :class:`~kcv.grading.diagnoses.Diagnosis`, the
            common mistakes that ``numerics`` names when it fails.
    """

    name: str
    title: str
    class_name: str
    reference: str
    arguments: tuple
    configs: tuple
    hints: dict = dataclasses.field(default_factory=dict)
    diagnoses: tuple = ()
    points: dict = dataclasses.field(default_factory=lambda: dict(LAYER_POINTS))
    tolerances: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_TOLERANCES))

    kind = "layer"
    checks = LAYER_CHECKS
    public_checks = PUBLIC_LAYER_CHECKS

    def hint(self, check):
        """The hint shown when ``check`` fails."""
        arguments = ", ".join(f"`{a}`" for a in self.arguments) or "no arguments of its own"
        text = self.hints.get(check, _LAYER_HINTS[check])
        return text.format(name=self.class_name, arguments=arguments)

    def max_score(self, backends):
        """Total points over ``backends``."""
        return float(sum(self.points.values()) * len(backends))


@dataclasses.dataclass(frozen=True)
class FunctionCase:
    """One call of a function exercise.

    Args:
        name: str. Shown in feedback.
        group: str. The check it counts for: ``"values"`` or ``"edge_cases"``.
        make: callable ``make(rng) -> tuple of numpy arrays``, the arguments.
    """

    name: str
    group: str
    make: object


@dataclasses.dataclass(frozen=True)
class FunctionExercise:
    """A numpy function the learner implements, graded against a kcv function.

    It runs once, in a process without a Keras backend (reported as ``numpy``).

    Args:
        name: str. The exercise's name.
        title: str. One line for reports.
        function_name: str. The function the submission must define.
        reference: str. Dotted path of the reference function.
        arguments: tuple of str. Its parameters.
        cases: tuple of :class:`FunctionCase`.
        hints: dict. Per-check hints replacing the defaults.
        points: dict. Points per check.
        tolerance: :class:`Tolerance` for finite values (infinities must match).
    """

    name: str
    title: str
    function_name: str
    reference: str
    arguments: tuple
    cases: tuple
    hints: dict = dataclasses.field(default_factory=dict)
    points: dict = dataclasses.field(default_factory=lambda: dict(FUNCTION_POINTS))
    tolerance: Tolerance = DEFAULT_TOLERANCES["numpy"]

    kind = "function"
    checks = FUNCTION_CHECKS
    public_checks = PUBLIC_FUNCTION_CHECKS
    class_name = property(lambda self: self.function_name)

    def hint(self, check):
        """The hint shown when ``check`` fails."""
        text = self.hints.get(check, _FUNCTION_HINTS[check])
        return text.format(name=self.function_name, arguments=", ".join(self.arguments))

    def max_score(self, backends=None):
        """Total points (a function is graded once, whatever the backends)."""
        return float(sum(self.points.values()))


# ---------------------------------------------------------------------------
# The exercises, one or more per chapter.

INCEPTION = LayerExercise(
    name="inception_module",
    title="GoogLeNet's Inception module",
    class_name="InceptionModule",
    reference="kcv.layers.InceptionModule",
    arguments=(
        "filters_1x1",
        "filters_3x3_reduce",
        "filters_3x3",
        "filters_5x5_reduce",
        "filters_5x5",
        "filters_pool_proj",
        "batch_norm",
    ),
    configs=(
        LayerConfig(
            "paper_form",
            {
                "filters_1x1": 4,
                "filters_3x3_reduce": 4,
                "filters_3x3": 6,
                "filters_5x5_reduce": 2,
                "filters_5x5": 3,
                "filters_pool_proj": 3,
            },
            (2, 7, 7, 8),
            (None, None, None, 8),
            compiled=True,
        ),
        LayerConfig(
            "batch_norm",
            {
                "filters_1x1": 2,
                "filters_3x3_reduce": 3,
                "filters_3x3": 4,
                "filters_5x5_reduce": 2,
                "filters_5x5": 2,
                "filters_pool_proj": 1,
                "batch_norm": True,
            },
            (2, 5, 6, 6),
            (None, None, None, 6),
        ),
        LayerConfig(
            "one_filter_each",
            {
                "filters_1x1": 1,
                "filters_3x3_reduce": 1,
                "filters_3x3": 1,
                "filters_5x5_reduce": 1,
                "filters_5x5": 1,
                "filters_pool_proj": 1,
            },
            (1, 3, 4, 2),
            (None, 3, 4, 2),
        ),
    ),
    hints={
        "numerics": (
            "Branch order in the output is 1x1, 3x3, 5x5, pool; create the convolutions in "
            "the order of the notebook's table (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool "
            "projection), ReLU after every one, max pooling 3x3 stride 1 'same'."
        ),
    },
    diagnoses=diagnoses.INCEPTION,
)

SQUEEZE_EXCITE = LayerExercise(
    name="squeeze_excite",
    title="Squeeze-and-Excitation block",
    class_name="SqueezeExcite",
    reference="kcv.layers.SqueezeExcite",
    arguments=("reduction",),
    configs=(
        LayerConfig("r4", {"reduction": 4}, (2, 5, 6, 16), (None, None, None, 16), compiled=True),
        LayerConfig("default_r16", {}, (2, 3, 3, 32), (None, None, None, 32)),
        LayerConfig("narrow_input", {"reduction": 16}, (3, 4, 4, 8), (None, 4, 4, 8)),
    ),
    diagnoses=diagnoses.SQUEEZE_EXCITE,
    hints={
        "numerics": (
            "s = sigmoid(W2·relu(W1·z + b1) + b2) with z the spatial mean of each channel; "
            "the output is x·s (broadcast over height and width). Hidden width: "
            "max(1, C // reduction)."
        ),
    },
)

INVERTED_RESIDUAL = LayerExercise(
    name="inverted_residual",
    title="MobileNetV2 inverted residual block",
    class_name="InvertedResidual",
    reference="kcv.layers.InvertedResidual",
    arguments=("filters", "expansion", "strides"),
    configs=(
        LayerConfig(
            "residual_t6",
            {"filters": 8, "expansion": 6},
            (2, 6, 6, 8),
            (None, None, None, 8),
            compiled=True,
        ),
        LayerConfig(
            "stride2_t1",
            {"filters": 8, "expansion": 1, "strides": 2},
            (2, 7, 7, 4),
            (None, None, None, 4),
        ),
        LayerConfig("wider_t3", {"filters": 10, "expansion": 3}, (2, 5, 5, 6), (None, 5, 5, 6)),
    ),
    diagnoses=diagnoses.INVERTED_RESIDUAL,
    hints={
        "numerics": (
            "expand 1x1 (skipped when expansion == 1) -> BN -> ReLU6 -> depthwise 3x3 -> BN "
            "-> ReLU6 -> project 1x1 -> BN, no activation; add the input only when strides "
            "is 1 and the channel counts match."
        ),
    },
)

RESNEXT_BLOCK = LayerExercise(
    name="resnext_block",
    title="ResNeXt's grouped bottleneck block",
    class_name="ResNeXtBottleneck",
    reference="kcv.layers.Bottleneck",
    arguments=("filters", "strides", "groups", "width_per_group"),
    configs=(
        LayerConfig(
            "grouped_projection_s2",
            {"filters": 8, "strides": 2, "groups": 4, "width_per_group": 16},
            (2, 7, 7, 16),
            (None, None, None, 16),
            compiled=True,
        ),
        LayerConfig(
            "grouped_identity",
            {"filters": 4, "strides": 1, "groups": 2, "width_per_group": 32},
            (2, 5, 6, 16),
            (None, None, None, 16),
        ),
        LayerConfig(
            "resnet_bottleneck_s2",  # groups=1, width_per_group=64: ResNet's own block
            {"filters": 4, "strides": 2, "groups": 1, "width_per_group": 64},
            (2, 6, 5, 8),
            (None, 6, 5, 8),
        ),
    ),
    hints={
        "parameters": (
            "width = int(filters · width_per_group / 64) · groups; the 3x3 is grouped "
            "(Conv2D(groups=groups): 9·width·width/groups weights); no convolution has a bias; "
            "a 1x1 projection (+ BN) only where strides != 1 or the input has != 4·filters "
            "channels."
        ),
        "numerics": (
            "1x1 (width) -> BN -> ReLU -> 3x3 grouped, stride on this 3x3 -> BN -> ReLU -> "
            "1x1 (4·filters) -> BN, then relu(branch + shortcut); the shortcut is the input, "
            "or 1x1 stride `strides` -> BN. Create the layers in the notebook's table order."
        ),
    },
    diagnoses=diagnoses.FINAL_RELU,
)

CHANNEL_SHUFFLE = LayerExercise(
    name="channel_shuffle",
    title="ShuffleNet's channel shuffle",
    class_name="ChannelShuffle",
    reference="kcv.layers.ChannelShuffle",
    arguments=("groups",),
    configs=(
        LayerConfig(
            "g3_of_12", {"groups": 3}, (2, 4, 5, 12), (None, None, None, 12), compiled=True
        ),
        LayerConfig("g2_of_8", {"groups": 2}, (2, 3, 3, 8), (None, 3, 3, 8)),
        LayerConfig("g4_of_8", {"groups": 4}, (1, 2, 6, 8), (None, None, 6, 8)),
    ),
    # No weights: nothing for the gradient check to find; its points go to the numbers.
    points={**LAYER_POINTS, "gradients": 0, "numerics": 6},
    diagnoses=diagnoses.CHANNEL_SHUFFLE,
    hints={
        "numerics": (
            "Split the channels as (groups, n) — group first —, swap those two axes and "
            "merge them back: output channel j·groups + g is input channel g·n + j."
        ),
    },
)

FIRE_MODULE = LayerExercise(
    name="fire_module",
    title="SqueezeNet's Fire module",
    class_name="FireModule",
    reference="kcv.layers.FireModule",
    arguments=("squeeze", "expand_1x1", "expand_3x3"),
    configs=(
        LayerConfig(
            "fire_small",
            {"squeeze": 3, "expand_1x1": 4, "expand_3x3": 5},
            (2, 6, 7, 8),
            (None, None, None, 8),
            compiled=True,
        ),
        LayerConfig(
            "wide_squeeze",
            {"squeeze": 6, "expand_1x1": 2, "expand_3x3": 3},
            (2, 5, 5, 4),
            (None, 5, 5, 4),
        ),
        LayerConfig(
            "one_pixel",
            {"squeeze": 2, "expand_1x1": 3, "expand_3x3": 3},
            (3, 1, 1, 6),
            (None, 1, 1, 6),
        ),
    ),
    hints={
        "numerics": (
            "squeeze 1x1 -> ReLU, then [1x1 expand -> ReLU, 3x3 expand ('same') -> ReLU] "
            "concatenated on the channel axis, the 1x1 expansion first; every convolution "
            "has a bias."
        ),
    },
    diagnoses=diagnoses.FIRE_MODULE,
)

ASPP = LayerExercise(
    name="aspp",
    title="DeepLabv3 Atrous Spatial Pyramid Pooling",
    class_name="ASPP",
    reference="kcv.layers.ASPP",
    arguments=("filters", "rates", "image_pooling", "dropout"),
    configs=(
        LayerConfig(
            "two_rates",
            {"filters": 8, "rates": [2, 3], "dropout": 0.0},
            (2, 9, 9, 6),
            (None, None, None, 6),
            compiled=True,
        ),
        LayerConfig(
            "no_pooling",
            {"filters": 4, "rates": [1], "image_pooling": False, "dropout": 0.0},
            (2, 7, 8, 5),
            (None, None, None, 5),
        ),
        LayerConfig(
            "dropout",
            {"filters": 6, "rates": [2], "dropout": 0.5},
            (2, 9, 9, 6),
            (None, 9, 9, 6),
            dropout_argument="dropout",
        ),
    ),
    hints={
        "numerics": (
            "Branches: one 3x3 atrous convolution per rate (dilation_rate=rate, 'same'), "
            "the 1x1, and image pooling (mean over height and width, 1x1, broadcast back); "
            "each conv (no bias) -> BN -> ReLU; concatenate in the order 1x1, rates, "
            "pooling; project 1x1 -> BN -> ReLU -> Dropout."
        ),
        "training": (
            "BatchNormalization and Dropout must see `training`; Dropout comes last, "
            "after the projection's ReLU."
        ),
    },
    diagnoses=diagnoses.ASPP,
)

ENCODING = LayerExercise(
    name="encoding",
    title="EncNet's Encoding layer",
    class_name="Encoding",
    reference="kcv.layers.Encoding",
    arguments=("num_codes",),
    configs=(
        LayerConfig(
            "image_k4", {"num_codes": 4}, (2, 5, 6, 8), (None, None, None, 8), compiled=True
        ),
        LayerConfig("set_k3", {"num_codes": 3}, (2, 10, 6), (None, None, 6)),
        LayerConfig("one_code", {"num_codes": 1}, (1, 3, 3, 5), (None, 3, 3, 5)),
    ),
    hints={
        "numerics": (
            "a_ik = softmax_k(scale_k·||x_i - c_k||²) (scale holds -s_k), e_k = Σ_i a_ik "
            "(x_i - c_k); create `codewords` (K, C) first, then `scale` (K,)."
        ),
    },
    diagnoses=diagnoses.ENCODING,
)

STRIP_POOLING = LayerExercise(
    name="strip_pooling",
    title="SPNet's strip pooling module",
    class_name="StripPooling",
    reference="kcv.layers.StripPooling",
    arguments=(),
    configs=(
        LayerConfig("c8", {}, (2, 6, 7, 8), (None, None, None, 8), compiled=True),
        LayerConfig("thin_rows", {}, (1, 3, 9, 4), (None, None, None, 4)),
    ),
    hints={
        "numerics": (
            "Rows: mean over the width -> (H, 1) -> 3x1 conv -> BN; columns: mean over the "
            "height -> (1, W) -> 1x3 conv -> BN; relu(rows + columns) -> 1x1 conv (bias) "
            "-> sigmoid; multiply the input by the gate."
        ),
    },
    diagnoses=diagnoses.STRIP_POOLING,
)


def _dirichlet(rng, exits, samples, classes, concentration=1.0):
    return rng.dirichlet(np.full(classes, concentration), size=(exits, samples))


def _geometric(q, exits):
    weights = q ** np.arange(1, exits + 1)
    return weights / weights.sum()


EXIT_THRESHOLDS = FunctionExercise(
    name="exit_thresholds",
    title="MSDNet's budgeted-batch exit thresholds",
    function_name="exit_thresholds",
    reference="kcv.adaptive.exit_thresholds",
    arguments=("val_probs", "fractions"),
    cases=(
        FunctionCase(
            "3_exits_q0.5", "values", lambda rng: (_dirichlet(rng, 3, 100, 10), _geometric(0.5, 3))
        ),
        FunctionCase(
            "4_exits_q1.3",
            "values",
            lambda rng: (_dirichlet(rng, 4, 257, 5, 0.3), _geometric(1.3, 4)),
        ),
        FunctionCase(
            "2_exits_uneven",
            "values",
            lambda rng: (_dirichlet(rng, 2, 50, 3), np.array([0.3, 0.7])),
        ),
        FunctionCase(
            "rounding_n7", "values", lambda rng: (_dirichlet(rng, 2, 7, 4), np.array([0.5, 0.5]))
        ),
        FunctionCase(
            "zero_fraction",
            "edge_cases",
            lambda rng: (_dirichlet(rng, 3, 40, 6), np.array([0.0, 0.6, 0.4])),
        ),
        FunctionCase(
            "ties_empty_exit",
            "edge_cases",
            lambda rng: (np.full((3, 12, 4), 0.25), np.array([0.25, 0.5, 0.25])),
        ),
        FunctionCase(
            "single_exit", "edge_cases", lambda rng: (_dirichlet(rng, 1, 9, 3), np.array([1.0]))
        ),
        FunctionCase(
            "all_at_first_exit",
            "edge_cases",
            lambda rng: (_dirichlet(rng, 3, 20, 5), np.array([1.0, 0.0, 0.0])),
        ),
    ),
)

EXERCISES = {
    exercise.name: exercise
    for exercise in (
        INCEPTION,
        SQUEEZE_EXCITE,
        INVERTED_RESIDUAL,
        RESNEXT_BLOCK,
        CHANNEL_SHUFFLE,
        FIRE_MODULE,
        ASPP,
        ENCODING,
        STRIP_POOLING,
        EXIT_THRESHOLDS,
    )
}


def get(name):
    """Returns the exercise called ``name``.

    Args:
        name: str. One of :data:`EXERCISES`.

    Returns:
        A :class:`LayerExercise` or :class:`FunctionExercise`.

    Raises:
        ValueError: naming ``exercise`` when ``name`` is unknown.

    Example:

    >>> get("encoding").reference
    'kcv.layers.Encoding'
    """
    if name not in EXERCISES:
        raise ValueError(f"`exercise` must be one of {', '.join(EXERCISES)}; received {name!r}.")
    return EXERCISES[name]
