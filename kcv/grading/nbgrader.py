"""nbgrader: release kcv's exercises from a JupyterHub course and autograde them.

``kcv exercise export --nbgrader NAME --output COURSE`` (:func:`export`)
writes ``COURSE/source/NAME/NAME.ipynb``, an nbgrader *source* notebook made
from the learner notebook ``exercises/NAME.ipynb``:

* the cell to complete (tagged ``solution``) becomes an nbgrader solution
  cell holding the reference solution ``exercises/solutions/NAME.py``
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, which
  ``nbgrader generate_assignment`` replaces with its stub; the class or
  function skeleton of the learner notebook is shown above it;
* every other cell is locked (nbgrader restores it before grading);
* a last, locked *autograder tests* cell (``grade: true``, worth the
  exercise's points on one backend) calls :func:`autograde`.

:func:`autograde` runs in the notebook's kernel, under ``nbgrader
autograde``: it takes the code the notebook executed for the exercise (the
last cell that defines its class or function), writes it to a file, grades
it with the function ``kcv grade`` uses (:func:`kcv.grading.runner.grade_many`:
isolated processes, the default isolation), prints the report and returns
the score scaled to the cell's points. nbgrader awards a number that a test
cell outputs as partial credit, so a submission gets the share of the
points kcv gives it.

Example:

>>> from kcv.grading import nbgrader
>>> nbgrader.export("channel_shuffle", "course")  # doctest: +SKIP
'course/source/channel_shuffle/channel_shuffle.ipynb'
"""

import contextlib
import json
import os
import sys
import tempfile
import warnings

from kcv.grading import exercises as registry
from kcv.grading import report as reports
from kcv.grading import runner
from kcv.grading import submission as submissions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXERCISES_DIR = os.path.join(ROOT, "exercises")
SCHEMA_VERSION = 3

AUTOGRADER_TEXT = """## Autograder

The next cell grades your implementation the way `kcv grade` does: your
`solution` cell runs in fresh, isolated processes ({backends}) and is
compared with kcv's reference. Its feedback is printed below it, and the
number it ends with is your score out of {points}. It is locked: nbgrader
restores it before grading.
"""


def names():
    """The exercises that can be exported: registered, with a notebook and a solution.

    Returns:
        Sorted list of str.
    """
    return sorted(
        name
        for name in registry.EXERCISES
        if os.path.exists(os.path.join(EXERCISES_DIR, f"{name}.ipynb"))
        and os.path.exists(os.path.join(EXERCISES_DIR, "solutions", f"{name}.py"))
    )


def points(name):
    """The points of exercise ``name`` in nbgrader: its maximum score on one backend.

    Args:
        name: str. An exercise name.

    Returns:
        float.
    """
    return float(sum(registry.get(name).points.values()))


def _check_name(name):
    accepted = names()
    if name not in accepted:
        where = "" if os.path.isdir(EXERCISES_DIR) else f" (no source checkout at {ROOT})"
        raise ValueError(
            f"`name` must be one of {', '.join(accepted) or 'none'}{where}; received {name!r}."
        )


def _check_backends(backends):
    return None if backends is None else runner.check_backends(backends)


def _solution_code(name):
    """The reference solution without its module docstring."""
    with open(os.path.join(EXERCISES_DIR, "solutions", f"{name}.py"), encoding="utf-8") as f:
        lines = f.read().strip("\n").splitlines()
    if lines and lines[0].startswith('"""'):
        end = (
            0
            if lines[0].count('"""') >= 2
            else next(i for i, line in enumerate(lines[1:], 1) if '"""' in line)
        )
        lines = lines[end + 1 :]
    return "\n".join(lines).strip("\n")


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _meta(grade_id, grade=False, solution=False, locked=False, cell_points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if cell_points is not None:
        meta["points"] = cell_points
    return meta


def source_notebook(name, backends=None):
    """The nbgrader source notebook of exercise ``name``, as JSON-ready data.

    Args:
        name: str. An exercise name (see :func:`names`).
        backends: list of str, or None. The backends the autograder cell
            grades on; None: those installed where it runs.

    Returns:
        dict, an nbformat 4 notebook.

    Raises:
        ValueError: naming ``name`` when it is unknown, or for unknown backends.
    """
    _check_name(name)
    backends = _check_backends(backends)
    with open(os.path.join(EXERCISES_DIR, f"{name}.ipynb"), encoding="utf-8") as f:
        nb = json.load(f)
    total = points(name)
    cells = []
    for i, cell in enumerate(nb["cells"]):
        cell = dict(cell, metadata=dict(cell.get("metadata", {})))
        tags = cell["metadata"].get("tags", [])
        if cell["cell_type"] == "code" and submissions.SOLUTION_TAG in tags:
            skeleton = _source(cell)
            cells.append(
                {
                    "cell_type": "markdown",
                    "id": f"{cell.get('id', name)}-skeleton",
                    "metadata": {"nbgrader": _meta(f"{name}-skeleton", locked=True)},
                    "source": "Start from this skeleton: replace the next cell's stub with it "
                    "and fill in every method.\n\n```python\n" + skeleton + "\n```",
                }
            )
            cell["source"] = f"### BEGIN SOLUTION\n{_solution_code(name)}\n### END SOLUTION"
            cell["metadata"]["nbgrader"] = _meta(f"{name}-solution", solution=True)
        else:
            cell["metadata"]["nbgrader"] = _meta(f"{name}-locked-{i}", locked=True)
        cells.append(cell)
    shown = ", ".join(backends) if backends else "on each backend installed"
    cells.append(
        {
            "cell_type": "markdown",
            "id": f"{name.replace('_', '-')}-autograder-text",
            "metadata": {"nbgrader": _meta(f"{name}-autograder-text", locked=True)},
            "source": AUTOGRADER_TEXT.format(backends=shown, points=reports.points(total)),
        }
    )
    cells.append(
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"{name.replace('_', '-')}-autograder",
            "metadata": {
                "nbgrader": _meta(f"{name}-autograder", grade=True, locked=True, cell_points=total)
            },
            "outputs": [],
            "source": (
                "# kcv's isolated grader: partial credit out of the cell's points.\n"
                "from kcv.grading import nbgrader as kcv_nbgrader\n\n"
                f"kcv_nbgrader.autograde({name!r}, points={total!r}, backends={backends!r})"
            ),
        }
    )
    return {**nb, "cells": cells}


def export(name, output=".", backends=None):
    """Writes ``<output>/source/<name>/<name>.ipynb``, an nbgrader source notebook.

    Args:
        name: str. An exercise name (see :func:`names`).
        output: str. The nbgrader course folder (created if needed).
        backends: list of str, or None. The backends the autograder cell
            grades on; None: those installed where ``nbgrader autograde`` runs.

    Returns:
        str, the notebook's path.

    Raises:
        ValueError: naming ``name`` when it is unknown, or for unknown backends.

    Example:

    >>> export("channel_shuffle", "course", backends=["jax"])  # doctest: +SKIP
    'course/source/channel_shuffle/channel_shuffle.ipynb'
    """
    nb = source_notebook(name, backends)
    folder = os.path.join(output, "source", name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.ipynb")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return path


def submitted_source(name, inputs):
    """The code a notebook submitted for exercise ``name``, from its executed inputs.

    Args:
        name: str. An exercise name.
        inputs: list of str. The cells' code in execution order (IPython's
            raw input history).

    Returns:
        str: the last input that defines the exercise's class or function at
        top level (IPython magics commented out), or ``""`` when none does.
    """
    target = registry.get(name).class_name
    for source in reversed(inputs):
        code = submissions.cell_source({"source": source})
        defined, _ = submissions.names(code)
        if target in defined:
            return code + "\n"
    return ""


def autograde(name, points, backends=None, limits=None):
    """Grades the notebook's solution in isolation; returns the score out of ``points``.

    Called by the autograder cell of an exported notebook, in its kernel: the
    code comes from the kernel's input history (:func:`submitted_source`).
    Prints ``kcv grade``'s text report. Nothing goes to stderr (nbgrader
    gives 0 to a test cell that writes there).

    Args:
        name: str. The exercise.
        points: float. The cell's points.
        backends: list of str, or None for the installed ones.
        limits: :class:`~kcv.grading.sandbox.Limits`, or None for the defaults
            (``isolation="auto"``).

    Returns:
        float: ``points`` times the share of kcv's score, two decimals. As
        the cell's last value, nbgrader reads it as partial credit.

    Raises:
        RuntimeError: outside an IPython kernel.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("kcv's nbgrader autograder runs in a notebook's kernel.")
    source = submitted_source(name, list(shell.history_manager.input_hist_raw))
    with tempfile.TemporaryDirectory(prefix="kcv-nbgrader-") as folder:
        path = os.path.join(folder, f"{name}.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
            warnings.simplefilter("ignore")
            report = runner.grade_many(
                [(path, name)],
                _check_backends(backends),
                limits,
                jobs=min(4, os.cpu_count() or 1),
            )[0]
    text = reports.text(report).replace(path, f"{name} (the notebook's solution cell)")
    if not source:
        text = f"No cell defines {registry.get(name).class_name}: nothing to grade.\n" + text
    print(text, flush=True)
    if not report.max_score:
        return 0.0
    return round(float(points) * report.score / report.max_score, 2)
