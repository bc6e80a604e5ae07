"""`easlab fault ...` and `easlab device trace ...`: the test tools from the shell.

Both write to the database; a running server reads faults and trace switches on every request,
so a change reaches it at the device's next request without a restart or a control event.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from .common import _db, db_option, json_option, print_rows, run_admin

KIND_OPTIONS = {
    # kind: (option -> parameter) for the options that mean something for it
    "throttle": {"status": "status", "retry_after": "retry_after", "message": "reason"},
    "reprovision": {"status": "status"},
    "unauthorized": {"message": "realm"},
    "block": {"message": "reason", "seconds": "seconds"},
    "delay": {"seconds": "seconds"},
    "drop": {"seconds": "seconds", "bytes": "bytes"},
    "smtp": {"status": "status", "message": "message", "stage": "stage"},
}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fail(exc: Exception):
    raise click.ClickException(str(exc).strip("'\"")) from None


def _checked(operation):
    """`operation(admin, actor)` with a FaultError shown as these commands always showed it."""
    from easlab.storage.faults import FaultError

    def run(admin, actor):
        try:
            return operation(admin, actor)
        except FaultError as exc:
            _fail(exc)

    return run


@click.group()
def fault() -> None:
    """Injected faults: what a user's or device's requests (or a recipient's mail) get instead.

    \b
    Kinds:
      throttle      HTTP 503 + Retry-After + X-MS-ASThrottle   (--status --retry-after --message=reason)
      reprovision   449 (<=12.1) or Status 142 in the body     (--status 140-144)
      unauthorized  401 + WWW-Authenticate                     (--message=realm)
      block         Status 129 / 403 + X-MS-ASThrottle         (--message=reason --seconds=tarpit)
      delay         the answer held SECONDS                    (--seconds)
      drop          headers + part of the body, then the connection is closed (--bytes --seconds)
      smtp          a 4xx/5xx reply for a recipient user       (--status --message --stage rcpt|data)
    """


@fault.command("add")
@click.argument("kind", type=click.Choice(sorted(KIND_OPTIONS)))
@click.option("--user", default=None, help="Only this user (for smtp: the recipient).")
@click.option("--device", "device_id", default=None, help="Only this DeviceId.")
@click.option("--command", default=None, help="Only this EAS command (Sync, Ping, FolderSync...).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Fire this many times, then stop.")
@click.option("--for", "duration", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Fire during this many seconds from now.")
@click.option("--status", type=int, default=None, help="HTTP status (throttle), 140-144 (reprovision), SMTP code (smtp).")
@click.option("--retry-after", type=click.IntRange(min=0), default=None, help="Retry-After seconds (throttle).")
@click.option("--seconds", type=click.FloatRange(min=0), default=None, help="Delay, tarpit or wait before dropping.")
@click.option("--bytes", "byte_count", type=click.IntRange(min=0), default=None, help="Body bytes sent before a drop.")
@click.option("--stage", type=click.Choice(["rcpt", "data"]), default=None, help="Where an smtp fault answers.")
@click.option("--message", default=None, help="X-MS-ASThrottle reason, realm, or SMTP reply text.")
@json_option
@db_option
def fault_add(kind, user, device_id, command, count, duration, status, retry_after, seconds, byte_count, stage, message,
              as_json, db_url) -> None:
    """Add a fault of KIND (see `easlab fault --help`)."""
    given = {"status": status, "retry_after": retry_after, "seconds": seconds, "bytes": byte_count, "stage": stage,
             "message": message}
    allowed = KIND_OPTIONS[kind]
    wrong = [f"--{name.replace('_', '-')}" for name, value in given.items() if value is not None and name not in allowed]
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not apply to a {kind} fault")
    params = {allowed[name]: value for name, value in given.items() if value is not None}
    view = run_admin(db_url, _checked(lambda admin, actor: admin.fault_add(
        actor, kind, user=user, device_id=device_id, command=command, params=params, count=count, seconds=duration)))
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(f"fault {view['id']}: {describe(view)}")


def describe(view: dict) -> str:
    who = " ".join(f"{k}={view[k]}" for k in ("user", "device_id", "command") if view.get(k)) or "everyone"
    params = ", ".join(f"{k}={v}" for k, v in view["params"].items() if v is not None)
    limits = []
    if view["remaining"] is not None:
        limits.append(f"{view['remaining']} more time{'s' if view['remaining'] != 1 else ''}")
    if view["expires_at"]:
        limits.append(f"until {view['expires_at']}")
    return (f"{view['kind']} ({params}) for {who}; " + (", ".join(limits) if limits else "until removed")
            + f"; {view['state']}, {view['hits']} hit{'s' if view['hits'] != 1 else ''}")


@fault.command("list")
@json_option
@db_option
def fault_list(as_json, db_url) -> None:
    """Every fault with its state (active, spent, expired) and how often it fired."""
    from easlab.storage.faults import list_faults

    with _db(db_url).session() as session:
        rows = list_faults(session, _now())
    for row in rows:
        row["params"] = row["params"] if as_json else ", ".join(f"{k}={v}" for k, v in row["params"].items())
    print_rows(rows, as_json, ["id", "kind", "user", "device_id", "command", "params", "remaining", "expires_at", "state",
                               "hits"])


@fault.command("remove")
@click.argument("fault_id", type=int)
@db_option
def fault_remove(fault_id, db_url) -> None:
    """Remove fault ID."""
    run_admin(db_url, lambda admin, actor: admin.fault_remove(actor, fault_id))
    click.echo(f"fault {fault_id} removed")


@fault.command("clear")
@click.option("--user", default=None, help="Only this user's faults.")
@db_option
def fault_clear(user, db_url) -> None:
    """Remove every fault (or every fault of one user)."""
    removed = run_admin(db_url, lambda admin, actor: admin.faults_clear(actor, user))
    click.echo(f"{removed} fault{'s' if removed != 1 else ''} removed")


# -- easlab device trace ---------------------------------------------------------------------------
@click.command("trace")
@click.argument("user_name")
@click.argument("device_id")
@click.argument("action", type=click.Choice(["on", "off", "show", "export", "clear"]))
@click.argument("folder", required=False)
@click.option("--max-entries", type=click.IntRange(min=1), default=None, help="Ring size in exchanges (on; default 200).")
@click.option("--max-bytes", type=click.IntRange(min=1024), default=None, help="Ring size in bytes (on; default 5 MB).")
@click.option("--last", type=click.IntRange(min=1), default=None, help="Show only the last N exchanges.")
@click.option("--bodies", is_flag=True, help="Show the decoded XML of each request and answer.")
@json_option
@db_option
def trace(user_name, device_id, action, folder, max_entries, max_bytes, last, bodies, as_json, db_url) -> None:
    """Trace DEVICE_ID of USER: on, off, show, export FOLDER (a replayable fixture), clear.

    Every request and answer is kept with headers (Authorization redacted), bodies and timing,
    in a ring of the last 200 exchanges or 5 MB (change with --max-entries/--max-bytes)."""
    from .. import traces

    if action in ("on", "off"):
        row = run_admin(db_url, _checked(lambda admin, actor: admin.trace_set(
            actor, user_name, device_id, action == "on", max_entries=max_entries, max_bytes=max_bytes)))
        bounds = f" (last {row['max_entries']} exchanges, at most {row['max_bytes']} bytes)" if action == "on" else ""
        click.echo(f"trace of {user_name.lower()}/{device_id} {action}{bounds}")
        return
    if action == "clear":
        removed = run_admin(db_url, lambda admin, actor: admin.trace_clear(actor, user_name, device_id))
        click.echo(f"{removed} exchanges removed from the trace of {user_name.lower()}/{device_id}")
        return
    if action == "export":
        if not folder:
            raise click.UsageError("export needs a FOLDER")
        path = traces.export_fixture(_db(db_url), user_name, device_id, folder)
        count = len(json.loads((path / "index.json").read_text())["exchanges"])
        click.echo(f"{count} exchanges written to {path}")
        return
    view = traces.trace_view(_db(db_url), user_name, device_id, bodies=bodies or as_json, limit=last)
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(f"trace of {view['user']}/{view['device_id']}: {'on' if view['enabled'] else 'off'}, "
               f"{len(view['entries'])} exchanges, {view['bytes']} bytes, {view['dropped']} dropped")
    for e in view["entries"]:
        click.echo(f"#{e['id']} {e['at']} {e['method']} {e['command'] or '-'} -> {e['status']} "
                   f"{e['duration_ms']:.1f} ms, {e['request_size']}/{e['response_size']} bytes"
                   + (f"  [{e['note']}]" if e["note"] else ""))
        if bodies:
            for side in ("request", "response"):
                xml = e.get(f"{side}_xml")
                note = e.get(f"{side}_note")
                if xml or note:
                    click.echo(f"  {side}:")
                    click.echo("    " + (xml or note).rstrip("\n").replace("\n", "\n    "))


__all__ = ["fault", "trace"]
