"""The DirectoryPort: the GAL, ResolveRecipients, ValidateCert's trust.

Free/busy comes from the users' calendars: every occurrence of the events in their calendar
folders, exceptions applied, cancelled meetings left out (eas.pim.calendar.busy_intervals).  A mail
user (directory `external_address` set) has no calendar here: no data.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime

from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from easlab.eas import gal
from easlab.storage.directory import directory_entries, load_details
from easlab.storage.models_directory import UserDirectory  # noqa: F401  (registers the table)

from .context import StoreContext

log = logging.getLogger("easlab.store")

TRUST_SUFFIXES = (".pem", ".crt", ".cer")


class DirectoryAdapter:
    def __init__(self, store: StoreContext):
        self.store = store

    # -- GAL ---------------------------------------------------------------------------------------
    async def gal_search(self, ctx, query: str, range: tuple[int, int], options: gal.PictureOptions | None):
        """The GAL entries `query` matches, the requested page of them, photos loaded if asked."""
        def work(session):
            self.store.who(session, ctx)
            found = gal.search(directory_entries(session, self.store.domain), query)
            result = gal.page(found, range)
            load_details(session, result.entries, pictures=options is not None)
            return result

        return await self.store.run(work)

    # -- ResolveRecipients -------------------------------------------------------------------------
    async def resolve_recipients(self, ctx, query) -> tuple[list[gal.Resolved], datetime]:
        """Each To of `query` (eas.commands.resolverecipients.ResolveQuery) resolved, with what
        the response shows loaded; and the time certificates are judged at."""
        def work(session):
            self.store.who(session, ctx)
            entries = directory_entries(session, self.store.domain)
            resolved = [gal.Resolved(name, gal.resolve(entries, name)) for name in query.names]
            shown = {id(e): e for r in resolved for e in gal.suggestions(r.found, query.max_ambiguous)}
            unique = {id(r.found[0]): r.found[0] for r in resolved if len(r.found) == 1}
            load_details(session, list(shown.values()), pictures=query.picture is not None)
            load_details(session, list(unique.values()), certificates=query.certificate_retrieval != 1)
            if query.availability is not None:
                start, end = query.availability
                for item in resolved:
                    if len(item.found) == 1:
                        item.busy = _busy_intervals(session, item.found[0], start, end)
            return resolved, self.store.clock.now()

        return await self.store.run(work)

    # -- ValidateCert ------------------------------------------------------------------------------
    async def certificate_trust(self, ctx) -> tuple[list[bytes], datetime]:
        """The trust store's files (PEM bundles, as read) and the time to validate at."""
        folder = self.store.trust_store
        return await run_in_threadpool(read_trust_store, folder), self.store.clock.now()


def _busy_intervals(session, entry: gal.DirectoryEntry, start: datetime, end: datetime):
    """(start, end, BusyStatus) of `entry`'s occurrences overlapping [start, end); None: no data."""
    from easlab.eas.pim.calendar import busy_intervals
    from easlab.storage.models import Folder, Item

    if entry.external_address:
        return None
    folders = select(Folder.id).where(Folder.user_id == entry.user_id, Folder.type.in_((8, 13)), Folder.deleted == False)  # noqa: E712
    # An item's date_received is the end of its last occurrence (storage/pim.py): earlier ones are over.
    rows = session.exec(select(Item.pim).where(Item.folder_id.in_(folders), Item.date_received >= start))
    out = []
    for pim in rows:
        out += busy_intervals(pim or [], start, end)
    return out


def read_trust_store(folder: str | None) -> list[bytes]:
    if not folder:
        return []
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        log.warning("trust store %s: %s", folder, exc)
        return []
    out = []
    for name in names:
        if name.lower().endswith(TRUST_SUFFIXES):
            try:
                with open(os.path.join(folder, name), "rb") as fh:
                    out.append(fh.read())
            except OSError as exc:
                log.warning("trust store %s: %s", name, exc)
    return out
