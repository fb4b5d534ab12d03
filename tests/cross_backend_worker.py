"""Worker for test_cross_backend.py; runs under one backend per process.

KERAS_BACKEND=jax python tests/cross_backend_worker.py save DIR
    builds every catalogue model with seeded random weights (no Keras
    initializer runs: see _randomly_weighted) and writes
    DIR/jax/<case>.keras, <case>.inputs.npz and <case>.outputs.npz.
KERAS_BACKEND=torch python tests/cross_backend_worker.py load DIR
    loads every other backend's files and prints one JSON line per case:
    {"source", "target", "case", "error": max abs difference or null,
     "scale": 1 + max |saved output|, "message": why it failed or ""}.
"""

import json
import os
import sys

import keras
import numpy as np

from kcv import backend
from kcv import catalogue
from kcv import testing


def _arrays(npz):
    """The arrays of an ``np.savez`` file, in the order they were given."""
    with np.load(npz) as saved:
        return [saved[k] for k in sorted(saved.files, key=lambda k: int(k.split("_")[1]))]


def _outputs(model, x):
    """The model's inference outputs as numpy arrays (on JAX compiled: see kcv.testing)."""
    return [np.asarray(keras.ops.convert_to_numpy(y)) for y in testing._inference(model, x)]


def _randomly_weighted(case):
    """The case's model with seeded random weights; on JAX, without Keras' initializers.

    The weights are replaced anyway, and on JAX the initializers cost a
    compiled random program per weight shape (GoogLeNet with its auxiliary
    classifiers: about 50 s against 0.2 s), so there the model is built in a
    stateless scope and every variable assigned. TensorFlow cannot assign a
    variable that was never initialized; its initializers cost little. The
    variables stay on Keras' list of variables created in a stateless scope,
    which the next scope that initializes variables would try to initialize
    again; nothing in this process opens one after the models are built.
    """
    if backend.name() != "jax":
        keras.utils.set_random_seed(0)
        model = case.model()
        testing.randomize_weights(model, seed=0)
        return model
    with keras.StatelessScope(initialize_variables=False):
        model = case.model()
    testing.randomize_weights(model, seed=0)
    weights = {id(w) for w in model.weights}
    for variable in model.variables:  # dropout's seed generator states
        if id(variable) not in weights:
            variable.assign(np.zeros(tuple(variable.shape), variable.dtype))
    return model


def save(directory):
    out = os.path.join(directory, backend.name())
    os.makedirs(out, exist_ok=True)
    for case in catalogue.CASES:
        model = _randomly_weighted(case)
        x = case.inputs(seed=0)
        model.save(os.path.join(out, f"{case.name}.keras"))
        np.savez(os.path.join(out, f"{case.name}.inputs.npz"), *(x if isinstance(x, list) else [x]))
        np.savez(os.path.join(out, f"{case.name}.outputs.npz"), *_outputs(model, x))


def load(directory):
    target = backend.name()
    for source in sorted(os.listdir(directory)):
        if source == target:
            continue
        for case in catalogue.CASES:
            stem = os.path.join(directory, source, case.name)
            record = {
                "source": source,
                "target": target,
                "case": case.name,
                "error": None,
                "scale": 1.0,
                "message": "",
            }
            try:
                model = keras.saving.load_model(stem + ".keras")
                x = _arrays(stem + ".inputs.npz")
                x = x if getattr(case, "multi_input", False) else x[0]
                expected = _arrays(stem + ".outputs.npz")
                got = _outputs(model, x)
                if [g.shape for g in got] != [e.shape for e in expected]:
                    record["message"] = (
                        f"shapes {[g.shape for g in got]} != {[e.shape for e in expected]}"
                    )
                else:
                    record["error"] = max(
                        float(np.max(np.abs(g - e))) for g, e in zip(got, expected)
                    )
                    record["scale"] = 1.0 + max(float(np.max(np.abs(e))) for e in expected)
            except Exception as error:  # report, do not stop the other cases
                record["message"] = f"{type(error).__name__}: {error}"
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    {"save": save, "load": load}[sys.argv[1]](sys.argv[2])
