"""``kcv grade``: grade a notebook, a .py file, or a folder of them.

::

    kcv grade SUBMISSION --exercise NAME [--backends jax,tensorflow,torch]
              [--format text|json|gradescope] [--output PATH] [--timeout S]
              [--jobs N] [--memory MIB]

One submission: a report (text by default) on stdout or in ``--output``.
A folder: every ``.py`` / ``.ipynb`` in it is graded (``--jobs`` processes
at a time) and a CSV of scores (``--format json``: a JSON list of reports)
goes to ``--output`` or stdout, with one progress line per submission on
stderr. The exit status is 0 when grading finished, whatever the scores;
2 for bad arguments; 1 when the grader itself failed.

Example:

    kcv grade exercises/squeeze_excite.ipynb --exercise squeeze_excite
    kcv grade submissions/ --exercise aspp --backends jax --jobs 2 --output grades.csv
"""

import os
import sys

from kcv.grading import exercises
from kcv.grading import jobs
from kcv.grading import report as reports
from kcv.grading import runner
from kcv.grading import sandbox
from kcv.grading import submission as submissions

FORMATS = ("text", "json", "gradescope")


def add_parser(commands):
    """Adds the ``grade`` sub-command to an argparse sub-parsers object.

    Args:
        commands: the result of ``ArgumentParser.add_subparsers()``.

    Returns:
        The new sub-parser.
    """
    parser = commands.add_parser(
        "grade",
        help="grade an exercise submission on every backend, isolated",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("submission", help="a .ipynb or .py file, or a folder of them (batch)")
    parser.add_argument(
        "--exercise",
        required=True,
        choices=sorted(exercises.EXERCISES),
        metavar="NAME",
        help=f"one of: {', '.join(exercises.EXERCISES)}",
    )
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated, default: the installed ones of jax,tensorflow,torch",
    )
    parser.add_argument("--format", default="text", choices=FORMATS)
    parser.add_argument("--output", default=None, help="write here instead of stdout")
    parser.add_argument(
        "--timeout",
        type=float,
        default=sandbox.Limits.timeout,
        help="seconds per backend and submission (default %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes at a time (default %(default)s)",
    )
    parser.add_argument(
        "--isolation",
        default=sandbox.Limits.isolation,
        choices=sandbox.ISOLATIONS,
        help="jail: bubblewrap around every process (an error where it cannot run); "
        "process: resource limits only; auto (default): the jail where it works",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=sandbox.Limits.memory_mib,
        help="memory cap of a submission's process, MiB (default %(default)s)",
    )
    return parser


def _write(text, path):
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def run(args, parser):
    """Runs ``kcv grade`` with parsed ``args``; returns the exit status."""
    try:
        backends = None
        if args.backends:
            backends = [b.strip() for b in args.backends.split(",") if b.strip()]
            unknown = [b for b in backends if b not in sandbox.BACKENDS]
            if unknown or not backends:
                raise ValueError(
                    f"--backends must name some of {', '.join(sandbox.BACKENDS)}; "
                    f"received {args.backends!r}."
                )
        limits = sandbox.Limits(
            timeout=args.timeout, memory_mib=args.memory, isolation=args.isolation
        )
        if args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, received {args.jobs}.")
        batch = os.path.isdir(args.submission)
        if batch and args.format == "gradescope":
            raise ValueError("--format gradescope grades one submission, not a folder.")
        paths = submissions.find_submissions(args.submission) if batch else [args.submission]
        items = [(submissions.load_submission(p), args.exercise) for p in paths]
    except ValueError as error:
        parser.error(str(error))

    def progress(graded):
        if batch:
            print(
                f"{reports.points(graded.score)}/{reports.points(graded.max_score)}  {graded.submission}",
                file=sys.stderr,
            )

    try:
        graded = runner.grade_many(items, backends, limits, args.jobs, progress)
    except ValueError as error:  # the isolation asked for cannot be had here
        parser.error(str(error))
    except jobs.GradingError as error:
        print(f"kcv grade: the grader failed: {error}", file=sys.stderr)
        return 1
    if batch:
        text = (
            reports.dumps([reports.as_dict(r) for r in graded])
            if args.format == "json"
            else reports.csv_text(graded)
        )
    elif args.format == "json":
        text = reports.dumps(reports.as_dict(graded[0]))
    elif args.format == "gradescope":
        text = reports.dumps(reports.gradescope(graded[0]))
    else:
        text = reports.text(graded[0])
    _write(text, args.output)
    return 0


def add_exercise_parser(commands):
    """Adds the ``exercise`` sub-command (``kcv exercise export --nbgrader NAME``).

    Args:
        commands: the result of ``ArgumentParser.add_subparsers()``.

    Returns:
        The new sub-parser.

    Example:

        kcv exercise export --nbgrader channel_shuffle --output course --backends jax
    """
    parser = commands.add_parser(
        "exercise",
        help="export an exercise for a course platform (nbgrader)",
        description="Export an exercise: kcv exercise export --nbgrader NAME [--output DIR] "
        "writes DIR/source/NAME/NAME.ipynb, an nbgrader source notebook (solution cell, "
        "locked cells, an autograder cell running kcv's isolated grader).",
    )
    parser.add_argument("action", choices=("export",))
    parser.add_argument(
        "--nbgrader",
        metavar="NAME",
        required=True,
        help="the exercise to export as an nbgrader source notebook",
    )
    parser.add_argument(
        "--output", default=".", help="the nbgrader course folder (default: the current one)"
    )
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated backends the autograder cell grades on "
        "(default: those installed where nbgrader autograde runs)",
    )
    return parser


def run_exercise(args, parser):
    """Runs ``kcv exercise`` with parsed ``args``; returns the exit status."""
    from kcv.grading import nbgrader

    try:
        backends = None
        if args.backends is not None:
            backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        path = nbgrader.export(args.nbgrader, args.output, backends)
    except ValueError as error:
        parser.error(str(error))
    print(path)
    return 0
