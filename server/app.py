"""The Starlette application: routes only; each concern lives in its own module."""
from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.routing import Route

from eas import commands
from eas.context import Limits
from storage import Database

from . import activesync
from .auth import Authenticator
from .config import Settings
from .mailer import Mailer
from .outbound import Outbound
from .push import PushHub
from .store import MailStore

log = logging.getLogger("easlab")


def create_app(settings: Settings, db: Database | None = None) -> Starlette:
    commands.load_all()
    db = db or Database(settings.db_url)
    db.create_all()
    app = Starlette(
        routes=[
            Route("/Microsoft-Server-ActiveSync", activesync.endpoint, methods=["GET", "POST", "OPTIONS", "HEAD"]),
        ],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.authenticator = Authenticator(db, settings.domain)
    app.state.limits = Limits(heartbeat_min=settings.heartbeat_min, heartbeat_max=settings.heartbeat_max)
    app.state.hub = PushHub()
    app.state.mailer = Mailer(settings)
    app.state.outbound = Outbound(db, settings.smarthost)
    app.state.store = MailStore(db, app.state.hub, settings.domain, app.state.mailer, app.state.outbound)
    return app
