"""Grading throughput: ``kcv grade FOLDER --jobs N`` on generated submissions.

    python benchmarks/grading.py [--submissions 50] [--jobs 1,2]
                                 [--exercise squeeze_excite] [--backends jax,tensorflow,torch]

Generates a class's worth of submissions for one exercise, half of them the
reference solution (``exercises/solutions/``) and half the wrong ones of the
grader's corpus (``tests/grading_corpus/wrong/``) in turn, each with a
comment of its own so that no two files are equal. Then grades the folder
with the real command line, once per ``--jobs`` value, and reports
submissions per minute, the seconds per backend process, and a check that
the scores are what the files deserve (every solution full marks, every
wrong file less). Results go to ``benchmarks/results/grading_<device>.{csv,md}``.

Every submission runs in one isolated process per backend (a fresh Python
that imports Keras and the backend), so the throughput is bounded by
process start-up and import time, which ``--jobs`` spreads over the cores.
"""

import argparse
import csv
import glob
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Which corpus files belong to which exercise: their docstring says so.
CORPUS = ROOT / "tests" / "grading_corpus" / "wrong"


def wrong_submissions(exercise):
    """The corpus files written as wrong answers to ``exercise``."""
    paths = []
    for path in sorted(glob.glob(str(CORPUS / "*.py"))):
        with open(path) as f:
            if f"exercise: {exercise}\n" in f.read(2000):
                paths.append(path)
    return paths


def generate(folder, exercise, count):
    """Writes ``count`` submissions into ``folder``; returns {file name: expected full marks}."""
    solution = ROOT / "exercises" / "solutions" / f"{exercise}.py"
    wrong = wrong_submissions(exercise)
    if not solution.exists():
        raise ValueError(f"exercise must have a solution in exercises/solutions/, got {exercise!r}")
    if not wrong:
        raise ValueError(f"exercise must have wrong answers in {CORPUS}, got {exercise!r}")
    expected = {}
    for index in range(count):
        correct = index % 2 == 0
        source = solution if correct else Path(wrong[(index // 2) % len(wrong)])
        name = f"learner_{index:03d}.py"
        text = f"# submission {index} of the grading benchmark\n" + source.read_text()
        (Path(folder) / name).write_text(text)
        expected[name] = correct
    return expected


def grade(folder, exercise, jobs, backends):
    """Runs ``kcv grade`` on the folder; returns (seconds, CSV rows)."""
    command = [
        sys.executable,
        "-m",
        "kcv",
        "grade",
        str(folder),
        "--exercise",
        exercise,
        "--jobs",
        str(jobs),
        "--format",
        "text",
    ]
    if backends:
        command += ["--backends", backends]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - start
    if done.returncode:
        raise RuntimeError(f"kcv grade failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, list(csv.DictReader(io.StringIO(done.stdout)))


def check_scores(rows, expected):
    """The files whose score is not what they deserve (full marks iff a solution)."""
    wrong = []
    for row in rows:
        name = os.path.basename(row["submission"])
        full = float(row["score"]) == float(row["max_score"])
        if full != expected[name]:
            wrong.append(f"{name}: {row['score']}/{row['max_score']}")
    missing = set(expected) - {os.path.basename(r["submission"]) for r in rows}
    return wrong + [f"{name}: not graded" for name in sorted(missing)]


def write_results(rows, args, info):
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "grading_cpu.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = [
        "| --jobs | backends | submissions | wall s | submissions / minute | s per backend process | scores as expected |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['jobs']} | {r['backends']} | {r['submissions']} | {r['seconds']:.0f} | "
            f"{r['per_minute']:.1f} | {r['seconds_per_process']:.2f} | {r['scores_ok']} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    text = f"""# Grading throughput: `kcv grade FOLDER --jobs N`

{args.submissions} generated submissions to `{args.exercise}`: half the reference
solution, half the wrong answers of `tests/grading_corpus/wrong/` in turn.
Each is graded on every backend listed, each backend in an isolated process
of its own; see `benchmarks/grading.py`.

- Machine: {info["cpu"]}, {info["cores"]} cores
- Load average (1, 5, 15 min): {info["load_before"]} before, {info["load_after"]} after
- Versions: {versions}
- Date: {info["date"]}
- Command: `python benchmarks/grading.py {" ".join(sys.argv[1:])}`

{chr(10).join(table)}

s per backend process: wall time × jobs / (submissions × backends), the
cost of one isolated grading process (start, import, checks). Scores as
expected: every solution got full marks and every wrong answer less.
"""
    (RESULTS / "grading_cpu.md").write_text(text)
    return RESULTS / "grading_cpu.md"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time")
    parser.add_argument("--exercise", default="squeeze_excite")
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    args = parser.parse_args(argv)
    if args.submissions < 1:
        raise SystemExit(f"--submissions must be >= 1, got {args.submissions}")
    info = harness.machine()
    info["load_before"] = harness.load_average()
    rows = []
    folder = tempfile.mkdtemp(prefix="kcv-grading-bench-")
    try:
        expected = generate(folder, args.exercise, args.submissions)
        backends = args.backends.split(",")
        for jobs in (int(j) for j in args.jobs.split(",")):
            seconds, graded = grade(folder, args.exercise, jobs, args.backends)
            problems = check_scores(graded, expected)
            rows.append(
                {
                    "jobs": jobs,
                    "backends": args.backends,
                    "submissions": args.submissions,
                    "seconds": round(seconds, 1),
                    "per_minute": round(60 * args.submissions / seconds, 2),
                    "seconds_per_process": round(
                        seconds * jobs / (args.submissions * len(backends)), 2
                    ),
                    "scores_ok": "yes" if not problems else "; ".join(problems)[:300],
                }
            )
            print(
                f"--jobs {jobs}: {args.submissions} submissions in {seconds:.0f}s "
                f"({rows[-1]['per_minute']:.1f}/min); scores {rows[-1]['scores_ok']}",
                flush=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    info["load_after"] = harness.load_average()
    path = write_results(rows, args, info)
    print(path.read_text())
    return 0 if all(r["scores_ok"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
