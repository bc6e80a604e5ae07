"""MS-ASCMD pool a, the directory: Find over the GAL (2.2.1.2, 2.2.3.9.1, 2.2.3.33.1, 2.2.3.70.1) and the
contact-photo statuses 173-175 (2.2.2) at 14.1 and 16.0, on a small organisation (add_org)."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from easlab.storage.directory import set_directory
from tests.server.directory_helpers import add_org, directory_app
from tests.server.eas_helpers import Raw

pytestmark = pytest.mark.anyio
F, S = "Find", "Search"
ONLY_IN_GAL = ("GAL:Alias", "GAL:Company", "GAL:FirstName")


@pytest.fixture
def app(settings, db):
    add_org(db)
    return directory_app(settings, db)


def gal_find(text, rng=None, search_id="g1"):
    return E(f"{F}:Find", E(f"{F}:SearchId", search_id), E(f"{F}:ExecuteSearch", E(f"{F}:GalSearchCriterion",
             E(f"{F}:Query", E(f"{F}:FreeText", text)), E(f"{F}:Options", E(f"{F}:Range", rng)) if rng else None)))


def mailbox_find(text, search_id="m1"):
    return E(f"{F}:Find", E(f"{F}:SearchId", search_id), E(f"{F}:ExecuteSearch", E(f"{F}:MailBoxSearchCriterion",
             E(f"{F}:Query", E("AirSync:Class", "Email"), E(f"{F}:FreeText", text)))))


def found(resp):
    assert resp.text(f"{F}:Status") == "1"
    r = resp.find(f"{F}:Response")
    assert r.text(f"{F}:Status") == "1"
    return r


def props(r):
    return [res.find(f"{F}:Properties") for res in r.findall(f"{F}:Result")]


@pytest.mark.req("MS-ASCMD_R1002501", "MS-ASCMD_R61641062")
async def test_each_gal_entry_found_carries_its_alias_and_display_name(client):
    r = found(await Raw(client, version="16.1").call("Find", gal_find("carol")))
    [p] = props(r)
    assert (p.text("GAL:Alias"), p.text("GAL:DisplayName"), p.text("GAL:EmailAddress")) == ("carol", "Carol Jones",
                                                                                             "carol@easlab.test")


@pytest.mark.req("MS-ASCMD_R131999", "MS-ASCMD_R132004")
async def test_entries_up_to_the_range_the_total_found_in_display_name_order(client):
    dev = Raw(client, version="16.1")
    r = found(await dev.call("Find", gal_find("a", "0-0")))
    assert [p.text("GAL:DisplayName") for p in props(r)] == ["Alan Smith"]
    assert (r.text(f"{F}:Range"), r.text(f"{F}:Total")) == ("0-0", "2")
    r = found(await dev.call("Find", gal_find("a", "0-9", search_id="g2")))
    assert [p.text("GAL:DisplayName") for p in props(r)] == ["Alan Smith", "Alice Example"]
    assert (r.text(f"{F}:Range"), r.text(f"{F}:Total")) == ("0-1", "2")
    r = found(await dev.call("Find", gal_find("example", search_id="g3")))
    assert [p.text("GAL:DisplayName") for p in props(r)] == ["Alice Example", "Bob Example"]


@pytest.mark.req("MS-ASCMD_R132000")
async def test_the_query_is_a_prefix_match(client):
    dev = Raw(client, version="16.1")
    assert [p.text("GAL:Alias") for p in props(found(await dev.call("Find", gal_find("Jon"))))] == ["carol"]
    for inner in ("ones", "arol", "lan"):  # inside a word, not at its start: no match
        r = found(await dev.call("Find", gal_find(inner, search_id=f"x{inner}")))
        assert (props(r), r.text(f"{F}:Total")) == ([], "0")


@pytest.mark.req("MS-ASCMD_R61641061", "MS-ASCMD_R63510605", "MS-ASCMD_R65590806")
async def test_alias_company_and_first_name_only_answer_a_gal_criterion(client, app):
    dev = Raw(client, version="16.1")
    [p] = props(found(await dev.call("Find", gal_find("carol"))))
    assert [p.text(tag) for tag in ONLY_IN_GAL] == ["carol", "Easlab Ltd", "Carol"]
    await app.state.store.deliver(b"From: Carol Jones <carol@easlab.test>\r\nTo: alice@easlab.test\r\n"
                                  b"Subject: carol's plan\r\n\r\ncarol writes\r\n", ["alice@easlab.test"])
    await dev.folder_sync("0")
    [mail] = props(found(await dev.call("Find", mailbox_find("carol"))))
    assert mail.text("Email:Subject") == "carol's plan"
    assert [mail.find(tag) for tag in ONLY_IN_GAL] == [None, None, None]
    assert not any(el.tag.startswith("GAL:") for el in mail.iter())


def gal_pictures(text, *picture):
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "GAL"), E(f"{S}:Query", text),
                            E(f"{S}:Options", E(f"{S}:Picture", *picture))))


def pictures(resp):
    store = resp.find(f"{S}:Response").find(f"{S}:Store")
    return {r.find(f"{S}:Properties").text("GAL:Alias"): r.find(f"{S}:Properties").find("GAL:Picture")
            for r in store.findall(f"{S}:Result")}


@pytest.mark.req("MS-ASCMD_R4970", "MS-ASCMD_R4972", "MS-ASCMD_R4974")
@pytest.mark.parametrize("version", ["14.1", "16.0"])
async def test_photo_statuses_173_174_175(client, db, version):
    with db.session() as s:
        set_directory(s, "alice", picture=b"\xff\xd8small")
        set_directory(s, "bob", picture=b"\xff\xd8" + b"x" * 100)
    dev = Raw(client, version=version)
    got = pictures(await dev.call("Search", gal_pictures("carol")))
    assert got == {"carol": E("GAL:Picture", E("GAL:Status", 173))}  # no photo
    got = pictures(await dev.call("Search", gal_pictures("example", E(f"{S}:MaxSize", 20))))
    assert got == {"alice": E("GAL:Picture", E("GAL:Status", 1), E("GAL:Data", b"\xff\xd8small")),
                   "bob": E("GAL:Picture", E("GAL:Status", 174))}  # over MaxSize
    got = pictures(await dev.call("Search", gal_pictures("example", E(f"{S}:MaxPictures", 1))))
    assert got == {"alice": E("GAL:Picture", E("GAL:Status", 1), E("GAL:Data", b"\xff\xd8small")),
                   "bob": E("GAL:Picture", E("GAL:Status", 175))}  # past MaxPictures
