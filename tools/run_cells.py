"""Runs a chapter's code cells in this Python process, without Jupyter.

    python tools/run_cells.py NOTEBOOK [NAME=VALUE ...]

For a machine that has the chapter's libraries but no Jupyter kernel (the
GPU machine the device checks run on, where nothing can be installed from
a registry): every code cell runs in one namespace, in order, as a kernel
would run it, in the notebook's folder; each ``NAME=VALUE`` (a Python
literal) is assigned right after the cell tagged ``parameters``, as papermill
and ``tools/execute_chapters.py`` do. Figures go to matplotlib's
non-interactive backend. Prints each cell's time and the total; the exit
status is non-zero when a cell raises (its traceback is printed).
``tools/execute_chapters.py`` stays the way the book and the tests run
chapters; this runner keeps no outputs.

Example::

    KERAS_BACKEND=torch python tools/run_cells.py notebooks/03_resnet_resnext.ipynb FAST=False
"""

import ast
import json
import os
import sys
import time
import traceback


def parameters(assignments):
    """``{name: value}`` from ``NAME=VALUE`` strings; a ValueError names a bad one."""
    found = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"parameters must be NAME=VALUE; received {item!r}")
        try:
            found[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError) as error:
            raise ValueError(
                f"{name}: VALUE must be a Python literal; received {value!r}"
            ) from error
    return found


def run(path, values):
    """Runs the code cells of the notebook at ``path``; returns the exit status."""
    with open(path) as f:
        cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(os.path.dirname(os.path.abspath(path)))  # a kernel's working directory
    sys.path.insert(0, os.getcwd())
    namespace = {"__name__": "__main__"}
    start = time.monotonic()
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        began = time.monotonic()
        try:
            exec(compile(source, f"{os.path.basename(path)}[cell {index}]", "exec"), namespace)
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                namespace.update(values)
        except Exception:
            traceback.print_exc()
            print(f"cell {index} raised after {time.monotonic() - start:.0f} s", flush=True)
            return 1
        print(f"cell {index}: {time.monotonic() - began:.1f} s", flush=True)
    print(f"{os.path.basename(path)}: {len(cells)} cells in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(run(sys.argv[1], parameters(sys.argv[2:])))
