"""`easlab --help` and `--version` import none of the store's or the server's libraries (issue 16:
the CLI starts in under 0.3 s of CPU; bench/cli_start.py measures it), and the root's table of
lazily imported commands says what the commands themselves say."""
import json
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
    """What `user list` needs is the store; the MIME parser and passlib are for writes."""
    from tests.server.test_cli import initialised

    loaded = modules_after("user", "list", "--db", initialised(tmp_path / "c.db"))
    assert "sqlalchemy" in loaded
    assert not {"passlib", "argon2", "easlab.eas.mime", "easlab.storage.mailbox", "icalendar", "cryptography",
                "starlette", "uvicorn", "email.policy"} & loaded
