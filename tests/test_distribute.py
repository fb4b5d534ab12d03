"""Data-parallel training (kcv.distribute) matches training on one device.

The end-to-end check runs once (backend-independent), in a JAX process of
its own with two simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``). The argument
checks run under every backend.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kcv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 6


@pytest.mark.backend_independent
@pytest.mark.slow
def test_two_devices_follow_the_single_device_loss_trajectory():
    flags = os.environ.get("XLA_FLAGS", "")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=2".strip(),
    }
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "distribute_worker.py"), str(STEPS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2
    assert result["replicas"] == [2], "every weight should live on both devices"
    assert result["uneven_rejected"], "a batch of 15 on 2 devices must raise"
    single, parallel = np.array(result["single"]), np.array(result["parallel"])
    assert single[-1] < single[0], f"training did not lower the loss: {single}"
    np.testing.assert_allclose(parallel, single, rtol=1e-4, atol=1e-5)


def test_data_parallel_checks_its_arguments():
    if keras.backend.backend() != "jax":
        with (
            pytest.raises(
                ValueError,
                match="`KERAS_BACKEND` must be .jax. for data_parallel.*MirroredStrategy.*DistributedDataParallel",
            ),
            kcv.distribute.data_parallel(),
        ):
            pass
        return
    with (
        pytest.raises(ValueError, match="`devices` must be a non-empty list"),
        kcv.distribute.data_parallel([]),
    ):
        pass
    with (
        pytest.raises(ValueError, match="`devices` must be among"),
        kcv.distribute.data_parallel(["tpu:7"]),
    ):
        pass
    with kcv.distribute.data_parallel(keras.distribution.list_devices()[:1]) as distribution:
        assert kcv.distribute.global_batch_size(32, distribution) == 32
        kcv.distribute.check_batch_size(5, distribution)
        with pytest.raises(ValueError, match="`per_device` must be an integer >= 1"):
            kcv.distribute.global_batch_size(0, distribution)
    assert keras.distribution.distribution() is None, (
        "the block must not leave the distribution set"
    )
