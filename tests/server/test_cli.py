import json

from click.testing import CliRunner

from easlab.eas.wbxml import E, decode, encode
from easlab.server.cli import main


def run(*args, input=None):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result


def initialised(path) -> str:
    """A new database at `path` as `easlab init` makes it: no other command creates one."""
    db = f"sqlite:///{path}"
    assert run("init", "--db", db).output == f"easlab: database created at {path}\n"
    return db


def test_user_add_list_passwd(tmp_path):
    db = initialised(tmp_path / 'c.db')
    assert run("user", "add", "alice", "--password", "pw", "--display-name", "Alice A", "--db", db).exit_code == 0
    assert run("user", "add", "alice", "--password", "pw", "--db", db).exit_code != 0  # exists
    rows = json.loads(run("user", "list", "--json", "--db", db).output)
    assert rows[0]["name"] == "alice" and rows[0]["display_name"] == "Alice A"
    assert rows[0]["address"] == "alice@easlab.test"
    assert run("user", "passwd", "Alice", "--password", "new", "--db", db).exit_code == 0
    from easlab.storage import Database
    from easlab.storage.passwords import verify_password
    from easlab.storage.users import get_user

    with Database(db).session() as s:
        assert verify_password("new", get_user(s, "alice").password_hash)


def test_user_passwd_prompts_twice(tmp_path):
    db = initialised(tmp_path / 'c.db')
    run("user", "add", "bob", "--password", "pw", "--db", db)
    result = run("user", "passwd", "bob", "--db", db, input="abc\nabc\n")
    assert result.exit_code == 0, result.output


def test_wbxml_decode_and_encode_via_stdin():
    tree = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
             E("AirSync:SyncKey", "1"), E("AirSyncBase:Body", E("AirSyncBase:Data", b"\x00\xffMIME")))))
    data = encode(tree)
    xml = run("wbxml", "decode", input=data).output
    assert '<Sync xmlns="AirSync">' in xml
    assert '<Body xmlns="AirSyncBase">' in xml
    assert 'opaque="base64">AP9NSU1F</Data>' in xml
    back = CliRunner().invoke(main, ["wbxml", "encode"], input=xml)
    assert back.exit_code == 0
    assert back.stdout_bytes == data


def test_wbxml_decode_file_and_error(tmp_path):
    f = tmp_path / "x.wbxml"
    f.write_bytes(b"\x03\x01\x6a\x00\x45\x99")
    result = CliRunner().invoke(main, ["wbxml", "decode", str(f)])
    assert result.exit_code == 1
    assert "at byte 5" in result.output


def test_wbxml_cli_round_trips_every_capture_byte_for_byte():
    from tests.wbxml.test_libwbxml import CAPTURES  # the shared captures folder, located once

    files = sorted(CAPTURES.rglob("*.wbxml"))
    assert files, f"no captures under {CAPTURES}"
    for f in files:
        data = f.read_bytes()
        xml = CliRunner().invoke(main, ["wbxml", "decode", str(f)])
        assert xml.exit_code == 0, (f, xml.output)
        back = CliRunner().invoke(main, ["wbxml", "encode"], input=xml.output)
        assert back.exit_code == 0, (f, back.output)
        assert back.stdout_bytes == data, f


def test_policy_names_are_checked_as_the_web_and_api_check_them(tmp_path):
    """`easlab policy` goes through the admin service: a name with '/', '\\' or a control character
    is one clear line and exit code 1, never a traceback or a policy no page can reach; names
    are stripped."""
    db = initialised(tmp_path / 'c.db')
    for name in ("Kiosk / lab", "Kiosk\\lab", "Kiosk\tlab", "   ", "x" * 65):
        result = CliRunner().invoke(main, ["policy", "add", name, "--db", db])
        assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
        assert result.output.startswith("Error: a policy ") and result.output.count("\n") == 1, result.output
    assert run("policy", "add", "  Kiosk ", "--no-allow-camera", "--db", db).output == "added policy Kiosk\n"
    rows = json.loads(run("policy", "list", "--json", "--db", db).output)
    assert [row["name"] for row in rows] == ["Default", "Kiosk"]
    shown = json.loads(run("policy", "show", "Kiosk", "--json", "--db", db).output)
    assert shown["settings"]["AllowCamera"] is False and shown["version"] == "14.1" and shown["users"] == 0


def test_policy_errors_are_one_line(tmp_path):
    db = initialised(tmp_path / 'c.db')
    assert CliRunner().invoke(main, ["policy", "show", "Nope", "--db", db]).output == "Error: no policy 'Nope'\n"
    assert CliRunner().invoke(main, ["policy", "set", "Nope", "--db", db]).output == "Error: no policy 'Nope'\n"
    assert CliRunner().invoke(main, ["policy", "assign", "bob", "Default", "--db", db]).output == "Error: no user bob\n"
    out = CliRunner().invoke(main, ["policy", "show", "Default", "--version", "9.9", "--db", db]).output
    assert out == "Error: version '9.9': use one of 2.5, 12.0, 12.1, 14.0, 14.1, 16.0, 16.1\n"
