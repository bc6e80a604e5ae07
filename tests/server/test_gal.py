"""The GAL through a Search command: eas.gal.answer on the store's gal_search, over HTTP."""
import pytest

from easlab.eas import gal
from easlab.eas.response import Response
from easlab.eas.wbxml import E
from easlab.storage.directory import set_directory
from tests.server.directory_helpers import add_org, directory_app
from tests.server.eas_helpers import Raw

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(settings, db):
    add_org(db)
    return directory_app(settings, db)


@pytest.fixture(autouse=True)
def search_command(app, stand_in):
    """The Search command hands GAL stores to eas.gal.answer; where no Search command is
    registered, a stand-in does just that."""
    if "Search" in app.state.commands:
        return

    async def handle(ctx, request):
        return Response(200, await gal.answer(ctx, request.find("Search:Store")))

    stand_in("Search", handle, "Search:Search")


def gal_search(query, *options):
    return E("Search:Search", E("Search:Store", E("Search:Name", "GAL"), E("Search:Query", query),
                                E("Search:Options", *options) if options else None))


def result(**props):
    order = ["DisplayName", "Phone", "Office", "Title", "Company", "Alias", "FirstName", "LastName", "HomePhone",
             "MobilePhone", "EmailAddress"]
    return E("Search:Result", E("Search:Properties", *(E(f"GAL:{k}", props[k]) for k in order if k in props)))


def answer(*results, range_=None, total=None, status=1):
    store = E("Search:Store", E("Search:Status", status), *results,
              E("Search:Range", range_) if range_ else None, E("Search:Total", total) if total is not None else None)
    return E("Search:Search", E("Search:Status", 1), E("Search:Response", store))


@pytest.mark.req("MS-ASCMD_R5711", "MS-ASCMD_R419", "MS-ASCMD_R420", "MS-ASCMD_R421", "MS-ASCMD_R426",
                 "MS-ASCMD_R5286", "MS-ASCMD_R5287")
async def test_search_by_name_prefix(client):
    resp = await Raw(client).call("Search", gal_search("example"))
    assert resp == answer(
        result(DisplayName="Alice Example", Alias="alice", EmailAddress="alice@easlab.test"),
        result(DisplayName="Bob Example", Alias="bob", EmailAddress="bob@easlab.test"),
        range_="0-1", total=2)


@pytest.mark.req("MS-ASCMD_R5293", "MS-ASCMD_R5300", "MS-ASCMD_R5316", "MS-ASCMD_R5323", "MS-ASCMD_R5330",
                 "MS-ASCMD_R5337", "MS-ASCMD_R5353", "MS-ASCMD_R5360", "MS-ASCMD_R5368", "MS-ASCMD_R5391",
                 "MS-ASCMD_R3691")
async def test_every_property_of_an_entry(client):
    resp = await Raw(client, version="12.1").call("Search", gal_search("JONES"))
    assert resp == answer(result(
        DisplayName="Carol Jones", Phone="+1 555 0100", Office="B2.14", Title="Engineer", Company="Easlab Ltd",
        Alias="carol", FirstName="Carol", LastName="Jones", HomePhone="+1 555 0101", MobilePhone="+1 555 0102",
        EmailAddress="carol@easlab.test"), range_="0-0", total=1)


async def test_alias_address_and_paging(client):
    dev = Raw(client)
    assert (await dev.call("Search", gal_search("dave@"))).find("Search:Response").find("Search:Store") \
        .find("Search:Result").find("Search:Properties").text("GAL:Alias") == "dave"
    resp = await dev.call("Search", gal_search("a", E("Search:Range", "1-2")))
    store = resp.find("Search:Response").find("Search:Store")
    # "a" is a prefix of Alan and Alice only (never a match inside a word, as in Carol or Dave).
    assert [r.find("Search:Properties").text("GAL:Alias") for r in store.findall("Search:Result")] == ["alice"]
    assert store.text("Search:Range") == "1-1" and store.text("Search:Total") == "2"


@pytest.mark.req("MS-ASCMD_R3847")
async def test_no_match_and_bad_ranges(client):
    dev = Raw(client)
    assert await dev.call("Search", gal_search("zz")) == answer(total=0)
    assert await dev.call("Search", gal_search("a", E("Search:Range", "0-100"))) == answer(status=12)
    assert await dev.call("Search", gal_search("a", E("Search:Range", "5-1"))) == answer(status=2)
    assert await dev.call("Search", gal_search("")) == answer(status=2)


@pytest.mark.req("MS-ASCMD_R3674", "MS-ASCMD_R2135", "MS-ASCMD_R4371", "MS-ASCMD_R4372", "MS-ASCMD_R4373",
                 "MS-ASCMD_R4374", "MS-ASCMD_R4375", "MS-ASCMD_R3310", "MS-ASCMD_R3311")
async def test_pictures(client, db):
    with db.session() as s:
        set_directory(s, "alice", picture=b"\xff\xd8alice-photo")
        set_directory(s, "bob", picture=b"\xff\xd8bob")
    dev = Raw(client)

    def pictures(resp):
        store = resp.find("Search:Response").find("Search:Store")
        return [r.find("Search:Properties").find("GAL:Picture") for r in store.findall("Search:Result")]

    got = pictures(await dev.call("Search", gal_search("e", E("Search:Picture", E("Search:MaxPictures", 1)))))
    # Alice has a photo: sent; Bob's comes after the limit: 175.
    assert got == [E("GAL:Picture", E("GAL:Status", 1), E("GAL:Data", b"\xff\xd8alice-photo")),
                   E("GAL:Picture", E("GAL:Status", 175))]
    got = pictures(await dev.call("Search", gal_search("e", E("Search:Picture", E("Search:MaxSize", 5)))))
    assert got == [E("GAL:Picture", E("GAL:Status", 174)), E("GAL:Picture", E("GAL:Status", 1), E("GAL:Data", b"\xff\xd8bob"))]
    got = pictures(await dev.call("Search", gal_search("carol", E("Search:Picture"))))
    assert got == [E("GAL:Picture", E("GAL:Status", 173))]
    # Without Picture, or before 14.1, no photos at all.
    assert pictures(await dev.call("Search", gal_search("alice"))) == [None]
    old = Raw(client, version="14.0", device="dev2")
    assert pictures(await old.call("Search", gal_search("alice", E("Search:Picture")))) == [None]


async def test_gal_search_on_the_store(app):
    from easlab.eas.context import CommandContext
    from easlab.eas.request import RequestLine

    line = RequestLine(command="Search", user="alice", device_id="dev9", device_type="iPhone", protocol_version="14.1",
                       policy_key=None, user_agent="t")
    ctx = CommandContext(request=line, user="alice", address="alice@easlab.test", store=app.state.store,
                         clock=app.state.clock.monotonic, commands=app.state.commands)
    result = await app.state.store.gal_search(ctx, "al", (0, 0), None)
    assert [e.alias for e in result.entries] == ["alan"] and result.total == 2 and result.start == 0
