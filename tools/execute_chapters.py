"""Executes the course chapters (notebooks/*.ipynb) top to bottom.

    KERAS_BACKEND=jax python tools/execute_chapters.py [NOTEBOOK ...]
                      [--output-dir build/chapters] [--timeout 900] [--fast]

Each chapter runs in a fresh kernel that inherits KERAS_BACKEND; the executed
copy (with outputs) is written to OUTPUT_DIR/<backend>/, never over the
source, which is committed without outputs. Exits non-zero, naming the
chapter and the failing cell, when any chapter raises. The book build
(tools/build_book.py) executes through this module too, and keeps the
executed copies in a cache keyed by ``cache_key``.

Every chapter has one code cell tagged ``parameters`` (papermill's
convention) that sets ``FAST = False``. ``--fast`` inserts a cell tagged
``injected-parameters`` right after it, setting ``FAST = True``: the smaller
experiment the test suite runs.
"""

import argparse
import glob
import hashlib
import importlib.metadata
import os
import platform
import sys
import time

import nbclient
import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Executed chapters kept for the book build, by backend and key (``cache_key``).
CACHE = os.path.join(ROOT, "build", "chapters-cache")


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


# The distributions whose version decides what a chapter computes, per backend.
BACKEND_DISTRIBUTIONS = {
    "jax": ("jax", "jaxlib"),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "torch": ("torch",),
}


def _installed_versions(names):
    versions = []
    for name in names:
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def cache_key(path, backend, fast):
    """What an executed chapter depends on, as a hex digest.

    The source of the notebook's code cells (not its text: the book build
    merges the cached outputs into the current text), the mode (FAST or
    full), the backend, the sources of ``kcv/`` and the versions of Python,
    Keras and the backend's packages. A change to any of them gives another
    key, so a cached execution is reused only for the same code run the
    same way.
    """
    digest = hashlib.sha256()
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    versions = [platform.python_version(), backend, f"fast={bool(fast)}"]
    versions += _installed_versions(("keras",) + BACKEND_DISTRIBUTIONS.get(backend, ()))
    digest.update("\n".join(versions).encode())
    package = os.path.join(ROOT, "kcv")
    for folder, subfolders, files in os.walk(package):  # top-down, in sorted order
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                source = os.path.join(folder, name)
                digest.update(os.path.relpath(source, package).encode())
                with open(source, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()


def cached_path(cache_dir, path, backend, fast):
    """Where the executed copy of ``path`` with this key lives in ``cache_dir``."""
    name = os.path.splitext(os.path.basename(path))[0]
    mode = "fast" if fast else "full"
    return os.path.join(
        cache_dir, backend, mode, f"{name}-{cache_key(path, backend, fast)[:20]}.ipynb"
    )


def store(target, notebook):
    """Keeps a successfully executed chapter at ``target`` (from :func:`cached_path`).

    Take ``target`` before executing: the key is what the execution ran
    with, even if ``kcv/`` changes meanwhile. Older executions of the same
    chapter, backend and mode are removed.
    """
    folder, name = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    chapter = name.rsplit("-", 1)[0]
    for stale in glob.glob(os.path.join(folder, f"{chapter}-*.ipynb")):
        os.remove(stale)
    nbformat.write(notebook, target + ".part")
    os.replace(target + ".part", target)
    return target


def execute(path, output_dir, timeout, fast=False, parameters=None):
    """Runs one notebook; returns ``(error text or None, executed notebook)``.

    ``parameters`` (source code, e.g. ``"SEEDS = 5"``) is injected after the
    ``parameters`` cell, after ``FAST = True`` when ``fast``.
    """
    notebook = nbformat.read(path, as_version=4)
    injected = "\n".join(part for part in ("FAST = True" if fast else "", parameters) if part)
    if injected:
        inject_parameters(notebook, injected)
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        # Once the last cell has run, the kernel is killed rather than asked to
        # exit: a kernel that has loaded Keras took 1.2 to 2.4 s to exit
        # gracefully (an empty one 0.1 s), 2.4 of chapter 00's 15 s on this
        # 2-core machine, 42 times per test run. The temporary-directory check
        # of tests/test_chapters.py then also catches a chapter that leaves
        # its clean-up to exit handlers.
        shutdown_kernel="immediate",
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
        print(
            f"{os.path.basename(path)}  [{keras_backend}]  {status}  {time.monotonic() - start:.0f}s",
            flush=True,
        )
        if error:
            failures += 1
            print(error[-3000:], file=sys.stderr)
    print(
        f"{len(paths) - failures} of {len(paths)} chapters executed under {keras_backend}; "
        f"executed copies in {os.path.relpath(output_dir, ROOT)}/"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
