"""A bubblewrap jail for grading processes (Linux): what they may see, write and reach.

:mod:`kcv.grading.sandbox` limits a grading process's resources and kills
what it leaves; inside the same user account it cannot hide the grader's
files, processes or network. Where `bubblewrap <https://github.com/containers/bubblewrap>`_
(``bwrap``) works, every grading process starts inside a jail of its own:

* **a filesystem of read-only binds**: the system's libraries (``/usr``,
  ``/lib*``, ``/bin``, a few files of ``/etc``), the Python installation and
  the virtual environment, and of kcv only what the process needs — for a
  submission the probe script and ``kcv/backend.py``, never the reference
  implementations, the exercises' solutions or the repository around them
  (kcv's installed package directory, where it lies inside a bound
  environment, is replaced by an empty one first);
* **its own, size-capped, writable memory file systems**: ``/tmp`` (its home
  and working directory) and ``/dev/shm``, gone when it ends — nothing it
  writes reaches the grader's disk, its home (``~/.keras``) or the next
  submission (the one exception is a reference process's ``writable``
  directory: on JAX, the compilation cache the submissions then read,
  :func:`kcv.grading.sandbox.compilation_cache`);
* **its own process, IPC and network namespaces** (``--unshare-all``): it
  sees only its own processes in ``/proc`` (not the grader's environment
  or memory), has no network but a loopback of its own, and every process
  it leaves dies with the jail (``--die-with-parent`` ties the jail to the
  grader too);
* **no capabilities, no new privileges**, and a session of its own (no
  terminal injection).

The jail's first process is this file run as a script (:func:`main`): it
starts the probe, waits for it, then counts, kills and reports on a status
pipe the processes the probe left behind — the grader's sweep cannot see
them any more once the jail's namespace has been torn down. It reports last,
after every other process of the jail is dead, so a forged report written
earlier by the submission is superseded.

Where bubblewrap is missing or user namespaces are disabled (macOS, many
containers), :func:`unavailable` says why and the grader falls back to
process isolation alone, saying so in its reports.

Example:

>>> argv = command(["python3", "probe.py"], status_fd=5, binds=["/opt/python"],
...                size_mib=64)  # doctest: +SKIP
>>> argv[0].endswith("bwrap")  # doctest: +SKIP
True

Reference: the bubblewrap manual, ``bwrap(1)``.
"""

import os
import shutil
import signal
import subprocess
import sys

HOME = "/tmp/home"
# What the dynamic loader and the interpreters need of the system, read-only.
SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    # CPU topology: TensorFlow and XLA size their thread pools from it.
    "/sys/devices/system/cpu",
)


def executable():
    """The ``bwrap`` program on ``PATH``, or None."""
    return shutil.which("bwrap")


def command(argv, status_fd, binds, size_mib, hide=(), expose=(), writable=()):
    """The command line that runs ``argv`` in a jail, started by this file's :func:`main`.

    Args:
        argv: list of str. The command to jail (absolute interpreter path first).
        status_fd: int. The descriptor (inherited) the jail's first process
            reports on.
        binds: paths bound read-only at the same place (missing ones skipped).
        size_mib: int. Size of ``/tmp`` and of ``/dev/shm``, MiB each.
        hide: directories covered by an empty one after the binds.
        expose: files bound read-only after ``hide`` (into a hidden directory).
        writable: directories bound read-write at the same place, last.

    Returns:
        list of str.
    """
    jail = [executable() or "bwrap", "--die-with-parent", "--unshare-all", "--new-session"]
    jail += ["--cap-drop", "ALL", "--uid", "65534", "--gid", "65534"]
    # The memory file systems first: bubblewrap mounts in order, and a bind
    # below /tmp (an environment in /tmp/...) must land on top of them.
    size = str(int(size_mib) << 20)
    jail += ["--proc", "/proc", "--dev", "/dev"]
    jail += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm"]
    for path in (*SYSTEM, *binds):
        jail += ["--ro-bind-try", path, path]
    for path in hide:
        jail += ["--tmpfs", path]
    script = os.path.abspath(__file__)
    for path in (*expose, script):
        jail += ["--ro-bind", path, path]
    for path in writable:
        jail += ["--bind", path, path]
    jail += ["--dir", HOME, "--chdir", HOME, "--"]
    return [*jail, argv[0], "-I", script, "--status-fd", str(status_fd), "--", *argv]


def unavailable(python=None):
    """Why no jail can be made here (a sentence), or None when one can.

    Runs a trivial jailed command: bubblewrap may be installed where the
    kernel or a container forbids the namespaces it needs.

    Args:
        python: str. The interpreter to try (default: this one).

    Returns:
        str or None.
    """
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if executable() is None:
        return "bubblewrap (bwrap) is not installed"
    python = python or sys.executable
    read_end, write_end = os.pipe()
    try:
        argv = command([python, "-c", "pass"], write_end, _python_paths(), 1)
        done = subprocess.run(argv, capture_output=True, pass_fds=(write_end,), timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap could not start: {error}"
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        status = f.read()
    if done.returncode != 0 or not status:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap failed here ({reason[-1] if reason else done.returncode})"
    return None


def _python_paths():
    """The interpreter's installation and environment (binds of every jail)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(paths)


def binds_for(kcv_root, mode):
    """``(binds, hide, expose)`` of a grading process's jail.

    Args:
        kcv_root: str. The directory holding the ``kcv`` package.
        mode: ``"submission"`` (the probe script and ``kcv/backend.py`` only)
            or ``"reference"`` (the whole package).

    Returns:
        Three lists of paths, the arguments of :func:`command`.
    """
    package = os.path.join(kcv_root, "kcv")
    if mode == "reference":
        return [*_python_paths(), package], [], []
    files = [os.path.join(package, "backend.py"), os.path.join(package, "grading", "probe.py")]
    # An environment bound whole would show an installed kcv: hide it, then
    # bring back the two files.
    hidden = [package] if any(_inside(package, p) for p in _python_paths()) else []
    return _python_paths(), hidden, files


def _inside(path, parent):
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(parent)]) == (
        os.path.abspath(parent)
    )


# ---------------------------------------------------------------------------
# The jail's first process


def _jailed_processes():
    """The live processes of this PID namespace other than bubblewrap's (1) and this one."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, os.getpid()):
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            if data[data.rindex(b")") + 2 :].split()[0] != b"Z":
                found.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def main(argv=None):
    """Runs the command after ``--``, then reports ``status <wait status> leftovers <n>``."""
    argv = sys.argv[1:] if argv is None else argv
    status_fd, command_argv = int(argv[1]), argv[argv.index("--") + 1 :]
    os.set_inheritable(status_fd, False)
    child = subprocess.Popen(command_argv, close_fds=False)
    _, status = os.waitpid(child.pid, 0)
    leftovers = set()
    for _ in range(200):  # a fork bomb keeps forking while it is killed
        alive = _jailed_processes()
        if not alive:
            break
        leftovers.update(alive)
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
    os.write(status_fd, f"\nstatus {status} leftovers {len(leftovers)}\n".encode())
    os._exit(0)


def parse_status(data):
    """``(returncode, leftovers)`` from the last report on a status pipe, or None.

    ``returncode`` follows ``subprocess``: the exit status, or minus the
    signal that killed the process.
    """
    for line in reversed(data.decode("ascii", "replace").splitlines()):
        fields = line.split()
        if len(fields) == 4 and fields[0] == "status" and fields[2] == "leftovers":
            try:
                status, leftovers = int(fields[1]), int(fields[3])
            except ValueError:
                return None
            if os.WIFSIGNALED(status):
                return -os.WTERMSIG(status), leftovers
            return os.WEXITSTATUS(status), leftovers
    return None


if __name__ == "__main__":
    main()
