"""Grading runs: references first, then every submission on every backend, then the verdicts.

:func:`grade_many` loads the submissions, refuses those the source scan
rejects (:func:`kcv.grading.submission.static_problems`), asks a
:class:`~kcv.grading.jobs.References` for the reference outputs (one clean
process per backend, before any submission runs), runs each submission once
per backend in an isolated process (:func:`kcv.grading.sandbox.run_process`,
up to ``jobs`` at a time) and scores the results
(:func:`kcv.grading.checks.evaluate`) into one
:class:`~kcv.grading.report.GradeReport` per submission.

Nothing is kept between calls unless the caller passes the same
``references`` object to several of them.

Example:

>>> from kcv.grading import runner
>>> reports = runner.grade_many([("exercises/solutions/squeeze_excite.py",
...                               "squeeze_excite")], backends=["jax"])
>>> reports[0].score == reports[0].max_score
True
"""

import concurrent.futures
import time

from kcv.grading import cgroup
from kcv.grading import checks
from kcv.grading import exercises as exercise_registry
from kcv.grading import jobs as grading_jobs
from kcv.grading import report as reports
from kcv.grading import sandbox
from kcv.grading import submission as submissions


def default_backends():
    """The installed backends among jax, tensorflow and torch."""
    from kcv import backend

    return [b for b, version in backend.installed_backends().items() if version]


def check_backends(backends):
    """``backends`` as a list, each a known backend (:data:`kcv.grading.sandbox.BACKENDS`).

    Raises:
        ValueError: naming ``backends`` when one is unknown or the list is empty.
    """
    backends = list(backends)
    unknown = [b for b in backends if b not in sandbox.BACKENDS]
    if unknown or not backends:
        from kcv import _validation  # imports Keras: only when there is an error to word

        _validation.fail("backends", f"some of {', '.join(sandbox.BACKENDS)}", backends)
    return backends


def _backends(backends):
    """The backends to grade on: checked, or the installed ones."""
    return check_backends(backends if backends else default_backends())


def _load(items):
    """``[(Submission, exercise)]`` from paths or submissions, names or exercises."""
    loaded = []
    for sub, exercise in items:
        exercise = exercise if hasattr(exercise, "kind") else exercise_registry.get(exercise)
        sub = sub if isinstance(sub, submissions.Submission) else submissions.load_submission(sub)
        loaded.append((sub, exercise))
    return loaded


def _backends_of(exercise, backends):
    """Function exercises run once, on numpy; layer exercises on every backend."""
    return ["numpy"] if exercise.kind == "function" else backends


def _fetch_references(pool, references, loaded, backends):
    """Computes every reference ``loaded`` needs, the layer ones one process per backend."""
    layer_exercises = list({e.name: e for _, e in loaded if e.kind == "layer"}.values())
    if layer_exercises:
        futures = [pool.submit(references.layers, layer_exercises, b) for b in backends]
        for future in futures:
            future.result()
    for exercise in {e.name: e for _, e in loaded if e.kind == "function"}.values():
        references.function(exercise)


def _run_submission(submission, exercise, backend, references, limits):
    """One submission on one backend: a :class:`~kcv.grading.sandbox.Run`, results unprefixed."""
    spec, arrays = grading_jobs.submission_job(exercise, references.of(exercise, backend))
    run = sandbox.run_process(
        "submission",
        exercise.kind,
        backend,
        spec,
        arrays,
        limits,
        source=submission.source,
        cache=references.cache,
    )
    run.results = grading_jobs.submission_results(run.results)
    return run


def _start_runs(pool, references, loaded, backends, limits):
    """``[problems or {backend: future}]``, one per submission, in order."""
    pending = []
    for sub, exercise in loaded:
        problems = submissions.static_problems(sub, exercise)
        if problems:
            pending.append(problems)
            continue
        pending.append(
            {
                b: pool.submit(_run_submission, sub, exercise, b, references, limits)
                for b in _backends_of(exercise, backends)
            }
        )
    return pending


def _report(sub, exercise, backends, pending, references):
    """The :class:`~kcv.grading.report.GradeReport` of one submission, once its runs are done."""
    run_on = _backends_of(exercise, backends)
    runs = {}
    if isinstance(pending, list):
        tests = checks.all_failed(exercise, run_on, "\n".join(pending))
    else:
        runs = {b: future.result() for b, future in pending.items()}
        tests = []
        for b in run_on:
            tests += checks.evaluate(exercise, b, references.of(exercise, b), runs[b])
    return reports.GradeReport(
        submission=sub.path,
        exercise=exercise.name,
        backends=run_on,
        tests=tests,
        notes=list(sub.notes),
        runs={b: reports.run_summary(r) for b, r in runs.items()},
    )


def grade_many(items, backends=None, limits=None, jobs=1, progress=None, references=None):
    """Grades submissions, each on every backend, in isolated processes.

    Args:
        items: list of ``(submission, exercise)``: a path or a
            :class:`~kcv.grading.submission.Submission`, and an exercise name
            or object.
        backends: list of backend names (default: the installed ones among
            jax, tensorflow, torch). Function exercises run once, on numpy.
        limits: :class:`~kcv.grading.sandbox.Limits`, or None for the defaults.
        jobs: int >= 1. Processes run at the same time.
        progress: callable ``progress(report)`` called as each submission is
            done, or None.
        references: a :class:`~kcv.grading.jobs.References` to take the
            reference outputs from (and add the missing ones to), so that
            several calls share them; None computes them for this call only,
            under ``limits``.

    Returns:
        A list of :class:`~kcv.grading.report.GradeReport`, in the order of
        ``items``.

    Raises:
        ValueError: for unknown backends or exercises, ``jobs`` < 1, or
            ``limits.isolation='jail'`` where no jail can be made.
        GradingError: (:class:`kcv.grading.jobs.GradingError`) when a
            reference process fails.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        from kcv import _validation  # imports Keras: only when there is an error to word

        _validation.fail("jobs", "an integer >= 1", jobs)
    backends = _backends(backends)
    limits = (limits if limits is not None else sandbox.Limits()).resolved()
    loaded = _load(items)
    notes = []
    if limits.isolation == "process":
        why = limits.fallback or "isolation='process'"
        notes.append(f"isolation: resource limits only, no jail ({why}); see kcv.grading.jail")
    references = references if references is not None else grading_jobs.References(limits)
    started = time.monotonic()
    done, memory_note = [], None
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        _fetch_references(pool, references, loaded, backends)
        pending = _start_runs(pool, references, loaded, backends, limits)
        for (sub, exercise), runs in zip(loaded, pending):
            graded = _report(sub, exercise, backends, runs, references)
            graded.notes += notes
            if any(run["memory"] == "rlimit" for run in graded.runs.values()):
                memory_note = memory_note or _memory_note()  # one check per batch
                graded.notes.append(memory_note)
            done.append(graded)
            if progress is not None:
                progress(graded)
    for graded in done:
        graded.total_seconds = time.monotonic() - started
    return done


def _memory_note():
    why = cgroup.unavailable() or "the cgroup could not be made for this submission"
    return f"memory: shared memory uncapped ({why}); see kcv.grading.cgroup"


def grade(submission, exercise, backends=None, limits=None, jobs=None):
    """Grades one submission on every backend.

    Args:
        submission: path (``.py`` or ``.ipynb``) or a
            :class:`~kcv.grading.submission.Submission`.
        exercise: str or exercise object.
        backends: list of backend names, default the installed ones.
        limits: :class:`~kcv.grading.sandbox.Limits`, or None for the defaults.
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
