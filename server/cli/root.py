"""The `easlab` command: the root group and `serve`; each other group is a module of this package."""
from __future__ import annotations

import logging

import click

from .common import _settings, db_option
from .database import Refused, open_database, shown, sqlite_path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Say which database and data folder a command uses (stderr).")
@click.pass_context
def main(ctx, verbose) -> None:
    """easlab: an Exchange ActiveSync server emulator for labs and tests.

    Its data (the database, TLS material, the running server's settings) live in EASLAB_HOME, else
    the user's data folder (~/.local/share/easlab on Linux); --db chooses another database."""
    if verbose:
        from .. import home

        ctx.meta["easlab.verbose"] = True
        click.echo(f"easlab: data folder {home.data_folder()}", err=True)


@main.command()
@db_option
def init(db_url) -> None:
    """Create the database (and the data folder); `serve` does too on its first start."""
    db = open_database(db_url, create=True)
    db.dispose()
    click.echo(f"easlab: database {'already at' if db.existed else 'created at'} {sqlite_path(db.url) or shown(db.url)}")


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
@click.option("--auth-lockout/--no-auth-lockout", envvar="EASLAB_AUTH_LOCKOUT", default=None,
              help="Refuse logons to an account (or from an address) for a while after repeated wrong passwords, "
                   "as Active Directory's lockout (default: on).")
def serve(host, port, db_url, domain, public_url, log_level, smtp_port, smarthost, trust_store, auth_lockout) -> None:
    """Start the server: EAS over HTTP and SMTP for inbound mail."""
    from ..runner import run

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..runner import StartupError

    db = open_database(db_url, create=True)  # before logging starts: a refusal is one line
    db.dispose()
    settings = _settings(host=host, port=port, db_url=db.url, domain=domain, public_url=public_url,
                         smtp_port=smtp_port, smarthost=smarthost, trust_store=trust_store, auth_lockout=auth_lockout)
    try:
        run(settings)
    except StartupError as exc:
        raise Refused(str(exc)) from None


def _register() -> None:
    from .access import org, rule
    from .client import client
    from .conformance import conformance
    from .device import device
    from .imports import import_command
    from .policy import policy
    from .testing import fault, trace
    from .user import user, user_set
    from .wbxml import wbxml

    device.add_command(trace)
    for command in (user, wbxml, import_command, policy, device, org, rule, client, fault, conformance):
        main.add_command(command)
    from .directory import extend_user_commands

    extend_user_commands(user, user_set)


_register()
