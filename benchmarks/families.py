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
what a user gets.

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
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# TensorFlow's oneDNN CPU kernels, off by default on some CPUs (kcv/__init__.py
# says why); the workers inherit this, and the reports record it.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


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


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    """One implementation timed per family: a worker and its extra environment."""

    label: str
    worker: str
    env: dict = dataclasses.field(default_factory=dict)


NATIVE = Run("native PyTorch (torch.nn, NCHW)", "torch-native")
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
RUNS = (
    NATIVE,
    Run("kcv on jax", "jax"),
    KERAS_CONVOLUTIONS,
    Run("kcv on tensorflow", "tensorflow"),
    Run("kcv on torch", "torch"),
)
# Python module needed by each worker (the native worker also builds kcv's
# layer, on Keras' torch backend, to compare the parameter counts).
_MODULES = {"torch-native": "torch", "jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
_VERSIONS = ("keras", "jax", "jaxlib", "tensorflow-cpu", "tensorflow", "torch", "numpy")
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")
# "mse": the loss reads the block's whole output (16x32x32x256 values for SE),
# and PyTorch's fused mse_loss costs a fraction of Keras' generic one there.
# "pooled": the same MSE on the output's spatial mean, so that the loss costs
# next to nothing on either side and the ratio is the block's (and the
# framework's per-op overhead) alone; the backward pass still runs through
# every activation of the block.
LOSSES = ("mse", "pooled")


def spatial_mean(ops, outputs, channels_last=True):
    """Mean over every axis but the batch and the channels, with ``ops``'
    ``mean(x, axis)``: (B, H, W, C) -> (B, C); (B, K, C) -> (B, C)."""
    rank = len(outputs.shape)
    if rank == 2:
        return outputs
    if channels_last or rank == 3:
        return ops.mean(outputs, axis=tuple(range(1, rank - 1)))
    return ops.mean(outputs, axis=tuple(range(2, rank)))


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
        choices=DTYPES,
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
    parser.add_argument("--worker", choices=sorted(_MODULES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.families.split(",") if name.strip()]
    unknown = sorted(set(names) - set(FAMILY_NAMES))
    if unknown or not names:
        parser.error(
            f"--families must name some of {', '.join(FAMILY_NAMES)}; received {args.families!r}"
        )
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


def trainable_parameters(layer):
    """Number of trainable parameters of a Keras layer."""
    return sum(math.prod(w.shape) for w in layer.trainable_weights)


def check_parameters(name, layer, module):
    """Returns the trainable parameter counts ``(kcv, native)`` of kcv's ``layer``
    (or model) and the native ``module``; raises RuntimeError, naming ``name``,
    when they differ."""
    kcv_count = trainable_parameters(layer)
    native_count = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if kcv_count != native_count:
        raise RuntimeError(
            f"{name}: the native PyTorch module has {native_count:,} trainable parameters "
            f"and kcv's {kcv_count:,}: they do not have the same structure, so their times "
            "cannot be compared (fix its module in benchmarks/native_*.py)."
        )
    return kcv_count, native_count


def keras_device(backend):
    """The device the Keras ``backend`` computes on, in words."""
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else f"{device.platform}: {device.device_kind}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "cpu"
        return "gpu: " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "?")
    import torch

    return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"


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
        "device": keras_device(backend),
        "params": trainable_parameters(layer),
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
    kcv_params, params = check_parameters(family.name, layer, module)
    step, forward, device = native_steps(module, x, [y], args.dtype, args.loss)
    return (
        step,
        forward,
        {"device": device, "params": params, "kcv_params": kcv_params, "jit_compile": False},
    )


def native_steps(module, x, targets, dtype="float32", loss="mse"):
    """A train step and a forward pass of a plain PyTorch ``module``, eager, NCHW.

    Args:
        module: ``torch.nn.Module`` returning one tensor or a list of them.
        x: NumPy array, the input batch in Keras' channels_last layout
            (transposed to NCHW here).
        targets: list of NumPy arrays, one MSE target per output, in Keras'
            layout (4-D ones transposed to NCHW here).
        dtype: ``"float32"``, or a Keras mixed policy name: the step then runs
            under ``torch.autocast`` (with a ``GradScaler`` for float16, as
            Keras adds loss scaling).
        loss: ``"mse"``, or ``"pooled"``: the MSE of each output's spatial mean.

    Returns:
        ``(step, forward, device)``: ``step()`` is one SGD(0.01) update on the
        sum of the outputs' MSE losses and returns the loss; ``forward()`` is
        inference (eval mode, no autograd graph), as Keras' ``predict_on_batch``;
        both wait for the GPU. ``device`` names the device, in words.
    """
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = module.to(device).train()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)

    def nchw(array):
        array = array.transpose(0, 3, 1, 2) if array.ndim == 4 else array
        return torch.from_numpy(array.copy()).to(device)

    x = nchw(x)
    targets = [nchw(y) for y in targets]
    autocast = torch.autocast(
        device.type,
        dtype={
            "float32": torch.float32,
            "mixed_bfloat16": torch.bfloat16,
            "mixed_float16": torch.float16,
        }[dtype],
        enabled=dtype != "float32",
    )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == "mixed_float16")

    def as_list(outputs):
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def forward():
        module.eval()
        with torch.inference_mode(), autocast:
            outputs = module(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        module.train()
        return outputs

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            outputs = as_list(module(x))
            if loss == "pooled":
                outputs = [spatial_mean(torch, o, channels_last=False) for o in outputs]
            value = sum(
                torch.nn.functional.mse_loss(o.float(), y) for o, y in zip(outputs, targets)
            )
        scaler.scale(value).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return value.item()

    name = f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "cpu"
    return step, forward, name


def reset_peak_rss():
    """Starts a new peak-memory window for this process (Linux: VmHWM); False elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib():
    """This process's peak resident memory since :func:`reset_peak_rss`, MiB (None if unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(fn, warmup, repeats):
    """``(first call s, [s of each timed call])`` after ``warmup - 1`` more untimed calls."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, times


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
    reset_peak_rss()
    if args.worker == "torch-native":
        step, forward, info = torch_step(family, args, x)
    else:
        step, forward, info = keras_step(args.worker, family, args, x)
    first, times = timed(step, args.warmup, args.repeats)
    forward_first, forward_times = timed(forward, 2, max(3, args.repeats // 2))
    return {
        "first_s": first,
        "times_s": times,
        "forward_first_s": forward_first,
        "forward_times_s": forward_times,
        "peak_rss_mib": peak_rss_mib(),
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


class Worker:
    """A ``--worker`` subprocess of ``script`` (this one by default), for a :class:`Run`.

    The worker answers each name written to its stdin with one JSON line
    (``{"error": ...}`` when it failed); its first line says it is ready.
    """

    def __init__(self, run, argv, script=__file__):
        # KERAS_BACKEND must be set before keras is imported; the caller's
        # KCV_DEPTHWISE / KCV_POINTWISE are dropped, so that only RUNS chooses.
        # On a GPU, JAX and TensorFlow would each reserve most of its memory
        # for the first process: the workers share it, allocating as they go.
        # kcv is taken from this checkout.
        env = {k: v for k, v in os.environ.items() if k not in ("KCV_DEPTHWISE", "KCV_POINTWISE")}
        env.update(
            KERAS_BACKEND=_MODULES[run.worker],
            TF_CPP_MIN_LOG_LEVEL="2",
            XLA_PYTHON_CLIENT_PREALLOCATE="false",
            TF_FORCE_GPU_ALLOW_GROWTH="true",
            **run.env,
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, str(script), *argv, "--worker", run.worker],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def _reply(self):
        """The worker's next JSON line; RuntimeError when it reports an error or dies."""
        for line in self.process.stdout:
            if line.startswith("{"):
                reply = json.loads(line)
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply
        self.process.wait()
        self.stderr.seek(0)
        raise RuntimeError(
            f"the worker exited ({self.process.returncode}):\n" + self.stderr.read()[-3000:]
        )

    def wait_ready(self):
        self._reply()

    def time(self, item):
        """The worker's result for ``item`` (anything with a ``name``)."""
        try:
            self.process.stdin.write(item.name + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the worker has died; _reply says why
        return self._reply()

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()
        self.stderr.close()


def quartiles(seconds):
    """``(sorted ms, p25, median, p75)`` of a list of seconds."""
    ms = sorted(t * 1e3 for t in seconds)
    if len(ms) > 1:
        return (ms, *statistics.quantiles(ms, n=4, method="inclusive"))
    return ms, ms[0], ms[0], ms[0]


def summarize(family, run, result, batch):
    """Milliseconds statistics of one run."""
    ms, p25, median, p75 = quartiles(result["times_s"])
    forward_median = quartiles(result["forward_times_s"])[2]
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


def add_ratios(rows, group="family"):
    """Sets each row's ``ratio``: its median over the native PyTorch median
    of its ``group`` (the rows with the same ``row[group]``)."""
    native = {r[group]: r["median_ms"] for r in rows if r["implementation"] == NATIVE.label}
    for row in rows:
        reference = native.get(row[group])
        row["ratio"] = row["median_ms"] / reference if reference else None


def format_ratio(row):
    """``row["ratio"]`` to two decimals, ``n/a`` without a native reference."""
    return "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}"


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
            f"{found[label]['median_ms']:.1f} ({format_ratio(found[label])})"
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
            f"| {r['min_ms']:.1f}–{r['max_ms']:.1f} | {r['images_per_s']:.0f} | {format_ratio(r)} "
            f"| {r['forward_ms']:.1f} | {r['forward_images_per_s']:.0f} | {peak} |"
        )
    return "\n".join(lines)


def write_chart(rows, path, group="family"):
    """Bar chart of the train-step medians (IQR as error bars), one group of
    bars per ``row[group]``, labelled × native PyTorch."""
    import matplotlib

    matplotlib.use("Agg")
    # kcv imports Keras, which would import TensorFlow, its default backend,
    # into this driver; the numpy backend imports no framework.
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    import kcv.viz

    table = [{**r, "implementation": r["implementation"].replace("kcv on ", "")} for r in rows]
    figure = kcv.viz.timing_bars(
        table,
        group=group,
        series="implementation",
        error=("p25_ms", "p75_ms"),
        reference=NATIVE.label,
    )
    figure.axes[0].set_yscale("log")
    figure.axes[0].set_ylabel("train step, ms (log scale)")
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def machine():
    """CPU model, core count, Python and framework versions, the environment
    the workers get (TensorFlow's oneDNN switch), date."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for dist in _VERSIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "versions": versions,
        "environment": f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '')}",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def load_average():
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


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
    write_chart(rows, args.output_dir / f"{name}.png")
    return path


def start_workers(runs, passthrough, script=__file__):
    """Starts a worker of ``script`` per installed run and waits until all have imported.

    Returns ``({run: Worker}, failed)``, ``failed`` the labels of the runs
    whose worker could not start; a run whose framework is not installed is
    skipped with a message.
    """
    installed = []
    for run in runs:
        if importlib.util.find_spec(_MODULES[run.worker]) is None:
            print(f"skipping {run.label}: {_MODULES[run.worker]} is not installed", file=sys.stderr)
        else:
            installed.append(run)
    print(f"starting {len(installed)} workers ...", file=sys.stderr, flush=True)
    workers = {run: Worker(run, passthrough, script) for run in installed}
    failed = []
    for run, worker in list(workers.items()):
        try:
            worker.wait_ready()
        except RuntimeError as error:
            print(f"{run.label} failed to start: {error}", file=sys.stderr)
            failed.append(run.label)
            del workers[run]
    return workers, failed


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    info = {**machine(), "load_before": load_average()}  # before the runs: the machine's own
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
    workers, failed = start_workers(runs, passthrough)
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
    info["load_after"] = load_average()
    if rows:
        add_ratios(rows)
        tables = summary_table(rows, args.families) + "\n\n" + detail_table(rows)
        print(tables)
        print(f"written: {write_results(rows, args, info, tables)}", file=sys.stderr)
    for run in failed:
        print(f"FAILED: {run} (see its error above)", file=sys.stderr)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
