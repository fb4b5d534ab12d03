"""Executes the course chapters (notebooks/*.ipynb) top to bottom.

    KERAS_BACKEND=jax python tools/execute_chapters.py [NOTEBOOK ...]
                      [--output-dir build/chapters] [--timeout 900] [--fast]

Each chapter runs in a fresh kernel that inherits KERAS_BACKEND; the executed
copy (with outputs) is written to OUTPUT_DIR/<backend>/, never over the
source, which is committed without outputs. Exits non-zero, naming the
chapter and the failing cell, when any chapter raises. Until the Jupyter Book
exists this is `make book`'s main job.

Every chapter has one code cell tagged ``parameters`` (papermill's
convention) that sets ``FAST = False``. ``--fast`` inserts a cell tagged
``injected-parameters`` right after it, setting ``FAST = True``: the smaller
experiment the test suite runs.
"""

import argparse
import glob
import os
import sys
import time

import nbclient
import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def inject_parameters(notebook, source):
    """Inserts ``source`` after the cell tagged ``parameters`` (papermill style).

    Raises:
        ValueError: when the notebook has no ``parameters`` cell.
    """
    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            injected = nbformat.v4.new_code_cell(source)
            injected.metadata["tags"] = ["injected-parameters"]
            notebook.cells.insert(index + 1, injected)
            return notebook
    raise ValueError("the notebook has no code cell tagged 'parameters'")


def count_images(notebook):
    """Number of image outputs (PNG or SVG) in an executed notebook."""
    return sum(
        1
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if {"image/png", "image/svg+xml"} & set(output.get("data", {}))
    )


def execute(path, output_dir, timeout, fast=False):
    """Runs one notebook; returns ``(error text or None, executed notebook)``."""
    notebook = nbformat.read(path, as_version=4)
    if fast:
        inject_parameters(notebook, "FAST = True")
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
    return error, notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "build", "chapters"))
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--fast", action="store_true", help="run each chapter's FAST mode")
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
        error, _ = execute(path, output_dir, args.timeout, fast=args.fast)
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
