"""A note on the protocol trace of the request under way (server/traces.py keeps the trace).

Its own module so the EAS endpoint can write a note (a refusal naming its requirement) without
importing the trace machinery, which imports the fault injection, which answers through the
endpoint's HTTP form."""
from __future__ import annotations

EXCHANGE_KEY = "easlab.trace_exchange"  # the scope's _Exchange while a traced request runs: the endpoint's notes go in


def note(scope: dict, text: str) -> None:
    """Add `text` to the trace entry of the request of `scope`, when it is traced."""
    exchange = scope.get(EXCHANGE_KEY)
    if exchange is not None:
        exchange.note(text)
