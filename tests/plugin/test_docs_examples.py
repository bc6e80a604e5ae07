"""docs/testing.md cannot rot: its examples are run as a project of their own.

An example is a fenced block right after a line `<!-- example: NAME -->`.  NAME is the file the
block becomes; `dir/NAME` puts it in a separate project `dir` (with its own pytest.ini, say), the
rest form the project "main".  Each project is run once with pytest in a temporary directory, in a
subprocess, and every example test file must have run tests, all passed.
"""
from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
EXAMPLE = re.compile(r"^<!-- example: (?P<name>[\w./-]+) -->\n```(?P<lang>\w+)\n(?P<body>.*?)^```$", re.M | re.S)
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.M | re.S)


def examples() -> dict[str, tuple[str, str]]:
    """path in the project ("main/test_x.py", "shared/pytest.ini") -> (language, text)."""
    found = {}
    for m in EXAMPLE.finditer(DOC.read_text("utf-8")):
        name = m["name"] if "/" in m["name"] else f"main/{m['name']}"
        assert name not in found, f"two examples named {name}"
        found[name] = (m["lang"], m["body"])
    return found


EXAMPLES = examples()
TEST_FILES = sorted(name for name, (lang, _) in EXAMPLES.items() if lang == "python" and Path(name).name.startswith("test_"))


def plugin_args() -> list[str]:
    """-p easlab.testing.plugin unless easlab's pytest11 entry point is installed (both would clash)."""
    from importlib.metadata import entry_points

    if any(ep.value == "easlab.testing.plugin" for ep in entry_points(group="pytest11")):
        return []
    return ["-p", "easlab.testing.plugin"]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    """Run every project once: {project: {"result": CompletedProcess, "cases": [(file stem, name, ok)]}}."""
    root = tmp_path_factory.mktemp("docs-examples")
    projects: dict[str, dict[str, str]] = {}
    for name, (_, text) in EXAMPLES.items():
        project, _, path = name.partition("/")
        projects.setdefault(project, {})[path] = text
    out = {}
    for project, files in projects.items():
        where = root / project
        where.mkdir()
        files.setdefault("pytest.ini", "[pytest]\n")  # this directory is the rootdir, nothing above it counts
        for path, text in files.items():
            (where / path).parent.mkdir(parents=True, exist_ok=True)
            (where / path).write_text(text, "utf-8")
        report = where / "report.xml"
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args(),
                                 f"--junitxml={report}", "-o", "junit_family=xunit2"],
                                cwd=where, capture_output=True, text=True, timeout=600)
        cases = []
        if report.exists():
            for case in ET.parse(report).iter("testcase"):
                failed = any(child.tag in ("failure", "error", "skipped") for child in case)
                cases.append((case.get("classname", "").split(".")[0], case.get("name"), not failed))
        out[project] = {"result": result, "cases": cases}
    return out


def test_the_page_has_examples():
    assert len(TEST_FILES) >= 6
    assert "shared/pytest.ini" in EXAMPLES


def test_every_python_test_block_on_the_page_is_an_example():
    text = DOC.read_text("utf-8")
    marked = {body for _, body in EXAMPLES.values()}
    for m in FENCE.finditer(text):
        if m["lang"] == "python" and "def test_" in m["body"]:
            assert m["body"] in marked, f"an unmarked test example in docs/testing.md:\n{m['body'][:200]}"


@pytest.mark.parametrize("name", TEST_FILES)
def test_example_passes(name, outcomes):
    project, _, path = name.partition("/")
    run = outcomes[project]
    stem = Path(path).stem
    mine = [(test, ok) for module, test, ok in run["cases"] if module == stem]
    log = run["result"].stdout[-6000:] + run["result"].stderr[-3000:]
    assert mine, f"{name}: no test ran\n{log}"
    failed = [test for test, ok in mine if not ok]
    assert not failed, f"{name}: {failed} did not pass\n{log}"
