"""Mail arriving from outside EAS (SMTP, the test API): stored in each local recipient's Inbox in one
transaction, the Pings watching those Inboxes woken after the commit, Out of Office answered.

Deliveries that arrive while a transaction is storing others wait and are then stored together,
in one transaction (a group commit): several SMTP connections share one commit instead of
queueing for SQLite's single writer one by one.  Each caller is answered only after the commit
that holds its message, so SMTP's 250 still means "committed".  A group that fails is stored
again one delivery at a time, so one bad message fails alone.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from easlab.eas.folders import FolderType
from easlab.eas.mime import ParsedMessage, parse_message
from easlab.eas.oof import reply_address
from easlab.storage.conversations import always_move_targets
from easlab.storage.mailbox import folder_by_type, store_messages
from easlab.storage.models import Folder, User
from easlab.storage.scheduling import may_hold_itip, deliver_to_inbox
from easlab.storage.users import get_user, lock_mailboxes

from .context import Effects, StoreContext
from .sending import Sending

GROUP = 200  # deliveries per transaction at most


@dataclass
class DeliveryResult:
    delivered: list[str] = field(default_factory=list)  # user names
    unknown: list[str] = field(default_factory=list)  # addresses with no local user
    outbound: bool = False  # automatic replies queued for other domains


@dataclass
class _Job:
    mime: bytes
    recipients: list[str]
    done: asyncio.Future
    parsed: ParsedMessage | None = None


class _Inboxes:
    """The Inbox rows of one transaction and the plain messages waiting to be written to them
    (store_messages), in arrival order."""

    def __init__(self, session: Session):
        self.session = session
        self.folders: dict[int, Folder] = {}
        self.users: dict[str, User | None] = {}
        self.moves: dict[int, dict[bytes, Folder]] = {}  # per user: conversations moved always
        self.pending: dict[int, list] = {}

    def user(self, name: str) -> User | None:
        """The user called `name`, read once per transaction however many of its messages."""
        if name not in self.users:
            self.users[name] = get_user(self.session, name)
        return self.users[name]

    def inbox(self, user: User) -> Folder:
        if user.id not in self.folders:
            # The Inbox in one query; folder_by_type (which reads every folder to create the
            # defaults first) only for a user who has none yet.
            inbox = self.session.exec(select(Folder).where(Folder.user_id == user.id, Folder.type == FolderType.Inbox,
                                                           Folder.deleted == False)).first()  # noqa: E712
            self.folders[user.id] = inbox or folder_by_type(self.session, user, FolderType.Inbox)
            self.moves[user.id] = always_move_targets(self.session, user)
        return self.folders[user.id]

    def add(self, user: User, mime: bytes, parsed: ParsedMessage, now: datetime) -> int:
        inbox = self.inbox(user)
        folder = self.moves[user.id].get(parsed.conversation_id, inbox)
        self.pending.setdefault(folder.id, []).append((mime, parsed, now, False))
        return folder.id

    def write(self) -> None:
        """Store what waits, before anything else writes to these folders (order is the log's)."""
        by_id = {folder.id: folder for folder in self.folders.values()}
        by_id.update((folder.id, folder) for moves in self.moves.values() for folder in moves.values())
        for folder_id, entries in self.pending.items():
            store_messages(self.session, by_id[folder_id], entries)
        self.pending.clear()


def _parse(jobs: list[_Job]) -> None:
    for job in jobs:
        job.parsed = job.parsed or parse_message(job.mime)


class Delivery:
    def __init__(self, store: StoreContext, sending: Sending):
        self.store = store
        self.sending = sending
        self._waiting: list[_Job] = []
        self._writer: asyncio.Task | None = None

    def _oof_after_delivery(self, session: Session, user: User, mime: bytes, parsed: ParsedMessage, effects: Effects) -> None:
        self.sending.oof_reply(session, user, mime, parsed, reply_address(mime), self.store.clock.now(), effects)

    def _deliver(self, session: Session, mime: bytes, recipients: list[str], parsed: ParsedMessage | None = None,
                 inboxes: _Inboxes | None = None) -> tuple[DeliveryResult, Effects]:
        result = DeliveryResult()
        effects = Effects()
        parsed = parsed or parse_message(mime)
        inboxes = inboxes or _Inboxes(session)
        users: list[User] = []
        for address in recipients:
            name = self.store.local_user_name(address)
            user = inboxes.user(name) if name else None
            if user is None:
                result.unknown.append(address)
            elif user not in users:
                users.append(user)
        itip = may_hold_itip(mime)
        for user in users:
            now = self.store.clock.now()
            if itip:  # a meeting message changes the calendar too: stored one by one, as always
                inboxes.write()
                effects.touched += deliver_to_inbox(session, user, self.store.address(user), mime, replace(parsed), now)
            else:
                effects.touched.append(inboxes.add(user, mime, replace(parsed), now))
            result.delivered.append(user.name)
            self._oof_after_delivery(session, user, mime, parsed, effects)
        result.outbound = effects.outbound
        return result, effects

    def _deliver_group(self, session: Session, jobs: list[_Job]) -> list[tuple[DeliveryResult, Effects]]:
        # Every recipient of the group locked at once, in name order: locking job by job could take
        # two users in the other order from a transaction that delivers to both, and deadlock with
        # it on PostgreSQL.  _deliver is only ever called from here, so it takes no lock of its own.
        lock_mailboxes(session, [name for job in jobs for name in map(self.store.local_user_name, job.recipients) if name])
        inboxes = _Inboxes(session)
        out = [self._deliver(session, job.mime, job.recipients, job.parsed, inboxes) for job in jobs]
        inboxes.write()
        return out

    async def deliver(self, mime: bytes, recipients: list[str]) -> DeliveryResult:
        """Store `mime` in the Inbox of every local recipient, in one transaction, then wake the
        Pings that watch those Inboxes.  Addresses without a local user are returned, not stored.
        Returns after the commit (with the deliveries that waited alongside it)."""
        loop = asyncio.get_running_loop()
        job = _Job(mime, list(recipients), loop.create_future())
        self._waiting.append(job)
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = asyncio.create_task(self._write_groups())
        return await job.done

    async def _write_groups(self) -> None:
        while self._waiting:
            jobs, self._waiting = self._waiting[:GROUP], self._waiting[GROUP:]
            try:
                outcomes = await run_in_threadpool(self._store_group, jobs)
            except Exception as exc:
                if len(jobs) == 1:
                    self._fail(jobs[0], exc)
                    continue
                await self._one_by_one(jobs)
                continue
            self._finish(jobs, outcomes)

    async def _one_by_one(self, jobs: list[_Job]) -> None:
        for job in jobs:
            try:
                outcome = await run_in_threadpool(self._store_group, [job])
            except Exception as exc:
                self._fail(job, exc)
            else:
                self._finish([job], outcome)

    def _store_group(self, jobs: list[_Job]) -> list[tuple[DeliveryResult, Effects]]:
        """In a worker thread: the messages parsed, then stored in one transaction.  Parsed
        first, outside the transaction: on SQLite a writing transaction holds the one writer's
        lock from its start (storage/db.py), and parsing needs none.  One trip to the thread
        pool for both, not two: a trip costs as much as parsing a small message."""
        _parse(jobs)
        return self.store.transaction(lambda session: self._deliver_group(session, jobs))

    def _fail(self, job: _Job, exc: Exception) -> None:
        if not job.done.done():
            job.done.set_exception(exc)

    def _finish(self, jobs: list[_Job], outcomes: list[tuple[DeliveryResult, Effects]]) -> None:
        """After the commit: one wake-up per folder changed, then every caller answered."""
        merged = Effects()
        for _, effects in outcomes:
            merged.touched += effects.touched
            merged.outbound = merged.outbound or effects.outbound
        self.store.follow_up(merged)
        for job, (result, _) in zip(jobs, outcomes):
            if not job.done.done():
                job.done.set_result(result)

    def user_exists(self, address: str) -> bool:
        name = self.store.local_user_name(address)
        if not name:
            return False
        # A bare read on a pooled DBAPI connection (as storage.generations.peek): RCPT never
        # queues behind the writer, and asks no ORM session for one row (most of its cost).
        engine = self.store.db.engine
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(_USER_EXISTS[engine.dialect.paramstyle], (name,))
                return cursor.fetchone() is not None
            finally:
                cursor.close()
        finally:
            connection.close()


_USER_EXISTS = {"qmark": 'SELECT 1 FROM "user" WHERE name = ?', "format": 'SELECT 1 FROM "user" WHERE name = %s',
                "pyformat": 'SELECT 1 FROM "user" WHERE name = %s', "numeric": 'SELECT 1 FROM "user" WHERE name = :1'}
