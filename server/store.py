"""The server's side of the ports `eas.ports` declares, over `storage`.

Each method is one database transaction, run in a worker thread so the event loop (and every
held Ping on it) never waits for the disk; after a commit that added items, the push hub is told
which folders changed.
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field, replace

from starlette.concurrency import run_in_threadpool
from sqlmodel import select

from easlab.eas.folders import FolderType
from easlab.storage import Database
from easlab.storage import sync as queries
from easlab.storage.folders import folder_sync_with_echoes
from easlab.storage.devices import get_device, touch_device
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.scheduling import deliver_to_inbox
from easlab.storage.policies import policy_for
from easlab.storage.models import User
from easlab.storage.users import get_user

from .push import PushHub
from .store_directory import DirectoryStore
from .store_compose import ComposeStore
from .store_items import ItemStore
from .store_meeting import MeetingStore

log = logging.getLogger("easlab.store")


@dataclass
class DeliveryResult:
    delivered: list[str] = field(default_factory=list)  # user names
    unknown: list[str] = field(default_factory=list)  # addresses with no local user
    outbound: bool = False  # automatic replies queued for other domains


class MailStore(ItemStore, DirectoryStore, ComposeStore, MeetingStore):
    def __init__(self, db: Database, hub: PushHub, domain: str, mailer=None, outbound=None,
                 trust_store: str | None = None):
        self.db = db
        self.trust_store = trust_store  # folder of PEM files ValidateCert trusts (server/store_directory.py)
        self.hub = hub
        self.domain = domain.lower()
        self.mailer = mailer
        self.outbound = outbound
        self.clock = hub.clock
        self._user_ids: dict[str, int] = {}

    def local_user_name(self, address: str) -> str | None:
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower() != self.domain or not local:
            return None
        return local.lower()

    def _deliver(self, mime: bytes, recipients: list[str]) -> tuple[DeliveryResult, list[int]]:
        from easlab.eas.mime import parse_message

        result = DeliveryResult()
        touched: list[int] = []
        parsed = parse_message(mime)
        with self.db.session() as session:
            users: list[User] = []
            for address in recipients:
                name = self.local_user_name(address)
                user = get_user(session, name) if name else None
                if user is None:
                    result.unknown.append(address)
                elif user not in users:
                    users.append(user)
            for user in users:
                touched += deliver_to_inbox(session, user, f"{user.name}@{self.domain}", mime, replace(parsed),
                                            self.clock.now())
                result.delivered.append(user.name)
                if self.oof_after_delivery(session, user, mime, parsed, touched):
                    result.outbound = True
        return result, touched

    async def deliver(self, mime: bytes, recipients: list[str]) -> DeliveryResult:
        """Store `mime` in the Inbox of every local recipient, in one transaction, then wake the
        Pings that watch those Inboxes.  Addresses without a local user are returned, not stored."""
        result, touched = await run_in_threadpool(self._deliver, mime, recipients)
        if touched:
            self.hub.notify(touched)
        if result.outbound and self.outbound is not None:
            self.outbound.kick()
        return result

    def user_exists(self, address: str) -> bool:
        name = self.local_user_name(address)
        if not name:
            return False
        with self.db.session() as session:
            return session.exec(select(User.id).where(User.name == name)).first() is not None

    # -- eas.ports.SyncPort ----------------------------------------------------------------------
    def _who(self, session, ctx):
        """(user, device) of a request.  A read: the gate already created or touched the
        partnership for this request, and a held Ping's checks must not queue for SQLite's
        single writer."""
        user = get_user(session, ctx.user)
        device = get_device(session, user, ctx.request.device_id)
        if device is None:  # only for callers that bypass the gate (unit tests of one command)
            line = ctx.request
            device = touch_device(session, user, line.device_id, line.device_type, line.user_agent,
                                  line.protocol_version, now=self.clock.now())
        return user, device

    def _in_transaction(self, work):
        with self.db.session() as session:
            return work(session)

    async def folder_sync(self, ctx, sync_key):
        def work(session):
            user, device = self._who(session, ctx)
            return folder_sync_with_echoes(session, user, device, sync_key)

        return await run_in_threadpool(self._in_transaction, work)

    async def sync_collection(self, ctx, request, render):
        from easlab.eas.commands.sync import SyncOptions

        added: set[int] = set()
        drafts = self.draft_context(ctx)

        def work(session):
            user, device = self._who(session, ctx)
            notice = device.quarantine_notice_id if ctx.restricted else None
            return queries.sync_collection(session, user, device, request, SyncOptions, render, self.clock.now(),
                                           added, restricted=ctx.restricted, notice_id=notice, drafts=drafts)

        outcome = await run_in_threadpool(self._in_transaction, work)
        if added:
            self.hub.notify(added)
        drafts.finish()
        return outcome

    async def estimate(self, ctx, collection):
        def work(session):
            user, device = self._who(session, ctx)
            return queries.estimate(session, user, device, collection.collection_id, collection.sync_key,
                                    collection.filter_type, self.clock.now(),
                                    restricted=ctx.restricted, notice_id=device.quarantine_notice_id)

        return await run_in_threadpool(self._in_transaction, work)

    async def pending_adds(self, ctx, collection_ids):
        from easlab.eas.records import PingCheck

        def work(session):
            user, device = self._who(session, ctx)
            status, changed, watch = queries.pending_adds(session, user, device, collection_ids, restricted=ctx.restricted,
                                                          notice_id=device.quarantine_notice_id)
            return PingCheck(status, changed, watch)

        return await run_in_threadpool(self._in_transaction, work)

    async def wait(self, ctx, watch, timeout):
        user_id = self._user_ids.get(ctx.user)
        if user_id is None:  # ids never change, so one lookup per user and process
            user_id = self._user_ids[ctx.user] = await run_in_threadpool(self._user_id, ctx.user)
        return await self.hub.wait(user_id, ctx.request.device_id, watch, timeout)

    def _user_id(self, name):
        with self.db.session() as session:
            return session.exec(select(User.id).where(User.name == name)).one()

    async def cached_request(self, ctx, kind):
        def work(session):
            _, device = self._who(session, ctx)
            if kind == "sync":
                return device.cached_sync or None
            if kind == "ping":
                return json.dumps({"heartbeat": device.ping_heartbeat, "folders": json.loads(device.ping_folders or "[]")}).encode() if device.ping_heartbeat else None
            raise ValueError(kind)

        return await run_in_threadpool(self._in_transaction, work)

    async def cache_request(self, ctx, kind, data):
        def work(session):
            _, device = self._who(session, ctx)
            if kind == "sync":
                device.cached_sync = data
            elif kind == "ping":
                cached = json.loads(data)
                device.ping_heartbeat = cached["heartbeat"]
                device.ping_folders = json.dumps(cached["folders"])
            session.add(device)

        await run_in_threadpool(self._in_transaction, work)

    # -- provisioning ----------------------------------------------------------------------------
    async def gate(self, ctx, command, request=None):
        """Access control and the policy check for this request (server/gate.py)."""
        from .gate import run_gate

        def work(session):
            user = get_user(session, ctx.user)
            return run_gate(session, self.mailer, user, ctx, command, self.clock.now(), request)

        gate, effects = await run_in_threadpool(self._in_transaction, work)
        if effects.touched:
            self.hub.notify(effects.touched)
        if effects.outbound and self.outbound is not None:
            self.outbound.kick()
        return gate

    async def provision(self, ctx, decide):
        from easlab.eas.machines.provision import ProvisionView
        from easlab.eas.policy import PolicySettings

        touched: list[int] = []

        def work(session):
            user, device = self._who(session, ctx)
            policy = policy_for(session, user)
            now = self.clock.now()
            view = ProvisionView(
                version=ctx.version,
                settings=PolicySettings.from_json(policy.settings) if policy else None,
                policy_name=policy.name if policy else "",
                temp_policy_key=device.temp_policy_key,
                wipe_state=device.wipe_state,
                wipe_account_only=device.wipe_account_only,
                new_temp_key=secrets.randbelow(0xFFFFFFFF) + 1,
                now=now,
            )
            result, update = decide(view)
            for name, value in update.fields.items():
                setattr(device, name, value)
            session.add(device)
            if update.wipe_confirmation:
                from .notices import wipe_confirmation

                rows = [("Device ID", device.device_id), ("Device type", device.device_type), ("Model", device.model),
                        ("User agent", device.user_agent), ("Protocol version", device.protocol_version)]
                mime = wipe_confirmation(self.domain, f"{user.name}@{self.domain}", user.display_name, rows, now)
                from easlab.eas.mime import parse_message

                parsed = parse_message(mime)
                parsed.message_class = "IPM.Note.Exchange.ActiveSync.RemoteWipeConfirmation"
                inbox = folder_by_type(session, user, FolderType.Inbox)
                store_message(session, inbox, mime, parsed=parsed)
                touched.append(inbox.id)
            return result

        result = await run_in_threadpool(self._in_transaction, work)
        if touched:
            self.hub.notify(touched)
        return result
