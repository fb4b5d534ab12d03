"""What runs inside a grading process: build the layer (or call the function), return arrays.

The grader starts this file as a script, in a fresh interpreter per backend
(``python -I probe.py --mode submission ...``), and never imports the kcv
package into it: the submission cannot reach the reference implementations
through ``sys.modules``, and an ``import kcv`` in it fails with a message.
Run as a script, the process

1. imports numpy (and Keras with its backend, for layer exercises);
2. reads the submission's code from stdin (8-byte length, then UTF-8) and
   executes it as the module ``submission`` (``--mode submission``; it never
   touches the disk), or imports kcv (``--mode reference``, a clean process);
3. reads the job from the rest of stdin — a ``.npz`` holding a JSON ``spec``
   and the input arrays (inputs and, for a submission, the weights the
   reference process drew) — *after* the submission is imported;
4. runs each configuration through the steps below, catching everything the
   code under test raises (``sys.exit`` included);
5. writes the results — plain numeric and string arrays, one ``.npz`` — to
   the pipe whose descriptor ``--results-fd`` names, and ends with
   ``os._exit``.

The verdicts are not computed here: the parent loads the arrays with
``allow_pickle=False``, validates them and compares them with the reference
process's. Everything this process reports may have been forged by the
submission; only numbers that match the reference for random weights and
inputs earn the numeric checks.

Layer steps (``STEPS``), per configuration: ``construct``, ``eval`` (the
call with ``training=False`` builds the layer), weights (names, shapes,
trainable flags; then the reference's weights are transplanted in creation
order, or, in reference mode, seeded random weights are drawn), ``compiled``
(``Model.predict``), ``clone`` (``get_config`` / ``from_config``),
``symbolic`` (a fresh layer on a ``keras.Input`` with unknown sizes),
``train`` (``training=True``, then the non-trainable state) and
``gradients`` (norms per weight, from :func:`kcv.backend.value_and_gradients`).
Each step is a function of its own (``_call``, ``_predict``, ``_symbolic_shape``,
...) that takes what it needs and returns its result; :func:`probe_layer`
runs them in order and collects the arrays.

Randomness: in a grading process each configuration starts with
``keras.utils.set_random_seed(seed)`` (the job's seed of that
configuration), so the initial weights and the dropout masks Keras draws are
the same in every run; the weights that reach a verdict are the reference's,
drawn with numpy from the same seed. Nothing of Keras is replaced.

The same functions run in-process, on trusted classes, for the public checks
of a notebook (:func:`kcv.grading.check`).
"""

import argparse
import importlib
import importlib.machinery
import importlib.util
import io
import json
import linecache
import math
import os
import resource
import sys
import traceback
import types

import numpy as np

STEPS = ("construct", "eval", "compiled", "clone", "symbolic", "train", "gradients")
PUBLIC_STEPS = ("construct", "eval", "symbolic")
MAX_MESSAGE = 2000
MAX_RANK = 8
INFLUENCE_POINTS = 8
SUBMISSION_MODULE = "submission"
SUBMISSION_FILE = "<submission>"


class _Refuse:
    """A ``sys.meta_path`` finder (and loader) that refuses to import some packages.

    In a submission it refuses kcv. On the JAX and torch backends it also
    refuses TensorFlow, which Keras would otherwise import (seconds of CPU)
    merely to ask whether it is installed, e.g. in ``get_config()``. The
    module is "found" without an origin (``importlib.util.find_spec`` callers
    such as torch's dynamo expect no exception) and fails to load.
    """

    def __init__(self, packages, reason):
        self.packages, self.reason = tuple(packages), reason

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.packages:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ImportError(f"`import {spec.name}`: {self.reason}")

    def exec_module(self, module):
        raise ImportError(f"`import {module.__name__}`: {self.reason}")


def describe(error, filename=None):
    """One line for an exception: type, message and the submission's line.

    Args:
        error: the exception (``SystemExit`` included).
        filename: str or None. The submission's file; the innermost frame in it
            is named.

    Returns:
        A string of at most ``MAX_MESSAGE`` characters.
    """
    if isinstance(error, SystemExit):
        text = f"called sys.exit({error.code!r})"
    else:
        try:
            detail = str(error)
        except Exception:  # a hostile __str__
            detail = ""
        text = type(error).__name__ + (f": {detail}" if detail else "")
        if isinstance(error, MemoryError):
            limit = resource.getrlimit(resource.RLIMIT_DATA)[0]
            if limit != resource.RLIM_INFINITY:
                text += f" (a grading process may allocate at most {limit >> 20} MiB)"
    if filename:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
        if frames:
            text += f" (submission line {frames[-1].lineno}: {(frames[-1].line or '').strip()})"
    return text[:MAX_MESSAGE]


def _text(value):
    return np.array(str(value)[: 20 * MAX_MESSAGE])


def _tuples(value):
    """JSON lists back to tuples (``rates=[2, 3]`` -> ``(2, 3)``), recursively."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _numeric(value, what):
    """A plain numeric ndarray from what the code under test returned."""
    if isinstance(value, (list, tuple, dict)):
        raise TypeError(f"{what} returned a {type(value).__name__}; expected one tensor")
    import keras

    try:
        array = np.asarray(keras.ops.convert_to_numpy(value))
    except Exception as error:
        raise TypeError(
            f"{what} returned a {type(value).__name__}, not a numeric tensor ({describe(error)})"
        ) from None
    if type(array) is not np.ndarray or array.dtype.kind not in "fiub":
        raise TypeError(f"{what} returned a {type(value).__name__}, not a numeric tensor")
    return np.array(array, copy=True)


def _shape_rows(shapes):
    """Shapes as rows of ints: -1 for an unknown size, padded with -2."""
    rows = np.full((len(shapes), MAX_RANK), -2, dtype="int64")
    for i, shape in enumerate(shapes):
        rows[i, : len(shape)] = [-1 if d is None else int(d) for d in shape][:MAX_RANK]
    return rows


def _strip(shape):
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def transplant(layer, values):
    """Assigns ``values`` to ``layer.weights`` in order; shapes must match.

    A value may differ from its weight by leading unit axes only (a Dense
    kernel ``(C, K)`` fits a 1x1 convolution's ``(1, 1, C, K)``).

    Raises:
        ValueError: on a count or shape mismatch (nothing is assigned then).
    """
    weights = layer.weights
    if len(weights) != len(values):
        raise ValueError(f"the layer has {len(weights)} weights, the reference {len(values)}")
    fitted = []
    for j, (weight, value) in enumerate(zip(weights, values)):
        shape = tuple(weight.shape)
        if shape != value.shape:
            if _strip(shape) != _strip(value.shape):
                raise ValueError(
                    f"weight {j} ({weight.path}) has shape {shape}, the reference's {value.shape}"
                )
            value = value.reshape(shape)
        fitted.append(value)
    for weight, value in zip(weights, fitted):
        weight.assign(value.astype(weight.dtype))


def _module_of(obj):
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else ""


def _sublayers(layer, limit=100_000):
    """The layers ``layer`` holds, at any depth, through attributes, lists, tuples, dicts, sets.

    Walks the objects' ``vars()`` — what Keras tracks, it tracks there — and
    stops after ``limit`` values, so a huge container costs little.
    """
    import keras

    found, seen, stack, budget = [], {id(layer)}, [layer], limit
    while stack and budget > 0:
        holder = stack.pop()
        if isinstance(holder, keras.layers.Layer):
            values = list(vars(holder).values())
        elif isinstance(holder, dict):
            values = list(holder.values())
        else:
            values = list(holder)
        budget -= len(values)
        for value in values:
            if id(value) in seen:
                continue
            if isinstance(value, keras.layers.Layer):
                found.append(value)
            elif not isinstance(value, (list, tuple, dict, set, frozenset)):
                continue
            seen.add(id(value))
            stack.append(value)
    return found


def kcv_classes_used(cls, layer):
    """Names the kcv classes ``cls`` derives from and ``layer`` holds as sublayers.

    A submission cannot import kcv, so any kcv class here means it got around
    that; the parent scores such a submission 0.

    Args:
        cls: the class under test.
        layer: an instance of it (built or not).

    Returns:
        list of str, one per kcv class found.
    """
    found = []
    for klass in getattr(cls, "__mro__", ()):
        if _module_of(klass).split(".")[0] == "kcv":
            found.append(
                f"{cls.__name__} is or derives from {_module_of(klass)}.{klass.__qualname__}"
            )
    for sub in _sublayers(layer):
        if _module_of(type(sub)).split(".")[0] == "kcv":
            found.append(f"it holds a {_module_of(type(sub))}.{type(sub).__qualname__} sublayer")
    return found


# ---------------------------------------------------------------------------
# Layer steps: each takes what it needs and returns its result (or raises).


def _step(name, steps, filename, function, *args):
    """Runs one step of ``steps``: ``(value, {})``, or ``(None, {"error_<name>": why})``.

    A step not in ``steps`` is skipped: ``(None, {})``. Everything the code
    under test raises is caught, ``sys.exit`` included.
    """
    if name not in steps:
        return None, {}
    try:
        return function(*args), {}
    except (Exception, SystemExit) as error:
        return None, {f"error_{name}": _text(describe(error, filename))}


def _construct(cls, kwargs):
    return cls(**kwargs)


def _call(layer, x, training):
    return _numeric(layer(x, training=training), "call()")


def _weight_description(listed):
    """Names, shapes and trainable flags of the weights, in creation order."""
    return {
        "weight_names": np.array([str(w.path) for w in listed], dtype=str),
        "weight_shapes": _shape_rows([tuple(w.shape) for w in listed]),
        "weight_trainable": np.array([bool(w.trainable) for w in listed], dtype=bool),
    }


def _set_weights(layer, listed, seed, randomize, weights, filename):
    """Draws the reference's weights (``w{j}``) or transplants the given ones.

    Returns:
        dict: ``w{j}`` (drawn), or ``transplanted`` and maybe ``error_transplant``;
        empty when there is neither ``randomize`` nor ``weights``.
    """
    if randomize is not None:
        randomize(layer, seed)
        return {f"w{j}": np.array(w.numpy()) for j, w in enumerate(listed)}
    if weights is None:
        return {}
    try:
        transplant(layer, weights)
        return {"transplanted": np.array(True)}
    except (Exception, SystemExit) as error:
        return {
            "transplanted": np.array(False),
            "error_transplant": _text(describe(error, filename)),
        }


def _predict(layer, x):
    """The layer in a functional model, through the compiled ``Model.predict``."""
    import keras

    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    return _numeric(model.predict(x, batch_size=x.shape[0], verbose=0), "predict()")


def _config_of(layer):
    """``(get_config(), its JSON text)``; raises when it is not a dict."""
    config = layer.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"get_config() returned a {type(config).__name__}, not a dict")
    return config, _text(json.dumps(config, default=repr, sort_keys=True))


def _rebuilt_output(layer, config, x, values):
    """The output of ``from_config(config)``, built, with ``values`` as its weights."""
    rebuilt = type(layer).from_config(config)
    rebuilt(x, training=False)
    transplant(rebuilt, values)
    return _numeric(rebuilt(x, training=False), "call() of the from_config() layer")


def _symbolic_shape(cls, kwargs, batch_shape):
    """The output shape of a fresh layer on ``keras.Input(batch_shape=...)``, as a row."""
    import keras

    fresh = cls(**kwargs)
    result = fresh(keras.Input(batch_shape=tuple(batch_shape)))
    if not hasattr(result, "shape") or isinstance(result, (list, tuple)):
        raise TypeError(f"the symbolic call returned a {type(result).__name__}")
    return _shape_rows([tuple(result.shape)])[0]


def _output_without_dropout(reference_cls, kwargs, dropout, x, values):
    """The reference's ``training=True`` output with its dropout rate set to 0."""
    plain = reference_cls(**{**kwargs, dropout: 0.0})
    plain(x, training=False)
    transplant(plain, values)
    return _numeric(plain(x, training=True), "call()")


def _states(listed):
    """The non-trainable weights (``state{j}``), e.g. after a ``training=True`` call."""
    return {f"state{j}": np.array(w.numpy()) for j, w in enumerate(listed) if not w.trainable}


def _gradient_norms(layer, listed, x, first, seed, gradients):
    """Norms of the gradient of ``mean((y - t)²)`` per weight (0 for non-trainable ones).

    ``t`` is drawn from ``seed + 1`` with the shape of ``first``, the first output.
    """
    import keras

    if first is None:
        raise RuntimeError("needs a working call()")
    target = np.random.default_rng(seed + 1).standard_normal(first.shape).astype("float32")

    def loss(t, y):
        difference = keras.ops.cast(y, "float32") - keras.ops.convert_to_tensor(t)
        return keras.ops.mean(keras.ops.square(difference))

    _, grads = gradients(layer, x, target, loss, jit=True)
    by_id = {id(v): g for v, g in zip(layer.trainable_variables, grads)}
    norms = np.zeros(len(listed))
    for j, w in enumerate(listed):
        if w.trainable:
            g = by_id.get(id(w))
            norms[j] = math.nan if g is None else float(np.linalg.norm(np.asarray(g, "float64")))
    return norms


def _influence(layer, listed, x, norms, seed):
    """How much the output moves when a weight without gradient is redrawn.

    A zero gradient may come from ReLUs that are dead for these weights and
    inputs (the output still depends on the weight elsewhere) or from a
    weight the output ignores. At each of ``INFLUENCE_POINTS`` random points of
    weight space (every trainable weight redrawn, from ``seed + 2``), the
    weight is redrawn once more; the largest change of the output is reported.
    """
    rng = np.random.default_rng(seed + 2)
    trainable = [j for j, w in enumerate(listed) if w.trainable]
    saved = {j: np.array(listed[j].numpy()) for j in trainable}
    silent = [j for j in trainable if not norms[j] > 0]
    moved = np.full(len(listed), math.nan)
    moved[silent] = 0.0
    try:
        for _ in range(INFLUENCE_POINTS if silent else 0):
            for j in trainable:
                listed[j].assign(rng.standard_normal(saved[j].shape).astype(saved[j].dtype))
            base = _call(layer, x, False)
            for j in silent:
                point = np.array(listed[j].numpy())
                listed[j].assign(rng.standard_normal(point.shape).astype(point.dtype))
                change = _call(layer, x, False) - base
                moved[j] = max(moved[j], float(np.max(np.abs(change), initial=0.0)))
                listed[j].assign(point)
    finally:
        for j in trainable:
            listed[j].assign(saved[j])
    return moved


def _clone_results(layer, x, values, steps, filename):
    """The ``clone`` step: ``config_json`` and ``out_clone``, or the error."""
    found, errors = _step("clone", steps, filename, _config_of, layer)
    if found is None:
        return errors
    config, text = found
    output, errors = _step("clone", steps, filename, _rebuilt_output, layer, config, x, values)
    return {"config_json": text, "out_clone": output, **errors}


def _gradient_results(layer, listed, x, first, seed, gradients, steps, filename):
    """The ``gradients`` step: ``grad_norms`` and ``influence``, or the error."""
    norms, errors = _step(
        "gradients", steps, filename, _gradient_norms, layer, listed, x, first, seed, gradients
    )
    if norms is None:
        return errors
    moved, errors = _step("gradients", steps, filename, _influence, layer, listed, x, norms, seed)
    return {"grad_norms": norms, "influence": moved, **errors}


def probe_layer(
    cls,
    config,
    arrays,
    steps=STEPS,
    weights=None,
    randomize=None,
    gradients=None,
    reference_cls=None,
    filename=None,
    check_origin=False,
    seeded=True,
):
    """Runs one configuration of a layer class; returns ``{name: array}``.

    With ``seeded``, Keras' random draws (initial weights, dropout masks)
    follow ``keras.utils.set_random_seed(config["seed"])``, called first, so
    a run is the same every time. No verdict depends on initial weights: the
    reference's are redrawn by ``randomize`` (numpy, seeded) and a
    submission's layer receives them.

    Args:
        cls: the class under test.
        config: dict from the job spec: ``kwargs``, ``symbolic_shape``,
            ``compiled``, ``dropout_argument``, ``seed``.
        arrays: dict with ``x``, the input. The gradients are those of
            ``mean((y - t)²)`` with ``t`` drawn from ``seed + 1``.
        steps: the steps to run (see the module docstring).
        weights: list of arrays to transplant, or None.
        randomize: ``randomize(layer, seed)`` drawing reference weights, or None.
        gradients: ``kcv.backend.value_and_gradients`` (needed for "gradients").
        reference_cls: in reference mode with a dropout argument, the class that
            computes ``out_train_nodrop``.
        filename: the submission's file, for error messages.
        check_origin: bool. Report kcv classes the layer derives from or holds
            (``violations``); set for submissions.
        seeded: bool. Seed Keras, numpy and Python's global random state from
            ``config["seed"]`` first. Set in grading processes; off for the
            in-process public checks, which leave a learner's session alone.

    Returns:
        A dict of arrays; a failed step leaves ``error_<step>`` and, where a
        later step needs its result, skips it.

    Example:

    >>> config = {"kwargs": {"units": 2}, "seed": 0, "symbolic_shape": [None, 3]}
    >>> out = probe_layer(keras.layers.Dense, config, {"x": np.ones((1, 3), "float32")},
    ...                   steps=PUBLIC_STEPS)  # doctest: +SKIP
    >>> out["out_eval"].shape  # doctest: +SKIP
    (1, 2)
    """
    import keras

    if seeded:
        keras.utils.set_random_seed(config["seed"])
    kwargs, x, seed = _tuples(config["kwargs"]), arrays["x"], config["seed"]
    layer, out = _step("construct", steps, filename, _construct, cls, kwargs)
    if layer is None:
        return out
    out["constructed"] = np.array(True)
    first, errors = _step("eval", steps, filename, _call, layer, x, False)
    out.update(errors)
    if check_origin:
        out["violations"] = np.array(kcv_classes_used(cls, layer), dtype=str)
    if not layer.built:
        return out
    listed = list(layer.weights)
    out.update(_weight_description(listed))
    out.update(_set_weights(layer, listed, seed, randomize, weights, filename))
    initial = [np.array(w.numpy()) for w in listed]
    if first is not None:
        output, errors = _step("eval", steps, filename, _call, layer, x, False)
        out.update({"out_eval": output, **errors})
        if output is not None:
            out["out_dtype"] = np.array(output.dtype.name)
    if config.get("compiled"):
        output, errors = _step("compiled", steps, filename, _predict, layer, x)
        out.update({"out_compiled": output, **errors})
    out.update(_clone_results(layer, x, initial, steps, filename))
    symbolic = config["symbolic_shape"]
    shape, errors = _step("symbolic", steps, filename, _symbolic_shape, cls, kwargs, symbolic)
    out.update({"symbolic_shape": shape, **errors})
    dropout = config.get("dropout_argument")
    if reference_cls is not None and dropout and "train" in steps:
        out["out_train_nodrop"] = _output_without_dropout(
            reference_cls, kwargs, dropout, x, initial
        )
    output, errors = _step("train", steps, filename, _call, layer, x, True)
    out.update({"out_train": output, **errors})
    if "train" in steps:
        out.update(_states(listed))
    out.update(_gradient_results(layer, listed, x, first, seed, gradients, steps, filename))
    return {k: v for k, v in out.items() if v is not None}


def probe_function(function, case_arrays, filename=None):
    """Calls ``function`` on copies of ``case_arrays``; returns ``{name: array}``.

    The result is ``out`` (numeric array) or ``error``; ``after{j}`` holds
    argument ``j`` after the call, to check the function left it unchanged.
    """
    copies = [np.array(a, copy=True) for a in case_arrays]
    out = {}
    try:
        result = np.asarray(function(*copies))
        if type(result) is not np.ndarray or result.dtype.kind not in "fiub":
            raise TypeError(
                f"returned {type(result).__name__} of dtype {result.dtype}, not numbers"
            )
        out["out"] = np.array(result, copy=True)
    except (Exception, SystemExit) as error:
        out["error"] = _text(describe(error, filename))
    for j, a in enumerate(copies):
        if isinstance(a, np.ndarray) and a.dtype.kind in "fiub":
            out[f"after{j}"] = np.array(a, copy=True)
    return out


def run_task(task, arrays, target, mode, gradients=None, filename=None):
    """Runs one exercise's configurations on ``target`` (a class or function).

    Args:
        task: dict from the job spec (``kind``, ``configs`` or ``cases``).
        arrays: the job's arrays for this task, keys ``c{i}/...``.
        target: the class or function under test, or an error string.
        mode: ``"submission"`` (transplant the job's weights), ``"reference"``
            (draw seeded random weights) or ``"public"`` (in-process public
            checks: neither).
        gradients: ``value_and_gradients`` for layer tasks.
        filename: the submission's file, for error messages.

    Returns:
        A dict of result arrays, keys ``c{i}/...`` (or ``target_error``).
    """
    if isinstance(target, str):
        return {"target_error": _text(target)}
    results = {}
    if task["kind"] == "function":
        for i, case in enumerate(task["cases"]):
            args = [arrays[f"c{i}/a{j}"] for j in range(case["nargs"])]
            for key, value in probe_function(target, args, filename).items():
                results[f"c{i}/{key}"] = value
        return results
    randomize = None
    if mode == "reference":
        from kcv.testing import randomize_weights as randomize
    for i, config in enumerate(task["configs"]):
        local = {
            key.split("/", 1)[1]: value for key, value in arrays.items() if key.startswith(f"c{i}/")
        }
        weights = None
        if mode == "submission":
            count = sum(1 for key in local if key.startswith("w"))
            weights = [local[f"w{j}"] for j in range(count)]
        probed = probe_layer(
            target,
            config,
            local,
            steps=tuple(task.get("steps", STEPS)),
            weights=weights,
            randomize=randomize,
            gradients=gradients,
            reference_cls=target if mode == "reference" else None,
            filename=filename,
            check_origin=mode == "submission",
            seeded=mode != "public",
        )
        for key, value in probed.items():
            results[f"c{i}/{key}"] = value
    return results


def resolve(module, task):
    """The class or function ``task`` names in ``module``, or an error string."""
    name = task["name"]
    found = getattr(module, name, None) if module is not None else None
    if found is None:
        defined = (
            sorted(k for k, v in vars(module).items() if isinstance(v, type)) if module else []
        )
        listed = f" (it defines {', '.join(defined)})" if defined else ""
        return f"the submission defines no `{name}`{listed}"
    if task["kind"] == "function":
        return found if callable(found) else f"`{name}` is a {type(found).__name__}, not a function"
    import keras

    if not isinstance(found, type) or not issubclass(found, keras.layers.Layer):
        return f"`{name}` must be a class deriving from keras.layers.Layer"
    return found


def _import_reference(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _load_backend_module(kcv_root):
    """kcv/backend.py as a standalone module, without importing the kcv package."""
    spec = importlib.util.spec_from_file_location(
        "_kcv_grading_backend", os.path.join(kcv_root, "kcv", "backend.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import_submission(source):
    """Executes the submission as module ``submission``; returns (module, error)."""
    module = types.ModuleType(SUBMISSION_MODULE)
    module.__file__ = SUBMISSION_FILE
    sys.modules[SUBMISSION_MODULE] = module
    lines = source.splitlines(keepends=True)
    linecache.cache[SUBMISSION_FILE] = (len(source), None, lines, SUBMISSION_FILE)
    try:
        exec(compile(source, SUBMISSION_FILE, "exec"), module.__dict__)
    except (Exception, SystemExit) as error:
        return module, f"while importing the submission: {describe(error, SUBMISSION_FILE)}"
    return module, None


def _read_exactly(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _run_job(data, mode, module, gradients, filename):
    """Runs every task of the job ``data`` (the ``.npz`` read from stdin); results ``t{k}/...``."""
    job = np.load(io.BytesIO(data), allow_pickle=False)
    spec = json.loads(str(job["spec"]))
    arrays = {key: job[key] for key in job.files if key != "spec"}
    results = {}
    for k, task in enumerate(spec["tasks"]):
        prefix = f"t{k}/"
        if mode == "reference":
            target = _import_reference(task["reference"])
        else:
            target = resolve(module, task)
        local = {key[len(prefix) :]: v for key, v in arrays.items() if key.startswith(prefix)}
        for key, value in run_task(task, local, target, mode, gradients, filename).items():
            results[prefix + key] = value
        if mode == "submission":
            # kcv is refused at import: if it is loaded, the submission got around that.
            loaded = sorted(m for m in sys.modules if m.split(".")[0] == "kcv")
            results[prefix + "kcv_modules"] = np.array(loaded[:20], dtype=str)
    return results


def _import_keras(backend):
    """Imports Keras (its backend starts before the submission runs), skipping what grading never uses.

    Off the TensorFlow backend TensorFlow stays refused for the whole process
    (see :class:`_Refuse`). While Keras itself is imported, matplotlib (which
    Keras' image-plotting utilities import, 0.4 to 0.5 s of CPU with its font
    list) and, off the JAX backend, JAX (which Keras' Orbax callback imports,
    about 0.5 s) are refused too: Keras imports both inside ``try`` and does
    without them, and a grading process draws nothing and checkpoints nothing.
    Afterwards a submission may import either as usual.

    Args:
        backend: str. The ``KERAS_BACKEND`` of this process.
    """
    if backend != "tensorflow":
        sys.meta_path.insert(0, _Refuse(["tensorflow"], "TensorFlow is not the backend here"))
    unused = ["matplotlib"] + ([] if backend == "jax" else ["jax"])
    during_import = _Refuse(unused, "not imported with Keras in a grading process")
    sys.meta_path.insert(0, during_import)
    try:
        import keras  # noqa: F401
    finally:
        sys.meta_path.remove(during_import)


def main(argv=None):
    """The script entry point (see the module docstring)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("submission", "reference"), required=True)
    parser.add_argument("--kind", choices=("layer", "function"), required=True)
    parser.add_argument("--results-fd", type=int, required=True)
    parser.add_argument("--kcv-root", required=True)
    args = parser.parse_args(argv)

    gradients = None
    if args.kind == "layer":
        _import_keras(os.environ.get("KERAS_BACKEND", "tensorflow"))
        gradients = _load_backend_module(args.kcv_root).value_and_gradients
    module, import_error, filename = None, None, None
    source = _read_exactly(0, int.from_bytes(_read_exactly(0, 8), "big")).decode("utf-8")
    if args.mode == "submission":
        sys.meta_path.insert(
            0,
            _Refuse(
                ["kcv"],
                "kcv (the reference implementations) is not available to submissions; "
                "implement the exercise with keras, keras.ops and numpy.",
            ),
        )
        filename = SUBMISSION_FILE
        module, import_error = _import_submission(source)
    else:
        sys.path.insert(0, args.kcv_root)
    if import_error:
        results = {"import_error": _text(import_error)}
    else:
        results = _run_job(_read_all(0), args.mode, module, gradients, filename)
    buffer = io.BytesIO()
    np.savez(buffer, **results)
    _write_all(args.results_fd, buffer.getvalue())
    os.close(args.results_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
