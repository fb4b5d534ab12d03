"""The verdicts: computed in the grader from the arrays two processes returned.

:func:`evaluate` compares what a submission's process returned (a
:class:`~kcv.grading.sandbox.Run`) with what the reference process returned
for the same inputs and weights, and scores every check of the exercise on
one backend: ``points × (configurations passed / configurations checked)``.
Each check is one function from the arrays of one configuration (or case)
to ``None`` (passed) or the reason it failed: :data:`LAYER_CHECK_FUNCTIONS` and
:data:`FUNCTION_CHECK_FUNCTIONS` map the check names to them.
Nothing the submission's process says is trusted beyond plain arrays: every
value is looked up with its expected kind and rank, and a missing or
malformed one fails the check that needed it.

A run without usable results (crash, timeout, exit, memory, unreadable
results), a submission that left processes running, and one that uses a
kcv class score 0 on every check of that backend, with the reason.

:func:`public_check` runs the public subset in-process for a notebook's
``check()`` cell.
"""

import importlib
import json

import numpy as np

from kcv.grading import jobs
from kcv.grading import probe
from kcv.grading import sandbox
from kcv.grading.report import TestResult


class _View:
    """Validated access to the arrays of one configuration (``c{i}/...``)."""

    def __init__(self, arrays, index):
        self.arrays, self.prefix = arrays or {}, f"c{index}/"

    def array(self, key, kinds="fiub", ndim=None):
        value = self.arrays.get(self.prefix + key)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds:
            return None
        if ndim is not None and value.ndim != ndim:
            return None
        return value

    def text(self, key):
        value = self.array(key, kinds="U", ndim=0)
        return None if value is None else str(value)[:4000]

    def texts(self, key):
        value = self.array(key, kinds="U", ndim=1)
        return [] if value is None else [str(v)[:400] for v in value[:20]]

    def error(self, step, default):
        return self.text(f"error_{step}") or default

    def weights(self):
        """``[(name, shape, trainable)]`` or None when the layer was never built."""
        names = self.array("weight_names", kinds="U", ndim=1)
        shapes = self.array("weight_shapes", kinds="i", ndim=2)
        trainable = self.array("weight_trainable", kinds="b", ndim=1)
        if names is None or shapes is None or trainable is None:
            return None
        if not len(names) == len(shapes) == len(trainable):
            return None
        return [
            (str(n)[:200], tuple(int(d) for d in s if d >= 0), bool(t))
            for n, s, t in zip(names, shapes, trainable)
        ]


def _shape(shape):
    """``(2, None, 8)`` from a shape whose unknown sizes are None or negative."""
    sizes = ["None" if d is None or d < 0 else str(int(d)) for d in shape]
    return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"


def _trainable_count(weights):
    return sum(int(np.prod(shape)) for _, shape, trainable in weights if trainable)


def _weight_table(yours, reference):
    """The two weight lists side by side, rows that differ marked with ``>``."""

    def cell(weights, j):
        if j >= len(weights):
            return "-"
        name, shape, _ = weights[j]
        return f"{'/'.join(name.split('/')[-2:])} {_shape(shape)}"[:44]

    lines = [f"    {'#':>3}  {'yours':<44} reference"]
    for j in range(min(max(len(yours), len(reference)), 40)):
        same = j < len(yours) and j < len(reference) and yours[j][1:] == reference[j][1:]
        lines.append(f"  {' ' if same else '>'} {j:>3}  {cell(yours, j):<44} {cell(reference, j)}")
    return "\n".join(lines)


def compare(got, expected, tolerance):
    """None when ``got`` matches ``expected`` within ``tolerance``, else why not.

    The message gives the shapes when they differ, else the largest absolute
    error and its index with both values, the largest relative error, and
    how many elements are out of tolerance.
    """
    if got is None:
        return "no output"
    if got.shape != expected.shape:
        return f"shape {_shape(got.shape)}, expected {_shape(expected.shape)}"
    got64, expected64 = got.astype("float64"), expected.astype("float64")
    if got64.size == 0:
        return None
    finite = np.isfinite(got64)
    bad = ~(tolerance.close(got64, expected64) & finite) & np.isfinite(expected64)
    bad |= np.isfinite(expected64) != finite
    if not bad.any():
        return None
    error = np.where(finite, np.abs(got64 - expected64), np.inf)
    worst = np.unravel_index(int(np.argmax(np.where(bad, error, -1.0))), got.shape)
    relative = error / np.maximum(np.abs(expected64), 1e-12)
    return (
        f"max abs error {float(error[worst]):.3g} at index {tuple(int(i) for i in worst)} "
        f"(got {float(got64[worst]):.6g}, expected {float(expected64[worst]):.6g}); "
        f"max rel error {float(np.max(np.where(bad, relative, 0.0))):.3g}; "
        f"{int(bad.sum()):,} of {bad.size:,} elements outside "
        f"|Δ| ≤ {tolerance.atol:g} + {tolerance.rtol:g}·|expected|"
    )


def _describe_config(exercise, config):
    arguments = ", ".join(f"{k}={v!r}" for k, v in config.kwargs.items())
    return f"{config.name}: {exercise.class_name}({arguments}) on {_shape(config.input_shape)}"


# ---------------------------------------------------------------------------
# Layer checks: each returns None (passed) or the reason it failed.


def _constructs(ctx):
    if ctx.mine.text("error_construct"):
        return ctx.mine.text("error_construct")
    if ctx.mine.array("constructed", kinds="b", ndim=0) is None:
        return "no result for this configuration"
    return None


def _output_shape(ctx):
    mine, ref = ctx.mine, ctx.ref
    expected = ref.array("out_eval")
    got = mine.array("out_eval")
    if got is None:
        return f"call() failed: {mine.error('eval', 'no output')}"
    if got.shape != expected.shape:
        return f"output shape {_shape(got.shape)}, expected {_shape(expected.shape)}"
    if mine.text("out_dtype") != ref.text("out_dtype"):
        return f"output dtype {mine.text('out_dtype')}, expected {ref.text('out_dtype')}"
    symbolic = ctx.config.symbolic_shape
    got_symbolic = mine.array("symbolic_shape", kinds="i", ndim=1)
    if got_symbolic is None:
        return (
            f"on keras.Input(batch_shape={_shape(symbolic)}): {mine.error('symbolic', 'no output')}"
        )
    expected_symbolic = ref.array("symbolic_shape", kinds="i", ndim=1)
    if not np.array_equal(got_symbolic, expected_symbolic):
        return (
            f"on keras.Input(batch_shape={_shape(symbolic)}) the output shape is "
            f"{_shape(got_symbolic[got_symbolic != -2])}, "
            f"expected {_shape(expected_symbolic[expected_symbolic != -2])}"
        )
    return None


def _parameters(ctx):
    mine = ctx.mine.weights()
    if mine is None:
        return f"the layer was never built: {ctx.mine.error('eval', 'call() failed')}"
    reference = ctx.ref.weights()
    got, expected = _trainable_count(mine), _trainable_count(reference)
    if got != expected:
        return (
            f"{got:,} trainable parameters, expected {expected:,}; the weights:\n"
            + _weight_table(mine, reference)
        )
    return None


def _transplant_problem(ctx):
    mine = ctx.mine.weights()
    if mine is None:
        return f"the layer was never built: {ctx.mine.error('eval', 'call() failed')}"
    if not bool(ctx.mine.array("transplanted", kinds="b", ndim=0)):
        return (
            f"the reference weights could not be copied into your layer "
            f"({ctx.mine.error('transplant', 'unknown reason')}); weights in creation order:\n"
            + _weight_table(mine, ctx.ref.weights())
        )
    return None


def _numerics_problem(ctx, diagnose=False):
    """Why the training=False output differs from the reference's, or None.

    With ``diagnose``, the exercise's common mistake that explains the output
    (:func:`_diagnosis`) is appended; the grading rule's gate skips that work.
    """
    problem = _transplant_problem(ctx)
    if problem:
        return problem
    got = ctx.mine.array("out_eval")
    if got is None:
        return f"call() failed: {ctx.mine.error('eval', 'no output')}"
    expected = ctx.ref.array("out_eval")
    mismatch = compare(got, expected, ctx.tolerance)
    if not mismatch:
        return None
    diagnosis = diagnose and _diagnosis(ctx, got.astype("float64"), expected.astype("float64"))
    return f"training=False output: {mismatch}" + (
        f"\n  diagnosis: {diagnosis}" if diagnosis else ""
    )


def _numerics(ctx):
    return _numerics_problem(ctx, diagnose=True)


def _diagnosis(ctx, got, expected):
    """The first of the exercise's common mistakes that explains ``got``, or None."""
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return None
    x = jobs.layer_inputs(ctx.exercise)[f"c{ctx.index}/x"].astype("float64")
    count = len(ctx.ref.weights() or ())
    weights = [ctx.ref.array(f"w{j}", kinds="f") for j in range(count)]
    for diagnosis in ctx.exercise.diagnoses:
        try:
            if diagnosis.test(x, weights, expected, got, ctx.config.kwargs):
                return diagnosis.message
        except (ValueError, TypeError, IndexError):
            continue  # the mistake's computation does not apply to these shapes
    return None


def _states(view, weights):
    return {
        j: view.array(f"state{j}") for j, (_, _, trainable) in enumerate(weights) if not trainable
    }


def _unchanged_by_training(ctx, got_train):
    """For a layer whose reference ignores ``training``: why the submission does not, or None."""
    got_eval = ctx.mine.array("out_eval")
    same = (
        compare(got_train, got_eval, ctx.tolerance)
        if got_eval is not None
        else "no training=False output"
    )
    if same:
        return (
            f"training=True changes the output ({same}), but {ctx.exercise.class_name} "
            "behaves the same in training and inference"
        )
    return None


def _dropout_problem(ctx, got_train):
    """Why ``got_train`` is not the reference's output without dropout, masked and rescaled.

    Returns None when every element is 0 or that output scaled by ``1/(1-rate)``
    and about ``rate`` of them are 0.
    """
    dropout, tolerance = ctx.config.dropout_argument, ctx.tolerance
    rate = float(ctx.config.kwargs[dropout])
    unmasked = ctx.ref.array("out_train_nodrop")
    scaled = unmasked.astype("float64") / (1.0 - rate)
    if got_train.shape != scaled.shape:
        return (
            f"training=True output shape {_shape(got_train.shape)}, expected {_shape(scaled.shape)}"
        )
    if rate > 0 and compare(got_train, unmasked, tolerance) is None:
        return (
            f"training=True applies no dropout ({dropout}={rate:g}): the output equals "
            "the reference's without dropout"
        )
    zero = np.abs(got_train) <= tolerance.atol
    kept = tolerance.close(got_train.astype("float64"), scaled)
    if not (zero | kept).all():
        return (
            f"training=True: {int((~(zero | kept)).sum()):,} elements are neither 0 nor the "
            f"output without dropout scaled by 1/(1-{rate:g}); "
            + (compare(got_train, scaled, tolerance) or "")
        )
    significant = np.abs(scaled) > 1e-3
    dropped = float(zero[significant].mean()) if significant.any() else rate
    if abs(dropped - rate) > 0.15:
        return (
            f"training=True drops {dropped:.0%} of the elements, expected about "
            f"{rate:.0%} ({dropout}={rate:g})"
        )
    return None


def _state_problem(ctx):
    """The first non-trainable weight whose value after training differs from the reference's."""
    ref_weights = ctx.ref.weights()
    reference_states = _states(ctx.ref, ref_weights)
    mine_states = _states(ctx.mine, ctx.mine.weights())
    for j, expected in reference_states.items():
        mismatch = compare(mine_states.get(j), expected, ctx.tolerance)
        if mismatch:
            return f"after a training=True call, {ref_weights[j][0].split('/', 1)[-1]}: {mismatch}"
    return None


def _training(ctx):
    ref = ctx.ref
    ref_train, ref_eval = ref.array("out_train"), ref.array("out_eval")
    stateful = any(not t for _, _, t in ref.weights())
    dropout = ctx.config.dropout_argument
    got_train = ctx.mine.array("out_train")
    if got_train is None:
        return f"call(training=True) failed: {ctx.mine.error('train', 'no output')}"
    if not dropout and not stateful and compare(ref_train, ref_eval, ctx.tolerance) is None:
        return _unchanged_by_training(ctx, got_train)
    problem = _transplant_problem(ctx)
    if problem:
        return problem
    if dropout:
        problem = _dropout_problem(ctx, got_train)
    else:
        mismatch = compare(got_train, ref_train, ctx.tolerance)
        problem = f"training=True output: {mismatch}" if mismatch else None
    return problem or _state_problem(ctx)


def _gradients(ctx):
    mine = ctx.mine.weights()
    if mine is None:
        return f"the layer was never built: {ctx.mine.error('eval', 'call() failed')}"
    norms = ctx.mine.array("grad_norms", kinds="f", ndim=1)
    if norms is None or len(norms) != len(mine):
        return f"no gradients: {ctx.mine.error('gradients', 'the gradient step did not run')}"
    reference = ctx.ref.weights()
    if not any(t for _, _, t in mine):
        if reference is not None and not any(t for _, _, t in reference):
            return None  # nothing to train, as in the reference (the exercise gives it no points)
        return "the layer has no trainable weights"
    moved = ctx.mine.array("influence", kinds="f", ndim=1)
    reference_norms = ctx.ref.array("grad_norms", kinds="f", ndim=1)
    for j, (name, shape, trainable) in enumerate(mine):
        if not trainable or (norms[j] > 0 and np.isfinite(norms[j])):
            continue
        if norms[j] > 0:
            return f"the gradient of {name} is not finite"
        if moved is not None and len(moved) == len(mine) and moved[j] > 0:
            continue  # zero for these inputs (a dead ReLU), but the output depends on it
        # The reference's weight at the same place, of the same size, gets none either
        # (e.g. the scale of a single codeword, whose softmax is constant).
        if (
            j < len(reference)
            and np.prod(reference[j][1]) == np.prod(shape)
            and not reference_norms[j] > 0
        ):
            continue
        if np.isnan(norms[j]):
            return f"no gradient reaches {name}"
        return f"the gradient of {name} is zero, and the output does not depend on it"
    return None


def _same_value(got, expected):
    if got == expected:
        return True
    if isinstance(expected, int) and isinstance(got, list):
        return got == [expected, expected]
    if isinstance(got, int) and isinstance(expected, list):
        return expected == [got, got]
    return False


def _config(ctx):
    text = ctx.mine.text("config_json")
    if text is None:
        return f"get_config() failed: {ctx.mine.error('clone', 'not run')}"
    try:
        config = json.loads(text)
    except ValueError:
        return "get_config() returned something JSON cannot hold"
    missing = [a for a in ctx.exercise.arguments if a not in config]
    if missing:
        return f"get_config() lacks {', '.join(missing)}"
    for key, value in ctx.config.kwargs.items():
        if not _same_value(config[key], json.loads(json.dumps(value))):
            return (
                f"get_config()[{key!r}] is {config[key]!r}, but the layer was built with {value!r}"
            )
    clone = ctx.mine.array("out_clone")
    if clone is None:
        return f"from_config(get_config()): {ctx.mine.error('clone', 'no output')}"
    mine = ctx.mine.array("out_eval")
    mismatch = (
        compare(clone, mine, ctx.tolerance) if mine is not None else "no output to compare with"
    )
    return f"the from_config(get_config()) layer differs: {mismatch}" if mismatch else None


def _compiled(ctx):
    got = ctx.mine.array("out_compiled")
    if got is None:
        return f"Model.predict failed: {ctx.mine.error('compiled', 'no output')}"
    eager = ctx.mine.array("out_eval")
    mismatch = compare(got, eager, ctx.tolerance) if eager is not None else "no eager output"
    if mismatch:
        return f"compiled predict() vs eager call: {mismatch}"
    return None


LAYER_CHECK_FUNCTIONS = {
    "constructs": _constructs,
    "output_shape": _output_shape,
    "parameters": _parameters,
    "numerics": _numerics,
    "training": _training,
    "gradients": _gradients,
    "config": _config,
    "compiled": _compiled,
}


class _Context:
    """What a layer check reads: one configuration, the reference's and the submission's arrays."""

    def __init__(self, exercise, backend, index, reference, results):
        self.exercise, self.backend, self.index = exercise, backend, index
        self.config = exercise.configs[index]
        self.tolerance = exercise.tolerances[backend]
        self.ref, self.mine = _View(reference, index), _View(results, index)


# ---------------------------------------------------------------------------
# Function checks: each returns None (passed) or the reason it failed, for one case.


class _Case:
    """What a function check reads: one case, the reference's and the submission's arrays."""

    def __init__(self, exercise, index, reference, results):
        self.exercise, self.case = exercise, exercise.cases[index]
        self.ref, self.mine = _View(reference, index), _View(results, index)

    def output(self):
        """``(got, expected)``: both outputs, ``got`` None when the call failed."""
        return self.mine.array("out"), self.ref.array("out")

    def failed_call(self):
        return f"the call failed: {self.mine.text('error') or 'no output'}"


def _pure(case):
    for j, argument in enumerate(case.exercise.arguments):
        after, original = case.mine.array(f"after{j}"), case.ref.array(f"after{j}")
        if (
            after is None
            or after.shape != original.shape
            or not np.array_equal(after, original, equal_nan=True)
        ):
            return f"{argument} was modified by the call"
    return None


def _function_output_shape(case):
    got, expected = case.output()
    if got is None:
        return case.failed_call()
    if got.shape != expected.shape or got.dtype.kind != "f":
        return (
            f"returned shape {_shape(got.shape)} {got.dtype.name}, "
            f"expected {_shape(expected.shape)} float"
        )
    return None


def _last_exit(case):
    got, _ = case.output()
    if got is None:
        return case.failed_call()
    if got.ndim == 1 and got.size and got[-1] == -np.inf:
        return None
    return "the last threshold is not -inf"


def _values(case):
    """The output equals the reference's: infinities exactly, finite values within tolerance."""
    got, expected = case.output()
    if got is None:
        return case.failed_call()
    if got.shape != expected.shape:
        return f"shape {_shape(got.shape)}, expected {_shape(expected.shape)}"
    got64 = got.astype("float64")
    infinite = np.isinf(expected)
    values = (
        f"got {np.array2string(got64, precision=4)}, "
        f"expected {np.array2string(expected, precision=4)}"
    )
    if not np.array_equal(np.where(infinite, got64, 0.0), np.where(infinite, expected, 0.0)):
        return values
    finite_got, finite_expected = np.where(infinite, 0.0, got64), np.where(infinite, 0.0, expected)
    mismatch = compare(finite_got, finite_expected, case.exercise.tolerance)
    return f"{values}: {mismatch}" if mismatch else None


FUNCTION_CHECK_FUNCTIONS = {
    "output_shape": _function_output_shape,
    "last_exit": _last_exit,
    "values": _values,
    "edge_cases": _values,
    "pure": _pure,
}
"""The per-case function checks; ``defined`` asks whether any case ran at all.

``values`` and ``edge_cases`` are the same comparison, each on the cases of
its own group.
"""


# ---------------------------------------------------------------------------
# Scoring

SELF_CHECKS = frozenset(
    {"training", "gradients", "config", "compiled", "defined", "last_exit", "pure"}
)
"""Checks that compare a submission with itself, or test a property any output can have.

They pay out for a configuration (or case) only where the comparison with the
reference passes too (``numerics`` for layers, ``values`` / ``edge_cases`` for
functions): a wrong layer whose ``get_config`` round-trips keeps no points for
that, and scores at most the share of the reference comparisons it passes.
"""
NOT_COUNTED = (
    "not counted: your output differs from the reference's (see {reference}), and this "
    "check compares your code only with itself"
)


def _test(exercise, check, backend, verdicts, prefix=""):
    """One TestResult from ``[(label, reason or None)]`` (partial credit)."""
    points = float(exercise.points[check])
    passed = sum(1 for _, reason in verdicts if reason is None)
    score = points * passed / len(verdicts) if verdicts else 0.0
    lines = [prefix] if prefix else []
    if passed == len(verdicts):
        lines.append(f"passed ({len(verdicts)} of {len(verdicts)})")
    else:
        lines.append(f"{passed} of {len(verdicts)} passed")
        reasons = [reason for _, reason in verdicts if reason is not None]
        if len(reasons) > 1 and len(set(reasons)) == 1:
            lines.append(f"- all {len(reasons)} failed: {reasons[0]}")
        else:
            lines += [f"- {label}: {reason}" for label, reason in verdicts if reason is not None]
        if not all(reason.startswith("not counted:") for reason in reasons):
            lines.append(f"hint: {exercise.hint(check)}")
    return TestResult(check, backend, round(score, 4), points, "\n".join(lines))


def all_failed(exercise, backends, reason):
    """Every check on every backend scores 0, for ``reason``.

    Args:
        exercise: a layer or function exercise.
        backends: list of str.
        reason: str. The feedback of every test.

    Returns:
        A list of :class:`~kcv.grading.report.TestResult`.
    """
    return [
        TestResult(check, backend, 0.0, float(exercise.points[check]), reason)
        for backend in backends
        for check in exercise.checks
    ]


def run_failure(exercise, run):
    """Why a run earns nothing on its backend, or None.

    Args:
        exercise: a layer or function exercise.
        run: the submission's :class:`~kcv.grading.sandbox.Run`.

    Returns:
        str or None.
    """
    where = f"on {run.backend}, the submission's process"
    if run.leftovers:
        return (
            f"{where} left {run.leftovers} process(es) running; they were killed. "
            "Submissions must not start processes."
        )
    if run.results is None:
        tail = run.output.strip()[-1500:]
        return f"{where} {run.problem}" + (f"\nits last output:\n{tail}" if tail else "")
    view = _View(run.results, 0)
    view.prefix = ""
    for key in ("import_error", "target_error"):
        if view.text(key):
            return f"{where} failed: {view.text(key)}"
    loaded = view.texts("kcv_modules")
    found = [f"it imported {', '.join(loaded[:3])}"] if loaded else []
    for index in range(len(exercise.configs) if exercise.kind == "layer" else 0):
        found += _View(run.results, index).texts("violations")
    if found:
        return (
            f"the submission uses kcv's own implementation ({'; '.join(sorted(set(found)))}): "
            "implement the exercise yourself. Scored 0."
        )
    return None


def _function_verdicts(exercise, check, reference, results):
    """``[(case name, reason or None)]`` of one function check.

    A check of :data:`SELF_CHECKS` passes a case only where the case's values
    equal the reference's (``defined``: where any case's do).
    """
    cases = [_Case(exercise, i, reference, results) for i in range(len(exercise.cases))]
    if check == "defined":
        ran = any(f"c{i}/{key}" in results for i in range(len(cases)) for key in ("out", "error"))
        reason = None if ran else "no result"
        if reason is None and all(_values(case) is not None for case in cases):
            reason = NOT_COUNTED.format(reference="values")
        return [(exercise.function_name, reason)]
    verdicts = []
    for case in cases:
        if check in ("values", "edge_cases") and case.case.group != check:
            continue
        reason = FUNCTION_CHECK_FUNCTIONS[check](case)
        if reason is None and check in SELF_CHECKS and _values(case) is not None:
            reason = NOT_COUNTED.format(reference=case.case.group)
        verdicts.append((case.case.name, reason))
    return verdicts


def _layer_verdicts(exercise, check, backend, reference, results):
    """``[(configuration, reason or None)]`` of one layer check on ``backend``.

    A check of :data:`SELF_CHECKS` passes a configuration only where
    ``numerics`` passes it too (the grading rule, ``exercises/README.md``).
    """
    verdicts = []
    for i, config in enumerate(exercise.configs):
        if check == "compiled" and not config.compiled:
            continue
        ctx = _Context(exercise, backend, i, reference, results)
        reason = _constructs(ctx)
        if reason is None:
            reason = LAYER_CHECK_FUNCTIONS[check](ctx)
            if reason is None and check in SELF_CHECKS and _numerics_problem(ctx) is not None:
                reason = NOT_COUNTED.format(reference="numerics")
        elif check != "constructs":
            reason = "not run: the layer could not be constructed"
        verdicts.append((_describe_config(exercise, config), reason))
    return verdicts


def _output_note(run):
    """A line for the first test when the submission's output was cut, else empty."""
    if run.output_bytes > len(run.output.encode()):
        return (
            f"(the submission printed {run.output_bytes:,} bytes; only the first and "
            "last few KiB are kept)"
        )
    return ""


def evaluate(exercise, backend, reference, run):
    """Scores every check of ``exercise`` on one backend.

    Args:
        exercise: a layer or function exercise.
        backend: str (``"numpy"`` for function exercises).
        reference: dict of the reference's arrays (``c{i}/...``).
        run: the submission's :class:`~kcv.grading.sandbox.Run` on ``backend``.

    Returns:
        A list of :class:`~kcv.grading.report.TestResult`, one per check.

    Example:

    >>> tests = evaluate(exercise, "jax", reference, run)  # doctest: +SKIP
    >>> [(t.name, t.score) for t in tests][:2]              # doctest: +SKIP
    [('constructs [jax]', 1.0), ('output_shape [jax]', 2.0)]
    """
    failure = run_failure(exercise, run)
    if failure:
        return all_failed(exercise, [backend], failure)
    note = _output_note(run)
    tests = []
    for check in exercise.checks:
        if exercise.kind == "function":
            verdicts = _function_verdicts(exercise, check, reference, run.results)
        else:
            verdicts = _layer_verdicts(exercise, check, backend, reference, run.results)
        if check == "compiled" and backend == "torch":
            prefix = "(Keras runs predict() eagerly on torch: torch.compile is off by default)"
        else:
            prefix = note if check == exercise.checks[0] else ""
        tests.append(_test(exercise, check, backend, verdicts, prefix))
    return tests


def public_check(exercise, target, backend_name):
    """Runs the public checks in this process; returns the TestResults.

    The reference runs here too, on the same inputs, with the initial
    weights both layers draw (the public checks compare shapes and counts,
    never values).

    Args:
        exercise: a layer or function exercise.
        target: the learner's class or function (from the notebook).
        backend_name: str. The running backend (``"numpy"`` for functions).

    Returns:
        A list of :class:`~kcv.grading.report.TestResult`, one per public check.

    Example:

    >>> from kcv.grading import exercises
    >>> from kcv.adaptive import exit_thresholds
    >>> tests = public_check(exercises.get("exit_thresholds"), exit_thresholds, "numpy")
    >>> all(t.passed for t in tests)
    True
    """
    if exercise.kind == "function":
        reference = jobs.function_reference(exercise)
        arrays = jobs.function_inputs(exercise)
        task = jobs.task_spec(exercise, "submission")
        results = probe.run_task(task, arrays, target, "submission")
    else:
        module, _, name = exercise.reference.rpartition(".")
        reference_cls = getattr(importlib.import_module(module), name)
        task = {**jobs.task_spec(exercise, "submission"), "steps": list(probe.PUBLIC_STEPS)}
        arrays = jobs.layer_inputs(exercise)
        reference = probe.run_task(task, arrays, reference_cls, "public")
        results = probe.run_task(task, arrays, target, "public")
    run = sandbox.Run(backend_name, returncode=0, results=results)
    tests = evaluate(exercise, backend_name, reference, run)
    return [t for t in tests if t.check in exercise.public_checks]
