"""The chapters (notebooks/*.ipynb) run top to bottom on this backend, in FAST mode.

Each chapter executes in a fresh Jupyter kernel that inherits KERAS_BACKEND,
with ``FAST = True`` injected after its ``parameters`` cell. Its status, time
and number of figures go to ``test-results/chapters/<backend>.json``;
``tools/run_tests.py`` prints them as the chapter × backend matrix and writes
``test-results/chapters.md`` for the book. Times are recorded, not asserted.
The kernel gets a temporary directory of its own (``TMPDIR``), in which a
chapter must leave no ``kcv_chapter*`` folder or file of its own making.
A chapter that passes is stored in the book's cache (``build/chapters-cache``),
from which ``tools/build_book.py --fast`` builds without running it again.
"""

import glob
import json
import os
import sys
import time

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import execute_chapters  # noqa: E402

CHAPTERS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
RECORDS = os.path.join(ROOT, "test-results", "chapters")
MIN_FIGURES = 2


def _record(name, status, seconds, figures):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    os.makedirs(RECORDS, exist_ok=True)
    path = os.path.join(RECORDS, f"{backend}.json")
    records = {}
    if os.path.exists(path):
        with open(path) as f:
            records = json.load(f)
    records[name] = {"status": status, "seconds": round(seconds, 1), "figures": figures}
    with open(path, "w") as f:
        json.dump(records, f, indent=1, sort_keys=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=os.path.basename)
def test_chapter_runs_in_fast_mode(path, tmp_path, monkeypatch):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    cached = execute_chapters.cached_path(execute_chapters.CACHE, path, backend, True)
    # The kernel (and any process it starts) inherits this TMPDIR: what the chapter
    # leaves in its temporary directory is left here, apart from other runs.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    start = time.monotonic()
    error, executed = execute_chapters.execute(path, str(tmp_path), timeout=600, fast=True)
    figures = execute_chapters.count_images(executed)
    left = sorted(entry.name for entry in temporary.glob("kcv_chapter*"))
    ok = error is None and figures >= MIN_FIGURES and not left
    _record(os.path.basename(path), "ok" if ok else "FAILED", time.monotonic() - start, figures)
    assert error is None, error[-3000:]
    assert figures >= MIN_FIGURES, f"{figures} figure(s); a chapter shows at least {MIN_FIGURES}"
    assert not left, f"the chapter left {left} in its temporary directory: delete what it creates"
    # The book build (tools/build_book.py --fast) reuses this execution.
    execute_chapters.store(cached, executed)


@pytest.mark.backend_independent
@pytest.mark.parametrize("path", CHAPTERS, ids=os.path.basename)
def test_chapter_is_committed_clean_with_a_fast_switch(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not dirty, f"cells {dirty} have outputs: commit chapters without outputs"
    parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and "FAST = False" in parameters[0].source


@pytest.mark.backend_independent
def test_fast_mode_injection():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("FAST = False")])
    with pytest.raises(ValueError, match="no code cell tagged 'parameters'"):
        execute_chapters.inject_parameters(notebook, "FAST = True")
    notebook.cells[0].metadata["tags"] = ["parameters"]
    execute_chapters.inject_parameters(notebook, "FAST = True")
    assert [c.source for c in notebook.cells] == ["FAST = False", "FAST = True"]
    assert notebook.cells[1].metadata["tags"] == ["injected-parameters"]


@pytest.mark.backend_independent
@pytest.mark.parametrize("path", CHAPTERS, ids=os.path.basename)
def test_chapter_applies_the_process_settings_before_keras_loads(path):
    """The first code cell calls kcv.environment.configure() before importing Keras,
    with a comment a learner can read (docs/ARCHITECTURE.md, "a chapter")."""
    notebook = nbformat.read(path, as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code").source
    assert "kcv.environment.configure()" in first
    configure = first.index("kcv.environment.configure()")
    assert "import keras" not in first[:configure], "configure() must run before Keras loads"
    assert "oneDNN" in first[:configure], "say why, in a comment above the call"
