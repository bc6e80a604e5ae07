"""The directory's part of the store interface: the GAL, ResolveRecipients, ValidateCert's trust.

A mixin for MailStore (it uses MailStore's `db`, `domain`, `clock`, `_who` and `_in_transaction`);
each method is one transaction in a worker thread, like MailStore's own.

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

log = logging.getLogger("easlab.store")

TRUST_SUFFIXES = (".pem", ".crt", ".cer")


class DirectoryStore:
    trust_store: str | None = None  # folder of PEM files: the roots ValidateCert trusts (None: none)

    # -- GAL ---------------------------------------------------------------------------------------
    async def gal_search(self, ctx, query: str, range: tuple[int, int], options: gal.PictureOptions | None):
        """The GAL entries `query` matches, the requested page of them, photos loaded if asked."""
        def work(session):
            self._who(session, ctx)
            found = gal.search(directory_entries(session, self.domain), query)
            result = gal.page(found, range)
            load_details(session, result.entries, pictures=options is not None)
            return result

        return await run_in_threadpool(self._in_transaction, work)

    # -- ResolveRecipients -------------------------------------------------------------------------
    async def resolve_recipients(self, ctx, query) -> tuple[list[gal.Resolved], datetime]:
        """Each To of `query` (eas.commands.resolverecipients.ResolveQuery) resolved, with what
        the response shows loaded; and the time certificates are judged at."""
        def work(session):
            self._who(session, ctx)
            entries = directory_entries(session, self.domain)
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
            return resolved, self.clock.now()

        return await run_in_threadpool(self._in_transaction, work)

    # -- ValidateCert ------------------------------------------------------------------------------
    async def certificate_trust(self, ctx) -> tuple[list[bytes], datetime]:
        """The trust store's files (PEM bundles, as read) and the time to validate at."""
        folder = self.trust_store
        return await run_in_threadpool(read_trust_store, folder), self.clock.now()


def _busy_intervals(session, entry: gal.DirectoryEntry, start: datetime, end: datetime):
    """(start, end, BusyStatus) of `entry`'s occurrences overlapping [start, end); None: no data."""
    import json

    from easlab.eas.pim.calendar import busy_intervals
    from easlab.storage.models import Folder, Item

    if entry.external_address:
        return None
    folders = select(Folder.id).where(Folder.user_id == entry.user_id, Folder.type.in_((8, 13)), Folder.deleted == False)  # noqa: E712
    # An item's date_received is the end of its last occurrence (storage/pim.py): earlier ones are over.
    rows = session.exec(select(Item.pim).where(Item.folder_id.in_(folders), Item.date_received >= start))
    out = []
    for pim in rows:
        out += busy_intervals(json.loads(pim or "[]"), start, end)
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
