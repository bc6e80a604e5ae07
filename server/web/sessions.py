"""Admin accounts and sessions, shared by the admin center (/ecp) and the JSON API (/api).

A session is Starlette's signed cookie holding the user's name, login time and the user's session
generation at login; the role and the generation are read again on every request, so a changed
role counts at once, and signing out (which raises the generation) ends the session server-side:
a copy of the cookie taken before is refused.  Passwords are checked by the EAS
endpoint's own Authenticator (server/auth.py).  Every form and every cookie-authenticated API
write carries the session's CSRF token.
"""
from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from urllib.parse import unquote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from easlab.storage.users import get_user

from ..admin import Actor, Admin

SESSION_COOKIE = "easlab_session"
SESSION_MAX_AGE = 8 * 3600  # seconds from login


def role_of(db, name: str) -> str | None:
    """The user's role now ("" for none); None when the user no longer exists."""
    with db.session(write=False) as session:
        user = get_user(session, name)
        return None if user is None else (user.role or "")


def session_facts(db, name: str) -> tuple[str, int] | None:
    """(role, session generation) of the user now; None when the user no longer exists."""
    with db.session(write=False) as session:
        user = get_user(session, name)
        return None if user is None else (user.role or "", user.session_generation)


def start_session(request: Request, name: str, generation: int) -> None:
    request.session.clear()
    request.session.update({"user": name, "at": int(time.time()), "gen": generation, "csrf": secrets.token_urlsafe(32)})


def end_sessions(db, name: str) -> None:
    """Sign `name` out server-side: every session opened before stops working."""
    with db.session() as session:
        user = get_user(session, name)
        if user is not None:
            user.session_generation += 1
            session.add(user)


async def session_user(request: Request) -> Actor | None:
    """The session's user with the role the user has now (roles are read on every request, so a
    changed role counts at once); None without a live session."""
    session = request.session
    name, since = session.get("user"), session.get("at")
    if not isinstance(name, str) or not name:
        return None
    if not isinstance(since, (int, float)) or not 0 <= time.time() - since <= SESSION_MAX_AGE:
        for key in ("user", "at", "role"):
            session.pop(key, None)
        return None
    facts = await run_in_threadpool(session_facts, request.app.state.db, name)
    if facts is None or session.get("gen", 0) != facts[1]:  # gone, or signed out since
        session.clear()
        return None
    return Actor(name, facts[0])


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, supplied) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not isinstance(supplied, str) or not expected or not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())


def safe_next(value, default: str = "/ecp/") -> str:
    """A local path under /ecp, or `default`: never another host, scheme or odd path."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return default
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return default
    path = parts.path
    if not (path == "/ecp" or path.startswith("/ecp/")):
        return default
    decoded = unquote(path)
    if "//" in decoded or "\\" in decoded or any(seg in (".", "..") for seg in decoded.split("/")):
        return default
    if decoded.rstrip("/") in ("/ecp/login", "/ecp/logout") or decoded.startswith("/ecp/link/"):
        return default
    return path + (f"?{parts.query}" if parts.query else "")


def admin_for(request: Request) -> Admin:
    """The Admin layer for a request: its events reach this process's push hub at once.  Admin
    runs in worker threads and the hub lives on the event loop, so events are handed over."""
    loop = asyncio.get_running_loop()
    hub = request.app.state.hub

    def notify(event: dict) -> None:
        loop.call_soon_threadsafe(hub.handle_event, event)

    return Admin(request.app.state.db, notify, request.app.state.settings.domain, clock=request.app.state.clock)


async def check_login(request: Request, login: str, password: str) -> tuple[str, str, int] | None:
    """(user name, role, session generation) when the password is right; None otherwise.  The same
    checker as the EAS endpoint's (server/auth.py): a name that does not exist costs the same
    hashing time."""
    state = request.app.state
    identity = await run_in_threadpool(state.authenticator.check, login, password,
                                       request.client.host if request.client else None)
    if identity is None:
        return None
    facts = await run_in_threadpool(session_facts, state.db, identity.name)
    return None if facts is None else (identity.name, *facts)
