"""MS-ASCNTC as Microsoft's test suite exercises it: a contact with every property written on one
device and read back on another, per protocol version; ghosted properties kept by a Change; the
limits on Categories, Children and Picture; the notes body truncated and then whole again.
Each test names the requirements it proves."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, B, C, C2 = "AirSync", "AirSyncBase", "Contacts", "Contacts2"
CONTACTS = "8"

# Every property of the Contact class in Exchange's order (the code pages' order, then the body,
# then Contacts2), with a value of its type and the requirements (2.2.2.x: "specifies ...", "can be
# ghosted") it stands for.  The tests below check that the markers name exactly these.
PROPERTIES = (
    (f"{C}:Anniversary", "2015-06-20T00:00:00.000Z", "MS-ASCNTC_R107", "MS-ASCNTC_R110"),
    (f"{C}:AssistantName", "Ann Assist", "MS-ASCNTC_R112", "MS-ASCNTC_R115"),
    (f"{C}:AssistantPhoneNumber", "+49 30 100", "MS-ASCNTC_R117", "MS-ASCNTC_R120"),
    (f"{C}:Birthday", "1990-04-01T00:00:00.000Z", "MS-ASCNTC_R122", "MS-ASCNTC_R125"),
    (f"{C}:Business2PhoneNumber", "+49 30 102", "MS-ASCNTC_R163", "MS-ASCNTC_R166"),
    (f"{C}:BusinessAddressCity", "Berlin", "MS-ASCNTC_R130", "MS-ASCNTC_R133"),
    (f"{C}:BusinessAddressCountry", "Germany", "MS-ASCNTC_R135", "MS-ASCNTC_R138"),
    (f"{C}:BusinessAddressPostalCode", "10115", "MS-ASCNTC_R140", "MS-ASCNTC_R700"),
    (f"{C}:BusinessAddressState", "Berlin State", "MS-ASCNTC_R143", "MS-ASCNTC_R146"),
    (f"{C}:BusinessAddressStreet", "Main St 1\r\nFloor 2", "MS-ASCNTC_R148", "MS-ASCNTC_R151"),
    (f"{C}:BusinessFaxNumber", "+49 30 103", "MS-ASCNTC_R153", "MS-ASCNTC_R156"),
    (f"{C}:BusinessPhoneNumber", "+49 30 101", "MS-ASCNTC_R158", "MS-ASCNTC_R161"),
    (f"{C}:CarPhoneNumber", "+49 170 104", "MS-ASCNTC_R168", "MS-ASCNTC_R171"),
    (f"{C}:Categories", (E(f"{C}:Category", "Friends"), E(f"{C}:Category", "Büro")), "MS-ASCNTC_R1030", "MS-ASCNTC_R177"),
    (f"{C}:Children", (E(f"{C}:Child", "Ann"), E(f"{C}:Child", "Ben")), "MS-ASCNTC_R10040", "MS-ASCNTC_R188"),
    (f"{C}:CompanyName", "Example GmbH", "MS-ASCNTC_R200", "MS-ASCNTC_R203"),
    (f"{C}:Department", "Sales", "MS-ASCNTC_R209", "MS-ASCNTC_R212"),
    (f"{C}:Email1Address", '"Dora Diaz" <dora@example.net>', "MS-ASCNTC_R214", "MS-ASCNTC_R217"),
    (f"{C}:Email2Address", "dora@home.example", "MS-ASCNTC_R221", "MS-ASCNTC_R224"),
    (f"{C}:Email3Address", "dd@third.example", "MS-ASCNTC_R226", "MS-ASCNTC_R229"),
    (f"{C}:FileAs", "Diaz, Dora", "MS-ASCNTC_R231", "MS-ASCNTC_R234"),
    (f"{C}:FirstName", "Dora", "MS-ASCNTC_R238", "MS-ASCNTC_R241"),
    (f"{C}:Home2PhoneNumber", "+49 30 202", "MS-ASCNTC_R283", "MS-ASCNTC_R286"),
    (f"{C}:HomeAddressCity", "Potsdam", "MS-ASCNTC_R248", "MS-ASCNTC_R251"),
    (f"{C}:HomeAddressCountry", "Deutschland", "MS-ASCNTC_R253", "MS-ASCNTC_R256"),
    (f"{C}:HomeAddressPostalCode", "14467", "MS-ASCNTC_R258", "MS-ASCNTC_R261"),
    (f"{C}:HomeAddressState", "Brandenburg", "MS-ASCNTC_R263", "MS-ASCNTC_R266"),
    (f"{C}:HomeAddressStreet", "Lindenallee 5", "MS-ASCNTC_R268", "MS-ASCNTC_R271"),
    (f"{C}:HomeFaxNumber", "+49 331 203", "MS-ASCNTC_R273", "MS-ASCNTC_R276"),
    (f"{C}:HomePhoneNumber", "+49 331 201", "MS-ASCNTC_R278", "MS-ASCNTC_R281"),
    (f"{C}:JobTitle", "Buyer", "MS-ASCNTC_R303", "MS-ASCNTC_R306"),
    (f"{C}:LastName", "Díaz", "MS-ASCNTC_R308", "MS-ASCNTC_R311"),
    (f"{C}:MiddleName", "Maria", "MS-ASCNTC_R318", "MS-ASCNTC_R321"),
    (f"{C}:MobilePhoneNumber", "+49 170 1", "MS-ASCNTC_R328", "MS-ASCNTC_R331"),
    (f"{C}:OfficeLocation", "B 4.12", "MS-ASCNTC_R338", "MS-ASCNTC_R341"),
    (f"{C}:OtherAddressCity", "Hamburg", "MS-ASCNTC_R343", "MS-ASCNTC_R346"),
    (f"{C}:OtherAddressCountry", "DE", "MS-ASCNTC_R348", "MS-ASCNTC_R351"),
    (f"{C}:OtherAddressPostalCode", "20095", "MS-ASCNTC_R353", "MS-ASCNTC_R356"),
    (f"{C}:OtherAddressState", "Hamburg State", "MS-ASCNTC_R358", "MS-ASCNTC_R361"),
    (f"{C}:OtherAddressStreet", "Hafen 9", "MS-ASCNTC_R363", "MS-ASCNTC_R366"),
    (f"{C}:PagerNumber", "+49 30 300", "MS-ASCNTC_R368", "MS-ASCNTC_R371"),
    (f"{C}:RadioPhoneNumber", "+49 30 301", "MS-ASCNTC_R385", "MS-ASCNTC_R388"),
    (f"{C}:Spouse", "Eve", "MS-ASCNTC_R390", "MS-ASCNTC_R393"),
    (f"{C}:Suffix", "Jr.", "MS-ASCNTC_R395", "MS-ASCNTC_R398"),
    (f"{C}:Title", "Dr.", "MS-ASCNTC_R400", "MS-ASCNTC_R403"),
    (f"{C}:WebPage", "https://dora.example/", "MS-ASCNTC_R405", "MS-ASCNTC_R408"),
    (f"{C}:YomiCompanyName", "エグザンプル", "MS-ASCNTC_R417", "MS-ASCNTC_R420"),
    (f"{C}:YomiFirstName", "ドラ", "MS-ASCNTC_R422", "MS-ASCNTC_R425"),
    (f"{C}:YomiLastName", "ディアス", "MS-ASCNTC_R427", "MS-ASCNTC_R430"),
    (f"{C}:Picture", "iVBORw0KGgoAAAANSUhEUg==", "MS-ASCNTC_R373", None),
    (f"{B}:Body", (E(f"{B}:Type", 1), E(f"{B}:Data", "met at the fair")), "MS-ASCNTC_R1120", None),
    (f"{C2}:CustomerId", "C-42", "MS-ASCNTC_R205", "MS-ASCNTC_R208"),
    (f"{C2}:GovernmentId", "GOV-7", "MS-ASCNTC_R243", "MS-ASCNTC_R246"),
    (f"{C2}:IMAddress", "dora@im.example", "MS-ASCNTC_R288", "MS-ASCNTC_R291"),
    (f"{C2}:IMAddress2", "sip:dora@example.net", "MS-ASCNTC_R293", "MS-ASCNTC_R296"),
    (f"{C2}:IMAddress3", "xmpp:dora@example.org", "MS-ASCNTC_R298", "MS-ASCNTC_R301"),
    (f"{C2}:ManagerName", "Max Manager", "MS-ASCNTC_R313", "MS-ASCNTC_R316"),
    (f"{C2}:CompanyMainPhone", "+49 30 0", "MS-ASCNTC_R195", "MS-ASCNTC_R198"),
    (f"{C2}:AccountName", "ACC-9", "MS-ASCNTC_R97", "MS-ASCNTC_R100"),
    (f"{C2}:NickName", "Dee", "MS-ASCNTC_R333", "MS-ASCNTC_R336"),
    (f"{C2}:MMS", "+49 170 9", "MS-ASCNTC_R323", "MS-ASCNTC_R326"),
)


def element(tag, value):
    return E(tag, *value) if isinstance(value, tuple) else E(tag, value)


def appdata(*children):
    return E(f"{A}:ApplicationData", *children)


def sent(skip=()):
    return appdata(*[element(tag, value) for tag, value, _, _ in PROPERTIES if tag not in skip])


def received(data, native=1):
    """What a device reads back: the same elements; the body with its size, and NativeBodyType."""
    def sized(el):
        if el.tag != f"{B}:Body":
            return el
        text = el.text(f"{B}:Data")
        return E(f"{B}:Body", E(f"{B}:Type", el.text(f"{B}:Type")), E(f"{B}:EstimatedDataSize", len(text.encode())), E(f"{B}:Data", text))
    return appdata(*[sized(c) for c in data.children], E(f"{B}:NativeBodyType", native))


def device(client, name, version="14.1"):
    return Raw(client, device=name, version=version, device_type="TestPhone")


async def primed(dev, *extra):
    return collection(await dev.sync("0", CONTACTS, *extra)).text(f"{A}:SyncKey")


async def add(dev, key, data):
    coll = collection(await dev.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"), data))))
    return coll.find(f"{A}:Responses").find(f"{A}:Add"), coll.text(f"{A}:SyncKey")


async def download(dev, key, *extra):
    """({ServerId: (command, ApplicationData)}, next key) of one Sync."""
    coll = collection(await dev.sync(key, CONTACTS, *extra))
    cmds = coll.find(f"{A}:Commands")
    return {c.text(f"{A}:ServerId"): (c.name, c.find(f"{A}:ApplicationData")) for c in (cmds.children if cmds else [])}, coll.text(f"{A}:SyncKey")


def marked(request):
    return {i for m in request.node.iter_markers("req") for i in m.args}


@pytest.mark.req("MS-ASCNTC_R107", "MS-ASCNTC_R112", "MS-ASCNTC_R117", "MS-ASCNTC_R122", "MS-ASCNTC_R163", "MS-ASCNTC_R130",
                 "MS-ASCNTC_R135", "MS-ASCNTC_R140", "MS-ASCNTC_R143", "MS-ASCNTC_R148", "MS-ASCNTC_R153", "MS-ASCNTC_R158",
                 "MS-ASCNTC_R168", "MS-ASCNTC_R1030", "MS-ASCNTC_R10040", "MS-ASCNTC_R200", "MS-ASCNTC_R209", "MS-ASCNTC_R214",
                 "MS-ASCNTC_R221", "MS-ASCNTC_R226", "MS-ASCNTC_R231", "MS-ASCNTC_R238", "MS-ASCNTC_R283", "MS-ASCNTC_R248",
                 "MS-ASCNTC_R253", "MS-ASCNTC_R258", "MS-ASCNTC_R263", "MS-ASCNTC_R268", "MS-ASCNTC_R273", "MS-ASCNTC_R278",
                 "MS-ASCNTC_R303", "MS-ASCNTC_R308", "MS-ASCNTC_R318", "MS-ASCNTC_R328", "MS-ASCNTC_R338", "MS-ASCNTC_R343",
                 "MS-ASCNTC_R348", "MS-ASCNTC_R353", "MS-ASCNTC_R358", "MS-ASCNTC_R363", "MS-ASCNTC_R368", "MS-ASCNTC_R385",
                 "MS-ASCNTC_R390", "MS-ASCNTC_R395", "MS-ASCNTC_R400", "MS-ASCNTC_R405", "MS-ASCNTC_R417", "MS-ASCNTC_R422",
                 "MS-ASCNTC_R427", "MS-ASCNTC_R373", "MS-ASCNTC_R1120", "MS-ASCNTC_R205", "MS-ASCNTC_R243", "MS-ASCNTC_R288",
                 "MS-ASCNTC_R293", "MS-ASCNTC_R298", "MS-ASCNTC_R313", "MS-ASCNTC_R195", "MS-ASCNTC_R97", "MS-ASCNTC_R333",
                 "MS-ASCNTC_R323", "MS-ASCNTC_R190")
@pytest.mark.parametrize("version", ["12.0", "12.1", "14.0", "14.1", "16.0", "16.1"])
async def test_every_contact_property_reads_back_on_another_device(client, request, version):
    assert {r[2] for r in PROPERTIES} | {"MS-ASCNTC_R190"} == marked(request)
    writer, reader = device(client, "w", version), device(client, "r", version)
    reply, _ = await add(writer, await primed(writer), sent())
    assert reply.text(f"{A}:Status") == "1"
    items, _ = await download(reader, await primed(reader))
    assert items == {reply.text(f"{A}:ServerId"): ("Add", received(sent()))}


# The device supports (MS-ASCMD 2.2.3.179) only the names; every other property is ghosted.
NAMES = (f"{C}:FileAs", f"{C}:FirstName", f"{C}:LastName", f"{C}:MiddleName")


@pytest.mark.req("MS-ASCNTC_R110", "MS-ASCNTC_R115", "MS-ASCNTC_R120", "MS-ASCNTC_R125", "MS-ASCNTC_R166", "MS-ASCNTC_R133",
                 "MS-ASCNTC_R138", "MS-ASCNTC_R700", "MS-ASCNTC_R146", "MS-ASCNTC_R151", "MS-ASCNTC_R156", "MS-ASCNTC_R161",
                 "MS-ASCNTC_R171", "MS-ASCNTC_R177", "MS-ASCNTC_R188", "MS-ASCNTC_R203", "MS-ASCNTC_R212", "MS-ASCNTC_R217",
                 "MS-ASCNTC_R224", "MS-ASCNTC_R229", "MS-ASCNTC_R234", "MS-ASCNTC_R241", "MS-ASCNTC_R286", "MS-ASCNTC_R251",
                 "MS-ASCNTC_R256", "MS-ASCNTC_R261", "MS-ASCNTC_R266", "MS-ASCNTC_R271", "MS-ASCNTC_R276", "MS-ASCNTC_R281",
                 "MS-ASCNTC_R306", "MS-ASCNTC_R311", "MS-ASCNTC_R321", "MS-ASCNTC_R331", "MS-ASCNTC_R341", "MS-ASCNTC_R346",
                 "MS-ASCNTC_R351", "MS-ASCNTC_R356", "MS-ASCNTC_R361", "MS-ASCNTC_R366", "MS-ASCNTC_R371", "MS-ASCNTC_R388",
                 "MS-ASCNTC_R393", "MS-ASCNTC_R398", "MS-ASCNTC_R403", "MS-ASCNTC_R408", "MS-ASCNTC_R420", "MS-ASCNTC_R425",
                 "MS-ASCNTC_R430", "MS-ASCNTC_R208", "MS-ASCNTC_R246", "MS-ASCNTC_R291", "MS-ASCNTC_R296", "MS-ASCNTC_R301",
                 "MS-ASCNTC_R316", "MS-ASCNTC_R198", "MS-ASCNTC_R100", "MS-ASCNTC_R336", "MS-ASCNTC_R326",
                 "MS-ASCNTC_R499", "MS-ASCNTC_R461")
@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_a_change_keeps_the_ghosted_properties_and_deletes_a_supported_one_left_out(client, request, version):
    assert {r[3] for r in PROPERTIES if r[3]} | {"MS-ASCNTC_R499", "MS-ASCNTC_R461"} == marked(request)
    writer, reader = device(client, "w", version), device(client, "r", version)
    key = await primed(writer, E(f"{A}:Supported", *[E(n) for n in NAMES]))
    reply, key = await add(writer, key, sent())
    sid = reply.text(f"{A}:ServerId")
    _, rkey = await download(reader, await primed(reader))
    # A Change with the names only, MiddleName (supported) left out; no Body, so the notes stay.
    change = appdata(E(f"{C}:FileAs", "Diaz-Ruiz, Dora"), E(f"{C}:FirstName", "Dora"), E(f"{C}:LastName", "Diaz-Ruiz"))
    await writer.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), change)))
    items, _ = await download(reader, rkey)
    expect = received(appdata(*[E(f"{C}:LastName", "Diaz-Ruiz") if c.tag == f"{C}:LastName" else
                                E(f"{C}:FileAs", "Diaz-Ruiz, Dora") if c.tag == f"{C}:FileAs" else c
                                for c in sent(skip={f"{C}:MiddleName"}).children]))
    assert items == {sid: ("Change", expect)}


@pytest.mark.req("MS-ASCNTC_R183", "MS-ASCNTC_R194", "MS-ASCNTC_R190")
async def test_three_hundred_categories_and_children_read_back(client):
    writer, reader = device(client, "w"), device(client, "r")
    data = appdata(E(f"{C}:Categories", *[E(f"{C}:Category", f"cat {i}") for i in range(300)]),
                   E(f"{C}:Children", *[E(f"{C}:Child", f"child {i}") for i in range(300)]), E(f"{C}:FileAs", "Many"))
    reply, _ = await add(writer, await primed(writer), data)
    items, _ = await download(reader, await primed(reader))
    assert items == {reply.text(f"{A}:ServerId"): ("Add", data)}


@pytest.mark.req("MS-ASCNTC_R381", "MS-ASCNTC_R1021", "MS-ASCNTC_R384")
async def test_a_picture_over_48_kb_of_base64_is_status_6(client):
    writer, reader = device(client, "w"), device(client, "r")
    key = await primed(writer)
    at_limit = "A" * (48 * 1024)  # base64 of a 36 KB image: the largest allowed
    reply, key = await add(writer, key, appdata(E(f"{C}:FileAs", "ok"), E(f"{C}:Picture", at_limit)))
    assert reply.text(f"{A}:Status") == "1"
    over, _ = await add(writer, key, appdata(E(f"{C}:FileAs", "too big"), E(f"{C}:Picture", at_limit + "AAAA")))
    assert over == E(f"{A}:Add", E(f"{A}:ClientId", "c1"), E(f"{A}:Status", 6))
    items, _ = await download(reader, await primed(reader))
    assert items == {reply.text(f"{A}:ServerId"): ("Add", appdata(E(f"{C}:FileAs", "ok"), E(f"{C}:Picture", at_limit)))}


def preference(*truncation):
    return E(f"{A}:Options", E(f"{B}:BodyPreference", E(f"{B}:Type", 1), *truncation))


@pytest.mark.req("MS-ASCNTC_R512", "MS-ASCNTC_R460")
async def test_the_notes_are_truncated_when_asked_and_whole_once_the_device_stops_asking(client):
    writer, reader = device(client, "w"), device(client, "r")
    reply, key = await add(writer, await primed(writer), appdata(E(f"{C}:FileAs", "Dora"),
                                                                E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "met at the fair"))))
    sid = reply.text(f"{A}:ServerId")
    rkey = await primed(reader, preference(E(f"{B}:TruncationSize", 3)))
    items, rkey = await download(reader, rkey, preference(E(f"{B}:TruncationSize", 3)))
    assert items[sid][1].find(f"{B}:Body") == E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 15),
                                                E(f"{B}:Truncated", 1), E(f"{B}:Data", "met"))
    await writer.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid),
                                                          appdata(E(f"{C}:FileAs", "Dora D")))))
    items, _ = await download(reader, rkey, preference())
    assert items[sid][1].find(f"{B}:Body") == E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 15),
                                                E(f"{B}:Data", "met at the fair"))


@pytest.mark.req("MS-ASCNTC_R485")
async def test_itemoperations_with_a_schema_returns_only_its_properties(client):
    writer = device(client, "w")
    reply, _ = await add(writer, await primed(writer), sent())
    io = "ItemOperations"
    resp = await writer.call(io, E(f"{io}:ItemOperations", E(
        f"{io}:Fetch", E(f"{io}:Store", "Mailbox"), E(f"{A}:CollectionId", CONTACTS), E(f"{A}:ServerId", reply.text(f"{A}:ServerId")),
        E(f"{io}:Options", E(f"{io}:Schema", E(f"{C}:FileAs"), E(f"{C}:Email1Address"), E(f"{C2}:NickName"))))))
    [fetch] = resp.find(f"{io}:Response").findall(f"{io}:Fetch")
    assert fetch.find(f"{io}:Properties") == E(f"{io}:Properties", E(f"{C}:Email1Address", '"Dora Diaz" <dora@example.net>'),
                                               E(f"{C}:FileAs", "Diaz, Dora"), E(f"{C2}:NickName", "Dee"))
