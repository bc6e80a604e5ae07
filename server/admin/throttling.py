"""The Admin service's throttling settings: Set-ThrottlingPolicy's EAS part and
Set-ActiveSyncDeviceAutoblockThreshold (rules: eas/throttling.py, eas/autoblock.py).  A mixin of
`Admin` (server/admin/service.py), which provides `db`, `_need` and `notify`.

Each write tells the serving process, which reads the settings again ("throttling" event).
"""
from __future__ import annotations

from easlab.eas import autoblock, throttling
from easlab.storage.access import AccessError, org_settings

from .roles import Actor

UNLIMITED = ("", "unlimited", "none")


def _number(name: str, value, limits: dict, unlimited: bool) -> int | None:
    if unlimited and isinstance(value, str) and value.strip().lower() in UNLIMITED:
        return None
    low, high = limits[name]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AccessError(f"{name} must be a whole number{' or Unlimited' if unlimited else ''}") from None
    if not low <= number <= high:
        raise AccessError(f"{name} must be {low}-{high}")
    return number


class ThrottlingOps:
    def throttling_show(self, actor: Actor) -> dict:
        """The policy (None: Unlimited) and every behaviour's auto-block threshold."""
        self._need(actor, "view")
        with self.db.session() as s:
            org = org_settings(s)
            policy = throttling.ThrottlingPolicy.from_dict(org.throttling)
            rules = autoblock.thresholds(org.autoblock)
        return {"policy": {**policy.to_dict(), "budgeted": policy.budgeted},
                "autoblock": [rule.to_dict() for rule in rules.values()]}

    def throttling_set(self, actor: Actor, **changes) -> dict:
        """Change policy settings (eas.throttling.LIMITS names); "unlimited" or None clears one,
        a missing key leaves it."""
        self._need(actor, "configure")
        unknown = sorted(set(changes) - set(throttling.LIMITS))
        if unknown:
            raise AccessError(f"unknown throttling setting {unknown[0]!r}: use {', '.join(throttling.LIMITS)}")
        with self.db.session() as s:
            org = org_settings(s)
            stored = dict(org.throttling)
            for name, value in changes.items():
                cleared = value is None and name != "request_charge"
                stored[name] = None if cleared else _number(name, value, throttling.LIMITS, name != "request_charge")
            org.throttling = throttling.ThrottlingPolicy.from_dict(stored).to_dict()
            s.add(org)
        self.notify({"event": "throttling"})
        return self.throttling_show(actor)

    def autoblock_set(self, actor: Actor, behavior: str, **changes) -> dict:
        """Set-ActiveSyncDeviceAutoblockThreshold for one BehaviorType."""
        self._need(actor, "configure")
        name = autoblock.canonical(behavior)
        if name is None:
            raise AccessError(f"behaviour {behavior!r}: use one of {', '.join(autoblock.BEHAVIORS)}")
        editable = {*autoblock.LIMITS, "admin_email_insert"}
        unknown = sorted(k for k, v in changes.items() if k not in editable)
        if unknown:
            raise AccessError(f"unknown threshold setting {unknown[0]!r}: use {', '.join(sorted(editable))}")
        with self.db.session() as s:
            org = org_settings(s)
            current = autoblock.thresholds(org.autoblock)[name].to_dict()
            for key, value in changes.items():
                if value is None:
                    continue
                if key == "admin_email_insert":
                    if len(value) > 256:
                        raise AccessError("the admin e-mail insert is at most 256 characters")
                    current[key] = value
                else:
                    current[key] = _number(key, value, autoblock.LIMITS, False)
            current.pop("behavior")
            org.autoblock = {**org.autoblock, name: current}
            s.add(org)
        self.notify({"event": "throttling"})
        return self.throttling_show(actor)
