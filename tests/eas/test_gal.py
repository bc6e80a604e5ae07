"""The GAL's pure parts: query parsing, ANR matching, the Store element, photos, free/busy digits,
ResolveRecipients' request bounds."""
from datetime import datetime, timedelta, timezone

import pytest

from easlab.eas import freebusy, gal
from easlab.eas.commands.resolverecipients import ProtocolError, ResolveQuery, parse
from easlab.eas.wbxml import E

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def entry(alias, display, **kw):
    return gal.DirectoryEntry(alias=alias, email_address=f"{alias}@easlab.test", display_name=display, **kw)


ALICE = entry("alice", "Alice Example")
BOB = entry("bob", "Bob Example")
CAROL = entry("carol", "Carol Jones", first_name="Carol", last_name="Jones", phone="+1 555 0100", title="Engineer")
ALAN = entry("alan", "Alan Smith")
ORG = [CAROL, BOB, ALAN, ALICE]


# -- Search's GAL store -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (None, (0, 99)), ("0-9", (0, 9)), ("5-5", (5, 5)), (" 10-19 ", (10, 19)), ("0-99", (0, 99)),
])
def test_range(text, expected):
    assert gal.parse_range(text) == expected


@pytest.mark.parametrize("text, status", [
    ("9-0", 2), ("a-b", 2), ("7", 2), ("-1-3", 2), ("0-100", 12), ("100-109", 12),
])
def test_bad_range(text, status):
    with pytest.raises(gal.GalError) as info:
        gal.parse_range(text)
    assert info.value.status == status


def store(*options, query="ex", name="GAL"):
    return E("Search:Store", E("Search:Name", name), E("Search:Query", query),
             E("Search:Options", *options) if options else None)


def test_parse_query():
    assert gal.parse_query(store(), "14.1") == gal.GalQuery("ex")
    picture = E("Search:Picture", E("Search:MaxSize", 2048), E("Search:MaxPictures", 3))
    assert gal.parse_query(store(E("Search:Range", "0-9"), picture), "14.1") == \
        gal.GalQuery("ex", (0, 9), gal.PictureOptions(2048, 3))
    assert gal.parse_query(store(E("Search:Picture")), "14.1").picture == gal.PictureOptions()
    # Photos are 14.1+: an older client's Picture is not one.
    assert gal.parse_query(store(picture), "14.0").picture is None


@pytest.mark.parametrize("bad", [store(query=""), store(query="  "), store(name="Mailbox"),
                                 store(E("Search:Range", "0-200")), store(E("Search:Picture", E("Search:MaxSize", "x")))])
def test_parse_query_errors(bad):
    with pytest.raises(gal.GalError):
        gal.parse_query(bad, "14.1")


@pytest.mark.parametrize("text, who", [
    ("ex", ["alice", "bob"]), ("EXAMPLE", ["alice", "bob"]), ("al", ["alan", "alice"]), ("alice ex", ["alice"]),
    ("jones c", ["carol"]), ("carol j", ["carol"]), ("carol@", ["carol"]), ("smi", ["alan"]),
    ("xample", []), ("example.test", []), ("", []),
])
def test_anr_matching(text, who):
    assert [e.alias for e in gal.search(ORG, text)] == who


def test_exact_and_resolve():
    dave = entry("dave", "Dave Outside", external_address="dave@partner.example")
    org = [*ORG, dave, entry("al", "Al Bundy")]
    assert gal.exact(org, "ALICE@easlab.test") == [ALICE]
    assert gal.exact(org, "dave@partner.example") == [dave]
    assert gal.exact(org, "nobody@easlab.test") == []
    assert [e.alias for e in gal.exact(org, "al")] == ["al"]  # the alias wins over prefixes
    assert gal.exact(org, "carol jones") == [CAROL]
    assert [e.alias for e in gal.resolve(org, "al")] == ["al"]
    assert [e.alias for e in gal.resolve(org, "ala")] == ["alan"]
    assert [e.alias for e in gal.resolve(org, "example")] == ["alice", "bob"]
    assert gal.resolve(org, "zed@easlab.test") == []
    assert gal.resolve(org, '"Bob E." <BOB@easlab.test>') == [BOB]
    assert gal.resolve(org, "Someone <someone@elsewhere.example>") == []
    assert gal.suggestions([ALICE], 0) == [ALICE]
    assert gal.suggestions([ALICE, BOB], 1) == [ALICE]


def test_store_element_is_exact():
    query = gal.GalQuery("c")
    result = gal.page(gal.search(ORG, "c"), query.range)
    assert gal.store_element(result, query) == E(
        "Search:Store", E("Search:Status", 1),
        E("Search:Result", E("Search:Properties",
                             E("GAL:DisplayName", "Carol Jones"), E("GAL:Phone", "+1 555 0100"), E("GAL:Title", "Engineer"),
                             E("GAL:Alias", "carol"), E("GAL:FirstName", "Carol"), E("GAL:LastName", "Jones"),
                             E("GAL:EmailAddress", "carol@easlab.test"))),
        E("Search:Range", "0-0"), E("Search:Total", 1))


def test_paging_and_empty():
    query = gal.GalQuery("a", (1, 2))
    result = gal.page(gal.search(ORG, "a"), query.range)
    assert [e.alias for e in result.entries] == ["alice"] and result.total == 2
    tree = gal.store_element(result, query)
    assert tree.text("Search:Range") == "1-1" and tree.text("Search:Total") == "2"
    empty = gal.page([], (0, 99))
    assert gal.store_element(empty, gal.GalQuery("zzz")) == E("Search:Store", E("Search:Status", 1), E("Search:Total", 0))
    assert gal.search_response(gal.store_error(12)) == E(
        "Search:Search", E("Search:Status", 1), E("Search:Response", E("Search:Store", E("Search:Status", 12))))


def test_picture_budget():
    budget = gal.PictureBudget(gal.PictureOptions(max_size=4, max_pictures=1))
    assert budget.take(None) == (173, None)
    assert budget.take(b"too big") == (174, None)
    assert budget.take(b"jpg") == (1, b"jpg")
    assert budget.take(b"jpg") == (175, None)
    assert budget.take(None) == (173, None)  # no photo stays 173 after the limit
    assert gal.PictureBudget(gal.PictureOptions(max_pictures=0)).take(b"x") == (175, None)
    unlimited = gal.PictureBudget(gal.PictureOptions())
    assert [unlimited.take(b"x")[0] for _ in range(5)] == [1] * 5


def test_properties_with_picture():
    with_photo = entry("eve", "Eve", picture=b"\xff\xd8jpeg")
    assert gal.properties(with_photo, (1, b"\xff\xd8jpeg")) == E(
        "Search:Properties", E("GAL:DisplayName", "Eve"), E("GAL:Alias", "eve"), E("GAL:EmailAddress", "eve@easlab.test"),
        E("GAL:Picture", E("GAL:Status", 1), E("GAL:Data", b"\xff\xd8jpeg")))
    assert gal.properties(ALICE, (173, None)).find("GAL:Picture") == E("GAL:Picture", E("GAL:Status", 173))


# -- free/busy ----------------------------------------------------------------------------------

def at(minutes):
    return T0 + timedelta(minutes=minutes)


def test_free_busy_digits():
    two_hours = (T0, at(120))
    assert freebusy.merged_free_busy(*two_hours, []) == "0000"
    # MS-ASCMD's own case: a tentative 02:40-03:10 marks the second and third slots.
    assert freebusy.merged_free_busy(*two_hours, [(at(40), at(70), 1)]) == "0110"
    # Ending exactly on a slot boundary does not spill into the next slot.
    assert freebusy.merged_free_busy(*two_hours, [(at(0), at(30), 2)]) == "2000"
    # The highest digit wins in a slot; out-of-window parts are cut off.
    assert freebusy.merged_free_busy(*two_hours, [(at(-60), at(10), 3), (at(25), at(35), 2), (at(31), at(32), 1),
                                                  (at(100), at(500), 2)]) == "3202"
    assert freebusy.merged_free_busy(*two_hours, None) == "4444"
    # Working elsewhere (4) counts as free; an unknown BusyStatus as busy; zero-length blocks nothing.
    assert freebusy.merged_free_busy(*two_hours, [(at(0), at(30), 4), (at(30), at(60), 9), (at(90), at(90), 2)]) == "0200"


def test_free_busy_slot_count_rounds_up():
    assert freebusy.merged_free_busy(T0, at(45), []) == "00"
    assert freebusy.merged_free_busy(T0, at(45), [(at(40), at(50), 2)]) == "02"
    assert len(freebusy.merged_free_busy(T0, T0 + timedelta(days=42), [])) == 2016


# -- ResolveRecipients' request -----------------------------------------------------------------

def rr(*children, options=None):
    return E("ResolveRecipients:ResolveRecipients", *children,
             E("ResolveRecipients:Options", *options) if options is not None else None)


def to(name):
    return E("ResolveRecipients:To", name)


def availability(start, end=None):
    return E("ResolveRecipients:Availability", E("ResolveRecipients:StartTime", start),
             E("ResolveRecipients:EndTime", end) if end else None)


def test_parse_resolve_request():
    assert parse(rr(to("alice")), "14.1") == ResolveQuery(["alice"])
    query = parse(rr(to("alice"), to("bob"), options=[
        E("ResolveRecipients:CertificateRetrieval", 2), E("ResolveRecipients:MaxCertificates", 5),
        E("ResolveRecipients:MaxAmbiguousRecipients", 0),
        availability("2026-03-02T02:00:00.000Z", "2026-03-02T04:00:00.000Z"),
        E("ResolveRecipients:Picture", E("ResolveRecipients:MaxPictures", 1))]), "14.1")
    assert query == ResolveQuery(["alice", "bob"], 2, 5, 0, (T0, at(120)), gal.PictureOptions(None, 1))
    # No EndTime: seven days.
    assert parse(rr(to("a"), options=[availability("2026-03-02T02:00:00Z")]), "14.0").availability == \
        (T0, T0 + timedelta(days=7))
    # Availability is 14.0+, Picture 14.1+: older clients' are not read.
    old = parse(rr(to("a"), options=[availability("nonsense"), E("ResolveRecipients:Picture")]), "12.1")
    assert old.availability is None and old.picture is None
    assert parse(rr(to("a"), options=[E("ResolveRecipients:Picture")]), "14.0").picture is None


@pytest.mark.parametrize("request_tree", [
    None,
    rr(),
    rr(*(to(f"user{i}") for i in range(101))),
    rr(to("x" * 257)),
    rr(to("a"), options=[E("ResolveRecipients:CertificateRetrieval", 4)]),
    rr(to("a"), options=[E("ResolveRecipients:MaxAmbiguousRecipients", 10000)]),
    rr(to("a"), options=[E("ResolveRecipients:MaxCertificates", "many")]),
    rr(to("a"), options=[availability("TimeWithInvalidFormat", "2012-04-11T10:00:00.000Z")]),
    rr(to("a"), options=[availability("2012-04-11T10:00:00.000Z", "TimeWithInvalidFormat")]),
    rr(to("a"), options=[availability("2010-03-01T00:20:00.000Z", "2010-03-01T00:00:00.000Z")]),
    rr(to("a"), options=[availability("2010-03-01T00:00:00.000Z", "2010-03-01T00:29:59.000Z")]),
    rr(to("a"), options=[availability("2010-03-01T00:00:00.000Z", "2010-06-03T00:00:01.000Z")]),
])
def test_resolve_request_bounds(request_tree):
    with pytest.raises(ProtocolError):
        parse(request_tree, "14.1")


def test_resolve_request_limits_are_inclusive():
    assert len(parse(rr(*(to(f"u{i}") for i in range(100))), "14.1").names) == 100
    assert parse(rr(to("x" * 256)), "14.1").names == ["x" * 256]
    span = parse(rr(to("a"), options=[availability("2010-03-01T00:00:00Z", "2010-04-12T00:00:00Z")]), "14.1")
    assert span.availability[1] - span.availability[0] == timedelta(days=42)
