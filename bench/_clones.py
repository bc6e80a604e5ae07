"""Thousands of users and synced devices in seconds, for the benchmarks that need them (bench/soak.py).

- `clone_users`: one user made by the store's own path (storage.users.add_user: the user row and
  its default folders, as `easlab user add` makes them), copied under other names.  Every copy
  stores the SAME password hash string, and the server's authenticator caches a verified
  password keyed by (stored hash, password), so 10,000 users cost one argon2 hash here and one
  argon2 check in the server instead of 10,000 of each (~35 ms apiece on this machine).
- `clone_device_to_users`: one primed device (FolderSync, Sync 0, Sync over HTTP) copied to other
  users in the database: its Device row and SyncState rows under each user's id.  New users'
  mailboxes are alike (ServerIds 1-10, hierarchy counter 10, empty folders with change counter 0),
  so the template's keys and change positions stand for theirs too; the copies start synced, as
  if each had done what the template did.
"""
from __future__ import annotations

import datetime as dt
import time

from _common import PASSWORD

CHUNK = 500  # names per IN (...) list: well inside SQLite's and PostgreSQL's bound parameters


def clone_users(db, names: list[str], password: str = PASSWORD) -> float:
    """Users `names` with `password` and their default folders; returns seconds.  The first is made
    by storage.users.add_user (one argon2 hash), the others are copies of its User row (the same
    password hash) and Folder rows under their own names and ids, through SQLAlchemy Core: 10,000
    users in seconds where add_user's ORM path takes ~10 ms each.  A new user having rows in any
    other table than these two would make the copies differ from it: refused, so a change to
    add_user cannot make this setup silently wrong."""
    from sqlalchemy import func, insert, select

    from easlab.storage.models import Folder, User
    from easlab.storage.users import add_user

    start = time.perf_counter()
    with db.session() as session:
        add_user(session, names[0], password)
    user_t, folder_t = User.__table__, Folder.__table__
    now = dt.datetime.now(dt.timezone.utc)
    with db.engine.begin() as conn:
        user = dict(conn.execute(select(user_t).where(user_t.c.name == names[0])).mappings().one())
        for table in User.metadata.sorted_tables:
            if table is not folder_t and "user_id" in table.c:
                rows = conn.execute(select(func.count()).select_from(table).where(table.c.user_id == user["id"])).scalar_one()
                if rows:
                    raise RuntimeError(f"a new user has {rows} row(s) in {table.name}: clone_users copies user and folder rows only")
        folders = [dict(r) for r in conn.execute(select(folder_t).where(folder_t.c.user_id == user["id"])).mappings()]
        base = {k: v for k, v in user.items() if k not in ("id", "name", "display_name", "created_at")}
        for at in range(1, len(names), CHUNK):
            part = names[at:at + CHUNK]
            conn.execute(insert(user_t), [{**base, "name": name, "display_name": name, "created_at": now} for name in part])
            ids = conn.execute(select(user_t.c.id).where(user_t.c.name.in_(part))).scalars().all()
            conn.execute(insert(folder_t), [{**{k: v for k, v in f.items() if k != "id"}, "user_id": uid}
                                            for uid in ids for f in folders])
    return time.perf_counter() - start


def clone_device_to_users(db, template: tuple[str, str], targets: list[tuple[str, str]],
                          ping: tuple[int, list] | None = None) -> dict:
    """Copies of the template (user, DeviceId)'s Device row (last seen now) and SyncState rows as
    each (user, DeviceId) of `targets`; `ping`: (heartbeat, folders) of a last Ping, stored in the
    template and every copy.  The targets' users must be fresh mailboxes like the template's
    (clone_users).  Returns the template's SyncKey per collection."""
    from sqlalchemy import insert, select, update

    from easlab.storage.models import Device, SyncState, User

    dev, state, user_t = Device.__table__, SyncState.__table__, User.__table__
    now = dt.datetime.now(dt.timezone.utc)
    with db.engine.begin() as conn:
        row = dict(conn.execute(select(dev).join(user_t, user_t.c.id == dev.c.user_id)
                                .where(user_t.c.name == template[0], dev.c.device_id == template[1])).mappings().one())
        if ping is not None:
            row.update(ping_heartbeat=ping[0], ping_folders=ping[1])
            conn.execute(update(dev).where(dev.c.id == row["id"]).values(ping_heartbeat=ping[0], ping_folders=ping[1]))
        states = [dict(r) for r in conn.execute(select(state).where(state.c.device_pk == row["id"])).mappings()]
        base = {k: v for k, v in row.items() if k not in ("id", "user_id", "device_id")}
        names = sorted({user for user, _ in targets})
        ids: dict[str, int] = {}
        for at in range(0, len(names), CHUNK):
            ids.update(conn.execute(select(user_t.c.name, user_t.c.id)
                                    .where(user_t.c.name.in_(names[at:at + CHUNK]))).tuples().all())
        for at in range(0, len(targets), CHUNK):
            part = targets[at:at + CHUNK]
            conn.execute(insert(dev), [{**base, "user_id": ids[user], "device_id": device, "first_sync": now,
                                        "last_sync": now} for user, device in part])
            if not states:
                continue
            wanted = {(ids[user], device) for user, device in part}
            pks = [pk for pk, uid, device in conn.execute(
                select(dev.c.id, dev.c.user_id, dev.c.device_id).where(dev.c.user_id.in_({uid for uid, _ in wanted})))
                if (uid, device) in wanted]
            conn.execute(insert(state), [{**{k: v for k, v in st.items() if k != "id"}, "device_pk": pk}
                                         for pk in pks for st in states])
    return {st["collection_id"]: st["sync_key"] for st in states}
