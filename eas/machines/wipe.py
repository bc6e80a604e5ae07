"""The remote-wipe state machine (MS-ASPROV 3.2.5.1.2; Exchange's Clear-MobileDevice).

Rules (everything that moves a device's wipe state lives in this file):

1. States: none → pending (an administrator asked) → sent (a Provision carried the directive) →
   succeeded or failed (the device acknowledged with Status 1, or anything else).
2. An administrator may ask for a wipe in any state; asking again starts over at pending.
3. Only a pending wipe may be cancelled: once sent, the device may already be wiping.  Cancelling
   from any other state is refused (`Refused`).
4. While a wipe is pending or sent (`PENDING`), every Provision answers with the directive
   (pending → sent) and access control and the policy check let the device through to get it.
5. An acknowledgement counts only while a wipe is pending or sent; in any other state the device's
   Provision, acknowledgement or not, leaves the state as it is.
6. The account-only wipe (AccountOnlyRemoteWipe) exists from EAS 16.1 (ACCOUNT_ONLY_WIPE_SINCE);
   an older device gets the full RemoteWipe directive, and an administrator cannot ask for it.
7. Administrators see Exchange's Get-MobileDeviceStatistics Status (`STATUS`), not the state:
   pending and sent are both DeviceWipePending (the sent time tells them apart).
"""
from __future__ import annotations

from .. import versions


class State:
    NONE = "none"
    PENDING = "pending"
    SENT = "sent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Input:
    REQUEST = "request"  # an administrator asks for a wipe
    CANCEL = "cancel"  # an administrator takes the request back
    PROVISION = "provision"  # the device's Provision, not an acknowledgement
    ACK_OK = "ack_ok"  # RemoteWipe (or AccountOnlyRemoteWipe) with Status 1
    ACK_FAIL = "ack_fail"  # the same with any other Status


STATES = (State.NONE, State.PENDING, State.SENT, State.SUCCEEDED, State.FAILED)
INPUTS = (Input.REQUEST, Input.CANCEL, Input.PROVISION, Input.ACK_OK, Input.ACK_FAIL)
PENDING = frozenset({State.PENDING, State.SENT})
ACCOUNT_ONLY_WIPE_SINCE = versions.since("account_only_wipe")  # 16.1: the FEATURES table decides

REFUSED = None
# WIPE[(state, input)] = next state, or None: the input is refused in that state.
WIPE: dict[tuple[str, str], str | None] = {
    (state, input_): nxt
    for state, row in {
        #                 request          cancel          provision        ack_ok              ack_fail
        State.NONE:      (State.PENDING, REFUSED,        State.NONE,      State.NONE,         State.NONE),
        State.PENDING:   (State.PENDING, State.NONE,     State.SENT,      State.SUCCEEDED,    State.FAILED),
        State.SENT:      (State.PENDING, REFUSED,        State.SENT,      State.SUCCEEDED,    State.FAILED),
        State.SUCCEEDED: (State.PENDING, REFUSED,        State.SUCCEEDED, State.SUCCEEDED,    State.SUCCEEDED),
        State.FAILED:    (State.PENDING, REFUSED,        State.FAILED,    State.FAILED,       State.FAILED),
    }.items()
    for input_, nxt in zip(INPUTS, row)
}


# What Exchange's administrators see for each state (Get-MobileDeviceStatistics Status; digest
# §7.2): (full wipe, account-only wipe).  The account-only names are the later enum values the
# digest takes from the Adaxes SDK; no source names a failed acknowledgement, so the two Failed
# names follow the pattern.
STATUS: dict[str, tuple[str, str]] = {
    State.NONE: ("DeviceOk", "DeviceOk"),
    State.PENDING: ("DeviceWipePending", "AccountOnlyDeviceWipePending"),
    State.SENT: ("DeviceWipePending", "AccountOnlyDeviceWipePending"),
    State.SUCCEEDED: ("DeviceWipeSucceeded", "AccountOnlyDeviceWipeSucceeded"),
    State.FAILED: ("DeviceWipeFailed", "AccountOnlyDeviceWipeFailed"),
}


def status(state: str, account_only: bool = False) -> str:
    """The name an administrator sees for a stored wipe state."""
    return STATUS[state][1 if account_only else 0]


def cancellable(state: str) -> bool:
    return WIPE[(state, Input.CANCEL)] is not None


class Refused(ValueError):
    def __init__(self, state: str, input_: str):
        self.state, self.input = state, input_
        super().__init__(f"{input_} is refused while the wipe is {state}")


def next_state(state: str, input_: str) -> str:
    """The state after `input_`; raises Refused where the table refuses it."""
    nxt = WIPE[(state, input_)]
    if nxt is None:
        raise Refused(state, input_)
    return nxt


def account_only_supported(version: str | None) -> bool:
    return version in versions.SUPPORTED and versions.has(version, "account_only_wipe")
