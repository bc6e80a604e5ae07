"""The server's side of the ports `eas.ports` declares, over `storage`: one adapter per port, composed
by MailStore, which is what a command's `ctx.store` is.

The adapters share nothing but a StoreContext (server/store/context.py: database, push hub,
clock, mailer, outbound queue, domain, trust store) and the mail-out service `Sending`, both
handed to them here.  Each port method is one database transaction in a worker thread.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from easlab.storage import Database

from .access import AccessAdapter
from .compose import ComposeAdapter
from .context import StoreContext
from .delivery import Delivery, DeliveryResult
from .directory import DirectoryAdapter
from .documents import DocumentAdapter
from .folders import FolderAdapter
from .items import ItemAdapter
from .meeting import MeetingAdapter
from .sending import Sending
from .settings import SettingsAdapter
from .sync import SyncAdapter

if TYPE_CHECKING:
    from ..push import PushHub

__all__ = ["DeliveryResult", "MailStore", "StoreContext"]


class MailStore:
    """Every port (eas.ports.Ports), each method handed to its adapter; and delivery from outside EAS."""

    def __init__(self, db: Database, hub: PushHub, domain: str, mailer=None, outbound=None,
                 trust_store: str | None = None):
        self.context = StoreContext(db=db, hub=hub, clock=hub.clock, domain=domain.lower(), mailer=mailer,
                                    outbound=outbound, trust_store=trust_store)
        self.trips = self.context.trips  # the door's reads ride these too (server/traces.py)
        self.sending = sending = Sending(self.context)  # one mail-out service for every adapter that sends
        self.access_port = AccessAdapter(self.context)
        self.sync_port = SyncAdapter(self.context, sending)
        self.folder_port = FolderAdapter(self.context)
        self.item_port = ItemAdapter(self.context)
        self.compose_port = ComposeAdapter(self.context, sending)
        self.settings_port = SettingsAdapter(self.context)
        self.directory_port = DirectoryAdapter(self.context)
        self.meeting_port = MeetingAdapter(self.context, sending)
        self.document_port = DocumentAdapter(self.context)
        self.delivery = Delivery(self.context, sending)
        self.access_port.read_ahead = self.read_ahead

    def read_ahead(self, command: str | None):
        """What a worker thread may read for `command` on a trip it makes anyway (context.READ_AHEAD):
        f(user, device_id, hub tick) -> what the command takes, or None for nothing."""
        return self.sync_port.read_kept_ping if command == "Ping" else None

    @property
    def domain(self) -> str:
        return self.context.domain

    def local_user_name(self, address: str) -> str | None:
        return self.context.local_user_name(address)

    # -- delivery from outside EAS (SMTP, the test API) ---------------------------------------------
    async def deliver(self, mime: bytes, recipients: list[str]) -> DeliveryResult:
        return await self.delivery.deliver(mime, recipients)

    def user_exists(self, address: str) -> bool:
        return self.delivery.user_exists(address)

    def remembered_user(self, name: str, access: int) -> bool | None:
        """Whether `name` is a user, from delivery's memory under the `access` generation; None:
        not remembered (ask user_exists)."""
        return self.delivery.known.lookup(access, name)

    # -- AccessPort ---------------------------------------------------------------------------------
    async def gate(self, ctx, command, request=None):
        return await self.access_port.gate(ctx, command, request)

    async def provision(self, ctx, decide):
        return await self.access_port.provision(ctx, decide)

    # -- SyncPort -----------------------------------------------------------------------------------
    async def folder_sync(self, ctx, sync_key):
        return await self.sync_port.folder_sync(ctx, sync_key)

    async def sync_collection(self, ctx, request, render, keep=None):
        return await self.sync_port.sync_collection(ctx, request, render, keep)

    async def quiet_sync(self, ctx, requests, sent):
        return await self.sync_port.quiet_sync(ctx, requests, sent)

    async def estimate(self, ctx, collection):
        return await self.sync_port.estimate(ctx, collection)

    async def pending_adds(self, ctx, collection_ids):
        return await self.sync_port.pending_adds(ctx, collection_ids)

    async def wait(self, ctx, watch, timeout):
        return await self.sync_port.wait(ctx, watch, timeout)

    async def cached_request(self, ctx, kind):
        return await self.sync_port.cached_request(ctx, kind)

    async def cache_request(self, ctx, kind, data):
        return await self.sync_port.cache_request(ctx, kind, data)

    # -- FolderPort ---------------------------------------------------------------------------------
    async def folder_create(self, ctx, sync_key, parent_id, display_name, ftype):
        return await self.folder_port.folder_create(ctx, sync_key, parent_id, display_name, ftype)

    async def folder_update(self, ctx, sync_key, server_id, parent_id, display_name):
        return await self.folder_port.folder_update(ctx, sync_key, server_id, parent_id, display_name)

    async def folder_delete(self, ctx, sync_key, server_id):
        return await self.folder_port.folder_delete(ctx, sync_key, server_id)

    async def hierarchy(self, ctx):
        return await self.folder_port.hierarchy(ctx)

    # -- ItemPort -----------------------------------------------------------------------------------
    async def move_items(self, ctx, moves):
        return await self.item_port.move_items(ctx, moves)

    async def fetch(self, ctx, request):
        return await self.item_port.fetch(ctx, request)

    async def empty_folder(self, ctx, collection_id, delete_subfolders):
        return await self.item_port.empty_folder(ctx, collection_id, delete_subfolders)

    async def move_conversation(self, ctx, conversation_id, destination_id):
        return await self.item_port.move_conversation(ctx, conversation_id, destination_id)

    async def attachment(self, ctx, file_reference):
        return await self.item_port.attachment(ctx, file_reference)

    async def search_mailbox(self, ctx, query):
        return await self.item_port.search_mailbox(ctx, query)

    async def find_mailbox(self, ctx, search_id, query):
        return await self.item_port.find_mailbox(ctx, search_id, query)

    # -- ComposePort, SettingsPort, MeetingPort -----------------------------------------------------
    async def compose(self, ctx, request):
        return await self.compose_port.compose(ctx, request)

    async def settings(self, ctx, blocks):
        return await self.settings_port.settings(ctx, blocks)

    async def meeting_response(self, ctx, answers):
        return await self.meeting_port.meeting_response(ctx, answers)

    # -- DirectoryPort ------------------------------------------------------------------------------
    async def gal_search(self, ctx, query, range, options):
        return await self.directory_port.gal_search(ctx, query, range, options)

    async def resolve_recipients(self, ctx, query):
        return await self.directory_port.resolve_recipients(ctx, query)

    async def certificate_trust(self, ctx):
        return await self.directory_port.certificate_trust(ctx)

    # -- DocumentPort ---------------------------------------------------------------------------------
    async def documents(self, ctx, path):
        return await self.document_port.documents(ctx, path)

    async def document(self, ctx, path):
        return await self.document_port.document(ctx, path)
