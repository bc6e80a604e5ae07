"""EAS protocol versions (MS-ASHTTP 2.2.1.1.2.4) and the rules that switch on them."""
from __future__ import annotations

SUPPORTED = ("2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1")


def key(version: str) -> tuple[int, int]:
    """A sortable form: "12.1" -> (12, 1)."""
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def at_least(version: str, floor: str) -> bool:
    return key(version) >= key(floor)


def status_in_body(version: str) -> bool:
    """14.0 and later carry the common status codes (101-177) in the body; older versions get the
    HTTP status MS-ASCMD 2.2.2 maps them to."""
    return at_least(version, "14.0")
