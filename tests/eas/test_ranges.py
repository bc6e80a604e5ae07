"""A Range (Find, Search) is m-n in ASCII digits: what the fuzz bench found (issue 13) — a Range
of "0\\x1f-9" or "²-9" passed the old str.isdigit check and then raised ValueError in int(), an
undesigned server error, where the command's own status for a bad request is due."""
import pytest

from easlab.eas.commands import find, search
from easlab.eas.gal import range_numbers


@pytest.mark.parametrize("text, expected", [
    ("0-9", (0, 9)), (" 3 - 7 ", (3, 7)), ("0\x1f-9", (0, 9)), ("0-\x1f9", (0, 9)), ("9-0", (9, 0)),
    ("²-9", None), ("0-٩", None), ("0x1-9", None), ("-9", None), ("0-", None), ("0-9-", None), ("", None),
])
def test_range_numbers_reads_ascii_digits_only(text, expected):
    assert range_numbers(text) == expected


@pytest.mark.parametrize("text", ["0\x1f-\x1f9", "²-9", "0-٣", "1-0"])
def test_find_refuses_or_reads_every_range_without_an_error_escaping(text):
    try:
        assert find.parse_range(text) == (0, 9)
    except find._Invalid:
        pass


def test_search_refuses_a_range_of_other_digits_with_its_status():
    assert search.parse_range("0\x1f-9") == (0, 9)
    with pytest.raises(search.QueryError):
        search.parse_range("²-9")
    with pytest.raises(search.QueryError):
        search.parse_range("0-٣")


def test_itemoperations_reads_its_range_the_same_way():
    from easlab.eas.commands import itemoperations

    assert itemoperations.parse_range(" 0\x1f-\x1c99 ") == (0, 99)
    for text in ("²-9", "0-٣", "9-0"):
        with pytest.raises(itemoperations.OperationError):
            itemoperations.parse_range(text)


def test_an_oof_state_with_a_control_character_around_it_is_read_not_raised():
    """The fuzz run's Settings input: OofState "\\x1f2" passed the check on its stripped text and
    then raised in int() on the raw one."""
    from easlab.eas.commands import settings
    from easlab.eas.wbxml import E

    S = "Settings"
    tree = E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", E(f"{S}:OofState", "\x1f2"),
             E(f"{S}:StartTime", "2026-01-05T00:00:00.000Z"), E(f"{S}:EndTime", "2026-01-09T00:00:00.000Z"))))
    (block,) = settings.parse(tree, "16.1")
    assert block.request.state == 2


# "²" is a digit to str.isdigit but not to int(): every number read from a client is checked as
# ASCII digits, so such text gets the command's own refusal, not an undesigned ValueError.
def test_a_policy_key_of_other_digits_is_a_400_not_an_error():
    from easlab.eas.request import RequestError, _policy_key

    assert _policy_key(" 1234 ") == 1234
    with pytest.raises(RequestError):
        _policy_key("²")


def test_a_body_preference_number_of_other_digits_is_a_schema_error():
    from easlab.eas.body import SchemaError, _typed

    assert _typed("AirSyncBase:TruncationSize", "512") == 512
    with pytest.raises(SchemaError):
        _typed("AirSyncBase:TruncationSize", "5¹2")
