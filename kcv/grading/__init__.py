"""The autograder: exercises, isolated runs, numeric checks on every backend, reports.

Learners implement the blocks of the course (``exercises/*.ipynb``); ``kcv
grade`` runs a submission once per backend in an isolated process and
compares it with the reference implementation in :mod:`kcv.layers` (or
:mod:`kcv.adaptive`), computed in a separate clean process. Nothing in kcv
imports this package.

Modules:
    exercises   the registry: what each exercise asks, configurations,
                points, hints, tolerances.
    diagnoses   the common mistakes per exercise, each recognised from a
                wrong output by recomputing it (numpy, from the weights).
    report      text, JSON, Gradescope results.json, CSV.
    probe       what runs inside a grading process (arrays out); started
                as a script, it imports nothing of kcv.grading.
    submission  reading notebooks / .py files / folders; static checks.
    jail        the bubblewrap jail around each probe process (Linux): a
                read-only view of only what it needs, its own /tmp, /proc
                and network; stdlib only (its first process runs it).
    cgroup      a memory cgroup per probe process: one cap on every kind of
                memory (shared mappings too); stdlib only.
    sandbox     process isolation: one probe process under resource limits,
                clean environment, capped output, cleanup of what it leaves;
                in the jail and a memory cgroup where they can be made.
    jobs        the seeded inputs, specs and reference outputs of an
                exercise (:class:`~kcv.grading.jobs.References`, one per
                grading run unless shared).
    checks      the verdicts, one function per check, computed from arrays.
    runner      orchestration: :func:`grade`, :func:`grade_many`.
    cli         ``kcv grade``, ``kcv exercise export``.
    nbgrader    an exercise as an nbgrader source notebook; the autograder
                cell's grading function.

Imports inside the package go one way (``a → b``: ``a`` imports ``b``);
there is no cycle, and ``tests/test_grading.py`` parses the modules to keep
it so::

    diagnoses, report, probe, jail, cgroup   import nothing of kcv.grading
    exercises  → diagnoses
    submission → exercises
    sandbox    → cgroup, jail, probe         (and kcv.environment)
    jobs       → probe, sandbox
    checks     → jobs, probe, report, sandbox
    runner     → cgroup, checks, exercises, jobs, report, sandbox, submission
    nbgrader   → exercises, report, runner, submission
    cli        → exercises, jobs, nbgrader, report, runner, sandbox, submission
    __init__   → exercises, report, runner, sandbox, submission
                 (and, inside check(), checks)

No module keeps state between grading runs: reference outputs belong to a
:class:`~kcv.grading.jobs.References` (one per :func:`grade_many` call
unless the caller shares one). The one process-wide record is the sandbox's
set of running grading processes, which every run's cleanup must see.

Example:

>>> from kcv.grading import grade
>>> report = grade("exercises/solutions/squeeze_excite.py", "squeeze_excite",
...                backends=["jax"])
>>> report.score == report.max_score
True
"""

from kcv.grading.exercises import EXERCISES
from kcv.grading.report import GradeReport
from kcv.grading.runner import grade
from kcv.grading.runner import grade_many
from kcv.grading.sandbox import Limits
from kcv.grading.submission import load_submission


def check(exercise, target):
    """Runs an exercise's public checks on ``target`` in this process, prints the outcome.

    For a notebook's ``check()`` cell: instant feedback on the constructor,
    output shapes (also with unknown sizes) and parameter count — or, for a
    function exercise, on its output shape — compared with the reference on
    the running backend. The numeric, training, gradient, config and
    compilation checks run only in ``kcv grade``.

    Args:
        exercise: str. The exercise's name (see :data:`EXERCISES`).
        target: the class (or function) the notebook defines.

    Returns:
        bool: whether every public check passed.

    Example:

    >>> check("squeeze_excite", SqueezeExcite)  # doctest: +SKIP
    constructs    passed (3 of 3)
    ...
    public checks passed (3 of 8 checks; `kcv grade` runs all of them)
    """
    import keras

    from kcv.grading import checks
    from kcv.grading import exercises as registry

    exercise = registry.get(exercise)
    backend = "numpy" if exercise.kind == "function" else keras.backend.backend()
    tests = checks.public_check(exercise, target, backend)
    width = max(len(t.check) for t in tests) + 2
    for test in tests:
        lines = test.output.splitlines() or [""]
        status = lines[0] if test.passed else "FAILED: " + lines[0]
        print(f"{test.check:<{width}}{status}")
        for line in lines[1:]:
            print(" " * width + line)
    passed = all(t.passed for t in tests)
    hidden = len(exercise.checks) - len(exercise.public_checks)
    if passed:
        print(
            f"public checks passed ({len(tests)} of {len(exercise.checks)} checks; "
            f"the other {hidden} run only in `kcv grade`)"
        )
    else:
        print("public checks FAILED: see above")
    return passed


__all__ = ["EXERCISES", "GradeReport", "Limits", "check", "grade", "grade_many", "load_submission"]
