"""The SettingsPort: Out of Office, DeviceInformation, the recovery password, UserInformation and
RightsManagement, every block of a request in one transaction."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from easlab.eas.commands.settings import (
    DENIED_BY_POLICY, SERVER_UNAVAILABLE, SUCCESS, BlockResult, DeviceInformationSet, DevicePasswordSet, OofGet, OofSet,
    RightsManagementGet, UserInformationGet,
)
from easlab.eas.policy import PolicySettings
from easlab.storage.models import Device, User
from easlab.storage.models_compose import OofReply, OofSettings
from easlab.storage import rights
from easlab.storage.policies import policy_for

from .context import StoreContext
from .sending import OOF_COLUMNS, oof_config

log = logging.getLogger("easlab.compose")


def recovery_allowed(session: Session, user: User) -> bool:
    policy = policy_for(session, user)
    return bool(policy and PolicySettings.from_dict(policy.settings).PasswordRecoveryEnabled)


_INSERT = {"sqlite": sqlite_insert, "postgresql": pg_insert}


def _oof_row(session: Session, user: User, now: datetime) -> OofSettings:
    """The user's OofSettings row, made on the first set.  Two first sets at once (two devices
    of the user, say) both find none: the insert that comes second does nothing, in the same
    statement (it waits for the first one's commit), and both then update the one row."""
    row = session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).first()
    if row is not None:
        return row
    values = OofSettings(user_id=user.id, changed_at=now).model_dump(exclude={"id"})
    insert = _INSERT[session.get_bind().dialect.name]
    session.exec(insert(OofSettings).values(**values).on_conflict_do_nothing(index_elements=["user_id"]))
    return session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).one()


def set_oof(session: Session, user: User, req: OofSet, now: datetime) -> None:
    row = _oof_row(session, user, now)
    if req.state is not None:
        row.state = req.state
    if req.start is not None:
        row.start_time = req.start
    if req.end is not None:
        row.end_time = req.end
    for audience, message in req.messages.items():
        column = OOF_COLUMNS[audience]
        setattr(row, f"{column}_enabled", message.enabled)
        setattr(row, f"{column}_message", message.message)
        setattr(row, f"{column}_html", message.html)
    row.changed_at = now
    session.add(row)
    # A new Out-of-Office period: everyone may get one reply again.
    session.exec(sql_delete(OofReply).where(OofReply.user_id == user.id))


def _recovery_password(session: Session, user: User, device: Device, password: str) -> BlockResult:
    if not recovery_allowed(session, user):
        return BlockResult(DENIED_BY_POLICY)
    if "recovery_password" not in type(device).model_fields:
        log.error("Device.recovery_password is missing (storage/models.py): recovery password not stored")
        return BlockResult(SERVER_UNAVAILABLE)
    device.recovery_password = password
    session.add(device)
    return BlockResult(SUCCESS)


class SettingsAdapter:
    def __init__(self, store: StoreContext):
        self.store = store

    def _block(self, session: Session, user: User, device: Device, block, now: datetime) -> BlockResult:
        req = block.request
        if isinstance(req, OofGet):
            row = session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).first()
            return BlockResult(SUCCESS, oof=oof_config(row), body_type=req.body_type)
        if isinstance(req, OofSet):
            set_oof(session, user, req, now)
            return BlockResult(SUCCESS)
        if isinstance(req, DeviceInformationSet):
            for column, value in req.fields.items():
                setattr(device, column, value)
            session.add(device)
            return BlockResult(SUCCESS)
        if isinstance(req, DevicePasswordSet):
            return _recovery_password(session, user, device, req.password)
        if isinstance(req, UserInformationGet):
            return BlockResult(SUCCESS, address=self.store.address(user), display_name=user.display_name)
        if isinstance(req, RightsManagementGet):
            # IRM off: Exchange offers no template (and refuses to protect, status 168).
            return BlockResult(SUCCESS, templates=rights.templates(session) if rights.irm_enabled(session) else [])
        return BlockResult(block.status)  # None too: the block was refused when read

    async def settings(self, ctx, blocks):
        def work(session: Session):
            user, device = self.store.who(session, ctx)
            now = self.store.clock.now()
            return [self._block(session, user, device, block, now) for block in blocks]

        return await self.store.run(work)
