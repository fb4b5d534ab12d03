"""Every catalogued model: parameter count, a compiled train step, compiled = eager.

Paper-size parameter counts and structure are asserted per family in
tests/test_models_<family>.py; the cross-backend ``.keras`` equivalence of the
same catalogue entries is in tests/test_cross_backend.py.
"""

import keras
import numpy as np
import pytest

from kcv import catalogue
from kcv import testing


@pytest.mark.parametrize("case", catalogue.MODEL_CASES, ids=lambda c: c.name)
def test_model_case(case):
    keras.utils.set_random_seed(0)
    model = case.model()
    if case.expected_trainable_params is not None:
        got = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        assert got == case.expected_trainable_params
    x = case.inputs()
    eager = [
        np.asarray(keras.ops.convert_to_numpy(y))
        for y in keras.tree.flatten(model(x, training=False))
    ]
    compiled = keras.tree.flatten(model.predict(x, batch_size=len(x), verbose=0))
    for e, c in zip(eager, compiled):
        assert e.shape == c.shape
        np.testing.assert_allclose(c, e, atol=case.atol * (1 + np.abs(e).max()))
    targets = [np.zeros(y.shape, "float32") for y in eager]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=["mse"] * len(targets))
    loss = model.train_on_batch(x, targets if len(targets) > 1 else targets[0])
    assert np.all(np.isfinite(keras.tree.flatten(loss)))


@pytest.mark.backend_independent
def test_every_public_model_is_catalogued():
    import kcv

    catalogued = {c.builder.__name__ for c in catalogue.MODEL_CASES}
    # kcv.models.features holds tools that take a model (feature_info,
    # feature_extractor); they are tested in tests/test_models_features.py.
    builders = {
        name
        for name in kcv.models.__all__
        if getattr(kcv.models, name).__module__ != "kcv.models.features"
    }
    assert builders and len(builders) < len(kcv.models.__all__)
    missing = builders - catalogued
    assert not missing, f"add these models to kcv/catalogue.py MODEL_CASES: {sorted(missing)}"


@pytest.mark.backend_independent
def test_model_cases_are_model_cases():
    assert all(isinstance(c, testing.ModelCase) for c in catalogue.MODEL_CASES)
