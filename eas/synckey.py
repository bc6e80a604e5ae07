"""SyncKey bookkeeping shared by FolderSync and Sync (MS-ASCMD 2.2.3.166).

The server keeps two keys per collection: the one it handed out last (current) and the one the
device sent to get it (previous).  A device that lost a response sends the previous key again and
must get the same answer, not a second copy of the changes; any other key is stale.  Keys are
decimal counters that only grow for a given device and collection, so a key from an earlier
partnership can never be mistaken for a live one.
"""
from __future__ import annotations

from enum import Enum


class KeyMatch(Enum):
    INITIAL = "initial"  # "0": start over
    CURRENT = "current"  # the key handed out last
    PREVIOUS = "previous"  # the one before: the device lost our last answer
    UNKNOWN = "unknown"  # stale or invented: status 3 (Sync) / 9 (FolderSync)


def match(client_key: str | None, current: str | None, previous: str | None) -> KeyMatch:
    if client_key == "0":
        return KeyMatch.INITIAL
    if client_key and current and client_key == current:
        return KeyMatch.CURRENT
    if client_key and previous and previous != "0" and client_key == previous:
        return KeyMatch.PREVIOUS
    return KeyMatch.UNKNOWN


def successor(last_issued: str | None) -> str:
    """The next key after `last_issued` (never "0", never one handed out before)."""
    try:
        return str(int(last_issued or "0") + 1)
    except ValueError:
        return "1"
