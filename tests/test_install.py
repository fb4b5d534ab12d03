"""kcv from a built wheel in a fresh virtual environment, with no backend (issue 20).

Where the backends are installed already (Colab, a CUDA lab machine), kcv is
installed without a backend extra: that must bring Keras and kcv's own
dependencies only, consistent (``pip check``), and ``python -m kcv`` must
say that a backend is missing and how to install one, not fail with a
traceback. The wheel is built from a copy of the sources and installed with
``constraints/cpu.txt``, as CI installs; pip's cache and the machine's pip
configuration serve the downloads.
"""

import filecmp
import json
import os
import shutil
import subprocess
import sys

import pytest

import kcv
from kcv.data.digits import DIGITS_FILE

pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSTRAINTS = os.path.join(ROOT, "constraints", "cpu.txt")
BACKEND_DISTRIBUTIONS = {"jax", "jaxlib", "tensorflow", "tensorflow-cpu", "torch"}


def _run(command, cwd, env=None, timeout=600):
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """``(python, env, cwd)`` of a fresh environment holding kcv's wheel and no backend."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    # A copy, so that building leaves the checkout's build/ and kcv.egg-info alone.
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    shutil.copytree(
        os.path.join(ROOT, "kcv"), source / "kcv", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)], work)
    (wheel,) = dist.glob("kcv-*.whl")
    _run([sys.executable, "-m", "venv", "venv"], work)
    python = str(work / "venv" / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", "-c", CONSTRAINTS, str(wheel)], work)
    # No KERAS_BACKEND (Keras's default, tensorflow, unless keras.json says
    # otherwise), a keras.json of its own, nothing of the checkout on the path.
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH")}
    env["KERAS_HOME"] = str(work / "keras-home")
    return python, env, str(work)


@pytest.mark.slow
def test_the_wheel_installs_consistently_without_a_backend(venv):
    python, env, cwd = venv
    _run([python, "-m", "pip", "check"], cwd, env)
    listed = _run([python, "-m", "pip", "list", "--format", "json"], cwd, env)
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    assert not BACKEND_DISTRIBUTIONS & set(installed), "a backend came with kcv's base install"
    assert "keras" in installed
    done = _run([python, "-c", "import kcv; print(kcv.__file__, kcv.__version__)"], cwd, env)
    where, version = done.stdout.split()
    assert version == kcv.__version__
    assert where.startswith(os.path.join(cwd, "venv")), "kcv was imported from elsewhere"
    # The digits ship in the wheel (package data), so that kcv.data.digits loads offline.
    shipped = os.path.join(os.path.dirname(where), "data", os.path.basename(DIGITS_FILE))
    assert filecmp.cmp(shipped, DIGITS_FILE, shallow=False)


@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", [None, "jax", "torch"])
def test_the_command_line_says_which_backend_is_missing(venv, keras_backend):
    python, env, cwd = venv
    if keras_backend:
        env = {**env, "KERAS_BACKEND": keras_backend}
    done = subprocess.run(
        [python, "-m", "kcv"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    needed = keras_backend or "tensorflow"
    assert f"Keras needs {needed}, which is not installed" in done.stdout
    assert "installed   none" in done.stdout
    assert "pip install 'kcv[jax]'" in done.stdout
    assert f"kcv         {kcv.__version__}" in done.stdout


def test_the_report_names_an_installed_backend_to_run_on(monkeypatch):
    """Keras set to a missing backend while another is installed: run on that one."""
    from kcv import __main__ as cli

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    report = cli._no_backend("tensorflow", {"jax": "0.10.2", "tensorflow": None, "torch": None})
    assert "installed   jax" in report
    assert "Keras needs tensorflow, which is not installed (KERAS_BACKEND unset" in report
    assert "KERAS_BACKEND=jax python -m kcv" in report
    assert "pip install 'kcv[tensorflow]'" in report
