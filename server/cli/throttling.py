"""`easlab throttling`: Set-ThrottlingPolicy's EAS part and the auto-block thresholds
(Set-ActiveSyncDeviceAutoblockThreshold); a running server reads them again at once."""
from __future__ import annotations

import json

import click

from easlab.eas.autoblock import BEHAVIORS

from .common import db_option, json_option, print_rows, run_admin

# option name: (policy setting, help)
POLICY_OPTIONS = {
    "--max-concurrency": ("eas_max_concurrency", "EasMaxConcurrency: requests of a user at once (a Ping is not counted)."),
    "--max-burst": ("eas_max_burst", "EasMaxBurst, ms: the budget's size."),
    "--recharge-rate": ("eas_recharge_rate", "EasRechargeRate, ms gained per hour."),
    "--cutoff-balance": ("eas_cutoff_balance", "EasCutoffBalance, ms below zero before requests are refused."),
    "--request-charge": ("request_charge", "ms each request takes from the budget (easlab's; Exchange measures)."),
}


@click.group()
def throttling() -> None:
    """Throttling policy (EasMaxConcurrency, the budget) and auto-block thresholds."""


def _show(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    policy = result["policy"]
    for option, (name, _) in POLICY_OPTIONS.items():
        value = policy[name]
        click.echo(f"{option[2:]:<16} {'Unlimited' if value is None else value}")
    click.echo(f"budget           {'on' if policy['budgeted'] else 'off (set max-burst, recharge-rate and cutoff-balance)'}")
    print_rows(result["autoblock"], False, ["behavior", "incidence_limit", "incidence_duration", "block_duration",
                                            "admin_email_insert"])


@throttling.command("show")
@json_option
@db_option
def throttling_show(as_json, db_url) -> None:
    """The throttling policy (Unlimited: not enforced) and every auto-block threshold."""
    _show(run_admin(db_url, lambda admin, actor: admin.throttling_show(actor)), as_json)


def _policy_command():
    def command(db_url, **values) -> None:
        changes = {POLICY_OPTIONS[f"--{k.replace('_', '-')}"][0]: v for k, v in values.items() if v is not None}
        _show(run_admin(db_url, lambda admin, actor: admin.throttling_set(actor, **changes)), False)

    for option, (_, text) in reversed(POLICY_OPTIONS.items()):
        command = click.option(option, default=None, metavar="N|unlimited", help=text)(command)
    return throttling.command("set", help="Change throttling policy settings ('unlimited' clears one).")(
        db_option(command))


_policy_command()


@throttling.command("autoblock")
@click.argument("behavior", type=click.Choice(BEHAVIORS, case_sensitive=False))
@click.option("--limit", type=int, default=None, help="BehaviorTypeIncidenceLimit: incidences allowed (0: off).")
@click.option("--duration", type=int, default=None, help="BehaviorTypeIncidenceDuration, minutes.")
@click.option("--block", type=int, default=None, help="DeviceBlockDuration, minutes.")
@click.option("--admin-email-insert", default=None, metavar="TEXT", help="AdminEmailInsert (256 max).")
@db_option
def throttling_autoblock(behavior, limit, duration, block, admin_email_insert, db_url) -> None:
    """Set BEHAVIOR's auto-block threshold (Set-ActiveSyncDeviceAutoblockThreshold)."""
    _show(run_admin(db_url, lambda admin, actor: admin.autoblock_set(
        actor, behavior, incidence_limit=limit, incidence_duration=duration, block_duration=block,
        admin_email_insert=admin_email_insert)), False)
