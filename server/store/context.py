"""What every store adapter shares, handed to each explicitly: the database, the push hub, the clock,
the mailer, the outbound queue, the domain and the trust store.

Each port method is one database transaction, run in a worker thread (`run`) so the event loop
(and every held Ping on it) never waits for the disk; after the commit, the folders that got items
are told to the push hub and mail for other domains kicks the outbound sender (`follow_up`).
"""
from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from easlab.storage import Database
from easlab.storage.devices import get_device, touch_device
from easlab.storage.models import Device, User
from easlab.storage.users import get_user, lock_mailboxes

from ..trips import Trips

if TYPE_CHECKING:
    from easlab.eas.context import CommandContext

    from ..mailer import Mailer
    from ..outbound import Outbound
    from ..push import PushHub

T = TypeVar("T")

# What a worker thread already read for the request's command on a trip it made anyway (the door's
# in server/traces.py, or the gate's for a device not in memory): the command takes it instead of
# a trip of its own, since handing work to a thread and back is most of a Ping's cost.  Set on the
# loop in the request's own task, taken once (SyncAdapter.read_kept_ping).
READ_AHEAD: ContextVar[Any] = ContextVar("easlab_read_ahead", default=None)


@dataclass
class Effects:
    """What a transaction did that the loop must follow up: folders that got items (wake their
    Pings), mail queued for other domains (kick the Outbound sender).  Mailer.send fills it too."""

    touched: list[int] = field(default_factory=list)
    outbound: bool = False


@dataclass(frozen=True)
class StoreContext:
    db: Database
    hub: PushHub
    clock: Any  # server/clock.py: now()
    domain: str  # lower case
    mailer: Mailer | None = None
    outbound: Outbound | None = None
    trust_store: str | None = None  # folder of PEM files: the roots ValidateCert trusts (None: none)
    # (user name, DeviceId) -> (user id, device row id), as the access gate found them: the
    # command's transactions then load both rows by primary key, not by name again.
    ids: dict = field(default_factory=dict, compare=False, repr=False)
    # Reads that many requests make at once (a storm's gate and door) go to worker threads
    # together, a list per trip (server/trips.py).
    trips: Trips = field(default_factory=Trips, compare=False, repr=False)

    def address(self, user: User) -> str:
        return f"{user.name}@{self.domain}"

    def local_user_name(self, address: str) -> str | None:
        """The user name of an address in this domain; None for other domains."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower() != self.domain or not local:
            return None
        return local.lower()

    def transaction(self, work: Callable[[Session], T], write: bool = True) -> T:
        with self.db.session(write=write) as session:
            return work(session)

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work` in one transaction, in a worker thread."""
        return await run_in_threadpool(self.transaction, work)

    async def read(self, work: Callable[[Session], T]) -> T:
        """`work`, which only reads, in one transaction in a worker thread: it does not queue
        behind SQLite's writer (a held Ping's checks, the lookups before a command)."""
        return await run_in_threadpool(self.transaction, work, False)

    async def read_first(self, work: Callable[[Session], T]) -> T:
        """`work` in a reading transaction, again in a writing one if it writes (Database.read_first)."""
        return await run_in_threadpool(self.db.read_first, work)

    def who(self, session: Session, ctx: CommandContext) -> tuple[User, Device]:
        """(user, device) of a request.  A read: the gate already created or touched the
        partnership for this request, and a held Ping's checks must not queue for SQLite's
        single writer.  In a writing transaction the user's mailbox is locked first, so two
        devices of the user changing it at once take turns (storage.users.lock_mailboxes)."""
        if session.info.get("write", True):
            lock_mailboxes(session, [ctx.user])
        user, device = self._rows(session, ctx.user, ctx.request.device_id)
        if device is None:  # only for callers that bypass the gate (unit tests of one command)
            line = ctx.request
            device = touch_device(session, user, line.device_id, line.device_type, line.user_agent,
                                  line.protocol_version, now=self.clock.now())
        return user, device

    def _rows(self, session: Session, name: str, device_id: str) -> tuple[User, Device | None]:
        ids = self.ids.get((name, device_id))
        if ids is not None:
            user = session.get(User, ids[0])
            device = session.get(Device, ids[1]) if user is not None and user.name == name else None
            # A removed user or device may leave its id to another row: only the same pair counts.
            if device is not None and device.user_id == user.id and device.device_id == device_id:
                return user, device
            self.ids.pop((name, device_id), None)
        user = get_user(session, name)
        return user, get_device(session, user, device_id)

    def follow_up(self, effects: Effects) -> None:
        """On the loop, after the transaction committed."""
        if effects.touched:
            self.hub.notify(set(effects.touched))
        if effects.outbound and self.outbound is not None:
            self.outbound.kick()
