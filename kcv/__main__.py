"""``python -m kcv`` / ``kcv``: the command line of kcv.

``kcv`` (or ``kcv info``) prints the versions of kcv, Keras and the backends,
the active backend and its devices. ``kcv grade`` grades an exercise
submission (see :mod:`kcv.grading.cli`). Later commands (``kcv bench``) join
as sub-commands of the same parser.
"""

import argparse
import sys


def _info(args):
    # Imported here so that `kcv --help` does not pay for starting a backend.
    from kcv import backend

    installed = backend.installed_backends()
    active = backend.name()
    lines = [f"{k:<11} {v}" for k, v in backend.versions().items()]
    lines += [
        f"{'backend':<11} {active}  (set KERAS_BACKEND=jax|tensorflow|torch to switch)",
        f"{'devices':<11} {', '.join(backend.devices())}",
        f"{'installed':<11} " + (", ".join(b for b, v in installed.items() if v) or "none"),
    ]
    missing = [b for b, v in installed.items() if not v]
    if missing:
        lines.append(f"{'missing':<11} {', '.join(missing)}  (pip install 'kcv[all]')")
    print("\n".join(lines))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="kcv",
        description="kcv: the convolutional blocks that shaped computer vision, in Keras 3.",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("info", help="versions, active backend and its devices (default)")
    from kcv.grading import cli as grade_cli

    grade_parser = grade_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grade_cli.run(args, grade_parser)
    return _info(args)


if __name__ == "__main__":
    sys.exit(main())
