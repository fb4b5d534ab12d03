"""Grade reports: text for people, JSON for tools, Gradescope's ``results.json``, CSV for batches.

A :class:`GradeReport` holds one :class:`TestResult` per (check, backend):
its score, its maximum and the feedback (what failed, on which
configuration, expected against got, and a hint). Every format shows points
rounded to two decimals, as Gradescope does (a total is the rounded sum of
the exact scores, so three thirds make 2, never 2.0001), and plain text:
terminal colour codes from a submission's output (``\x1b[1m``) are removed.

Example:

>>> report = GradeReport("sub.py", "squeeze_excite", ["jax"],
...                      [TestResult("constructs", "jax", 1.0, 1.0, "passed (3 of 3)")])
>>> report.score, report.max_score
(1.0, 1.0)
>>> gradescope(report)["tests"][0]["name"]
'constructs [jax]'
"""

import csv
import dataclasses
import io
import json
import re

# ANSI escape sequences (colours, cursor moves) that Keras' or a submission's output may carry.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


def plain(text):
    """``text`` without terminal escape sequences.

    Example:

    >>> plain("\x1b[1mbold\x1b[0m and plain")
    'bold and plain'
    """
    return _ANSI.sub("", text)


def points(value):
    """Points as shown in every format: rounded to two decimals, no trailing zeros.

    Example:

    >>> points(2 * 2 / 3), points(3 * (2 / 3)), points(4.0)
    ('1.33', '2', '4')
    """
    return f"{round(value, 2) + 0.0:g}"


@dataclasses.dataclass(frozen=True)
class TestResult:
    """The score of one check on one backend.

    Args:
        check: str. The check's name (``numerics``, ...).
        backend: str. The backend it ran on (``numpy`` for functions).
        score: float. Points earned.
        max_score: float. Points available.
        output: str. Feedback.
        visibility: str. Gradescope visibility of the test.
    """

    __test__ = False  # not a pytest class

    check: str
    backend: str
    score: float
    max_score: float
    output: str = ""
    visibility: str = "visible"

    @property
    def name(self):
        return f"{self.check} [{self.backend}]"

    @property
    def passed(self):
        return self.score >= self.max_score


@dataclasses.dataclass
class GradeReport:
    """The grade of one submission for one exercise.

    Args:
        submission: str. Path of the submission.
        exercise: str. The exercise's name.
        backends: list of str. Backends it ran on.
        tests: list of :class:`TestResult`.
        notes: list of str. How the submission was read.
        runs: dict ``{backend: summary}`` from :func:`run_summary`.
        total_seconds: float. Wall-clock time of the whole grading call.
    """

    submission: str
    exercise: str
    backends: list
    tests: list
    notes: list = dataclasses.field(default_factory=list)
    runs: dict = dataclasses.field(default_factory=dict)
    total_seconds: float = 0.0

    @property
    def score(self):
        """The total, rounded to two decimals from the exact scores."""
        return round(sum(t.score for t in self.tests), 2)

    @property
    def max_score(self):
        return round(sum(t.max_score for t in self.tests), 2)

    def result(self, check, backend):
        """The :class:`TestResult` of ``check`` on ``backend``."""
        for test in self.tests:
            if test.check == check and test.backend == backend:
                return test
        raise KeyError(f"no test {check!r} on {backend!r}")


def run_summary(run):
    """What a report keeps of a run: exit status, time, output size, leftovers, isolation, memory cap."""
    return {
        "returncode": run.returncode,
        "timed_out": run.timed_out,
        "seconds": round(run.seconds, 2),
        "output_bytes": run.output_bytes,
        "leftovers": run.leftovers,
        "isolation": run.isolation,
        "memory": run.memory,
    }


def _checks(report):
    seen = []
    for test in report.tests:
        if test.check not in seen:
            seen.append(test.check)
    return seen


def text(report):
    """A table of scores (check × backend) followed by the feedback of every failed test.

    Args:
        report: :class:`GradeReport`.

    Returns:
        str.
    """
    lines = [f"kcv grade: {report.submission}  (exercise {report.exercise})"]
    lines += [f"  note: {plain(note)}" for note in report.notes]
    width = max([len(c) for c in _checks(report)] + [12])
    lines.append("")
    header = "".join(f"{b:>12}" for b in report.backends)
    lines.append(f"{'check':<{width}}  {header}{'total':>12}")
    for check in _checks(report):
        row = [report.result(check, b) for b in report.backends]
        cells = "".join(f"{f'{points(t.score)}/{points(t.max_score)}':>12}" for t in row)
        total = f"{points(sum(t.score for t in row))}/{points(sum(t.max_score for t in row))}"
        lines.append(f"{check:<{width}}  {cells}{total:>12}")
    percent = 100.0 * report.score / report.max_score if report.max_score else 0.0
    lines.append(
        f"{'score':<{width}}  {'':>{12 * len(report.backends)}}"
        f"{f'{points(report.score)}/{points(report.max_score)}':>12}  ({percent:.1f}%)"
    )
    if report.total_seconds:
        lines.append(f"graded in {report.total_seconds:.1f} s")
    failed = [t for t in report.tests if not t.passed]
    if failed:
        lines += ["", "Feedback:"]
        shown = set()
        for test in failed:
            key = test.output
            if key in shown:
                lines.append(f"[{test.name}] same as above")
                continue
            shown.add(key)
            lines.append(f"[{test.name}] {points(test.score)}/{points(test.max_score)}")
            lines += ["  " + line for line in plain(test.output).splitlines()]
    return "\n".join(lines) + "\n"


def as_dict(report):
    """The report as JSON-ready data (scores, tests, notes, runs)."""
    return {
        "submission": report.submission,
        "exercise": report.exercise,
        "backends": report.backends,
        "score": report.score,
        "max_score": report.max_score,
        "tests": [
            {
                "name": t.name,
                "check": t.check,
                "backend": t.backend,
                "score": round(t.score, 2),
                "max_score": t.max_score,
                "output": plain(t.output),
            }
            for t in report.tests
        ],
        "notes": [plain(note) for note in report.notes],
        "runs": report.runs,
        "seconds": round(report.total_seconds, 2),
    }


def gradescope(report):
    """Gradescope's ``results.json``: per-test score, max_score, name, output, visibility.

    See https://gradescope-autograders.readthedocs.io/en/latest/specs/.
    """
    return {
        "score": report.score,
        "execution_time": round(report.total_seconds, 2),
        "output": plain("\n".join([f"kcv grade, exercise {report.exercise}"] + report.notes)),
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": t.name,
                "score": round(t.score, 2),
                "max_score": t.max_score,
                "output": plain(t.output),
                "visibility": t.visibility,
            }
            for t in report.tests
        ],
    }


def csv_text(report_list):
    """One CSV row per submission: score, maximum, percentage, points per check, problems."""
    checks = []
    for report in report_list:
        checks += [c for c in _checks(report) if c not in checks]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["submission", "exercise", "score", "max_score", "percent", *checks, "problems"]
    )
    for report in report_list:
        per_check = [points(sum(t.score for t in report.tests if t.check == c)) for c in checks]
        problems = sorted(
            {
                plain(t.output).splitlines()[0]
                for t in report.tests
                if t.score == 0 and t.output and "passed" not in t.output.splitlines()[0]
            }
        )
        percent = 100.0 * report.score / report.max_score if report.max_score else 0.0
        writer.writerow(
            [
                report.submission,
                report.exercise,
                points(report.score),
                points(report.max_score),
                f"{percent:.1f}",
                *per_check,
                " | ".join(problems)[:500],
            ]
        )
    return out.getvalue()


def dumps(data):
    """JSON text, indented."""
    return json.dumps(data, indent=2) + "\n"
