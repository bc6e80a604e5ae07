"""What an administrator types is checked once for the CLI, the API and the web alike (issue 15 §3):
policy parameters by eas/policy.py's setting_error, admin mail recipients by the admin service;
and `easlab client SUBCOMMAND --help` needs no server."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from easlab.eas.policy import PolicySettings, setting_error
from easlab.server.cli import main
from tests.server.test_cli import initialised
from tests.server.test_web import csrf, login, set_role

REFRESH = "DevicePolicyRefreshInterval must be a whole number, 1-8760, or unlimited"
HISTORY = "PasswordHistory must be a whole number, 0-50"


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("flag, value, message", [
    ("--refresh-interval", "-5", REFRESH),
    ("--refresh-interval", "0", REFRESH),
    ("--password-history", "51", HISTORY),  # a plain number: no "or unlimited" offered
    ("--min-password-complex-characters", "9", "MinPasswordComplexCharacters must be a whole number, 1-4"),
    ("--max-email-body-truncation-size", "-1", "MaxEmailBodyTruncationSize must be a whole number, 0-2097151, or unlimited"),
    ("--min-password-length", "0", "MinPasswordLength must be a whole number, 1-16, or unlimited"),
])
def test_cli_refuses_policy_values_out_of_range(tmp_path, flag, value, message):
    db = initialised(tmp_path / "p.db")
    for command in (["policy", "set", "Default"], ["policy", "add", "Kiosk"]):
        result = run(*command, flag, value, "--db", db)
        assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    assert [row["name"] for row in json.loads(run("policy", "list", "--json", "--db", db).output)] == ["Default"]


def test_unlimited_is_offered_only_where_it_is_accepted(tmp_path):
    db = initialised(tmp_path / "p.db")
    for flag in ("--min-password-length", "--refresh-interval", "--max-attachment-size"):
        assert run("policy", "set", "Default", flag, "unlimited", "--db", db).exit_code == 0
    refused = run("policy", "set", "Default", "--password-history", "unlimited", "--db", db)
    assert refused.exit_code == 2 and "'unlimited' is not a valid integer" in refused.output
    for name in ("PasswordHistory", "MinPasswordComplexCharacters"):
        assert "unlimited" not in setting_error(name, -1) and setting_error(name, None) is not None
    assert run("policy", "set", "Default", "--refresh-interval", "24", "--db", db).output == "changed policy Default\n"
    shown = json.loads(run("policy", "show", "Default", "--json", "--db", db).output)
    assert shown["settings"]["DevicePolicyRefreshInterval"] == 24 and shown["settings"]["MinPasswordLength"] is None


def test_policy_show_refuses_an_unknown_version(tmp_path):
    db = initialised(tmp_path / "p.db")
    result = run("policy", "show", "Default", "--version", "9.9", "--db", db)
    assert (result.exit_code, result.output) == (1, "Error: version '9.9': use one of 2.5, 12.0, 12.1, 14.0, 14.1, 16.0, 16.1\n")


def test_storage_checks_with_the_same_rule():
    with pytest.raises(ValueError, match=f"^{REFRESH}$"):
        PolicySettings(DevicePolicyRefreshInterval=-5).validate()
    with pytest.raises(ValueError, match=f"^{HISTORY}$"):
        PolicySettings(PasswordHistory=None).validate()


@pytest.mark.anyio
async def test_api_and_web_refuse_with_the_same_words(client, db):
    set_role(db, "alice", "org-admin")
    r = await client.patch("/api/policies/Default", json={"settings": {"DevicePolicyRefreshInterval": -5}},
                           auth=("alice", "secret"))
    assert (r.status_code, r.json()) == (400, {"error": REFRESH})
    r = await client.patch("/api/policies/Default", json={"settings": {"PasswordHistory": 51}}, auth=("alice", "secret"))
    assert (r.status_code, r.json()) == (400, {"error": HISTORY})
    await login(client)
    token = await csrf(client)
    r = await client.post("/ecp/policies/Default", data={"csrf": token, "op": "save", "DevicePolicyRefreshInterval": "0"})
    assert r.status_code == 400 and REFRESH in r.text


def test_org_set_refuses_an_admin_mail_that_is_not_an_address(tmp_path):
    db = initialised(tmp_path / "o.db")
    assert run("org", "set", "--admin-mail", "boss@easlab.test", "--db", db).exit_code == 0
    result = run("org", "set", "--admin-mail", "it@easlab.test", "--admin-mail", "not-an-address", "--db", db)
    assert (result.exit_code, result.output) == (1, "Error: admin mail recipients: 'not-an-address' is not a mail address\n")
    shown = run("org", "show", "--db", db).output
    assert "admin mail recipients: boss@easlab.test\n" in shown and "WARNING" not in shown
    assert run("org", "set", "--admin-mail", "", "--db", db).output.endswith("admin mail to no one\n")


@pytest.mark.parametrize("command", ["sync", "foldersync", "provision", "ping", "state"])
def test_client_subcommand_help_needs_no_server(command):
    result = CliRunner(env={"EASLAB_CLIENT_URL": None, "EASLAB_CLIENT_USER": None}).invoke(main, ["client", command, "--help"], prog_name="easlab")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: easlab client {command} [OPTIONS]")


def test_client_still_needs_url_and_user_to_run():
    runner = CliRunner(env={"EASLAB_CLIENT_URL": None, "EASLAB_CLIENT_USER": None})
    result = runner.invoke(main, ["client", "--user", "alice", "state"])
    assert result.exit_code == 2 and result.output.endswith("Error: Missing option '--url'.\n")
    result = runner.invoke(main, ["client", "--url", "http://127.0.0.1:1", "state"])
    assert result.exit_code == 2 and result.output.endswith("Error: Missing option '--user'.\n")
