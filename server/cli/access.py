"""`easlab org` and `easlab rule`: organisation settings and device access rules."""
from __future__ import annotations

import json

import click

from .common import db_option, json_option, print_rows, run_admin


@click.group()
def org() -> None:
    """Organisation settings (Exchange's ActiveSyncOrganizationSettings)."""


@org.command("show")
@json_option
@db_option
def org_show(as_json, db_url) -> None:
    """The settings, and any reason admin mails would not go out."""
    result = run_admin(db_url, lambda admin, actor: admin.org_show(actor))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"default access:        {result['default_access']}")
    click.echo(f"admin mail recipients: {', '.join(result['admin_mail_recipients']) or '(none)'}")
    click.echo(f"user mail insert:      {result['user_mail_insert'] or '(none)'}")
    click.echo(f"max devices per user:  {result['max_devices']}")
    click.echo(f"blocked delay:         {result['blocked_delay']} s")
    click.echo(f"discovery window:      {result['discovery_minutes']} min")
    for warning in result["warnings"]:
        click.echo(f"WARNING: {warning}")


@org.command("set")
@click.option("--default-access", type=click.Choice(["allow", "block", "quarantine"], case_sensitive=False), default=None)
@click.option("--admin-mail", multiple=True, metavar="ADDR", help="Admin recipient (repeat; replaces the list; '' clears).")
@click.option("--user-mail-insert", default=None, metavar="TEXT", help="HTML paragraph added to the user's notice (256 max).")
@click.option("--max-devices", type=int, default=None, help="Partnerships per user (Exchange: 100).")
@click.option("--blocked-delay", type=int, default=None, metavar="SECONDS", help="Hold blocked answers this long (0: off).")
@click.option("--discovery-minutes", type=int, default=None, help="DeviceDiscovery window (Exchange: 14).")
@db_option
def org_set(default_access, admin_mail, user_mail_insert, max_devices, blocked_delay, discovery_minutes, db_url) -> None:
    """Change organisation settings; devices meet them at their next request."""
    result = run_admin(db_url, lambda admin, actor: admin.org_set(
        actor, default_access=default_access, admin_mail=list(admin_mail) if admin_mail else None,
        user_mail_insert=user_mail_insert, max_devices=max_devices, blocked_delay=blocked_delay,
        discovery_minutes=discovery_minutes))
    click.echo(f"default access {result['default_access']}; admin mail to {', '.join(result['valid_admin_mail_recipients']) or 'no one'}")
    for warning in result["warnings"]:
        click.echo(f"WARNING: {warning}", err=True)


@click.group()
def rule() -> None:
    """Device access rules (ActiveSyncDeviceAccessRule)."""


@rule.command("add")
@click.argument("characteristic", type=click.Choice(["DeviceType", "DeviceModel", "DeviceOS", "UserAgent", "XMSWLHeader"], case_sensitive=False))
@click.argument("query")
@click.argument("access", type=click.Choice(["allow", "block", "quarantine"], case_sensitive=False))
@db_option
def rule_add(characteristic, query, access, db_url) -> None:
    """A rule matching CHARACTERISTIC equal to QUERY (whole string, any case); named "QUERY (CHARACTERISTIC)"."""
    result = run_admin(db_url, lambda admin, actor: admin.rule_add(actor, characteristic, query, access))
    click.echo(f"added rule {result['name']}: {result['access_level']}")


@rule.command("list")
@json_option
@db_option
def rule_list(as_json, db_url) -> None:
    rows = run_admin(db_url, lambda admin, actor: admin.rule_list(actor))
    print_rows(rows, as_json, ["name", "characteristic", "query", "access_level", "created_at"])


@rule.command("set")
@click.argument("name")
@click.argument("access", type=click.Choice(["allow", "block", "quarantine"], case_sensitive=False))
@db_option
def rule_set(name, access, db_url) -> None:
    """Change a rule's access level (the only thing Exchange lets you change)."""
    result = run_admin(db_url, lambda admin, actor: admin.rule_set(actor, name, access))
    click.echo(f"rule {result['name']}: {result['access_level']}")


@rule.command("remove")
@click.argument("name")
@db_option
def rule_remove(name, db_url) -> None:
    run_admin(db_url, lambda admin, actor: admin.rule_remove(actor, name))
    click.echo(f"removed rule {name}")
