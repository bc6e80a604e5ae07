"""Administration: roles (roles.py), input checks (checks.py), the service every front end calls
(service.py) and the rows it hands out (views.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .roles import PERMISSIONS, ROLES, SHELL, Actor, Forbidden, NotFound

if TYPE_CHECKING:
    from .service import Admin
    from .views import device_view

__all__ = ["PERMISSIONS", "ROLES", "SHELL", "Actor", "Admin", "Forbidden", "NotFound", "device_view"]


def __getattr__(name: str):
    """The service and its views on first use: the CLI's choices read ROLES without importing the
    store (PEP 562)."""
    if name == "Admin":
        from .service import Admin

        return Admin
    if name == "device_view":
        from .views import device_view

        return device_view
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
