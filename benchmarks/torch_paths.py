"""kcv's torch-backend paths against Keras' own computation and plain PyTorch, interleaved.

On the torch backend kcv computes its convolutions with PyTorch's ``conv2d``
on channels_last views (:func:`kcv.backend.torch_conv2d`, no layout copies)
and its training batch normalization with PyTorch's fused kernel
(:func:`kcv.backend.torch_batch_norm_training`). This script measures what
that buys, per model of ``models.py``: the train step (``train_on_batch``,
SGD, MSE on fixed random targets) of

* native PyTorch (``benchmarks/native_*.py``, as in ``models.py``),
* kcv computing as Keras' torch backend does (``ops.conv``,
  ``ops.depthwise_conv``, Keras' ``BatchNormalization.call``): the two kcv
  modules that choose a path are handed a stand-in for ``kcv.backend`` whose
  ``name()`` is not ``"torch"``, so they take Keras' route; nothing else
  changes (same model, weights and data),
* kcv as shipped,

all three in one process, one step of each per round in a shuffled order,
round after round, so that the machine's drift (±20-30 % between runs on
the 2-core CI machine) and the order's effects hit the three alike; the
paired ratio (kcv / Keras' route, per round) is the least noisy number.
Only the torch backend is timed.

Usage::

    python benchmarks/torch_paths.py [--models se_resnet20_cifar,...] [--rounds 8]
        [--batch 32] [--output-dir benchmarks/results]

Prints a Markdown table and writes ``torch_paths_<cpu|gpu>.md``.
"""

import argparse
import os
import sys
import time
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402  (the shared benchmark machinery; imports no framework)
import models  # noqa: E402  (the models and their native networks)


def parse_args(argv=None):
    """Command-line options: the models (``models.py``'s names), rounds, batch, output."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default=",".join(models.MODEL_NAMES),
        help=f"comma-separated, from {', '.join(models.MODEL_NAMES)}",
    )
    parser.add_argument("--rounds", type=int, default=8, help="timed steps of each run")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    names = harness.chosen(parser, "models", args.models, models.MODEL_NAMES)
    if args.rounds < 1 or args.batch < 1:
        parser.error("--rounds and --batch must be >= 1")
    args.models = [spec for spec in models.MODELS if spec.name in names]
    return args


def keras_route(backend):
    """A stand-in for ``kcv.backend`` that reports no torch backend (so kcv's
    layers take Keras' route) and forwards everything else."""
    stand_in = types.ModuleType("kcv_backend_keras_route")
    stand_in.__getattr__ = lambda name: getattr(backend, name)
    stand_in.name = lambda: "torch, computed as Keras does"
    return stand_in


def time_model(spec, args):
    """Train-step times (seconds) of the three runs of ``spec``, interleaved."""
    import keras
    import torch

    import kcv
    from kcv import backend
    from kcv.layers import conv
    from kcv.layers import normalization

    routes = {"keras": keras_route(backend), "kcv": backend}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, models.SIZE, models.SIZE, models.CHANNELS), "float32")
    steps, targets = {}, None
    for label, route in routes.items():
        conv.backend = normalization.backend = route
        keras.utils.set_random_seed(0)
        model = spec.build(kcv.models)
        if targets is None:
            targets = [
                rng.standard_normal((args.batch, *o.shape[1:]), dtype=np.float32)
                for o in model.outputs
            ]
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=["mse"] * len(targets))
        y = [keras.ops.convert_to_tensor(t) for t in targets]
        y = y[0] if len(y) == 1 else y
        xt = keras.ops.convert_to_tensor(x)

        def step(model=model, xt=xt, y=y, route=route):
            conv.backend = normalization.backend = route
            model.train_on_batch(xt, y)

        steps[label] = step
    conv.backend = normalization.backend = backend
    torch.manual_seed(0)
    module = spec.native(models.native_modules())
    steps = {"native": harness.native_steps(module, x, targets)[0], **steps}
    for step in steps.values():  # untimed: first steps, allocations
        step()
        step()
    times = {label: [] for label in steps}
    order = np.random.default_rng(1)
    for _ in range(args.rounds):
        # A new order each round: a step's time depends on the step before it
        # (memory the previous run freed, caches), by up to 20 % here.
        for label in order.permutation(list(steps)):
            began = time.perf_counter()
            steps[label]()
            times[label].append(time.perf_counter() - began)
    return {label: np.asarray(seconds) for label, seconds in times.items()}


def table(results):
    """The Markdown table: per model, the three medians and the paired ratio's quartiles."""
    lines = [
        "| model | native PyTorch ms | kcv, Keras' route ms (×) | kcv ms (×) "
        "| kcv / Keras' route, paired (IQR) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, times in results.items():
        median = {label: 1e3 * float(np.median(t)) for label, t in times.items()}
        paired = times["kcv"] / times["keras"]
        p25, p50, p75 = np.percentile(paired, [25, 50, 75])
        lines.append(
            f"| {name} | {median['native']:,.0f} "
            f"| {median['keras']:,.0f} ({median['keras'] / median['native']:.2f}) "
            f"| {median['kcv']:,.0f} ({median['kcv'] / median['native']:.2f}) "
            f"| {p50:.2f} ({p25:.2f}–{p75:.2f}) |"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = "torch"  # read when Keras is first imported, next
    import keras

    import kcv

    if keras.backend.backend() != "torch":
        sys.exit(
            f"torch_paths.py times the torch backend; Keras already runs {keras.backend.backend()}"
        )

    info = {**harness.machine(), "load_before": harness.load_average()}
    results = {}
    for spec in args.models:
        print(f"{spec.name} ...", file=sys.stderr, flush=True)
        results[spec.name] = time_model(spec, args)
    text = table(results)
    print(text)
    device = "gpu" if kcv.backend.has_accelerator() else "cpu"
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    command = " ".join(["python benchmarks/torch_paths.py", *sys.argv[1:]])
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"torch_paths_{device}.md"
    path.write_text(f"""# kcv's torch paths vs. Keras' own computation, and plain PyTorch

Train step (`train_on_batch`, SGD(0.01), MSE on fixed random targets) at
32x32x3, 10 classes, on Keras' torch backend: kcv computing its convolutions
and batch normalization as Keras' torch backend does ("Keras' route") and as
kcv ships (`kcv.backend.torch_conv2d`, `kcv.backend.torch_batch_norm_training`),
beside native PyTorch (`benchmarks/native_*.py`); see `benchmarks/README.md`.

- Batch {args.batch}; float32, channels_last on the Keras side; 2 untimed steps of each run, then {args.rounds} rounds of one step of each run in a shuffled order, in one process
- Machine: {info["cpu"]}, {info["cores"]} cores; {device}
- Load average (1, 5, 15 min): {info["load_before"]} before, {harness.load_average()} after
- Versions: {versions}
- Date: {info["date"]}
- Command: `{command}`

{text}

×: the median over native PyTorch's median. Paired: the median (and
25th–75th percentile) over rounds of kcv's step time over Keras' route's in
the same round; below 1 is kcv's paths saving time.
""")
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
