"""Replay a fixture folder (server/traces.py `export_fixture`) against a server and compare.

    report = await replay("tests/fixtures/ios-first-sync", app_or_url, "alice", "secret")
    assert report.ok, report.summary()

Each recorded request is sent again, in order, with the fixture's query string and headers
(Authorization is made from the password given; Host, Content-Length, Connection and
Accept-Encoding are left to the HTTP client).  The answer must have the recorded status and,
for WBXML bodies, the same decoded tree once volatile values are set aside.

Volatile values, which legitimately differ between two servers fed the same requests:

- `SyncKey` (AirSync and FolderHierarchy) and `PolicyKey` (Provision): a fresh server hands out
  its own keys (the temporary policy key is random).  They are not compared; instead the keys the
  new server hands out are mapped onto the recorded ones, and later requests carry the new
  keys (in the body and in X-MS-PolicyKey), so a replay walks the same key sequence a device
  would.
- dates stamped by the server: `Email:DateReceived`, `Calendar:DtStamp` and
  `Email2:LastVerbExecutionTime`, and `Email2:ConversationId`/`ConversationIndex` (derived from
  them).
- OPAQUE MIME bodies (`AirSyncBase:Data` of Type 4, `Email:MIMEData`): easlab prepends a
  `Received:` header with the delivery time, so their bytes are compared without that header.

Everything else must match exactly: statuses, ServerIds, folder lists, item properties, body
text.  Item ServerIds depend on the order data was created; seed the fresh server the same way
(same users, same messages in the same order) as the one the fixture was recorded on.

Exchanges a fault shaped (their note names a fault) are skipped by default: the fresh server has
no such fault.  An exchange that waited for an outside event (a Ping answered because mail
arrived) replays only if the test reproduces the event: pass `before=` to do that (it is called
with the exchange's number and index entry before each request), or `skip=` the exchange.
"""
from __future__ import annotations

import base64
import difflib
import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx

from easlab.eas.wbxml import Element, WBXMLError, decode, encode, to_xml

KEY_TAGS = {"SyncKey", "PolicyKey"}  # local names; mapped and carried forward
DATE_TAGS = {"DateReceived", "DtStamp", "LastVerbExecutionTime", "ConversationId", "ConversationIndex"}
MIME_TAGS = {"MIMEData"}  # plus AirSyncBase:Data under a Body of Type 4
SKIPPED_REQUEST_HEADERS = {"authorization", "host", "content-length", "connection", "accept-encoding",
                           "transfer-encoding", "cookie"}
VOLATILE = "<volatile>"


@dataclass
class ExchangeResult:
    n: int
    command: str
    expected_status: int
    status: int | None = None
    ok: bool = True
    skipped: str | None = None
    differences: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.skipped:
            return f"{self.n:03d} {self.command}: skipped ({self.skipped})"
        verdict = "ok" if self.ok else "MISMATCH"
        return f"{self.n:03d} {self.command}: {self.status} (recorded {self.expected_status}) {verdict}"


@dataclass
class ReplayReport:
    results: list[ExchangeResult]
    key_map: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def compared(self) -> int:
        return sum(1 for r in self.results if not r.skipped)

    def summary(self) -> str:
        lines = [r.line() for r in self.results]
        for r in self.results:
            if r.differences:
                lines.append(f"--- {r.n:03d} {r.command}")
                lines.extend(r.differences)
        return "\n".join(lines)


def load_fixture(folder: str | Path) -> tuple[Path, list[dict]]:
    folder = Path(folder)
    data = json.loads((folder / "index.json").read_text())
    if not isinstance(data, dict) or "exchanges" not in data:
        raise ValueError(f"{folder}: index.json is not an easlab fixture")
    return folder, data["exchanges"]


# -- volatile values ------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.partition(":")[2]


def _strip_received(data: bytes) -> bytes:
    """MIME without the leading Received: header(s) a delivery stamped on it."""
    return re.sub(rb"\A(?:Received:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n)+", b"", data)


def normalised(tree: Element, ignore: Iterable[str] = ()) -> Element:
    """A copy with volatile values replaced by a marker (see the module's doc)."""
    extra = set(ignore)

    def copy(el: Element, parent: Element | None) -> Element:
        out = Element(el.tag, [], el.value)
        name = _local(el.tag)
        if name in KEY_TAGS or name in DATE_TAGS or el.tag in extra or name in extra:
            out.value = VOLATILE if el.value is not None else None
        elif isinstance(el.value, bytes) and (name in MIME_TAGS or (el.tag == "AirSyncBase:Data" and parent is not None
                                                                    and parent.text("AirSyncBase:Type") == "4")):
            out.value = _strip_received(el.value)
        out.children = [copy(c, el) for c in el.children]
        return out

    return copy(tree, None)


def collect_keys(recorded: Element, actual: Element, into: dict[str, str]) -> None:
    """Pair the SyncKey/PolicyKey values of two answers in document order, per tag."""
    def keys(tree: Element) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for el in tree.iter():
            if _local(el.tag) in KEY_TAGS and isinstance(el.value, str):
                out.setdefault(el.tag, []).append(el.value)
        return out

    theirs = keys(actual)
    for tag, values in keys(recorded).items():
        for old, new in zip(values, theirs.get(tag, [])):
            if old != new and old not in ("0", ""):
                into[old] = new


def rewrite_keys(tree: Element, key_map: dict[str, str]) -> Element:
    for el in tree.iter():
        if _local(el.tag) in KEY_TAGS and isinstance(el.value, str) and el.value in key_map:
            el.value = key_map[el.value]
    return tree


def _rewrite_query(path: str, user: str | None, device_id: str | None) -> str:
    base, sep, query = path.partition("?")
    if not sep or (user is None and device_id is None):
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if len(pairs) <= 1 and "=" not in query:  # the base64 form cannot be rewritten
        return path
    out = []
    for name, value in pairs:
        if name.lower() == "user" and user is not None:
            value = user
        elif name.lower() == "deviceid" and device_id is not None:
            value = device_id
        out.append(f"{quote(name, safe='')}={quote(value, safe='@')}")
    return f"{base}?{'&'.join(out)}"


def _decode(body: bytes) -> Element | None:
    if not body:
        return None
    try:
        return decode(body)
    except WBXMLError:
        return None


def _diff(expected: str, actual: str, limit: int = 40) -> list[str]:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), "recorded", "replayed", lineterm=""))
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])


# -- the replay -------------------------------------------------------------------------------------
async def replay(folder: str | Path, target: str | Any, user: str, password: str, *,
                 device_id: str | None = None, query_user: str | None = None,
                 skip: Iterable[int | str] = (), skip_faulted: bool = True,
                 before: Callable[[int, dict], Any] | None = None, ignore: Iterable[str] = (),
                 timeout: float = 60.0) -> ReplayReport:
    """Send the fixture's requests to `target` (a base URL, with or without
    /Microsoft-Server-ActiveSync, or an ASGI app) as `user`/`password`; compare the answers.

    `device_id` / `query_user` rewrite DeviceId= / User= in plain query strings; `skip` names
    exchanges by number or command; `ignore` adds element tags (``"Email:Subject"`` or a local
    name) to the volatile set."""
    folder, exchanges = load_fixture(folder)
    skipped = set(skip)
    auth = httpx.BasicAuth(user, password)
    if isinstance(target, str):
        base = target.rstrip("/")
        if base.lower().endswith("/microsoft-server-activesync"):
            base = base[: -len("/Microsoft-Server-ActiveSync")]
        client = httpx.AsyncClient(base_url=base, auth=auth, timeout=timeout)
    else:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=target), base_url="http://testserver", auth=auth,
                                   timeout=timeout)
    key_map: dict[str, str] = {}
    results: list[ExchangeResult] = []
    async with client:
        for item in exchanges:
            n, command = int(item["n"]), item.get("command") or item.get("method", "")
            result = ExchangeResult(n, command, int(item.get("status") or 0))
            results.append(result)
            note = item.get("note") or ""
            if n in skipped or command in skipped:
                result.skipped = "asked"
                continue
            if skip_faulted and note.startswith("fault #"):
                result.skipped = f"recorded under {note.split(';')[0]}"
                continue
            if before is not None:
                outcome = before(n, item)
                if inspect.isawaitable(outcome):
                    await outcome
            body = (folder / item["request_file"]).read_bytes() if item.get("request_file") else b""
            request_tree = _decode(body) if item.get("request_file", "").endswith(".wbxml") else None
            if request_tree is not None and key_map:
                body = encode(rewrite_keys(request_tree, key_map))
            headers = {}
            for name, value in item.get("request_headers", []):
                if name.lower() in SKIPPED_REQUEST_HEADERS:
                    continue
                if name.lower() == "x-ms-policykey" and value in key_map:
                    value = key_map[value]
                headers[name] = value
            path = _rewrite_query(item["path"], query_user, device_id)
            response = await client.request(item.get("method", "POST"), path, headers=headers, content=body)
            result.status = response.status_code
            if response.status_code != result.expected_status:
                result.ok = False
                result.differences.append(f"status {response.status_code}, recorded {result.expected_status}")
            recorded = (folder / item["response_file"]).read_bytes() if item.get("response_file") else b""
            _compare(result, recorded, response.content, item, key_map, ignore)
    return ReplayReport(results, key_map)


def _compare(result: ExchangeResult, recorded: bytes, actual: bytes, item: dict, key_map: dict, ignore) -> None:
    if not recorded and not actual:
        return
    recorded_tree = _decode(recorded) if (item.get("response_file") or "").endswith(".wbxml") else None
    actual_tree = _decode(actual)
    if recorded_tree is not None and actual_tree is not None:
        collect_keys(recorded_tree, actual_tree, key_map)
        expected_xml = to_xml(normalised(recorded_tree, ignore))
        actual_xml = to_xml(normalised(actual_tree, ignore))
        if expected_xml != actual_xml:
            result.ok = False
            result.differences.extend(_diff(expected_xml, actual_xml))
        return
    if (recorded_tree is None) != (actual_tree is None) and (not recorded or not actual):
        # One answer is a WBXML document, the other has no body at all.
        result.ok = False
        tree = recorded_tree if recorded_tree is not None else actual_tree
        expected_xml = to_xml(normalised(tree, ignore)) if recorded_tree is not None else ""
        actual_xml = to_xml(normalised(tree, ignore)) if actual_tree is not None else ""
        result.differences.extend(_diff(expected_xml, actual_xml))
        return
    if recorded != actual:
        result.ok = False
        result.differences.append(f"body differs: {len(actual)} bytes starting {base64.b16encode(actual[:8]).decode()}, "
                                  f"recorded {len(recorded)} starting {base64.b16encode(recorded[:8]).decode()}")
