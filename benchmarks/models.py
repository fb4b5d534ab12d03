"""Inference and train-step throughput of every kcv model, per backend, vs. plain PyTorch.

For each model of ``kcv.models`` at a 32x32x3 input and 10 classes: the
time of an inference step (``predict_on_batch``) and of a training step
(``train_on_batch``: forward, backward, SGD update, MSE loss on fixed
random targets, one per output), under each installed Keras backend, next
to the same network written in plain PyTorch (``benchmarks/native_*.py``,
checked to have kcv's number of trainable parameters before anything is
timed). The loss is the same simple one for every model (classification,
segmentation, several exits alike): the work timed is the network's, not
the loss's.

As in ``families.py`` (both use ``benchmarks/harness.py``), every
run has a worker process of its own, started and done importing before
anything is timed; the driver then asks for one model at a time, run after
run, so that the numbers a ratio compares are taken seconds apart and only
one process computes at any moment. Each framework keeps its default
threads. The first step of each kind (tracing and compiling on JAX and
TensorFlow) is reported apart. The workers get kcv's process settings
(``kcv.environment.settings()``) under the caller's environment, which they
inherit: ``KCV_DEPTHWISE`` / ``KCV_POINTWISE`` set by the caller choose the
convolutions of every kcv run.

Usage::

    python benchmarks/models.py [--models googlenet_cifar,...] [--batch 32]
        [--repeats 5] [--warmup 2] [--dtype float32] [--backends jax,tensorflow,torch]
        [--jit-compile] [--output-dir benchmarks/results]

Prints Markdown tables and writes ``models_cpu.csv``, ``.md`` and ``.png``
(``gpu`` when the workers found one; ``_<dtype>`` appended unless float32)
to the output directory. ``--dtype mixed_bfloat16|mixed_float16`` sets
Keras' dtype policy before each model is built and runs the native steps
under ``torch.autocast``, as in ``families.py``. ``--jit-compile`` compiles
the Keras models with ``jit_compile=True`` (``torch.compile`` on the torch
backend; result names get ``_jit``): the first steps then hold the compile
time, the medians the steady state.
"""

import argparse
import csv
import dataclasses
import gc
import importlib
import json
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402  (the shared benchmark machinery; imports no framework)

SIZE, CHANNELS, CLASSES = 32, 3, 10


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One benchmarked model at 32x32x3, 10 classes.

    ``build(kcv.models)`` returns the kcv model, ``native(modules)`` the plain
    PyTorch one, ``modules`` holding ``benchmarks/native_<name>.py`` as
    attributes ``<name>`` (see :func:`native_modules`).
    """

    name: str
    description: str
    build: Callable
    native: Callable


MODELS = (
    ModelSpec(
        "googlenet_cifar",
        "GoogLeNetCIFAR (BN, 3x3 pair for 5x5)",
        lambda m: m.GoogLeNetCIFAR(classes=CLASSES),
        lambda n: n.googlenet.GoogLeNetCIFAR(classes=CLASSES),
    ),
    ModelSpec(
        "se_resnet20_cifar",
        "SEResNetCIFAR, depth 20, reduction 16",
        lambda m: m.SEResNetCIFAR(depth=20, classes=CLASSES),
        lambda n: n.resnet.SEResNetCIFAR(classes=CLASSES),
    ),
    ModelSpec(
        "se_resnet50",
        "SEResNet50 (ImageNet layout, 1x1 at the end at this size)",
        lambda m: m.SEResNet50(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.resnet.SEResNet50(classes=CLASSES),
    ),
    ModelSpec(
        "mobilenet_v1",
        "MobileNetV1, alpha 1.0",
        lambda m: m.MobileNetV1(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.mobilenet.MobileNetV1(classes=CLASSES),
    ),
    ModelSpec(
        "mobilenet_v2",
        "MobileNetV2, alpha 1.0",
        lambda m: m.MobileNetV2(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.mobilenet.MobileNetV2(classes=CLASSES),
    ),
    ModelSpec(
        "msdnet_cifar_anytime",
        "MSDNet, the paper's CIFAR anytime preset (7 exits)",
        lambda m: m.MSDNet(preset="cifar_anytime", classes=CLASSES),
        lambda n: n.msdnet.MSDNet(classes=CLASSES),
    ),
    ModelSpec(
        "encnet_cifar",
        "EncNetCIFAR, widen 4, 16 codewords, encoding gates",
        lambda m: m.EncNetCIFAR(classes=CLASSES),
        lambda n: n.resnet.EncNetCIFAR(classes=CLASSES),
    ),
    ModelSpec(
        "deeplab_v3",
        "DeepLabV3, MobileNetV2 backbone, output stride 16",
        lambda m: m.DeepLabV3(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.mobilenet.DeepLabV3(classes=CLASSES),
    ),
    ModelSpec(
        "deeplab_v3_plus",
        "DeepLabV3Plus, MobileNetV2 backbone, output stride 16",
        lambda m: m.DeepLabV3Plus(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.mobilenet.DeepLabV3Plus(classes=CLASSES),
    ),
    ModelSpec(
        "encnet",
        "EncNet, ResNet-50 backbone at output stride 8, SE-loss output",
        lambda m: m.EncNet(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.resnet.EncNet(classes=CLASSES),
    ),
    ModelSpec(
        "spnet",
        "SPNet, ResNet-50 backbone at output stride 8, strip pooling",
        lambda m: m.SPNet(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES),
        lambda n: n.resnet.SPNet(classes=CLASSES),
    ),
)
MODEL_NAMES = tuple(spec.name for spec in MODELS)
# Native PyTorch and kcv on each backend (the convolution variant of
# families.py is about single blocks).
RUNS = (harness.NATIVE, *harness.BACKEND_RUNS)
NATIVE_FILES = ("googlenet", "mobilenet", "msdnet", "resnet")


def native_modules():
    """``benchmarks/native_<name>.py`` for each of :data:`NATIVE_FILES`, as
    attributes of one namespace (this directory is on ``sys.path``)."""
    return types.SimpleNamespace(
        **{name: importlib.import_module(f"native_{name}") for name in NATIVE_FILES}
    )


def parse_args(argv=None):
    """Command-line options; ``--worker`` is the hidden per-subprocess mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default=",".join(MODEL_NAMES),
        help=f"comma-separated, from {', '.join(MODEL_NAMES)}",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each kind")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed steps of each kind, the first one reported apart",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=harness.DTYPES,
        help="Keras dtype policy; mixed: torch.autocast on the native side",
    )
    parser.add_argument(
        "--backends",
        default=",".join(run.worker for run in harness.BACKEND_RUNS),
        help="comma-separated Keras backends to run kcv on (native PyTorch always runs)",
    )
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile kcv's models with jit_compile=True (torch.compile on torch, "
        "XLA on TensorFlow; JAX always compiles)",
    )
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument(
        "--worker", choices=sorted({run.worker for run in RUNS}), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    names = harness.chosen(parser, "models", args.models, MODEL_NAMES)
    args.models = [spec for spec in MODELS if spec.name in names]
    known = [run.worker for run in harness.BACKEND_RUNS]
    backends = harness.chosen(parser, "backends", args.backends, known)
    args.runs = (harness.NATIVE, *(run for run in harness.BACKEND_RUNS if run.worker in backends))
    if args.warmup < 1 or args.repeats < 1 or args.batch < 1:
        parser.error("--batch, --warmup and --repeats must be >= 1")
    return args


# --------------------------------------------------------------------------
# Worker side: builds one model at a time, times it, prints one JSON line.


def time_model(spec, args):
    """Builds ``spec`` in this worker (kcv under its backend, or the native
    PyTorch network) and times both kinds of step.

    The native worker builds kcv's model too (Keras' torch backend), for its
    parameter count, MACs and output shapes, and drops it before timing.
    Peak resident memory is taken over the timed steps, from just before
    the first (weights, activations and the framework's own footprint).
    """
    import keras

    import kcv

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.dtype)
    model = spec.build(kcv.models)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, SIZE, SIZE, CHANNELS), dtype=np.float32)
    targets = [
        rng.standard_normal((args.batch, *output.shape[1:]), dtype=np.float32)
        for output in model.outputs
    ]
    info = {
        "params": kcv.analysis.count_params(model),
        "macs": kcv.analysis.count_macs(model),
        "outputs": len(targets),
    }
    if args.worker == harness.NATIVE.worker:
        import torch

        torch.manual_seed(0)
        module = spec.native(native_modules())
        info["kcv_params"], info["params"] = harness.check_parameters(spec.name, model, module)
        del model
        keras.backend.clear_session()
        train, predict, info["device"] = harness.native_steps(module, x, targets, args.dtype)
    else:
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=["mse"] * len(targets),
            jit_compile=True if args.jit_compile else "auto",
        )
        x = keras.ops.convert_to_tensor(x)
        y = [keras.ops.convert_to_tensor(t) for t in targets]
        y = y[0] if len(y) == 1 else y
        info["device"] = harness.keras_device(keras.backend.backend())
        # predict_on_batch and train_on_batch return NumPy: each call waits for its step.
        train, predict = (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))
    gc.collect()
    harness.reset_peak_rss()
    info["predict_first_s"], info["predict_s"] = harness.timed(predict, args.warmup, args.repeats)
    info["train_first_s"], info["train_s"] = harness.timed(train, args.warmup, args.repeats)
    info["peak_rss_mib"] = harness.peak_rss_mib()
    return info


def run_worker(args):
    """Serves the driver: imports its framework (and kcv), says so, then
    times the models named on stdin."""
    import keras

    import kcv  # noqa: F401  (imported now, not while a model is timed)

    if args.worker == harness.NATIVE.worker:
        native_modules()
    print(json.dumps({"ready": True}), flush=True)
    by_name = {spec.name: spec for spec in MODELS}
    for line in sys.stdin:
        try:
            result = time_model(by_name[line.strip()], args)
        except Exception:  # reported to the driver, which carries on with the next
            result = {"error": traceback.format_exc()}
        print(json.dumps(result), flush=True)
        keras.backend.clear_session()


# --------------------------------------------------------------------------
# Driver side.


def summarize(spec, run, result, batch):
    """One row: both kinds of step (median, spread, throughput), first steps, memory."""
    train_ms, p25, median, p75 = harness.quartiles(result["train_s"])
    predict = harness.quartiles(result["predict_s"])[2]
    peak = result.get("peak_rss_mib")
    return {
        "model": spec.name,
        "implementation": run.label,
        "device": result["device"],
        "params": result["params"],
        "macs": result["macs"],
        "median_ms": median,
        "p25_ms": p25,
        "p75_ms": p75,
        "min_ms": train_ms[0],
        "max_ms": train_ms[-1],
        "train_images_per_s": batch / (median / 1e3),
        "train_first_s": result["train_first_s"],
        "predict_median_ms": predict,
        "predict_images_per_s": batch / (predict / 1e3),
        "predict_first_s": result["predict_first_s"],
        "peak_rss_mib": None if peak is None else round(peak, 1),
        "repeats": len(train_ms),
    }


def summary_table(rows, specs):
    """One line per model: parameters, MACs, native train step, each kcv run's and its ratio."""
    labels = [run.label for run in RUNS[1:] if any(r["implementation"] == run.label for r in rows)]
    lines = [
        "| model | parameters | MACs / image | native PyTorch train ms | "
        + " | ".join(label.replace("kcv on ", "") + " train ms (×)" for label in labels)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(labels),
    ]
    for spec in specs:
        found = {r["implementation"]: r for r in rows if r["model"] == spec.name}
        if not found:
            continue
        first, native = next(iter(found.values())), found.get(harness.NATIVE.label)
        cells = [
            f"{found[label]['median_ms']:,.0f} ({harness.format_ratio(found[label])})"
            if label in found
            else "–"
            for label in labels
        ]
        lines.append(
            f"| {spec.name} | {first['params']:,} | {first['macs'] / 1e6:,.1f} M | "
            f"{'–' if native is None else format(native['median_ms'], ',.0f')} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def detail_table(rows):
    """Every run of every model: throughput both ways, first steps, spread, memory."""
    lines = [
        "| model | implementation | device | train img/s | × native | train IQR ms "
        "| infer img/s | first train / infer step s | peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        peak = "–" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:,.0f}"
        lines.append(
            f"| {r['model']} | {r['implementation']} | {r['device']} "
            f"| {r['train_images_per_s']:,.0f} | {harness.format_ratio(r)} "
            f"| {r['p25_ms']:,.0f}–{r['p75_ms']:,.0f} | {r['predict_images_per_s']:,.0f} "
            f"| {r['train_first_s']:.1f} / {r['predict_first_s']:.1f} | {peak} |"
        )
    return "\n".join(lines)


def write_results(rows, args, info, tables):
    """Writes ``<output-dir>/models_<cpu|gpu>.{csv,md,png}``; returns the Markdown path."""
    name = (
        "models_"
        + ("gpu" if any(r["device"] != "cpu" for r in rows) else "cpu")
        + ("" if args.dtype == "float32" else f"_{args.dtype}")
        + ("_jit" if args.jit_compile else "")
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    done = {r["model"] for r in rows}
    models = "\n".join(
        f"  - `{spec.name}`: {spec.description}" for spec in args.models if spec.name in done
    )
    missing = [spec.name for spec in args.models if spec.name not in done]
    if missing:  # a run stopped by a time limit, or models whose every run failed
        models += f"\n- No results (not reached, or failed) for: {', '.join(missing)}"
    command = " ".join(["python benchmarks/models.py", *sys.argv[1:]])
    path = args.output_dir / f"{name}.md"
    path.write_text(f"""# kcv models: train and inference steps per backend vs. plain PyTorch

`train_on_batch` (forward, backward, SGD(0.01) update; MSE loss on fixed
random targets, one per output, summed) and `predict_on_batch` (inference)
for each model at 32x32x3, 10 classes, under each Keras backend, next to the
same network in plain PyTorch (`benchmarks/native_*.py`, NCHW, eager,
`torch.optim.SGD`); see `benchmarks/README.md`.

- Batch {args.batch}; {args.warmup} untimed steps of each kind (the first reported apart: tracing and compilation), then {args.repeats} timed; {args.dtype}, channels_last on the Keras side; `jit_compile={True if args.jit_compile else "auto"}`
- Models:
{models}
- Each run in a worker process of its own, all started before any timing; one model at a time, run after run; default threads
- Machine: {info["cpu"]}, {info["cores"]} cores; devices: {", ".join(sorted({r["device"] for r in rows}))}
- Load average (1, 5, 15 min): {info["load_before"]} before the runs, {info["load_after"]} after
- Versions: {versions}; {info["environment"]}
- Date: {info["date"]}
- Command: `{command}`

{tables}

Parameters: trainable, checked equal between kcv and the native network
before timing. MACs: multiply-accumulates of the convolutions and dense
layers for one image (`kcv.analysis.count_macs`). ×: the train-step median
over the same model's native PyTorch median (lower is better). IQR: 25th–75th
percentile of the timed train steps. Peak RSS: the worker's peak resident
memory over the timed steps, weights, activations and framework included.
Chart: `{name}.png`.
""")
    harness.write_chart(rows, args.output_dir / f"{name}.png", group="model")
    return path


def write_partial(rows, args, info):
    """Adds the ratios to ``rows`` and (re)writes the result files with the
    models done so far; returns the Markdown tables (``""`` with no rows)."""
    if not rows:
        return ""
    info["load_after"] = harness.load_average()
    harness.add_ratios(rows, group="model")
    tables = "\n\n".join(
        (
            summary_table(rows, args.models),
            harness.targets_report(rows, "model", args.dtype),
            detail_table(rows),
        )
    )
    write_results(rows, args, info, tables)
    return tables


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    info = {**harness.machine(), "load_before": harness.load_average()}
    passthrough = [
        f"--batch={args.batch}",
        f"--repeats={args.repeats}",
        f"--warmup={args.warmup}",
        f"--dtype={args.dtype}",
        *(["--jit-compile"] if args.jit_compile else []),
    ]
    workers, failed = harness.start_workers(args.runs, passthrough, __file__)
    rows = []
    for spec in args.models:
        for run, worker in workers.items():
            print(f"{spec.name}: running {run.label} ...", file=sys.stderr, flush=True)
            try:
                result = worker.time(spec)
            except RuntimeError as error:
                print(f"{spec.name}, {run.label} failed:\n{error}", file=sys.stderr)
                failed.append(f"{spec.name}, {run.label}")
                continue
            if run is harness.NATIVE:
                print(
                    f"{spec.name}: trainable parameters kcv {result['kcv_params']:,}, "
                    f"native PyTorch {result['params']:,} (checked)",
                    file=sys.stderr,
                )
            rows.append(summarize(spec, run, result, args.batch))
        # Written after every model, so that a run stopped by a time limit
        # (benchmarks/gpu_run.sh) keeps the models it finished.
        tables = write_partial(rows, args, info)
    for worker in workers.values():
        worker.close()
    if rows:
        print(tables)
        print(f"written: {args.output_dir}", file=sys.stderr)
    for label in failed:
        print(f"FAILED: {label} (see its error above)", file=sys.stderr)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
