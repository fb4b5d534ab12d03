"""Pytest setup: the suite runs once per backend (see tools/run_tests.py).

Tests marked ``backend_independent`` run once, in their own pytest process;
every other test runs in a process whose ``KERAS_BACKEND`` is set before
Keras is imported.
"""

import os

import pytest

from kcv import backend

# Tests compare with float64 references: no TensorFloat-32 on GPUs.
backend.use_full_float32_precision()


def pytest_report_header(config):
    return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '(unset: tensorflow)')}"


@pytest.fixture(autouse=True, scope="module")
def _fresh_jax_caches():
    """On JAX, each test file's compiled programs are dropped when the file ends.

    JAX keeps every program it traced and compiled (Keras'
    ``clear_session`` leaves JAX's caches alone), so the JAX test process
    grew to 9.5 GiB, and each full garbage collection walked more objects.
    Measured on four test files (test_models, test_battery, test_conv,
    test_weights; fresh processes and compilation caches, paired): clearing
    at the end of each file took 362 and 385 CPU-s against 390 and 396
    without, peak memory 7.4-7.7 GiB against 8.4; clearing after every
    test, 429 CPU-s (a file's tests share programs). The persistent cache
    on disk (tools/run_tests.py) still serves what a later file compiles again.
    """
    yield
    if backend.name() == "jax":
        import jax

        jax.clear_caches()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the default dtype policy and data format.

    Without Python's full garbage collection (``free_memory=False``): Keras'
    default runs ``gc.collect()``, which walks every object the process holds
    — on JAX its caches of traced functions grow with every test — and took
    6 to 9 s per test late in the JAX run, a test that only constructs a
    layer included. Python's own generational collector still runs.
    """
    import keras

    yield
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")
    keras.backend.clear_session(free_memory=False)
