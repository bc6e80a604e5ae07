"""The package layout rules, checked on the source: no import cycle among the modules of eas/,
storage/ and server/ (counting imports inside functions too), and storage/ does not use the WBXML
codec (the protocol hands storage bytes, storage never encodes or decodes them)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"eas": "easlab.eas", "storage": "easlab.storage", "server": "easlab.server"}

# storage/ modules allowed to import easlab.eas.wbxml: none (Sync hands storage the encoded replay bytes).
STORAGE_WBXML_ALLOWED: set[str] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for folder, dotted in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([dotted, *parts])] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _walk(tree: ast.AST):
    """Every node that runs: the bodies of `if TYPE_CHECKING:` are read by type checkers only (the
    ports name the commands' request records there), so they are no import at run time."""
    for child in ast.iter_child_nodes(tree):
        if _type_checking(child):
            yield from (n for other in child.orelse for n in [other, *_walk(other)])
            continue
        yield child
        yield from _walk(child)


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its body, at run time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_function_level_and_relative_imports():
    graph = _graph()
    assert "easlab.eas.versions" in graph["easlab.eas.status"]  # `from . import versions`
    assert "easlab.eas.body" in graph["easlab.eas.pim.tree"]  # `from ..body import ...`
    assert "easlab.eas.request" in graph["easlab.server.store.access"]  # inside a function


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_eas_imports_neither_server_nor_storage():
    graph = _graph()
    offenders = {m: sorted(t for t in targets if not t.startswith("easlab.eas"))
                 for m, targets in graph.items() if m.startswith("easlab.eas")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_storage_does_not_import_the_wbxml_codec():
    graph = _graph()
    offenders = {m for m, targets in graph.items()
                 if m.startswith("easlab.storage") and any(t.startswith("easlab.eas.wbxml") for t in targets)}
    assert offenders == STORAGE_WBXML_ALLOWED


# The brief's size rules for the product's code: modules under 500 lines, functions under 80.
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 80
# Generated from a digest of MS-ASWBXML (tools/gen_codepages.py): a table, not code anyone reads whole.
SIZE_EXEMPT = {Path("eas/wbxml/codepages.py")}
SIZED = ("eas", "storage", "server", "testing")


def _oversized(root: Path) -> list[str]:
    found = []
    for folder in SIZED:
        for path in sorted((root / folder).rglob("*.py")):
            if path.relative_to(root) in SIZE_EXEMPT:
                continue
            source = path.read_text()
            if source.count("\n") >= MAX_MODULE_LINES:
                found.append(f"{path.relative_to(root)}: {source.count(chr(10))} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                    if length >= MAX_FUNCTION_LINES:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {length} lines")
    return found


def test_the_size_check_sees_a_long_function(tmp_path):
    (tmp_path / "eas").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "eas" / "long.py").write_text(f"def long():\n{body}")
    assert _oversized(tmp_path) == [f"eas/long.py:1 long: {MAX_FUNCTION_LINES + 1} lines"]


def test_modules_and_functions_stay_under_the_size_rules():
    assert _oversized(ROOT) == []
