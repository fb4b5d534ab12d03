"""Builds the course book offline: executes the chapters, stages them, writes HTML.

    KERAS_BACKEND=jax python tools/build_book.py [--fast] [--output DIR]

1. **Execute.** Every chapter of ``notebooks/`` runs in a fresh kernel under
   ``KERAS_BACKEND`` (``tools/execute_chapters.py``), unless the cache
   ``build/chapters-cache/<backend>/<fast or full>/`` holds a copy with the
   same key: same code cells, mode, ``kcv/`` sources, backend and package
   versions (a chapter whose text alone changed is not run again). The test
   suite stores its FAST executions there too. A failing chapter stops the
   build, naming the chapter and the cell.
2. **Stage.** ``book/`` and the executed chapters are copied into
   ``DIR/src`` (a file only when its content changed, so that Sphinx
   rebuilds only what changed), with the exercise notebooks (not run),
   MathJax from the npm package pinned in ``book/package.json`` (``npm ci``,
   the only step that needs the npm registry, once) and the chapter ×
   backend matrix from ``test-results/chapters.md`` (or the committed
   ``book/chapter_matrix.md``).
3. **HTML.** ``jupyter-book build`` (Jupyter Book 1.x, Sphinx) with no
   execution of its own. Every Sphinx warning is printed; one not listed,
   with its reason, in ``book/known_warnings.txt`` fails the build.
4. **Links.** ``tools/check_links.py`` reads every page reachable from
   ``index.html``: an internal link or anchor that does not resolve fails
   the build; external links are counted, not fetched.

Prints the path of ``index.html``, and the time of each step. ``--fast``
builds from the chapters' FAST mode into ``build/book-fast`` (what the tests
do); the default is the full chapters into ``build/book``.
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import check_links  # noqa: E402
import execute_chapters  # noqa: E402

from kcv import environment  # noqa: E402

BOOK = os.path.join(ROOT, "book")
CACHE = execute_chapters.CACHE
MATRIX_FRESH = os.path.join(ROOT, "test-results", "chapters.md")
MATRIX_COMMITTED = os.path.join(BOOK, "chapter_matrix.md")
KNOWN_WARNINGS = os.path.join(BOOK, "known_warnings.txt")
# What the site needs of MathJax's es5 build: the TeX-to-CommonHTML bundle,
# the extensions and fonts it loads on demand, and its menu.
MATHJAX_PARTS = ("tex-chtml.js", "input", "output/chtml", "ui", "a11y", "sre")
# Book files that are the build's own inputs, not pages or assets.
NOT_STAGED = {
    "README.md",
    "package.json",
    "package-lock.json",
    "known_warnings.txt",
    "chapter_matrix.md",
    "node_modules",
    "_build",
}


class BookError(RuntimeError):
    """A step of the build failed; the message says which and why."""


def copy_if_changed(source, target):
    """Copies ``source`` to ``target`` unless the bytes are the same already.

    The copy gets the current time, not the source's: Sphinx rebuilds a page
    when a file it includes is newer than the last build, and a committed file
    (``book/chapter_matrix.md``) keeps its checkout time.
    """
    if os.path.exists(target):
        with open(source, "rb") as a, open(target, "rb") as b:
            if a.read() == b.read():
                return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
    return True


def write_if_changed(text, target):
    """Writes ``text`` to ``target`` unless it holds it already."""
    if os.path.exists(target):
        with open(target, encoding="utf-8") as f:
            if f.read() == text:
                return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def execute_chapters_cached(paths, backend, fast, timeout, log=print):
    """Executes the chapters that the cache does not hold yet.

    Returns:
        ``[(path, executed_copy, "cached" | "executed", seconds)]``.

    Raises:
        BookError: naming the chapter, with the failing cell's traceback.
    """
    results = []
    for path in paths:
        target = execute_chapters.cached_path(CACHE, path, backend, fast)
        start = time.monotonic()
        if os.path.exists(target):
            status = "cached"
        else:
            with_outputs = os.path.join(ROOT, "build", "chapters", backend)
            error, notebook = execute_chapters.execute(path, with_outputs, timeout, fast=fast)
            if error:
                raise BookError(
                    f"{os.path.basename(path)} failed under {backend}:\n{error[-3000:]}"
                )
            execute_chapters.store(target, notebook)
            status = "executed"
        seconds = time.monotonic() - start
        log(f"  {os.path.basename(path)}  {status}  {seconds:.0f}s")
        results.append((path, target, status, seconds))
    return results


def stage_chapter(source, executed_copy, target, fast):
    """Stages a chapter: the current text of ``source``, the outputs of ``executed_copy``.

    The cache is keyed by the code only, so a chapter whose text changed is
    not run again: its code cells take their outputs from the cached
    execution, in order. The cell that switched on FAST mode is hidden.

    Returns:
        Whether ``target`` changed.

    Raises:
        BookError: when the code cells of the two notebooks differ.
    """
    notebook = nbformat.read(source, as_version=4)
    if fast:
        execute_chapters.inject_parameters(notebook, "FAST = True")
    executed = nbformat.read(executed_copy, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    ran = [cell for cell in executed.cells if cell.cell_type == "code"]
    if [c.source for c in code] != [c.source for c in ran]:
        raise BookError(
            f"{executed_copy} holds other code than {source}: delete it and build again"
        )
    for cell, result in zip(code, ran):
        cell.outputs, cell.execution_count = result.outputs, result.execution_count
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
            cell.id = result.id  # a new cell gets a random id: keep the staged file stable
    notebook.metadata = executed.metadata
    return write_if_changed(nbformat.writes(notebook) + "\n", target)


def install_mathjax(build_dir):
    """``npm ci`` of book/package.json into ``build_dir/npm``; returns MathJax's es5 folder."""
    npm_dir = os.path.join(build_dir, "npm")
    with open(os.path.join(BOOK, "package.json")) as f:
        pinned = json.load(f)["dependencies"]["mathjax"]
    installed = os.path.join(npm_dir, "node_modules", "mathjax", "package.json")
    if os.path.exists(installed):
        with open(installed) as f:
            if json.load(f)["version"] == pinned:
                return os.path.dirname(installed) + "/es5"
    for name in ("package.json", "package-lock.json"):
        copy_if_changed(os.path.join(BOOK, name), os.path.join(npm_dir, name))
    npm = shutil.which("npm")
    if npm is None:
        raise BookError("npm is not installed: it fetches MathJax (book/package.json) once")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=npm_dir,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BookError(f"npm ci (MathJax {pinned}) failed:\n{done.stdout}{done.stderr}")
    return os.path.dirname(installed) + "/es5"


def stage(src, executed, mathjax_es5, fast):
    """Fills the Jupyter Book source folder ``src``; returns the files that changed
    (relative to ``src``; MathJax's, copied once, are not listed)."""
    changed = []
    for folder, subfolders, files in os.walk(BOOK):
        subfolders[:] = [d for d in subfolders if d not in NOT_STAGED and d != "__pycache__"]
        for name in files:
            if folder == BOOK and name in NOT_STAGED:
                continue
            source = os.path.join(folder, name)
            relative = os.path.relpath(source, BOOK)
            if copy_if_changed(source, os.path.join(src, relative)):
                changed.append(relative)
    for path, executed_copy, _, _ in executed:
        name = os.path.basename(path)
        if stage_chapter(path, executed_copy, os.path.join(src, "chapters", name), fast):
            changed.append(os.path.join("chapters", name))
        if copy_if_changed(path, os.path.join(src, "downloads", "notebooks", name)):
            changed.append(os.path.join("downloads", "notebooks", name))
    for path in glob.glob(os.path.join(ROOT, "exercises", "*.ipynb")):
        relative = os.path.join("exercises", os.path.basename(path))
        if copy_if_changed(path, os.path.join(src, relative)):
            changed.append(relative)
    matrix = MATRIX_FRESH if os.path.exists(MATRIX_FRESH) else MATRIX_COMMITTED
    if copy_if_changed(matrix, os.path.join(src, "chapter_matrix.md")):
        changed.append("chapter_matrix.md")
    for part in MATHJAX_PARTS:
        source = os.path.join(mathjax_es5, part)
        sources = (
            [source]
            if os.path.isfile(source)
            else [
                os.path.join(folder, name) for folder, _, files in os.walk(source) for name in files
            ]
        )
        for one in sources:
            copy_if_changed(
                one, os.path.join(src, "_static", "mathjax", os.path.relpath(one, mathjax_es5))
            )
    return changed


def read_known_warnings(path=KNOWN_WARNINGS):
    """``[(compiled pattern, reason)]`` from ``book/known_warnings.txt``.

    Each entry is a line ``PATTERN  # reason``: a regular expression matched
    against the warning's text, and why the warning is accepted. Blank lines
    and lines starting with ``#`` are comments.

    Raises:
        BookError: for an entry without a reason.
    """
    entries = []
    if not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, _, reason = line.partition("  # ")
            if not reason.strip():
                raise BookError(f"{path}:{number}: a known warning needs a reason after '  # '")
            entries.append((re.compile(pattern.strip()), reason.strip()))
    return entries


def sphinx_warnings(log_text):
    """The lines of a Sphinx log that hold a warning or an error."""
    warnings = []
    for line in log_text.splitlines():
        if re.search(r"\bWARNING\b|\bERROR\b", line):
            warnings.append(line.strip())
    return warnings


def unexplained(warnings, known):
    """The warnings that no entry of ``known`` explains."""
    return [w for w in warnings if not any(pattern.search(w) for pattern, _ in known)]


def run_jupyter_book(src, output, log_path):
    """``jupyter-book build`` of ``src`` into ``output``; returns the log text."""
    executable = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    if not os.path.exists(executable):
        raise BookError("jupyter-book is not installed: pip install -e '.[book]'")
    # The API pages import kcv, hence the backend: TensorFlow's C++ start-up
    # messages (e.g. "oneDNN custom operations are on") are not Sphinx's.
    env = {**environment.settings(), **os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    done = subprocess.run(
        [executable, "build", src, "--path-output", output, "--builder", "html"],
        capture_output=True,
        text=True,
        env=env,
    )
    text = done.stdout + done.stderr
    with open(log_path, "w", encoding="utf-8") as f:
        f.write(text)
    if done.returncode:
        raise BookError(f"jupyter-book build failed (log: {log_path}):\n{text[-4000:]}")
    return text


def build(backend, fast=False, output=None, timeout=900, log=print):
    """Builds the book; returns a dict with ``index``, ``warnings``, ``times``.

    Raises:
        BookError: when a chapter fails, a tool is missing, Sphinx fails,
            Sphinx warns in a way ``book/known_warnings.txt`` does not
            explain, or an internal link does not resolve.
    """
    output = output or os.path.join(ROOT, "build", "book-fast" if fast else "book")
    src = os.path.join(output, "src")
    times = {}
    start = time.monotonic()
    mode = "FAST" if fast else "full"
    log(
        f"Executing the chapters under {backend} ({mode} mode, cache {os.path.relpath(CACHE, ROOT)}):"
    )
    paths = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    executed = execute_chapters_cached(paths, backend, fast, timeout, log=log)
    times["execute"] = time.monotonic() - start

    start = time.monotonic()
    changed = stage(src, executed, install_mathjax(os.path.join(ROOT, "build")), fast)
    times["stage"] = time.monotonic() - start
    log(f"Staged {os.path.relpath(src, ROOT)}/ ({len(changed)} file(s) changed)")

    start = time.monotonic()
    log_path = os.path.join(output, "build.log")
    text = run_jupyter_book(src, output, log_path)
    times["html"] = time.monotonic() - start
    warnings = sphinx_warnings(text)
    left = unexplained(warnings, read_known_warnings())
    for warning in warnings:
        log(("  unexplained " if warning in left else "  known ") + warning)
    if left:
        raise BookError(
            f"{len(left)} Sphinx warning(s) not explained in book/known_warnings.txt "
            f"(log: {log_path})"
        )
    index = os.path.join(output, "_build", "html", "index.html")
    links = check_links.check_links(os.path.dirname(index))
    log(
        f"Links: {len(links.pages)} pages, {links.internal} internal references, "
        f"{len(links.external)} external addresses (not fetched)"
    )
    if links.broken:
        raise BookError(
            f"{len(links.broken)} broken internal link(s):\n"
            + "\n".join(f"  {link}" for link in links.broken)
        )
    return {"index": index, "warnings": warnings, "times": times, "executed": executed}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="build from the chapters' FAST mode")
    parser.add_argument("--output", help="default: build/book (build/book-fast with --fast)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    start = time.monotonic()
    try:
        result = build(backend, fast=args.fast, output=args.output, timeout=args.timeout)
    except BookError as failure:
        print(f"Book build failed: {failure}", file=sys.stderr)
        return 1
    times = ", ".join(f"{step} {seconds:.0f}s" for step, seconds in result["times"].items())
    print(
        f"Book built in {time.monotonic() - start:.0f}s ({times}); "
        f"{len(result['warnings'])} known Sphinx warning(s)."
    )
    print(f"Open {result['index']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
