"""`easlab conformance` on a small fake repository and requirements table, the `req` marker's
collection hook, and the README's table, which must be the command's own output."""
from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from easlab.server import conformance
from easlab.server.cli import main

REPO = Path(__file__).resolve().parents[2]

FAKE_TSV = """protocol\treq_id\tsection\tscope\tdescription
MS-ASHTTP\tMS-ASHTTP_R1\t2.1\tServer\tOne.
MS-ASHTTP\tMS-ASHTTP_R2\t2.2\tServer\tTwo.
MS-ASHTTP\tMS-ASHTTP_R3\t2.3\tServer\tThree.
MS-ASHTTP\tMS-ASHTTP_R4\t2.4\tBoth\tFour.
MS-ASPROV\tMS-ASPROV_R10\t3.1\tServer\tTen.
MS-ASPROV\tMS-ASPROV_R11\t3.2\tServer\t"Eleven, ""quoted""."
"""

TESTS = '''
import pytest
from pytest import mark

pytestmark = [pytest.mark.anyio, pytest.mark.req("MS-ASPROV_R10")]


@pytest.mark.req("MS-ASHTTP_R1", "MS-ASHTTP_R2")
@pytest.mark.req("MS-ASHTTP_R1")
def test_a():
    pass


@mark.req("MS-ASHTTP_R3")
class TestB:
    def test_b(self):
        pass
'''


def _repo(tmp_path: Path, tests: str = TESTS, not_applicable: str = "") -> tuple[Path, Path]:
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    (tmp_path / "tests" / "sub" / "test_fake.py").write_text(textwrap.dedent(tests))
    (tmp_path / "docs" / "conformance").mkdir(parents=True)
    (tmp_path / "docs" / "conformance" / "not-applicable.tsv").write_text(f"req_id\treason\n{not_applicable}")
    tsv = tmp_path / "requirements.tsv"
    tsv.write_text(FAKE_TSV)
    return tmp_path, tsv


def run(repo: Path, tsv: Path, *args: str):
    return CliRunner().invoke(main, ["conformance", "--repo", str(repo), "--requirements", str(tsv), *args])


def test_counts_per_protocol_on_a_fake_table(tmp_path):
    repo, tsv = _repo(tmp_path, not_applicable="MS-ASHTTP_R4\tExchange 2007's choice\n")
    result = run(repo, tsv)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "protocol    total covered   n/a  open\n"
        "MS-ASHTTP       4       3     1     0\n"
        "MS-ASPROV       2       1     0     1\n"
        "all             6       4     1     1\n")
    markdown = run(repo, tsv, "--markdown").output
    assert "| MS-ASHTTP | 4 | 3 | 1 | 0 |\n| MS-ASPROV | 2 | 1 | 0 | 1 |\n| **all** | **6** | **4** | **1** | **1** |\n" \
        in markdown


def test_open_lists_id_section_and_text(tmp_path):
    repo, tsv = _repo(tmp_path)
    result = run(repo, tsv, "--open", "MS-ASPROV")
    assert result.exit_code == 0
    assert result.output == 'MS-ASPROV_R11\t3.2\tEleven, "quoted".\n'
    assert run(repo, tsv, "--open", "MS-ASHTTP").output == "MS-ASHTTP_R4\t2.4\tFour.\n"
    refused = run(repo, tsv, "--open", "MS-ASXYZ")
    assert refused.exit_code == 1 and "unknown protocol 'MS-ASXYZ'" in refused.output


def test_check_refuses_unknown_and_malformed_ids(tmp_path):
    tests = TESTS + '\n\n@pytest.mark.req("MS-ASHTTP_R999", "ashttp 5")\ndef test_c():\n    pass\n'
    repo, tsv = _repo(tmp_path, tests=tests, not_applicable="MS-ASPROV_R77\tno such thing\n")
    assert run(repo, tsv).exit_code == 0  # without --check the summary still prints
    result = run(repo, tsv, "--check")
    assert result.exit_code == 1
    assert "tests/sub/test_fake.py:20 (test_c): 'MS-ASHTTP_R999' is not in the server requirements table" \
        in result.output
    assert "'ashttp 5' is malformed" in result.output
    assert "not-applicable.tsv: 'MS-ASPROV_R77' is not in the server requirements table" in result.output


def test_check_refuses_an_id_both_covered_and_not_applicable(tmp_path):
    repo, tsv = _repo(tmp_path, not_applicable="MS-ASHTTP_R1\tbecause\nMS-ASHTTP_R4\t\n")
    result = run(repo, tsv, "--check")
    assert result.exit_code == 1
    assert "MS-ASHTTP_R1 is both covered by a test and listed as not applicable" in result.output
    assert "not-applicable.tsv:3: MS-ASHTTP_R4 has no reason" in result.output
    assert run(*_repo(tmp_path / "clean"), "--check").exit_code == 0


def test_update_readme_rewrites_only_the_marked_block(tmp_path):
    repo, tsv = _repo(tmp_path)
    readme = repo / "README.md"
    readme.write_text(f"# x\n{conformance.README_BEGIN}\nold\n{conformance.README_END}\ntail\n")
    assert run(repo, tsv, "--update-readme").exit_code == 0
    assert readme.read_text() == f"# x\n{conformance.README_BEGIN}\n{run(repo, tsv, '--markdown').output}" \
        f"{conformance.README_END}\ntail\n"


def test_the_readme_table_is_the_commands_output():
    result = CliRunner().invoke(main, ["conformance", "--repo", str(REPO), "--markdown", "--check"])
    assert result.exit_code == 0, result.output
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert conformance.readme_table(readme) == result.output, "run `easlab conformance --update-readme`"


def test_collection_refuses_a_marker_with_an_unknown_id(pytester):
    pytester.makeconftest("from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    pytester.makeini('[pytest]\nmarkers =\n    req(*ids): requirement\n')
    pytester.makepyfile(test_refs="""
        import pytest

        @pytest.mark.req("MS-ASCMD_R3128")
        def test_known():
            pass

        @pytest.mark.req("MS-ASCMD_R3128", "MS-ASCMD_R99999")
        def test_unknown():
            pass

        @pytest.mark.req("R3128")
        def test_malformed():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == 4  # usage error: nothing ran
    result.stderr.fnmatch_lines([
        "*test_refs.py::test_unknown: req marker ID 'MS-ASCMD_R99999' is not in the server requirements table*",
        "test_refs.py::test_malformed: req marker ID 'R3128' is malformed*",
    ])
    pytester.makepyfile(test_refs="""
        import pytest

        @pytest.mark.req("MS-ASCMD_R3128")
        def test_known():
            pass
    """)
    pytester.runpytest().assert_outcomes(passed=1)
