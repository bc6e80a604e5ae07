"""The /ecp application's wiring: the installation secret, security headers and the signed
session cookie (shared with /api), and the router server/app.py mounts.

Security model:
* sessions are Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure behind an https public
  URL), keyed with a key derived from the installation's secret (storage.access.org_settings),
  valid 8 hours from login (server/web/sessions.py);
* every form carries the session's CSRF token and every POST is refused (403) without it;
* `next` after login accepts only local paths under /ecp (no open redirect);
* responses carry a Content-Security-Policy without scripts, no framing, no referrer (the admin
  mail's link carries a token), and no caching.
"""
from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse
from starlette.routing import Router

from easlab.storage.access import org_settings

from .sessions import SESSION_COOKIE, SESSION_MAX_AGE

MAX_BODY = 256 * 1024  # no admin form or JSON body comes near this


def org_secret(db) -> str:
    """The installation's secret (created on first use); the app reads it once at start."""
    with db.session() as session:
        return org_settings(session).secret


def _derive(secret: str, purpose: str) -> str:
    # One secret, several uses: each gets its own key, so a value signed for one (an admin link)
    # can never pass as another (a session cookie).
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """Pure ASGI: the headers above on every response that does not set its own."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def middleware(secret: str, settings) -> list[Middleware]:
    """Security headers and the signed session cookie shared by /ecp and /api."""
    https = (settings.public_url or "").lower().startswith("https://")
    return [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=_derive(secret, "easlab web session"), session_cookie=SESSION_COOKIE,
                   max_age=SESSION_MAX_AGE, same_site="lax", https_only=https),
    ]


async def home(request) -> RedirectResponse:
    """`/`: the admin center, whose pages send a visitor without a session to the login first."""
    return RedirectResponse("/ecp/", status_code=303)


def router(db, settings) -> Router:
    """The /ecp application (mounted by server/app.py)."""
    from .pages import WebUI

    secret = org_secret(db)
    ui = WebUI(secret)
    return Router(routes=ui.routes(), default=ui.not_found, middleware=middleware(secret, settings), max_body_size=MAX_BODY)
