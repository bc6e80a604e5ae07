"""`easlab policy`: mobile device mailbox policies, one flag per Exchange parameter.

Every command goes through the administration service (server/admin/service.py), as the web UI
and the API do: the same name and type checks, the same notification of a running server."""
from __future__ import annotations

import json
import re
from dataclasses import fields

import click

from easlab.eas.policy import ENUMS, PolicySettings
from easlab.eas.policy import UNITS as POLICY_UNITS

from .common import db_option, json_option, print_rows, run_admin

# The flags the issue names; every other parameter gets its Exchange name in kebab case
# (AllowStorageCard -> --allow-storage-card).
FLAG_NAMES = {
    "PasswordEnabled": "password-required",
    "AlphanumericPasswordRequired": "alphanumeric-password",
    "MaxInactivityTimeLock": "max-inactivity-lock",
    "MaxPasswordFailedAttempts": "max-failed-attempts",
    "RequireDeviceEncryption": "require-encryption",
    "AllowNonProvisionableDevices": "allow-non-provisionable",
    "DevicePolicyRefreshInterval": "refresh-interval",
    "MinPasswordLength": "min-password-length",
    "PasswordExpiration": "password-expiration",
    "PasswordHistory": "password-history",
    "AllowSimplePassword": "allow-simple-password",
}
UNITS = {setting: unit.upper() for setting, unit in POLICY_UNITS.items()}  # metavars


def flag_name(param: str) -> str:
    return FLAG_NAMES.get(param) or re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "-", param).lower()


class Limit(click.ParamType):
    """A number, or "unlimited"."""

    name = "N|unlimited"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value is None:
            return value
        if str(value).lower() in ("unlimited", "none", ""):
            return "unlimited"
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not a number or 'unlimited'", param, ctx)


def setting_options(func):
    """Decorate a command with one option per PolicySettings field (all default to "not given")."""
    for f in reversed(fields(PolicySettings)):
        name = flag_name(f.name)
        if f.type in ("bool",):
            option = click.option(f"--{name}/--no-{name}", f.name, default=None, help=f"Exchange {f.name}.")
        elif f.name in ENUMS:
            option = click.option(f"--{name}", f.name, type=click.Choice(list(ENUMS[f.name])), default=None, help=f"Exchange {f.name}.")
        elif f.type.startswith("list"):
            option = click.option(f"--{name}", f.name, multiple=True, default=None, help=f"Exchange {f.name} (repeat; '' clears).")
        elif f.type == "int":
            option = click.option(f"--{name}", f.name, type=int, default=None, metavar="N", help=f"Exchange {f.name}.")
        else:
            option = click.option(f"--{name}", f.name, type=Limit(), default=None, metavar=UNITS.get(f.name, "N|unlimited"),
                                  help=f"Exchange {f.name}" + (f", in {UNITS[f.name].lower()}" if f.name in UNITS else "") + ".")
        func = option(func)
    return func


def _changes(values: dict) -> dict:
    out = {}
    for name, value in values.items():
        if name not in PolicySettings.names() or value is None or value == ():
            continue
        if value == "unlimited":
            value = None
        elif isinstance(value, tuple):
            value = [v for v in value if v]
        out[name] = value
    return out


@click.group()
def policy() -> None:
    """Mobile device mailbox policies (Exchange's MobileDeviceMailboxPolicy)."""


@policy.command("add")
@click.argument("name")
@click.option("--default", "make_default", is_flag=True, help="Make this the default policy.")
@setting_options
@db_option
def policy_add(name, make_default, db_url, **values) -> None:
    """Create policy NAME (unset parameters take Exchange's schema defaults)."""
    row = run_admin(db_url, lambda admin, actor: admin.policy_add(actor, name, _changes(values), default=make_default))
    click.echo(f"added policy {row['name']}" + (" (default)" if make_default else ""))


@policy.command("set")
@click.argument("name")
@click.option("--default", "make_default", is_flag=True, help="Make this the default policy.")
@setting_options
@db_option
def policy_set(name, make_default, db_url, **values) -> None:
    """Change parameters of policy NAME; devices under it re-provision at their next request."""
    row = run_admin(db_url, lambda admin, actor: admin.policy_update(actor, name, _changes(values), default=make_default))
    click.echo(f"changed policy {row['name']}")


def show_text(shown: dict) -> str:
    """`policy show` for a person: the parameters with their units, the PolicyKey and the document."""
    lines = [f"{shown['name']}{' (default)' if shown['default'] else ''}"]
    for key, value in shown["settings"].items():
        unit = f" {UNITS[key].lower()}" if key in UNITS and value is not None else ""
        lines.append(f"  {key:<42} {'Unlimited' if value is None else value}{unit}")
    lines.append(f"\nPolicyKey for {shown['version']}: {shown['policy_key']}\n")
    lines.append(shown["document"])
    return "\n".join(lines)


@policy.command("show")
@click.argument("name")
@click.option("--version", "version", default="14.1", show_default=True, help="Protocol version of the document shown.")
@json_option
@db_option
def policy_show(name, version, as_json, db_url) -> None:
    """The parameters of NAME and the EASProvisionDoc a device of --version receives."""
    shown = run_admin(db_url, lambda admin, actor: admin.policy_show(actor, name, version))
    click.echo(json.dumps(shown, indent=2) if as_json else show_text(shown))


@policy.command("list")
@json_option
@db_option
def policy_list(as_json, db_url) -> None:
    """All policies."""
    rows = run_admin(db_url, lambda admin, actor: admin.policy_list(actor))
    print_rows(rows, as_json, ["name", "default", "users", "changed_at"])


@policy.command("assign")
@click.argument("user_name")
@click.argument("name")
@db_option
def policy_assign(user_name, name, db_url) -> None:
    """Apply policy NAME to USER instead of the default."""
    out = run_admin(db_url, lambda admin, actor: admin.policy_assign(actor, user_name, name))
    click.echo(f"{out['user']} now has policy {out['policy']}")


@policy.command("remove")
@click.argument("name")
@db_option
def policy_remove(name, db_url) -> None:
    """Remove policy NAME; refused while a user has it or while it is the default."""
    run_admin(db_url, lambda admin, actor: admin.policy_remove(actor, name))
    click.echo(f"removed policy {name}")
