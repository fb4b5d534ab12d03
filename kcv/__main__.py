"""``python -m kcv`` / ``kcv``: the command line of kcv.

``kcv`` (or ``kcv info``) prints the versions of kcv, Keras and the backends,
the active backend and its devices; where Keras cannot start for lack of a
backend, it says which is missing and how to install one (exit status 1).
``kcv grade`` grades an exercise submission (see :mod:`kcv.grading.cli`);
``kcv exercise export --nbgrader NAME`` writes an nbgrader source notebook of
an exercise (see :mod:`kcv.grading.nbgrader`).
``kcv bench [NAME] [ARGS...]`` runs the benchmarks of a source checkout
(``benchmarks/NAME.py``; all of them, as ``make bench`` does, without a name).
"""

import argparse
import os
import subprocess
import sys

from kcv import environment

# What `kcv bench` (and `make bench`) runs, in order, with its arguments.
BENCHMARKS = (
    ("families", ()),
    ("families", ("--loss", "pooled")),
    ("models", ()),
    ("torch_paths", ()),
    ("encoding_memory", ()),
    ("grading", ()),
)


def _extras(backends):
    return f"pip install 'kcv[{','.join(backends)}]'"


def _info(args):
    # Imported here, as everything that `kcv --help` does not need.
    from kcv import backend

    installed = backend.installed_backends()
    try:
        active = backend.name()  # imports Keras, which loads its backend
    except ImportError as error:
        needed = (error.name or "").split(".")[0]
        if needed not in backend.BACKENDS or installed[needed]:
            raise  # not a missing backend: a broken installation
        print(_no_backend(needed, installed))
        return 1
    lines = [f"{k:<11} {v}" for k, v in backend.versions().items()]
    applied = environment.settings()
    lines += [
        f"{'backend':<11} {active}  (set KERAS_BACKEND=jax|tensorflow|torch to switch)",
        f"{'devices':<11} {', '.join(backend.devices())}",
        f"{'installed':<11} " + (", ".join(b for b, v in installed.items() if v) or "none"),
    ]
    lines.append(
        f"{'settings':<11} "
        + " ".join(f"{key}={os.environ.get(key, '(unset)')}" for key in applied)
    )
    missing = [b for b, v in installed.items() if not v]
    if missing:
        lines.append(f"{'missing':<11} {', '.join(missing)}  ({_extras(missing)}: CPU builds)")
    print("\n".join(lines))
    return 0


def _no_backend(needed, installed):
    """What ``kcv info`` prints when Keras cannot start: ``needed`` is not installed."""
    import importlib.metadata

    import kcv

    present = [b for b, v in installed.items() if v]
    chosen = os.environ.get("KERAS_BACKEND")
    source = (
        f"KERAS_BACKEND={chosen}" if chosen else "KERAS_BACKEND unset: keras.json, else tensorflow"
    )
    lines = [
        f"{'kcv':<11} {kcv.__version__}",
        f"{'keras':<11} {importlib.metadata.version('keras')}",
        *(f"{b:<11} {v or 'not installed'}" for b, v in installed.items()),
        f"{'backend':<11} none: Keras needs {needed}, which is not installed ({source})",
        f"{'installed':<11} {', '.join(present) or 'none'}",
        "",
    ]
    if present:
        lines.append(
            f"Run on an installed backend (KERAS_BACKEND={present[0]} python -m kcv), "
            f'or install {needed}: {_extras([needed])} (README, "Installing").'
        )
    else:
        lines += [
            "kcv runs on JAX, TensorFlow or PyTorch, and none is installed. Install one, or all,",
            f"with kcv's extras: {_extras(['jax'])}, or kcv[tensorflow], kcv[torch], kcv[all]",
            '(CPU builds; README, "Installing"). On a GPU machine, install the backend\'s GPU',
            "build as its own guide says: kcv itself needs no backend extra.",
        ]
    return "\n".join(lines)


def _bench(args):
    """Runs ``benchmarks/<name>.py`` of the checkout kcv is imported from."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    names = sorted({name for name, _ in BENCHMARKS})
    if not os.path.isdir(folder):
        print(f"kcv bench needs a source checkout of kcv (no {folder})", file=sys.stderr)
        return 2
    if args.name is not None and args.name not in names:
        print(
            f"kcv bench: NAME must be one of {', '.join(names)}, got {args.name!r}", file=sys.stderr
        )
        return 2
    runs = [(args.name, tuple(args.args))] if args.name else BENCHMARKS
    for name, extra in runs:
        command = [sys.executable, os.path.join(folder, f"{name}.py"), *extra]
        print("$ " + " ".join(command[1:]), flush=True)
        code = subprocess.call(command)
        if code:
            return code
    return 0


def main(argv=None):
    # Before anything imports a backend: TensorFlow reads these as it loads.
    # No compilation cache: the benchmarks time compiling, and the grader
    # chooses its processes' caches itself.
    environment.configure(compilation_cache=False)
    parser = argparse.ArgumentParser(
        prog="kcv",
        description="kcv: the convolutional blocks that shaped computer vision, in Keras 3.",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("info", help="versions, active backend and its devices (default)")
    from kcv.grading import cli as grade_cli

    grade_parser = grade_cli.add_parser(commands)
    exercise_parser = grade_cli.add_exercise_parser(commands)
    bench = commands.add_parser("bench", help="run the benchmarks (source checkout)")
    bench.add_argument(
        "name",
        nargs="?",
        help="families, models, torch_paths, encoding_memory or grading; default all",
    )
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the benchmark")
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grade_cli.run(args, grade_parser)
    if args.command == "exercise":
        return grade_cli.run_exercise(args, exercise_parser)
    if args.command == "bench":
        return _bench(args)
    return _info(args)


if __name__ == "__main__":
    sys.exit(main())
