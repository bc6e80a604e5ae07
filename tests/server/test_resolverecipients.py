"""ResolveRecipients over HTTP: exact answers for resolved, ambiguous and unknown names, free/busy,
certificates and photos."""
import base64
from datetime import timedelta

import pytest

from easlab.eas.wbxml import E
from easlab.storage.directory import set_directory
from tests.server.directory_helpers import NOW, add_org, der, directory_app
from tests.server.eas_helpers import Raw

pytestmark = pytest.mark.anyio
NS = "ResolveRecipients"


@pytest.fixture
def app(settings, db):
    add_org(db)
    return directory_app(settings, db)


def request(*names, options=()):
    return E(f"{NS}:ResolveRecipients", *(E(f"{NS}:To", n) for n in names),
             E(f"{NS}:Options", *options) if options else None)


def recipient(alias, display, *details):
    return E(f"{NS}:Recipient", E(f"{NS}:Type", 1), E(f"{NS}:DisplayName", display),
             E(f"{NS}:EmailAddress", f"{alias}@easlab.test"), *details)


def response(to, status, count, *recipients):
    return E(f"{NS}:Response", E(f"{NS}:To", to), E(f"{NS}:Status", status), E(f"{NS}:RecipientCount", count), *recipients)


def answer(*responses, status=1):
    return E(f"{NS}:ResolveRecipients", E(f"{NS}:Status", status), *responses)


def availability(start, end):
    return E(f"{NS}:Availability", E(f"{NS}:StartTime", start), E(f"{NS}:EndTime", end))


def free_busy(digits):
    return E(f"{NS}:Availability", E(f"{NS}:Status", 1), E(f"{NS}:MergedFreeBusy", digits))


@pytest.mark.req("MS-ASCMD_R343", "MS-ASCMD_R3761", "MS-ASCMD_R3762", "MS-ASCMD_R4268", "MS-ASCMD_R4275")
async def test_resolved_ambiguous_and_unknown(client):
    resp = await Raw(client).call("ResolveRecipients", request(
        "alice", "Carol@EASLAB.test", "example", "nobody@elsewhere.example", "zzz", "Dave Outside"))
    assert resp == answer(
        response("alice", 1, 1, recipient("alice", "Alice Example")),
        response("Carol@EASLAB.test", 1, 1, recipient("carol", "Carol Jones")),
        response("example", 2, 2, recipient("alice", "Alice Example"), recipient("bob", "Bob Example")),
        response("nobody@elsewhere.example", 4, 0),
        response("zzz", 4, 0),
        response("Dave Outside", 1, 1, recipient("dave", "Dave Outside")),
    )


async def test_a_mail_users_outside_address_resolves_to_it(client):
    resp = await Raw(client).call("ResolveRecipients", request("dave@partner.example"))
    assert resp == answer(response("dave@partner.example", 1, 1, recipient("dave", "Dave Outside")))


async def test_max_ambiguous_recipients_cuts_the_list(client):
    dev = Raw(client)
    resp = await dev.call("ResolveRecipients", request("a", options=[E(f"{NS}:MaxAmbiguousRecipients", 1)]))
    assert resp == answer(response("a", 3, 2, recipient("alan", "Alan Smith")))
    resp = await dev.call("ResolveRecipients", request("a", options=[E(f"{NS}:MaxAmbiguousRecipients", 0)]))
    assert resp == answer(response("a", 3, 2))
    # A unique match is no suggestion: MaxAmbiguousRecipients 0 does not hide it.
    resp = await dev.call("ResolveRecipients", request("alice", options=[E(f"{NS}:MaxAmbiguousRecipients", 0)]))
    assert resp == answer(response("alice", 1, 1, recipient("alice", "Alice Example")))


@pytest.mark.req("MS-ASCMD_R3321", "MS-ASCMD_R4617", "MS-ASCMD_R4618", "MS-ASCMD_R4623", "MS-ASCMD_R4624")
async def test_free_busy_without_calendars(client):
    """Empty calendars: users are free; a mail user has no data; ambiguous names get none."""
    window = availability("2026-01-06T02:00:00.000Z", "2026-01-06T04:00:00.000Z")
    resp = await Raw(client).call("ResolveRecipients", request("alice", "dave", "example", "nobody", options=[window]))
    assert resp == answer(
        response("alice", 1, 1, recipient("alice", "Alice Example", free_busy("0000"))),
        response("dave", 1, 1, recipient("dave", "Dave Outside", free_busy("4444"))),
        response("example", 2, 2, recipient("alice", "Alice Example"), recipient("bob", "Bob Example")),
        response("nobody", 4, 0),
    )


def event(start, end, busy, *extra):
    return [["Calendar:BusyStatus", str(busy)], ["Calendar:EndTime", end], ["Calendar:Subject", "x"],
            ["Calendar:StartTime", start], *extra]


@pytest.mark.req("MS-ASCMD_R3319", "MS-ASCMD_R3330", "MS-ASCMD_R3332", "MS-ASCMD_R4291", "MS-ASCMD_R3338",
                 "MS-ASCMD_R3339", "MS-ASCMD_R819")
async def test_free_busy_reads_the_users_calendars(client, db):
    from datetime import datetime, timezone

    from easlab.storage.mailbox import folder_by_type
    from easlab.storage.pim import add_pim
    from easlab.storage.users import get_user

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with db.session() as s:
        calendar = folder_by_type(s, get_user(s, "alice"), 8)
        for nodes in (
            event("20260106T024000Z", "20260106T031000Z", 1),  # MS-ASCMD's 0110 case
            event("20260106T033000Z", "20260106T050000Z", 3),
            event("20260106T020000Z", "20260106T023000Z", 2, ["Calendar:MeetingStatus", "7"]),  # cancelled
            event("20260105T000000Z", "20260105T230000Z", 2),  # another day
            # A daily series whose occurrence of the 6th is deleted and whose 7th moved into the window.
            event("20260101T020000Z", "20260101T023000Z", 2,
                  ["Calendar:Recurrence", [["Calendar:Type", "0"], ["Calendar:Occurrences", "10"]]],
                  ["Calendar:Exceptions", [
                      ["Calendar:Exception", [["Calendar:Deleted", "1"], ["Calendar:ExceptionStartTime", "20260106T020000Z"]]],
                      ["Calendar:Exception", [["Calendar:ExceptionStartTime", "20260107T020000Z"],
                                              ["Calendar:StartTime", "20260106T023000Z"], ["Calendar:EndTime", "20260106T030000Z"]]]]]),
        ):
            add_pim(s, calendar, "Calendar", nodes, now)
        s.commit()
    window = availability("2026-01-06T02:00:00.000Z", "2026-01-06T04:00:00.000Z")
    resp = await Raw(client).call("ResolveRecipients", request("alice", "bob", options=[window]))
    assert resp == answer(
        response("alice", 1, 1, recipient("alice", "Alice Example", free_busy("0213"))),
        response("bob", 1, 1, recipient("bob", "Bob Example", free_busy("0000"))),
    )


@pytest.fixture
def certificates(db):
    from tests.server.directory_helpers import PKI

    pki = PKI()
    alice, carol = pki.leaf("alice"), pki.leaf("carol")
    expired = pki.leaf("alan", days=(-400, -10))
    web = pki.leaf("bob", eku="server")
    with db.session() as s:
        set_directory(s, "alice", certificate=der(alice))
        set_directory(s, "carol", certificate=der(carol))
        set_directory(s, "alan", certificate=der(expired))
        set_directory(s, "bob", certificate=der(web))
    return {"alice": der(alice), "carol": der(carol)}


def certs(status, count, *blobs, kind="Certificate"):
    return E(f"{NS}:Certificates", E(f"{NS}:Status", status), E(f"{NS}:CertificateCount", count),
             E(f"{NS}:RecipientCount", 1), *(E(f"{NS}:{kind}", base64.b64encode(b).decode()) for b in blobs))


@pytest.mark.req("MS-ASCMD_R843", "MS-ASCMD_R856", "MS-ASCMD_R857", "MS-ASCMD_R858", "MS-ASCMD_R3435",
                 "MS-ASCMD_R3764", "MS-ASCMD_R4302", "MS-ASCMD_R4304", "MS-ASCMD_R3825")
async def test_certificates(client, certificates):
    dev = Raw(client)
    full = E(f"{NS}:CertificateRetrieval", 2)
    resp = await dev.call("ResolveRecipients", request("alice", "alan", "bob", "dave", "example", options=[full]))
    assert resp == answer(
        response("alice", 1, 1, recipient("alice", "Alice Example", certs(1, 1, certificates["alice"]))),
        # An expired certificate, and one not for email, are no valid S/MIME certificates.
        response("alan", 1, 1, recipient("alan", "Alan Smith", certs(7, 0))),
        response("bob", 1, 1, recipient("bob", "Bob Example", certs(7, 0))),
        response("dave", 1, 1, recipient("dave", "Dave Outside", certs(7, 0))),
        # Suggestions for an ambiguous name carry no certificates.
        response("example", 2, 2, recipient("alice", "Alice Example"), recipient("bob", "Bob Example")),
    )
    # MaxCertificates counts across the response: the second recipient's is over the limit.
    resp = await dev.call("ResolveRecipients", request("alice", "carol", options=[full, E(f"{NS}:MaxCertificates", 1)]))
    assert resp == answer(
        response("alice", 1, 1, recipient("alice", "Alice Example", certs(1, 1, certificates["alice"]))),
        response("carol", 1, 1, recipient("carol", "Carol Jones", certs(8, 1))),
    )
    resp = await dev.call("ResolveRecipients", request("carol", options=[E(f"{NS}:CertificateRetrieval", 3)]))
    assert resp == answer(response("carol", 1, 1, recipient("carol", "Carol Jones",
                                                            certs(1, 1, certificates["carol"], kind="MiniCertificate"))))
    resp = await dev.call("ResolveRecipients", request("carol", options=[E(f"{NS}:CertificateRetrieval", 1)]))
    assert resp == answer(response("carol", 1, 1, recipient("carol", "Carol Jones")))


async def test_certificate_validity_follows_the_servers_clock(client, app, certificates):
    app.state.clock.advance(days=400)  # past every leaf's notAfter
    resp = await Raw(client).call("ResolveRecipients", request("alice", options=[E(f"{NS}:CertificateRetrieval", 2)]))
    assert resp == answer(response("alice", 1, 1, recipient("alice", "Alice Example", certs(7, 0))))
    assert app.state.clock.now() == NOW + timedelta(days=400)


@pytest.mark.req("MS-ASCMD_R4310", "MS-ASCMD_R4311", "MS-ASCMD_R4312", "MS-ASCMD_R4313", "MS-ASCMD_R3287",
                 "MS-ASCMD_R5350", "MS-ASCMD_R5351", "MS-ASCMD_R2133", "MS-ASCMD_R3667")
async def test_pictures(client, db):
    with db.session() as s:
        set_directory(s, "alice", picture=b"\xff\xd8alice")
        set_directory(s, "bob", picture=b"\xff\xd8bob-is-large")
    dev = Raw(client)

    def picture(status, data=None):
        return E(f"{NS}:Picture", E(f"{NS}:Status", status), E(f"{NS}:Data", data) if data else None)

    opts = [E(f"{NS}:Picture", E(f"{NS}:MaxSize", 10), E(f"{NS}:MaxPictures", 1))]
    resp = await dev.call("ResolveRecipients", request("example", "carol", "alice", options=opts))
    assert resp == answer(
        response("example", 2, 2, recipient("alice", "Alice Example", picture(1, b"\xff\xd8alice")),
                 recipient("bob", "Bob Example", picture(174))),
        response("carol", 1, 1, recipient("carol", "Carol Jones", picture(173))),
        response("alice", 1, 1, recipient("alice", "Alice Example", picture(175))),
    )
    # 14.0 has no photos.
    resp = await Raw(client, version="14.0", device="dev2").call("ResolveRecipients", request("alice", options=opts))
    assert resp == answer(response("alice", 1, 1, recipient("alice", "Alice Example")))


@pytest.mark.parametrize("version", ["12.1", "14.1"])
@pytest.mark.req("MS-ASCMD_R4270", "MS-ASCMD_R3986", "MS-ASCMD_R5656", "MS-ASCMD_R7501")
async def test_protocol_errors_are_status_5(client, version):
    dev = Raw(client, version=version)
    bad = availability("TimeWithInvalidFormat", "2012-04-11T10:00:00.000Z") if version != "12.1" else \
        E(f"{NS}:CertificateRetrieval", 9)
    assert await dev.call("ResolveRecipients", request("alice", options=[bad])) == answer(status=5)
    assert await dev.call("ResolveRecipients", request(*(f"u{i}" for i in range(101)))) == answer(status=5)
    assert await dev.call("ResolveRecipients", E(f"{NS}:ResolveRecipients")) == answer(status=5)
