"""The SyncKey state machine shared by Sync, FolderSync and folder changes (MS-ASCMD 2.2.3.166).

Rules (everything that decides what a SyncKey does lives in this file):

1. The server keeps two keys per collection (and per hierarchy): the one it handed out last
   (*current*) and the one the device sent to get it (*previous*).  Keys are decimal counters that
   only grow for a given device and collection, so a key from an earlier partnership can never be
   mistaken for a live one (`successor`).
2. A key is classified by `match` as INITIAL ("0"), CURRENT, PREVIOUS or UNKNOWN.  A previous key
   counts only while the answer it got can be given again; storage passes no previous key when it
   kept none (a Sync whose last answer was not stored).
3. `TRANSITIONS[(KeyMatch, Kind)] = (Action, Keys)` says what the request gets and what becomes of
   the keys:
   - "0" starts over (RESET) for Sync and FolderSync: the position goes back to nothing known, the
     previous key becomes "0" and a new current key is handed out (Keys.RESTART).
   - The current key gets what changed since its position (ADVANCE) and a new key; the key it sent
     becomes the previous one (Keys.ROLL).  A Sync with nothing to say keeps its key.
   - The previous key means the device lost our last answer: it gets the same answer again
     (REPLAY) and the keys stay (Keys.KEEP), so nothing is sent twice and nothing is lost.  Sync
     keeps the answer's bytes; FolderSync works it out again from the previous position, so it
     also carries what changed since, and the current key's position moves up to match.
   - Any other key is refused: Sync status 3, FolderSync status 9, and the keys stay.
   - A folder change (FolderCreate, FolderUpdate, FolderDelete) needs the current key; "0", the
     previous key and garbage get status 9 (the device goes back to FolderSync 0).
"""
from __future__ import annotations

from enum import Enum


class KeyMatch(Enum):
    INITIAL = "initial"  # "0": start over
    CURRENT = "current"  # the key handed out last
    PREVIOUS = "previous"  # the one before: the device lost our last answer
    UNKNOWN = "unknown"  # stale or invented


class Kind(Enum):
    SYNC = "Sync"
    FOLDER_SYNC = "FolderSync"
    FOLDER_CHANGE = "FolderChange"  # FolderCreate, FolderUpdate, FolderDelete


class Action(Enum):
    RESET = "reset"  # answer from position zero
    REPLAY = "replay"  # the answer the previous key got, again
    ADVANCE = "advance"  # what changed since the current key's position
    STATUS_3 = "status 3"  # Sync: invalid synchronization key
    STATUS_9 = "status 9"  # FolderSync and folder changes: synchronization key mismatch or invalid

    @property
    def status(self) -> int | None:
        """The collection's or command's Status for a refused key; None when the key is served."""
        return {Action.STATUS_3: 3, Action.STATUS_9: 9}.get(self)


class Keys(Enum):
    RESTART = "restart"  # previous := "0", current := successor
    ROLL = "roll"  # previous := the key sent (the current one), current := successor
    KEEP = "keep"  # unchanged


TRANSITIONS: dict[tuple[KeyMatch, Kind], tuple[Action, Keys]] = {
    (KeyMatch.INITIAL, Kind.SYNC): (Action.RESET, Keys.RESTART),
    (KeyMatch.CURRENT, Kind.SYNC): (Action.ADVANCE, Keys.ROLL),
    (KeyMatch.PREVIOUS, Kind.SYNC): (Action.REPLAY, Keys.KEEP),
    (KeyMatch.UNKNOWN, Kind.SYNC): (Action.STATUS_3, Keys.KEEP),
    (KeyMatch.INITIAL, Kind.FOLDER_SYNC): (Action.RESET, Keys.RESTART),
    (KeyMatch.CURRENT, Kind.FOLDER_SYNC): (Action.ADVANCE, Keys.ROLL),
    (KeyMatch.PREVIOUS, Kind.FOLDER_SYNC): (Action.REPLAY, Keys.KEEP),
    (KeyMatch.UNKNOWN, Kind.FOLDER_SYNC): (Action.STATUS_9, Keys.KEEP),
    (KeyMatch.INITIAL, Kind.FOLDER_CHANGE): (Action.STATUS_9, Keys.KEEP),
    (KeyMatch.CURRENT, Kind.FOLDER_CHANGE): (Action.ADVANCE, Keys.ROLL),
    (KeyMatch.PREVIOUS, Kind.FOLDER_CHANGE): (Action.STATUS_9, Keys.KEEP),
    (KeyMatch.UNKNOWN, Kind.FOLDER_CHANGE): (Action.STATUS_9, Keys.KEEP),
}


def match(client_key: str | None, current: str | None, previous: str | None) -> KeyMatch:
    if client_key == "0":
        return KeyMatch.INITIAL
    if client_key and current and client_key == current:
        return KeyMatch.CURRENT
    if client_key and previous and previous != "0" and client_key == previous:
        return KeyMatch.PREVIOUS
    return KeyMatch.UNKNOWN


def step(kind: Kind, client_key: str | None, current: str | None, previous: str | None) -> tuple[KeyMatch, Action, Keys]:
    """Classify `client_key` and look its transition up."""
    found = match(client_key, current, previous)
    return (found, *TRANSITIONS[(found, kind)])


def successor(last_issued: str | None) -> str:
    """The next key after `last_issued` (never "0", never one handed out before)."""
    try:
        return str(int(last_issued or "0") + 1)
    except ValueError:
        return "1"


def keys_after(keys: Keys, sent: str | None, current: str | None, previous: str | None) -> tuple[str | None, str | None]:
    """(current, previous) once `keys` is applied to a request that sent `sent`."""
    if keys is Keys.RESTART:
        return successor(current), "0"
    if keys is Keys.ROLL:
        return successor(current), sent
    return current, previous
