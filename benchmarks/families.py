"""Train-step time of every kcv block family, per backend, vs. plain PyTorch.

For each family, one training step (forward, backward, SGD update, MSE loss
on a fixed random target) of a model holding a single kcv block, timed under
each installed Keras backend, next to the same block written in plain
PyTorch (``benchmarks/native_torch.py``, checked to have the same number of
trainable parameters before anything is timed). Each run (native PyTorch,
kcv on each backend) has a worker process of its own (``KERAS_BACKEND`` set
before Keras is imported), started and done importing before anything is
timed. The driver then asks for one family at a time, run after run, so that
the measurements a ratio compares are taken seconds apart, and only one
process computes at any moment: each framework owns the whole machine with
its default thread settings. Nothing is pinned or limited: the comparison is
what a user gets. The workers, timing and report helpers are
``benchmarks/harness.py``, which ``models.py`` shares.

The device is whatever each framework finds: a GPU when there is one (named
in the report), else the CPU. ``--dtype mixed_bfloat16|mixed_float16`` sets
Keras' dtype policy and runs the native step under ``torch.autocast``.

Usage::

    python benchmarks/families.py [--families inception,se,...] [--batch 16]
        [--size 32] [--repeats 20] [--warmup 5] [--dtype float32]
        [--loss mse|pooled] [--output-dir benchmarks/results]

Prints Markdown tables and writes ``families_cpu.csv`` and ``.md`` (``gpu``
when the runs found one; the dtype is appended when it is not float32) to
the output directory. See ``benchmarks/README.md``.
"""

import argparse
import csv
import dataclasses
import gc
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402  (the shared benchmark machinery; imports no framework)
from harness import NATIVE  # noqa: E402
from harness import Run  # noqa: E402
from harness import spatial_mean  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Family:
    """One block family at its benchmark configuration.

    ``kcv_layer(kcv.layers)`` and ``native_module(native_torch, channels)``
    build the two sides; ``keras_convolutions`` adds a JAX run with Keras'
    own depthwise and 1x1 convolutions (see ``RUNS``).
    """

    name: str
    title: str
    channels: int
    config: str
    kcv_layer: Callable
    native_module: Callable
    keras_convolutions: bool = False


# Small configurations, so that the whole run takes minutes on a 2-core CPU;
# the input is (batch, size, size, channels), 16 x 32 x 32 by default.
FAMILIES = (
    Family(
        "inception",
        "InceptionModule",
        96,
        "inception(3a) at half width: 96 -> 1x1 32, 3x3 48/64, 5x5 8/16, pool 16; "
        "conv (bias) + ReLU",
        lambda layers: layers.InceptionModule(32, 48, 64, 8, 16, 16),
        lambda nt, c: nt.InceptionModule(c, 32, 48, 64, 8, 16, 16),
    ),
    Family(
        "se",
        "SqueezeExcite",
        256,
        "256 channels, reduction 16, sigmoid gate",
        lambda layers: layers.SqueezeExcite(16),
        lambda nt, c: nt.SqueezeExcite(c, 16),
    ),
    Family(
        "depthwise",
        "DepthwiseSeparableConv",
        128,
        "MobileNet v1 block 128 -> 128, 3x3 depthwise, BN + ReLU after each convolution",
        lambda layers: layers.DepthwiseSeparableConv(128),
        lambda nt, c: nt.DepthwiseSeparableConv(c, 128),
        keras_convolutions=True,
    ),
    Family(
        "inverted_residual",
        "InvertedResidual",
        64,
        "MobileNetV2 block 64 -> 384 -> 64 (expansion 6), 3x3 depthwise, ReLU6, residual",
        lambda layers: layers.InvertedResidual(64, expansion=6),
        lambda nt, c: nt.InvertedResidual(c, 64, expansion=6),
        keras_convolutions=True,
    ),
    Family(
        "aspp",
        "ASPP",
        64,
        "DeepLabv3, 64 -> 32 filters, rates 6/12/18, image pooling, BN, dropout 0.1 (train mode)",
        lambda layers: layers.ASPP(32, rates=(6, 12, 18)),
        lambda nt, c: nt.ASPP(c, 32, rates=(6, 12, 18), dropout=0.1),
    ),
    Family(
        "encoding",
        "Encoding",
        128,
        "128 channels, K = 32 codewords, output (B, K, C)",
        lambda layers: layers.Encoding(32),
        lambda nt, c: nt.Encoding(c, 32),
    ),
    Family(
        "context_encoding",
        "ContextEncoding",
        128,
        "EncNet's module on 128 channels, K = 32, no SE-loss head",
        lambda layers: layers.ContextEncoding(32),
        lambda nt, c: nt.ContextEncoding(c, 32),
    ),
    Family(
        "strip_pooling",
        "StripPooling",
        128,
        "SPNet's SPM on 128 channels",
        lambda layers: layers.StripPooling(),
        lambda nt, c: nt.StripPooling(c),
    ),
    Family(
        "mixed_pooling",
        "MixedPooling",
        64,
        "SPNet's MPM on 64 channels (branches 16), adaptive pools 20 and 12",
        lambda layers: layers.MixedPooling((20, 12)),
        lambda nt, c: nt.MixedPooling(c, (20, 12)),
    ),
    Family(
        "msd",
        "MSDNet block",
        3,
        "MSDNet's first block (CIFAR anytime preset): first layer at 3 scales, 16 channels, "
        "4 dense layers of growth 6, exit of 128 channels, 10 classes",
        lambda layers: _msd_block(layers),
        lambda nt, c: nt.MSDNetBlock(c),
    ),
)


def _msd_block(layers):
    """kcv's MSDNet first block as one Sequential (the layers pass lists of scales)."""
    import keras

    return keras.Sequential(
        [layers.MSDFirstLayer(16)]
        + [layers.MSDDenseLayer(6) for _ in range(4)]
        + [layers.MSDClassifier(10)],
        name="msd_block",
    )


FAMILY_NAMES = tuple(f.name for f in FAMILIES)


# The native run is the reference of the ratios. "Keras' own convolutions"
# forces Keras' depthwise and 1x1 convolutions (kcv.backend.depthwise_implementation
# and pointwise_implementation); it runs on JAX only, the one backend where
# kcv substitutes its own computations on the CPU, and only for the families
# with depthwise convolutions, where the substitution matters most.
KERAS_CONVOLUTIONS = Run(
    "kcv on jax (Keras' own convolutions)",
    "jax",
    {"KCV_DEPTHWISE": "native", "KCV_POINTWISE": "native"},
)
JAX_RUN, *OTHER_RUNS = harness.BACKEND_RUNS
RUNS = (NATIVE, JAX_RUN, KERAS_CONVOLUTIONS, *OTHER_RUNS)
# The caller's KCV_DEPTHWISE / KCV_POINTWISE are dropped from the workers'
# environment, so that only RUNS chooses the convolutions.
CONVOLUTION_VARIABLES = ("KCV_DEPTHWISE", "KCV_POINTWISE")
# "mse": the loss reads the block's whole output (16x32x32x256 values for SE),
# and PyTorch's fused mse_loss costs a fraction of Keras' generic one there.
# "pooled": the same MSE on the output's spatial mean, so that the loss costs
# next to nothing on either side and the ratio is the block's (and the
# framework's per-op overhead) alone; the backward pass still runs through
# every activation of the block.
LOSSES = ("mse", "pooled")


def parse_args(argv=None):
    """Command-line options; ``--worker`` is the hidden per-subprocess mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--families",
        default=",".join(FAMILY_NAMES),
        help=f"comma-separated, from {', '.join(FAMILY_NAMES)}",
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per run")
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="untimed steps before timing, the first one reported apart",
    )
    parser.add_argument(
        "--dtype",
        choices=harness.DTYPES,
        default="float32",
        help="Keras dtype policy; mixed: torch.autocast on the native side",
    )
    parser.add_argument(
        "--loss",
        choices=LOSSES,
        default="mse",
        help="mse: on the block's whole output; pooled: on its spatial mean",
    )
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument(
        "--worker", choices=sorted({run.worker for run in RUNS}), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    names = harness.chosen(parser, "families", args.families, FAMILY_NAMES)
    args.families = [f for f in FAMILIES if f.name in names]
    if args.warmup < 1 or args.repeats < 1:
        parser.error("--warmup and --repeats must be >= 1")
    return args


# --------------------------------------------------------------------------
# Worker side: runs in a subprocess, builds one model, prints one JSON line.


def kcv_model(family, x, loss="mse"):
    """Functional ``keras.Model`` around kcv's block for inputs like ``x``.

    Returns ``(model, layer, target)``: the target of the MSE loss is a fixed
    random array of the model's output shape (channels_last), the block's
    output or, for ``loss="pooled"``, its spatial mean.
    """
    import keras

    import kcv

    inputs = keras.Input(x.shape[1:])
    layer = family.kcv_layer(kcv.layers)
    outputs = layer(inputs)
    if loss == "pooled":
        outputs = spatial_mean(keras.ops, outputs)
    model = keras.Model(inputs, outputs)
    target_shape = (x.shape[0], *model.output_shape[1:])
    target = np.random.default_rng(1).standard_normal(target_shape, dtype=np.float32)
    return model, layer, target


def keras_step(backend, family, args, x):
    """Returns a no-argument train step of kcv's block under the Keras ``backend``.

    ``KERAS_BACKEND`` is already set in this process's environment, so Keras
    imports ``backend`` and nothing else.
    """
    import keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    keras.config.set_dtype_policy(args.dtype)
    model, layer, y = kcv_model(family, x, args.loss)
    # The backend's normal compiled path: jit on JAX, a tf.function graph on
    # TensorFlow (jit_compile="auto" resolves to False on a CPU-only machine),
    # eager on torch. Under mixed_float16 Keras adds loss scaling itself.
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    info = {
        "device": harness.keras_device(backend),
        "params": harness.trainable_parameters(layer),
        "jit_compile": model.jit_compile,
    }
    # train_on_batch and predict_on_batch return NumPy, so each call waits
    # for its step to finish, on a GPU too.
    return lambda: model.train_on_batch(x, y), lambda: model.predict_on_batch(x), info


def torch_step(family, args, x):
    """Returns a no-argument train step of the plain PyTorch block (NCHW).

    Builds kcv's layer too (Keras' torch backend, float32) and checks that
    the two have the same number of trainable parameters.
    """
    import native_torch  # next to this script, on sys.path
    import torch

    torch.manual_seed(0)
    module = family.native_module(native_torch, family.channels)
    _, layer, y = kcv_model(family, x, args.loss)
    kcv_params, params = harness.check_parameters(family.name, layer, module)
    step, forward, device = harness.native_steps(module, x, [y], args.dtype, args.loss)
    return (
        step,
        forward,
        {"device": device, "params": params, "kcv_params": kcv_params, "jit_compile": False},
    )


def time_family(args, family):
    """Times one family in this worker; returns the result as a dict.

    The train step, then the forward pass (inference, half as many timed
    calls); the peak resident memory of the worker over both, on a CPU
    (the framework's own footprint included: compare it between families of
    one run, or as the difference to native PyTorch).
    """
    shape = (args.batch, args.size, args.size, family.channels)  # NHWC
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    gc.collect()  # what the previous family left behind, before the clock runs
    harness.reset_peak_rss()
    if args.worker == "torch-native":
        step, forward, info = torch_step(family, args, x)
    else:
        step, forward, info = keras_step(args.worker, family, args, x)
    first, times = harness.timed(step, args.warmup, args.repeats)
    forward_first, forward_times = harness.timed(forward, 2, max(3, args.repeats // 2))
    return {
        "first_s": first,
        "times_s": times,
        "forward_first_s": forward_first,
        "forward_times_s": forward_times,
        "peak_rss_mib": harness.peak_rss_mib(),
        **info,
    }


def run_worker(args):
    """Serves the driver: imports its framework, says so, then times the
    families named on stdin, one JSON line on stdout each."""
    import keras

    import kcv  # noqa: F401  (imported now, not while a family is timed)

    if args.worker == "torch-native":
        import native_torch  # noqa: F401  (next to this script, on sys.path)
    print(json.dumps({"ready": True}), flush=True)
    by_name = {family.name: family for family in FAMILIES}
    for line in sys.stdin:
        try:
            result = time_family(args, by_name[line.strip()])
        except Exception:  # reported to the driver, which carries on with the next
            result = {"error": traceback.format_exc()}
        print(json.dumps(result), flush=True)
        keras.backend.clear_session()


# --------------------------------------------------------------------------
# Driver side: one worker process per run, started (and imported) before any
# timing; then family by family, one run at a time; then the report.


def summarize(family, run, result, batch):
    """Milliseconds statistics of one run."""
    ms, p25, median, p75 = harness.quartiles(result["times_s"])
    forward_median = harness.quartiles(result["forward_times_s"])[2]
    peak = result.get("peak_rss_mib")
    return {
        "family": family.name,
        "implementation": run.label,
        "device": result["device"],
        "params": result["params"],
        "first_step_s": result["first_s"],
        "median_ms": median,
        "p25_ms": p25,
        "p75_ms": p75,
        "min_ms": ms[0],
        "max_ms": ms[-1],
        "images_per_s": batch / (median / 1e3),
        "repeats": len(ms),
        "forward_ms": forward_median,
        "forward_images_per_s": batch / (forward_median / 1e3),
        "forward_first_s": result["forward_first_s"],
        "peak_rss_mib": None if peak is None else round(peak, 1),
        "jit_compile": result["jit_compile"],
    }


def summary_table(rows, families):
    """One line per family: native median, then each kcv run's median and ratio."""
    labels = [run.label for run in RUNS[1:] if any(r["implementation"] == run.label for r in rows)]
    lines = [
        "| family | parameters | native PyTorch ms | "
        + " | ".join(label.replace("kcv on ", "") + " ms (×)" for label in labels)
        + " |",
        "|---|---:|---:|" + "---:|" * len(labels),
    ]
    for family in families:
        found = {r["implementation"]: r for r in rows if r["family"] == family.name}
        if not found:
            continue
        native = found.get(NATIVE.label)
        cells = [
            f"{found[label]['median_ms']:.1f} ({harness.format_ratio(found[label])})"
            if label in found
            else "–"
            for label in labels
        ]
        lines.append(
            f"| {family.title} | {next(iter(found.values()))['params']:,} | "
            f"{'–' if native is None else format(native['median_ms'], '.1f')} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def detail_table(rows):
    """The statistics of every run, one line each."""
    lines = [
        "| family | implementation | device | first step (compile) s | median ms "
        "| IQR ms | min–max ms | images/s | × native PyTorch | forward ms | forward images/s "
        "| peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        peak = "–" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:,.0f}"
        lines.append(
            f"| {r['family']} | {r['implementation']} | {r['device']} | {r['first_step_s']:.2f} "
            f"| {r['median_ms']:.1f} | {r['p25_ms']:.1f}–{r['p75_ms']:.1f} "
            f"| {r['min_ms']:.1f}–{r['max_ms']:.1f} | {r['images_per_s']:.0f} | {harness.format_ratio(r)} "
            f"| {r['forward_ms']:.1f} | {r['forward_images_per_s']:.0f} | {peak} |"
        )
    return "\n".join(lines)


def result_name(rows, dtype, loss="mse"):
    """``families_cpu``, or ``families_gpu`` when a run found one; ``_<dtype>``
    unless float32, ``_pooled`` for the pooled loss."""
    on_gpu = any(r["device"] != "cpu" for r in rows)
    return (
        f"families_{'gpu' if on_gpu else 'cpu'}"
        + ("" if dtype == "float32" else f"_{dtype}")
        + ("" if loss == "mse" else f"_{loss}")
    )


def write_results(rows, args, info, tables):
    """Writes ``<output-dir>/<result name>.{csv,md}``; returns the Markdown path."""
    name = result_name(rows, args.dtype, args.loss)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    devices = ", ".join(sorted({r["device"] for r in rows}))
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    configs = "\n".join(f"  - {f.title}: {f.config}" for f in args.families)
    command = " ".join(["python benchmarks/families.py", *sys.argv[1:]])
    text = f"""# kcv block families: train step per backend vs. plain PyTorch

One training step (forward, backward, SGD(0.01) update, MSE loss on a fixed
target{" (on the spatial mean of the block's output)" if args.loss == "pooled" else ""}, {args.dtype}) of a model holding a single block; see `benchmarks/README.md`.

- Input: batch {args.batch}, {args.size}x{args.size}; Keras channels_last with \
`train_on_batch`, native PyTorch NCHW with `torch.optim.SGD`
- Blocks:
{configs}
- Steps: {args.warmup} warm-up (the first reported apart), {args.repeats} timed; \
one worker process per run, all started before any timing; one family at a \
time, run after run; default threads
- Machine: {info["cpu"]}, {info["cores"]} cores; devices: {devices}
- Load average (1, 5, 15 min): {info["load_before"]} before the runs, \
{info["load_after"]} after (the benchmark itself keeps about one to two cores busy)
- Versions: {versions}; {info["environment"]}
- Date: {info["date"]}
- Command: `{command}`

{tables}

Parameters: trainable, checked equal between kcv and the native module
before timing. × native PyTorch: median divided by the same family's native
PyTorch median (lower is better). IQR: 25th–75th percentile of the timed
steps. Forward: inference (`predict_on_batch`; native: eval mode under
`torch.inference_mode`), median of half as many calls. Peak RSS: the
worker's peak resident memory while it built and ran the family, its
framework included (CPU; compare within a column). Chart: `{name}.png`.
"""
    path = args.output_dir / f"{name}.md"
    path.write_text(text)
    harness.write_chart(rows, args.output_dir / f"{name}.png", group="family")
    return path


def worker_environ():
    """This process's environment without :data:`CONVOLUTION_VARIABLES`: the base
    of the workers' (``harness.Worker`` adds kcv's settings and the run's own)."""
    return {k: v for k, v in os.environ.items() if k not in CONVOLUTION_VARIABLES}


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    info = {
        **harness.machine(worker_environ()),
        "load_before": harness.load_average(),
    }  # before the runs: the machine's own
    passthrough = [
        f"--batch={args.batch}",
        f"--size={args.size}",
        f"--repeats={args.repeats}",
        f"--warmup={args.warmup}",
        f"--dtype={args.dtype}",
        f"--loss={args.loss}",
    ]
    runs = [
        run
        for run in RUNS
        if run is not KERAS_CONVOLUTIONS or any(f.keras_convolutions for f in args.families)
    ]
    workers, failed = harness.start_workers(runs, passthrough, __file__, worker_environ())
    rows = []
    for family in args.families:
        for run, worker in workers.items():
            if run is KERAS_CONVOLUTIONS and not family.keras_convolutions:
                continue
            print(f"{family.name}: running {run.label} ...", file=sys.stderr, flush=True)
            try:
                result = worker.time(family)
            except RuntimeError as error:
                print(f"{family.name}, {run.label} failed:\n{error}", file=sys.stderr)
                failed.append(f"{family.name}, {run.label}")
                continue
            if run is NATIVE:
                print(
                    f"{family.name}: trainable parameters kcv {result['kcv_params']:,}, "
                    f"native PyTorch {result['params']:,} (checked)",
                    file=sys.stderr,
                )
            rows.append(summarize(family, run, result, args.batch))
    for worker in workers.values():
        worker.close()
    info["load_after"] = harness.load_average()
    if rows:
        harness.add_ratios(rows, group="family")
        tables = "\n\n".join(
            (
                summary_table(rows, args.families),
                harness.targets_report(rows, "family", args.dtype),
                detail_table(rows),
            )
        )
        print(tables)
        print(f"written: {write_results(rows, args, info, tables)}", file=sys.stderr)
    for run in failed:
        print(f"FAILED: {run} (see its error above)", file=sys.stderr)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
