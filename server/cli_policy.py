"""`easlab policy`: mobile device mailbox policies, one flag per Exchange parameter."""
from __future__ import annotations

import json
import re
from dataclasses import fields

import click

from easlab.eas.policy import ENUMS, PolicySettings, provision_doc
from easlab.eas.policy import UNITS as POLICY_UNITS
from easlab.eas.versions import has

from .cli_common import _db, db_option, json_option, print_rows, tell_server

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


def _notify(db, policy_row) -> None:
    from easlab.storage.policies import users_of

    with db.session() as session:
        users = users_of(session, policy_row)
    tell_server(db, {"event": "policy", "users": users})


@policy.command("add")
@click.argument("name")
@click.option("--default", "make_default", is_flag=True, help="Make this the default policy.")
@setting_options
@db_option
def policy_add(name, make_default, db_url, **values) -> None:
    """Create policy NAME (unset parameters take Exchange's schema defaults)."""
    from easlab.storage.policies import PolicyError, add_policy

    settings = PolicySettings(**_changes(values))
    db = _db(db_url)
    try:
        with db.session() as session:
            row = add_policy(session, name, settings, default=make_default)
    except (PolicyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _notify(db, row)
    click.echo(f"added policy {name}" + (" (default)" if make_default else ""))


@policy.command("set")
@click.argument("name")
@click.option("--default", "make_default", is_flag=True, help="Make this the default policy.")
@setting_options
@db_option
def policy_set(name, make_default, db_url, **values) -> None:
    """Change parameters of policy NAME; devices under it re-provision at their next request."""
    from easlab.storage.policies import PolicyError, update_policy

    db = _db(db_url)
    try:
        with db.session() as session:
            row = update_policy(session, name, _changes(values), default=make_default)
    except (PolicyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _notify(db, row)
    click.echo(f"changed policy {name}")


@policy.command("show")
@click.argument("name")
@click.option("--version", "version", default="14.1", show_default=True, help="Protocol version of the document shown.")
@json_option
@db_option
def policy_show(name, version, as_json, db_url) -> None:
    """The parameters of NAME and the EASProvisionDoc a device of --version receives."""
    from easlab.eas.policy import policy_key, wap_doc
    from easlab.eas.wbxml import to_xml
    from easlab.storage.policies import get_policy

    with _db(db_url).session() as session:
        row = get_policy(session, name)
        if row is None:
            raise click.ClickException(f"no policy {name!r}")
        settings = PolicySettings.from_json(row.settings)
        is_default = row.is_default
    doc = wap_doc(settings) if has(version, "wap_policy_doc") else to_xml(provision_doc(settings, version))
    if as_json:
        click.echo(json.dumps({"name": name, "default": is_default, "settings": settings.__dict__,
                               "policy_key": policy_key(settings, version), "document": doc}, indent=2))
        return
    click.echo(f"{name}{' (default)' if is_default else ''}")
    for key, value in settings.__dict__.items():
        shown = "Unlimited" if value is None else value
        click.echo(f"  {key:<42} {shown}{' ' + UNITS[key].lower() if key in UNITS and value is not None else ''}")
    click.echo(f"\nPolicyKey for {version}: {policy_key(settings, version)}\n")
    click.echo(doc)


@policy.command("list")
@json_option
@db_option
def policy_list(as_json, db_url) -> None:
    """All policies."""
    from easlab.storage.policies import list_policies, users_of

    with _db(db_url).session() as session:
        rows = [{"name": p.name, "default": p.is_default, "users": len(users_of(session, p)),
                 "changed_at": p.changed_at.isoformat(timespec="seconds")} for p in list_policies(session)]
    print_rows(rows, as_json, ["name", "default", "users", "changed_at"])


@policy.command("assign")
@click.argument("user_name")
@click.argument("name")
@db_option
def policy_assign(user_name, name, db_url) -> None:
    """Apply policy NAME to USER instead of the default."""
    from easlab.storage.policies import PolicyError, assign_policy
    from easlab.storage.users import get_user

    db = _db(db_url)
    try:
        with db.session() as session:
            user = get_user(session, user_name)
            if user is None:
                raise PolicyError(f"no user {user_name}")
            assign_policy(session, user, name)
            user_id = user.id
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    tell_server(db, {"event": "policy", "users": [user_id]})
    click.echo(f"{user_name} now has policy {name}")
