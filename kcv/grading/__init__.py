"""The autograder: exercises, isolated runs, numeric checks on every backend, reports.

Learners implement the blocks of the course (``exercises/*.ipynb``); ``kcv
grade`` runs a submission once per backend in an isolated process and
compares it with the reference implementation in :mod:`kcv.layers` (or
:mod:`kcv.adaptive`), computed in a separate clean process. Nothing in kcv
imports this package.

Modules:
    exercises   the registry: what each exercise asks, configurations,
                points, hints, tolerances.
    submission  reading notebooks / .py files / folders; static checks.
    probe       what runs inside a grading process (arrays out).
    runner      isolated processes, limits, cleanup; :func:`grade`,
                :func:`grade_many`.
    checks      the verdicts, computed from arrays in the grader.
    report      text, JSON, Gradescope results.json, CSV.
    cli         ``kcv grade``.

Example:

>>> from kcv.grading import grade
>>> report = grade("exercises/solutions/squeeze_excite.py", "squeeze_excite",
...                backends=["jax"])
>>> report.score == report.max_score
True
"""

from kcv.grading.exercises import EXERCISES
from kcv.grading.report import GradeReport
from kcv.grading.runner import Limits
from kcv.grading.runner import grade
from kcv.grading.runner import grade_many
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
