"""A note on the protocol trace of the request under way (server/traces.py keeps the trace), and
what the trace wrapper hands the endpoint in the request's scope.

Its own module so the EAS endpoint can write a note (a refusal naming its requirement) and read
the scope's keys without importing the trace machinery, which imports the fault injection, which
answers through the endpoint's HTTP form."""
from __future__ import annotations

EXCHANGE_KEY = "easlab.trace_exchange"  # the scope's _Exchange while a traced request runs: the endpoint's notes go in
# What the wrapper found out at the door, for the endpoint (server/activesync.py), so a request reads
# the counters, parses its line and checks its login once: the `access` counter as read with the
# `instrument` one (the logon's and the gate's memories are valid under it), the request line, and
# the login's Identity (None: refused) for POST and OPTIONS, the methods the endpoint authenticates.
ACCESS_KEY = "easlab.access_generation"
LINE_KEY = "easlab.line"
IDENTITY_KEY = "easlab.identity"


def note(scope: dict, text: str) -> None:
    """Add `text` to the trace entry of the request of `scope`, when it is traced."""
    exchange = scope.get(EXCHANGE_KEY)
    if exchange is not None:
        exchange.note(text)
