"""Executes the course chapters (notebooks/*.ipynb) top to bottom.

    KERAS_BACKEND=jax python tools/execute_chapters.py [NOTEBOOK ...]
                      [--output-dir build/chapters] [--timeout 900]

Each chapter runs in a fresh kernel that inherits KERAS_BACKEND; the executed
copy (with outputs) is written to OUTPUT_DIR/<backend>/, never over the
source, which is committed without outputs. Exits non-zero, naming the
chapter and the failing cell, when any chapter raises. Until the Jupyter Book
exists this is `make book`'s main job.
"""

import argparse
import glob
import os
import sys
import time

import nbclient
import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def execute(path, output_dir, timeout):
    """Runs one notebook; returns None on success, else the error text."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    error = None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as failure:
        error = str(failure)
    os.makedirs(output_dir, exist_ok=True)
    nbformat.write(notebook, os.path.join(output_dir, os.path.basename(path)))
    return error


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "build", "chapters"))
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    keras_backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    output_dir = os.path.join(args.output_dir, keras_backend)
    if not paths:
        print("No chapters in notebooks/ yet: nothing to execute.")
        return 0
    failures = 0
    for path in paths:
        start = time.monotonic()
        error = execute(path, output_dir, args.timeout)
        status = "ok" if error is None else "FAILED"
        print(f"{os.path.basename(path)}  [{keras_backend}]  {status}  {time.monotonic() - start:.0f}s", flush=True)
        if error:
            failures += 1
            print(error[-3000:], file=sys.stderr)
    print(f"{len(paths) - failures} of {len(paths)} chapters executed under {keras_backend}; "
          f"executed copies in {os.path.relpath(output_dir, ROOT)}/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
