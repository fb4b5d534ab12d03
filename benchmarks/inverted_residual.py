"""Train-step time of ``kcv.layers.InvertedResidual`` per backend vs. plain PyTorch.

One training step (forward, backward, SGD update, float32, CPU) of a model
holding a single MobileNetV2 inverted residual block, timed under each
installed Keras backend and against the same block written in plain PyTorch
(``benchmarks/native_torch.py``). Every measurement runs in its own
subprocess, one after another, so that each framework owns the whole machine
with its default thread settings (PyTorch: one intra-op thread per core;
TensorFlow: inter/intra-op pools sized to the cores; XLA: an Eigen pool over
all cores). Nothing is pinned or limited: the comparison is what a user gets.

Usage::

    python benchmarks/inverted_residual.py [--batch 16 --size 32
        --in-channels 64 --expansion 6 --repeats 30 --warmup 5
        --output-dir benchmarks/results]

Prints a Markdown table and writes ``inverted_residual_cpu.csv`` and ``.md``
to the output directory. See ``benchmarks/README.md``.
"""

import argparse
import csv
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULT_NAME = "inverted_residual_cpu"

# (label, worker, extra environment). The first entry is the reference of the
# ratios. "Keras' own convolutions" forces Keras' depthwise and 1x1
# convolutions (kcv.backend.depthwise_implementation and
# pointwise_implementation); it is run on JAX only, the one backend where kcv
# substitutes its own computations on the CPU.
RUNS = (
    ("native PyTorch (torch.nn, NCHW)", "torch-native", {}),
    ("kcv on jax", "jax", {}),
    ("kcv on jax (Keras' own convolutions)", "jax", {"KCV_DEPTHWISE": "native", "KCV_POINTWISE": "native"}),
    ("kcv on tensorflow", "tensorflow", {}),
    ("kcv on torch", "torch", {}),
)
# Python module needed by each worker.
_MODULES = {"torch-native": "torch", "jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
_VERSIONS = ("keras", "jax", "jaxlib", "tensorflow-cpu", "tensorflow", "torch", "numpy")


def parse_args(argv=None):
    """Command-line options; ``--worker`` is the hidden per-subprocess mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--in-channels", type=int, default=64,
                        help="input and output channels (the block keeps its residual)")
    parser.add_argument("--expansion", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed steps before timing, the first one reported apart")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument("--worker", choices=sorted(_MODULES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.expansion.is_integer():
        args.expansion = int(args.expansion)
    if args.warmup < 1 or args.repeats < 1:
        parser.error("--warmup and --repeats must be >= 1")
    return args


# --------------------------------------------------------------------------
# Worker side: runs in a subprocess, builds one model, prints one JSON line.


def keras_step(backend, args, x, y):
    """Returns a no-argument train step of kcv's block under the Keras ``backend``.

    ``KERAS_BACKEND`` is already set in this process's environment, so Keras
    imports ``backend`` and nothing else.
    """
    import keras

    import kcv

    assert keras.backend.backend() == backend, keras.backend.backend()
    inputs = keras.Input(x.shape[1:])
    block = kcv.layers.InvertedResidual(args.in_channels, expansion=args.expansion)
    model = keras.Model(inputs, block(inputs))
    # The backend's normal compiled path: jit on JAX, a tf.function graph on
    # TensorFlow (jit_compile="auto" resolves to False on a CPU-only machine),
    # eager on torch.
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    depthwise = {"shifted": "kcv shifted", "native": "keras.ops.depthwise_conv"}
    info = {
        "depthwise": depthwise[kcv.backend.depthwise_implementation()],
        "jit_compile": model.jit_compile,
    }
    # train_on_batch returns the loss as numpy, so each call waits for the step.
    return lambda: model.train_on_batch(x, y), info


def torch_step(args, x, y):
    """Returns a no-argument train step of the plain PyTorch block (NCHW)."""
    import torch
    from native_torch import InvertedResidual  # next to this script, on sys.path

    torch.manual_seed(0)
    model = InvertedResidual(args.in_channels, args.in_channels, args.expansion).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(y.transpose(0, 3, 1, 2).copy())

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, {"depthwise": "torch grouped conv", "jit_compile": False}


def run_worker(args):
    """Times ``args.worker`` and prints its result as one JSON line."""
    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size, args.in_channels)  # NHWC
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.standard_normal(shape, dtype=np.float32)
    if args.worker == "torch-native":
        step, info = torch_step(args, x, y)
    else:
        step, info = keras_step(args.worker, args, x, y)

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(args.warmup - 1):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"first_s": first, "times_s": times, **info}))


# --------------------------------------------------------------------------
# Driver side: one subprocess per run, in sequence; then the report.


def run_subprocess(worker, extra_env, argv):
    """Runs this script as ``--worker`` in a fresh interpreter; returns its JSON."""
    # KERAS_BACKEND must be set before keras is imported (the native PyTorch
    # worker never imports keras); the caller's KCV_DEPTHWISE / KCV_POINTWISE
    # are dropped, so that only RUNS chooses. kcv is taken from this checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("KCV_DEPTHWISE", "KCV_POINTWISE")}
    env.update(KERAS_BACKEND=_MODULES[worker], TF_CPP_MIN_LOG_LEVEL="2", **extra_env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, __file__, *argv, "--worker", worker],
        env=env, capture_output=True, text=True, check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"worker {worker!r} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def summarize(label, result, batch):
    """Milliseconds statistics of one run."""
    ms = sorted(t * 1e3 for t in result["times_s"])
    p25, median, p75 = statistics.quantiles(ms, n=4, method="inclusive")
    return {
        "implementation": label,
        "depthwise": result["depthwise"],
        "first_step_s": result["first_s"],
        "median_ms": median,
        "p25_ms": p25,
        "p75_ms": p75,
        "min_ms": ms[0],
        "max_ms": ms[-1],
        "images_per_s": batch / (median / 1e3),
        "repeats": len(ms),
        "jit_compile": result["jit_compile"],
    }


def markdown_table(rows):
    """The results as a Markdown table (one line per run)."""
    lines = [
        "| implementation | depthwise | first step (compile) s | median ms "
        "| IQR ms | min–max ms | images/s | × native PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['implementation']} | {r['depthwise']} | {r['first_step_s']:.2f} "
            f"| {r['median_ms']:.1f} | {r['p25_ms']:.1f}–{r['p75_ms']:.1f} "
            f"| {r['min_ms']:.1f}–{r['max_ms']:.1f} | {r['images_per_s']:.0f} | {ratio} |"
        )
    return "\n".join(lines)


def machine():
    """CPU model, core count, load, Python and framework versions, date."""
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
        "load": ", ".join(f"{load:.2f}" for load in os.getloadavg()),
        "versions": versions,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def write_results(rows, args, info, table):
    """Writes ``<output-dir>/inverted_residual_cpu.{csv,md}``."""
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / f"{RESULT_NAME}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    hidden = int(round(args.in_channels * args.expansion))
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    command = " ".join(["python benchmarks/inverted_residual.py", *sys.argv[1:]])
    text = f"""# InvertedResidual train step, CPU

One training step (forward, backward, SGD(0.01) update, MSE loss, float32) of
a MobileNetV2 inverted residual block; see `benchmarks/README.md`.

- Block: {args.in_channels} -> {hidden} -> {args.in_channels} channels \
(expansion {args.expansion}), 3x3 depthwise, stride 1, residual
- Input: batch {args.batch}, {args.size}x{args.size}; Keras channels_last with \
`train_on_batch`, native PyTorch NCHW with `torch.optim.SGD`
- Steps: {args.warmup} warm-up (the first reported apart), {args.repeats} timed; \
each run in its own process, in sequence, default threads
- Machine: {info['cpu']}, {info['cores']} cores
- Load average (1, 5, 15 min) before the runs: {info['load']}
- Versions: {versions}
- Date: {info['date']}
- Command: `{command}`

{table}

IQR: 25th–75th percentile of the timed steps. × native PyTorch: median
divided by the native PyTorch median (lower is better).
"""
    (args.output_dir / f"{RESULT_NAME}.md").write_text(text)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    info = machine()  # before the runs: the load average is the machine's own
    passthrough = [
        f"--batch={args.batch}", f"--size={args.size}", f"--in-channels={args.in_channels}",
        f"--expansion={args.expansion}", f"--repeats={args.repeats}", f"--warmup={args.warmup}",
    ]
    rows, failed = [], []
    for label, worker, extra_env in RUNS:
        if importlib.util.find_spec(_MODULES[worker]) is None:
            print(f"skipping {label}: {_MODULES[worker]} is not installed", file=sys.stderr)
            continue
        print(f"running {label} ...", file=sys.stderr, flush=True)
        try:
            rows.append(summarize(label, run_subprocess(worker, extra_env, passthrough), args.batch))
        except RuntimeError as error:
            print(error, file=sys.stderr)
            failed.append(label)
    if not rows:
        return 1
    reference = rows[0]["median_ms"] if rows[0]["implementation"] == RUNS[0][0] else None
    for row in rows:
        row["ratio"] = row["median_ms"] / reference if reference else None
    table = markdown_table(rows)
    print(table)
    write_results(rows, args, info, table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
