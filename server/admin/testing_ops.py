"""The Admin service's writes for the test tools: injected faults and per-device trace switches.
A mixin of `Admin` (server/admin/service.py), which provides `db`, `clock` and `_need`.

Changing a fault or a trace is `configure`, as in the API's route table; nothing is woken, since
the serving process reads both tables on every request (server/faults.py, server/traces.py).
Times are the service's clock, so a test's ManualClock times a fault's `seconds` too.
"""
from __future__ import annotations

from easlab.storage.faults import add_fault, clear_faults, clear_trace, fault_view, remove_fault, set_trace

from .roles import Actor, NotFound


class FaultsAndTraces:
    def fault_add(self, actor: Actor, kind: str, *, user: str | None = None, device_id: str | None = None,
                  command: str | None = None, params: dict | None = None, count: int | None = None,
                  seconds: float | None = None) -> dict:
        """A fault of `kind` for the matching requests, `count` times within `seconds` (None: no limit)."""
        self._need(actor, "configure")
        now = self.clock.now()
        with self.db.session() as s:
            row = add_fault(s, kind, now=now, user=user, device_id=device_id, command=command, params=params,
                            count=count, seconds=seconds)
            return fault_view(row, now)

    def fault_remove(self, actor: Actor, fault_id: int) -> None:
        self._need(actor, "configure")
        with self.db.session() as s:
            if not remove_fault(s, fault_id):
                raise NotFound(f"no fault {fault_id}")

    def faults_clear(self, actor: Actor, user: str | None = None) -> int:
        """Remove every fault, or every fault of `user`; how many went."""
        self._need(actor, "configure")
        with self.db.session() as s:
            return clear_faults(s, user)

    def trace_set(self, actor: Actor, user: str, device_id: str, enabled: bool, *, max_entries: int | None = None,
                  max_bytes: int | None = None) -> dict:
        """Tracing of one device on or off, with the ring's bounds (None keeps a bound as it is)."""
        self._need(actor, "configure")
        with self.db.session() as s:
            row = set_trace(s, user, device_id, enabled, now=self.clock.now(), max_entries=max_entries,
                            max_bytes=max_bytes)
            return {"user": row.user, "device_id": device_id, "enabled": row.enabled, "max_entries": row.max_entries,
                    "max_bytes": row.max_bytes, "dropped": row.dropped}

    def trace_clear(self, actor: Actor, user: str, device_id: str) -> int:
        """Forget the device's recorded exchanges (the switch stays as it is); how many went."""
        self._need(actor, "configure")
        with self.db.session() as s:
            return clear_trace(s, user, device_id)
