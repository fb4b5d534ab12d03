"""The developer tools behind `make book` and `make test`."""

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import nbformat
import pytest

from kcv import environment

pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return str(path)


def _execute(*args):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "execute_chapters.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )


def test_execute_chapters_runs_and_keeps_outputs(tmp_path):
    good = _notebook(tmp_path / "good.ipynb", "import os\nprint(os.environ['KERAS_BACKEND'])")
    done = _execute(good, "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    executed = nbformat.read(tmp_path / "out" / "numpy" / "good.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "numpy"
    assert "1 of 1 chapters executed" in done.stdout


def test_execute_chapters_fails_on_a_raising_cell(tmp_path):
    bad = _notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('broken chapter')")
    done = _execute(bad, "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "bad.ipynb  [numpy]  FAILED" in done.stdout
    assert "broken chapter" in done.stderr


def test_cli_reports_versions_and_backends():
    done = subprocess.run(
        [sys.executable, "-m", "kcv"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    assert done.returncode == 0, done.stderr
    for field in ("kcv", "keras", "jax", "tensorflow", "torch", "backend", "devices", "installed"):
        assert any(line.split()[0] == field for line in done.stdout.splitlines() if line), field
    assert "backend     numpy" in done.stdout


def test_importing_kcv_changes_nothing_in_the_process():
    """``import kcv`` leaves the environment alone and loads no backend (issue 16)."""
    env = {k: v for k, v in os.environ.items() if k not in environment.SETTINGS}
    code = (
        "import os, sys; before = dict(os.environ); import kcv; "
        "assert dict(os.environ) == before, 'import kcv changed os.environ'; "
        "assert 'keras' not in sys.modules, 'import kcv imported Keras'; "
        "import kcv.layers, kcv.models; "
        "assert 'TF_ENABLE_ONEDNN_OPTS' not in os.environ; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_command_line_applies_the_process_settings_and_keeps_the_users():
    env = {k: v for k, v in os.environ.items() if k not in environment.SETTINGS}
    env["KERAS_BACKEND"] = "numpy"
    done = subprocess.run(
        [sys.executable, "-m", "kcv"], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "settings    TF_ENABLE_ONEDNN_OPTS=1 TF_CPP_MIN_LOG_LEVEL=1" in done.stdout
    env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    done = subprocess.run(
        [sys.executable, "-m", "kcv"], capture_output=True, text=True, timeout=300, env=env
    )
    assert "TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=1" in done.stdout, "the user's choice"


def test_configure_adds_only_what_is_missing_and_warns_when_too_late(monkeypatch):
    monkeypatch.setattr(environment, "xla_flags", lambda: [])  # no jaxlib to fit
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    assert environment.configure(env, compilation_cache=False) == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "1"}
    assert environment.configure(env, compilation_cache=False) == {}
    assert environment.settings(env) == {} and environment.settings() == environment.SETTINGS
    for key in environment.SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    with pytest.warns(UserWarning, match="after TensorFlow was imported"):
        environment.configure(compilation_cache=False)


def test_configure_gives_jax_a_compilation_cache_unless_the_caller_chose(tmp_path, monkeypatch):
    monkeypatch.setattr(environment, "xla_flags", lambda: [])
    home = tmp_path / "cache"
    directory = str(home / "kcv" / "jax")
    threshold = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
    env = {"XDG_CACHE_HOME": str(home)}
    added = environment.configure(env)
    assert added[environment.CACHE_DIR] == env[environment.CACHE_DIR] == directory
    assert env[threshold] == "0"
    assert not home.exists(), "JAX makes the directory when it first compiles"
    assert environment.compilation_cache_dir({"HOME": "/home/me"}) == "/home/me/.cache/kcv/jax"
    # The caller's directory, or its threshold alone, is kept.
    env = {environment.CACHE_DIR: "/mine"}
    assert set(environment.configure(env)) == set(environment.SETTINGS)
    env = {"XDG_CACHE_HOME": str(home), threshold: "2"}
    environment.configure(env)
    assert env[threshold] == "2" and env[environment.CACHE_DIR] == directory
    # Nowhere to put it (the cache home is a file), or not for this process: none.
    (tmp_path / "a_file").write_text("")
    for env, kwargs in (
        ({"XDG_CACHE_HOME": str(tmp_path / "a_file")}, {}),
        ({"XDG_CACHE_HOME": str(home)}, {"compilation_cache": False}),
    ):
        assert environment.CACHE_DIR not in environment.configure(env, **kwargs)
        assert threshold not in env
    assert environment.CACHE_DIR not in environment.settings({"XDG_CACHE_HOME": str(home)})
    # Read by JAX when it is imported: too late after that.
    for key in (environment.CACHE_DIR, threshold):
        monkeypatch.setenv(key, "")  # so that monkeypatch restores what configure() sets
        monkeypatch.delenv(key)
    for key, value in environment.SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setitem(sys.modules, "jax", object())
    with pytest.warns(UserWarning, match="after JAX was imported"):
        environment.configure()


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_a_chapter_process_leaves_its_compiled_programs_in_the_cache(tmp_path):
    """What configure() adds is what JAX reads: the programs a fresh process compiles land there."""
    caller = (environment.CACHE_DIR, *environment.CACHE_SETTINGS)
    env = {k: v for k, v in os.environ.items() if k not in caller}
    env.update(XDG_CACHE_HOME=str(tmp_path), JAX_PLATFORMS="cpu")
    code = (
        "import kcv; kcv.environment.configure(); import jax.numpy as jnp; "
        "print(float((jnp.arange(6.0) * 2).sum()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "30.0"
    assert len(os.listdir(tmp_path / "kcv" / "jax")) >= 2, "one program per operation"


def test_xla_flags_join_the_callers_and_keep_a_flag_the_caller_named(monkeypatch):
    ynn = "--xla_cpu_experimental_ynn_fusion_type"
    assert environment.xla_flags("0.10.2") == [
        f"{ynn}=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
    ]
    assert environment.xla_flags("0.10.3.dev20270101") == environment.xla_flags("0.10.2")
    # XLA aborts on a flag it does not know: none for releases not measured.
    for version in ("0.4.36", "0.9.2", "0.10.1", "0.11.0", "1.0"):
        assert environment.xla_flags(version) == [], version
    monkeypatch.setattr(environment, "xla_flags", lambda: ["--a=1", "--b=2"])
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 --b=0"}
    assert environment.settings(env) == {
        "TF_ENABLE_ONEDNN_OPTS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "1",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2 --b=0 --a=1",
    }
    assert env == {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 --b=0"}
    assert environment.settings() == {**environment.SETTINGS, "XLA_FLAGS": "--a=1 --b=2"}
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    for key, value in environment.SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XLA_FLAGS", "")
    with warnings.catch_warnings():  # XLA reads its flags at JAX's first computation
        warnings.simplefilter("error")
        assert environment.configure() == {"XLA_FLAGS": "--a=1 --b=2"}


@pytest.mark.skipif(not environment.xla_flags(), reason="no XLA flags for this jaxlib")
def test_the_xla_flags_give_convolutions_back_to_xla():
    """The installed jaxlib hands convolutions to YNNPACK unless kcv's flag says otherwise."""
    code = (
        "import jax, jax.numpy as jnp; x = jnp.ones((8, 16, 16, 64)); k = jnp.ones((3, 3, 64, 64)); "
        "f = jax.jit(lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME', "
        "dimension_numbers=('NHWC', 'HWIO', 'NHWC'))); "
        "print('ynn' in f.lower(x, k).compile().as_text())"
    )
    found = {}
    for flags in ("", " ".join(environment.xla_flags())):
        env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        found[flags] = done.stdout.split()[-1]
    assert found == {"": "True", " ".join(environment.xla_flags()): "False"}


def test_parallel_runs_split_the_cores_between_their_thread_pools():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_tests

    assert run_tests.lane_threads(2, cpus=2) == environment.thread_settings(1)
    assert run_tests.lane_threads(2, cpus=8)["TF_NUM_INTRAOP_THREADS"] == "4"
    assert run_tests.lane_threads(4, cpus=2)["OMP_NUM_THREADS"] == "1"  # never 0
    assert set(environment.thread_settings(3)) == {
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"
    }  # fmt: skip
    with pytest.raises(ValueError, match="`threads` must be an integer >= 1"):
        environment.thread_settings(0)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--backends", "mxnet"], "--backends must name"),
        (["--jobs", "0"], "--jobs must be an integer >= 1; received 0"),
    ],
)
def test_runner_rejects_bad_options(options, message):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "run_tests.py"), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and message in done.stderr


def test_chapter_matrix_table(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_tests

    assert run_tests.chapter_matrix(str(tmp_path / "none")) is None
    (tmp_path / "jax.json").write_text(
        '{"01.ipynb": {"status": "ok", "seconds": 12.0, "figures": 3}}'
    )
    (tmp_path / "torch.json").write_text(
        '{"01.ipynb": {"status": "FAILED", "seconds": 3.0, "figures": 0}}'
    )
    table = run_tests.chapter_matrix(str(tmp_path))
    assert table.splitlines()[0] == "| chapter | jax | torch |"
    assert table.splitlines()[2] == "| 01.ipynb | ok 12s, 3 fig. | FAILED 3s, 0 fig. |"


def test_durations_table_sums_each_test_file_per_run(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_tests

    monkeypatch.setattr(run_tests, "RESULTS", str(tmp_path))
    assert run_tests.durations(["jax"]) is None
    (tmp_path / "jax.xml").write_text(
        '<testsuites><testsuite tests="3">'
        '<testcase classname="tests.test_a" name="x" time="2.5"/>'
        '<testcase classname="tests.test_a" name="y" time="1.0"/>'
        '<testcase classname="tests.test_b" name="z" time="9.0"/>'
        "</testsuite></testsuites>"
    )
    (tmp_path / "torch.xml").write_text(
        '<testsuite tests="1"><testcase classname="tests.test_a" name="x" time="4"/></testsuite>'
    )
    lines = run_tests.durations(["jax", "torch", "tensorflow"], top=2).splitlines()
    assert lines[0] == "| test file | total | jax | torch |"
    assert lines[2:] == ["| test_b | 9 | 9 |  |", "| test_a | 8 | 4 | 4 |"]


def test_a_runs_cpu_time_counts_the_processes_it_started():
    """A run's CPU time is its whole tree's: a grandchild's busy second is in it, a sleep not;
    its peak memory is the largest process's, the grandchild's 300 MiB."""
    spin = (
        "import time\nheld = b'x' * (300 * 2**20)\n"
        "t = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    )
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {spin!r}], check=True)\n"
        "time.sleep(0.5)\n"
        "sys.exit(3)"
    )
    # Measured from a fresh interpreter: Linux keeps a process's peak across
    # fork and exec, so a child of this test process would report at least
    # this process's own resident set (see run_tests._wait).
    waiter = (
        f"import subprocess, sys\nsys.path.insert(0, {os.path.join(ROOT, 'tools')!r})\n"
        "import run_tests\n"
        f"print(*run_tests._wait(subprocess.Popen([sys.executable, '-c', {script!r}])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", waiter],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    assert done.returncode == 0, done.stderr
    code, cpu, peak = (float(value) for value in done.stdout.split())
    assert code == 3
    assert 0.6 <= cpu < 1.2
    assert 300 <= peak < 400


def test_the_runner_takes_a_job_per_core_as_memory_and_its_runs_allow():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_tests

    gib = 2**30
    assert run_tests.default_jobs(8, cpus=2, memory=24 * gib) == 2  # this machine
    assert run_tests.default_jobs(8, cpus=4, memory=32 * gib) == 4
    assert run_tests.default_jobs(8, cpus=16, memory=128 * gib) == 8  # one per run
    assert run_tests.default_jobs(8, cpus=16, memory=16 * gib) == 2  # 6 GiB per run
    assert run_tests.default_jobs(8, cpus=16, memory=24 * gib) == 4
    assert run_tests.default_jobs(8, cpus=1, memory=gib) == 1  # never 0
    assert run_tests.default_jobs(8) >= 1


def test_runner_plan_splits_tests_chapters_and_grading():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_tests

    runs = run_tests.plan(["jax", "tensorflow", "torch"])
    assert [label for label, *_ in runs] == [
        "jax",
        "grading",
        "independent",
        "tensorflow-chapters",
        "torch-chapters",
        "jax-chapters",
        "tensorflow",
        "torch",
    ]
    by_label = {label: (backend, marker, paths) for label, backend, marker, paths in runs}
    assert by_label["torch"] == (
        "torch",
        "not backend_independent",
        ["tests", "--ignore=tests/test_chapters.py", "--ignore=tests/test_book.py"],
    )
    assert by_label["torch-chapters"] == (
        "torch",
        "not backend_independent",
        ["tests/test_chapters.py"],
    )
    # The book builds from the JAX chapters just executed, in the same process.
    assert by_label["jax-chapters"][2] == ["tests/test_chapters.py", "tests/test_book.py"]
    # The backend-independent tests run once, the grader's apart from the others.
    assert by_label["independent"] == (
        "jax",
        "backend_independent",
        ["tests", "--ignore=tests/test_grading.py", "--ignore=tests/test_nbgrader.py"],
    )
    assert by_label["grading"] == (
        "jax",
        "backend_independent",
        ["tests/test_grading.py", "tests/test_nbgrader.py"],
    )
    torch_only = run_tests.plan(["torch"])
    assert [label for label, *_ in torch_only] == [
        "grading",
        "independent",
        "torch-chapters",
        "torch",
    ]
    assert torch_only[2][3] == ["tests/test_chapters.py", "tests/test_book.py"]
    assert run_tests.plan([]) == []


_RECORDING_CHAPTER = (
    "FAST = False\nSEEDS = 2\nRECORD = None",
    "import kcv\n"
    "seeds = [0] if FAST else list(range(SEEDS))\n"
    "c = kcv.experiments.compare({'base': lambda s: {'m': 1.0}, 'more': lambda s: {'m': 2.0 + s}},"
    " seeds, 'demo', verbose=0)\n"
    "if RECORD:\n    c.save(RECORD, chapter='99_demo')",
)


def test_reproduce_records_a_chapter_and_keeps_the_old_record_on_failure(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import reproduce

    monkeypatch.setattr(reproduce, "RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(reproduce, "ROOT", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    good = _notebook(tmp_path / "99_demo.ipynb", *_RECORDING_CHAPTER)
    nb = nbformat.read(good, as_version=4)
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, good)
    assert reproduce.records(good) and not reproduce.records(_notebook(tmp_path / "x.ipynb", "1"))

    assert reproduce.reproduce(good, seeds=3, timeout=300) is None
    record = json.loads((tmp_path / "results" / "99_demo.json").read_text())
    demo = record["comparisons"]["demo"]
    assert record["chapter"] == "99_demo" and demo["seeds"] == [0, 1, 2]  # SEEDS = 3 injected
    assert demo["metrics"]["more"]["m"] == [2.0, 3.0, 4.0] and demo["backend"] == "numpy"
    summary = (tmp_path / "results" / "99_demo.md").read_text()
    assert "| more | 3.000 ± 1.000 |" in summary
    assert "- over 3 seeds, more minus base on m: +2.000 ± 1.000" in summary

    nb.cells[1].source += "\nraise RuntimeError('broken')"
    nbformat.write(nb, good)
    assert "broken" in reproduce.reproduce(good, seeds=2, timeout=300)
    assert json.loads((tmp_path / "results" / "99_demo.json").read_text()) == record


def test_model_zoo_lists_every_model_and_computes_its_row(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import model_zoo

    import kcv

    listed = {call.split("(")[0] for call, *_ in model_zoo.entries()}
    builders = {name for name in kcv.models.__all__ if name[0].isupper()}
    assert builders <= listed, f"not in the zoo: {sorted(builders - listed)}"

    (tmp_path / "models.csv").write_text(
        "model,implementation,ratio\n"
        "resnet,native PyTorch (torch.nn),1.0\nresnet,kcv on jax,1.25\nresnet,kcv on torch,2.0\n"
    )
    monkeypatch.setattr(model_zoo, "BENCHMARK", str(tmp_path / "models.csv"))
    assert model_zoo.speeds() == {"resnet": {"jax": 1.25, "torch": 2.0}}
    names = ("ResNet(18)", "SqueezeNet('1.1')", "GoogLeNet()", "SEResNet50()")
    chosen = [
        (*e[:4], "resnet") if e[0] == "ResNet(18)" else e
        for e in model_zoo.entries()
        if e[0] in names
    ]
    page = model_zoo.markdown(model_zoo.rows(chosen))
    # torchvision's counts and MACs (resnet18: 11,689,512, 1.81 G; squeezenet1_1: 0.35 G)
    assert "| `ResNet(18)` | 11,689,512 | 1.81 G | 224×224×3 |" in page
    assert "| 1.25× |  | 2.00× | torchvision `ResNet18_Weights`: IMAGENET1K_V1 |" in page
    assert "| `SqueezeNet('1.1')` | 1,235,496 | 349.2 M |" in page
    assert "`SqueezeNet1_1_Weights`: IMAGENET1K_V1 |" in page
    # The weights column: the paper's GoogLeNet (5x5s) takes none, SE-ResNet-50 timm's.
    assert page.split("`GoogLeNet()`")[1].split("\n")[0].endswith("|  |  |  |  |")
    assert "timm `seresnet50`: a1_in1k, a2_in1k, a3_in1k, ra2_in1k |" in page


def test_run_cells_runs_code_cells_with_parameters_in_the_notebooks_folder(tmp_path):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("FAST = True\nSEEDS = 3")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# not run"),
        parameters,
        nbformat.v4.new_code_cell(
            "import os\nopen('seen.txt', 'w').write(f'{FAST} {SEEDS} {os.getcwd()}')"
        ),
    ]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    script = os.path.join(ROOT, "tools", "run_cells.py")
    done = subprocess.run(
        [sys.executable, script, str(path), "SEEDS=5"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seen.txt").read_text() == f"True 5 {tmp_path}"
    assert "2 cells in" in done.stdout
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('broken cell')"))
    nbformat.write(notebook, path)
    done = subprocess.run([sys.executable, script, str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "broken cell" in done.stderr
    assert "cell 2 raised" in done.stdout

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_cells

    with pytest.raises(ValueError, match="NAME=VALUE"):
        run_cells.parameters(["SEEDS"])
    with pytest.raises(ValueError, match="SEEDS: VALUE must be a Python literal"):
        run_cells.parameters(["SEEDS=three"])
