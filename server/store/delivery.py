"""Mail arriving from outside EAS (SMTP, the test API): stored in each local recipient's Inbox in one
transaction, the Pings watching those Inboxes woken after the commit, Out of Office answered."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlmodel import Session, select

from easlab.eas.mime import ParsedMessage, parse_message
from easlab.eas.oof import reply_address
from easlab.storage.models import User
from easlab.storage.scheduling import deliver_to_inbox
from easlab.storage.users import get_user, lock_mailboxes

from .context import Effects, StoreContext
from .sending import Sending


@dataclass
class DeliveryResult:
    delivered: list[str] = field(default_factory=list)  # user names
    unknown: list[str] = field(default_factory=list)  # addresses with no local user
    outbound: bool = False  # automatic replies queued for other domains


class Delivery:
    def __init__(self, store: StoreContext, sending: Sending):
        self.store = store
        self.sending = sending

    def _oof_after_delivery(self, session: Session, user: User, mime: bytes, parsed: ParsedMessage, effects: Effects) -> None:
        self.sending.oof_reply(session, user, mime, parsed, reply_address(mime), self.store.clock.now(), effects)

    def _deliver(self, session: Session, mime: bytes, recipients: list[str]) -> tuple[DeliveryResult, Effects]:
        result = DeliveryResult()
        effects = Effects()
        parsed = parse_message(mime)
        users: list[User] = []
        lock_mailboxes(session, [name for name in map(self.store.local_user_name, recipients) if name])
        for address in recipients:
            name = self.store.local_user_name(address)
            user = get_user(session, name) if name else None
            if user is None:
                result.unknown.append(address)
            elif user not in users:
                users.append(user)
        for user in users:
            effects.touched += deliver_to_inbox(session, user, self.store.address(user), mime, replace(parsed),
                                                self.store.clock.now())
            result.delivered.append(user.name)
            self._oof_after_delivery(session, user, mime, parsed, effects)
        result.outbound = effects.outbound
        return result, effects

    async def deliver(self, mime: bytes, recipients: list[str]) -> DeliveryResult:
        """Store `mime` in the Inbox of every local recipient, in one transaction, then wake the
        Pings that watch those Inboxes.  Addresses without a local user are returned, not stored."""
        result, effects = await self.store.run(lambda session: self._deliver(session, mime, recipients))
        self.store.follow_up(effects)
        return result

    def user_exists(self, address: str) -> bool:
        name = self.store.local_user_name(address)
        if not name:
            return False
        with self.store.db.session() as session:
            return session.exec(select(User.id).where(User.name == name)).first() is not None
