"""Runs submissions and references in isolated processes and grades them.

Every submission runs once per backend in a fresh interpreter
(:mod:`kcv.grading.probe` as a script) that

* has its own session and process group (``start_new_session``): on exit or
  timeout the whole group is killed, then every process it left behind —
  found through its session, its process group, and the orphans the grader
  adopts as a child subreaper (``PR_SET_CHILD_SUBREAPER``, Linux) — is
  killed and reaped, and counted: a submission that leaves processes behind
  scores 0 on that backend;
* runs under resource limits set in ``preexec_fn``: data segment
  (``RLIMIT_DATA``, every private writable mapping since Linux 4.7 — the
  backends reserve gigabytes of address space they never touch, so
  ``RLIMIT_AS`` would fail them), CPU seconds, file size, no core files,
  and the number of processes (``RLIMIT_NPROC``; only for non-root users:
  Linux exempts uid 0 from it);
* gets a clean environment (``PATH``, ``HOME`` and ``TMPDIR`` in a fresh
  temporary directory that is also its working directory, ``KERAS_BACKEND``,
  CPU-only single-threaded backend settings; nothing else of the grader's
  environment) and runs ``python -I`` (no ``PYTHONPATH``, no user site);
* has its stdout and stderr read through a pipe of which the grader keeps the
  first and last ``output_kib / 2`` KiB, so a flood costs nothing;
* receives the submission's code on stdin (never on disk, where another
  process could change it) and its job after it imported the submission, and returns
  plain arrays through an inherited pipe (no file to guess or overwrite),
  read up to a size cap and loaded with ``allow_pickle=False`` after the
  archive's declared sizes and array headers are checked.

The reference outputs come from separate processes that run only kcv — one
per backend, for all the exercises being graded — before any submission
starts, and are kept in memory for the life of the grading process. Function
exercises (numpy only) compute their reference in the grader itself.

Example:

>>> from kcv.grading import runner
>>> reports = runner.grade_many([("exercises/solutions/squeeze_excite.py",
...                               "squeeze_excite")], backends=["jax"])
>>> reports[0].score == reports[0].max_score
True
"""

import concurrent.futures
import ctypes
import dataclasses
import functools
import importlib
import io
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib

import numpy as np

from kcv.grading import checks
from kcv.grading import exercises as exercise_registry
from kcv.grading import probe
from kcv.grading import report as reports
from kcv.grading import submission as submissions

PROBE = os.path.abspath(probe.__file__)
KCV_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(PROBE)))
BACKENDS = ("jax", "tensorflow", "torch")

_LOCK = threading.Lock()
_LIVE = set()
_REFERENCES = {}
_NPY_NAME = re.compile(r"[A-Za-z0-9_./-]{1,200}\.npy")


class GradingError(RuntimeError):
    """The grader itself failed (e.g. a reference process): not the learner's fault."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Limits of one submission process.

    Args:
        timeout: float. Wall-clock seconds for one backend (import included).
        memory_mib: int. Data segment cap (``RLIMIT_DATA``), MiB.
        file_mib: int. Largest file the process may write (``RLIMIT_FSIZE``), MiB.
        output_kib: int. stdout + stderr kept (half head, half tail), KiB.
        results_mib: int. Largest results archive accepted, MiB.
        reference_timeout: float. Wall-clock seconds for a reference process.
    """

    timeout: float = 180.0
    memory_mib: int = 4096
    file_mib: int = 32
    output_kib: int = 64
    results_mib: int = 64
    reference_timeout: float = 900.0

    def __post_init__(self):
        for name in (
            "timeout",
            "memory_mib",
            "file_mib",
            "output_kib",
            "results_mib",
            "reference_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"`{name}` must be a positive number, received {value!r}.")


@dataclasses.dataclass
class Run:
    """What one grading process left behind.

    Attributes:
        backend: str.
        returncode: int or None. Negative: killed by that signal.
        timed_out: bool.
        seconds: float. Wall-clock time.
        output: str. stdout + stderr, head and tail kept.
        output_bytes: int. How much it printed in all.
        results: dict of arrays, or None.
        problem: str or None. Why there are no usable results.
        leftovers: int. Processes it left running (all killed).
    """

    backend: str
    returncode: object = None
    timed_out: bool = False
    seconds: float = 0.0
    output: str = ""
    output_bytes: int = 0
    results: dict = None
    problem: str = None
    leftovers: int = 0


# ---------------------------------------------------------------------------
# One process


class _CappedReader(threading.Thread):
    """Drains a pipe; keeps ``head`` bytes from the start and ``tail`` from the end."""

    def __init__(self, stream, head, tail=0):
        super().__init__(daemon=True)
        self.stream, self.head, self.tail = stream, head, tail
        self.first, self.last, self.total = bytearray(), bytearray(), 0

    def run(self):
        try:
            while True:
                chunk = self.stream.read1(1 << 16)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self.head - len(self.first)
                if room > 0:
                    self.first += chunk[:room]
                    chunk = chunk[room:]
                if self.tail and chunk:
                    self.last = (self.last + chunk)[-self.tail :]
        except (OSError, ValueError):
            pass
        finally:
            self.stream.close()

    @property
    def truncated(self):
        return self.total > len(self.first) + len(self.last)

    def text(self):
        first = self.first.decode("utf-8", "replace")
        if not self.truncated:
            return first + self.last.decode("utf-8", "replace")
        skipped = self.total - len(self.first) - len(self.last)
        return (
            first
            + f"\n[... {skipped:,} bytes of output dropped ...]\n"
            + self.last.decode("utf-8", "replace")
        )


def _writer(stream, data):
    try:
        stream.write(data)
        stream.close()
    except (OSError, ValueError):
        pass  # the process ended (or stopped reading) before taking its job


@functools.cache
def _become_subreaper():
    """Makes orphaned descendants re-parent to this process (Linux); True on success."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _process_table():
    """``{pid: (state, ppid, pgid, sid)}`` from /proc (empty where there is none)."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            fields = data[data.rindex(b")") + 2 :].split()
            table[int(name)] = (fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
        except (OSError, ValueError, IndexError):
            continue
    return table


def _user_tasks():
    """Threads of this process's user, all processes together (for RLIMIT_NPROC)."""
    uid, count = os.getuid(), 0
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{name}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            if int(status["Uid"].split()[0]) == uid:
                count += int(status["Threads"])
        except (OSError, ValueError, KeyError):
            continue
    return count


def _sweep(leader):
    """Kills and reaps what the process ``leader`` left; returns how many were alive.

    Victims: processes in ``leader``'s session or process group, orphans this
    process adopted (as subreaper) that are not a running grading process, and
    all their descendants. Repeats until none is left (a fork bomb keeps
    forking while it is being killed).
    """
    me, alive = os.getpid(), set()
    for _ in range(500):
        with _LOCK:
            table = _process_table()
            victims = {
                pid
                for pid, (_, ppid, pgid, sid) in table.items()
                if pid != me
                and (sid == leader or pgid == leader or (ppid == me and pid not in _LIVE))
            }
            grew = victims
            while grew:
                grew = {
                    pid
                    for pid, (_, ppid, _, _) in table.items()
                    if ppid in grew and pid not in victims and pid not in _LIVE
                }
                victims |= grew
            for pid in victims:
                if table[pid][0] != b"Z":
                    alive.add(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not victims:
            break
        time.sleep(0.02)
        for pid in victims:
            if table[pid][1] == me:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
    return len(alive)


def _set_limits(limits, nproc):
    """Runs in the child between fork and exec."""

    def cap(kind, value):
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_DATA, int(limits.memory_mib) << 20)
    cap(resource.RLIMIT_CPU, int(2 * limits.timeout) + 10)
    cap(resource.RLIMIT_FSIZE, int(limits.file_mib) << 20)
    cap(resource.RLIMIT_CORE, 0)
    if nproc:
        cap(resource.RLIMIT_NPROC, nproc)


def _environment(home, backend):
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "KERAS_BACKEND": backend,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    }


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def load_results(data, cap):
    """Plain arrays from an untrusted ``.npz``; raises ValueError when it is not one.

    Checked before anything is unpacked: nothing precedes the archive, member
    names, their declared sizes (against ``cap``, so a zip bomb is refused),
    each ``.npy`` header (the shape must fit the member's size); after
    loading: numeric, boolean or string arrays only (``allow_pickle=False``
    refuses objects).
    """
    if not data:
        raise ValueError("no results were written")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > 20000 or sum(m.file_size for m in members) > cap:
                raise ValueError(f"the archive unpacks to more than {cap:,} bytes")
            if members and min(m.header_offset for m in members) != 0:
                raise ValueError("bytes were written before the archive")
            for member in members:
                if not _NPY_NAME.fullmatch(member.filename):
                    raise ValueError(f"unexpected member {member.filename[:80]!r}")
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(f)
                if int(np.prod(shape, dtype="float64")) * dtype.itemsize > member.file_size:
                    raise ValueError(f"{member.filename[:80]!r} declares more data than it holds")
        arrays = {}
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for key in npz.files:
                array = npz[key]
                if type(array) is not np.ndarray or array.dtype.kind not in "fiubU":
                    raise ValueError(f"{key[:80]!r} is not a plain numeric or string array")
                arrays[key] = array
        return arrays
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, MemoryError, TypeError) as error:
        raise ValueError(f"{type(error).__name__}: {error}") from None


def run_process(mode, kind, backend, spec, arrays, limits, source=None):
    """Runs the probe once, isolated; returns a :class:`Run`.

    Args:
        mode: ``"submission"`` or ``"reference"``.
        kind: ``"layer"`` or ``"function"``.
        backend: str. ``KERAS_BACKEND`` of the process.
        spec: dict. The job spec (``{"tasks": [...]}``).
        arrays: dict of numpy arrays sent with the job.
        limits: :class:`Limits`.
        source: str. The submission's code (submission mode).

    Returns:
        A :class:`Run`; ``results`` is None when the process gave no usable
        results, and ``problem`` says why.
    """
    _become_subreaper()
    timeout = limits.timeout if mode == "submission" else limits.reference_timeout
    buffer = io.BytesIO()
    code = (source or "").encode("utf-8")
    buffer.write(len(code).to_bytes(8, "big") + code)
    np.savez(buffer, spec=np.array(json.dumps(spec)), **arrays)
    nproc = None if os.geteuid() == 0 else _user_tasks() + 512
    run = Run(backend)
    with tempfile.TemporaryDirectory(prefix="kcv-grade-", ignore_cleanup_errors=True) as home:
        command = [
            sys.executable,
            "-I",
            PROBE,
            "--mode",
            mode,
            "--kind",
            kind,
            "--kcv-root",
            KCV_ROOT,
        ]
        read_end, write_end = os.pipe()
        start = time.monotonic()
        try:
            with _LOCK:
                process = subprocess.Popen(
                    command + ["--results-fd", str(write_end)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    cwd=home,
                    env=_environment(home, backend),
                    pass_fds=(write_end,),
                    start_new_session=True,
                    preexec_fn=functools.partial(_set_limits, limits, nproc),
                )
                _LIVE.add(process.pid)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        half = limits.output_kib << 9
        output = _CappedReader(process.stdout, half, half)
        results = _CappedReader(open(read_end, "rb"), limits.results_mib << 20)  # noqa: SIM115 (the reader closes it)
        writer = threading.Thread(
            target=_writer, args=(process.stdin, buffer.getvalue()), daemon=True
        )
        for thread in (output, results, writer):
            thread.start()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
            process.wait()
        run.leftovers = _sweep(process.pid)
        with _LOCK:
            _LIVE.discard(process.pid)
        for thread in (output, results, writer):
            thread.join(timeout=10)
        run.seconds = time.monotonic() - start
    run.returncode = process.returncode
    run.output, run.output_bytes = output.text(), output.total
    if run.timed_out:
        run.problem = f"timed out after {timeout:.0f} s; its processes were killed"
    elif results.truncated:
        run.problem = f"its results exceed the {limits.results_mib} MiB cap"
    elif process.returncode != 0:
        if process.returncode < 0:
            name = _signal_name(-process.returncode)
            hint = {
                "SIGKILL": " (killed: out of memory, or by the grader)",
                "SIGXCPU": " (its CPU-time limit)",
                "SIGXFSZ": f" (it wrote a file larger than {limits.file_mib} MiB)",
                "SIGABRT": (
                    f" (aborted: often a failed allocation under the {limits.memory_mib} MiB cap)"
                ),
                "SIGSEGV": " (a segmentation fault)",
            }.get(name, "")
            run.problem = f"was killed by {name}{hint}"
        else:
            run.problem = f"exited with status {process.returncode} before finishing"
    else:
        try:
            run.results = load_results(bytes(results.first), limits.results_mib << 20)
        except ValueError as error:
            run.problem = (
                f"ended (status 0) without valid results — os._exit() or a write to the "
                f"results channel? ({error})"
            )
    return run


# ---------------------------------------------------------------------------
# Jobs


def _seed(*names):
    return zlib.crc32("/".join(names).encode())


def layer_inputs(exercise):
    """The seeded inputs of a layer exercise's configurations: ``{"c{i}/x": array}``."""
    arrays = {}
    for i, config in enumerate(exercise.configs):
        rng = np.random.default_rng(_seed(exercise.name, config.name))
        arrays[f"c{i}/x"] = rng.standard_normal(config.input_shape).astype("float32")
    return arrays


def function_inputs(exercise):
    """The seeded arguments of a function exercise's cases: ``{"c{i}/a{j}": array}``."""
    arrays = {}
    for i, case in enumerate(exercise.cases):
        rng = np.random.default_rng(_seed(exercise.name, case.name))
        for j, value in enumerate(case.make(rng)):
            arrays[f"c{i}/a{j}"] = np.asarray(value, dtype="float64")
    return arrays


def task_spec(exercise, mode):
    """The JSON part of a job for one exercise (what :mod:`~kcv.grading.probe` reads)."""
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
                "seed": _seed(exercise.name, c.name) % (2**31),
            }
            for c in exercise.configs
        ],
    }
    if mode == "reference":
        task["reference"] = exercise.reference
    return task


def _prefixed(arrays, prefix):
    return {prefix + key: value for key, value in arrays.items()}


def _unprefixed(arrays, prefix):
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def references(exercise_list, backend, limits=Limits()):
    """Reference results of layer exercises on ``backend``, from one clean process.

    Results are cached for the life of this process (computed before any
    submission runs, so a submission cannot tamper with the kcv sources they
    are computed from).

    Args:
        exercise_list: iterable of :class:`~kcv.grading.exercises.LayerExercise`.
        backend: str.
        limits: :class:`Limits` (``reference_timeout`` applies).

    Returns:
        ``{exercise name: {"c{i}/...": array}}``.

    Raises:
        GradingError: when the reference process fails.
    """
    missing = [e for e in exercise_list if (e.name, backend) not in _REFERENCES]
    if missing:
        spec = {"tasks": [task_spec(e, "reference") for e in missing]}
        arrays = {}
        for k, exercise in enumerate(missing):
            arrays.update(_prefixed(layer_inputs(exercise), f"t{k}/"))
        run = run_process("reference", "layer", backend, spec, arrays, limits)
        if run.results is None:
            raise GradingError(
                f"the reference process on {backend} failed: {run.problem}\n{run.output[-4000:]}"
            )
        for k, exercise in enumerate(missing):
            found = _unprefixed(run.results, f"t{k}/")
            errors = {key: str(v) for key, v in found.items() if "error" in key}
            if errors:
                raise GradingError(
                    f"the reference {exercise.reference} failed on {backend}: {errors}"
                )
            _REFERENCES[(exercise.name, backend)] = found
    return {e.name: _REFERENCES[(e.name, backend)] for e in exercise_list}


def function_reference(exercise):
    """The reference results of a function exercise, computed in this process."""
    if (exercise.name, "numpy") not in _REFERENCES:
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
        _REFERENCES[(exercise.name, "numpy")] = results
    return _REFERENCES[(exercise.name, "numpy")]


def _run_submission(submission, exercise, backend, reference, limits):
    if exercise.kind == "function":
        arrays = _prefixed(function_inputs(exercise), "t0/")
    else:
        arrays = layer_inputs(exercise)
        for i in range(len(exercise.configs)):
            j = 0
            while f"c{i}/w{j}" in reference:
                arrays[f"c{i}/w{j}"] = reference[f"c{i}/w{j}"]
                j += 1
        arrays = _prefixed(arrays, "t0/")
    spec = {"tasks": [task_spec(exercise, "submission")]}
    run = run_process(
        "submission", exercise.kind, backend, spec, arrays, limits, source=submission.source
    )
    if run.results is not None:
        whole = {k: v for k, v in run.results.items() if k == "import_error"}
        run.results = {**_unprefixed(run.results, "t0/"), **whole}
    return run


def grade_many(items, backends=None, limits=Limits(), jobs=1, progress=None):
    """Grades submissions, each on every backend, in isolated processes.

    Args:
        items: list of ``(submission, exercise)``: a path or a
            :class:`~kcv.grading.submission.Submission`, and an exercise name
            or object.
        backends: list of backend names (default: the installed ones among
            jax, tensorflow, torch). Function exercises run once, on numpy.
        limits: :class:`Limits`.
        jobs: int >= 1. Processes run at the same time.
        progress: callable ``progress(report)`` called as each submission is
            done, or None.

    Returns:
        A list of :class:`~kcv.grading.report.GradeReport`, in the order of
        ``items``.

    Raises:
        ValueError: for unknown backends or exercises, or ``jobs`` < 1.
        GradingError: when a reference process fails.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"`jobs` must be an integer >= 1, received {jobs!r}.")
    backends = list(backends) if backends else default_backends()
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise ValueError(
            f"`backends` must name some of {', '.join(BACKENDS)}; received {backends}."
        )
    loaded = []
    for sub, exercise in items:
        exercise = exercise if hasattr(exercise, "kind") else exercise_registry.get(exercise)
        sub = sub if isinstance(sub, submissions.Submission) else submissions.load_submission(sub)
        loaded.append((sub, exercise))
    started = time.monotonic()
    layer_exercises = list({e.name: e for _, e in loaded if e.kind == "layer"}.values())
    refs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        if layer_exercises:
            futures = {b: pool.submit(references, layer_exercises, b, limits) for b in backends}
            refs = {b: f.result() for b, f in futures.items()}
        for exercise in {e.name: e for _, e in loaded if e.kind == "function"}.values():
            refs[exercise.name] = function_reference(exercise)
        pending = {}
        for index, (sub, exercise) in enumerate(loaded):
            problems = submissions.static_problems(sub, exercise)
            if problems:
                pending[index] = problems
                continue
            run_on = ["numpy"] if exercise.kind == "function" else backends
            pending[index] = {
                b: pool.submit(
                    _run_submission,
                    sub,
                    exercise,
                    b,
                    refs[exercise.name] if exercise.kind == "function" else refs[b][exercise.name],
                    limits,
                )
                for b in run_on
            }
        done = []
        for index, (sub, exercise) in enumerate(loaded):
            run_on = ["numpy"] if exercise.kind == "function" else backends
            runs = {}
            if isinstance(pending[index], list):
                tests = checks.all_failed(exercise, run_on, "\n".join(pending[index]))
            else:
                runs = {b: f.result() for b, f in pending[index].items()}
                tests = []
                for b in run_on:
                    reference = (
                        refs[exercise.name]
                        if exercise.kind == "function"
                        else refs[b][exercise.name]
                    )
                    tests += checks.evaluate(exercise, b, reference, runs[b])
            graded = reports.GradeReport(
                submission=sub.path,
                exercise=exercise.name,
                backends=run_on,
                tests=tests,
                notes=list(sub.notes),
                runs={b: reports.run_summary(r) for b, r in runs.items()},
            )
            done.append(graded)
            if progress is not None:
                progress(graded)
    for graded in done:
        graded.total_seconds = time.monotonic() - started
    return done


def grade(submission, exercise, backends=None, limits=Limits(), jobs=None):
    """Grades one submission on every backend.

    Args:
        submission: path (``.py`` or ``.ipynb``) or a
            :class:`~kcv.grading.submission.Submission`.
        exercise: str or exercise object.
        backends: list of backend names, default the installed ones.
        limits: :class:`Limits`.
        jobs: int or None. Processes at once (default: one per backend).

    Returns:
        A :class:`~kcv.grading.report.GradeReport`.

    Example:

    >>> report = grade("exercises/solutions/encoding.py", "encoding", backends=["jax"])
    >>> report.score == report.max_score
    True
    """
    backends = list(backends) if backends else default_backends()
    return grade_many([(submission, exercise)], backends, limits, jobs or len(backends))[0]


def default_backends():
    """The installed backends among jax, tensorflow and torch."""
    from kcv import backend

    return [b for b, version in backend.installed_backends().items() if version]
