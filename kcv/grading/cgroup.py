"""A memory cgroup per grading process: one cap on every kind of memory it uses.

``RLIMIT_DATA`` (:func:`kcv.grading.sandbox.run_process`) caps a process's
private writable mappings, but not shared memory: ``mmap(MAP_SHARED |
MAP_ANONYMOUS)``, ``memfd_create`` and files in a tmpfs are charged to no
rlimit at all. A memory cgroup charges every page its processes touch, of
whatever kind, and the kernel's OOM killer ends the group's processes when
they reach its cap (``memory.max`` in cgroup v2, ``memory.limit_in_bytes``
with swap included via ``memory.memsw.limit_in_bytes`` in v1). Each grading
process gets a cgroup of its own, made under the grader's own cgroup,
entered between fork and exec (so everything the process starts is in it),
and removed after the process and everything it left are gone.

Making one needs write access to the grader's cgroup: root in most
containers (cgroup v1, or v2 with the memory controller delegated), a
systemd-delegated unit for a teacher's own account. Where it cannot be made,
:func:`unavailable` says why and the grader keeps the rlimit, saying so in
its reports (:func:`kcv.grading.runner.grade_many`).

Example:

>>> group = MemoryGroup.create(512 << 20)  # doctest: +SKIP
>>> subprocess.run(cmd, preexec_fn=group.enter)  # doctest: +SKIP
>>> group.out_of_memory(), group.remove()  # doctest: +SKIP
(False, 0)

Reference:
    The Linux kernel's "Control Group v2" (Documentation/admin-guide/cgroup-v2.rst,
    "Memory") and "Memory Resource Controller" (cgroup-v1/memory.rst).
"""

import itertools
import os
import signal
import time

ROOT = "/sys/fs/cgroup"
_COUNTER = itertools.count()


def _own_cgroups():
    """``(version, path)`` of this process's memory cgroup, or None (from /proc/self/cgroup)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:  # v1: "4:memory:/path"; several controllers may share a line
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return 1, os.path.join(ROOT, "memory", path.lstrip("/"))
    for line in lines:  # v2: "0::/path"
        if line.startswith("0::"):
            return 2, os.path.join(ROOT, line[3:].lstrip("/"))
    return None


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class MemoryGroup:
    """A fresh memory cgroup with a cap; see the module's docstring.

    Args:
        version: 1 or 2, the cgroup hierarchy.
        path: str. The cgroup's folder.
        limit: int. Its cap in bytes.
    """

    def __init__(self, version, path, limit):
        self.version, self.path, self.limit = version, path, limit

    @classmethod
    def create(cls, limit):
        """Makes a cgroup under this process's own, capped at ``limit`` bytes, swap included.

        Args:
            limit: int. Bytes.

        Returns:
            A :class:`MemoryGroup`.

        Raises:
            OSError: where none can be made here (the message says why).
        """
        found = _own_cgroups()
        if found is None:
            raise OSError("this system has no memory cgroup")
        version, parent = found
        if version == 2:
            if "memory" not in _read(os.path.join(parent, "cgroup.controllers")).split():
                raise OSError(f"the memory controller is not delegated to {parent}")
            if "memory" not in _read(os.path.join(parent, "cgroup.subtree_control")).split():
                _write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
        path = os.path.join(parent, f"kcv-grade-{os.getpid()}-{next(_COUNTER)}")
        os.mkdir(path)
        group = cls(version, path, int(limit))
        try:
            if version == 2:
                _write(os.path.join(path, "memory.max"), str(group.limit))
                swap = os.path.join(path, "memory.swap.max")
                if os.path.exists(swap):
                    _write(swap, "0")
            else:
                _write(os.path.join(path, "memory.limit_in_bytes"), str(group.limit))
                swap = os.path.join(path, "memory.memsw.limit_in_bytes")
                if os.path.exists(swap):  # memory + swap: none of it may go to swap
                    _write(swap, str(group.limit))
        except OSError:
            os.rmdir(path)
            raise
        return group

    def enter(self):
        """Moves the calling process into the group: a ``preexec_fn`` (between fork and exec)."""
        _write(os.path.join(self.path, "cgroup.procs"), str(os.getpid()))

    def pids(self):
        """The processes in the group now."""
        return [int(p) for p in _read(os.path.join(self.path, "cgroup.procs")).split()]

    def out_of_memory(self):
        """True when the kernel killed a process of the group for reaching the cap."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in _read(os.path.join(self.path, name)).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
        # Kernels before 4.13 count no oom_kill in v1: the cap was hit, at least.
        return self.version == 1 and int(_read(os.path.join(self.path, "memory.failcnt")) or 0) > 0

    def remove(self):
        """Kills what is still in the group, then removes it; returns how many were killed.

        Nothing escapes a cgroup by forking or by leaving its session, so this
        sweep finds what the process-table sweep might miss.
        """
        killed = set()
        for _ in range(500):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                killed.add(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        for _ in range(100):  # the kernel frees the group shortly after its last process
            try:
                os.rmdir(self.path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        return len(killed)


def unavailable():
    """Why no memory cgroup can be made here (a sentence), or None when one can."""
    try:
        MemoryGroup.create(64 << 20).remove()
    except OSError as error:
        return f"no memory cgroup: {error}"
    return None
