"""The house rules, read from the source: wings, a small package root, no import circle, and
engines that never name a command-line flag (they name options with `messages.option`).

Every import counts, at module level, inside a function (lazy) or under `TYPE_CHECKING`: a
circle that only a lazy import keeps from crashing is still a circle in the design.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import srgan_cli

PACKAGE = Path(srgan_cli.__file__).parent
WINGS = {"cli", "media", "upscaling", "evaluation", "models", "training"}
MAX_ROOT_MODULES = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports anywhere (not the implicit parent packages)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("srgan_cli"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found & set(modules)


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_anywhere() -> None:
    assert circles(import_graph()) == []


def test_the_root_is_small_and_the_wings_are_folders() -> None:
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == WINGS


def test_every_wing_says_what_it_holds() -> None:
    for wing in WINGS:
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text()))
        assert doc and len(doc) > 20, wing


def test_the_descriptor_does_not_import_its_torch_side() -> None:
    """`torch_impl` builds on `descriptor`; the torch-free descriptor never imports it back."""
    graph = import_graph()
    assert "srgan_cli.models.descriptor" in graph["srgan_cli.models.torch_impl"]
    assert "srgan_cli.models.torch_impl" not in graph["srgan_cli.models.descriptor"]


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
# The command line names its own flags; `messages` holds the table of flags that differ from
# their option's Python name (`messages.flag`).
FLAG_OWNERS = (PACKAGE / "cli", PACKAGE / "messages.py")


def flags_named_in(source: str) -> list[str]:
    """Every `--flag` written in a string of `source`, docstrings left out ("line: --flag")."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                docstrings.add(id(doc.value))
    return [f"{node.lineno}: {m.group()}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings for m in FLAG.finditer(node.value)]


def test_the_flag_finder_skips_docstrings_only() -> None:
    source = '''"""Module: --doc."""
def f(x):
    """Takes --doc too."""
    raise ValueError(f"--tile must be >= 0, got {x}; see --tile-pad; not x--y or a--b")
'''
    assert flags_named_in(source) == ["4: --tile", "4: --tile-pad"]


def test_engines_never_name_a_flag() -> None:
    """Outside the command line, messages name options by `messages.option("tile_pad")`: the
    Python API shows `tile_pad`, the command line `--tile-pad`."""
    found = [f"{path.relative_to(PACKAGE.parent)}:{where}"
             for path in sorted(PACKAGE.rglob("*.py"))
             if not any(path.is_relative_to(owner) for owner in FLAG_OWNERS)
             for where in flags_named_in(path.read_text(encoding="utf-8"))]
    assert found == []
