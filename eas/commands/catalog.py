"""Every command module easlab implements: the tuple a server builds its Registry from."""
from __future__ import annotations

from . import (
    Registry, compose, find, folders, foldersync, getattachment, getitemestimate, itemoperations, meetingresponse,
    moveitems, ping, provision, resolverecipients, search, settings, sync, validatecert,
)

MODULES = (
    sync, compose, getattachment, folders, foldersync, moveitems, getitemestimate, meetingresponse, search,
    settings, ping, itemoperations, provision, resolverecipients, validatecert, find,
)


def registry() -> Registry:
    """All of easlab's commands."""
    return Registry.of(MODULES)
