"""The Admin service's writes on mailbox users: creating them, their passwords and their directory
(GAL) fields.  A mixin of `Admin` (server/admin/service.py), which provides `db` and `_need`.

Only removing a user wakes its held requests; a new user has none, a new password is met at the next
login (the login cache is keyed on the stored hash), and the directory is read per request.
"""
from __future__ import annotations

from easlab.storage.access import AccessError
from easlab.storage.directory import set_directory
from easlab.storage.users import add_user, get_user, remove_user, set_password

from .roles import ROLES, Actor


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
