"""The DirectoryPort: the GAL, ResolveRecipients, ValidateCert's trust.

Free/busy comes from the users' calendars: every occurrence of the events in their calendar
folders, exceptions applied, cancelled meetings left out (eas.pim.calendar.Event), read through
a cache kept until a folder changes (freebusy.py).  A mail user (directory `external_address`
set) has no calendar here: no data.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from easlab.eas import gal
from easlab.storage.directory import directory_entries, load_details
from easlab.storage.models_directory import UserDirectory  # noqa: F401  (registers the table)

from .context import StoreContext
from .freebusy import CalendarCache

log = logging.getLogger("easlab.store")

TRUST_SUFFIXES = (".pem", ".crt", ".cer")


class DirectoryAdapter:
    def __init__(self, store: StoreContext):
        self.store = store
        self.calendars = CalendarCache()

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
                        entry = item.found[0]
                        # A mail user (external_address) has no calendar here: no data.
                        item.busy = None if entry.external_address else self.calendars.busy_intervals(
                            session, entry.user_id, start, end)
            return resolved, self.store.clock.now()

        return await self.store.run(work)

    # -- ValidateCert ------------------------------------------------------------------------------
    async def certificate_trust(self, ctx) -> tuple[list[bytes], datetime]:
        """The trust store's files (PEM bundles, as read) and the time to validate at."""
        folder = self.store.trust_store
        return await run_in_threadpool(read_trust_store, folder), self.store.clock.now()


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
