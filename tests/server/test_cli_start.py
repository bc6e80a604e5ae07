"""`easlab --help` and `--version` import none of the store's or the server's libraries (issue 16:
the CLI starts in under 0.3 s of CPU; bench/cli_start.py measures it), and the root's table of
lazily imported commands says what the commands themselves say."""
import json
import sqlite3
import subprocess
import sys

import click
import pytest

HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "starlette", "uvicorn", "cryptography", "passlib", "argon2",
         "icalendar", "dateutil", "psycopg", "alembic", "mako", "easlab.storage", "easlab.server.admin")

PROBE = """
import json, sys
from easlab.server.cli import main
try:
    main.main(sys.argv[1:], prog_name="easlab")
except SystemExit as exc:
    assert exc.code == 0, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_help_and_version_import_no_library(args):
    loaded = modules_after(*args)
    assert "click" in loaded and "easlab.server.cli.root" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)) == []


def test_help_lists_every_command_without_importing_it():
    loaded = modules_after("--help")
    assert not {"easlab.server.cli.user", "easlab.server.cli.client", "easlab.server.cli.database"} & loaded


def test_lazy_table_says_what_the_commands_say():
    from easlab.server.cli import main
    from easlab.server.cli.root import LAZY

    ctx = click.Context(main)
    for name, (_, _, short_help) in LAZY.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(1000) == click.Command(name, help=short_help).get_short_help_str(1000)
    assert main.list_commands(ctx) == sorted([*LAZY, "demo", "init", "serve"])


def test_loaded_groups_keep_their_wiring():
    from easlab.server.cli import main

    ctx = click.Context(main)
    assert "trace" in main.get_command(ctx, "device").commands
    user = main.get_command(ctx, "user")
    assert {"add", "set", "show", "list", "remove", "passwd"} <= set(user.commands)
    assert any(p.name == "phone" for p in user.commands["set"].params)


def test_user_list_imports_neither_mime_nor_passwords(tmp_path):
    """What `user list` needs is one SELECT through the database's driver (storage/quickread.py):
    not SQLAlchemy, the models, the MIME parser or passlib."""
    from tests.server.test_cli import initialised

    db = initialised(tmp_path / "c.db")
    assert subprocess.run([sys.executable, "-m", "easlab.server.cli", "user", "add", "ann", "--password", "pw",
                           "--db", db], capture_output=True, timeout=60).returncode == 0
    loaded = modules_after("user", "list", "--db", db)
    assert "sqlite3" in loaded and "easlab.storage.quickread" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY + ("email",))) == [
        "easlab.server.admin", "easlab.server.admin.roles",  # the roles `user add --role` offers
        "easlab.storage", "easlab.storage.migrations", "easlab.storage.quickread", "easlab.storage.urls"]


def test_user_list_of_an_older_store_takes_the_orm_path_which_migrates_it(tmp_path):
    """A store from before migrations that lacks a column quickread reads: `user list` answers as
    before, and the store is brought up to date on the way (as every command opening it does)."""
    from sqlalchemy import create_engine

    from tests.server.test_cli import initialised, run
    from tests.storage.test_schema_revisions import as_before_migrations

    db = initialised(tmp_path / "old.db")
    assert run("user", "add", "ann", "--password", "pw", "--display-name", "Ann", "--db", db).exit_code == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql('ALTER TABLE "user" DROP COLUMN role')
        as_before_migrations(connection)
    engine.dispose()
    rows = json.loads(run("user", "list", "--json", "--db", db).output)
    assert [(r["name"], r["display_name"], r["role"]) for r in rows] == [("ann", "Ann", "")]
    with sqlite3.connect(tmp_path / "old.db") as connection:
        assert "role" in {row[1] for row in connection.execute('PRAGMA table_info("user")')}
