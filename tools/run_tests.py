"""Runs kcv's test suite once per backend, each in its own process.

    python tools/run_tests.py [--backends jax,tensorflow,torch] [--jobs N]
                              [--require-all] [-- PYTEST_ARGS...]

Keras reads KERAS_BACKEND once, at import, so every backend gets fresh
pytest processes with the variable set before anything is imported: one for
its tests, one for its chapters (``tests/test_chapters.py``). Tests marked
``backend_independent`` run once more, in two processes of their own (the
grader's and the others). The processes run in parallel, ``--jobs`` at a
time (default: as many as the machine has cores and memory for,
:func:`default_jobs`), in an order that keeps the lanes even
(:data:`_ORDER`), the machine's cores split between them
(:func:`lane_threads`). A run that selects no test
(``-- -k ...``) passes with nothing to report. Logs and JUnit XML go to
``test-results/``. A backend that is not installed is reported as SKIPPED
(never as passed); with ``--require-all`` it fails the run. The exit status
is non-zero when any run fails.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# This process only reads package metadata; Keras' numpy backend imports no framework.
os.environ["KERAS_BACKEND"] = "numpy"

from kcv import backend  # noqa: E402
from kcv import environment  # noqa: E402

RESULTS = os.path.join(ROOT, "test-results")
# Test tensors are tiny, so JAX spends the suite compiling, not computing.
# Every process of the run (pytest, the chapters' kernels, the cross-backend
# workers) shares its compilations through JAX's persistent cache instead of
# redoing them, and XLA compiles without its slow LLVM optimizations and with
# its older fusion emitters (same operations, slower code, far faster
# compilation). Building a small MSDNet in a fresh process dropped from about
# 25 s to 2 s with the first; the second took a selection of layer and model
# cases (34 tests) from 161 to 98 s of CPU time, both run side by side on
# this 2-core machine, and the JAX run alone (cold cache) to about 500 s.
# Every process also gets kcv's process settings (kcv.environment: TensorFlow's
# oneDNN kernels, no INFO start-up logs, kcv's XLA flags after these). The
# caller's environment takes precedence.
SPEEDUPS = {
    "JAX_COMPILATION_CACHE_DIR": os.path.join(RESULTS, "jax-cache"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false",
}


def lane_threads(jobs, cpus=None):
    """The thread settings of each of ``jobs`` parallel runs: the cores split between them.

    Every framework sizes its thread pools to the whole machine: two runs
    side by side on two cores then run four or more busy threads, and
    PyTorch's OpenMP threads, spinning while they wait for each other, lose
    most of their time. Measured on this 2-core machine: two torch chapters
    side by side took 59 and 62 s with the default threads, 19 and 17 s with
    one thread each (a chapter alone: 20 s).

    Args:
        jobs: int. Runs at a time.
        cpus: int or None. Cores to share (default: ``os.cpu_count()``).

    Returns:
        dict of environment variables (:func:`kcv.environment.thread_settings`).
        XLA keeps its own threads: its single-threaded CPU runtime flags break
        the JAX tests that simulate two devices.
    """
    return environment.thread_settings(max(1, (cpus or os.cpu_count() or 1) // max(1, jobs)))


# Memory to count per run side by side, in bytes. The largest process of each
# run peaked at (MiB; `make test` at 139cddc, the runner's "peak MiB" column):
# JAX's tests 9,737 (JAX keeps every program it compiled; 7,964 at 0af14b3,
# which drops them after each test file: tests/conftest.py), TensorFlow's 6,046,
# torch's 4,381, the backend-independent tests 3,236, the grader's 1,833, the
# chapters 1,198 to 1,414. With one run per 6 GiB, the largest runs that can
# go side by side fit: the four largest 23.3 GiB on a 24 GiB machine.
MEMORY_PER_RUN = 6 * 2**30


def default_jobs(runs, cpus=None, memory=None):
    """How many of ``runs`` pytest runs go side by side when ``--jobs`` is not given.

    One per core, so that a machine with more cores than this 2-core one
    finishes sooner (the runs are mostly single-threaded: JAX compiling,
    Python, Keras' import), but no more than the memory holds at
    :data:`MEMORY_PER_RUN` each, and no more than there are runs.

    Args:
        runs: int. The number of runs planned.
        cpus: int or None. Cores (default: ``os.cpu_count()``).
        memory: int or None. Bytes of memory (default: the machine's physical memory).

    Returns:
        int, at least 1.
    """
    cpus = cpus or os.cpu_count() or 1
    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, min(cpus, memory // MEMORY_PER_RUN, runs))


def _counts(xml_path):
    """(passed, failed, skipped) from a pytest JUnit XML file."""
    suite = ET.parse(xml_path).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    total, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    return total - failed - skipped, failed, skipped


CHAPTERS = "tests/test_chapters.py"
# The book builds from the chapters' FAST executions that the chapters' run
# has just stored, so its tests run in that process, after the chapters, under
# this backend (the first one run when JAX is not among them).
BOOK = "tests/test_book.py"
BOOK_BACKEND = "jax"
# The autograder's backend-independent tests (each grades in processes of its
# own) are a run apart from the other backend-independent tests: two runs of
# about 400 s instead of one of 800 s that the other lane waits for.
GRADING = ["tests/test_grading.py", "tests/test_nbgrader.py"]
NO_TESTS_SELECTED = 5  # pytest's exit status when -k / -m leave nothing to run
# The order the runs start in, from their times on a 2-core machine (JAX's
# tests about 580 s, the grading and the other backend-independent tests about
# 380 s each, each backend's chapters 200 to 280 s, TensorFlow's tests 190 s,
# torch's 85 s): with --jobs 2 the lanes then end within a minute of each other.
# By the same times (2,465 CPU-s in all, the JAX tests 640), four jobs would
# give the JAX tests about what each other slot gets; with more, the JAX tests,
# which start first, set the pace.
_ORDER = (
    "jax",
    "grading",
    "independent",
    "tensorflow-chapters",
    "torch-chapters",
    "jax-chapters",
    "tensorflow",
    "torch",
)


def plan(backends):
    """The pytest runs ``(label, KERAS_BACKEND, marker, paths)``, in the order they start.

    Per backend, its tests and its chapters are two runs, so that the shorter
    runs fill the gaps between the long ones; the book's tests follow the
    chapters of ``BOOK_BACKEND``; the backend-independent tests run once,
    under the first backend, the grader's (:data:`GRADING`) apart from the others.
    """
    runs = []
    book_backend = BOOK_BACKEND if BOOK_BACKEND in backends else (backends or [None])[0]
    for b in backends:
        runs.append(
            (b, b, "not backend_independent", ["tests", f"--ignore={CHAPTERS}", f"--ignore={BOOK}"])
        )
        runs.append(
            (
                f"{b}-chapters",
                b,
                "not backend_independent",
                [CHAPTERS, BOOK] if b == book_backend else [CHAPTERS],
            )
        )
    if backends:
        others = ["tests"] + [f"--ignore={path}" for path in GRADING]
        runs.append(("independent", backends[0], "backend_independent", others))
        runs.append(("grading", backends[0], "backend_independent", list(GRADING)))
    return sorted(runs, key=lambda run: _ORDER.index(run[0]))


def _run(label, keras_backend, marker, paths, pytest_args, threads):
    xml_path = os.path.join(RESULTS, f"{label}.xml")
    log_path = os.path.join(RESULTS, f"{label}.log")
    env = {**SPEEDUPS, **threads, **os.environ, "KERAS_BACKEND": keras_backend}
    env.update(environment.settings(env))
    command = [
        sys.executable,
        "-m",
        "pytest",
        *paths,
        "-m",
        marker,
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml_path}",
        "-q",
        *pytest_args,
    ]
    start = time.monotonic()
    print(
        f"[{label}] started: KERAS_BACKEND={keras_backend} pytest {' '.join(paths)} -m '{marker}'",
        flush=True,
    )
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        code, cpu, peak = _wait(process)
    seconds = time.monotonic() - start
    counts = _counts(xml_path) if os.path.exists(xml_path) else (0, 0, 0)
    ok = (code == 0 and sum(counts) > 0) or code == NO_TESTS_SELECTED
    print(
        f"[{label}] {'ok' if ok else 'FAILED'} in {seconds:.0f}s, {cpu:.0f} CPU-s "
        f"({counts[0]} passed, {counts[1]} failed, {counts[2]} skipped)",
        flush=True,
    )
    if not ok:
        with open(log_path) as log:
            print(
                f"[{label}] last lines of {os.path.relpath(log_path, ROOT)}:\n"
                + "".join(log.readlines()[-60:]),
                flush=True,
            )
    return {
        "label": label,
        "ok": ok,
        "code": code,
        "counts": counts,
        "seconds": seconds,
        "cpu": cpu,
        "peak_mib": peak,
    }


def _wait(process):
    """``(exit status, CPU seconds, peak MiB)`` of a finished ``subprocess.Popen``.

    The CPU time (user + system) is the whole process tree's: the kernel
    adds every descendant that was waited for to its parent's account, so
    the chapters' kernels, the grader's sandboxes and the cross-backend
    workers count in the run that started them. On two cores, two runs side
    by side have about 2 CPU-seconds per second between them: the CPU time,
    not the wall time, says what a run costs the others. The peak is the
    largest resident set of any one process of the tree (not their sum),
    what :data:`MEMORY_PER_RUN` is sized from. Linux carries a process's
    peak across fork and exec, so a process started by a large one reports
    at least its parent's resident set at that moment: never more than the
    parent's own peak, so the tree's largest is still right.
    """
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def chapter_matrix(directory=None):
    """The chapter × backend table recorded by tests/test_chapters.py, as Markdown.

    Returns None when no chapter ran.
    """
    directory = directory or os.path.join(RESULTS, "chapters")
    if not os.path.isdir(directory):
        return None
    runs = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                runs[name[: -len(".json")]] = json.load(f)
    chapters = sorted({chapter for records in runs.values() for chapter in records})
    if not chapters:
        return None
    backends = sorted(runs)
    lines = [
        "| chapter | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for chapter in chapters:
        cells = []
        for b in backends:
            r = runs[b].get(chapter)
            cells.append(
                "not run"
                if r is None
                else f"{r['status']} {r['seconds']:.0f}s, {r['figures']} fig."
            )
        lines.append(f"| {chapter} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def durations(labels, top=15):
    """Where the time went: the ``top`` test files by seconds, per run, as Markdown.

    Read from each run's JUnit XML (pytest's per-test times, setup and
    teardown included); None when no XML is there.
    """
    table = {}
    for label in labels:
        xml_path = os.path.join(RESULTS, f"{label}.xml")
        if not os.path.exists(xml_path):
            continue
        for case in ET.parse(xml_path).getroot().iter("testcase"):
            module = case.get("classname", "").split(".")[-1] or "?"
            per_run = table.setdefault(module, {})
            per_run[label] = per_run.get(label, 0.0) + float(case.get("time", 0))
    if not table:
        return None
    labels = [label for label in labels if any(label in row for row in table.values())]
    ranked = sorted(table.items(), key=lambda item: -sum(item[1].values()))[:top]
    lines = [
        "| test file | total | " + " | ".join(labels) + " |",
        "|---|---:|" + "---:|" * len(labels),
    ]
    for module, per_run in ranked:
        cells = [f"{per_run[label]:.0f}" if label in per_run else "" for label in labels]
        lines.append(f"| {module} | {sum(per_run.values()):.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(backend.BACKENDS))
    parser.add_argument(
        "--jobs", type=int, help="runs side by side (default: one per core, see default_jobs)"
    )
    parser.add_argument(
        "--require-all", action="store_true", help="fail when a requested backend is not installed"
    )
    parser.add_argument("pytest_args", nargs="*", help="passed to every pytest run (after --)")
    args = parser.parse_args(argv)

    requested = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(requested) - set(backend.BACKENDS))
    if unknown:
        parser.error(f"--backends must name {', '.join(backend.BACKENDS)}; received {unknown}")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be an integer >= 1; received {args.jobs}")
    installed = backend.installed_backends()
    present = [b for b in requested if installed[b]]
    missing = [b for b in requested if not installed[b]]
    os.makedirs(RESULTS, exist_ok=True)
    chapter_records = os.path.join(RESULTS, "chapters")
    if os.path.isdir(chapter_records):
        for name in os.listdir(chapter_records):
            os.remove(os.path.join(chapter_records, name))

    runs = plan(present)
    jobs = default_jobs(len(runs)) if args.jobs is None else min(args.jobs, max(1, len(runs)))
    threads = lane_threads(jobs)
    print(
        f"{len(runs)} runs, {jobs} at a time, {threads['OMP_NUM_THREADS']} threads each", flush=True
    )
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda r: _run(*r, args.pytest_args, threads), runs))

    print(
        f"\n{'run':<21}{'status':<26}{'passed':>8}{'failed':>8}{'skipped':>9}{'time':>8}{'CPU':>8}"
        f"{'peak MiB':>10}"
    )
    for r in results:
        p, f, s = r["counts"]
        status = "ok" if r["ok"] else f"FAILED (pytest exit {r['code']})"
        print(
            f"{r['label']:<21}{status:<26}{p:>8}{f:>8}{s:>9}{r['seconds']:>7.0f}s{r['cpu']:>7.0f}s"
            f"{r['peak_mib']:>10,.0f}"
        )
    for b in missing:
        print(
            f"{b:<21}{'SKIPPED (not installed)':<26}{'-':>8}{'-':>8}{'-':>9}{'-':>8}{'-':>8}{'-':>10}"
        )
    matrix = chapter_matrix()
    if matrix:
        with open(os.path.join(RESULTS, "chapters.md"), "w") as f:
            f.write("Chapters in FAST mode (status, time, figures), per backend:\n\n" + matrix)
        print("\nChapters in FAST mode (test-results/chapters.md):\n" + matrix)
    slowest = durations([r["label"] for r in results])
    if slowest:
        with open(os.path.join(RESULTS, "durations.md"), "w") as f:
            f.write("Seconds per test file and run (JUnit XML times):\n\n" + slowest)
        print("\nWhere the time went (test-results/durations.md):\n" + slowest)
    totals = [sum(r["counts"][i] for r in results) for i in range(3)]
    cpu = sum(r["cpu"] for r in results)
    print(
        f"wall time {time.monotonic() - start:.0f}s, {cpu:.0f} CPU-s; "
        "logs and JUnit XML in test-results/"
    )
    failed = any(not r["ok"] for r in results) or not totals[0] or (missing and args.require_all)
    if missing and args.require_all:
        print(f"backends not installed: {', '.join(missing)} (--require-all)")
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
