"""Builds the Gradescope autograder zip of one exercise.

    python exercises/gradescope/package.py squeeze_excite [--output build/gradescope]

The zip holds what Gradescope needs at its root — ``setup.sh``,
``run_autograder`` — plus ``exercise.txt`` (the exercise's name) and the kcv
source (``kcv/``: ``pyproject.toml``, ``README.md``, the ``kcv`` package,
``constraints/cpu.txt``), which ``setup.sh`` installs at the versions CI
tests. The instructor solutions (``exercises/``) are not included.
"""

import argparse
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _source_files():
    yield "pyproject.toml"
    yield "README.md"
    yield os.path.join("constraints", "cpu.txt")
    for folder, dirs, files in os.walk(os.path.join(ROOT, "kcv")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                yield os.path.relpath(os.path.join(folder, name), ROOT)


def package(exercise, output):
    """Writes ``<output>/<exercise>-gradescope.zip``; returns its path.

    Args:
        exercise: str. An exercise name (see ``kcv.grading.exercises``).
        output: str. Folder for the zip (created if needed).

    Raises:
        ValueError: naming ``exercise`` when it is unknown.
    """
    names = [
        n[: -len(".ipynb")]
        for n in os.listdir(os.path.join(ROOT, "exercises"))
        if n.endswith(".ipynb")
    ]
    if exercise not in names:
        raise ValueError(
            f"`exercise` must be one of {', '.join(sorted(names))}; received {exercise!r}."
        )
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, f"{exercise}-gradescope.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for script in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o755 << 16
            with open(os.path.join(HERE, script), "rb") as f:
                archive.writestr(info, f.read())
        archive.writestr("exercise.txt", exercise + "\n")
        for relative in _source_files():
            archive.write(os.path.join(ROOT, relative), os.path.join("kcv", relative))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exercise")
    parser.add_argument("--output", default=os.path.join(ROOT, "build", "gradescope"))
    args = parser.parse_args(argv)
    try:
        print(package(args.exercise, args.output))
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
