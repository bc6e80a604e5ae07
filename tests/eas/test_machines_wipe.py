"""The remote-wipe machine (eas.machines.wipe): every (state, input) pair, and Provision driving it."""
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from easlab.eas.machines import wipe
from easlab.eas.machines.provision import ProvisionView, decide
from easlab.eas.machines.wipe import INPUTS, PENDING, STATES, WIPE, Input, Refused, State, next_state
from easlab.eas.wbxml import E

P = "Provision"


def test_the_table_covers_every_pair_and_nothing_else():
    assert set(WIPE) == {(s, i) for s in STATES for i in INPUTS}
    assert PENDING == frozenset({"pending", "sent"})


@given(st.sampled_from(STATES), st.sampled_from(INPUTS))
def test_every_pair_is_a_state_or_refused(state, input_):
    nxt = WIPE[(state, input_)]
    if nxt is None:
        with pytest.raises(Refused):
            next_state(state, input_)
        assert input_ == Input.CANCEL and state != State.PENDING  # only a cancel after the fact is refused
        return
    assert nxt in STATES and next_state(state, input_) == nxt
    if input_ == Input.REQUEST:
        assert nxt == State.PENDING
    if state not in PENDING and input_ in (Input.PROVISION, Input.ACK_OK, Input.ACK_FAIL):
        assert nxt == state  # without a wipe to deliver, the device's Provision moves nothing
    if state in PENDING and input_ == Input.ACK_OK:
        assert nxt == State.SUCCEEDED
    if state in PENDING and input_ == Input.ACK_FAIL:
        assert nxt == State.FAILED
    if nxt in PENDING and input_ != Input.REQUEST:
        assert state in PENDING  # only an administrator starts a wipe


@given(st.lists(st.sampled_from(INPUTS), max_size=20))
def test_a_wipe_is_delivered_only_after_a_request(inputs):
    state, requested = State.NONE, False
    for input_ in inputs:
        try:
            state = next_state(state, input_)
        except Refused:
            continue
        requested = requested or input_ == Input.REQUEST
        if state != State.NONE:
            assert requested


def test_account_only_needs_16_1():
    assert wipe.ACCOUNT_ONLY_WIPE_SINCE == "16.1"
    assert wipe.account_only_supported("16.1")
    assert not any(wipe.account_only_supported(v) for v in ("", None, "2.5", "14.1", "16.0", "bogus"))


def view(state, version="16.1", account_only=False):
    return ProvisionView(version, None, "", None, state, account_only, 7, datetime(2026, 12, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize("state", sorted(PENDING))
def test_provision_delivers_and_records_the_acknowledgement(state):
    answer, update = decide(None, view(state, account_only=True))
    assert answer == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:AccountOnlyRemoteWipe"))
    assert update.fields["wipe_state"] == State.SENT and ("wipe_sent_at" in update.fields) == (state == State.PENDING)
    ack = E(f"{P}:Provision", E(f"{P}:RemoteWipe", E(f"{P}:Status", 2)))
    answer, update = decide(ack, view(state, version="14.1", account_only=True))
    assert answer == E(f"{P}:Provision", E(f"{P}:Status", 2), E(f"{P}:RemoteWipe"))  # 14.1 gets the full wipe
    assert update.fields["wipe_state"] == State.FAILED and not update.wipe_confirmation


@pytest.mark.parametrize("state", [State.NONE, State.SUCCEEDED, State.FAILED])
def test_provision_without_a_wipe_leaves_the_state(state):
    ack = E(f"{P}:Provision", E(f"{P}:RemoteWipe", E(f"{P}:Status", 1)))
    _, update = decide(ack, view(state))
    assert "wipe_state" not in update.fields


def test_administrators_see_exchange_status_names():
    """Get-MobileDeviceStatistics' Status: requested and sent are both pending (digest §7.2)."""
    assert {s: wipe.status(s) for s in wipe.STATES} == {
        "none": "DeviceOk", "pending": "DeviceWipePending", "sent": "DeviceWipePending",
        "succeeded": "DeviceWipeSucceeded", "failed": "DeviceWipeFailed"}
    assert wipe.status(State.SENT, account_only=True) == "AccountOnlyDeviceWipePending"
    assert [s for s in wipe.STATES if wipe.cancellable(s)] == [State.PENDING]
