"""Who may do what: Exchange's RBAC split into four roles, and the errors every front end maps.

The CLI, the web UI, the JSON API and the pytest plugin all act as an `Actor`; the service
(server/admin/service.py) checks the actor's permission before every read or write.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("org-admin", "device-approver", "device-operator", "viewer")
# Exchange: Organization Client Access may release quarantine (approve); Mail Recipients may
# wipe and remove (operate); Help Desk may look (view).
PERMISSIONS = {
    "org-admin": {"view", "approve", "operate", "configure"},
    "device-approver": {"view", "approve"},
    "device-operator": {"view", "operate"},
    "viewer": {"view"},
}


class Forbidden(Exception):
    pass


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user with a role, or the local shell (the CLI), which may do anything."""

    name: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, set())

    def need(self, permission: str) -> None:
        if not self.may(permission):
            raise Forbidden(f"{self.name} ({self.role or 'no role'}) may not {permission}")


SHELL = Actor("shell", "org-admin")


def error_text(exc: Exception) -> str:
    """An error's message as the front ends show it: the text it was raised with (str() of a
    KeyError would add quotes, and stripping quotes would cut a quoted name's closing one)."""
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)
