"""A .keras file saved under one backend loads under the others, same outputs.

Runs once (not per backend): it starts one fresh process per installed
backend to save every catalogue model, then one per backend to load the
others' files, and compares outputs to float32 rounding: each case's ``atol``
(1e-5 for layers) times ``1 + max |output|``.
"""

import collections
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from kcv import backend
from kcv import catalogue

pytestmark = pytest.mark.backend_independent

WORKER = os.path.join(os.path.dirname(__file__), "cross_backend_worker.py")
INSTALLED = [b for b, v in backend.installed_backends().items() if v]


def _run(mode, name, directory):
    env = {**os.environ, "KERAS_BACKEND": name}
    done = subprocess.run(
        [sys.executable, WORKER, mode, directory],
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    if done.returncode:
        raise RuntimeError(f"{mode} under {name} failed:\n{done.stderr[-4000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    if len(INSTALLED) < 2:
        pytest.skip(f"needs two backends, installed: {INSTALLED}")
    directory = str(tmp_path_factory.mktemp("cross_backend"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda b: _run("save", b, directory), INSTALLED))
        outputs = list(pool.map(lambda b: _run("load", b, directory), INSTALLED))
    found = collections.defaultdict(dict)
    for line in "".join(outputs).splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            found[(r["source"], r["target"])][r["case"]] = r
    return found


PAIRS = [(s, t) for s in INSTALLED for t in INSTALLED if s != t]


@pytest.mark.parametrize("source, target", PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_saved_model_reloads_with_same_outputs(records, source, target):
    results = records[(source, target)]
    missing = {c.name for c in catalogue.CASES} - set(results)
    assert not missing, f"not compared: {sorted(missing)}"
    atol = {c.name: c.atol for c in catalogue.CASES}
    bad = {
        name: r["message"] or f"max abs difference {r['error']:.3g} (scale {r['scale']:.3g})"
        for name, r in results.items()
        if r["message"] or not r["error"] <= atol[name] * r["scale"]  # NaN fails too
    }
    assert not bad, f"{source} -> {target}: {bad}"
