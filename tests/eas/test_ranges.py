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
