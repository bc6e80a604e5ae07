"""One database wherever a command runs (issue 15 §2) and one-line start-up errors (§3): the data
folder, `easlab init`, refusing a database that does not exist or a --db that is no database URL,
`-v`, the domain the server serves, and a port in use, a SQLite path that cannot be opened,
PostgreSQL not reachable, an unsupported scheme."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from easlab.server import home
from easlab.server.cli import main
from tests.server.test_cli import initialised

EASLAB = str(Path(sys.executable).parent / "easlab")


def invoke(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def lab_home(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("EASLAB_HOME", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def test_data_folder_follows_each_platform_convention(tmp_path):
    me = tmp_path / "me"
    assert home.data_folder({}, "linux", me) == me / ".local/share/easlab"
    assert home.data_folder({"XDG_DATA_HOME": "/srv/data"}, "linux", me) == Path("/srv/data/easlab")
    assert home.data_folder({"XDG_DATA_HOME": "relative"}, "linux", me) == me / ".local/share/easlab"  # XDG: ignored
    assert home.data_folder({}, "darwin", me) == me / "Library/Application Support/easlab"
    assert home.data_folder({"LOCALAPPDATA": "C:/Users/me/AppData/Local"}, "win32", me) == Path("C:/Users/me/AppData/Local/easlab")
    assert home.data_folder({}, "win32", me) == me / "AppData/Local/easlab"
    assert home.data_folder({"EASLAB_HOME": str(tmp_path / "lab"), "XDG_DATA_HOME": "/srv"}, "linux", me) == tmp_path / "lab"


def test_tests_never_use_the_real_data_folder():
    assert Path(os.environ["EASLAB_HOME"]) != home.data_folder({}, sys.platform)


def test_commands_refuse_a_database_that_does_not_exist(lab_home, tmp_path):
    result = invoke("user", "list")
    assert result.exit_code == 2
    assert result.output == (f"Error: no easlab database at {lab_home / 'easlab.db'}; create it with `easlab init` "
                             "(or start `easlab serve`), or name another with --db\n")
    elsewhere = tmp_path / "other.db"
    result = invoke("user", "add", "dave", "--password", "pw", "--db", f"sqlite:///{elsewhere}")
    assert result.exit_code == 2 and f"no easlab database at {elsewhere};" in result.output
    assert not lab_home.exists() and not elsewhere.exists() and not (tmp_path / "easlab.db").exists()


def test_init_creates_the_data_folder_and_its_database_once(lab_home):
    assert invoke("init").output == f"easlab: database created at {lab_home / 'easlab.db'}\n"
    assert invoke("init").output == f"easlab: database already at {lab_home / 'easlab.db'}\n"
    assert invoke("user", "add", "dave", "--password", "pw").exit_code == 0
    assert json.loads(invoke("user", "list", "--json").output)[0]["name"] == "dave"


@pytest.mark.parametrize("value, message", [
    ("nonsense", "Error: --db 'nonsense' is not a database URL: use sqlite:///PATH, postgresql://USER@HOST/DB, "
                 "or a file path ending in .db\n"),
    ("mysql://root@localhost/easlab", "Error: --db: easlab cannot store in mysql://; use sqlite:///PATH or "
                                      "postgresql://USER@HOST/DB\n"),
    ("sqlite://easlab.db", "Error: --db 'sqlite://easlab.db': a SQLite URL is sqlite:///PATH (three slashes, then the path)\n"),
])
def test_a_db_that_is_not_a_database_url_is_refused(lab_home, tmp_path, value, message):
    for command in (["user", "list"], ["init"]):
        result = invoke(*command, "--db", value)
        assert (result.exit_code, result.output) == (2, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_plain_path_ending_in_db_is_a_sqlite_file(lab_home, tmp_path):
    assert invoke("init", "--db", "lab.db").output == f"easlab: database created at {tmp_path / 'lab.db'}\n"
    assert invoke("user", "list", "--db", str(tmp_path / "lab.db")).exit_code == 0


def test_verbose_names_the_data_folder_and_the_database(lab_home, tmp_path):
    db = initialised(tmp_path / "v.db")
    result = invoke("-v", "user", "list", "--db", db)
    assert result.exit_code == 0
    assert result.stderr == f"easlab: data folder {lab_home}\neaslab: database {db}\n"
    assert invoke("--verbose", "policy", "list").stderr.splitlines()[:2] == [  # then: no database there
        f"easlab: data folder {lab_home}", f"easlab: database sqlite:///{lab_home / 'easlab.db'}"]


def test_a_sqlite_file_that_cannot_be_opened_is_one_line(lab_home, tmp_path):
    missing_folder = tmp_path / "no-such-folder" / "x.db"
    for command in ("init", "serve"):
        result = invoke(command, "--db", f"sqlite:///{missing_folder}")
        assert result.exit_code == 2, result.output
        assert result.output == (f"Error: cannot open SQLite database {missing_folder}: unable to open database file "
                                 "(its folder must exist and be writable, and the file be easlab's; or choose another "
                                 "with --db)\n")
    junk = tmp_path / "junk.db"
    junk.write_text("not a database, but long enough to be read as a SQLite header" * 10)
    result = invoke("user", "list", "--db", str(junk))
    assert result.exit_code == 2 and result.output.startswith(f"Error: cannot open SQLite database {junk}: file is not a database")
    assert result.output.count("\n") == 1


def test_postgresql_not_reachable_is_one_line_without_the_password(lab_home):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for command in ("user", "list"), ("init",):
        result = invoke(*command, "--db", f"postgresql://lab:s3cret@127.0.0.1:{port}/easlab")
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"Error: cannot open PostgreSQL database postgresql+psycopg://lab:***@127.0.0.1:{port}/easlab: ")
        assert result.output.rstrip().endswith("(check that PostgreSQL runs and accepts this URL, or choose another with --db)")
        assert "s3cret" not in result.output and result.output.count("\n") == 1


def test_user_show_reports_the_domain_the_server_runs(tmp_path):
    """`serve` records its domain, URLs and ports in the data folder; the CLI reads the domain from there
    when it works on the same database."""
    env = {**os.environ, "EASLAB_HOME": str(tmp_path / "home")}
    db = f"sqlite:///{tmp_path / 'corp.db'}"
    proc = subprocess.Popen([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--domain", "corp.test", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert "EAS endpoint" in first, first + proc.stderr.read()
        smtp = proc.stdout.readline().split()[-1]
        recorded = json.loads((tmp_path / "home" / "settings.json").read_text())
        assert recorded == {"db": db, "domain": "corp.test", "eas_url": first.split()[-1],
                            "base_url": first.split()[-1].rsplit("/", 1)[0], "http": recorded["http"], "smtp": smtp}
        assert recorded["http"] == "127.0.0.1:" + first.split()[-1].split(":")[2].split("/")[0]
    finally:
        proc.terminate()
        proc.wait(10)
    runner = CliRunner(env={"EASLAB_HOME": str(tmp_path / "home")})
    assert runner.invoke(main, ["user", "add", "carl", "--password", "pw", "--db", db]).exit_code == 0
    shown = runner.invoke(main, ["user", "show", "carl", "--json", "--db", db])
    assert json.loads(shown.output)["address"] == "carl@corp.test", shown.output
    assert json.loads(runner.invoke(main, ["user", "list", "--json", "--db", db]).output)[0]["address"] == "carl@corp.test"
    other = initialised(tmp_path / "other.db")  # a database no server of this data folder serves: the default
    runner.invoke(main, ["user", "add", "carl", "--password", "pw", "--db", other])
    assert json.loads(runner.invoke(main, ["user", "list", "--json", "--db", other]).output)[0]["address"] == "carl@easlab.test"


@pytest.mark.parametrize("flag, what", [("--port", "HTTP"), ("--smtp-port", "SMTP")])
def test_a_port_in_use_is_one_line_and_exit_status_2(tmp_path, flag, what):
    db = f"sqlite:///{tmp_path / 'busy.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--smtp-port": "0", flag: str(port)}
        result = subprocess.run([EASLAB, "serve", "--db", db, *(x for item in ports.items() for x in item)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"Error: cannot listen for {what} on 127.0.0.1:{port}: Address already in use "
                             f"(choose another with {flag}; 0 picks a free one)\n")
