"""The SyncKey machine (eas.machines.synckey): every (KeyMatch, Kind) pair and the key bookkeeping."""
from hypothesis import given
from hypothesis import strategies as st

from easlab.eas.machines.synckey import TRANSITIONS, Action, KeyMatch, Keys, Kind, keys_after, match, step, successor


def test_the_table_covers_every_pair_and_nothing_else():
    assert set(TRANSITIONS) == {(m, k) for m in KeyMatch for k in Kind}


@given(st.sampled_from(KeyMatch), st.sampled_from(Kind))
def test_every_pair_obeys_the_rules(found, kind):
    action, keys = TRANSITIONS[(found, kind)]
    if action.status is not None:  # a refused key changes nothing
        assert keys is Keys.KEEP
        assert action.status == (3 if kind is Kind.SYNC else 9)
    if found is KeyMatch.UNKNOWN:
        assert action.status is not None
    if action is Action.REPLAY:
        assert (found, keys) == (KeyMatch.PREVIOUS, Keys.KEEP) and kind is not Kind.FOLDER_CHANGE
    if action is Action.RESET:
        assert (found, keys) == (KeyMatch.INITIAL, Keys.RESTART)
    if action is Action.ADVANCE:
        assert (found, keys) == (KeyMatch.CURRENT, Keys.ROLL)
    if kind is Kind.FOLDER_CHANGE:  # only the current key may change the hierarchy
        assert (action is Action.ADVANCE) == (found is KeyMatch.CURRENT)


KEYS = st.one_of(st.just("0"), st.just(""), st.none(), st.integers(0, 50).map(str), st.text(max_size=4))


@given(KEYS, KEYS, KEYS)
def test_match(client, current, previous):
    found = match(client, current, previous)
    if client == "0":
        assert found is KeyMatch.INITIAL
    elif client and client == current:
        assert found is KeyMatch.CURRENT
    elif client and client == previous and previous != "0":
        assert found is KeyMatch.PREVIOUS
    else:
        assert found is KeyMatch.UNKNOWN


# A device that loses answers, resends, invents keys and starts over, against the server's two keys.
MOVES = st.lists(st.sampled_from(["current", "lost", "resend", "zero", "garbage"]), max_size=30)


@given(st.sampled_from(Kind), MOVES)
def test_keys_over_a_conversation(kind, moves):
    current, previous = None, None
    held = None  # the key the device holds
    issued: list[str] = []
    for move in moves:
        sent = {"current": held, "lost": held, "resend": previous, "zero": "0", "garbage": "x9"}[move]
        found, action, keys = step(kind, sent, current, previous)
        before = (current, previous)
        current, previous = keys_after(keys, sent, current, previous)
        if keys is Keys.KEEP:
            assert (current, previous) == before
        else:
            assert current not in issued and current != "0"  # never a key handed out before
            issued.append(current)
            assert previous == ("0" if keys is Keys.RESTART else sent)
        if action is Action.REPLAY:
            assert found is KeyMatch.PREVIOUS and sent == before[1]
        if move != "lost" and action.status is None:
            held = current  # the device got the answer
        if action.status is not None and kind is not Kind.FOLDER_CHANGE:
            held = None
    # Whatever happened, the device's key is current or it knows to start over.
    assert held is None or held == current or held == previous


@given(st.integers(0, 10**12))
def test_successor_grows_and_is_never_zero(n):
    assert int(successor(str(n))) == n + 1
    assert successor(None) == "1" and successor("garbage") == "1"
