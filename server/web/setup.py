"""`/setup`: a phone's set-up page for the signed-in user (any mailbox user, with the password
the phone will use): what to type, a QR code of this page, the lab CA and an iOS profile.

The session is the admin center's signed cookie (server/web/wiring.py), so one sign-in serves
both; a mailbox user without an admin role only ever sees this page.  The CA certificate itself
is public (it is in every TLS handshake anyway, and a phone fetches it before it trusts HTTPS, over
plain HTTP where a Secure cookie would not come back); the profile names the user, so it needs the
session.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router

from easlab.storage.users import get_user

from . import phone
from .sessions import check_login, csrf_ok, csrf_token, session_user
from .wiring import MAX_BODY, middleware, org_secret

PAGE = "/setup/"


def _display_name(db, name: str) -> str:
    with db.session() as session:
        user = get_user(session, name)
        return (user.display_name or user.name) if user is not None else name


def _render(request: Request, status: int = 200, **context) -> Response:
    from .pages import TEMPLATES

    return TEMPLATES.TemplateResponse(request, "setup.html", {
        "me": None, "can": lambda _p: False, "csrf": csrf_token(request), "flash": None, "error": None,
        "section": "setup", "account": None, **context}, status_code=status)


def _refused(request: Request) -> Response:
    return _render(request, 403, error="The form's security token is missing or out of date. Reload the page and try again.")


async def page(request: Request) -> Response:
    actor = await session_user(request)
    if actor is None:
        return _render(request, login="")
    state = request.app.state
    settings = state.settings
    display = await run_in_threadpool(_display_name, state.db, actor.name)
    ca = phone.load_ca(settings.tls_ca)
    return _render(request, account=phone.account_for(settings, actor.name, display), tls=settings.tls,
                   ca_fingerprint=phone.fingerprint(ca) if ca is not None else None,
                   qr=phone.qr_data_uri(f"{settings.base_url}{PAGE}"), page_url=f"{settings.base_url}{PAGE}")


async def login(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return _refused(request)
    name = str(form.get("user") or "")
    found = await check_login(request, name, str(form.get("password") or ""))
    if found is None:
        return _render(request, 401, login=name, error="Wrong user name or password.")
    request.session.clear()
    request.session.update({"user": found[0], "at": int(time.time()), "csrf": secrets.token_urlsafe(32)})
    return RedirectResponse(PAGE, status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return _refused(request)
    request.session.clear()
    return RedirectResponse(PAGE, status_code=303)


def _ca(request: Request):
    return phone.load_ca(request.app.state.settings.tls_ca)


def _ca_download(request: Request, body: Callable[[Any], bytes], media_type: str, filename: str) -> Response:
    """The lab CA as a download (no sign-in: a phone fetches it before it can trust HTTPS, and a
    CA certificate is public)."""
    ca = _ca(request)
    if ca is None:
        return Response(b"no lab CA: this server was not started with --tls\n", status_code=404, media_type="text/plain")
    return Response(body(ca), media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def ca_pem(request: Request) -> Response:
    return _ca_download(request, phone.ca_pem, phone.PEM_TYPE, "easlab-ca.pem")


async def ca_der(request: Request) -> Response:
    return _ca_download(request, phone.ca_der, phone.DER_TYPE, "easlab-ca.crt")


async def profile(request: Request) -> Response:
    actor = await session_user(request)
    if actor is None:
        return RedirectResponse(PAGE, status_code=303)
    state = request.app.state
    display = await run_in_threadpool(_display_name, state.db, actor.name)
    account = phone.account_for(state.settings, actor.name, display)
    body = phone.mobileconfig(account, phone.load_ca(state.settings.tls_ca))
    return Response(body, media_type=phone.PROFILE_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="easlab-{actor.name}.mobileconfig"'})


def router(db, settings) -> Router:
    """The /setup application (mounted by server/app.py), with the admin center's session."""
    routes = [
        Route("/", page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/ca.pem", ca_pem, methods=["GET"]),
        Route("/ca.crt", ca_der, methods=["GET"]),
        Route("/easlab.mobileconfig", profile, methods=["GET"]),
    ]
    return Router(routes=routes, middleware=middleware(org_secret(db), settings), max_body_size=MAX_BODY)
