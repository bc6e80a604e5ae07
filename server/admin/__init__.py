"""Administration: roles (roles.py), input checks (checks.py), the service every front end calls
(service.py) and the rows it hands out (views.py)."""
from __future__ import annotations

from .roles import PERMISSIONS, ROLES, SHELL, Actor, Forbidden, NotFound
from .service import Admin
from .views import device_view

__all__ = ["PERMISSIONS", "ROLES", "SHELL", "Actor", "Admin", "Forbidden", "NotFound", "device_view"]
