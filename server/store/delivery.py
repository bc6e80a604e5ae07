"""Mail arriving from outside EAS (SMTP, the test API): stored in each local recipient's Inbox in one
transaction, the Pings watching those Inboxes woken after the commit, Out of Office answered.

Deliveries that arrive while a transaction is storing others wait and are then stored together,
in one transaction (a group commit): several SMTP connections share one commit instead of
queueing for SQLite's single writer one by one.  Each caller is answered only after the commit
that holds its message, so SMTP's 250 still means "committed".  A group that fails is stored
again one delivery at a time, so one bad message fails alone.

A group costs a few statements whatever its size: each recipient's user and Inbox are remembered
across transactions while the `access` generation stands (`Known`), the Inbox's change counter is
moved by the UPDATE that reads it, and the conversations moved always and the Out of Office
setting are read once per user and group.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from easlab.eas.folders import FolderType
from easlab.eas.mime import ParsedMessage, parse_message
from easlab.eas.oof import reply_address
from easlab.storage import generations
from easlab.storage.driver import writing
from easlab.storage.mailbox import append_messages, folder_by_type
from easlab.storage.plain_mail import for_dialect, write_plain
from easlab.storage.models import Folder, User
from easlab.storage.models_compose import OofSettings
from easlab.storage.models_items import ConversationAction
from easlab.storage.scheduling import may_hold_itip, deliver_to_inbox
from easlab.storage.users import get_user, lock_mailboxes

from .context import Effects, StoreContext
from .sending import Sending

GROUP = 200  # deliveries per transaction at most
# The thread that stores delivery groups, one at a time as SQLite's one writer takes them: a trip
# there by run_in_executor costs two thirds of one by anyio's pool (its capacity limiter, cancel
# scope and task checks), and a group of one or two messages (four SMTP connections) pays a trip.
# A process forked (easlab serve --workers) starts its own: a forked executor has no thread.
_WRITER: list[ThreadPoolExecutor] = []
os.register_at_fork(after_in_child=_WRITER.clear)


async def _in_writer_thread(work, jobs: list[_Job]):
    if not _WRITER:
        _WRITER.append(ThreadPoolExecutor(1, thread_name_prefix="easlab-delivery"))
    return await asyncio.get_running_loop().run_in_executor(_WRITER[0], contextvars.copy_context().run, work, jobs)


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


@dataclass(frozen=True)
class Recipient:
    """What storing a plain message needs of a user: kept across transactions (Delivery.known)."""
    id: int
    name: str
    inbox_id: int
    inbox_server_id: str


class Known:
    """Recipients by user name (None: no such user), valid while the `access` generation, which
    every change to a user row bumps (its creation, deletion and renaming too: storage/
    access_watch.py), stands where it was when they were read.  A transaction's new entries join
    only after its commit: an Inbox created by a transaction that rolled back is never remembered."""

    def __init__(self) -> None:
        self.generation: int | None = None
        self.recipients: dict[str, Recipient | None] = {}

    def at(self, generation: int) -> dict[str, Recipient | None]:
        if generation != self.generation:
            self.generation, self.recipients = generation, {}
        return self.recipients

    def learn(self, generation: int, fresh: dict[str, Recipient | None]) -> None:
        if generation == self.generation:
            self.recipients.update(fresh)

    def forget(self) -> None:
        self.generation, self.recipients = None, {}

    def lookup(self, generation: int, name: str) -> bool | None:
        """Whether `name` is a user, as remembered under `generation`; None: not remembered.  A
        read only (RCPT asks it on the loop while a worker thread may `learn`)."""
        recipients = self.recipients if generation == self.generation else {}
        if name not in recipients:
            return None
        return recipients[name] is not None


class _Inboxes:
    """The recipients of one transaction and the plain messages waiting to be written to their
    folders (append_messages), in arrival order."""

    def __init__(self, session: Session, known: Known):
        self.session = session
        self.generation = generations.current(session.connection(), generations.ACCESS)
        self.known = known.at(self.generation)
        self.fresh: dict[str, Recipient | None] = {}
        self.moves: dict[int, dict[bytes, tuple[int, str]]] = {}  # per user: conversations moved always
        self.oof: dict[int, bool] = {}  # per user: an Out of Office setting that may be on
        self.pending: dict[tuple[int, str], list] = {}

    def user(self, name: str) -> Recipient | None:
        """The user called `name`, read once while users stay as they are."""
        if name in self.known:
            return self.known[name]
        if name not in self.fresh:
            user = get_user(self.session, name)
            self.fresh[name] = None if user is None else Recipient(user.id, user.name, *self._inbox(user))
        return self.fresh[name]

    def _inbox(self, user: User) -> tuple[int, str]:
        # The Inbox in one query; folder_by_type (which reads every folder to create the defaults
        # first) only for a user who has none yet.
        inbox = self.session.exec(select(Folder).where(Folder.user_id == user.id, Folder.type == FolderType.Inbox,
                                                       Folder.deleted == False)).first()  # noqa: E712
        inbox = inbox or folder_by_type(self.session, user, FolderType.Inbox)
        return inbox.id, inbox.server_id

    def oof_may_apply(self, user: Recipient) -> bool:
        """Whether the user has an Out of Office setting that is not off (read once a transaction;
        Sending.oof_reply decides the rest)."""
        if user.id not in self.oof:
            state = self.session.execute(_OOF_STATE, {"user_id": user.id}).scalar()
            self.oof[user.id] = bool(state)
        return self.oof[user.id]

    def add(self, user: Recipient, mime: bytes, parsed: ParsedMessage, now: datetime) -> int:
        if user.id not in self.moves:
            rows = self.session.execute(_MOVES, {"user_id": user.id})
            self.moves[user.id] = {bytes(conversation): (folder_id, server_id) for conversation, folder_id, server_id in rows}
        folder = self.moves[user.id].get(parsed.conversation_id, (user.inbox_id, user.inbox_server_id))
        self.pending.setdefault(folder, []).append((mime, parsed, now, False))
        return folder[0]

    def write(self) -> None:
        """Store what waits, before anything else writes to these folders (order is the log's)."""
        for (folder_id, server_id), entries in self.pending.items():
            append_messages(self.session, folder_id, server_id, entries)
        self.pending.clear()


# Conversations set to be moved always (storage/conversations.py always_move_targets), as ids.
_ACTIONS, _FOLDERS, _OOF = ConversationAction.__table__, Folder.__table__, OofSettings.__table__
_MOVES = core_select(_ACTIONS.c.conversation_id, _FOLDERS.c.id, _FOLDERS.c.server_id).join_from(
    _ACTIONS, _FOLDERS, _FOLDERS.c.id == _ACTIONS.c.folder_id).where(
    _ACTIONS.c.user_id == bindparam("user_id"), _FOLDERS.c.deleted == False)  # noqa: E712
_OOF_STATE = core_select(_OOF.c.state).where(_OOF.c.user_id == bindparam("user_id"))


class _PlainGroup:
    """What _deliver decides for plain mail, on the DBAPI cursor: the folder each recipient's copy
    goes to (a conversation moved always, or the Inbox), in arrival order."""

    def __init__(self, cursor, statements, oof_possible: bool):
        self.cursor, self.statements, self.oof_possible = cursor, statements, oof_possible
        self.moves: dict[int, dict[bytes, tuple[int, str]]] = {}
        self.pending: dict[tuple[int, str], list] = {}
        self.oof = False  # a recipient's Out of Office setting may answer: the ORM path must store

    def deliver(self, job: _Job, names: list[str | None], known: dict, clock) -> tuple[DeliveryResult, Effects]:
        result, effects = DeliveryResult(), Effects()
        users: list[Recipient] = []
        for address, name in zip(job.recipients, names):
            user = known[name] if name else None
            if user is None:
                result.unknown.append(address)
            elif user not in users:
                users.append(user)
        for user in users:
            if user.id not in self.moves:
                self.oof = self.oof or (self.oof_possible and self.statements.oof_may_apply(self.cursor, user.id))
                self.moves[user.id] = self.statements.moved(self.cursor, user.id)
            parsed = job.parsed
            folder = self.moves[user.id].get(parsed.conversation_id, (user.inbox_id, user.inbox_server_id))
            self.pending.setdefault(folder, []).append((job.mime, parsed, clock.now(), False))  # rows only read it
            effects.touched.append(folder[0])
            result.delivered.append(user.name)
        return result, effects


def _parse(jobs: list[_Job]) -> None:
    for job in jobs:
        job.parsed = job.parsed or parse_message(job.mime)


class Delivery:
    def __init__(self, store: StoreContext, sending: Sending):
        self.store = store
        self.sending = sending
        self.known = Known()
        self._waiting: list[_Job] = []
        self._writer: asyncio.Task | None = None

    def _oof_after_delivery(self, session: Session, user: Recipient, mime: bytes, parsed: ParsedMessage,
                            effects: Effects, inboxes: _Inboxes) -> None:
        if self.store.mailer is None or not inboxes.oof_may_apply(user):
            return  # what oof_reply would find, without its two queries a message
        self.sending.oof_reply(session, session.get(User, user.id), mime, parsed, reply_address(mime),
                               self.store.clock.now(), effects)

    def _deliver(self, session: Session, mime: bytes, recipients: list[str], parsed: ParsedMessage,
                 inboxes: _Inboxes) -> tuple[DeliveryResult, Effects]:
        result = DeliveryResult()
        effects = Effects()
        users: list[Recipient] = []
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
                row = session.get(User, user.id)
                effects.touched += deliver_to_inbox(session, row, self.store.address(row), mime, replace(parsed), now)
            else:
                effects.touched.append(inboxes.add(user, mime, replace(parsed), now))
            result.delivered.append(user.name)
            self._oof_after_delivery(session, user, mime, parsed, effects, inboxes)
        result.outbound = effects.outbound
        return result, effects

    def _deliver_group(self, session: Session, jobs: list[_Job]) -> tuple[list[tuple[DeliveryResult, Effects]], _Inboxes]:
        # Every recipient of the group locked at once, in name order: locking job by job could take
        # two users in the other order from a transaction that delivers to both, and deadlock with
        # it on PostgreSQL.  _deliver is only ever called from here, so it takes no lock of its own.
        lock_mailboxes(session, [name for job in jobs for name in map(self.store.local_user_name, job.recipients) if name])
        inboxes = _Inboxes(session, self.known)
        out = [self._deliver(session, job.mime, job.recipients, job.parsed or parse_message(job.mime), inboxes)
               for job in jobs]
        inboxes.write()
        return out, inboxes

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
                outcomes = await _in_writer_thread(self._store_group, jobs)
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
                outcome = await _in_writer_thread(self._store_group, [job])
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
        plain = self._store_plain(jobs)
        if plain is not None:
            return plain
        try:
            out, inboxes = self.store.transaction(lambda session: self._deliver_group(session, jobs))
        except Exception:
            self.known.forget()  # whatever failed, the next try reads the users again
            raise
        self.known.learn(inboxes.generation, inboxes.fresh)
        return out

    def _store_plain(self, jobs: list[_Job]) -> list[tuple[DeliveryResult, Effects]] | None:
        """The group on the DBAPI cursor (storage/plain_mail.py), when it is plain mail to users
        remembered under the `access` generation the transaction reads, none with an Out of Office
        setting that may answer: the rows, change log and answers of the ORM path, in a few
        statements.  None (nothing written) when the ORM path must store it."""
        names = [[self.store.local_user_name(address) for address in job.recipients] for job in jobs]
        remembered = self.known.recipients
        if any(name and name not in remembered for row in names for name in row) or any(
                may_hold_itip(job.mime) for job in jobs):
            return None
        statements = for_dialect(self.store.db.engine.dialect)
        with writing(self.store.db) as cursor:
            statements.lock_users(cursor, [name for row in names for name in row if name])
            generation = statements.access_generation(cursor)
            known = self.known.recipients if self.known.generation == generation else {}
            if any(name and name not in known for row in names for name in row):
                return None
            plain = _PlainGroup(cursor, statements, self.store.mailer is not None)
            out = [plain.deliver(job, row, known, self.store.clock) for job, row in zip(jobs, names)]
            if plain.oof:
                return None  # nothing written yet: the ORM path answers Out of Office
            write_plain(cursor, statements, plain.pending)
        return out

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
        with generations.pooled_cursor(engine) as cursor:
            cursor.execute(_USER_EXISTS[engine.dialect.paramstyle], (name,))
            return cursor.fetchone() is not None


_USER_EXISTS = {"qmark": 'SELECT 1 FROM "user" WHERE name = ?', "format": 'SELECT 1 FROM "user" WHERE name = %s',
                "pyformat": 'SELECT 1 FROM "user" WHERE name = %s', "numeric": 'SELECT 1 FROM "user" WHERE name = :1'}
