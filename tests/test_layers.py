"""The package's layers, lowest first: a module imports only from its own layer or lower ones.

Every import of every module under src/vaegan counts, those inside functions too: a lazy import is
still a dependency. A module no layer names is an error, so a new module gets a place on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundations",
        ("vaegan.errors", "vaegan.progress", "vaegan.latent", "vaegan.plots", "vaegan.cpu", "vaegan.paths"),
    ),
    ("configuration", ("vaegan.config", "vaegan.presets", "vaegan.limits")),
    (
        "data and pure tensor ops",
        ("vaegan.data", "vaegan.ssim", "vaegan.augment", "vaegan.viz", "vaegan.tensorboard", "vaegan.attributes"),
    ),
    ("losses", ("vaegan.losses",)),
    ("models", ("vaegan.models",)),
    ("metrics and checkpoints", ("vaegan.metrics", "vaegan.checkpoint", "vaegan.pretrained")),
    ("run readers", ("vaegan.runs", "vaegan.flow_prior", "vaegan.prior", "vaegan.pictures", "vaegan.settings")),
    ("training", ("vaegan.training",)),
    (
        "jobs",
        (
            "vaegan.pipeline",
            "vaegan.report",
            "vaegan.evaluate",
            "vaegan.loss_experiment",
            "vaegan.export",
            "vaegan.card",
            "vaegan.hub",
            "vaegan.lookalikes",
        ),
    ),
    # the package itself exports the Python API (vaegan.train, vaegan.load), so it stands on top
    ("interfaces", ("vaegan", "vaegan.api", "vaegan.cli", "vaegan.explorer", "vaegan.__main__")),
]
# Imports allowed across the order until the merge that removes them: (importer, imported).
PENDING: set[tuple[str, str]] = set()


def layer_of(module: str) -> int | None:
    """The index of the layer whose longest prefix names `module`; "vaegan" names the package alone."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "vaegan" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return None if best is None else best[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every vaegan import in the file; `from vaegan.x import y` names vaegan.x.y when
    that is a module, so importing a submodule through its package counts against the submodule."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "vaegan"]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; vaegan imports by absolute name"
            if node.module and node.module.split(".")[0] == "vaegan":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    is_module = (SRC / sub.replace(".", "/")).with_suffix(".py").is_file() or (
                        SRC / sub.replace(".", "/") / "__init__.py"
                    ).is_file()
                    found.append((node.lineno, sub if is_module else node.module))
    return found


def violations() -> list[str]:
    problems = []
    for path in sorted((SRC / "vaegan").rglob("*.py")):
        importer = module_name(path)
        own = layer_of(importer)
        if own is None:
            problems.append(f"{importer} is in no layer: add it to LAYERS in tests/test_layers.py")
            continue
        for line, imported in imports_of(path):
            theirs = layer_of(imported)
            if theirs is None:
                problems.append(f"{importer} imports {imported}, which is in no layer")
            elif theirs > own and (importer, imported) not in PENDING:
                problems.append(
                    f"{path.relative_to(SRC.parent)}:{line}: {importer} ({LAYERS[own][0]}) imports {imported} "
                    f"({LAYERS[theirs][0]}), a higher layer"
                )
    return problems


def test_no_module_imports_from_a_higher_layer() -> None:
    problems = violations()
    assert not problems, "\n".join(problems)


def test_every_pending_exception_is_still_needed() -> None:
    """An exception whose import is gone must leave PENDING, or it would excuse the next one."""
    used = {
        (module_name(path), imported) for path in (SRC / "vaegan").rglob("*.py") for _, imported in imports_of(path)
    }
    assert PENDING <= used, f"no longer imported, remove from PENDING: {sorted(PENDING - used)}"


@pytest.mark.parametrize(
    "importer, imported, upward",
    [
        ("vaegan.losses", "vaegan.metrics.ssim", True),
        ("vaegan.metrics.features", "vaegan.training.placement", True),
        ("vaegan.cli.gan", "vaegan.pipeline", False),
        ("vaegan.__main__", "vaegan.cli", False),
        ("vaegan.training.loop", "vaegan.runs", False),
    ],
)
def test_layer_of_orders_the_imports_named_in_issue_46(importer: str, imported: str, upward: bool) -> None:
    """The check would catch the two upward imports the metrics package once had, and passes real ones."""
    own, theirs = layer_of(importer), layer_of(imported)
    assert own is not None and theirs is not None
    assert (theirs > own) is upward


def import_graph() -> dict[str, set[str]]:
    """Module -> the vaegan modules it imports (lazy ones too), packages standing for their __init__."""
    modules = {module_name(path): path for path in (SRC / "vaegan").rglob("*.py")}
    return {name: {m for _, m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk, each as the modules around it."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    return found


def test_no_import_cycle() -> None:
    """Within a layer imports may go either way, but never round in a circle (loop.py <-> pace.py once did)."""
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def oversized(limit_function: int = 60, limit_class: int = 120) -> list[str]:
    """Functions over `limit_function` lines and classes over `limit_class` in src/vaegan (docstrings included)."""
    found = []
    for path in sorted((SRC / "vaegan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            limit = limit_class if isinstance(node, ast.ClassDef) else limit_function
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name}: {lines} lines")
    return found


def test_no_function_over_60_lines_and_no_class_over_120() -> None:
    """A reader follows a function on one screen (issue 60: the loop written out, not a 150-line class)."""
    assert oversized() == []
