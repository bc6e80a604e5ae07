"""The directory's part of the store interface: the GAL, ResolveRecipients, ValidateCert's trust.

A mixin for MailStore (it uses MailStore's `db`, `domain`, `clock`, `_who` and `_in_transaction`);
each method is one transaction in a worker thread, like MailStore's own.

Free/busy comes from the users' calendars.  easlab has no calendar storage yet, so a resolved
user's calendar reads as empty (all free) unless a table named `calendar_event` exists; then it is
read as one row per occurrence: `user_id` (user.id), `start_time` and `end_time` (UTC), `busy_status`
(MS-ASCAL BusyStatus: 0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere), and, if
the table has it, a boolean `deleted` that hides a row.  A table without those columns reads as
"no data".  A mail user (directory `external_address` set) has no calendar here: no data either.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from sqlalchemy import MetaData, Table, and_, inspect, select
from starlette.concurrency import run_in_threadpool

from eas import gal
from storage.directory import directory_entries, load_details
from storage.models_directory import UserDirectory  # noqa: F401  (registers the table)

log = logging.getLogger("easlab.store")

CALENDAR_TABLE = "calendar_event"
TRUST_SUFFIXES = (".pem", ".crt", ".cer")


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


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
                calendar = _calendar_table(session)
                for item in resolved:
                    if len(item.found) == 1:
                        item.busy = _busy_intervals(session, calendar, item.found[0], start, end)
            return resolved, self.clock.now()

        return await run_in_threadpool(self._in_transaction, work)

    # -- ValidateCert ------------------------------------------------------------------------------
    async def certificate_trust(self, ctx) -> tuple[list[bytes], datetime]:
        """The trust store's files (PEM bundles, as read) and the time to validate at."""
        folder = self.trust_store
        return await run_in_threadpool(read_trust_store, folder), self.clock.now()


def _calendar_table(session):
    """The `calendar_event` table as reflected; None when there is none, False when it has
    another shape than the one assumed (see the module's docstring)."""
    conn = session.connection()
    if not inspect(conn).has_table(CALENDAR_TABLE):
        return None
    table = Table(CALENDAR_TABLE, MetaData(), autoload_with=conn)
    if not {"user_id", "start_time", "end_time", "busy_status"} <= set(table.c.keys()):
        log.warning("table %s lacks user_id/start_time/end_time/busy_status: free/busy reads as no data", CALENDAR_TABLE)
        return False
    return table


def _busy_intervals(session, calendar, entry: gal.DirectoryEntry, start: datetime, end: datetime):
    """(start, end, BusyStatus) of `entry`'s appointments overlapping [start, end); None: no data."""
    if entry.external_address or calendar is False:
        return None
    if calendar is None:
        return []  # no calendar storage yet: nothing booked
    cols = calendar.c
    where = and_(cols.user_id == entry.user_id, cols.start_time < _naive_utc(end), cols.end_time > _naive_utc(start))
    if "deleted" in cols:
        where = and_(where, cols.deleted.is_not(True))
    rows = session.execute(select(cols.start_time, cols.end_time, cols.busy_status).where(where))
    return [(_aware(s), _aware(e), int(b if b is not None else 2)) for s, e, b in rows]


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
