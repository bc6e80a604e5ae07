import json

from click.testing import CliRunner

from easlab.eas.wbxml import E, decode, encode
from easlab.server.cli import main


def run(*args, input=None):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result


def test_user_add_list_passwd(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
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
    db = f"sqlite:///{tmp_path / 'c.db'}"
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
