"""`easlab client`: a simulated device on the command line, for poking at a running server.

    easlab client --url http://127.0.0.1:8080 --user alice --password secret provision
    easlab client --url ... --user alice --password secret foldersync
    easlab client --url ... --user alice --password secret -v sync Inbox --body-type 2

Keys, folders and the items held survive between invocations in a JSON state file, so each
subcommand continues where the last one stopped.  The default file is per server, user and device
(`client/<server>/<user>-<deviceid>.json` in easlab's data folder): a key one server handed out
means nothing to another, which would answer it with Sync status 3 or FolderSync status 9.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
from pathlib import Path
from typing import Any

import click

from easlab.eas import versions
from easlab.eas.wbxml import WBXMLError, decode, to_xml
from easlab.testing.aio import Device
from easlab.testing.device import (
    DEFAULT_DEVICE_ID,
    DEFAULT_DEVICE_TYPE,
    PING_STATUS_TEXT,
    DeviceState,
    HTTPRequest,
    HTTPResponse,
    Item,
    Result,
    SimulatedDevice,
    UnknownFolder,
)


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text)


def server_key(url: str) -> str:
    """One folder name per server URL: what a person reads (host and port) and a digest of the
    whole normalised URL, so http://Host:80/ and http://host are one server and two paths two."""
    import hashlib
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    normal = f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"
    return f"{_safe(host)}_{port}-{hashlib.sha256(normal.encode()).hexdigest()[:8]}"


def default_state_path(url: str, user: str, device_id: str) -> Path:
    from .. import home

    return home.data_folder() / "client" / server_key(url) / f"{_safe(user.lower())}-{_safe(device_id)}.json"


class Session:
    def __init__(self, url: str, user: str, password: str | None, device_id: str | None, device_type: str | None,
                 version: str | None, state_file: str | None, verbose: bool, insecure: bool):
        self.url = url
        self.user = user
        self.password = password
        self.verbose = verbose
        self.insecure = insecure
        dev = device_id or DEFAULT_DEVICE_ID
        self.path = Path(state_file) if state_file else default_state_path(url, user, dev)
        state = self._load()
        if state is None:
            state = DeviceState(user=user, device_id=dev, device_type=device_type or DEFAULT_DEVICE_TYPE,
                                protocol_version=version or "14.1")
        else:
            if device_id:
                state.device_id = device_id
            if device_type:
                state.device_type = device_type
            if version:
                state.protocol_version = version
        self.state = state

    def _load(self) -> DeviceState | None:
        if not self.path.exists():
            return None
        try:
            return DeviceState.from_dict(json.loads(self.path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, WBXMLError) as exc:
            raise click.ClickException(f"cannot read state file {self.path}: {exc}") from None

    def resolve(self, folder: str) -> str:
        try:
            return SimulatedDevice(state=self.state).resolve(folder)
        except UnknownFolder as exc:
            raise click.ClickException(str(exc.args[0])) from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.state.to_dict(), indent=2))
        os.replace(tmp, self.path)

    def device(self) -> Device:
        if self.password is None:
            self.password = click.prompt(f"Password for {self.user}", hide_input=True)
        return Device(self.url, self.user, self.password, state=self.state, verify=not self.insecure,
                      on_exchange=self._trace if self.verbose else None)

    def _trace(self, request: HTTPRequest, response: HTTPResponse) -> None:
        echo = lambda text="": click.echo(text, err=True)  # noqa: E731
        echo(f">>> {request.method} {request.path_and_query}")
        for name, value in request.headers.items():
            echo(f">>> {name}: {value}")
        if request.body:
            echo(_body_text(request.body, request.headers.get("Content-Type")))
        echo(f"<<< HTTP {response.status}")
        for name, value in response.headers.items():
            echo(f"<<< {name}: {value}")
        if response.body:
            echo(_body_text(response.body, response.header("content-type")))
        echo()

    def run(self, work) -> Any:
        async def go():
            async with self.device() as device:
                try:
                    return await work(device)
                finally:
                    self.save()

        try:
            return asyncio.run(go())
        except UnknownFolder as exc:
            raise click.ClickException(str(exc.args[0])) from None
        except OSError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc}") from None
        except Exception as exc:  # httpx errors
            if type(exc).__module__.startswith("httpx"):
                raise click.ClickException(f"{self.url}: {exc}") from None
            raise


def _body_text(body: bytes, content_type: str | None) -> str:
    if "ms-sync" in (content_type or "") or body[:1] == b"\x03":
        try:
            return to_xml(decode(body)).rstrip("\n")
        except WBXMLError as exc:
            return f"(undecodable WBXML, {len(body)} bytes: {exc})"
    return body[:2000].decode("utf-8", "replace")


def _check(result: Result, what: str) -> None:
    """Explain an HTTP or status failure in words and stop."""
    if result.error:
        raise click.ClickException(f"{what}: {result.error}")
    if result.http_status != 200:
        hint = ""
        if result.http_status == 449:
            hint = " (the server wants `provision` first)"
        elif result.http_status == 401:
            hint = " (wrong user or password)"
        raise click.ClickException(f"{what}: HTTP {result.http_status}{hint}")
    if result.needs_provisioning:
        raise click.ClickException(f"{what}: status {result.status}; run `provision` first")


@click.group("client", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="EASLAB_CLIENT_URL", help="Server base URL, e.g. http://127.0.0.1:8080 (required).")
@click.option("--user", envvar="EASLAB_CLIENT_USER", help="User name (required).")
@click.option("--password", envvar="EASLAB_CLIENT_PASSWORD", default=None, help="Prompted for when a request needs it.")
@click.option("--device-id", default=None, help=f"DeviceId (default {DEFAULT_DEVICE_ID}).")
@click.option("--device-type", default=None, help=f"DeviceType (default {DEFAULT_DEVICE_TYPE}).")
@click.option("--version", "version", type=click.Choice(list(versions.SUPPORTED)), default=None,
              help="MS-ASProtocolVersion (default: the state file's, else 14.1).")
@click.option("--state", "state_file", default=None, help="State file (default: one per server, user and device in the data folder).")
@click.option("-v", "--verbose", is_flag=True, help="Print every request and response as XML (stderr).")
@click.option("-k", "--insecure", is_flag=True, help="Do not verify the server's TLS certificate.")
@click.pass_context
def client(ctx, url, user, password, device_id, device_type, version, state_file, verbose, insecure) -> None:
    """A simulated ActiveSync device talking to URL as USER."""
    def open_session() -> Session:
        for option, value in (("--url", url), ("--user", user)):
            if not value:
                raise click.UsageError(f"Missing option '{option}'.", ctx)
        return Session(url, user, password, device_id, device_type, version, state_file, verbose, insecure)

    # Made when a subcommand runs, not here: `easlab client sync --help` needs neither --url nor --user.
    ctx.obj = open_session


def pass_session(func):
    @functools.wraps(func)
    def run(*args, **kwargs):
        return func(click.get_current_context().obj(), *args, **kwargs)

    return run


@client.command()
@pass_session
def options(session: Session) -> None:
    """OPTIONS: the versions and commands the server offers."""
    result = session.run(lambda d: d.options())
    if result.http_status != 200:
        raise click.ClickException(f"OPTIONS: HTTP {result.http_status}")
    click.echo(f"server:   {result.server_version or '-'}")
    click.echo(f"versions: {', '.join(result.versions) or '-'}")
    click.echo(f"commands: {', '.join(result.commands) or '-'}")


@client.command()
@click.option("--ack-status", default=1, show_default=True, type=int, help="Status sent in the acknowledgement.")
@pass_session
def provision(session: Session, ack_status: int) -> None:
    """Provision in two phases and keep the final policy key."""

    async def work(device: Device):
        first = await device.provision_initial()
        if not first.ok or first.remote_wipe or first.account_only_remote_wipe or device.state.temporary_policy_key is None:
            return first, None
        return first, await device.provision_ack(ack_status)

    first, second = session.run(work)
    if first.http_status != 200 or first.error:
        _check(first, "Provision")
    if first.remote_wipe or first.account_only_remote_wipe:
        kind = "account-only remote wipe" if first.account_only_remote_wipe else "remote wipe"
        click.echo(f"the server requests a {kind} (acknowledge with the API's remote_wipe_ack)")
        return
    click.echo(f"phase 1: status {first.status}, policy status {first.policy_status}, temporary key {first.policy_key}")
    for name, value in first.policy.items():
        click.echo(f"  {name} = {value if value is not None else ''}")
    if isinstance(first.policy_data, str):
        click.echo(f"  {first.policy_data}")
    if second is None:
        raise click.ClickException("nothing to acknowledge")
    click.echo(f"phase 2: status {second.status}, policy status {second.policy_status}, key {second.policy_key}")
    if session.state.policy_key is None or second.status != 1:
        raise click.ClickException("provisioning did not complete")
    click.echo(f"policy key {session.state.policy_key}")


@client.command()
@click.option("--reset", is_flag=True, help="Start over with SyncKey 0.")
@pass_session
def foldersync(session: Session, reset: bool) -> None:
    """FolderSync; prints the folder list."""
    result = session.run(lambda d: d.folder_sync("0" if reset else None))
    _check(result, "FolderSync")
    if result.status != 1:
        raise click.ClickException(f"FolderSync status {result.status}")
    click.echo(f"SyncKey {result.sync_key}: {len(result.added)} added, {len(result.updated)} updated, "
               f"{len(result.deleted)} deleted")
    _print_folders(session.state)


def _print_folders(state: DeviceState) -> None:
    children: dict[str, list] = {}
    for folder in state.folders.values():
        children.setdefault(folder.parent_id, []).append(folder)

    def walk(parent: str, depth: int) -> None:
        for folder in sorted(children.get(parent, []), key=lambda f: f.display_name.lower()):
            key = state.sync_key(folder.server_id)
            click.echo(f"{'  ' * depth}{folder.display_name:<{max(1, 32 - 2 * depth)}} id={folder.server_id:<8} "
                       f"type={folder.type:<3} class={folder.item_class or '-':<9} key={key}")
            walk(folder.server_id, depth + 1)

    roots = [p for p in children if p not in state.folders]
    for root in sorted(roots):
        walk(root, 0)


def _when(item: Item) -> str:
    """Mail: when received; an event: when it starts (Compact DateTime, shown the same way)."""
    if item.date_received:
        return item.date_received[:19].replace("T", " ")
    start = item.text("Calendar:StartTime") or ""
    if len(start) == 16:
        return f"{start[0:4]}-{start[4:6]}-{start[6:8]} {start[9:11]}:{start[11:13]}:{start[13:15]}"
    return ""


def _item_line(server_id: str, item: Item) -> str:
    unread = "" if item.read in (None, True) else " [unread]"
    parts = [f"{server_id:<10}", _when(item).ljust(19)]
    who = item.sender or item.text("Calendar:OrganizerName") or item.text("Contacts:Email1Address") or ""
    parts.append(f"{who[:30]:<30}")
    parts.append((item.subject or "(no subject)") + unread)
    if item.attachments:
        parts.append(f"[{len(item.attachments)} attachment(s)]")
    return "  ".join(parts)


@client.command()
@click.argument("folder")
@click.option("--window", type=int, default=None, help="WindowSize.")
@click.option("--filter", "filter_type", type=int, default=None, help="FilterType (0 all, 1 day, 2 3 days, 3 week, 4 2 weeks, 5 month...).")
@click.option("--body-type", type=click.Choice(["1", "2", "3", "4"]), default=None, help="BodyPreference Type (1 text, 2 HTML, 4 MIME).")
@click.option("--truncate", type=int, default=None, help="BodyPreference TruncationSize in bytes (2.5: Truncation).")
@click.option("--once", is_flag=True, help="One Sync request only (no priming, no MoreAvailable loop).")
@click.option("--show-body", is_flag=True, help="Print the body of each new or changed item.")
@pass_session
def sync(session: Session, folder: str, window, filter_type, body_type, truncate, once, show_body) -> None:
    """Sync FOLDER (a name or ServerId); prints what changed."""
    opts: dict[str, Any] = {}
    if window is not None:
        opts["window_size"] = window
    if filter_type is not None:
        opts["filter_type"] = filter_type
    if body_type is not None or truncate is not None:
        opts["body_preferences"] = [(int(body_type or 1), truncate, None)]

    async def work(device: Device):
        if not device.state.folders:
            fs = await device.folder_sync()
            _check(fs, "FolderSync")
        if once:
            return [await device.sync(folder, **opts)]
        return await device.sync_all(folder, **opts)

    results = session.run(work)
    cid = session.resolve(folder)
    for result in results:
        _check(result, "Sync")
        if result.empty_response:
            click.echo("no changes (empty Sync response)")
            continue
        if result.status != 1:
            extra = "; the collection restarts from SyncKey 0" if result.status == 3 else ""
            raise click.ClickException(f"Sync status {result.status}{extra}")
        for c in result.collections.values():
            for sid in c.added:
                click.echo("+ " + _item_line(sid, Item(c.items[sid])))
                if show_body:
                    click.echo(_indent(Item(c.items[sid]).body))
            for sid in c.changed:
                click.echo("~ " + _item_line(sid, Item(c.items[sid])))
                if show_body:
                    click.echo(_indent(Item(c.items[sid]).body))
            for sid in c.deleted:
                click.echo(f"- {sid}")
            for sid in c.soft_deleted:
                click.echo(f"- {sid} (soft delete)")
            for r in c.responses:
                click.echo(f"  response {r.kind} {r.server_id or r.client_id}: status {r.status}")
    held = session.state.collections.get(cid)
    click.echo(f"SyncKey {held.sync_key if held else '0'}, {len(held.items) if held else 0} item(s) held")


def _indent(text: str | None) -> str:
    return "\n".join("      " + line for line in (text or "(no body)").splitlines())


@client.command()
@click.argument("folder")
@pass_session
def items(session: Session, folder: str) -> None:
    """List the items held for FOLDER (no request)."""
    held = session.state.collections.get(session.resolve(folder))
    for sid, data in (held.items.items() if held else ()):
        click.echo(_item_line(sid, Item(data)))
    click.echo(f"{len(held.items) if held else 0} item(s)")


@client.command()
@click.argument("folders", nargs=-1, required=True)
@click.option("--filter", "filter_type", type=int, default=None, help="FilterType.")
@pass_session
def estimate(session: Session, folders, filter_type) -> None:
    """GetItemEstimate for FOLDERS (names or ServerIds)."""
    result = session.run(lambda d: d.get_item_estimate(list(folders), filter_type=filter_type))
    _check(result, "GetItemEstimate")
    names = {f.server_id: f.display_name for f in session.state.folders.values()}
    for r in result.responses:
        label = names.get(r.collection_id or "", r.collection_id or "?")
        click.echo(f"{label}: {r.estimate if r.estimate is not None else '-'} (status {r.status})")
    if not result.responses:
        click.echo(f"status {result.status}")


@client.command()
@click.argument("folders", nargs=-1)
@click.option("--heartbeat", type=int, default=None, help="HeartbeatInterval in seconds.")
@pass_session
def ping(session: Session, folders, heartbeat) -> None:
    """Ping FOLDERS (none: an empty Ping reusing the last parameters)."""
    result = session.run(lambda d: d.ping(list(folders) if folders else None, heartbeat))
    _check(result, "Ping")
    click.echo(f"status {result.status}: {PING_STATUS_TEXT.get(result.status, 'unknown')}")
    names = {f.server_id: f.display_name for f in session.state.folders.values()}
    for fid in result.folders:
        click.echo(f"  changed: {names.get(fid, fid)} ({fid})")
    if result.heartbeat_interval is not None:
        click.echo(f"  HeartbeatInterval limit {result.heartbeat_interval}")
    if result.max_folders is not None:
        click.echo(f"  MaxFolders {result.max_folders}")


@client.command()
@pass_session
def state(session: Session) -> None:
    """Print the saved device state (no request)."""
    s = session.state
    click.echo(f"state file  {session.path}")
    click.echo(f"device      {s.device_id} ({s.device_type}), EAS {s.protocol_version}, user {s.user}")
    click.echo(f"policy key  {s.policy_key or '-'}")
    click.echo(f"folder key  {s.hierarchy_sync_key}")
    _print_folders(s)
