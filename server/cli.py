"""The `easlab` command."""
from __future__ import annotations

import json
import logging
import sys

import click

from .config import Settings


from .cli_common import _db, _settings, db_option  # noqa: F401  (shared by the sub-command modules)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """easlab: an Exchange ActiveSync server emulator for labs and tests."""


@main.command()
@click.option("--host", envvar="EASLAB_HOST", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", envvar="EASLAB_PORT", default=8080, show_default=True, type=int, help="HTTP port (0: any free port).")
@db_option
@click.option("--domain", envvar="EASLAB_DOMAIN", default="easlab.test", show_default=True, help="Mail domain of the users.")
@click.option("--public-url", envvar="EASLAB_PUBLIC_URL", default=None, help="URL phones and mail links use to reach this server.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--smtp-port", envvar="EASLAB_SMTP_PORT", default=2525, show_default=True, type=int,
              help="SMTP port for inbound mail (0: any free port).")
@click.option("--smarthost", envvar="EASLAB_SMARTHOST", default=None, metavar="HOST:PORT",
              help="Relay for mail to other domains (default: keep it in the outbound queue).")
@click.option("--trust-store", envvar="EASLAB_TRUST_STORE", default=None, type=click.Path(file_okay=False),
              help="Folder of PEM files: the root certificates ValidateCert trusts (default: none).")
def serve(host, port, db_url, domain, public_url, log_level, smtp_port, smarthost, trust_store) -> None:
    """Start the server: EAS over HTTP and SMTP for inbound mail."""
    from .runner import run

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(host=host, port=port, db_url=db_url, domain=domain, public_url=public_url,
                         smtp_port=smtp_port, smarthost=smarthost, trust_store=trust_store)
    run(settings)


@main.group()
def user() -> None:
    """Manage users (mailboxes)."""


ROLE_CHOICE = click.Choice(["org-admin", "device-approver", "device-operator", "viewer", "none"])


@user.command("add")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--display-name", default="")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Admin role for the web UI and API.")
@db_option
def user_add(name, password, display_name, role, db_url) -> None:
    """Create user NAME; its address is NAME@DOMAIN."""
    from easlab.storage.users import UserError, add_user

    db = _db(db_url)
    try:
        with db.session() as session:
            created = add_user(session, name, password, display_name)
            if role and role != "none":
                created.role = role
                session.add(created)
            click.echo(f"added {created.name} ({created.display_name})" + (f", role {created.role}" if created.role else ""))
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


@user.command("set")
@click.argument("name")
@click.option("--activesync/--no-activesync", default=None, help="Exchange's ActiveSyncEnabled.")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Admin role for the web UI and API ('none' removes it).")
@click.option("--display-name", default=None)
@db_option
def user_set(name, activesync, role, display_name, db_url) -> None:
    """Change a user's ActiveSync access, role or display name."""
    from .cli_common import run_admin

    result = run_admin(db_url, lambda admin, actor: admin.user_set(actor, name, activesync=activesync, role=role,
                                                                   display_name=display_name))
    click.echo(f"{result['name']}: activesync {'on' if result['activesync'] else 'off'}, role {result['role'] or 'none'}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def user_list(as_json, db_url) -> None:
    """List users."""
    from easlab.storage.users import list_users

    domain = _settings().domain
    with _db(db_url).session() as session:
        rows = [
            {"name": u.name, "address": f"{u.name}@{domain}", "display_name": u.display_name,
             "activesync": u.activesync_enabled, "role": u.role,
             "created_at": u.created_at.isoformat(timespec="seconds")}
            for u in list_users(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['address']:<36} {row['display_name']}")


@user.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@db_option
def user_passwd(name, password, db_url) -> None:
    """Set the password of user NAME."""
    from easlab.storage.users import UserError, set_password

    try:
        with _db(db_url).session() as session:
            set_password(session, name, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {name.lower()} changed")


@main.group()
def wbxml() -> None:
    """Convert EAS WBXML to XML and back (like libwbxml's wbxml2xml / xml2wbxml).

    OPAQUE data (MIME, bodies, conversation ids) appears in the XML as base64 inside an element
    marked opaque="base64".
    """


def _read(path: str | None) -> bytes:
    if path in (None, "-"):
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


@wbxml.command("decode")
@click.argument("file", required=False)
def wbxml_decode(file) -> None:
    """Print FILE (or stdin) as XML."""
    from easlab.eas.wbxml import WBXMLError, decode, to_xml

    try:
        click.echo(to_xml(decode(_read(file))), nl=False)
    except WBXMLError as exc:
        raise click.ClickException(str(exc)) from None


@wbxml.command("encode")
@click.argument("file", required=False)
def wbxml_encode(file) -> None:
    """Write FILE (or stdin), XML as `decode` prints it, as WBXML to stdout."""
    from easlab.eas.wbxml import WBXMLError, encode, from_xml

    try:
        data = encode(from_xml(_read(file)))
    except WBXMLError as exc:
        raise click.ClickException(str(exc)) from None
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _register() -> None:
    from .cli_access import org, rule
    from .cli_client import client
    from .cli_device import device
    from .cli_import import import_command
    from .cli_policy import policy
    from .cli_testing import fault, trace

    device.add_command(trace)
    for command in (import_command, policy, device, org, rule, client, fault):
        main.add_command(command)
    from .cli_directory import extend_user_commands

    extend_user_commands(user, user_set)


_register()

if __name__ == "__main__":
    main()
