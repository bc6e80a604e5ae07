"""The conformance matrix: Microsoft's server requirements (the MS-AS* test suites' requirement tables,
kept as a TSV in the shared folder), the `req` markers of easlab's tests that prove them, and the
requirements the repository lists as not applicable with a reason.

The markers are read from the test sources (AST), never by running pytest, so `easlab conformance`
answers in a second and CI can check the matrix after the tests without a second session.
"""
from __future__ import annotations

import ast
import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

# MS-ASCMD_R3128: the document's short name, then the requirement's number in its table.
REQ_ID = re.compile(r"^MS-AS[A-Z]+_R\d+$")
TSV_NAME = Path("spec") / "ms-as-requirements" / "server-requirements.tsv"
NOT_APPLICABLE = Path("docs") / "conformance" / "not-applicable.tsv"
README_BEGIN = "<!-- conformance:begin -->"
README_END = "<!-- conformance:end -->"


@dataclass(frozen=True)
class Requirement:
    protocol: str
    req_id: str
    section: str
    scope: str
    description: str


@dataclass(frozen=True)
class Mark:
    """One ID named by a `req` marker: where, so an error can point at it."""
    req_id: str
    path: str
    line: int
    owner: str  # the test function or class the marker decorates, or "pytestmark"


@dataclass
class Matrix:
    requirements: dict[str, Requirement]
    marks: list[Mark]
    not_applicable: dict[str, str]  # req_id -> reason
    problems: list[str] = field(default_factory=list)

    @cached_property
    def covered(self) -> set[str]:
        return {m.req_id for m in self.marks if m.req_id in self.requirements}

    def state(self, req_id: str) -> str:
        if req_id in self.covered:
            return "covered"
        return "not applicable" if req_id in self.not_applicable else "open"

    def rows(self) -> list[tuple[str, int, int, int, int]]:
        """(protocol, total, covered, not applicable, open) per protocol, sorted by name."""
        covered, out = self.covered, []
        for protocol in sorted({r.protocol for r in self.requirements.values()}):
            ids = [i for i, r in self.requirements.items() if r.protocol == protocol]
            c = sum(i in covered for i in ids)
            na = sum(i in self.not_applicable and i not in covered for i in ids)
            out.append((protocol, len(ids), c, na, len(ids) - c - na))
        return out

    def open(self, protocol: str) -> list[Requirement]:
        return [r for i, r in self.requirements.items() if r.protocol == protocol and self.state(i) == "open"]


def shared_dir(repo: Path) -> Path:
    """The team's shared folder: EASLAB_SHARED, else the sibling of the clone (as on CI)."""
    override = os.environ.get("EASLAB_SHARED")
    return Path(override) if override else repo.resolve().parent / "shared"


def requirements_path(repo: Path) -> Path:
    return shared_dir(repo) / TSV_NAME


def load_requirements(path: Path) -> dict[str, Requirement]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t")  # quoted as csv quotes: "a ""b"" c"
        return {row["req_id"]: Requirement(row["protocol"], row["req_id"], row["section"], row["scope"],
                                           row["description"]) for row in rows}


def load_not_applicable(path: Path) -> tuple[dict[str, str], list[str]]:
    """req_id -> reason from the repository's file (`req_id<TAB>reason`, `#` comments); and problems."""
    out: dict[str, str] = {}
    problems: list[str] = []
    if not path.exists():
        return out, problems
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line == "req_id\treason":
            continue
        req_id, _, reason = (part.strip() for part in line.partition("\t"))
        if not reason:
            problems.append(f"{path.name}:{number}: {req_id} has no reason")
        if req_id in out:
            problems.append(f"{path.name}:{number}: {req_id} is listed twice")
        out[req_id] = reason
    return out, problems


def _is_req(func: ast.expr) -> bool:
    # pytest.mark.req(...) or mark.req(...) after `from pytest import mark`
    return (isinstance(func, ast.Attribute) and func.attr == "req" and isinstance(func.value, ast.Attribute)
            and func.value.attr == "mark") or (
        isinstance(func, ast.Attribute) and func.attr == "req"
        and isinstance(func.value, ast.Name) and func.value.id == "mark")


def _owners(tree: ast.Module) -> dict[int, str]:
    """id() of each marker call -> the name of the function or class it decorates."""
    owners: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                for decorator in child.decorator_list:
                    for sub in ast.walk(decorator):
                        owners[id(sub)] = name
                visit(child, f"{name}::")
            else:
                visit(child, prefix)

    visit(tree, "")
    return owners


def scan_file(path: Path, relative: str) -> tuple[list[Mark], list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    owners = _owners(tree)
    marks: list[Mark] = []
    problems: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_req(node.func)):
            continue
        owner = owners.get(id(node), "pytestmark")
        where = f"{relative}:{node.lineno} ({owner})"
        if not node.args:
            problems.append(f"{where}: req marker without an ID")
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                marks.append(Mark(arg.value, relative, node.lineno, owner))
            else:
                problems.append(f"{where}: req marker argument is not a string literal")
    return marks, problems


def scan_tests(tests: Path) -> tuple[list[Mark], list[str]]:
    marks: list[Mark] = []
    problems: list[str] = []
    root = tests.parent
    for path in sorted(tests.rglob("*.py")):
        found, wrong = scan_file(path, path.relative_to(root).as_posix())
        marks += found
        problems += wrong
    return marks, problems


def unknown_ids(ids: Iterable[str], requirements: dict[str, Requirement]) -> list[tuple[str, str]]:
    """(id, why) for each ID that is malformed or not in the requirements table."""
    out = []
    for req_id in ids:
        if not isinstance(req_id, str) or not REQ_ID.match(req_id):
            out.append((req_id, "malformed (expected e.g. MS-ASCMD_R3128)"))
        elif req_id not in requirements:
            out.append((req_id, "not in the server requirements table"))
    return out


def build(repo: Path, requirements: Path | None = None) -> Matrix:
    reqs = load_requirements(requirements or requirements_path(repo))
    marks, problems = scan_tests(repo / "tests")
    na, na_problems = load_not_applicable(repo / NOT_APPLICABLE)
    matrix = Matrix(reqs, marks, na, problems + na_problems)
    for mark in marks:
        for req_id, why in unknown_ids([mark.req_id], reqs):
            matrix.problems.append(f"{mark.path}:{mark.line} ({mark.owner}): {req_id!r} is {why}")
    for req_id, why in unknown_ids(na, reqs):
        matrix.problems.append(f"{NOT_APPLICABLE.as_posix()}: {req_id!r} is {why}")
    for req_id in sorted(matrix.covered & set(na)):
        matrix.problems.append(f"{req_id} is both covered by a test and listed as not applicable")
    return matrix


def _totals(rows: list[tuple[str, int, int, int, int]]) -> tuple[str, int, int, int, int]:
    return ("all", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows),
            sum(r[4] for r in rows))


def summary(matrix: Matrix) -> str:
    rows = matrix.rows()
    lines = [f"{'protocol':<11} {'total':>5} {'covered':>7} {'n/a':>5} {'open':>5}"]
    for protocol, total, covered, na, left in [*rows, _totals(rows)]:
        lines.append(f"{protocol:<11} {total:>5} {covered:>7} {na:>5} {left:>5}")
    return "\n".join(lines) + "\n"


def markdown(matrix: Matrix) -> str:
    rows = matrix.rows()
    lines = ["| protocol | requirements | covered | not applicable | open |", "|---|---:|---:|---:|---:|"]
    for protocol, total, covered, na, left in rows:
        lines.append(f"| {protocol} | {total} | {covered} | {na} | {left} |")
    _, total, covered, na, left = _totals(rows)
    lines.append(f"| **all** | **{total}** | **{covered}** | **{na}** | **{left}** |")
    return "\n".join(lines) + "\n"


def open_list(matrix: Matrix, protocol: str) -> str:
    return "".join(f"{r.req_id}\t{r.section}\t{r.description}\n" for r in matrix.open(protocol))


def readme_table(readme: str) -> str:
    """The text between the README's conformance markers (the generated table)."""
    start = readme.index(README_BEGIN) + len(README_BEGIN)
    return readme[start:readme.index(README_END)].strip("\n") + "\n"
