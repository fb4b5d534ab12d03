"""Peak memory of ``kcv.layers.Encoding`` against the naive residual tensor.

The Encoding layer (EncNet, Zhang et al. CVPR 2018) aggregates residuals
``r_ik = x_i - c_k``. Written as the paper reads, it materialises a
``B x N x K x C`` tensor: 4 GiB in float32 for B=16, 64x64 pixels, C=512,
K=32 (a trap reported on PyTorch-Encoding's tracker). kcv expands the squared
distance as ``||x||² - 2 x·c + ||c||²`` and the aggregate as
``AᵀX - (Σ_i a_ik) c_k``, so it needs ``O(B·N·K + B·K·C)``.

For each installed backend, and each formulation, a fresh subprocess builds
the input and the weights, records its peak resident memory, runs one eager
forward pass and records the peak again; the difference is what the
computation needed. Eager, because that is where the formulation decides the
memory (under ``jax.jit`` XLA may fuse the naive form's residuals away).

Usage::

    python benchmarks/encoding_memory.py [--batch 16 --size 64 --channels 512
        --codes 32 --output-dir benchmarks/results]
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from kcv import environment

HERE = Path(__file__).resolve().parent
BACKENDS = ("jax", "tensorflow", "torch")


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def naive_encoding(x, codewords, scale):
    """The paper's formula as written, with the full residual tensor."""
    from keras import ops

    x = ops.reshape(x, (x.shape[0], -1, x.shape[-1]))
    residuals = x[:, :, None, :] - codewords[None, None]  # (B, N, K, C)
    assignment = ops.softmax(scale * ops.sum(ops.square(residuals), axis=-1), axis=-1)
    return ops.sum(assignment[..., None] * residuals, axis=1)


def run_worker(args):
    import keras
    import numpy as np

    import kcv

    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(
        rng.standard_normal((args.batch, args.size, args.size, args.channels), dtype=np.float32)
    )
    layer = kcv.layers.Encoding(args.codes)
    layer.build(x.shape)
    codewords, scale = (
        keras.ops.convert_to_tensor(layer.codewords),
        keras.ops.convert_to_tensor(layer.scale),
    )
    if args.worker_form == "kcv":
        forward = lambda inputs: layer(inputs)  # noqa: E731
    else:
        forward = lambda inputs: naive_encoding(inputs, codewords, scale)  # noqa: E731
    keras.ops.convert_to_numpy(forward(x[:1, :4, :4]))  # warm up the runtime, not counted
    before = _peak_mib()
    start = time.perf_counter()
    out = keras.ops.convert_to_numpy(forward(x))
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "peak_increase_mib": _peak_mib() - before,
                "seconds": seconds,
                "checksum": float(abs(out).sum()),
            }
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--codes", type=int, default=32)
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument("--worker-form", choices=("kcv", "naive"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_form:
        run_worker(args)
        return 0

    n = args.size * args.size
    residual_mib = args.batch * n * args.codes * args.channels * 4 / 2**20
    rows = []
    for backend in BACKENDS:
        for form in ("kcv", "naive"):
            # kcv's process settings (TensorFlow's INFO logs off, ...) under the
            # caller's environment, then the backend of this worker.
            env = {**environment.settings(), **os.environ, "KERAS_BACKEND": backend}
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(HERE.parent), env.get("PYTHONPATH")])
            )
            done = subprocess.run(
                [sys.executable, __file__, *(argv or sys.argv[1:]), "--worker-form", form],
                env=env,
                capture_output=True,
                text=True,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode or not lines:
                print(f"{backend}/{form} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append({"backend": backend, "formulation": form, **json.loads(lines[-1])})
            print(f"{backend:<11} {form:<6} done", file=sys.stderr, flush=True)

    table = [
        "| backend | formulation | peak memory increase MiB | forward s |",
        "|---|---|---:|---:|",
    ] + [
        f"| {r['backend']} | {r['formulation']} | {r['peak_increase_mib']:.0f} | {r['seconds']:.2f} |"
        for r in rows
    ]
    text = (
        f"# Encoding layer: peak memory, CPU, eager forward\n\n"
        f"B={args.batch}, {args.size}x{args.size} pixels (N={n}), C={args.channels}, "
        f"K={args.codes}, float32. The naive form's B x N x K x C residual tensor alone is "
        f"{residual_mib:.0f} MiB. Peak resident memory increase of a fresh process over "
        f"one forward pass (input and weights already built).\n\n" + "\n".join(table) + "\n"
    )
    print(text)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "encoding_memory_cpu.md").write_text(text)
    with open(args.output_dir / "encoding_memory_cpu.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return 0 if len(rows) == 2 * len(BACKENDS) else 1


if __name__ == "__main__":
    sys.exit(main())
