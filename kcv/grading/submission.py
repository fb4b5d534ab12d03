"""Reading submissions: notebooks, Python files and folders of them.

A notebook contributes the code of its cells tagged ``solution``; a notebook
without such tags contributes all its code cells except those that import
``kcv.grading`` (the public ``check()`` cells, which cannot run where
submissions run). IPython magics (``%...``, ``!...``) are commented out,
line numbers kept. Notebooks are read as JSON: the grader needs no Jupyter
package.

:func:`static_problems` then reads the code without running it: a syntax
error, and any use of kcv (the reference implementations) or of dynamic
imports, ``exec`` and ``eval``, which would hide such a use, score 0 before a
process starts. It is a first line only: a submission can build the names it
imports at run time; the runner then refuses ``import kcv`` and the probe
reports kcv classes a layer derives from or holds.

Example:

>>> sub = load_submission("exercises/solutions/squeeze_excite.py")
>>> sub.notes, static_problems(sub, "squeeze_excite")
([], [])
"""

import ast
import dataclasses
import json
import os

from kcv.grading import exercises

MAX_BYTES = 1 << 20
SOLUTION_TAG = "solution"
SUFFIXES = (".py", ".ipynb")


@dataclasses.dataclass(frozen=True)
class Submission:
    """The code of one submission.

    Args:
        path: str. Where it was read from.
        source: str. The Python code to grade.
        notes: list of str. How it was read (shown in reports).
        problems: list of str. Why it cannot be graded (unreadable, too large).
    """

    path: str
    source: str
    notes: list = dataclasses.field(default_factory=list)
    problems: list = dataclasses.field(default_factory=list)


def cell_source(cell):
    """A notebook cell's code as Python: IPython magics and shell lines (``%``, ``!``) commented out.

    Example:

    >>> cell_source({"source": ["%matplotlib inline"]})
    '# %matplotlib inline'
    """
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    lines = [
        "# " + line if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    ]
    return "\n".join(lines)


def names(source):
    """``(defined, used)``: the names a cell binds at top level and the names it reads."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                defined.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, used


def _ignored_notes(cells, chosen, is_check):
    """Notes on the code cells left out: what each defines, and what the graded code misses."""
    numbers = {id(c): i + 1 for i, c in enumerate(cells)}
    left_out = [c for c in cells if all(c is not k for k in chosen) and not is_check(c)]
    if not left_out:
        return []
    graded_defined, graded_used = set(), set()
    for cell in chosen:
        defined, used = names(cell_source(cell))
        graded_defined |= defined
        graded_used |= used
    described, notes = [], []
    for cell in left_out:
        defined, _ = names(cell_source(cell))
        shown = ", ".join(sorted(defined)[:6]) + (", ..." if len(defined) > 6 else "")
        described.append(f"In[{numbers[id(cell)]}]" + (f" (defines {shown})" if defined else ""))
        missing = sorted((defined & graded_used) - graded_defined)
        if missing:
            notes.append(
                f"the graded cells use {', '.join(missing)}, defined only in the untagged "
                f"In[{numbers[id(cell)]}]: tag that cell '{SOLUTION_TAG}' too, or the grader "
                "will not see it (NameError)"
            )
    return [f"{len(left_out)} other code cell(s) ignored: {'; '.join(described)}", *notes]


def notebook_source(data):
    """The code to grade from a notebook's JSON; returns ``(source, notes)``.

    Args:
        data: dict, the parsed ``.ipynb``.

    Returns:
        ``(source, notes)``: the cells' code joined with ``# In[n]`` markers,
        and notes saying which cells were taken, which other code cells were
        ignored and what they define, and which names the graded cells use
        that only an ignored cell defines.
    """
    cells = [c for c in data.get("cells", []) if c.get("cell_type") == "code"]
    tagged = [c for c in cells if SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]

    def is_check(cell):
        return "kcv.grading" in cell_source(cell)

    if tagged:
        chosen, note = tagged, f"{len(tagged)} cell(s) tagged '{SOLUTION_TAG}'"
    else:
        chosen = [c for c in cells if not is_check(c)]
        note = f"no cell is tagged '{SOLUTION_TAG}': graded all {len(chosen)} code cell(s)" + (
            f", leaving out {len(cells) - len(chosen)} check() cell(s)"
            if len(chosen) < len(cells)
            else ""
        )
    parts = [f"# In[{cells.index(c) + 1}]\n{cell_source(c)}\n" for c in chosen]
    return "\n".join(parts), [note, *_ignored_notes(cells, chosen, is_check)]


def load_submission(path):
    """Reads one ``.py`` or ``.ipynb`` submission.

    Args:
        path: str. The file.

    Returns:
        A :class:`Submission` (with ``problems`` when it cannot be graded).

    Raises:
        ValueError: naming ``submission`` when the path is not a .py or
            .ipynb file.

    Example:

    >>> load_submission("exercises/squeeze_excite.ipynb").notes
    ["1 cell(s) tagged 'solution'"]
    """
    if not os.path.isfile(path) or not path.endswith(SUFFIXES):
        raise ValueError(
            f"`submission` must be a .py or .ipynb file or a folder; received {path!r}."
        )
    if os.path.getsize(path) > MAX_BYTES * (8 if path.endswith(".ipynb") else 1):
        return Submission(
            path, "", problems=[f"the submission is larger than {MAX_BYTES >> 10} KiB"]
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.endswith(".ipynb"):
            source, notes = notebook_source(json.loads(text))
        else:
            source, notes = text, []
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, TypeError) as error:
        return Submission(path, "", problems=[f"the submission cannot be read: {error}"])
    if len(source.encode()) > MAX_BYTES:
        return Submission(path, "", notes, [f"the code is larger than {MAX_BYTES >> 10} KiB"])
    return Submission(path, source, notes)


def find_submissions(folder):
    """The ``.py`` and ``.ipynb`` files directly in ``folder``, sorted (batch mode).

    Hidden files and Jupyter checkpoints are skipped.

    Raises:
        ValueError: naming ``submission`` when ``folder`` holds none.
    """
    found = sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.endswith(SUFFIXES)
        and not name.startswith(".")
        and os.path.isfile(os.path.join(folder, name))
    )
    if not found:
        raise ValueError(f"`submission` folder {folder!r} holds no .py or .ipynb file.")
    return found


_DYNAMIC_CALLS = {"__import__", "exec", "eval", "compile"}
_DYNAMIC_MODULES = {"importlib", "imp", "runpy"}


def _module_names(node):
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = "." * node.level + (node.module or "")
        return [base] + [f"{base}.{alias.name}" for alias in node.names]
    return []


def static_problems(submission, exercise):
    """Reasons to score ``submission`` 0 without running it.

    Args:
        submission: :class:`Submission`.
        exercise: exercise name or object.

    Returns:
        A list of messages (empty when the code may run): unreadable or too
        large, a syntax error, an empty submission, imports of kcv, dynamic
        imports (``__import__``, ``importlib``, ``runpy``), ``exec`` /
        ``eval`` / ``compile``, and ``sys.modules`` / ``sys.meta_path``.
    """
    exercise = exercises.get(exercise) if isinstance(exercise, str) else exercise
    if submission.problems:
        return list(submission.problems)
    if not submission.source.strip():
        return ["the submission holds no code"]
    try:
        tree = ast.parse(submission.source)
    except SyntaxError as error:
        return [
            f"the submission does not parse: {error.msg} (line {error.lineno}: "
            f"{(error.text or '').strip()})"
        ]
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        for name in _module_names(node):
            root = name.split(".")[0]
            if root == "kcv":
                found.append(
                    f"line {line} imports {name}: kcv holds the reference "
                    f"implementation of {exercise.class_name}"
                )
                break
            if root in _DYNAMIC_MODULES:
                found.append(f"line {line} imports {name} (dynamic imports are not allowed)")
                break
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _DYNAMIC_CALLS
        ):
            found.append(f"line {line} calls {node.func.id}() (not allowed in submissions)")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("modules", "meta_path")
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"line {line} uses sys.{node.attr} (not allowed in submissions)")
    if found:
        return [
            "the submission must implement the exercise itself, with keras and numpy: "
            + "; ".join(dict.fromkeys(found))
        ]
    return []
