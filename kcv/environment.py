"""The process settings kcv recommends, applied where a process starts.

Some settings only work when they are in the environment before a backend
is imported: TensorFlow reads them once, while it loads. ``import kcv``
changes nothing (it leaves ``os.environ`` as it found it); the places that
start processes apply these settings instead: the ``kcv`` command line, the
test runner (``tools/run_tests.py``), the grader's worker processes, the
benchmarks and the book build, and the chapters in their first cell.

The settings:

* ``TF_ENABLE_ONEDNN_OPTS=1``: TensorFlow's oneDNN CPU kernels. TensorFlow
  turns them on by default only on some CPUs (not on the AMD EPYC machines
  kcv is tested on); without them its gradient of a convolution with many
  channels on a small map is 10 to 100 times slower (EncNet trains 3x
  slower, ``benchmarks/README.md``). ``TF_ENABLE_ONEDNN_OPTS=0`` keeps
  TensorFlow's own kernels.
* ``TF_CPP_MIN_LOG_LEVEL=1``: TensorFlow's C++ start-up messages of level
  INFO (the CPU instruction set, "oneDNN custom operations are on") stay out
  of the command line's output, the grader's reports and the chapters;
  warnings and errors still show.

A value the caller already set is kept. This module imports neither Keras
nor a backend, so it can run before them.

Example:

>>> import os
>>> env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
>>> configure(env)
{'TF_ENABLE_ONEDNN_OPTS': '1'}
>>> env
{'TF_CPP_MIN_LOG_LEVEL': '0', 'TF_ENABLE_ONEDNN_OPTS': '1'}
"""

import os
import sys
import warnings

SETTINGS = {
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "1",
}


def settings():
    """The recommended settings, ``{variable: value}`` (a new dict).

    For a child process: ``subprocess.run(..., env={**settings(), **os.environ})``
    gives it the settings while keeping the caller's own choices.
    """
    return dict(SETTINGS)


def thread_settings(threads):
    """Environment variables that cap a process's compute threads at ``threads``.

    Every framework sizes its thread pools to the whole machine, so several
    processes side by side oversubscribe the cores (PyTorch's OpenMP
    threads then spin while they wait for each other). For a child process
    that shares the machine: OpenMP (PyTorch, oneDNN), MKL and TensorFlow's
    intra- and inter-op pools. XLA's CPU threads are not among them: its
    single-thread flags also change what JAX can simulate (several CPU
    devices), so the caller decides about those.

    Args:
        threads: int >= 1.

    Returns:
        dict ``{variable: str(threads)}``.

    Example:

    >>> thread_settings(2)["OMP_NUM_THREADS"]
    '2'
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"`threads` must be an integer >= 1, received {threads!r}.")
    names = (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    )
    return dict.fromkeys(names, str(threads))


def configure(environ=None):
    """Adds the recommended settings the environment does not set yet.

    Call it first thing in a program's entry point, before Keras is
    imported. Applied after TensorFlow is loaded, the settings cannot take
    effect, and this function warns.

    Args:
        environ: mutable mapping or None. The environment to change; None
            means ``os.environ`` (this process and the processes it starts).

    Returns:
        The dict of the settings it added (empty when all were set).
    """
    target = os.environ if environ is None else environ
    added = {key: value for key, value in SETTINGS.items() if key not in target}
    target.update(added)
    if added and environ is None and "tensorflow" in sys.modules:
        warnings.warn(
            "kcv.environment.configure() ran after TensorFlow was imported; "
            f"{', '.join(added)} take effect only in processes started from here.",
            stacklevel=2,
        )
    return added
