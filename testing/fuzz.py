"""A seeded mutator over every EAS command's requests, at the HTTP boundary.

Valid requests of each command (`seeds`) are mutated (`mutate`: truncated, bytes flipped, string
values replaced by OPAQUE with a NUL, by bytes that are not UTF-8, by huge or negative numbers, by
long text, an element given children where it holds a value and the reverse, elements dropped and
repeated), or swept leaf by leaf (`sweep`), and sent as user alice of a server whose domain is
easlab.test.  The suite runs a bounded, seeded round (tests/server/test_fuzz_boundary.py);
bench/fuzz.py runs as many rounds as it is asked for.  `call` hands each request to the ASGI app
as an HTTP server does (no client library: httpx's ASGITransport cost a quarter of each input);
`send` ends a held request (Ping, Sync with Wait, a tarpit) by advancing the server's ManualClock,
so no round waits in real time.  `fuzz_round` sends a round and counts it in a `Tally`.

A designed answer is one of `designed(version)`; anything the server did not design shows as an
ERROR record from the handler boundary (server/activesync.py) or an exception escaping the app.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from easlab.eas.wbxml import E, Element, decode, encode
from easlab.server.clock import ManualClock

EAS = "/Microsoft-Server-ActiveSync"


def _message() -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Bob Sender <bob@example.net>", "bob@easlab.test", "fuzz"
    m.set_content("plain body")
    return m.as_bytes()


MUTANTS = 4  # random mutants per seed request and version
VERSIONS = ("12.1", "16.1")  # 12.1: common statuses as HTTP statuses (designed 500s among them)
NOT_TEXT = b"\x00\xff"  # OPAQUE with a NUL, not UTF-8: where a string belongs, in every leaf in turn
AS, C, F, S, IO, RR = "AirSync", "ComposeMail", "FolderHierarchy", "Settings", "ItemOperations", "ResolveRecipients"
MIME = _message()


def seeds() -> list[tuple[str, Element]]:
    """(command, a valid request) for every command that takes a WBXML body."""
    collection = E(f"{AS}:Collection", E(f"{AS}:SyncKey", "0"), E(f"{AS}:CollectionId", "1"))
    options = E(f"{AS}:Options", E(f"{AS}:FilterType", "3"), E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", "2"),
                E("AirSyncBase:TruncationSize", "5120")), E(f"{AS}:MIMESupport", "0"))
    source = E(f"{C}:Source", E(f"{C}:FolderId", "1"), E(f"{C}:ItemId", "1:1"))
    return [
        ("Sync", E(f"{AS}:Sync", E(f"{AS}:Collections", collection))),
        ("Sync", E(f"{AS}:Sync", E(f"{AS}:Collections", E(f"{AS}:Collection", E(f"{AS}:SyncKey", "1"), E(f"{AS}:CollectionId", "1"),
             E(f"{AS}:GetChanges"), E(f"{AS}:WindowSize", "25"), options, E(f"{AS}:Commands",
             E(f"{AS}:Change", E(f"{AS}:ServerId", "1:1"), E(f"{AS}:ApplicationData", E("Email:Read", "1"))),
             E(f"{AS}:Fetch", E(f"{AS}:ServerId", "1:2")), E(f"{AS}:Delete", E(f"{AS}:ServerId", "1:3"))))),
             E(f"{AS}:Wait", "5"))),
        ("Sync", E(f"{AS}:Sync", E(f"{AS}:Collections", E(f"{AS}:Collection", E(f"{AS}:SyncKey", "1"), E(f"{AS}:CollectionId", "2"),
             E(f"{AS}:Commands", E(f"{AS}:Add", E(f"{AS}:ClientId", "c1"), E(f"{AS}:ApplicationData",
               E("Email:To", "bob@easlab.test"), E("Email:Subject", "draft"),
               E("AirSyncBase:Body", E("AirSyncBase:Type", "1"), E("AirSyncBase:Data", "text"))))))))),
        ("Sync", E(f"{AS}:Sync", E(f"{AS}:Collections", E(f"{AS}:Collection", E(f"{AS}:SyncKey", "1"), E(f"{AS}:CollectionId", "calendar"),
             E(f"{AS}:Commands", E(f"{AS}:Add", E(f"{AS}:ClientId", "c2"), E(f"{AS}:ApplicationData",
               E("Calendar:Subject", "meet"), E("Calendar:StartTime", "20260105T090000Z"), E("Calendar:EndTime", "20260105T100000Z"),
               E("Calendar:BusyStatus", "2"), E("Calendar:AllDayEvent", "0")))))))),
        ("FolderSync", E(f"{F}:FolderSync", E(f"{F}:SyncKey", "0"))),
        ("FolderCreate", E(f"{F}:FolderCreate", E(f"{F}:SyncKey", "1"), E(f"{F}:ParentId", "0"), E(f"{F}:DisplayName", "Fuzz"),
                           E(f"{F}:Type", "12"))),
        ("FolderUpdate", E(f"{F}:FolderUpdate", E(f"{F}:SyncKey", "1"), E(f"{F}:ServerId", "1"), E(f"{F}:ParentId", "0"),
                           E(f"{F}:DisplayName", "Renamed"))),
        ("FolderDelete", E(f"{F}:FolderDelete", E(f"{F}:SyncKey", "1"), E(f"{F}:ServerId", "12"))),
        ("GetItemEstimate", E("GetItemEstimate:GetItemEstimate", E("GetItemEstimate:Collections", E("GetItemEstimate:Collection",
            E(f"{AS}:SyncKey", "1"), E("GetItemEstimate:CollectionId", "1"), E(f"{AS}:Options", E(f"{AS}:FilterType", "3")))))),
        ("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", "1:1"), E("Move:SrcFldId", "1"), E("Move:DstFldId", "6")))),
        ("MeetingResponse", E("MeetingResponse:MeetingResponse", E("MeetingResponse:Request", E("MeetingResponse:UserResponse", "1"),
            E("MeetingResponse:CollectionId", "1"), E("MeetingResponse:RequestId", "1:1"),
            E("MeetingResponse:SendResponse", E("AirSyncBase:Body", E("AirSyncBase:Type", "1"), E("AirSyncBase:Data", "ok")),
              E("MeetingResponse:ProposedStartTime", "2026-01-05T09:00:00.000Z"))))),
        ("Search", E("Search:Search", E("Search:Store", E("Search:Name", "Mailbox"), E("Search:Query", E("Search:And",
            E(f"{AS}:Class", "Email"), E(f"{AS}:CollectionId", "1"), E("Search:FreeText", "fuzz"))),
            E("Search:Options", E("Search:Range", "0-9"), E("Search:DeepTraversal"))))),
        ("Search", E("Search:Search", E("Search:Store", E("Search:Name", "GAL"), E("Search:Query", "bob"),
            E("Search:Options", E("Search:Range", "0-9"), E("Search:Picture", E("Search:MaxSize", "1000")))))),
        ("Settings", E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", E(f"{S}:OofState", "2"),
            E(f"{S}:StartTime", "2026-01-05T00:00:00.000Z"), E(f"{S}:EndTime", "2026-01-09T00:00:00.000Z"),
            E(f"{S}:OofMessage", E(f"{S}:AppliesToInternal"), E(f"{S}:Enabled", "1"), E(f"{S}:ReplyMessage", "away"),
              E(f"{S}:BodyType", "Text")))))),
        ("Settings", E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Get", E(f"{S}:BodyType", "HTML"))),
            E(f"{S}:DeviceInformation", E(f"{S}:Set", E(f"{S}:Model", "Fuzz"), E(f"{S}:OS", "Fuzz 1"))),
            E(f"{S}:UserInformation", E(f"{S}:Get")), E(f"{S}:DevicePassword", E(f"{S}:Set", E(f"{S}:Password", "pw"))))),
        ("Ping", E("Ping:Ping", E("Ping:HeartbeatInterval", "480"), E("Ping:Folders",
            E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email")), E("Ping:Folder", E("Ping:Id", "calendar"), E("Ping:Class", "Calendar"))))),
        ("ItemOperations", E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E(f"{AS}:CollectionId", "1"),
            E(f"{AS}:ServerId", "1:1"), E(f"{IO}:Options", E(f"{IO}:Range", "0-99"), E("AirSyncBase:BodyPreference",
              E("AirSyncBase:Type", "4")))),
            E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E("AirSyncBase:FileReference", "1:1:0")))),
        ("ItemOperations", E(f"{IO}:ItemOperations", E(f"{IO}:EmptyFolderContents", E(f"{AS}:CollectionId", "3"),
            E(f"{IO}:Options", E(f"{IO}:DeleteSubFolders"))), E(f"{IO}:Move", E(f"{IO}:ConversationId", b"\x01\x02\x03"),
            E(f"{IO}:DstFldId", "6"), E(f"{IO}:Options", E(f"{IO}:MoveAlways"))))),
        ("Provision", E("Provision:Provision", E("Provision:Policies", E("Provision:Policy",
            E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"))))),
        ("Provision", E("Provision:Provision", E("Provision:Policies", E("Provision:Policy",
            E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"), E("Provision:PolicyKey", "1234"), E("Provision:Status", "1"))))),
        ("ResolveRecipients", E(f"{RR}:ResolveRecipients", E(f"{RR}:To", "bob"), E(f"{RR}:To", "nobody@example.net"),
            E(f"{RR}:Options", E(f"{RR}:CertificateRetrieval", "2"), E(f"{RR}:MaxCertificates", "5"),
              E(f"{RR}:MaxAmbiguousRecipients", "3"), E(f"{RR}:Availability", E(f"{RR}:StartTime", "2026-01-05T00:00:00.000Z"),
                E(f"{RR}:EndTime", "2026-01-06T00:00:00.000Z")), E(f"{RR}:Picture", E(f"{RR}:MaxSize", "100"))))),
        ("ValidateCert", E("ValidateCert:ValidateCert", E("ValidateCert:Certificates", E("ValidateCert:Certificate", b"0\x82\x01\x00")),
            E("ValidateCert:CheckCRL", "1"))),
        ("Find", E("Find:Find", E("Find:SearchId", "s1"), E("Find:ExecuteSearch", E("Find:MailBoxSearchCriterion",
            E("Find:Query", E(f"{AS}:Class", "Email"), E(f"{AS}:CollectionId", "1"), E("Find:FreeText", "fuzz")),
            E("Find:Options", E("Find:Range", "0-9"), E("Find:DeepTraversal")))))),
        ("Find", E("Find:Find", E("Find:SearchId", "s2"), E("Find:ExecuteSearch", E("Find:GalSearchCriterion",
            E("Find:Query", E("Find:FreeText", "bob")), E("Find:Options", E("Find:Range", "0-9")))))),
        ("SendMail", E(f"{C}:SendMail", E(f"{C}:ClientId", "m1"), E(f"{C}:SaveInSentItems"), E(f"{C}:Mime", MIME))),
        ("SmartReply", E(f"{C}:SmartReply", E(f"{C}:ClientId", "m2"), source, E(f"{C}:Mime", MIME))),
        ("SmartForward", E(f"{C}:SmartForward", E(f"{C}:ClientId", "m3"), source, E(f"{C}:ReplaceMime"), E(f"{C}:Mime", MIME))),
    ]


# Commands without a WBXML body, as request lines (GetAttachment names the attachment in the query).
QUERY_ONLY = [("GetAttachment", "&AttachmentName=1:1:0"), ("GetAttachment", "&AttachmentName=%00%FF"),
              ("GetHierarchy", ""), ("SendMail", "&SaveInSent=T"), ("Sync", ""), ("Ping", "")]

# Values a client can put where a string belongs.
HOSTILE = [b"\x00\xff", b"\x00", b"\xff\xfe\xfd", "99999999999999999999999", "-1", "", "x", "0" * 12, "x" * 10000,
           "\ufffd", "1:1:1:1", "../../etc", "2026-13-45T99:99:99.000Z", "0-99999999"]


def sweep(tree: Element) -> list[bytes]:
    """Every leaf in turn set to NOT_TEXT, and every number in turn to a word: the values a
    handler reads, echoes or converts, each reached once."""
    out = []
    for i, leaf in enumerate(tree.iter()):
        if leaf.children or leaf is tree:
            continue
        for bad in (NOT_TEXT, "x") if isinstance(leaf.value, str) and leaf.value.isdigit() else (NOT_TEXT,):
            copy = decode(encode(tree))
            list(copy.iter())[i].value = bad
            out.append(encode(copy))
    return out


def mutate(tree: Element, rng: random.Random) -> bytes:
    """One mutant of `tree`: a tree mutation (encoded), or its bytes mutated."""
    tree = decode(encode(tree))  # a copy
    nodes = list(tree.iter())
    leaves = [n for n in nodes if not n.children and n is not tree]
    kind = rng.randrange(8)
    if kind == 0 and leaves:  # a hostile value
        rng.choice(leaves).value = rng.choice(HOSTILE)
    elif kind == 1 and leaves:  # several hostile values
        for leaf in rng.sample(leaves, min(len(leaves), 3)):
            leaf.value = rng.choice(HOSTILE)
    elif kind == 2 and leaves:  # children where a value belongs
        leaf = rng.choice(leaves)
        leaf.value, leaf.children = None, [E(rng.choice(nodes).tag, "1")]
    elif kind == 3:  # a value where children belong
        parent = rng.choice([n for n in nodes if n.children])
        parent.children, parent.value = [], rng.choice(HOSTILE)
    elif kind == 4:  # an element dropped, or repeated
        parent = rng.choice([n for n in nodes if n.children])
        i = rng.randrange(len(parent.children))
        if rng.random() < 0.5:
            del parent.children[i]
        else:
            parent.children[i:i] = [parent.children[i]] * rng.randint(1, 30)
    data = bytearray(encode(tree))
    if kind == 5:  # truncated
        del data[rng.randrange(len(data)):]
    elif kind == 6:  # bytes flipped
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 7:  # a byte inserted
        data.insert(rng.randrange(len(data)), rng.randrange(256))
    return bytes(data)


def headers(version: str, length: int) -> list[tuple[bytes, bytes]]:
    """The request's headers as the ASGI scope carries them (lower-case names, bytes)."""
    return [(b"host", b"testserver"), (b"authorization", AUTHORIZATION), (b"ms-asprotocolversion", version.encode()),
            (b"content-type", b"application/vnd.ms-sync.wbxml"), (b"user-agent", b"easlab-fuzz/1"),
            (b"content-length", str(length).encode())]


AUTHORIZATION = b"Basic " + base64.b64encode(b"alice:secret")


@dataclass
class Answer:
    """What the app sent back: the status, headers and body of one exchange."""
    status_code: int
    headers: list = field(default_factory=list)
    content: bytes = b""


async def call(app, query: str, body: bytes, version: str) -> Answer:
    """One POST through the ASGI app, as an HTTP server hands it over (the whole body in one
    message; after it, the connection stays open until the answer is complete, as httpx's
    ASGITransport does).  An exception escaping the app propagates: the caller counts it."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": EAS, "raw_path": EAS.encode(), "query_string": query.encode(), "root_path": "",
             "headers": headers(version, len(body)), "client": ("127.0.0.1", 123), "server": ("testserver", 80)}
    answer, done, read = Answer(0), asyncio.Event(), False

    async def receive() -> dict:
        nonlocal read
        if read:
            await done.wait()
            return {"type": "http.disconnect"}
        read = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message) -> None:
        if message["type"] == "http.response.start":
            answer.status_code, answer.headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            answer.content += message.get("body", b"")
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return answer


async def send(app, query: str, body: bytes, version: str) -> Answer:
    """One request; a held one (Ping, Sync with Wait, a tarpit) is ended by advancing the clock."""
    clock: ManualClock = app.state.clock
    with clock.bus.subscribe("timer") as timers:
        request = asyncio.ensure_future(call(app, query, body, version))
        while not request.done():
            timer = asyncio.ensure_future(timers.queue.get())
            await asyncio.wait({request, timer}, return_when=asyncio.FIRST_COMPLETED)
            timer.cancel()
            if clock.pending:
                clock.advance(3600)
        return request.result()


def designed(version: str) -> tuple[int, ...]:
    """The HTTP statuses the server answers by design: a common status as its HTTP form before
    14.0 (500 among them, MS-ASCMD), 501 for a command the version lacks, the limits' 413 and 503."""
    return (200, 400, 403, 413, 449, 501, 503, 507) + ((500,) if version == "12.1" else ())


def work(rng: random.Random, version: str, mutants: int, swept: bool) -> list[tuple[str, bytes]]:
    """One round for one version: every seed, `mutants` mutants of each, the query-only commands,
    20 random byte strings, and (when `swept`) the leaf sweep of every seed."""
    trees = seeds()
    out = [(cmd, encode(tree)) for cmd, tree in trees]
    out += [(cmd, mutate(tree, rng)) for cmd, tree in trees for _ in range(mutants)]
    out += [(cmd + extra, b"") for cmd, extra in QUERY_ONLY]
    out += [(rng.choice(trees)[0], bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))) for _ in range(20)]
    if swept:
        out += [(cmd, body) for cmd, tree in trees for body in sweep(tree)]
    return out


class Errors(logging.Handler):
    """Counts the records at ERROR: the handler boundary's mark of a fault it did not design an
    answer for (server/activesync.py logs one line for each)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count, self.last = 0, ""

    def emit(self, record):
        self.count += 1
        self.last = record.getMessage()[:300]


@contextmanager
def counting_errors():
    """An Errors handler on the root logger for the block.  Records below ERROR are not even made
    (the root's level): the fuzz provokes a warning on most inputs, and only ERROR counts."""
    errors, root = Errors(), logging.getLogger()
    level = root.level
    root.addHandler(errors)
    root.setLevel(logging.ERROR)
    try:
        yield errors
    finally:
        root.removeHandler(errors)
        root.setLevel(level)


EXAMPLES = 5  # undesigned answers and crashes kept for the report, per tally


@dataclass
class Tally:
    """Inputs sent, answers by HTTP status, undesigned answers (a status `designed` leaves out, or
    an ERROR record while the request ran) and crashes (an exception escaping the app)."""
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    undesigned: int = 0
    crashes: int = 0
    examples: list = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.sent += other.sent
        self.statuses.update(other.statuses)
        self.undesigned += other.undesigned
        self.crashes += other.crashes
        self.examples += other.examples[:max(0, EXAMPLES - len(self.examples))]

    def as_json(self) -> dict:
        return {"sent": self.sent, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "undesigned": self.undesigned, "crashes": self.crashes, "examples": self.examples}

    @classmethod
    def from_json(cls, data: dict) -> Tally:
        return cls(data["sent"], Counter({int(k): v for k, v in data["statuses"].items()}), data["undesigned"],
                   data["crashes"], list(data["examples"]))

    def _example(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text[:300])


async def exchange(app, tally: Tally, errors: Errors, query: str, body: bytes, version: str) -> Answer | None:
    """One input through the app, counted in `tally`."""
    before = errors.count
    tally.sent += 1
    try:
        answer = await send(app, query, body, version)
    except Exception as exc:  # noqa: BLE001 - what the fuzz counts
        tally.crashes += 1
        tally._example(f"crash {query} {version}: {exc!r}")
        return None
    tally.statuses[answer.status_code] += 1
    if answer.status_code not in designed(version) or errors.count != before:
        tally.undesigned += 1
        tally._example(f"{query} {version} -> {answer.status_code}: {body[:80]!r} {errors.last if errors.count != before else ''}")
    return answer


async def fuzz_round(app, rng: random.Random, tally: Tally, errors: Errors, device: str, mutants: int,
                     swept: tuple[str, ...] = ()) -> None:
    """Every version's `work` through the app as user alice, one device a version; the leaf sweep
    in the versions named by `swept`."""
    for version in VERSIONS:
        line = f"User=alice&DeviceId={device}x{version.replace('.', '')}&DeviceType=Fuzz"
        for cmd, body in work(rng, version, mutants, swept=version in swept):
            await exchange(app, tally, errors, f"Cmd={cmd}&{line}", body, version)
