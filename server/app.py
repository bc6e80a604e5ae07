"""The Starlette application: routes only; each concern lives in its own module."""
from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.routing import Route

from eas import commands
from storage import Database

from . import activesync
from .auth import Authenticator
from .config import Settings

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
    app.state.store = None  # the mailbox store arrives with the mail-flow commands
    return app
