"""Process isolation: one probe process per backend, under limits, with capped output.

:func:`run_process` starts :mod:`kcv.grading.probe` as a script in a fresh
interpreter that

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
* runs in a memory cgroup of its own where one can be made
  (:mod:`kcv.grading.cgroup`), which caps the shared memory ``RLIMIT_DATA``
  misses and holds everything the process starts;
* gets a clean environment (:func:`environment`: ``PATH``, ``HOME`` and
  ``TMPDIR`` in a fresh temporary directory that is also its working
  directory, ``KERAS_BACKEND``, CPU-only single-threaded backend settings,
  and kcv's recommended process settings from
  :func:`kcv.environment.settings`; nothing else of the grader's
  environment) and runs ``python -I`` (no ``PYTHONPATH``, no user site);
* has its stdout and stderr read through a pipe of which the grader keeps the
  first and last ``output_kib / 2`` KiB (:class:`CappedReader`), so a flood
  costs nothing;
* receives the submission's code on stdin (never on disk, where another
  process could change it) and its job after it imported the submission, and
  returns plain arrays through an inherited pipe (no file to guess or
  overwrite), read up to a size cap and loaded by :func:`load_results`
  with ``allow_pickle=False`` after the archive's declared sizes and array
  headers are checked.

Where bubblewrap works (``Limits.isolation``, default ``"auto"``), the probe
also runs in a jail of its own (:mod:`kcv.grading.jail`): a read-only view
of only what it needs, its own ``/tmp``, ``/proc`` and network; the jail's
first process reports the probe's exit status and the processes it left.
There, JAX processes share compiled programs: the reference process writes
them to a cache the submissions read, bound read-only
(:func:`compilation_cache`).

This module knows processes, not exercises: what a job holds is
:mod:`kcv.grading.jobs`' business, what it is worth :mod:`kcv.grading.checks`'.

Example:

>>> import numpy as np
>>> spec = {"tasks": [{"kind": "function", "name": "f", "cases": []}]}
>>> run = run_process("submission", "function", "jax", spec, {}, Limits(timeout=60),
...                   source="def f():\\n    return 1\\n")  # doctest: +SKIP
>>> run.problem is None, run.leftovers                       # doctest: +SKIP
(True, 0)
"""

import ctypes
import dataclasses
import functools
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

import numpy as np

from kcv import environment as kcv_environment
from kcv.grading import cgroup
from kcv.grading import jail
from kcv.grading import probe

PROBE = os.path.abspath(probe.__file__)
KCV_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(PROBE)))
BACKENDS = ("jax", "tensorflow", "torch")
ISOLATIONS = ("auto", "jail", "process")

_NPY_NAME = re.compile(r"[A-Za-z0-9_./-]{1,200}\.npy")


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
        jail_mib: int. Size of the jail's ``/tmp`` and ``/dev/shm``, MiB each.
        isolation: ``"jail"`` (bubblewrap, :mod:`kcv.grading.jail`; an
            error where it cannot run), ``"process"`` (the limits above
            only) or ``"auto"`` (the jail where it works).
        fallback: str or None. Why ``"auto"`` chose ``"process"``: set by
            :meth:`resolved`, for the report's note.

    Example:

    >>> Limits(timeout=60).memory_mib
    4096
    """

    timeout: float = 180.0
    memory_mib: int = 4096
    file_mib: int = 32
    output_kib: int = 64
    results_mib: int = 64
    reference_timeout: float = 900.0
    jail_mib: int = 256
    isolation: str = "auto"
    fallback: str | None = None

    def __post_init__(self):
        # Imported here: kcv._validation imports Keras, which a grader that
        # was given its backends never needs in its own process.
        if self.isolation not in ISOLATIONS:
            from kcv import _validation

            _validation.fail("isolation", f"one of {', '.join(ISOLATIONS)}", self.isolation)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("isolation", "fallback"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                from kcv import _validation

                _validation.fail(field.name, "a positive number", value)

    def resolved(self):
        """These limits with ``isolation`` decided (``"auto"`` tries the jail here).

        Returns:
            :class:`Limits` with ``isolation`` ``"jail"`` or ``"process"``;
            where ``"auto"`` fell back, ``fallback`` says why.

        Raises:
            ValueError: ``isolation="jail"`` where no jail can be made.
        """
        if self.isolation == "process":
            return self
        problem = jail.unavailable()
        if problem and self.isolation == "jail":
            raise ValueError(f"`isolation` 'jail' cannot be used here: {problem}.")
        if problem:
            return dataclasses.replace(self, isolation="process", fallback=problem)
        return dataclasses.replace(self, isolation="jail")


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
        isolation: ``"jail"`` or ``"process"`` (see :class:`Limits`).
        memory: ``"cgroup"`` (every kind of memory capped, see
            :mod:`kcv.grading.cgroup`) or ``"rlimit"`` (private mappings only).
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
    isolation: str = "process"
    memory: str = "rlimit"


# ---------------------------------------------------------------------------
# Pipes


class CappedReader(threading.Thread):
    """Drains a pipe; keeps ``head`` bytes from the start and ``tail`` from the end.

    Args:
        stream: a binary file object (closed when the pipe is drained).
        head: int. Bytes kept from the start.
        tail: int. Bytes kept from the end.

    Example:

    >>> reader = CappedReader(io.BufferedReader(io.BytesIO(b"abcdef")), 2, 2)
    >>> reader.run(); reader.text()
    'ab\\n[... 2 bytes of output dropped ...]\\nef'
    """

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
        """What was kept, decoded, with a line saying how much was dropped between."""
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


# ---------------------------------------------------------------------------
# Processes and what they leave behind


class _Children:
    """The grading processes this process is running, shared by all its threads.

    Process-wide on purpose, not per grading run: every grading process of
    this interpreter is its child, and orphans re-parent to this process
    whichever run started them, so the sweep after one run must know the
    grading processes of every other run still going in another thread (it
    would kill them otherwise). The lock also keeps a sweep from reading the
    process table while a new grading process is being started.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.live = set()


_CHILDREN = _Children()


def become_subreaper():
    """Makes orphaned descendants re-parent to this process (Linux); True on success.

    Idempotent and cheap: called before every process starts.
    """
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


def _victims(table, leader, me, live):
    """Processes in ``leader``'s session or group, orphans adopted by ``me``, descendants."""
    victims = {
        pid
        for pid, (_, ppid, pgid, sid) in table.items()
        if pid != me and (sid == leader or pgid == leader or (ppid == me and pid not in live))
    }
    grew = victims
    while grew:
        grew = {
            pid
            for pid, (_, ppid, _, _) in table.items()
            if ppid in grew and pid not in victims and pid not in live
        }
        victims |= grew
    return victims


def sweep(leader):
    """Kills and reaps what the process ``leader`` left; returns how many were alive.

    Victims: processes in ``leader``'s session or process group, orphans this
    process adopted (as subreaper) that are not a running grading process, and
    all their descendants. Repeats until none is left (a fork bomb keeps
    forking while it is being killed).

    Args:
        leader: int. The pid of a grading process that has ended.

    Returns:
        int: the number of processes that were alive (zombies not counted).
    """
    me, alive = os.getpid(), set()
    for _ in range(500):
        with _CHILDREN.lock:
            table = _process_table()
            victims = _victims(table, leader, me, _CHILDREN.live)
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


def _set_limits(limits, nproc, group=None):
    """Runs in the child between fork and exec: the rlimits, then the memory cgroup."""

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
    if group is not None:
        group.enter()


def environment(home, backend):
    """The whole environment of a grading process.

    kcv's recommended process settings (:func:`kcv.environment.settings`:
    TensorFlow's oneDNN kernels on, its INFO start-up messages off, kcv's XLA
    flags after the sandbox's) under the sandbox's own: a home of its own,
    the backend, CPU only, one thread.
    Nothing comes from the grader's environment, so a grade does not depend
    on the shell it was started from.

    Args:
        home: str. The process's home, temporary and working directory.
        backend: str. Its ``KERAS_BACKEND``.

    Returns:
        dict of str.

    Example:

    >>> environment("/tmp/x", "jax")["TF_ENABLE_ONEDNN_OPTS"]
    '1'
    """
    clean = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "KERAS_BACKEND": backend,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "JAX_PLATFORMS": "cpu",
        # JAX compiles its random generator anew for every shape a layer draws
        # initial weights of (each a few tenths of a second on the CPU); the
        # non-partitionable threefry compiles in about 60 % of the time. Only
        # the random bits change, and no verdict depends on them.
        "JAX_THREEFRY_PARTITIONABLE": "0",
        "CUDA_VISIBLE_DEVICES": "",
        **kcv_environment.thread_settings(1),
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    }
    return {**clean, **kcv_environment.settings(clean)}


def compilation_cache(path, mode):
    """The environment that lets a JAX process share compiled programs through ``path``.

    Compiling is most of a JAX grading process's work (every eager operation
    is a program of its own), and a submission that does what the reference
    does compiles the same programs. The reference process writes every
    program it compiles to ``path``; a submission reads them and writes
    nothing (JAX writes only programs that took longer to compile than its
    threshold, here never). The jail binds ``path`` writable for the
    reference process and read-only for a submission, so no submission can
    plant a program another process would run; :func:`run_process` gives it
    to jailed processes only.

    Args:
        path: str or None. The cache directory (None: no cache, ``{}``).
        mode: ``"reference"`` (writes) or ``"submission"`` (reads).

    Returns:
        dict of str: ``JAX_COMPILATION_CACHE_DIR`` and its thresholds.

    Example:

    >>> compilation_cache("/tmp/c", "submission")["JAX_COMPILATION_CACHE_DIR"]
    '/tmp/c'
    """
    if path is None:
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": path,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0" if mode == "reference" else "1e9",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "JAX_COMPILATION_CACHE_MAX_SIZE": "-1",  # no eviction: no lock file to write
    }


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ---------------------------------------------------------------------------
# Results


def _check_archive(data, cap):
    """Raises ValueError unless ``data`` is a zip of ``.npy`` members that fit ``cap``."""
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


def load_results(data, cap):
    """Plain arrays from an untrusted ``.npz``; raises ValueError when it is not one.

    Checked before anything is unpacked: nothing precedes the archive, member
    names, their declared sizes (against ``cap``, so a zip bomb is refused),
    each ``.npy`` header (the shape must fit the member's size); after
    loading: numeric, boolean or string arrays only (``allow_pickle=False``
    refuses objects).

    Args:
        data: bytes. What the process wrote to its results pipe.
        cap: int. Most bytes the arrays may unpack to.

    Returns:
        ``{name: numpy array}``.

    Example:

    >>> buffer = io.BytesIO(); np.savez(buffer, a=np.ones(2))
    >>> load_results(buffer.getvalue(), 1 << 20)["a"]
    array([1., 1.])
    """
    if not data:
        raise ValueError("no results were written")
    try:
        _check_archive(data, cap)
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


# ---------------------------------------------------------------------------
# One process


def _job_bytes(source, spec, arrays):
    """What the process reads on stdin: the code (8-byte length first), then the job."""
    buffer = io.BytesIO()
    code = (source or "").encode("utf-8")
    buffer.write(len(code).to_bytes(8, "big") + code)
    np.savez(buffer, spec=np.array(json.dumps(spec)), **arrays)
    return buffer.getvalue()


def _start(mode, kind, backend, home, limits, group, results_fd, status_fd=None, cache=None):
    """Starts the probe in its own session, under ``limits`` and in ``group``, registered as live.

    With a ``status_fd`` the probe runs in a jail (:func:`kcv.grading.jail.command`)
    whose home replaces ``home`` and whose first process reports on that
    descriptor; only there does a JAX process get the compilation ``cache``
    (see :func:`run_process`).
    """
    command = [sys.executable, "-I", PROBE, "--mode", mode, "--kind", kind]
    command += ["--kcv-root", KCV_ROOT, "--results-fd", str(results_fd)]
    fds, inner_home, shared = (results_fd,), home, {}
    if status_fd is not None:
        binds, hide, expose = jail.binds_for(KCV_ROOT, mode)
        shared = compilation_cache(cache if backend == "jax" else None, mode)
        writable = [cache] if shared and mode == "reference" else []
        binds += [cache] if shared and mode != "reference" else []
        command = jail.command(
            command, status_fd, binds, limits.jail_mib, hide, expose, writable=writable
        )
        fds, inner_home = (results_fd, status_fd), jail.HOME
    nproc = None if os.geteuid() == 0 else _user_tasks() + 512
    with _CHILDREN.lock:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=home,
            env={**environment(inner_home, backend), **shared},
            pass_fds=fds,
            start_new_session=True,
            preexec_fn=functools.partial(_set_limits, limits, nproc, group),
        )
        _CHILDREN.live.add(process.pid)
    return process


def _wait(process, timeout):
    """Waits for the process; kills its group at the timeout. Returns whether it timed out."""
    try:
        process.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.wait()
        return True


def _exit_problem(returncode, limits):
    """Why a process that exited with ``returncode`` (not 0) gave no results."""
    if returncode >= 0:
        return f"exited with status {returncode} before finishing"
    name = _signal_name(-returncode)
    hint = {
        "SIGKILL": " (killed: out of memory, or by the grader)",
        "SIGXCPU": " (its CPU-time limit)",
        "SIGXFSZ": f" (it wrote a file larger than {limits.file_mib} MiB)",
        "SIGABRT": f" (aborted: often a failed allocation under the {limits.memory_mib} MiB cap)",
        "SIGSEGV": " (a segmentation fault)",
    }.get(name, "")
    return f"was killed by {name}{hint}"


def _cgroup_mib(limits):
    """The memory cgroup's cap: the data segment's plus the jail's two tmpfs."""
    return limits.memory_mib + 2 * limits.jail_mib


def _memory_group(limits):
    """A :class:`kcv.grading.cgroup.MemoryGroup` for one process, or None where none can be made."""
    try:
        return cgroup.MemoryGroup.create(_cgroup_mib(limits) << 20)
    except OSError:
        return None


def _conclude(run, results, limits, timeout, out_of_memory=False):
    """Sets ``run.results`` from the results pipe, or ``run.problem`` to why not."""
    if run.timed_out:
        run.problem = f"timed out after {timeout:.0f} s; its processes were killed"
    elif run.returncode != 0 and out_of_memory:
        run.problem = (
            f"was killed for using more than {_cgroup_mib(limits)} MiB of memory "
            "(all kinds, shared memory and tmpfs files included)"
        )
    elif results.truncated:
        run.problem = f"its results exceed the {limits.results_mib} MiB cap"
    elif run.returncode != 0:
        run.problem = _exit_problem(run.returncode, limits)
    else:
        try:
            run.results = load_results(bytes(results.first), limits.results_mib << 20)
        except ValueError as error:
            run.problem = (
                f"ended (status 0) without valid results — os._exit() or a write to the "
                f"results channel? ({error})"
            )


def run_process(mode, kind, backend, spec, arrays, limits, source=None, cache=None):
    """Runs the probe once, isolated; returns a :class:`Run`.

    Args:
        mode: ``"submission"`` or ``"reference"``.
        kind: ``"layer"`` or ``"function"``.
        backend: str. ``KERAS_BACKEND`` of the process.
        spec: dict. The job spec (``{"tasks": [...]}``).
        arrays: dict of numpy arrays sent with the job.
        limits: :class:`Limits`.
        source: str. The submission's code (submission mode).
        cache: str or None. A directory of JAX compiled programs, used on
            JAX in the jail only: a reference process writes it, a
            submission reads it (:func:`compilation_cache`).

    Returns:
        A :class:`Run`; ``results`` is None when the process gave no usable
        results, and ``problem`` says why.
    """
    become_subreaper()
    limits = limits.resolved() if limits.isolation == "auto" else limits
    timeout = limits.timeout if mode == "submission" else limits.reference_timeout
    job = _job_bytes(source, spec, arrays)
    run = Run(backend, isolation=limits.isolation)
    jailed = limits.isolation == "jail"
    group = _memory_group(limits)
    run.memory = "rlimit" if group is None else "cgroup"
    with tempfile.TemporaryDirectory(prefix="kcv-grade-", ignore_cleanup_errors=True) as home:
        pipes = [os.pipe() for _ in range(2 if jailed else 1)]
        start = time.monotonic()
        try:
            process = _start(
                mode,
                kind,
                backend,
                home,
                limits,
                group,
                *(write_end for _, write_end in pipes),
                cache=cache,
            )
        except BaseException:
            for read_end, _ in pipes:
                os.close(read_end)
            if group is not None:
                group.remove()
            raise
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        half = limits.output_kib << 9
        readers = [
            CappedReader(process.stdout, half, half),
            CappedReader(open(pipes[0][0], "rb"), limits.results_mib << 20),  # noqa: SIM115 (the reader closes it)
        ]
        if jailed:
            readers.append(CappedReader(open(pipes[1][0], "rb"), 0, 4096))  # noqa: SIM115
        writer = threading.Thread(target=_writer, args=(process.stdin, job), daemon=True)
        for thread in (*readers, writer):
            thread.start()
        run.timed_out = _wait(process, timeout)
        swept = sweep(process.pid)
        out_of_memory = False
        if group is not None:  # kills what escaped the sweep (none should have)
            out_of_memory = group.out_of_memory()
            swept += group.remove()
        # In the jail, what the probe left is counted inside it (the jail's own
        # processes are still dying here); outside, by the sweeps.
        run.leftovers = 0 if jailed else swept
        with _CHILDREN.lock:
            _CHILDREN.live.discard(process.pid)
        for thread in (*readers, writer):
            thread.join(timeout=10)
        run.seconds = time.monotonic() - start
    output, results = readers[:2]
    run.returncode = process.returncode
    run.output, run.output_bytes = output.text(), output.total
    if jailed and not run.timed_out:
        _jail_status(run, readers[2])
    _conclude(run, results, limits, timeout, out_of_memory)
    return run


def _jail_status(run, status):
    """The probe's exit status and leftovers from the jail's report (see :mod:`kcv.grading.jail`)."""
    report = jail.parse_status(bytes(status.last))
    if report is None:
        # The jail's first process never reported: killed from inside, or the jail failed.
        run.returncode = run.returncode or -signal.SIGKILL
        run.output += "\n[the jail ended without its report: its first process was killed]"
        return
    run.returncode, run.leftovers = report
