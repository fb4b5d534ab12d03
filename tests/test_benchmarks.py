"""The benchmarks behind `make bench`: native PyTorch references, the shared harness, the scripts."""

import csv
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
FAMILIES_SCRIPT = os.path.join(BENCHMARKS, "families.py")


def _load(name):
    """Imports ``benchmarks/<name>.py`` (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


families = _load("families")  # imports no framework at module level
models = _load("models")
torch_paths = _load("torch_paths")
harness = families.harness  # what both scripts import (they put benchmarks/ on sys.path)


def _run_script(script, output_dir, *options):
    """Runs a benchmark script with ``options``, writing to ``output_dir``; returns the
    finished process (fails with its stderr)."""
    done = subprocess.run(
        [sys.executable, script, *options, "--output-dir", str(output_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def native_torch():
    """benchmarks/native_torch.py, on Keras' torch backend only: where the
    benchmark's native worker compares the parameter counts (kcv's counts do
    not depend on the backend, and JAX would compile every weight initializer)."""
    import keras

    if keras.backend.backend() != "torch":
        pytest.skip("the benchmark compares parameter counts under Keras' torch backend")
    return _load("native_torch")


@pytest.mark.parametrize("name", families.FAMILY_NAMES)
def test_native_module_has_the_kcv_block_structure(native_torch, name):
    import torch

    family = next(f for f in families.FAMILIES if f.name == name)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, family.channels), dtype=np.float32)
    _, layer, target = families.kcv_model(family, x)
    module = family.native_module(native_torch, family.channels)
    kcv_count, native_count = harness.check_parameters(family.name, layer, module)
    assert kcv_count == native_count > 0
    native_out = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    expected = target.shape if target.ndim != 4 else np.transpose(target, (0, 3, 1, 2)).shape
    assert tuple(native_out.shape) == expected


def test_parameter_count_mismatch_fails_loudly(native_torch):
    family = next(f for f in families.FAMILIES if f.name == "se")
    x = np.zeros((2, 4, 4, family.channels), dtype=np.float32)
    _, layer, _ = families.kcv_model(family, x)
    wrong = native_torch.SqueezeExcite(family.channels, reduction=8)
    with pytest.raises(RuntimeError, match="same structure"):
        harness.check_parameters(family.name, layer, wrong)


@pytest.mark.slow
@pytest.mark.backend_independent
def test_families_script_times_every_backend_and_native(tmp_path):
    done = _run_script(
        FAMILIES_SCRIPT,
        tmp_path,
        "--families",
        "se",
        "--repeats",
        "1",
        "--warmup",
        "1",
        "--batch",
        "2",
        "--size",
        "8",
    )
    with open(tmp_path / "families_cpu.csv") as f:
        rows = list(csv.DictReader(f))
    installed = [b for b in ("jax", "tensorflow", "torch") if importlib.util.find_spec(b)]
    expected = ["native PyTorch (torch.nn, NCHW)"] * ("torch" in installed)
    expected += [f"kcv on {b}" for b in installed]
    assert [r["implementation"] for r in rows] == expected
    assert {r["params"] for r in rows} == {"8464"}
    assert all(float(r["median_ms"]) > 0 for r in rows)
    report = (tmp_path / "families_cpu.md").read_text()
    assert "Load average" in report and "| SqueezeExcite | 8,464 |" in report
    assert "Targets (issue 19;" in report
    assert "se: trainable parameters kcv 8,464, native PyTorch 8,464 (checked)" in done.stderr


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_native_model_has_the_kcv_model_structure(native_torch, name):
    import keras
    import torch

    import kcv

    spec = next(s for s in models.MODELS if s.name == name)
    keras.utils.set_random_seed(0)
    model = spec.build(kcv.models)
    module = spec.native(models.native_modules())
    kcv_count, native_count = harness.check_parameters(name, model, module)
    assert kcv_count == native_count == kcv.analysis.count_params(model) > 0
    x = torch.zeros(1, models.CHANNELS, models.SIZE, models.SIZE)
    with torch.inference_mode():
        outputs = module.eval()(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    expected = [(1, *o.shape[1:]) for o in model.outputs]
    expected = [(s[0], s[3], s[1], s[2]) if len(s) == 4 else s for s in expected]  # NHWC -> NCHW
    assert [tuple(o.shape) for o in outputs] == expected


@pytest.mark.slow
@pytest.mark.backend_independent
def test_models_script_times_every_backend_and_native(tmp_path):
    _run_script(
        os.path.join(BENCHMARKS, "models.py"),
        tmp_path,
        "--models",
        "se_resnet20_cifar",
        "--repeats",
        "1",
        "--warmup",
        "1",
        "--batch",
        "2",
    )
    with open(tmp_path / "models_cpu.csv") as f:
        rows = list(csv.DictReader(f))
    installed = [b for b in ("jax", "tensorflow", "torch") if importlib.util.find_spec(b)]
    expected = ["native PyTorch (torch.nn, NCHW)"] * ("torch" in installed)
    assert [r["implementation"] for r in rows] == expected + [f"kcv on {b}" for b in installed]
    assert {r["params"] for r in rows} == {"274847"} and len({r["macs"] for r in rows}) == 1
    assert all(
        float(r["train_images_per_s"]) > 0 and float(r["predict_images_per_s"]) > 0 for r in rows
    )
    if expected:
        assert float(rows[0]["ratio"]) == 1.0 and all(float(r["ratio"]) > 0 for r in rows)
    report = (tmp_path / "models_cpu.md").read_text()
    assert "Load average" in report and "| se_resnet20_cifar | 274,847 |" in report
    assert (tmp_path / "models_cpu.png").stat().st_size > 0


@pytest.mark.backend_independent
def test_models_script_rejects_unknown_models():
    with pytest.raises(SystemExit):
        models.parse_args(["--models", "resnet1000"])
    assert [spec.name for spec in models.parse_args(["--models", "mobilenet_v2"]).models] == [
        "mobilenet_v2"
    ]
    assert models.parse_args([]).dtype == "float32"
    assert models.parse_args(["--dtype", "mixed_bfloat16"]).dtype == "mixed_bfloat16"
    with pytest.raises(SystemExit):
        models.parse_args(["--dtype", "float16"])


@pytest.mark.backend_independent
def test_models_script_writes_what_it_finished(tmp_path):
    """A run stopped by a time limit keeps the models done; the report says which are missing."""
    args = models.parse_args(
        ["--models", "se_resnet20_cifar,mobilenet_v1", "--output-dir", str(tmp_path)]
    )
    spec = args.models[0]
    result = {"device": "cpu", "params": 10, "macs": 100, "train_first_s": 1.0}
    result |= {"predict_first_s": 0.5, "peak_rss_mib": 300.0}
    rows = [
        models.summarize(spec, run, result | {"train_s": times, "predict_s": [0.01]}, batch=4)
        for run, times in ((models.harness.NATIVE, [0.02, 0.02]), (args.runs[1], [0.04, 0.05]))
    ]
    info = {**models.harness.machine(), "load_before": "0, 0, 0"}
    tables = models.write_partial(rows, args, info)
    assert "| se_resnet20_cifar | 10 | 0.0 M | 20 | 45 (2.25) |" in tables
    report = (tmp_path / "models_cpu.md").read_text()
    assert "`se_resnet20_cifar`" in report and "`mobilenet_v1`" not in report
    assert "No results (not reached, or failed) for: mobilenet_v1" in report
    assert f"- se_resnet20_cifar, {args.runs[1].label}: 2.25 (target" in report
    with open(tmp_path / "models_cpu.csv") as f:
        assert [r["ratio"] for r in csv.DictReader(f)] == ["1.0", "2.25"]
    assert models.write_partial([], args, info) == ""


@pytest.mark.backend_independent
def test_the_report_names_each_run_over_its_target():
    def row(implementation, ratio, device="cpu"):
        return {"model": "m", "implementation": implementation, "device": device, "ratio": ratio}

    rows = [
        row(harness.NATIVE.label, 1.0),
        row("kcv on jax", 1.25),
        row("kcv on tensorflow", 2.0),  # no target on TensorFlow
        row("kcv on torch", 1.29),
        row(families.KERAS_CONVOLUTIONS.label, 3.0),  # a reference, not kcv's
    ]
    report = harness.targets_report(rows, "model", "float32")
    assert "jax 1.2, torch 1.3." in report and "Over target in this run, 1 of 2:" in report
    assert "\n- m, kcv on jax: 1.25 (target 1.2)\n" in report
    assert "tensorflow:" not in report and "torch:" not in report and "3.00" not in report
    assert '"Where the targets are missed, and why"' in report

    rows[1]["ratio"] = 1.2  # at the target is within it
    assert "All 2 runs with a target are within it." in harness.targets_report(
        rows, "model", "float32"
    )
    assert "None applies to this run (mixed_bfloat16; devices: cpu)." in harness.targets_report(
        rows, "model", "mixed_bfloat16"
    )
    on_gpu = [row("kcv on jax", 2.0, "NVIDIA H100"), row("kcv on torch", None)]
    assert "None applies to this run (float32; devices: NVIDIA H100, cpu)." in (
        harness.targets_report(on_gpu, "model", "float32")
    )


@pytest.mark.backend_independent
def test_models_script_selects_backends_and_jit_compile():
    default = models.parse_args([])
    assert [run.worker for run in default.runs] == ["torch-native", "jax", "tensorflow", "torch"]
    assert default.jit_compile is False
    chosen = models.parse_args(["--backends", "torch", "--jit-compile"])
    assert [run.worker for run in chosen.runs] == ["torch-native", "torch"]
    assert chosen.jit_compile is True
    for wrong in ("mxnet", ",", "torch,numpy"):
        with pytest.raises(SystemExit):
            models.parse_args(["--backends", wrong])


@pytest.mark.backend_independent
def test_grading_benchmark_generates_a_class_with_known_answers(tmp_path):
    grading = _load("grading")
    expected = grading.generate(tmp_path, "squeeze_excite", 9)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(expected) and len(files) == 9
    assert sum(expected.values()) == 5, "every other submission is the solution"
    texts = [p.read_text() for p in tmp_path.iterdir()]
    assert len(set(texts)) == 9, "no two submissions are the same file"
    rows = [
        {"submission": str(tmp_path / name), "score": "10" if ok else "4", "max_score": "10"}
        for name, ok in expected.items()
    ]
    assert grading.check_scores(rows, expected) == []
    rows[0]["score"], rows[1]["score"] = "4", "10"
    rows.pop()
    problems = grading.check_scores(rows, expected)
    assert len(problems) == 3 and problems[-1].endswith("not graded")
    with pytest.raises(ValueError, match="exercise must have"):
        grading.generate(tmp_path, "no_such_exercise", 2)


@pytest.mark.backend_independent
def test_pooled_loss_reduces_every_axis_but_batch_and_channels():
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    np.testing.assert_allclose(harness.spatial_mean(np, x), x.mean(axis=(1, 2)))
    channels_first = x.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(
        harness.spatial_mean(np, channels_first, channels_last=False), x.mean(axis=(1, 2))
    )
    codes = x[:, 0]  # (B, K, C), as Encoding outputs on both sides
    np.testing.assert_allclose(
        harness.spatial_mean(np, codes, channels_last=False), codes.mean(axis=1)
    )
    assert harness.spatial_mean(np, x[:, 0, 0]) is not None
    assert families.result_name([{"device": "cpu"}], "float32", "pooled") == "families_cpu_pooled"
    assert (
        families.result_name([{"device": "cpu"}], "mixed_bfloat16") == "families_cpu_mixed_bfloat16"
    )


@pytest.mark.backend_independent
def test_kcv_bench_runs_the_checkout_scripts(capsys):
    from kcv import __main__ as cli

    assert cli.main(["bench", "nosuch"]) == 2
    assert (
        "NAME must be one of encoding_memory, families, grading, models, torch_paths"
        in capsys.readouterr().err
    )
    assert {name for name, _ in cli.BENCHMARKS} == {
        "families",
        "models",
        "torch_paths",
        "encoding_memory",
        "grading",
    }
    for name, _ in cli.BENCHMARKS:
        assert os.path.exists(os.path.join(BENCHMARKS, f"{name}.py")), name
    # Arguments after the name reach the script (argparse refuses this one: exit status 2).
    assert cli.main(["bench", "grading", "--submissions", "x"]) == 2


@pytest.mark.backend_independent
def test_the_scripts_share_the_harness_and_not_each_other():
    """families.py and models.py import harness.py; neither imports the other."""
    import ast

    for name in ("families", "models", "grading", "encoding_memory"):
        with open(os.path.join(BENCHMARKS, f"{name}.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"families", "models"}, (name, sorted(imported))
    assert families.NATIVE is harness.NATIVE and models.RUNS[0] is harness.NATIVE
    assert [run.label for run in models.RUNS[1:]] == [run.label for run in harness.BACKEND_RUNS]
    assert families.KERAS_CONVOLUTIONS in families.RUNS
    assert families.KERAS_CONVOLUTIONS not in models.RUNS


@pytest.mark.backend_independent
def test_importing_the_benchmarks_changes_no_environment(monkeypatch):
    """The settings reach the workers' environment, not this process's."""
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setenv("KCV_DEPTHWISE", "shifted")
    backend_before = os.environ.get("KERAS_BACKEND")
    for name in ("harness", "families", "models", "torch_paths", "encoding_memory"):
        _load(name)
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
    assert os.environ.get("KERAS_BACKEND") == backend_before
    from kcv import environment

    env = harness.worker_environment()
    assert environment.settings(env) == {}
    assert env["KCV_DEPTHWISE"] == "shifted"  # the caller's own variables are kept ...
    assert "KCV_DEPTHWISE" not in families.worker_environ()  # ... but families.py's RUNS choose
    mine = harness.worker_environment({"TF_ENABLE_ONEDNN_OPTS": "0"})
    assert mine["TF_ENABLE_ONEDNN_OPTS"] == "0"  # a value the caller set wins
    flags = " ".join(["--a=1", *environment.xla_flags()])  # the caller's, then kcv's
    assert harness.machine({"TF_ENABLE_ONEDNN_OPTS": "0", "XLA_FLAGS": "--a=1"})["environment"] == (
        f"TF_ENABLE_ONEDNN_OPTS=0; XLA_FLAGS={flags}"
    )


@pytest.mark.backend_independent
def test_torch_paths_options_and_the_keras_route():
    args = torch_paths.parse_args(["--models", "mobilenet_v1,se_resnet20_cifar", "--rounds", "3"])
    assert [spec.name for spec in args.models] == ["se_resnet20_cifar", "mobilenet_v1"]
    assert args.rounds == 3 and args.batch == 32
    for wrong in (["--models", "resnet1000"], ["--rounds", "0"], ["--batch", "0"]):
        with pytest.raises(SystemExit):
            torch_paths.parse_args(wrong)
    from kcv import backend

    route = torch_paths.keras_route(backend)
    assert route.name() != "torch"  # kcv's layers then take Keras' own computation
    assert route.installed_backends is backend.installed_backends  # the rest is kcv.backend's


@pytest.mark.slow
@pytest.mark.backend_independent
@pytest.mark.skipif(not importlib.util.find_spec("torch"), reason="times the torch backend")
def test_torch_paths_script_times_the_three_runs(tmp_path):
    _run_script(
        os.path.join(BENCHMARKS, "torch_paths.py"),
        tmp_path,
        "--models",
        "se_resnet20_cifar",
        "--rounds",
        "1",
        "--batch",
        "2",
    )
    report = (tmp_path / "torch_paths_cpu.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| se_resnet20_cifar |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == 5 and all(cell for cell in cells)
    assert float(cells[4].split()[0]) > 0
