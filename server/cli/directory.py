"""Directory fields on the CLI: `easlab user set` learns the GAL's fields, `easlab user show` prints them.

`extend_user_commands(user, user_set)` adds the options to the existing `user set` command (its own
options and output stay as they are; the directory change is made after it succeeded) and adds
`user show NAME` to the group.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json

import click

from .common import _db, db_option, run_admin, server_domain

MAX_PICTURE = 100 * 1024  # Active Directory's limit for thumbnailPhoto

# option name -> UserDirectory column
TEXT_OPTIONS = {
    "first_name": "--first-name", "last_name": "--last-name", "phone": "--phone", "office": "--office",
    "title": "--title", "company": "--company", "home_phone": "--home-phone", "mobile_phone": "--mobile-phone",
    "external_address": "--external-address",
}
HELP = {
    "external_address": "Make NAME a mail user whose mail goes to this outside address (Autodiscover "
                        "redirects there); '' clears it.",
}


def read_certificate(path: str) -> bytes:
    """DER of the certificate in `path` (PEM or DER)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if b"-----BEGIN CERTIFICATE-----" in data:
        body = data.split(b"-----BEGIN CERTIFICATE-----", 1)[1].split(b"-----END CERTIFICATE-----", 1)[0]
        try:
            data = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise click.ClickException(f"{path}: the PEM block is not base64") from None
    try:
        from cryptography import x509

        x509.load_der_x509_certificate(data)
    except ImportError:
        if not data.startswith(b"\x30"):
            raise click.ClickException(f"{path}: not a DER or PEM certificate") from None
    except ValueError:
        raise click.ClickException(f"{path}: not a DER or PEM certificate") from None
    return data


def read_picture(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) > MAX_PICTURE:
        raise click.ClickException(f"{path}: {len(data)} bytes; a directory photo holds at most {MAX_PICTURE}")
    return data


def _options() -> list[click.Option]:
    out = [click.Option([flag], default=None, help=HELP.get(key, f"Directory {flag[2:].replace('-', ' ')} ('' clears it)."))
           for key, flag in TEXT_OPTIONS.items()]
    out += [
        click.Option(["--picture"], type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Directory photo (JPEG), for GAL and ResolveRecipients pictures."),
        click.Option(["--no-picture"], is_flag=True, default=False, help="Remove the directory photo."),
        click.Option(["--certificate"], type=click.Path(exists=True, dir_okay=False), default=None,
                     help="S/MIME certificate (PEM or DER) that ResolveRecipients hands out."),
        click.Option(["--no-certificate"], is_flag=True, default=False, help="Remove the S/MIME certificate."),
    ]
    return out


DIRECTORY_PARAMS = (*TEXT_OPTIONS, "picture", "no_picture", "certificate", "no_certificate")


def apply_directory(db_url: str | None, name: str, values: dict) -> list[str]:
    """Store the given directory options of user NAME; returns the names of the fields changed."""
    picture = read_picture(values["picture"]) if values.get("picture") else (b"" if values.get("no_picture") else None)
    certificate = (read_certificate(values["certificate"]) if values.get("certificate")
                   else (b"" if values.get("no_certificate") else None))
    fields = {key: values.get(key) for key in TEXT_OPTIONS}
    if all(value is None for value in (*fields.values(), picture, certificate)):
        return []
    done = run_admin(db_url, lambda admin, actor: admin.user_directory_set(actor, name, picture=picture,
                                                                           certificate=certificate, **fields))
    return done["changed"]


def extend_user_set(command: click.Command) -> click.Command:
    """Give `user set` the directory options."""
    if any(p.name == "phone" for p in command.params):
        return command  # already extended
    command.params[-1:-1] = _options()  # before --db, which stays last in the help
    original = command.callback

    @functools.wraps(original)
    def callback(**kwargs):
        values = {key: kwargs.pop(key) for key in DIRECTORY_PARAMS}
        if values["picture"] and values["no_picture"] or values["certificate"] and values["no_certificate"]:
            raise click.UsageError("--picture/--certificate and their --no- forms exclude each other")
        original(**kwargs)
        changed = apply_directory(kwargs.get("db_url"), kwargs["name"], values)
        if changed:
            click.echo(f"{kwargs['name'].strip().lower()}: directory {', '.join(c.replace('_', ' ') for c in changed)} set")

    command.callback = callback
    command.help = (command.help or "").rstrip(".") + ", or directory fields (the GAL's)."
    return command


@click.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def user_show(name, as_json, db_url) -> None:
    """Show user NAME with its directory fields (what the GAL shows)."""
    from easlab.storage.directory import directory_dict, get_directory
    from easlab.storage.users import get_user

    db = _db(db_url)
    with db.session() as session:
        user = get_user(session, name)
        if user is None:
            raise click.ClickException(f"no user {name}")
        row = directory_dict(user, get_directory(session, user), server_domain(db))
    if as_json:
        click.echo(json.dumps(row, indent=2))
        return
    for key, value in row.items():
        if value not in ("", 0):
            click.echo(f"{key.replace('_', ' ') + ':':<18} {value}")


def extend_user_commands(group: click.Group, user_set: click.Command) -> None:
    extend_user_set(user_set)
    if "show" not in group.commands:
        group.add_command(user_show)
