"""Inference and train-step throughput of every kcv model, per backend, at CIFAR size.

For each model of ``kcv.models`` at a 32x32x3 input and 10 classes: images
per second of an inference step (``predict_on_batch``) and of a training
step (``train_on_batch``: forward, backward, SGD update, MSE loss on fixed
random targets, one per output), under each installed Keras backend. The
loss is the same simple one for every model (classification, segmentation,
several exits alike): the work timed is the network's, not the loss's.

As in ``families.py``, whose worker machinery this script shares, every
backend has a worker process of its own, started and done importing before
anything is timed; the driver then asks for one model at a time, backend
after backend, so that the numbers a comparison uses are taken minutes
apart at most and only one process computes at any moment. Each framework
keeps its default threads. The first step of each kind (tracing and
compiling on JAX and TensorFlow) is reported apart.

Usage::

    python benchmarks/models.py [--models googlenet_cifar,...] [--batch 32]
        [--repeats 5] [--warmup 2] [--output-dir benchmarks/results]

Prints a Markdown table and writes ``models_cpu.csv`` and ``.md`` (``gpu``
when the workers found one) to the output directory.
"""

import argparse
import csv
import dataclasses
import gc
import json
import statistics
import sys
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import families  # noqa: E402  (the shared worker machinery; imports no framework)

SIZE, CHANNELS, CLASSES = 32, 3, 10


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One benchmarked model: ``build(kcv.models)`` returns it at 32x32x3, 10 classes."""

    name: str
    description: str
    build: Callable


MODELS = (
    ModelSpec("googlenet_cifar", "GoogLeNetCIFAR (BN, 3x3 pair for 5x5)",
              lambda m: m.GoogLeNetCIFAR(classes=CLASSES)),
    ModelSpec("se_resnet20_cifar", "SEResNetCIFAR, depth 20, reduction 16",
              lambda m: m.SEResNetCIFAR(depth=20, classes=CLASSES)),
    ModelSpec("se_resnet50", "SEResNet50 (ImageNet layout, 1x1 at the end at this size)",
              lambda m: m.SEResNet50(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
    ModelSpec("mobilenet_v1", "MobileNetV1, alpha 1.0",
              lambda m: m.MobileNetV1(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
    ModelSpec("mobilenet_v2", "MobileNetV2, alpha 1.0",
              lambda m: m.MobileNetV2(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
    ModelSpec("msdnet_cifar_anytime", "MSDNet, the paper's CIFAR anytime preset (10 exits)",
              lambda m: m.MSDNet(preset="cifar_anytime", classes=CLASSES)),
    ModelSpec("encnet_cifar", "EncNetCIFAR, widen 4, 16 codewords, SE-loss output",
              lambda m: m.EncNetCIFAR(classes=CLASSES)),
    ModelSpec("deeplab_v3", "DeepLabV3, MobileNetV2 backbone, output stride 16",
              lambda m: m.DeepLabV3(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
    ModelSpec("deeplab_v3_plus", "DeepLabV3Plus, MobileNetV2 backbone, output stride 16",
              lambda m: m.DeepLabV3Plus(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
    ModelSpec("encnet", "EncNet, ResNet-50 backbone at output stride 8, SE-loss output",
              lambda m: m.EncNet(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
    ModelSpec("spnet", "SPNet, ResNet-50 backbone at output stride 8, strip pooling",
              lambda m: m.SPNet(input_shape=(SIZE, SIZE, CHANNELS), classes=CLASSES)),
)
MODEL_NAMES = tuple(spec.name for spec in MODELS)
# kcv on each backend: neither the native PyTorch run nor the convolution variant.
RUNS = tuple(run for run in families.RUNS if run not in (families.NATIVE, families.KERAS_CONVOLUTIONS))


def parse_args(argv=None):
    """Command-line options; ``--worker`` is the hidden per-subprocess mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_NAMES),
                        help=f"comma-separated, from {', '.join(MODEL_NAMES)}")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each kind")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps of each kind, the first one reported apart")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument("--worker", choices=sorted({run.worker for run in RUNS}),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = sorted(set(names) - set(MODEL_NAMES))
    if unknown or not names:
        parser.error(f"--models must name some of {', '.join(MODEL_NAMES)}; received {args.models!r}")
    args.models = [spec for spec in MODELS if spec.name in names]
    if args.warmup < 1 or args.repeats < 1 or args.batch < 1:
        parser.error("--batch, --warmup and --repeats must be >= 1")
    return args


# --------------------------------------------------------------------------
# Worker side: builds one model at a time, times it, prints one JSON line.


def time_model(spec, args):
    """Builds ``spec`` under this process's backend and times both kinds of step."""
    import keras

    import kcv

    keras.utils.set_random_seed(0)
    model = spec.build(kcv.models)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, SIZE, SIZE, CHANNELS), dtype=np.float32)
    targets = [rng.standard_normal((args.batch, *output.shape[1:]), dtype=np.float32)
               for output in model.outputs]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=["mse"] * len(targets))
    x = keras.ops.convert_to_tensor(x)
    y = [keras.ops.convert_to_tensor(t) for t in targets]
    y = y[0] if len(y) == 1 else y
    info = {
        "device": families.keras_device(keras.backend.backend()),
        "params": kcv.analysis.count_params(model),
        "macs": kcv.analysis.count_macs(model),
        "outputs": len(targets),
    }
    gc.collect()
    # predict_on_batch and train_on_batch return NumPy: each call waits for its step.
    info["predict_first_s"], info["predict_s"] = families.timed(
        lambda: model.predict_on_batch(x), args.warmup, args.repeats)
    info["train_first_s"], info["train_s"] = families.timed(
        lambda: model.train_on_batch(x, y), args.warmup, args.repeats)
    return info


def run_worker(args):
    """Serves the driver: imports Keras and kcv, says so, then times the models named on stdin."""
    import keras

    import kcv  # noqa: F401  (imported now, not while a model is timed)

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
    """One row: throughput (median step) of both kinds, and the first steps."""
    predict, train = statistics.median(result["predict_s"]), statistics.median(result["train_s"])
    return {
        "model": spec.name,
        "backend": run.worker,
        "device": result["device"],
        "params": result["params"],
        "macs": result["macs"],
        "predict_images_per_s": batch / predict,
        "train_images_per_s": batch / train,
        "predict_median_ms": predict * 1e3,
        "train_median_ms": train * 1e3,
        "predict_first_s": result["predict_first_s"],
        "train_first_s": result["train_first_s"],
        "repeats": len(result["train_s"]),
    }


def table(rows, specs):
    """One line per model: parameters, MACs, then images/s per backend (inference / train)."""
    backends = [run.worker for run in RUNS if any(r["backend"] == run.worker for r in rows)]
    lines = [
        "| model | parameters | MACs / image | "
        + " | ".join(f"{b} infer / train img/s (first steps s)" for b in backends) + " |",
        "|---|---:|---:|" + "---:|" * len(backends),
    ]
    for spec in specs:
        found = {r["backend"]: r for r in rows if r["model"] == spec.name}
        if not found:
            continue
        first = next(iter(found.values()))
        cells = [
            (f"{found[b]['predict_images_per_s']:,.0f} / {found[b]['train_images_per_s']:,.0f} "
             f"({found[b]['predict_first_s']:.1f} / {found[b]['train_first_s']:.1f})")
            if b in found else "–"
            for b in backends
        ]
        lines.append(f"| {spec.name} | {first['params']:,} | {first['macs'] / 1e6:,.1f} M | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(rows, args, info, text_table):
    """Writes ``<output-dir>/models_<cpu|gpu>.{csv,md}``; returns the Markdown path."""
    name = "models_" + ("gpu" if any(r["device"] != "cpu" for r in rows) else "cpu")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    models = "\n".join(f"  - `{spec.name}`: {spec.description}" for spec in args.models)
    command = " ".join(["python benchmarks/models.py", *sys.argv[1:]])
    path = args.output_dir / f"{name}.md"
    path.write_text(f"""# kcv models: inference and train-step throughput per backend

Images per second of `predict_on_batch` (inference) and `train_on_batch`
(forward, backward, SGD update; MSE loss on fixed random targets, one per
output) for each model at 32x32x3, 10 classes; see `benchmarks/README.md`.
In brackets: the first step of each kind in seconds (tracing and
compilation on JAX and TensorFlow, included in no throughput).

- Batch {args.batch}; {args.warmup} untimed steps of each kind, then {args.repeats} timed (median); float32, channels_last
- Models:
{models}
- Each backend in a worker process of its own, all started before any timing; one model at a time, backend after backend; default threads
- Machine: {info['cpu']}, {info['cores']} cores; devices: {', '.join(sorted({r['device'] for r in rows}))}
- Load average (1, 5, 15 min): {info['load_before']} before the runs, {info['load_after']} after
- Versions: {versions}
- Date: {info['date']}
- Command: `{command}`

{text_table}

MACs: multiply-accumulates of the convolutions and dense layers for one
image (`kcv.analysis.count_macs`).
""")
    return path


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    info = {**families.machine(), "load_before": families.load_average()}
    passthrough = [f"--batch={args.batch}", f"--repeats={args.repeats}", f"--warmup={args.warmup}"]
    workers, failed = families.start_workers(RUNS, passthrough, script=__file__)
    rows = []
    for spec in args.models:
        for run, worker in workers.items():
            print(f"{spec.name}: running {run.label} ...", file=sys.stderr, flush=True)
            try:
                rows.append(summarize(spec, run, worker.time(spec), args.batch))
            except RuntimeError as error:
                print(f"{spec.name}, {run.label} failed:\n{error}", file=sys.stderr)
                failed.append(f"{spec.name}, {run.label}")
    for worker in workers.values():
        worker.close()
    info["load_after"] = families.load_average()
    if rows:
        text_table = table(rows, args.models)
        print(text_table)
        print(f"written: {write_results(rows, args, info, text_table)}", file=sys.stderr)
    for label in failed:
        print(f"FAILED: {label} (see its error above)", file=sys.stderr)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
