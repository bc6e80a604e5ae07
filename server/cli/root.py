"""The `easlab` command: the root group and `serve`; each other group is a module of this package.

The other groups are imported when one is run (LazyGroup), and every command imports the store and
the server inside its body: `easlab --help` and `--version` import click and nothing of easlab's
libraries (SQLAlchemy alone costs more CPU than the whole of `--help` may).
"""
from __future__ import annotations

import importlib

import click

from .common import db_option

# name -> (module of this package, its attribute, the command's short help); `easlab --help`
# lists the commands from this table, so listing them imports none (test_cli_start keeps the
# texts equal to the commands' own).
LAZY = {
    "client": ("client", "client", "A simulated ActiveSync device talking to URL as USER."),
    "conformance": ("conformance", "conformance",
                    "Per protocol: requirements, covered by a `req`-marked test, not applicable, open."),
    "db": ("schema", "db", "The database's schema revision: show it, upgrade it to this easlab's."),
    "device": ("device", "device", "Device partnerships: list, allow, block, revoke, wipe, remove, explain."),
    "document": ("document", "document", "The document library: folders and documents devices Search and fetch."),
    "fault": ("testing", "fault",
              "Injected faults: what a user's or device's requests (or a recipient's mail) get instead."),
    "import": ("imports", "import_command", "Import the messages of PATH into a folder of USER."),
    "org": ("access", "org", "Organisation settings (Exchange's ActiveSyncOrganizationSettings)."),
    "policy": ("policy", "policy", "Mobile device mailbox policies (Exchange's MobileDeviceMailboxPolicy)."),
    "rights": ("rights", "rights", "Rights policy templates (IRM) devices are offered, and IRM on or off."),
    "rule": ("access", "rule", "Device access rules (ActiveSyncDeviceAccessRule)."),
    "throttling": ("throttling", "throttling",
                   "Throttling policy (EasMaxConcurrency, the budget) and auto-block thresholds."),
    "user": ("user", "user", "Manage users (mailboxes)."),
    "wbxml": ("wbxml", "wbxml", "Convert EAS WBXML to XML and back (like libwbxml's wbxml2xml / xml2wbxml)."),
}


def _wire_user(user: click.Group) -> None:
    from .directory import extend_user_commands
    from .user import user_set

    extend_user_commands(user, user_set)


def _wire_device(device: click.Group) -> None:
    from .testing import trace

    device.add_command(trace)


# what a group gains from other modules once it is imported
WIRING = {"user": _wire_user, "device": _wire_device}


class LazyGroup(click.Group):
    """A group whose LAZY commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY:
            module, attribute, _ = LAZY[cmd_name]
            command = getattr(importlib.import_module(f".{module}", __package__), attribute)
            if cmd_name in WIRING:
                WIRING[cmd_name](command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, with the table's help for the commands not imported yet."""
        def shown(name: str) -> click.Command:
            return self.commands.get(name) or click.Command(name, help=LAZY[name][2])

        commands = [(name, shown(name)) for name in self.list_commands(ctx)]
        commands = [(name, command) for name, command in commands if not command.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="easlab", prog_name="easlab", message="%(prog)s %(version)s")
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
    from .database import open_database, shown, sqlite_path

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
              help="Relay for mail to other domains (default: keep it in the outbound queue); STARTTLS when offered, "
                   "AUTH with EASLAB_SMARTHOST_USER / EASLAB_SMARTHOST_PASSWORD, EASLAB_SMARTHOST_CA: its CA file.")
@click.option("--trust-store", envvar="EASLAB_TRUST_STORE", default=None, type=click.Path(file_okay=False),
              help="Folder of PEM files: the root certificates ValidateCert trusts (default: none).")
@click.option("--tls", is_flag=True, envvar="EASLAB_TLS",
              help="Serve HTTPS too, with a lab CA made once in the data folder (phones trust it once).")
@click.option("--https-port", envvar="EASLAB_HTTPS_PORT", default=8443, show_default=True, type=int,
              help="HTTPS port with --tls (0: any free port).")
@click.option("--tls-cert", envvar="EASLAB_TLS_CERT", default=None, metavar="FILE",
              help="The lab's own PEM certificate (chain) for HTTPS instead of the lab CA's; implies --tls.")
@click.option("--tls-key", envvar="EASLAB_TLS_KEY", default=None, metavar="FILE", help="The PEM key of --tls-cert.")
@click.option("--demo", is_flag=True, help="Load the demo users and their mail first (as `easlab demo`).")
@click.option("--auth-lockout/--no-auth-lockout", envvar="EASLAB_AUTH_LOCKOUT", default=None,
              help="Refuse logons to an account (or from an address) for a while after repeated wrong passwords, "
                   "as Active Directory's lockout (default: on).")
@click.option("--test-clock", is_flag=True,
              help="Run on a clock that stands still until an org-admin moves it (GET /api/clock, POST "
                   "/api/clock/advance or /api/clock/set): for tests of time-based behaviour. Not for phones in use.")
@click.option("--workers", envvar="EASLAB_WORKERS", default=1, show_default=True, type=click.IntRange(min=1),
              help="Server processes sharing the ports and the store (PostgreSQL only).")
def serve(host, port, db_url, domain, public_url, log_level, smtp_port, smarthost, trust_store,
          tls, https_port, tls_cert, tls_key, demo, auth_lockout, test_clock, workers) -> None:
    """Start the server: EAS over HTTP (and HTTPS with --tls) and SMTP for inbound mail."""
    import logging

    from ..runner import run

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..runner import StartupError

    from .common import _settings
    from .database import Refused, open_database, resolve_url

    if bool(tls_cert) != bool(tls_key):
        raise Refused("--tls-cert and --tls-key go together: the certificate and its private key")
    if workers > 1 and resolve_url(db_url).startswith("sqlite"):
        raise Refused(f"--workers {workers} needs PostgreSQL: SQLite takes one writing process; "
                      "serve with --db postgresql://USER@HOST/DB, or drop --workers")
    if workers > 1 and test_clock:
        raise Refused(f"--test-clock is one process's clock, moved through its own API: drop --workers {workers} "
                      "or --test-clock")
    db = open_database(db_url, create=True)  # before logging starts: a refusal is one line
    if demo:
        _load_demo(db)
    db.dispose()
    settings = _settings(host=host, port=port, db_url=db.url, domain=domain, public_url=public_url,
                         smtp_port=smtp_port, smarthost=smarthost, trust_store=trust_store, auth_lockout=auth_lockout,
                         test_clock=test_clock or None,
                         tls=tls or bool(tls_cert), https_port=https_port, tls_cert=tls_cert, tls_key=tls_key)
    try:
        if workers > 1:
            from ..workers import run_workers

            run_workers(settings, workers)
        else:
            run(settings)
    except KeyboardInterrupt:
        pass
    except StartupError as exc:
        raise Refused(str(exc)) from None


def _load_demo(db) -> None:
    from ..demo import load_demo
    from .common import admin_for

    for line in load_demo(db, admin=admin_for(db)):
        click.echo(f"demo: {line}")


@main.command()
@db_option
def demo(db_url) -> None:
    """Add the demo users (alice, bob, carol) with mail, a calendar, contacts and tasks from
    fixtures/demo; users that exist already are left as they are."""
    from .database import open_database

    db = open_database(db_url)
    try:
        _load_demo(db)
    finally:
        db.dispose()
