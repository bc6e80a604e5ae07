"""`easlab user add` with several names or a file of users: one transaction through the admin
service, each refusal one line, exit 2 and nothing written when any is refused."""
import json

from click.testing import CliRunner

from easlab.server.cli import main
from tests.server.test_cli import initialised


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def users(db) -> list[tuple[str, str]]:
    return [(row["name"], row["display_name"]) for row in json.loads(run("user", "list", "--json", "--db", db).output)]


def passwords(db) -> dict[str, str]:
    from easlab.storage import Database
    from easlab.storage.models import User
    from sqlmodel import select

    database = Database(db)
    with database.session() as s:
        return {u.name: u.password_hash for u in s.exec(select(User))}


def test_several_names_share_the_password_each_hashed_alone(tmp_path):
    from easlab.storage.passwords import verify_password

    db = initialised(tmp_path / "c.db")
    result = run("user", "add", "alice", "Bob", "carol", "--password", "pw", "--role", "viewer", "--db", db)
    assert result.exit_code == 0, result.output
    assert result.output == "added alice (alice), role viewer\nadded bob (bob), role viewer\nadded carol (carol), role viewer\n"
    assert users(db) == [("alice", "alice"), ("bob", "bob"), ("carol", "carol")]
    hashes = passwords(db)
    assert all(verify_password("pw", h) for h in hashes.values()) and len(set(hashes.values())) == 3


def test_file_of_users_with_display_names(tmp_path):
    from easlab.storage.passwords import verify_password

    db = initialised(tmp_path / "c.db")
    listing = tmp_path / "users.csv"
    listing.write_text('erin,pw1,"Erin, E."\n\nfrank,pw2\n', encoding="utf-8")
    result = run("user", "add", "--file", str(listing), "--db", db)
    assert result.exit_code == 0, result.output
    assert result.output == "added erin (Erin, E.)\nadded frank (frank)\n"
    assert users(db) == [("erin", "Erin, E."), ("frank", "frank")]
    hashes = passwords(db)
    assert verify_password("pw1", hashes["erin"]) and verify_password("pw2", hashes["frank"])
    assert run("user", "add", "--file", "-", "--db", db, input="gina,pw3\n").output == "added gina (gina)\n"


def test_any_refusal_adds_nobody(tmp_path):
    db = initialised(tmp_path / "c.db")
    run("user", "add", "alice", "--password", "pw", "--db", db)
    result = run("user", "add", "dave", "alice", "bad name", "dave", "--password", "pw", "--db", db)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == ("Error: user alice exists\n"
                             "Error: user name 'bad name': use 1-64 of a-z, 0-9, '.', '_' and '-'\n"
                             "Error: user dave is given twice\n")
    assert users(db) == [("alice", "alice")]
    result = run("user", "add", "--file", "-", "--db", db, input="erin,pw\nfrank,\nbroken\n")
    assert (result.exit_code, result.stderr) == (2, "Error: <stdin> line 3: expected name,password[,display name]\n")
    result = run("user", "add", "--file", "-", "--db", db, input="erin,pw\nfrank,\n")
    assert (result.exit_code, result.stderr) == (2, "Error: user frank: a password is required\n")
    assert users(db) == [("alice", "alice")]


def test_names_and_file_exclude_each_other(tmp_path):
    db = initialised(tmp_path / "c.db")
    assert "give NAME... or --file" in run("user", "add", "--db", db).output
    assert run("user", "add", "x", "--file", "-", "--db", db, input="y,pw\n").exit_code == 2
    assert run("user", "add", "x", "y", "--display-name", "X", "--password", "pw", "--db", db).exit_code == 2
    assert users(db) == []


def test_one_name_as_before(tmp_path):
    db = initialised(tmp_path / "c.db")
    result = run("user", "add", "hank", "--display-name", "Hank H", "--db", db, input="pw\npw\n")
    assert result.exit_code == 0 and result.output.endswith("added hank (Hank H)\n")
    result = run("user", "add", "hank", "--password", "pw", "--db", db)
    assert (result.exit_code, result.output) == (1, "Error: user hank exists\n")
