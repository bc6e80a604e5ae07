"""`easlab rights`: Information Rights Management as a lab sees it without an RMS server (MS-ASRM
emulation, eas/rights.py): the rights policy templates devices are offered, and IRM on or off."""
from __future__ import annotations

import click

from .common import db_option, json_option, print_rows, run_admin

# Kept here, not imported from eas.rights: `easlab --help` builds this group's help without it.
RIGHT_NAMES = ("edit", "export", "extract", "forward", "print", "programmatic", "reply", "reply_all")
COLUMNS = ["template_id", "name", "builtin", "rights", "expiry_days"]


def _rows(view: dict) -> list[dict]:
    return [{**t, "rights": ",".join(r for r in RIGHT_NAMES if t.get(r)) or "(none)"} for t in view["templates"]]


def _show(view: dict, as_json: bool) -> None:
    if as_json:
        print_rows([view], True, [])
        return
    click.echo(f"IRM: {'on' if view['enabled'] else 'off'}")
    print_rows(_rows(view), False, COLUMNS)


@click.group()
def rights() -> None:
    """Rights policy templates (IRM) devices are offered, and IRM on or off."""


@rights.command("show")
@json_option
@db_option
def rights_show(as_json, db_url) -> None:
    """Whether IRM is on, and every template (the built-in ones first)."""
    _show(run_admin(db_url, lambda admin, actor: admin.rights_show(actor)), as_json)


@rights.command("add")
@click.argument("template_id")
@click.argument("name")
@click.option("--description", default="", help="TemplateDescription (default: the name).")
@click.option("--allow", "allow", multiple=True, type=click.Choice(RIGHT_NAMES),
              help="A right recipients who are not the owner get (repeat; none: read only).")
@click.option("--expiry-days", type=click.IntRange(min=1), default=None,
              help="Days a protected message can be read after it is sent (default: no expiry).")
@db_option
def rights_add(template_id, name, description, allow, expiry_days, db_url) -> None:
    """Add a template TEMPLATE_ID (a GUID) named NAME, as an administrator imports one from RMS."""
    view = run_admin(db_url, lambda admin, actor: admin.rights_add(actor, template_id, name, description,
                                                                   allow=list(allow), expiry_days=expiry_days))
    _show(view, False)


@rights.command("remove")
@click.argument("template_id")
@db_option
def rights_remove(template_id, db_url) -> None:
    """Remove the template TEMPLATE_ID (the built-in ones stay)."""
    _show(run_admin(db_url, lambda admin, actor: admin.rights_remove(actor, template_id)), False)


@rights.command("enable")
@click.argument("state", type=click.Choice(["on", "off"]))
@db_option
def rights_enable(state, db_url) -> None:
    """Switch IRM on or off: off, devices are offered no templates and protected sends get 168."""
    _show(run_admin(db_url, lambda admin, actor: admin.rights_enable(actor, state == "on")), False)
