"""The house rules of docs/ARCHITECTURE.md, checked on the source.

Imports go one way, from the bottom of the house to the top (the ranks below
are the table in docs/ARCHITECTURE.md, "Which way imports go"); no module
imports itself back through others; only ``kcv.backend`` imports a backend
framework; nothing in ``kcv`` reaches into Keras' private ``keras.src``.
The imports are read with ``ast`` from the files, so that a lazy import
inside a function counts as much as one at the top.
"""

import ast
import pathlib
import re

import pytest

pytestmark = pytest.mark.backend_independent

KCV = pathlib.Path(__file__).resolve().parent.parent / "kcv"

# A part of kcv may import the parts of lower rank only (and itself).
RANKS = {
    "kcv": 0,  # the package root: a version and lazy sub-packages
    "_validation": 0,
    "environment": 0,
    "backend": 1,
    "config": 1,
    "layers": 2,
    "losses": 2,
    "data": 2,
    "distribute": 2,
    "testing": 2,
    "training": 2,
    "experiments": 2,
    "models": 3,
    "analysis": 4,
    "catalogue": 4,
    "weights": 4,
    "interpret": 5,
    "adaptive": 5,
    "viz": 6,
    "grading": 7,
    "__main__": 8,  # the command line sits on top of everything
}
FRAMEWORKS = ("jax", "jaxlib", "tensorflow", "torch")
# Keras internals: keras.src.* (however it is reached), keras._private names
# (keras.__version__ is public), the private attributes of Keras layers that
# kcv once used, and replacing a method on an object that is not kcv's.
PRIVATE_KERAS = re.compile(
    r"\bkeras\.(src\b|_[a-z])"
    r"|getattr\(keras, \"src\""
    r"|\b_flatten_layers\b|\._inbound_nodes\b|\._keras_history\b|\._tracker\b"
    r"|object\.__setattr__\("
)


def _module_name(path):
    parts = path.relative_to(KCV.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name):
    """The most specific kcv module a dotted name refers to (a module or a package)."""
    parts = name.split(".")
    while parts:
        candidate = KCV.parent.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def _imports(path):
    """``(kcv modules, top-level third-party packages)`` that a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kcv_modules, others = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "kcv":
                resolved = _resolve(name)
                if resolved:
                    kcv_modules.add(resolved)
            else:
                others.add(name.split(".")[0])
    # `from kcv.layers import conv` names both kcv.layers and kcv.layers.conv:
    # the edge goes to the most specific module only.
    specific = {m for m in kcv_modules if not any(o.startswith(m + ".") for o in kcv_modules)}
    return specific, others


def _graph():
    graph = {}
    for path in sorted(KCV.rglob("*.py")):
        graph[_module_name(path)] = _imports(path)
    return graph


def _part(module):
    parts = module.split(".")
    return "kcv" if len(parts) == 1 else parts[1]


def test_every_part_of_kcv_has_a_rank():
    parts = {_part(module) for module in _graph()}
    assert parts <= set(RANKS), f"give {sorted(parts - set(RANKS))} a rank (and document it)"


def test_imports_go_from_lower_to_higher_ranks_only():
    wrong = []
    for module, (imported, _) in _graph().items():
        for target in imported:
            source_part, target_part = _part(module), _part(target)
            if source_part != target_part and RANKS[target_part] >= RANKS[source_part]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against docs/ARCHITECTURE.md:\n" + "\n".join(sorted(wrong))


def test_there_is_no_import_cycle():
    graph = {module: imported for module, (imported, _) in _graph().items()}
    # A package's __init__ may gather its own modules; a module importing its
    # package's __init__ back would close a cycle, and is caught.
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if target == module:
                continue
            if state.get(target) == "open":
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_only_kcv_backend_imports_a_framework():
    wrong = [
        f"{module} imports {sorted(set(others) & set(FRAMEWORKS))}"
        for module, (_, others) in _graph().items()
        if module != "kcv.backend" and set(others) & set(FRAMEWORKS)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_private_keras_in_kcv():
    hits = [
        f"{path.relative_to(KCV.parent)}:{number}"
        for path in KCV.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE_KERAS.search(line)
    ]
    assert not hits, "kcv uses Keras internals at " + ", ".join(hits)


def test_the_rules_catch_a_wrong_import(tmp_path, monkeypatch):
    """The checks above can fail: a layer importing a model is reported."""
    fake = tmp_path / "kcv"
    (fake / "layers").mkdir(parents=True)
    (fake / "models").mkdir()
    for init in (fake, fake / "layers", fake / "models"):
        (init / "__init__.py").write_text("")
    (fake / "layers" / "block.py").write_text("from kcv.models.net import Net\n")
    (fake / "models" / "net.py").write_text("from kcv.layers import block\n")
    monkeypatch.setattr(__import__(__name__), "KCV", fake)
    with pytest.raises(AssertionError, match=r"kcv.layers.block imports kcv.models.net"):
        test_imports_go_from_lower_to_higher_ranks_only()
    with pytest.raises(AssertionError, match="import cycles"):
        test_there_is_no_import_cycle()
