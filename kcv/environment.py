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
* In ``XLA_FLAGS``, with jaxlib 0.10.2 to 0.10.x only:
  ``--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE``.
  That jaxlib hands every convolution, its two gradients included, to the
  YNNPACK library by default (with its matrix products and reductions);
  the flag keeps the products and reductions there and gives the
  convolutions back to XLA's own kernels, whose gradients are several times
  faster on the CPUs kcv is measured on: a 3x3 convolution of 192 to 128
  channels on 32x32 maps, batch 32, forward and both gradients, 438 -> 202
  ms (PyTorch 163); EncNetCIFAR's train step 884 -> 508 ms, GoogLeNet's
  3.7 -> 3.0 s (``benchmarks/README.md``, "JAX: XLA's convolutions, not
  YNNPACK's"). XLA refuses (aborts on) a flag it does not know, hence the
  versions: other jaxlib releases keep their defaults. XLA reads
  ``XLA_FLAGS`` when JAX first computes, so the flag also works after
  ``import jax``, before that.

For the calling process only (:func:`configure`, not :func:`settings`):

* ``JAX_COMPILATION_CACHE_DIR``: JAX's persistent compilation cache, in
  ``kcv/jax`` under ``XDG_CACHE_HOME`` (default ``~/.cache``), with
  ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`` (every program kept:
  JAX's default keeps only those that took a second). On a CPU, JAX
  compiles a program for every new shape, and building a model compiles
  one random-number program per weight shape: a fresh process took 10.6 s
  to build GoogLeNet. With the cache, a chapter run again (a restarted
  kernel, the book rebuilt after an edit) loads what an earlier run
  compiled: chapter 02 in FAST mode 20.3 -> 11.1 s, chapter 06 27.4 ->
  14.7 s, chapter 01 in full mode 45.4 -> 29.1 s, and 36.6 s on its first
  run, whose seeds share their programs (``benchmarks/README.md``, "JAX: a
  persistent compilation cache"). JAX keys every entry on the program, its
  versions, flags and device, and grows the directory without limit: delete
  it to reclaim the space. An entry cut short (a kernel killed while JAX
  wrote it) makes JAX warn ("Error reading persistent compilation cache
  entry") and compile that program again, each time, until the directory is
  deleted. It is left out where the caller chose a directory, where the
  directory cannot be made, and for the processes others start, whose
  caches are their starter's choice (the test runner's shared one, the
  grader's read-only one, none for the benchmarks, which time compiling).

A value the caller already set is kept; a flag is added to ``XLA_FLAGS``
only when the variable does not name it yet. This module imports neither
Keras nor a backend, so it can run before them.

Example:

>>> env = {"TF_CPP_MIN_LOG_LEVEL": "0", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
>>> configure(env)["TF_ENABLE_ONEDNN_OPTS"]
'1'
>>> env["TF_CPP_MIN_LOG_LEVEL"], env["XLA_FLAGS"].split()[0]
('0', '--xla_force_host_platform_device_count=2')
"""

import importlib.metadata
import os
import re
import sys
import warnings

SETTINGS = {
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "1",
}
# JAX's persistent compilation cache: configure() adds both, for the calling process.
CACHE_DIR = "JAX_COMPILATION_CACHE_DIR"
CACHE_SETTINGS = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
# XLA flags for the jaxlib releases they were measured with, [first, end).
XLA_FLAGS = {
    "--xla_cpu_experimental_ynn_fusion_type": (
        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE",
        ((0, 10, 2), (0, 11)),
    ),
}


def _release(version):
    """The leading numbers of a version string: ``"0.10.2.dev1"`` -> ``(0, 10, 2)``."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def xla_flags(jaxlib_version=None):
    """kcv's XLA flags for a jaxlib release (see the module's list of settings).

    Args:
        jaxlib_version: str or None. None means the installed jaxlib's
            (no flags when jaxlib is not installed).

    Returns:
        list of ``"--flag=value"`` strings, empty for releases they were not
        measured with.

    Example:

    >>> xla_flags("0.10.2")
    ['--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE']
    >>> xla_flags("0.9.0")
    []
    """
    if jaxlib_version is None:
        try:
            jaxlib_version = importlib.metadata.version("jaxlib")
        except importlib.metadata.PackageNotFoundError:
            return []
    release = _release(jaxlib_version)
    return [
        f"{flag}={value}"
        for flag, (value, (first, end)) in XLA_FLAGS.items()
        if first <= release < end
    ]


def compilation_cache_dir(environ=None):
    """The directory :func:`configure` gives JAX's persistent compilation cache.

    Args:
        environ: mapping or None. The environment whose ``XDG_CACHE_HOME``
            (or, without it, ``HOME``) decides; None means ``os.environ``.

    Returns:
        str: ``$XDG_CACHE_HOME/kcv/jax``, by default ``~/.cache/kcv/jax``.

    Example:

    >>> compilation_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"})
    '/var/cache/me/kcv/jax'
    """
    environ = os.environ if environ is None else environ
    home = environ.get("XDG_CACHE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".cache"
    )
    return os.path.join(home, "kcv", "jax")


def _can_make(directory):
    """Whether ``directory`` exists as a writable directory or could be made (nothing is made)."""
    path = os.path.abspath(directory)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def settings(environ=None):
    """The variables :func:`configure` would add to ``environ`` or change in it.

    For a child process, ``env = {**base, **settings(base)}`` gives it the
    settings while keeping the caller's own choices. The compilation cache
    is not among them: a child process's cache is the choice of the program
    that starts it.

    Args:
        environ: mapping or None. The environment the settings go into
            (it is not changed); None means an empty one.

    Returns:
        dict ``{variable: value}``: each setting ``environ`` lacks, and
        ``XLA_FLAGS`` when a flag of :func:`xla_flags` is missing from it
        (its value then ``environ``'s flags followed by the missing ones).
    """
    return configure(dict(environ or {}), compilation_cache=False)


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


def configure(environ=None, compilation_cache=True):
    """Adds the recommended settings the environment does not set yet.

    Call it first thing in a program's entry point, before Keras is
    imported. Applied after TensorFlow (or, for the compilation cache, JAX)
    is loaded, a setting cannot take effect in this process, and this
    function warns.

    Args:
        environ: mutable mapping or None. The environment to change; None
            means ``os.environ`` (this process and the processes it starts).
        compilation_cache: bool. Also point JAX's persistent compilation
            cache at :func:`compilation_cache_dir` (with its threshold), when
            ``environ`` names no cache directory and that one can be made.

    Returns:
        The dict of the variables it added or changed, with their new values
        (empty when all were set).
    """
    target = os.environ if environ is None else environ
    added = {key: value for key, value in SETTINGS.items() if key not in target}
    given = target.get("XLA_FLAGS", "")
    named = {flag.split("=")[0] for flag in given.split()}
    missing = [flag for flag in xla_flags() if flag.split("=")[0] not in named]
    if missing:
        added["XLA_FLAGS"] = " ".join(given.split() + missing)
    if compilation_cache and CACHE_DIR not in target:
        directory = compilation_cache_dir(target)
        if _can_make(directory):
            added[CACHE_DIR] = directory
            added.update({k: v for k, v in CACHE_SETTINGS.items() if k not in target})
    target.update(added)
    for prefix, module, name in (("TF_", "tensorflow", "TensorFlow"), ("JAX_", "jax", "JAX")):
        late = [key for key in added if key.startswith(prefix)]
        if late and environ is None and module in sys.modules:
            warnings.warn(
                f"kcv.environment.configure() ran after {name} was imported; "
                f"{', '.join(late)} take effect only in processes started from here.",
                stacklevel=2,
            )
    return added
