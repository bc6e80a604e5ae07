"""The Starlette application: routes only; each concern lives in its own module."""
from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from easlab.eas.commands import Registry, catalog
from easlab.eas.context import Limits
from easlab.storage import Database

from . import activesync, api, autodiscover, health, traces
from .auth import Authenticator
from .clock import SystemClock
from .config import Settings
from .events import EventBus
from .faults import Faults
from .lockout import Lockout, SharedLockout
from .mailer import Mailer
from .outbound import Outbound
from .push import PushHub
from .store import MailStore
from .throttling import Throttle
from .web import setup
from .web import wiring as web

log = logging.getLogger("easlab")


def create_app(settings: Settings, db: Database | None = None, clock=None,
               commands: Registry | None = None) -> Starlette:
    """The app over `db`; `clock` (server/clock.py) is the real one unless a test brings its own,
    `commands` all of easlab's (catalog.MODULES) unless a test brings stand-ins."""
    db = db or Database(settings.db_url)
    db.create_all()
    app = Starlette(
        routes=[
            # The EAS endpoint, wrapped so per-device traces and injected faults apply (server/traces.py).
            traces.instrument(activesync.endpoint),
            *autodiscover.routes,  # /autodiscover/autodiscover.xml in any letter case
            *health.routes,  # /healthz: store and SMTP ready (server/health.py), no login
            # The admin center and its JSON API (with the test tools: faults, traces, waits); both carry
            # the session middleware keyed with the org secret.
            Route("/", web.home, methods=["GET"]),  # the admin center (its login first, when not signed in)
            Mount("/ecp", app=web.router(db, settings)),
            Mount("/api", app=api.router(db, settings)),
            Mount("/setup", app=setup.router(db, settings)),  # a phone's set-up page, for any mailbox user
        ],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.smtp = None  # the SMTP listener, once server/runner.py has started one (/healthz asks it)
    # Processes sharing a PostgreSQL store share the failure counts too (server/lockout.py).
    lockout = (SharedLockout(db) if db.dialect == "postgresql" else Lockout()) if settings.auth_lockout else None
    app.state.authenticator = Authenticator(db, settings.domain, lockout=lockout)
    app.state.limits = Limits(heartbeat_min=settings.heartbeat_min, heartbeat_max=settings.heartbeat_max,
                              max_itemoperations_size=settings.max_document_data_size,
                              max_sync_commands=settings.max_sync_commands,
                              max_estimate_collections=settings.max_estimate_collections)
    app.state.clock = clock or SystemClock()
    app.state.commands = commands if commands is not None else Registry.of(catalog.MODULES)  # dispatch, OPTIONS, faults
    app.state.bus = EventBus()  # this app's events (server/events.py); not shared with other apps
    app.state.faults = Faults(db, app.state.clock)  # the EAS route's Instrument and the SMTP listener ask it
    app.state.hub = PushHub(app.state.clock, app.state.bus)
    app.state.mailer = Mailer(settings, app.state.bus, app.state.clock)
    # EasMaxConcurrency, budgets, auto-block (and its notice to the user)
    app.state.throttle = Throttle(db, app.state.clock, app.state.bus, app.state.mailer, app.state.hub)
    app.state.hub.on_throttling = app.state.throttle.reload
    if isinstance(lockout, SharedLockout):
        lockout.tell, app.state.hub.on_lockout = app.state.hub.tell_threadsafe, lockout.heard
    app.state.outbound = Outbound(db, settings.smarthost, app.state.clock)
    app.state.store = MailStore(db, app.state.hub, settings.domain, app.state.mailer, app.state.outbound,
                                trust_store=settings.trust_store)
    return app
