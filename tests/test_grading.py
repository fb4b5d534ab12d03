"""The autograder: solutions get full marks, wrong code loses the right checks, hostile code is contained.

The grader starts its own processes per backend, so these tests run once
(``backend_independent``). Each corpus file under ``tests/grading_corpus``
states in its docstring the exercise it attempts, the checks it must lose
(``loses:``, ``all`` or ``none``) and a piece of the message it must get.
The grader keeps no references between calls by itself: the batches below
share one :class:`~kcv.grading.jobs.References` (``REFERENCES``), passed
explicitly.
"""

import ast
import csv
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from kcv.grading import cgroup
from kcv.grading import checks
from kcv.grading import diagnoses
from kcv.grading import exercises
from kcv.grading import jail
from kcv.grading import jobs
from kcv.grading import report
from kcv.grading import runner
from kcv.grading import sandbox
from kcv.grading import submission

pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "grading_corpus")
EXERCISES_DIR = os.path.join(ROOT, "exercises")
BACKENDS = runner.default_backends()
GRADING = os.path.join(ROOT, "kcv", "grading")
# The reference outputs, computed once for all the batches of this module.
REFERENCES = jobs.References()


def _say(capsys, text):
    """Prints past pytest's capture: the timings are part of the test's output."""
    with capsys.disabled():
        print(f"\n[grading] {text}", flush=True)


def _fields(path):
    """The ``name: value`` lines of a corpus file's docstring."""
    with open(path) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    return {
        k: v.strip() for k, v in (line.split(": ", 1) for line in doc.splitlines() if ": " in line)
    }


def _corpus(kind):
    """``[(path, exercise, lost checks or "all"/"none", message)]`` from the docstrings."""
    found = []
    for path in sorted(glob.glob(os.path.join(CORPUS, kind, "*.py"))):
        fields = _fields(path)
        loses = fields["loses"].strip()
        lost = loses if loses in ("all", "none") else {c.strip() for c in loses.split(",")}
        found.append((path, fields["exercise"].strip(), lost, fields.get("message")))
    return found


def _lost(graded):
    return {t.check for t in graded.tests if t.score < t.max_score}


def _survivors():
    """Processes a grading run could have left: the probe script, or the fork bomb's sleepers."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if sandbox.PROBE in command or command.startswith("sleep 613"):
            found.append(f"{name}: {command[:120]}")
    return found


# ---------------------------------------------------------------------------
# Solutions, wrong and hostile corpora (the expensive tests: one batch each)


def test_every_solution_scores_full_marks_on_every_backend(capsys):
    """squeeze_excite's solution is graded below, pasted in its notebook, through the CLI."""
    items = [
        (os.path.join(EXERCISES_DIR, "solutions", f"{name}.py"), name)
        for name in exercises.EXERCISES
        if name != "squeeze_excite"
    ]
    start = time.monotonic()
    graded = runner.grade_many(items, BACKENDS, jobs=2, references=REFERENCES)
    seconds = time.monotonic() - start
    for result in graded:
        assert result.score == result.max_score, report.text(result)
        assert set(result.backends) == (
            {"numpy"} if result.exercise == "exit_thresholds" else set(BACKENDS)
        )
    _say(
        capsys,
        f"{len(items)} solutions on {', '.join(BACKENDS)} (references included, --jobs 2): "
        f"{seconds:.0f} s, {60 * len(items) / seconds:.1f} submissions/minute",
    )


def test_a_notebook_graded_on_three_backends_through_the_cli(tmp_path, capsys):
    """The stub notebook with the solution pasted in: full marks in Gradescope's format."""
    nb = nbformat.read(os.path.join(EXERCISES_DIR, "squeeze_excite.ipynb"), as_version=4)
    solution = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solution) == 1
    with open(os.path.join(EXERCISES_DIR, "solutions", "squeeze_excite.py")) as f:
        solution[0].source = f.read()
    path = tmp_path / "learner.ipynb"
    nbformat.write(nb, path)
    output = tmp_path / "results.json"
    start = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kcv",
            "grade",
            str(path),
            "--exercise",
            "squeeze_excite",
            "--backends",
            ",".join(BACKENDS),
            "--format",
            "gradescope",
            "--output",
            str(output),
            "--jobs",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    results = json.loads(output.read_text())
    assert results["score"] == 15 * len(BACKENDS)
    assert len(results["tests"]) == len(exercises.LAYER_CHECKS) * len(BACKENDS)
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["score"] == test["max_score"] and test["visibility"] == "visible"
    assert "1 cell(s) tagged 'solution'" in results["output"]
    _say(
        capsys,
        f"one notebook on {len(BACKENDS)} backends via `kcv grade` (a fresh process: "
        f"references, then the submission): {seconds:.0f} s wall",
    )


def _files(folder):
    """``{name: (size, mtime)}`` of the files in ``folder``."""
    return {e.name: (e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder)}


@pytest.fixture(scope="module")
def wrong_grades():
    corpus = _corpus("wrong")
    stub = os.path.join(EXERCISES_DIR, "squeeze_excite.ipynb")
    corpus.append((stub, "squeeze_excite", "all", "NotImplementedError"))
    start = time.monotonic()
    attempted = [exercises.get(ex) for ex in sorted({ex for _, ex, _, _ in corpus})]
    REFERENCES.layers([e for e in attempted if e.kind == "layer"], "jax")
    cache = _files(REFERENCES.cache)
    graded = runner.grade_many(
        [(path, ex) for path, ex, _, _ in corpus], ["jax"], jobs=2, references=REFERENCES
    )
    return types.SimpleNamespace(
        corpus=corpus,
        graded=graded,
        seconds=time.monotonic() - start,
        cache_before=cache,
        cache_after=_files(REFERENCES.cache),
    )


def test_each_wrong_submission_loses_exactly_its_checks(wrong_grades, capsys):
    problems = []
    for (path, exercise, expected, message), result in zip(
        wrong_grades.corpus, wrong_grades.graded
    ):
        checks_of = set(exercises.get(exercise).checks)
        expected = checks_of if expected == "all" else set() if expected == "none" else expected
        if _lost(result) != expected:
            problems.append(
                f"{os.path.basename(path)}: lost {sorted(_lost(result))}, "
                f"expected {sorted(expected)}\n{report.text(result)}"
            )
        if message and not any(message in t.output for t in result.tests):
            problems.append(f"{os.path.basename(path)}: no feedback mentions {message!r}")
        for test in result.tests:
            if (
                test.score < test.max_score
                and exercise != "exit_thresholds"
                and test.check != "constructs"
            ):
                assert any(words in test.output for words in ("hint:", "not run", "not counted")), (
                    test.output
                )
    assert not problems, "\n\n".join(problems)
    count, seconds = len(wrong_grades.corpus), wrong_grades.seconds
    _say(
        capsys,
        f"{count} wrong submissions on jax: {seconds:.0f} s, "
        f"{60 * count / seconds:.1f} submissions/minute",
    )


def test_references_fill_the_compilation_cache_and_submissions_leave_it(wrong_grades):
    """The JAX references leave their programs in the cache; no submission adds or changes one
    (poison_the_cache.py checks that a submission finds it, filled, and cannot write it)."""
    assert len(wrong_grades.cache_before) > 20
    assert wrong_grades.cache_after == wrong_grades.cache_before


def test_feedback_names_the_check_the_backend_and_the_difference(wrong_grades):
    by_name = {
        os.path.basename(path): result
        for (path, *_), result in zip(wrong_grades.corpus, wrong_grades.graded)
    }
    numerics = by_name["se_missing_activation.py"].result("numerics", "jax")
    assert numerics.name == "numerics [jax]"
    assert "max abs error" in numerics.output and "at index (" in numerics.output
    assert "expected" in numerics.output and "max rel error" in numerics.output
    transposed = by_name["encoding_transposed_codewords.py"].result("numerics", "jax")
    assert "codewords (8, 4)" in transposed.output and "codewords (4, 8)" in transposed.output
    training = by_name["aspp_no_dropout.py"].result("training", "jax")
    assert "training=True applies no dropout (dropout=0.5)" in training.output
    shape = by_name["se_numpy_in_call.py"].result("output_shape", "jax")
    assert "keras.Input(batch_shape=(None, None, None, 16))" in shape.output


def test_hostile_submissions_are_contained(capsys):
    """Each scores 0 where it should, with the reason; the grader returns; nothing survives.

    Process-level attacks target the numpy exercise (its process starts in a
    fraction of a second, so the hang costs a short timeout); attacks on
    layers and on the reference class target squeeze_excite, graded on JAX.
    Every file runs in the jail, except those whose docstring says
    ``isolation: process``: the attacks on the reuse detectors, which in the
    jail find no kcv to reuse.
    """
    problem = jail.unavailable()
    assert problem is None, f"the grading jail is needed here ({problem}): make system"
    before = _survivors()
    corpus = _corpus("hostile")
    # Without a memory cgroup (a grader that may not make one) shared memory is
    # not capped: the bomb then scores, and its report must say so.
    uncapped = [
        (path, exercise, "none", "shared memory uncapped")
        for path, exercise, _, _ in corpus
        if _fields(path).get("needs") == "cgroup" and cgroup.unavailable()
    ]
    corpus = [c for c in corpus if c[0] not in {u[0] for u in uncapped}] + uncapped
    # escape_the_jail.py tries to connect here and leaves these files behind.
    listener = socket.create_server(("127.0.0.1", 47613))
    left_behind = ["/tmp/kcv-hostile-left-behind", "/dev/shm/kcv-hostile-left-behind"]
    start = time.monotonic()
    graded = {}
    # numpy-only processes need little memory and time: a 1 GiB cap stops the memory
    # bomb sooner, and the hang costs 20 s (a numpy grading process takes 1 to 3 s here).
    for exercise, limits in (
        ("exit_thresholds", sandbox.Limits(timeout=20, memory_mib=1024)),
        ("squeeze_excite", sandbox.Limits(timeout=150)),
    ):
        for isolation in ("jail", "process"):
            items = [
                (path, ex)
                for path, ex, _, _ in corpus
                if ex == exercise and _fields(path).get("isolation", "jail") == isolation
            ]
            limits = dataclasses.replace(limits, isolation=isolation)
            results = runner.grade_many(items, ["jax"], limits, jobs=2, references=REFERENCES)
            graded.update(zip([path for path, _ in items], results))
    seconds = time.monotonic() - start
    listener.close()
    problems = [
        f"{path} is on the grader's machine" for path in left_behind if os.path.exists(path)
    ]
    for path, exercise, expected, message in corpus:
        result, name = graded[path], os.path.basename(path)
        checks_of = set(exercises.get(exercise).checks)
        expected = checks_of if expected == "all" else set() if expected == "none" else expected
        if _lost(result) != expected:
            problems.append(f"{name}: lost {sorted(_lost(result))}, expected {sorted(expected)}")
        if expected == checks_of and any(t.score for t in result.tests):
            problems.append(f"{name}: scored {result.score}, expected 0")
        said = [t.output for t in result.tests] + result.notes
        if message and not any(message in text for text in said):
            problems.append(f"{name}: no feedback mentions {message!r}:\n{report.text(result)}")
    assert not problems, "\n\n".join(problems)
    runs = {os.path.basename(path): result.runs for path, result in graded.items()}
    if not uncapped:
        assert all(r["memory"] == "cgroup" for run in runs.values() for r in run.values())
    assert runs["fork_bomb.py"]["jax"]["leftovers"] > 0
    assert runs["hang.py"]["numpy"]["timed_out"]
    assert runs["stdout_flood.py"]["numpy"]["output_bytes"] > 20_000_000
    assert runs["subclass_reference.py"] == {}  # refused before any process started
    for path, result in graded.items():
        for run in result.runs.values():
            assert run["isolation"] == _fields(path).get("isolation", "jail"), path
    assert _survivors() == before, "processes survived the hostile corpus"
    _say(capsys, f"{len(corpus)} hostile submissions: {seconds:.0f} s, no process left behind")


# ---------------------------------------------------------------------------
# Cheap tests: no backend process


def test_batch_mode_writes_a_csv_of_scores(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    sources = {
        "good.py": os.path.join(EXERCISES_DIR, "solutions", "exit_thresholds.py"),
        "strict.py": os.path.join(CORPUS, "wrong", "exit_thresholds_strict.py"),
    }
    for name, source in sources.items():
        (folder / name).write_text(Path(source).read_text())
    (folder / "broken.py").write_text("def exit_thresholds(:\n")
    output = tmp_path / "grades.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kcv",
            "grade",
            str(folder),
            "--exercise",
            "exit_thresholds",
            "--output",
            str(output),
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    assert done.returncode == 0, done.stderr
    rows = {os.path.basename(r["submission"]): r for r in csv.DictReader(output.open())}
    assert rows["good.py"]["score"] == rows["good.py"]["max_score"] == "11"
    assert 0 < float(rows["strict.py"]["score"]) < 11
    assert rows["broken.py"]["score"] == "0" and "does not parse" in rows["broken.py"]["problems"]
    assert len(done.stderr.strip().splitlines()) == 3  # one progress line per submission


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--backends", "mxnet"], "--backends must name"),
        (["--jobs", "0"], "--jobs must be >= 1"),
        (["--timeout", "-1"], "`timeout` must be a positive number"),
        (["--format", "gradescope", "FOLDER"], "--format gradescope grades one submission"),
        (["--exercise", "resnet"], "argument --exercise: invalid choice"),
    ],
)
def test_cli_rejects_bad_arguments(arguments, message, tmp_path, capsys):
    from kcv.__main__ import main

    target = os.path.join(EXERCISES_DIR, "solutions", "squeeze_excite.py")
    if "FOLDER" in arguments:
        arguments = [a for a in arguments if a != "FOLDER"]
        target = str(tmp_path)
        (tmp_path / "a.py").write_text("x = 1\n")
    if "--exercise" not in arguments:
        arguments += ["--exercise", "squeeze_excite"]
    with pytest.raises(SystemExit) as exited:
        main(["grade", target, *arguments])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def _notebook_json(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_notebooks_give_their_solution_cells_or_else_all_but_the_check_cells(tmp_path):
    tagged = _notebook_json(
        [
            {"cell_type": "code", "metadata": {}, "source": "x = 1"},
            {
                "cell_type": "code",
                "metadata": {"tags": ["solution"]},
                "source": ["%matplotlib inline\n", "y = 2"],
            },
            {"cell_type": "markdown", "metadata": {"tags": ["solution"]}, "source": "text"},
        ]
    )
    source, notes = submission.notebook_source(tagged)
    assert "y = 2" in source and "x = 1" not in source and "# %matplotlib inline" in source
    assert notes == [
        "1 cell(s) tagged 'solution'",
        "1 other code cell(s) ignored: In[1] (defines x)",
    ]
    untagged = _notebook_json(
        [
            {"cell_type": "code", "metadata": {}, "source": "x = 1"},
            {
                "cell_type": "code",
                "metadata": {},
                "source": "from kcv.grading import check\ncheck('a', x)",
            },
        ]
    )
    source, notes = submission.notebook_source(untagged)
    assert "x = 1" in source and "check(" not in source
    assert "leaving out 1 check() cell(s)" in notes[0]
    helper_elsewhere = _notebook_json(
        [
            {
                "cell_type": "code",
                "metadata": {},
                "source": "import numpy as np\ndef helper(x):\n    return x",
            },
            {
                "cell_type": "code",
                "metadata": {"tags": ["solution"]},
                "source": "y = helper(np.ones(2))",
            },
            {"cell_type": "code", "metadata": {}, "source": "from kcv.grading import check"},
        ]
    )
    _, notes = submission.notebook_source(helper_elsewhere)
    assert notes[1] == "1 other code cell(s) ignored: In[1] (defines helper, np)"
    assert notes[2].startswith(
        "the graded cells use helper, np, defined only in the untagged In[1]"
    )
    path = tmp_path / "bad.ipynb"
    path.write_text("{not json")
    assert "cannot be read" in submission.load_submission(str(path)).problems[0]
    with pytest.raises(ValueError, match="`submission` must be"):
        submission.load_submission(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize(
    "code, found",
    [
        ("from kcv.layers import SqueezeExcite", "imports kcv.layers"),
        ("import kcv", "imports kcv"),
        ("from kcv import layers as l", "imports kcv"),
        ("import importlib", "dynamic imports"),
        ("m = __import__('os')", "calls __import__()"),
        ("exec('x = 1')", "calls exec()"),
        ("import sys\nsys.modules['x'] = 1", "uses sys.modules"),
        ("def f(:\n  pass", "does not parse"),
        ("   \n", "holds no code"),
    ],
)
def test_the_source_scan_refuses_kcv_and_dynamic_code(code, found):
    problems = submission.static_problems(submission.Submission("s.py", code), "squeeze_excite")
    assert problems and found in problems[0]


def test_clean_code_passes_the_source_scan():
    sub = submission.load_submission(os.path.join(EXERCISES_DIR, "solutions", "aspp.py"))
    assert submission.static_problems(sub, "aspp") == []


def _npz(**arrays):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_results_are_loaded_as_plain_arrays_only():
    good = sandbox.load_results(_npz(a=np.ones(3), b=np.array("text")), 1 << 20)
    assert set(good) == {"a", "b"}
    refusals = {
        "no results": b"",
        "not a zip": b"garbage",
        "before the archive": b"junk" + _npz(a=np.ones(3)),
        "more than": _npz(a=np.ones(1000)),  # 8 kB of data over a 1 kB cap
        "not a plain": _npz(a=np.array([{"x": 1}], dtype=object)),
    }
    for reason, data in refusals.items():
        with pytest.raises(ValueError):
            sandbox.load_results(data, 1024 if reason == "more than" else 1 << 20)


def test_compare_reports_the_worst_element():
    tolerance = exercises.Tolerance(1e-5, 1e-4)
    expected = np.zeros((2, 3), "float32")
    got = expected.copy()
    got[1, 2] = 0.5
    message = checks.compare(got, expected, tolerance)
    assert "max abs error 0.5 at index (1, 2)" in message and "1 of 6 elements" in message
    assert checks.compare(expected + 1e-6, expected, tolerance) is None
    assert "shape (3,), expected (2, 3)" in checks.compare(np.zeros(3), expected, tolerance)
    assert "got nan" in checks.compare(np.full((2, 3), np.nan), expected, tolerance)


def test_every_exercise_has_a_notebook_and_a_solution():
    for name, exercise in exercises.EXERCISES.items():
        assert os.path.isfile(os.path.join(EXERCISES_DIR, f"{name}.ipynb")), name
        assert os.path.isfile(os.path.join(EXERCISES_DIR, "solutions", f"{name}.py")), name
        assert exercise.public_checks and set(exercise.public_checks) < set(exercise.checks)
    with pytest.raises(ValueError, match="`exercise` must be one of"):
        exercises.get("resnet")


def test_exercise_notebooks_are_committed_without_outputs_and_with_stubs():
    paths = sorted(glob.glob(os.path.join(EXERCISES_DIR, "*.ipynb")))
    assert len(paths) == len(exercises.EXERCISES)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        name = os.path.basename(path)[: -len(".ipynb")]
        assert nb.metadata["kcv"]["exercise"] == name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path
        solution = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert len(solution) == 1 and solution[0].cell_type == "code", path
        assert "# YOUR CODE HERE" in solution[0].source
        assert "raise NotImplementedError" in solution[0].source
        assert "kcv" not in solution[0].source.replace("kcv grade", "")
        check_cells = [c for c in nb.cells if "check" in c.metadata.get("tags", [])]
        assert len(check_cells) == 1 and f'check("{name}",' in check_cells[0].source
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "$$" in text and "arxiv.org" in text and f"kcv grade {name}.ipynb" in text
    done = subprocess.run(
        [sys.executable, os.path.join(EXERCISES_DIR, "_build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_cell_runs_the_public_checks_in_process():
    """What a learner sees: solutions pass the public checks; stubs fail them; never "all tests"."""
    script = """
import json, sys
from kcv.grading import check, exercises
root = sys.argv[1]
for name, exercise in exercises.EXERCISES.items():
    for kind in ("solution", "stub"):
        if kind == "solution":
            source = open(f"{root}/exercises/solutions/{name}.py").read()
        else:
            cells = json.load(open(f"{root}/exercises/{name}.ipynb"))["cells"]
            source = "".join(next(c["source"] for c in cells if "solution" in c["metadata"].get("tags", [])))
        namespace = {}
        exec(compile(source, name, "exec"), namespace)
        print(f"=== {name} {kind} {check(name, namespace[exercise.class_name])}")
"""
    done = subprocess.run(
        [sys.executable, "-c", script, ROOT],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "torch"},
    )
    assert done.returncode == 0, done.stderr
    for name in exercises.EXERCISES:
        assert f"=== {name} solution True" in done.stdout, done.stdout
        assert f"=== {name} stub False" in done.stdout, done.stdout
    assert done.stdout.count("public checks passed") == len(exercises.EXERCISES)
    assert "all tests passed" not in done.stdout.lower()


def _grading_imports():
    """``{module: {modules of kcv.grading it imports}}``, read with ``ast`` (lazy imports too).

    ``from kcv.grading import x`` names the module ``x`` when there is a file
    ``x.py``, else the package (``__init__``).
    """
    names = {Path(p).stem for p in glob.glob(os.path.join(GRADING, "*.py"))}
    graph = {}
    for name in names:
        tree = ast.parse(Path(GRADING, f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[:2] == ["kcv", "grading"]:
                        found.add(parts[2] if len(parts) > 2 else "__init__")
            elif isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] != ["kcv", "grading"]:
                    continue
                if len(parts) > 2:
                    found.add(parts[2])
                else:
                    found |= {a.name if a.name in names else "__init__" for a in node.names}
        graph[name] = found - {name}
    return graph


def test_the_grading_modules_import_without_a_cycle():
    """Every module imports; the imports inside kcv.grading form a DAG (as its docstring draws)."""
    import importlib

    graph = _grading_imports()
    assert {"sandbox", "jobs", "runner", "checks", "probe", "report", "cli"} <= set(graph)
    for name in graph:
        module = "kcv.grading" if name == "__init__" else f"kcv.grading.{name}"
        importlib.import_module(module)
    assert "runner" not in graph["checks"], "checks must not import runner"
    assert graph["probe"] == set(), "probe runs as a script: it imports nothing of kcv.grading"
    state = {}  # name -> "visiting" | "done"

    def visit(name, path):
        state[name] = "visiting"
        for target in sorted(graph[name]):
            assert state.get(target) != "visiting", f"import cycle: {' → '.join(path + [target])}"
            if target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    drawn = ast.get_docstring(ast.parse(Path(GRADING, "__init__.py").read_text()))
    for name, targets in graph.items():
        if name != "__init__" and targets:
            assert f"{name:<10} → {', '.join(sorted(targets))}" in drawn, name


def test_the_grader_uses_public_keras_only():
    """No keras.src, no private Keras method, nothing of another module reassigned."""
    for path in glob.glob(os.path.join(GRADING, "*.py")):
        text = Path(path).read_text()
        assert "keras.src" not in text and '"src"' not in text, path
        assert "_flatten_layers" not in text, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
                raise AssertionError(f"{path}:{node.lineno} calls setattr()")


def test_grading_processes_get_kcv_settings_and_nothing_of_the_graders_environment(monkeypatch):
    from kcv import environment

    monkeypatch.setenv("KCV_GRADER_SECRET", "x")
    env = sandbox.environment("/tmp/home", "torch")
    assert environment.settings(env) == {}  # every setting is there, kcv's XLA flags too
    assert env["XLA_FLAGS"].startswith("--xla_cpu_multi_thread_eigen=false")
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "1" and env["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert env["KERAS_BACKEND"] == "torch" and env["HOME"] == env["TMPDIR"] == "/tmp/home"
    assert "KCV_GRADER_SECRET" not in env


def test_a_grading_process_imports_keras_without_what_grading_never_uses():
    """Off TensorFlow's backend TensorFlow stays refused; matplotlib (and JAX off its backend)
    only while Keras imports: the submission finds them absent and may import matplotlib."""
    others = [b for b in ("torch", "jax") if b in BACKENDS]
    if not others:
        pytest.skip("needs the torch or the JAX backend")
    source = (
        "import sys\n"
        "before = sorted(m for m in ('jax', 'matplotlib', 'tensorflow') if m in sys.modules)\n"
        "import matplotlib\n"
        "try:\n"
        "    import tensorflow\n"
        "    after = 'imported'\n"
        "except ImportError as error:\n"
        "    after = str(error)\n"
        "raise RuntimeError(f'before={before} matplotlib={matplotlib.__name__} tf={after}')\n"
    )
    run = sandbox.run_process(
        "submission", "layer", others[0], {"tasks": []}, {}, sandbox.Limits(), source=source
    )
    assert run.results is not None, run.problem
    message = str(run.results["import_error"])
    loaded = "['jax']" if others[0] == "jax" else "[]"
    assert f"before={loaded} matplotlib=matplotlib " in message, message
    assert "tf=`import tensorflow`: TensorFlow is not the backend here" in message, message


def test_references_belong_to_their_object():
    """Two References share nothing; one computes a reference once."""
    exercise = exercises.get("exit_thresholds")
    first, second = jobs.References(), jobs.References()
    outputs = first.function(exercise)
    assert first.function(exercise) is outputs
    assert second.function(exercise) is not outputs
    for key, value in outputs.items():
        np.testing.assert_array_equal(second.function(exercise)[key], value)
    assert not hasattr(runner, "_REFERENCES") and not hasattr(jobs, "_REFERENCES")


def test_limits_and_jobs_are_checked_with_one_message_format():
    with pytest.raises(ValueError, match=r"`timeout` must be a positive number, received -1"):
        sandbox.Limits(timeout=-1)
    with pytest.raises(ValueError, match=r"`jobs` must be an integer >= 1, received 0"):
        runner.grade_many([], ["jax"], jobs=0)
    with pytest.raises(ValueError, match=r"`backends` must be some of jax, tensorflow, torch"):
        runner.grade_many([], ["mxnet"])


def test_isolation_is_checked_and_the_jail_report_is_read_from_its_last_line(monkeypatch):
    with pytest.raises(ValueError, match=r"`isolation` must be one of auto, jail, process"):
        sandbox.Limits(isolation="docker")
    assert sandbox.Limits(isolation="process").resolved().isolation == "process"
    # Where no jail can be made, "auto" falls back and keeps the reason; "jail" refuses.
    monkeypatch.setattr(jail, "unavailable", lambda: "bwrap is missing (test)")
    fallback = sandbox.Limits().resolved()
    assert (fallback.isolation, fallback.fallback) == ("process", "bwrap is missing (test)")
    with pytest.raises(ValueError, match=r"`isolation` 'jail' cannot be used here: bwrap is"):
        sandbox.Limits(isolation="jail").resolved()
    # A report forged earlier by the submission is superseded by the jail's own, written last.
    forged = b"status 0 leftovers 0\n"
    assert jail.parse_status(forged + b"garbage\nstatus 9 leftovers 3\n") == (-9, 3)
    assert jail.parse_status(b"status 256 leftovers 0\n") == (1, 0)  # exit status 1
    assert jail.parse_status(b"no report") is None


def test_a_submission_jail_holds_two_files_of_kcv():
    binds, _, expose = jail.binds_for(sandbox.KCV_ROOT, "submission")
    package = os.path.join(sandbox.KCV_ROOT, "kcv")
    assert package not in binds and sandbox.KCV_ROOT not in binds
    assert sorted(expose) == sorted(
        [os.path.join(package, "backend.py"), os.path.join(package, "grading", "probe.py")]
    )
    assert sandbox.PROBE in expose
    assert package in jail.binds_for(sandbox.KCV_ROOT, "reference")[0]


def test_a_probe_run_repeats_exactly_through_public_seeding():
    """Initial weights and dropout masks follow keras.utils.set_random_seed: two runs agree."""
    script = """
import keras, numpy as np
from kcv.grading import probe

class Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense, self.drop = keras.layers.Dense(16), keras.layers.Dropout(0.5)

    def call(self, x, training=False):
        return self.drop(self.dense(x), training=training)

config = {"kwargs": {}, "seed": 7, "symbolic_shape": [None, 4]}
x = np.ones((8, 4), "float32")
steps = ("construct", "eval", "train")
runs = [probe.probe_layer(Block, config, {"x": x}, steps=steps) for _ in range(2)]
other = probe.probe_layer(Block, {**config, "seed": 8}, {"x": x}, steps=steps)
for key in ("out_eval", "out_train"):
    assert np.array_equal(runs[0][key], runs[1][key]), key
    assert not np.array_equal(runs[0][key], other[key]), key
assert (runs[0]["out_train"] == 0).any() and (runs[0]["out_train"] != 0).any()
print("repeated")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    assert done.returncode == 0 and "repeated" in done.stdout, done.stderr[-3000:]


def test_reports_are_plain_text_rounded_as_displayed():
    # Thirds of 2 points on three backends: 0.6667 each, 2 in total (not 2.0001).
    tests = [
        report.TestResult("numerics", b, 2 * 1 / 3, 2.0, "\x1b[1mbold\x1b[0m feedback\x1b[31m!")
        for b in ("jax", "tensorflow", "torch")
    ]
    graded = report.GradeReport("s.py", "squeeze_excite", ["jax", "tensorflow", "torch"], tests)
    graded.notes.append("\x1b[2Knote")
    scope = report.gradescope(graded)
    assert scope["score"] == 2.0 and [t["score"] for t in scope["tests"]] == [0.67] * 3
    dumped = report.dumps(scope) + report.dumps(report.as_dict(graded)) + report.text(graded)
    dumped += report.csv_text([graded])
    assert "\x1b" not in dumped and "\\u001b" not in dumped
    assert "bold feedback!" in scope["tests"][0]["output"]
    assert "2/6" in report.text(graded) and "2.0001" not in dumped
    assert report.csv_text([graded]).splitlines()[1].startswith("s.py,squeeze_excite,2,6,33.3,2,")


def _memorizing_submission(exercise):
    """The source of an exit_thresholds that only knows the public inputs' answers.

    The attack public seeds allow: compute every case offline, ship a table of
    answers keyed by the inputs' bytes, answer zeros to anything else.
    """
    reference = jobs.function_reference(exercise)
    arrays = jobs.function_inputs(exercise)
    table = {}
    for i in range(len(exercise.cases)):
        key = b"".join(arrays[f"c{i}/a{j}"].tobytes() for j in range(len(exercise.arguments)))
        if f"c{i}/out" in reference:
            table[hashlib.sha256(key).hexdigest()] = reference[f"c{i}/out"].tobytes().hex()
    return f"""
import hashlib
import numpy as np

TABLE = {table!r}


def exit_thresholds(val_probs, fractions):
    key = np.asarray(val_probs, "float64").tobytes() + np.asarray(fractions, "float64").tobytes()
    answer = TABLE.get(hashlib.sha256(key).hexdigest())
    if answer is None:
        return np.zeros(len(fractions))
    return np.frombuffer(bytes.fromhex(answer), "float64")
"""


def test_a_grading_secret_defeats_answers_computed_from_the_public_seeds(tmp_path, monkeypatch):
    exercise = exercises.get("exit_thresholds")
    solution = os.path.join(EXERCISES_DIR, "solutions", "exit_thresholds.py")
    memorized = tmp_path / "memorized.py"
    monkeypatch.delenv(jobs.SECRET_VARIABLE, raising=False)
    memorized.write_text(_memorizing_submission(exercise))
    public_inputs = jobs.function_inputs(exercise)
    public_seed = jobs.task_spec(exercises.get("squeeze_excite"), "submission")["configs"][0][
        "seed"
    ]

    def grade(path):
        return runner.grade_many([(str(path), exercise)], ["jax"], references=jobs.References())[0]

    public = grade(memorized)
    assert public.score == public.max_score  # the attack works where the seeds are public

    monkeypatch.setenv(jobs.SECRET_VARIABLE, "a teacher's secret")
    secret_inputs = jobs.function_inputs(exercise)
    assert not np.array_equal(secret_inputs["c0/a0"], public_inputs["c0/a0"])
    assert (
        jobs.task_spec(exercises.get("squeeze_excite"), "submission")["configs"][0]["seed"]
        != public_seed
    )
    np.testing.assert_array_equal(jobs.function_inputs(exercise)["c0/a0"], secret_inputs["c0/a0"])
    attacked = grade(memorized)
    assert {"values", "edge_cases"} <= _lost(attacked), report.text(attacked)
    honest = grade(solution)
    assert honest.score == honest.max_score, report.text(honest)


@pytest.mark.parametrize(
    "name", [name for name, e in exercises.EXERCISES.items() if getattr(e, "diagnoses", ())]
)
def test_no_diagnosis_mistakes_the_reference_for_a_mistake(name):
    """The reference's own output, for random weights and inputs, matches none of the mistakes."""
    import importlib

    import keras

    exercise = exercises.get(name)
    module, _, class_name = exercise.reference.rpartition(".")
    reference = getattr(importlib.import_module(module), class_name)
    inputs = jobs.layer_inputs(exercise)
    for i, config in enumerate(exercise.configs):
        keras.utils.set_random_seed(i)
        layer = reference(**config.kwargs)
        x = inputs[f"c{i}/x"]
        layer(x)
        rng = np.random.default_rng(i)
        for weight in layer.weights:
            low = 0.5 if "variance" in weight.path else -1.0
            weight.assign(rng.uniform(low, 1.0, tuple(weight.shape)).astype("float32"))
        expected = keras.ops.convert_to_numpy(layer(x, training=False)).astype("float64")
        weights = [keras.ops.convert_to_numpy(w) for w in layer.weights]
        for diagnosis in exercise.diagnoses:
            assert not diagnosis.test(
                x.astype("float64"), weights, expected, expected, config.kwargs
            ), f"{config.name}: {diagnosis.message}"


# The float64 numpy recomputation of each reference that the diagnoses start from.
RECOMPUTED = {
    "squeeze_excite": lambda x, w, kw: x * diagnoses.excitation(x, w),
    "fire_module": lambda x, w, kw: diagnoses.fire(x, w),
    "inception_module": lambda x, w, kw: np.concatenate(diagnoses.inception_branches(x, w), -1),
    "aspp": diagnoses.aspp,
    "encoding": lambda x, w, kw: diagnoses.encoding(x, w),
    "strip_pooling": lambda x, w, kw: diagnoses.strip_pooling(x, w),
}


@pytest.mark.parametrize("name", sorted(RECOMPUTED))
def test_the_diagnoses_recompute_each_reference_from_its_weights(name):
    """On every configuration, with random weights (biases and BN statistics too: zeros hide a
    missing term), the numpy recomputation equals the kcv layer in inference mode."""
    import importlib

    import keras

    exercise = exercises.get(name)
    module, _, class_name = exercise.reference.rpartition(".")
    reference = getattr(importlib.import_module(module), class_name)
    rng = np.random.default_rng(0)
    for config in exercise.configs:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.kwargs.items()}
        layer = reference(**kwargs)
        x = rng.standard_normal(config.input_shape).astype("float32")
        layer.build(x.shape)
        for weight in layer.weights:
            low = 0.5 if "variance" in weight.path else -1.0
            weight.assign(rng.uniform(low, 1.0, tuple(weight.shape)).astype("float32"))
        expected = keras.ops.convert_to_numpy(layer(x, training=False))
        weights = [keras.ops.convert_to_numpy(w).astype("float64") for w in layer.weights]
        recomputed = RECOMPUTED[name](x.astype("float64"), weights, config.kwargs)
        np.testing.assert_allclose(recomputed, expected, rtol=1e-4, atol=1e-5, err_msg=config.name)


def test_a_memory_cgroup_caps_shared_memory_and_holds_every_process():
    """A child that forks and fills 256 MiB of shared memory under a 96 MiB cap is OOM-killed."""
    problem = cgroup.unavailable()
    if problem:
        pytest.skip(problem)
    group = cgroup.MemoryGroup.create(96 << 20)
    script = (
        "import mmap, os, time\n"
        "if os.fork() == 0:\n"
        "    time.sleep(60)\n"  # a second process in the group, for remove() to find
        "m = mmap.mmap(-1, 256 << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)\n"
        "m.write(b'1' * (256 << 20))\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", script], preexec_fn=group.enter, timeout=60)
        assert done.returncode == -9 and group.out_of_memory()
    finally:
        killed = group.remove()
    assert killed == 1 and not os.path.exists(group.path)  # the sleeping child, then the group


def test_the_gradescope_script_grades_as_an_unprivileged_user():
    """run_autograder in a fake /autograder tree, grading as `nobody`, as Gradescope lays it out."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root, as on Gradescope")
    python = os.path.join(os.path.dirname(sys.executable), "python")
    probe = subprocess.run(
        ["su", "nobody", "-s", "/bin/sh", "-c", f"'{python}' -c 'import kcv.grading'"],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, f"nobody cannot start {python} (make system): {probe.stderr}"
    root = tempfile.mkdtemp(prefix="kcv-autograder-")  # not pytest's tmp_path: mode 700
    try:
        os.chmod(root, 0o755)
        for folder in ("source", "submission", "results"):
            os.makedirs(os.path.join(root, folder))
        os.symlink(sys.prefix, os.path.join(root, "venv"))  # setup.sh's /autograder/venv
        Path(root, "source", "exercise.txt").write_text("exit_thresholds\n")
        scores = {}
        for name, path in (
            ("solution", os.path.join(EXERCISES_DIR, "solutions", "exit_thresholds.py")),
            ("strict", os.path.join(CORPUS, "wrong", "exit_thresholds_strict.py")),
        ):
            shutil.copy(path, os.path.join(root, "submission", "exit_thresholds.py"))
            done = subprocess.run(
                ["bash", os.path.join(EXERCISES_DIR, "gradescope", "run_autograder")],
                env={**os.environ, "KCV_AUTOGRADER_ROOT": root, "KCV_GRADER_USER": "nobody"},
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stderr
            results = json.loads(Path(root, "results", "results.json").read_text())
            assert "autograder failed" not in results["output"], results["output"]
            maximum = sum(t["max_score"] for t in results["tests"])
            scores[name] = (results["score"], maximum)
        assert scores["solution"][0] == scores["solution"][1] > 0
        assert 0 < scores["strict"][0] < scores["strict"][1]
    finally:
        shutil.rmtree(root, ignore_errors=True)
