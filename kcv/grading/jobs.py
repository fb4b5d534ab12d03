"""The jobs of an exercise: seeded inputs, specs, and the reference outputs.

A job is what a probe process receives: a JSON spec (``{"tasks": [...]}``,
what :mod:`kcv.grading.probe` reads) and arrays (the inputs; for a
submission, also the weights the reference process drew). Everything here
is a function of the exercise alone — seeds come from the exercise's and
configuration's names, and the grader's secret where it has one
(:func:`seed`) — so the reference and every submission see the same
numbers on every backend.

The reference outputs of layer exercises come from separate processes that
run only kcv — one per backend, for all the exercises missing — started by
a :class:`References` object, which keeps them for as long as it lives: one
grading run, or several that share it. Function exercises (numpy only)
compute their reference in the grader itself (:func:`function_reference`).

Example:

>>> from kcv.grading import exercises
>>> exercise = exercises.get("squeeze_excite")
>>> sorted(layer_inputs(exercise))[:2]
['c0/x', 'c1/x']
>>> references = References()
>>> outputs = references.layers([exercise], "jax")  # doctest: +SKIP
>>> spec, arrays = submission_job(exercise, outputs["squeeze_excite"])  # doctest: +SKIP
"""

import hashlib
import hmac
import importlib
import os
import shutil
import tempfile
import weakref
import zlib

import numpy as np

from kcv.grading import probe
from kcv.grading import sandbox


class GradingError(RuntimeError):
    """The grader itself failed (e.g. a reference process): not the learner's fault."""


SECRET_VARIABLE = "KCV_GRADING_SECRET"


def seed(*names):
    """A 32-bit seed from names (``seed("aspp", "rates")``), the same in every process.

    Without a secret the seeds are public — anyone can compute the inputs,
    the initial weights and so the expected outputs offline. A grader sets
    ``KCV_GRADING_SECRET`` (any string, e.g. a fresh random one per grading
    run, as ``exercises/gradescope/run_autograder`` does): the seeds become
    an HMAC-SHA256 of the names under it. The secret stays in the grader;
    grading processes get a clean environment and, in the jail
    (:mod:`kcv.grading.jail`), cannot see the grader's.

    Example:

    >>> seed("aspp", "rates") == seed("aspp", "rates")
    True
    """
    message = "/".join(names).encode()
    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        return zlib.crc32(message)
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big")


def layer_inputs(exercise):
    """The seeded inputs of a layer exercise's configurations: ``{"c{i}/x": array}``.

    Args:
        exercise: a :class:`~kcv.grading.exercises.LayerExercise`.

    Returns:
        dict of float32 arrays.
    """
    arrays = {}
    for i, config in enumerate(exercise.configs):
        rng = np.random.default_rng(seed(exercise.name, config.name))
        arrays[f"c{i}/x"] = rng.standard_normal(config.input_shape).astype("float32")
    return arrays


def function_inputs(exercise):
    """The seeded arguments of a function exercise's cases: ``{"c{i}/a{j}": array}``.

    Args:
        exercise: a :class:`~kcv.grading.exercises.FunctionExercise`.

    Returns:
        dict of float64 arrays.
    """
    arrays = {}
    for i, case in enumerate(exercise.cases):
        rng = np.random.default_rng(seed(exercise.name, case.name))
        for j, value in enumerate(case.make(rng)):
            arrays[f"c{i}/a{j}"] = np.asarray(value, dtype="float64")
    return arrays


def task_spec(exercise, mode):
    """The JSON part of a job for one exercise (what :mod:`~kcv.grading.probe` reads).

    Args:
        exercise: a layer or function exercise.
        mode: ``"submission"`` or ``"reference"`` (which also names the
            reference class to import).

    Returns:
        dict: ``kind``, ``name`` and the ``configs`` (layers) or ``cases``.
    """
    if exercise.kind == "function":
        return {
            "kind": "function",
            "name": exercise.function_name,
            "cases": [{"name": c.name, "nargs": len(exercise.arguments)} for c in exercise.cases],
        }
    task = {
        "kind": "layer",
        "name": exercise.class_name,
        "configs": [
            {
                "name": c.name,
                "kwargs": c.kwargs,
                "symbolic_shape": list(c.symbolic_shape),
                "compiled": c.compiled,
                "dropout_argument": c.dropout_argument,
                "seed": seed(exercise.name, c.name) % (2**31),
            }
            for c in exercise.configs
        ],
    }
    if mode == "reference":
        task["reference"] = exercise.reference
    return task


def prefixed(arrays, prefix):
    """``arrays`` with ``prefix`` before every key."""
    return {prefix + key: value for key, value in arrays.items()}


def unprefixed(arrays, prefix):
    """The entries of ``arrays`` whose key starts with ``prefix``, without it."""
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def reference_job(exercise_list):
    """The job of one reference process: every exercise of the list, task ``t{k}``.

    Returns:
        ``(spec, arrays)``.
    """
    spec = {"tasks": [task_spec(e, "reference") for e in exercise_list]}
    arrays = {}
    for k, exercise in enumerate(exercise_list):
        arrays.update(prefixed(layer_inputs(exercise), f"t{k}/"))
    return spec, arrays


def submission_job(exercise, reference):
    """The job of one submission process: inputs and, for a layer, the reference's weights.

    Args:
        exercise: a layer or function exercise.
        reference: dict. The reference's results on the backend the job runs
            on (``c{i}/w{j}``: the weights it drew).

    Returns:
        ``(spec, arrays)``, the arrays under the task prefix ``t0/``.
    """
    if exercise.kind == "function":
        arrays = function_inputs(exercise)
    else:
        arrays = layer_inputs(exercise)
        for i in range(len(exercise.configs)):
            j = 0
            while f"c{i}/w{j}" in reference:
                arrays[f"c{i}/w{j}"] = reference[f"c{i}/w{j}"]
                j += 1
    return {"tasks": [task_spec(exercise, "submission")]}, prefixed(arrays, "t0/")


def submission_results(results):
    """A submission process's results as the checks read them (``c{i}/...``).

    Args:
        results: dict of arrays from the process, or None.

    Returns:
        The task's results without their prefix, plus ``import_error`` when
        the submission failed to import; None for None.
    """
    if results is None:
        return None
    whole = {k: v for k, v in results.items() if k == "import_error"}
    return {**unprefixed(results, "t0/"), **whole}


def function_reference(exercise):
    """The reference results of a function exercise, computed in this process.

    Args:
        exercise: a :class:`~kcv.grading.exercises.FunctionExercise`.

    Returns:
        ``{"c{i}/...": array}``.

    Raises:
        GradingError: when the reference fails on one of the cases.
    """
    module, _, name = exercise.reference.rpartition(".")
    function = getattr(importlib.import_module(module), name)
    arrays = function_inputs(exercise)
    results = {}
    for i in range(len(exercise.cases)):
        args = [arrays[f"c{i}/a{j}"] for j in range(len(exercise.arguments))]
        for key, value in probe.probe_function(function, args).items():
            results[f"c{i}/{key}"] = value
    if any(key.endswith("/error") for key in results):
        raise GradingError(f"the reference {exercise.reference} failed: {results}")
    return results


class References:
    """The reference outputs of one grading run (or of several that share this object).

    Computed on first request and kept by this object only: two graders
    with their own ``References`` share nothing. The runner asks for every
    reference before any submission runs, so a submission cannot tamper with
    the kcv sources they are computed from.

    Args:
        limits: :class:`~kcv.grading.sandbox.Limits` (``reference_timeout``
            applies to the reference processes).

    Example:

    >>> from kcv.grading import exercises
    >>> references = References()
    >>> outputs = references.function(exercises.get("exit_thresholds"))
    >>> "c0/out" in outputs
    True
    """

    def __init__(self, limits=None):
        self.limits = limits if limits is not None else sandbox.Limits()
        self._outputs = {}
        self._cache = None

    @property
    def cache(self):
        """The directory of JAX programs the reference processes compiled (made on first use).

        Submissions read it (:func:`kcv.grading.sandbox.compilation_cache`);
        it is removed when this object is.
        """
        if self._cache is None:
            self._cache = tempfile.mkdtemp(prefix="kcv-grading-cache-")
            weakref.finalize(self, shutil.rmtree, self._cache, ignore_errors=True)
        return self._cache

    def layers(self, exercise_list, backend):
        """Reference results of layer exercises on ``backend``, from one clean process.

        Args:
            exercise_list: iterable of :class:`~kcv.grading.exercises.LayerExercise`.
            backend: str.

        Returns:
            ``{exercise name: {"c{i}/...": array}}``.

        Raises:
            GradingError: when the reference process fails.
        """
        exercise_list = list(exercise_list)
        missing = [e for e in exercise_list if (e.name, backend) not in self._outputs]
        if missing:
            self._outputs.update(_reference_process(missing, backend, self.limits, self.cache))
        return {e.name: self._outputs[(e.name, backend)] for e in exercise_list}

    def function(self, exercise):
        """The reference results of a function exercise (see :func:`function_reference`)."""
        if (exercise.name, "numpy") not in self._outputs:
            self._outputs[(exercise.name, "numpy")] = function_reference(exercise)
        return self._outputs[(exercise.name, "numpy")]

    def of(self, exercise, backend):
        """What is already known of ``exercise`` on ``backend`` (``numpy`` for functions)."""
        return self._outputs[(exercise.name, "numpy" if exercise.kind == "function" else backend)]


def _reference_process(exercise_list, backend, limits, cache):
    """Runs the references of ``exercise_list`` in one process: ``{(name, backend): results}``."""
    spec, arrays = reference_job(exercise_list)
    run = sandbox.run_process("reference", "layer", backend, spec, arrays, limits, cache=cache)
    if run.results is None:
        raise GradingError(
            f"the reference process on {backend} failed: {run.problem}\n{run.output[-4000:]}"
        )
    found = {}
    for k, exercise in enumerate(exercise_list):
        results = unprefixed(run.results, f"t{k}/")
        errors = {key: str(v) for key, v in results.items() if "error" in key}
        if errors:
            raise GradingError(f"the reference {exercise.reference} failed on {backend}: {errors}")
        found[(exercise.name, backend)] = results
    return found
