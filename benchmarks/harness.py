"""The benchmark harness that ``families.py`` and ``models.py`` share.

Both scripts time kcv under each installed Keras backend next to a plain
PyTorch reference, the same way: a worker process per run (``KERAS_BACKEND``
set before Keras is imported), started and done importing before anything
is timed; the driver asks for one item (a block family, a model) at a time,
run after run, so that the numbers a ratio compares are taken seconds apart
and only one process computes at any moment. This module holds that
machinery, and neither script imports the other:

* runs and workers: :class:`Run`, :data:`NATIVE`, :data:`BACKEND_RUNS`,
  :class:`Worker`, :func:`start_workers`, :func:`worker_environment`;
* timing: :func:`timed`, :func:`reset_peak_rss`, :func:`peak_rss_mib`, and
  on the worker side :func:`native_steps` (the plain PyTorch train step and
  forward pass), :func:`keras_device`, :func:`check_parameters`;
* statistics and reports: :func:`quartiles`, :func:`add_ratios`,
  :func:`format_ratio`, :data:`TARGETS` and :func:`targets_report`,
  :func:`write_chart`, :func:`machine`, :func:`load_average`;
* options: :func:`chosen` (a comma-separated selection, checked).

Importing it imports no framework and changes nothing: the workers get
kcv's recommended process settings (``kcv.environment.settings()``:
TensorFlow's oneDNN kernels on, its INFO logs off) in their environment,
under the caller's own values.
"""

import dataclasses
import datetime
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
from pathlib import Path

from kcv import environment

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    """One implementation timed per item (a block family, a model): a worker and its
    extra environment variables."""

    label: str
    worker: str
    env: dict = dataclasses.field(default_factory=dict)


NATIVE = Run("native PyTorch (torch.nn, NCHW)", "torch-native")
# kcv on each backend; the native run is the reference of the ratios.
BACKEND_RUNS = (
    Run("kcv on jax", "jax"),
    Run("kcv on tensorflow", "tensorflow"),
    Run("kcv on torch", "torch"),
)
# Python module needed by each worker (the native worker also builds kcv's
# layer or model, on Keras' torch backend, to compare the parameter counts).
WORKER_MODULES = {
    "torch-native": "torch",
    "jax": "jax",
    "tensorflow": "tensorflow",
    "torch": "torch",
}
VERSIONS = ("keras", "jax", "jaxlib", "tensorflow-cpu", "tensorflow", "torch", "numpy")
# The --dtype choices of families.py and models.py: a Keras dtype policy, and the
# torch.autocast type of the native step (native_steps).
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")
# Issue 19's targets: a kcv train step at most this many times native PyTorch's,
# float32 on a CPU (TensorFlow has none: it met issue 8's 1.2 before them).
TARGETS = {"kcv on jax": 1.2, "kcv on torch": 1.3}
# Where each miss is explained: what the time is spent on, and what was tried.
MISSES_EXPLAINED = 'benchmarks/README.md, "Where the targets are missed, and why"'


# --------------------------------------------------------------------------
# Worker side: builds, checks and times one item in a subprocess.


def spatial_mean(ops, outputs, channels_last=True):
    """Mean over every axis but the batch and the channels, with ``ops``'
    ``mean(x, axis)``: (B, H, W, C) -> (B, C); (B, K, C) -> (B, C)."""
    rank = len(outputs.shape)
    if rank == 2:
        return outputs
    if channels_last or rank == 3:
        return ops.mean(outputs, axis=tuple(range(1, rank - 1)))
    return ops.mean(outputs, axis=tuple(range(2, rank)))


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


# --------------------------------------------------------------------------
# Driver side: one worker process per run, started (and imported) before any
# timing; then item by item, one run at a time; then the report.


def worker_environment(environ=None):
    """The environment a worker process starts from, before its run's own variables.

    ``environ`` with kcv's recommended process settings
    (``kcv.environment.settings()``: TensorFlow's oneDNN CPU kernels on, its
    INFO logs off, kcv's XLA flags) where ``environ`` does not set them (the
    caller's choices win).

    Args:
        environ: mapping or None. The caller's environment; None means
            ``os.environ``.

    Returns:
        A new dict.
    """
    base = os.environ if environ is None else environ
    return {**base, **environment.settings(base)}


class Worker:
    """A ``--worker`` subprocess of ``script`` (a benchmark script), for a :class:`Run`.

    The worker answers each name written to its stdin with one JSON line
    (``{"error": ...}`` when it failed); its first line says it is ready.
    Its environment is :func:`worker_environment` of ``environ`` (None: this
    process's), with ``KERAS_BACKEND`` and the run's own variables.
    """

    def __init__(self, run, argv, script, environ=None):
        # KERAS_BACKEND must be set before keras is imported. On a GPU, JAX
        # and TensorFlow would each reserve most of its memory for the first
        # process: the workers share it, allocating as they go. kcv is taken
        # from this checkout.
        env = worker_environment(environ)
        env.update(
            KERAS_BACKEND=WORKER_MODULES[run.worker],
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


def start_workers(runs, passthrough, script, environ=None):
    """Starts a worker of ``script`` per installed run and waits until all have imported.

    ``passthrough`` are the script's options the workers get; ``environ``
    the base of their environment (see :class:`Worker`).

    Returns ``({run: Worker}, failed)``, ``failed`` the labels of the runs
    whose worker could not start; a run whose framework is not installed is
    skipped with a message.
    """
    installed = []
    for run in runs:
        if importlib.util.find_spec(WORKER_MODULES[run.worker]) is None:
            print(
                f"skipping {run.label}: {WORKER_MODULES[run.worker]} is not installed",
                file=sys.stderr,
            )
        else:
            installed.append(run)
    print(f"starting {len(installed)} workers ...", file=sys.stderr, flush=True)
    workers = {run: Worker(run, passthrough, script, environ) for run in installed}
    failed = []
    for run, worker in list(workers.items()):
        try:
            worker.wait_ready()
        except RuntimeError as error:
            print(f"{run.label} failed to start: {error}", file=sys.stderr)
            failed.append(run.label)
            del workers[run]
    return workers, failed


def add_ratios(rows, group):
    """Sets each row's ``ratio``: its median over the native PyTorch median
    of its ``group`` (the rows with the same ``row[group]``)."""
    native = {r[group]: r["median_ms"] for r in rows if r["implementation"] == NATIVE.label}
    for row in rows:
        reference = native.get(row[group])
        row["ratio"] = row["median_ms"] / reference if reference else None


def format_ratio(row):
    """``row["ratio"]`` to two decimals, ``n/a`` without a native reference."""
    return "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}"


def targets_report(rows, group, dtype):
    """Markdown: the :data:`TARGETS`, and every run of ``rows`` over its own.

    Args:
        rows: the result rows, with ``ratio`` set (:func:`add_ratios`), each
            with its ``implementation``, ``device`` and ``row[group]``.
        group: str. The key naming each row's item: ``"family"``, ``"model"``.
        dtype: str. The run's ``--dtype``.

    Returns:
        str: a paragraph naming the targets, then either the runs over target
        (item, implementation, ratio), with where the misses are explained, or
        that every run met its target. A run off the CPU (its own or its
        native reference's), or not in float32, has no target, and the
        paragraph says so.

    Example:
        >>> rows = [{"model": "msdnet", "implementation": label, "device": "cpu",
        ...          "ratio": ratio} for label, ratio in ((NATIVE.label, 1.0),
        ...                                               ("kcv on torch", 1.38))]
        >>> print(targets_report(rows, "model", "float32").splitlines()[1])
        - msdnet, kcv on torch: 1.38 (target 1.3)
    """
    limits = ", ".join(
        f"{label.removeprefix('kcv on ')} {limit}" for label, limit in TARGETS.items()
    )
    lines = [f"Targets (issue 19; a kcv train step × native PyTorch, float32 on a CPU): {limits}."]
    on_cpu = {
        r[group] for r in rows if r["implementation"] == NATIVE.label and r["device"] == "cpu"
    }
    judged = [
        r
        for r in rows
        if r["implementation"] in TARGETS
        and r["ratio"] is not None
        and r["device"] == "cpu"
        and r[group] in on_cpu
    ]
    if dtype != "float32" or not judged:
        lines[0] += f" None applies to this run ({dtype}; devices: "
        lines[0] += ", ".join(sorted({r["device"] for r in rows})) + ")."
        return "\n".join(lines)
    over = [r for r in judged if r["ratio"] > TARGETS[r["implementation"]]]
    if not over:
        lines[0] += f" All {len(judged)} runs with a target are within it."
        return "\n".join(lines)
    lines[0] += f" Over target in this run, {len(over)} of {len(judged)}:"
    lines += [
        f"- {r[group]}, {r['implementation']}: {r['ratio']:.2f} "
        f"(target {TARGETS[r['implementation']]})"
        for r in over
    ]
    lines.append(f"\nWhere their time goes, and what was tried: {MISSES_EXPLAINED}.")
    return "\n".join(lines)


def write_chart(rows, path, group):
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


def machine(environ=None):
    """CPU model, core count, Python and framework versions, the environment
    the workers get (TensorFlow's oneDNN switch, from
    :func:`worker_environment` of ``environ``), date."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    workers = worker_environment(environ)
    recorded = [f"TF_ENABLE_ONEDNN_OPTS={workers.get('TF_ENABLE_ONEDNN_OPTS', '')}"]
    if workers.get("XLA_FLAGS"):
        recorded.append(f"XLA_FLAGS={workers['XLA_FLAGS']}")
    versions = {"python": platform.python_version()}
    for dist in VERSIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "versions": versions,
        "environment": "; ".join(recorded),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def chosen(parser, option, value, known):
    """The names of a comma-separated option, each one of ``known``.

    Args:
        parser: the ``argparse.ArgumentParser``, whose ``error`` exits (status 2)
            naming ``--option``, the names it takes and the value received, when
            ``value`` names nothing or something not in ``known``.
        option: str. The option's name, without ``--``.
        value: str. What was given, e.g. ``"se,aspp"``.
        known: sequence of str, in the order the message lists them.

    Returns:
        set of str.
    """
    names = {name.strip() for name in value.split(",") if name.strip()}
    if not names or names - set(known):
        parser.error(f"--{option} must name some of {', '.join(known)}; received {value!r}")
    return names


def load_average():
    """The 1, 5 and 15 minute load averages, as text."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())
