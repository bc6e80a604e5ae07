"""The Admin service's writes on mailbox users: creating them, their passwords and their directory
(GAL) fields.  A mixin of `Admin` (server/admin/service.py), which provides `db` and `_need`.

Only removing a user wakes its held requests; a new user has none, a new password is met at the next
login (the login cache is keyed on the stored hash), and the directory is read per request.
"""
from __future__ import annotations

from easlab.storage.access import AccessError
from easlab.storage.directory import set_directory
from easlab.storage.users import UserError, add_user, get_user, normalise_name, remove_user, set_password

from .roles import ROLES, Actor


class UsersRefused(ValueError):
    """`users_add` refused some of the users it was given, and added none; `refusals`: one line each."""

    def __init__(self, refusals: list[str]):
        super().__init__("; ".join(refusals))
        self.refusals = refusals


class UserOps:
    def user_add(self, actor: Actor, name: str, password: str, display_name: str = "", role: str | None = None, *,
                 hashed: str | None = None, content=None) -> dict:
        """New-Mailbox: user NAME with its folders.  `hashed`: the password's hash, when the caller
        already has it (the test plugin keeps one per password, argon2 being slow on purpose).
        `content(session, user) -> dict` fills the new mailbox in the same transaction (the demo,
        server/demo.py): a user is there with all of it or not at all; its answer is "content"."""
        self._need(actor, "configure")
        if role is not None and role not in ("", "none", *ROLES):
            raise AccessError(f"role {role!r}: use {', '.join(ROLES)} or none")
        with self.db.session() as s:
            row = add_user(s, name, password, display_name, role="" if role in (None, "none") else role, hashed=hashed)
            out = {"name": row.name, "display_name": row.display_name, "role": row.role}
            if content is not None:
                out["content"] = content(s, row)
            return out

    def users_add(self, actor: Actor, users: list[tuple[str, str, str]], role: str | None = None) -> list[dict]:
        """New-Mailbox for several (name, password, display name) in one transaction: all of them or
        none.  Every refusal (a bad name, no password, a user that exists or is given twice) is
        found before any password is hashed, and all are raised together (UsersRefused)."""
        self._need(actor, "configure")
        if role is not None and role not in ("", "none", *ROLES):
            raise AccessError(f"role {role!r}: use {', '.join(ROLES)} or none")
        with self.db.session() as s:
            refusals, seen = [], set()
            for name, password, _ in users:
                try:
                    name = normalise_name(name)
                except UserError as exc:
                    refusals.append(str(exc))
                    continue
                if name in seen:
                    refusals.append(f"user {name} is given twice")
                elif get_user(s, name) is not None:
                    refusals.append(f"user {name} exists")
                elif not password:
                    refusals.append(f"user {name}: a password is required")
                seen.add(name)
            if refusals:
                raise UsersRefused(refusals)
            rows = [add_user(s, name, password, display_name, role="" if role in (None, "none") else role)
                    for name, password, display_name in users]
            return [{"name": row.name, "display_name": row.display_name, "role": row.role} for row in rows]

    def user_remove(self, actor: Actor, name: str) -> dict:
        """Remove-Mailbox: the user, its folders and items, and its device partnerships, in one
        transaction; its held requests end (the wake) and find no user at their next login."""
        from .roles import NotFound

        self._need(actor, "configure")
        with self.db.session() as s:
            row = get_user(s, name)
            if row is None:
                raise NotFound(f"no user {name.strip().lower()}")
            uid = row.id
            removed = remove_user(s, row)
        self.notify({"event": "policy", "users": [uid]})
        return removed

    def user_passwd(self, actor: Actor, name: str, password: str) -> dict:
        self._need(actor, "configure")
        with self.db.session() as s:
            row = set_password(s, name, password)
            return {"name": row.name}

    def user_directory_set(self, actor: Actor, name: str, *, picture: bytes | None = None,
                           certificate: bytes | None = None, **fields: str | None) -> dict:
        """Change the user's directory fields (storage/directory.py TEXT_FIELDS); None leaves a field
        alone, "" / b"" clears it."""
        self._need(actor, "configure")
        with self.db.session() as s:
            set_directory(s, name, picture=picture, certificate=certificate, **fields)
        return {"name": name.strip().lower(),
                "changed": [k for k, v in (*fields.items(), ("picture", picture), ("certificate", certificate))
                            if v is not None]}
