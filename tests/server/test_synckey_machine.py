"""SyncKeys under Hypothesis: one phone syncing the Inbox and the folder hierarchy while mail and
folders arrive, with current, previous (a lost answer), zero and stale keys in any order.

What must hold whatever the order (MS-ASCMD 2.2.3.166, and Exchange's behaviour):
- a resent previous key gets the very bytes the lost answer had (Sync);
- a stale key is refused (Sync Status 3, FolderSync Status 9) and changes nothing;
- nothing is lost: once the phone has drained, it holds exactly the mailbox and the folders;
- nothing twice: no Add for an item or folder the phone already holds, except after it started
  over with key 0.

The server runs in-process on SQLite (the store the keys are kept in), one event loop per run."""
from __future__ import annotations

import asyncio

import httpx
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from easlab.eas.wbxml import E, decode
from easlab.server.app import create_app
from easlab.server.config import Settings
from easlab.storage import Database
from easlab.storage.users import add_user
from tests.server.eas_helpers import Raw, collection, message

A, FH = "AirSync", "FolderHierarchy"
STALE = "7777777"  # never handed out: keys count up from 1 by one per answer


class SyncKeys(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = __import__("tempfile").TemporaryDirectory()
        url = f"sqlite:///{self.tmp.name}/easlab.db"
        self.db = Database(url)
        self.db.create_all()
        with self.db.session() as session:
            add_user(session, "alice", "secret", "Alice Example")
        self.app = create_app(Settings(db_url=url, domain="easlab.test"), self.db)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")
        self.phone = Raw(self.http, device="phone")
        self.other = Raw(self.http, device="other")  # makes folders the phone must learn of
        self.delivered: set[str] = set()
        self.held: dict[str, str] = {}  # ServerId -> subject, what the phone has
        self.folders: set[str] = set()  # folder ServerIds the phone has
        self.created: set[str] = set()  # folders the other device made
        self.count = 0

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self):
        self.run(self.http.aclose())
        self.loop.close()
        self.db.dispose()
        self.tmp.cleanup()

    # -- the phone's requests ----------------------------------------------------------------
    async def sync_bytes(self, key: str) -> bytes:
        # Key 0 only primes the collection: GetChanges with it is Status 4 (MS-ASCMD 2.2.3.79).
        paging = () if key == "0" else (E(f"{A}:GetChanges"), E(f"{A}:WindowSize", 2))
        tree = E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:SyncKey", key),
                 E(f"{A}:CollectionId", "1"), *paging)))
        response = await self.phone.post("Sync", tree)
        assert response.status_code == 200
        return response.content

    def take(self, content: bytes) -> None:
        """Apply a Sync answer the phone received."""
        if not content:
            return  # 14.1: an empty answer means nothing changed; the key stays
        coll = collection(decode(content))
        assert coll.text(f"{A}:Status") == "1"
        self.key = coll.text(f"{A}:SyncKey")
        commands = coll.find(f"{A}:Commands")
        for command in commands.children if commands is not None else []:
            server_id = command.text(f"{A}:ServerId")
            if command.tag == f"{A}:Add":
                assert server_id not in self.held, f"{server_id} added twice"
                self.held[server_id] = command.find(f"{A}:ApplicationData").text("Email:Subject")
            elif command.tag in (f"{A}:Delete", f"{A}:SoftDelete"):
                self.held.pop(server_id, None)
        self.more = coll.has(f"{A}:MoreAvailable")

    def take_folders(self, tree) -> None:
        assert tree.text(f"{FH}:Status") == "1"
        self.folder_key = tree.text(f"{FH}:SyncKey")
        changes = tree.find(f"{FH}:Changes")
        for change in changes.children if changes is not None else []:
            server_id = change.text(f"{FH}:ServerId")
            if change.tag == f"{FH}:Add":
                assert server_id not in self.folders, f"folder {server_id} added twice"
                self.folders.add(server_id)
            elif change.tag == f"{FH}:Delete":
                self.folders.discard(server_id)

    @initialize()
    def partnership(self):
        self.take_folders(self.run(self.phone.folder_sync("0")))
        self.other_key = self.run(self.other.folder_sync("0")).text(f"{FH}:SyncKey")
        self.key, self.more, self.lost = "0", True, None
        self.take(self.run(self.sync_bytes("0")))

    # -- the world changes -------------------------------------------------------------------
    @rule(n=st.integers(1, 3))
    def mail_arrives(self, n):
        for _ in range(n):
            self.count += 1
            subject = f"message {self.count}"
            self.run(self.app.state.store.deliver(message(subject=subject), ["alice@easlab.test"]))
            self.delivered.add(subject)

    @rule()
    def another_device_makes_a_folder(self):
        self.count += 1
        tree = E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", self.other_key), E(f"{FH}:ParentId", "0"),
                 E(f"{FH}:DisplayName", f"folder {self.count}"), E(f"{FH}:Type", 12))
        answer = self.run(self.other.call("FolderCreate", tree))
        assert answer.text(f"{FH}:Status") == "1"
        self.other_key = answer.text(f"{FH}:SyncKey")
        self.created.add(answer.text(f"{FH}:ServerId"))

    # -- the phone's keys --------------------------------------------------------------------
    def sync_on(self):
        """Sync with the phone's key; after a lost answer that key is the server's previous one,
        and the answer must be the lost one, byte for byte, whatever arrived since."""
        content = self.run(self.sync_bytes(self.key))
        if self.lost is not None:
            assert content == self.lost
            self.lost = None
        self.take(content)

    @rule()
    def sync_with_the_phones_key(self):
        self.sync_on()

    @rule()
    def sync_answer_lost(self):
        if self.lost is None:  # a phone resends before it sends anything new
            # An empty answer (nothing changed) hands out no key: the phone's key stays the current
            # one, and its next Sync is answered afresh, not replayed.
            self.lost = self.run(self.sync_bytes(self.key)) or None

    @rule()
    def stale_sync_key_is_refused(self):
        content = self.run(self.sync_bytes(STALE))
        coll = collection(decode(content))
        assert (coll.text(f"{A}:Status"), coll.find(f"{A}:Commands")) == ("3", None)

    @rule()
    def start_over_with_zero(self):
        self.held.clear()
        self.lost = None
        self.key, self.more = "0", True
        self.take(self.run(self.sync_bytes("0")))

    @rule()
    def folder_sync_with_the_phones_key(self):
        self.take_folders(self.run(self.phone.folder_sync(self.folder_key)))

    @rule()
    def folder_sync_answer_lost(self):
        self.run(self.phone.folder_sync(self.folder_key))  # the phone keeps its key

    @rule()
    def stale_folder_key_is_refused(self):
        assert self.run(self.phone.folder_sync(STALE)).text(f"{FH}:Status") == "9"

    @rule()
    def drain(self):
        """Sync until nothing is left: then the phone holds exactly the mailbox."""
        for _ in range(200):
            self.sync_on()
            if self.key != "0" and not self.more:
                break
        assert sorted(self.held.values()) == sorted(self.delivered)
        self.take_folders(self.run(self.phone.folder_sync(self.folder_key)))
        assert self.created <= self.folders

    @invariant()
    def never_more_than_the_mailbox(self):
        assert set(self.held.values()) <= self.delivered
        assert len(set(self.held.values())) == len(self.held)


SyncKeys.TestCase.settings = settings(max_examples=15, stateful_step_count=15, deadline=None)
test_sync_keys = SyncKeys.TestCase


def test_a_folder_made_between_a_lost_folder_sync_and_its_resend_is_added_once():
    """The case that found a bug: the resent previous key listed the new folder, and the next
    FolderSync with the key it handed back listed it again."""
    machine = SyncKeys()
    try:
        machine.partnership()
        machine.folder_sync_answer_lost()
        machine.another_device_makes_a_folder()
        machine.folder_sync_with_the_phones_key()  # the resend: the new folder arrives here
        machine.folder_sync_with_the_phones_key()  # and must not arrive again
        assert machine.created <= machine.folders
    finally:
        machine.teardown()


def test_an_empty_answer_that_was_lost_is_no_replay():
    """Found by the machine: with nothing to report the answer is empty and the key stays, so after
    mail arrives the same key gets that mail, not the empty answer again."""
    machine = SyncKeys()
    try:
        machine.partnership()
        machine.sync_answer_lost()
        machine.mail_arrives(1)
        machine.drain()
        assert sorted(machine.held.values()) == ["message 1"]
    finally:
        machine.teardown()
