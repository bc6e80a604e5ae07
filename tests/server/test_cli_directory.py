"""`easlab user set` with the directory options, and `easlab user show`."""
import copy
import json

import pytest
from click.testing import CliRunner

from tests.server.test_cli import initialised


def cli():
    """`easlab user` with the directory options, on copies: the real commands stay as they are."""
    import click

    from easlab.server.cli import user as user_cli
    from easlab.server.cli.directory import extend_user_commands

    group = click.Group("user")
    user_set = copy.copy(user_cli.user_set)
    user_set.params = list(user_cli.user_set.params)
    group.add_command(user_set)
    group.add_command(user_cli.user_add)
    extend_user_commands(group, user_set)
    return group


def test_cli_sets_and_shows_directory_fields(tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.server.directory_helpers import PKI

    group, db = cli(), initialised(tmp_path / 'c.db')
    runner = CliRunner()
    assert runner.invoke(group, ["add", "alice", "--password", "pw", "--db", db]).exit_code == 0
    photo = tmp_path / "alice.jpg"
    photo.write_bytes(b"\xff\xd8photo")
    cert = tmp_path / "alice.pem"
    pki = PKI()
    leaf = pki.leaf()
    cert.write_bytes(leaf.public_bytes(Encoding.PEM))
    r = runner.invoke(group, ["set", "alice", "--display-name", "Alice Example", "--phone", "+1 555 0199",
                              "--office", "B1", "--title", "CTO", "--first-name", "Alice", "--picture", str(photo),
                              "--certificate", str(cert), "--db", db], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["alice: activesync on, role none",
                                     "alice: directory first name, phone, office, title, picture, certificate set"]
    shown = json.loads(runner.invoke(group, ["show", "alice", "--json", "--db", db]).output)
    assert shown == {"name": "alice", "address": "alice@easlab.test", "display_name": "Alice Example",
                     "first_name": "Alice", "last_name": "", "phone": "+1 555 0199", "office": "B1", "title": "CTO",
                     "company": "", "home_phone": "", "mobile_phone": "", "external_address": "",
                     "picture_bytes": 7, "certificate_bytes": len(leaf.public_bytes(Encoding.DER))}
    text = runner.invoke(group, ["show", "alice", "--db", db]).output
    assert "phone:             +1 555 0199" in text.splitlines()
    # '' clears a field, --no-picture removes the photo; the plain options still work alone.
    assert runner.invoke(group, ["set", "alice", "--phone", "", "--no-picture", "--db", db]).exit_code == 0
    shown = json.loads(runner.invoke(group, ["show", "alice", "--json", "--db", db]).output)
    assert shown["phone"] == "" and shown["picture_bytes"] == 0 and shown["office"] == "B1"
    r = runner.invoke(group, ["set", "alice", "--role", "viewer", "--db", db])
    assert r.output == "alice: activesync on, role viewer\n"


def test_cli_refuses_bad_input(tmp_path):
    group, db = cli(), initialised(tmp_path / 'c.db')
    runner = CliRunner()
    runner.invoke(group, ["add", "alice", "--password", "pw", "--db", db])
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    r = runner.invoke(group, ["set", "alice", "--certificate", str(junk), "--db", db])
    assert r.exit_code != 0 and "not a DER or PEM certificate" in r.output
    big = tmp_path / "big.jpg"
    big.write_bytes(b"x" * (100 * 1024 + 1))
    assert "at most 102400" in runner.invoke(group, ["set", "alice", "--picture", str(big), "--db", db]).output
    r = runner.invoke(group, ["set", "nobody", "--phone", "1", "--db", db])
    assert r.exit_code != 0
    r = runner.invoke(group, ["show", "nobody", "--db", db])
    assert r.exit_code != 0 and "no user nobody" in r.output
