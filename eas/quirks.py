"""What the server does differently for a client it recognises, as a table.

The quirk names are those of the client profiles (eas/profiles.py), which say where each quirk was
observed; this table says how the server recognises a client that has one: by DeviceType (whole
value, case-insensitive) or by the start of the User-Agent.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recognise:
    device_types: frozenset[str] = frozenset()  # lower case
    user_agent_prefixes: tuple[str, ...] = ()

    def matches(self, device_type: str, user_agent: str | None) -> bool:
        return device_type.lower() in self.device_types or (user_agent or "").startswith(self.user_agent_prefixes)


QUIRKS: dict[str, Recognise] = {
    # iOS Mail shows "This message cannot be displayed" for a text body sent as an inline string:
    # Apple clients get AirSyncBase:Data as OPAQUE.
    "body_opaque": Recognise(frozenset({"iphone", "ipad", "ipod"}), ("Apple-",)),
}


def has_quirk(quirk: str, device_type: str, user_agent: str | None) -> bool:
    return QUIRKS[quirk].matches(device_type, user_agent)
