"""nbgrader: an exported exercise is released and autograded with kcv's isolated grader.

In a temporary course folder: ``kcv exercise export --nbgrader``, then
``nbgrader generate_assignment`` (the release holds no solution), a correct
and a wrong submission, ``nbgrader autograde`` and the gradebook. The
grader starts its own processes (on JAX only, to keep it short), so this
runs once (``backend_independent``); about a minute.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from kcv.grading import nbgrader as kcv_nbgrader

pytest.importorskip("nbgrader")

pytestmark = [pytest.mark.backend_independent, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
NAME = "channel_shuffle"
SOLUTION = os.path.join(ROOT, "exercises", "solutions", f"{NAME}.py")
# Loses numerics (6), training (2), config (1) and compiled (1) of 15 on one backend.
WRONG = os.path.join(ROOT, "tests", "grading_corpus", "wrong", "channel_shuffle_no_transpose.py")


def _run(command, course, env):
    result = subprocess.run(
        command, cwd=course, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def _submit(release, student, code, course):
    """Writes the released notebook with its solution cell replaced by ``code``."""
    with open(release, encoding="utf-8") as f:
        nb = json.load(f)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = code
    folder = os.path.join(course, "submitted", student, NAME)
    os.makedirs(folder)
    with open(os.path.join(folder, f"{NAME}.ipynb"), "w", encoding="utf-8") as f:
        json.dump(nb, f)


def test_unknown_exercise_is_named():
    with pytest.raises(ValueError, match="received 'no_such_exercise'") as error:
        kcv_nbgrader.export("no_such_exercise", "unused")
    assert "channel_shuffle" in str(error.value)


def test_the_graded_code_is_the_last_input_defining_the_class():
    inputs = [
        "class ChannelShuffle:\n    pass",
        "%matplotlib inline\nimport keras\n\n\nclass ChannelShuffle(keras.layers.Layer):\n    pass",
        "layer = ChannelShuffle(2)",
        "from kcv.grading import nbgrader as kcv_nbgrader",
    ]
    assert kcv_nbgrader.submitted_source(NAME, inputs) == "# " + inputs[1] + "\n"
    assert kcv_nbgrader.submitted_source(NAME, inputs[2:]) == ""


def test_export_generate_autograde_and_gradebook(tmp_path, capsys):
    from nbgrader.api import Gradebook

    course = str(tmp_path / "course")
    env = {
        **os.environ,
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "KERAS_BACKEND": "jax",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
    }
    start = time.monotonic()
    exported = _run(
        [
            os.path.join(BIN, "kcv"),
            "exercise",
            "export",
            "--nbgrader",
            NAME,
            "--output",
            course,
            "--backends",
            "jax",
        ],
        ROOT,
        env,
    )
    source = os.path.join(course, "source", NAME, f"{NAME}.ipynb")
    assert exported.stdout.strip() == source
    with open(os.path.join(course, "nbgrader_config.py"), "w", encoding="utf-8") as f:
        f.write(f"c = get_config()\nc.CourseDirectory.root = {course!r}\nc.Execute.timeout = 600\n")

    nbgrader = os.path.join(BIN, "nbgrader")
    _run([nbgrader, "generate_assignment", NAME], course, env)
    release = os.path.join(course, "release", NAME, f"{NAME}.ipynb")
    with open(release, encoding="utf-8") as f:
        released = f.read()
    assert "BEGIN SOLUTION" not in released
    assert "ops.transpose(x" not in released  # the reference solution's code
    cells = json.loads(released)["cells"]
    [solution] = [c for c in cells if c["metadata"].get("nbgrader", {}).get("solution")]
    assert "raise NotImplementedError" in "".join(solution["source"])
    [test_cell] = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    assert test_cell["metadata"]["nbgrader"]["points"] == kcv_nbgrader.points(NAME) == 15

    with open(SOLUTION, encoding="utf-8") as f:
        _submit(release, "correct", f.read(), course)
    with open(WRONG, encoding="utf-8") as f:
        _submit(release, "wrong", f.read(), course)
    _run([nbgrader, "autograde", NAME], course, env)

    with Gradebook(f"sqlite:///{os.path.join(course, 'gradebook.db')}") as gradebook:
        scores = {
            student: gradebook.find_submission(NAME, student).score
            for student in ("correct", "wrong")
        }
        assert gradebook.find_submission(NAME, "correct").max_score == 15
    assert scores == {"correct": 15, "wrong": 5}, scores

    graded = os.path.join(course, "autograded", "wrong", NAME, f"{NAME}.ipynb")
    with open(graded, encoding="utf-8") as f:
        outputs = [c.get("outputs", []) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    printed = "".join("".join(o.get("text", "")) for o in outputs[-1])
    assert "the transpose of the (groups, n) axes is missing" in printed
    with capsys.disabled():
        print(
            f"\n[nbgrader] export, generate_assignment, autograde of 2 submissions (jax): "
            f"{time.monotonic() - start:.0f} s",
            flush=True,
        )
