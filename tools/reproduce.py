"""Runs the chapters' full-mode experiments and records what they measured in results/.

    python tools/reproduce.py [CHAPTER ...] [--seeds N] [--backend B] [--timeout S]

CHAPTER is a notebook stem or its number (``13`` or ``13_training_recipe``);
without one, every chapter that records (its ``parameters`` cell defines
``RECORD``). Each chapter runs in a fresh kernel under ``KERAS_BACKEND=B``
(default jax, the chapters' default) with ``FAST = False``, ``SEEDS = N`` and
``RECORD`` set to a temporary file, where the chapter saves each of its
comparisons (``kcv.experiments.Comparison.save``). Only when the chapter ran
to the end does the record replace ``results/<stem>.json``, and
``results/<stem>.md`` is written beside it: per comparison, the table of
every arm and each arm's paired difference from the first arm (the baseline)
on every metric, with the outcome in words. The executed notebook goes to
``build/reproduce/<backend>/``.

The records carry the seeds, every run's metrics and time, the versions, the
machine and the date; commit them, and the chapters show them next to their
live run. The chapters keep JAX's compiled programs
(``kcv.environment.configure``), so on JAX a run's time includes compiling
only where no earlier run, of this chapter or of an earlier process,
compiled the same programs: a first seed's runs are the slower ones.
"""

import argparse
import glob
import os
import sys
import time

import nbformat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import execute_chapters

ROOT = execute_chapters.ROOT
RESULTS = os.path.join(ROOT, "results")


def records(path):
    """True when the chapter at ``path`` has a ``RECORD`` parameter."""
    notebook = nbformat.read(path, as_version=4)
    return any(
        "parameters" in cell.get("metadata", {}).get("tags", []) and "RECORD" in cell.source
        for cell in notebook.cells
    )


def find(chapters):
    """The notebook paths of ``chapters`` (stems or numbers); all recording chapters if empty."""
    paths = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    if not chapters:
        return [p for p in paths if records(p)]
    found = []
    for chapter in chapters:
        stem = os.path.splitext(os.path.basename(chapter))[0]
        matches = [p for p in paths if os.path.basename(p).split("_")[0] == stem]
        matches = matches or [p for p in paths if os.path.basename(p)[:-6] == stem]
        if len(matches) != 1:
            raise SystemExit(f"reproduce: no single chapter matches {chapter!r}")
        if not records(matches[0]):
            raise SystemExit(f"reproduce: {chapter!r} records nothing (no RECORD parameter)")
        found.append(matches[0])
    return found


def markdown(path):
    """The Markdown summary of the record at ``path``: tables and outcomes, baseline = first arm."""
    from kcv import experiments

    comparisons = experiments.load(path)
    lines = [f"# Recorded results: {os.path.splitext(os.path.basename(path))[0]}", ""]
    for comparison in comparisons.values():
        info = comparison.info
        lines += [
            f"## {comparison.name}",
            "",
            f"{info.get('backend')} backend, {info.get('machine', {}).get('processor')}, "
            f"{info.get('machine', {}).get('cpus')} CPUs, {info.get('date')}; "
            f"parameters {info.get('parameters')}",
            "",
            comparison.table(),
            "",
        ]
        baseline = comparison.arms[0]
        first = comparison.metrics[baseline]
        for arm in comparison.arms[1:]:
            for metric in sorted(m for m in first if not isinstance(first[m][0], list)):
                lines.append(f"- {comparison.outcome(metric, arm, baseline)}")
        lines.append("")
    return "\n".join(lines)


def reproduce(path, seeds, timeout):
    """Runs one chapter in full mode and replaces its record; returns an error text or None."""
    stem = os.path.splitext(os.path.basename(path))[0]
    backend = os.environ["KERAS_BACKEND"]
    os.makedirs(RESULTS, exist_ok=True)
    target = os.path.join(RESULTS, f"{stem}.json")
    partial = os.path.join(RESULTS, f".{stem}.running.json")
    if os.path.exists(partial):
        os.remove(partial)
    parameters = f"SEEDS = {int(seeds)}\nRECORD = {partial!r}"
    output_dir = os.path.join(ROOT, "build", "reproduce", backend)
    error, _ = execute_chapters.execute(path, output_dir, timeout, parameters=parameters)
    if error is None and not os.path.exists(partial):
        error = f"{stem} ran but saved no comparison to RECORD"
    if error is not None:
        if os.path.exists(partial):
            os.remove(partial)
        return error
    os.replace(partial, target)
    with open(os.path.join(RESULTS, f"{stem}.md"), "w", encoding="utf-8") as f:
        f.write(markdown(target))
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "chapters", nargs="*", help="stems or numbers; default: every recording one"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    parser.add_argument("--backend", default="jax", choices=("jax", "tensorflow", "torch"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2: one seed has no spread")
    os.environ["KERAS_BACKEND"] = args.backend  # the kernels inherit it
    failures = 0
    for path in find(args.chapters):
        start = time.monotonic()
        error = reproduce(path, args.seeds, args.timeout)
        status = "recorded" if error is None else "FAILED"
        name = os.path.basename(path)
        print(
            f"{name}  [{args.backend}, {args.seeds} seeds]  {status}  {time.monotonic() - start:.0f}s"
        )
        if error:
            failures += 1
            print(error[-3000:], file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
