"""Search over the fake ports: the mailbox, the GAL, and bad requests."""
import pytest

from easlab.eas import gal
from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "Search"
pytestmark = pytest.mark.anyio


def search(name, *rest):
    return E(f"{NS}:Search", E(f"{NS}:Store", E(f"{NS}:Name", name), *rest))


def wrap(*store):
    return E(f"{NS}:Search", E(f"{NS}:Status", 1), E(f"{NS}:Response", E(f"{NS}:Store", *store)))


async def test_a_mailbox_search_finds_by_subject_and_counts():
    store = FakePorts()
    store.folder("2", "Inbox", 2)
    store.mail("2", "2:1", "Lab report")
    store.mail("2", "2:2", "Lunch")
    query = E(f"{NS}:Query", E(f"{NS}:And", E("AirSync:Class", "Email"), E(f"{NS}:FreeText", "report")))
    response = await run(store, "Search", search("Mailbox", query))
    result = response.body.find(f"{NS}:Response").find(f"{NS}:Store")
    assert [c.name for c in result.children] == ["Status", "Result", "Range", "Total"]
    assert (result.text(f"{NS}:Status"), result.text(f"{NS}:Range"), result.text(f"{NS}:Total")) == ("1", "0-0", "1")
    assert result.find(f"{NS}:Result").text(f"{NS}:LongId") == "2:2:1"


async def test_the_gal_answers_from_the_directory():
    store = FakePorts()
    store.directory = [gal.DirectoryEntry("bob", "bob@easlab.test", "Bob Example"),
                       gal.DirectoryEntry("carol", "carol@easlab.test", "Carol Other")]
    response = await run(store, "Search", search("GAL", E(f"{NS}:Query", "bo")))
    assert response.body == wrap(E(f"{NS}:Status", 1), E(f"{NS}:Result", E(f"{NS}:Properties",
        E("GAL:DisplayName", "Bob Example"), E("GAL:Alias", "bob"), E("GAL:EmailAddress", "bob@easlab.test"))),
        E(f"{NS}:Range", "0-0"), E(f"{NS}:Total", 1))


async def test_errors_an_or_is_too_complex_a_bad_range_and_a_document_library():
    store = FakePorts()
    too_complex = await run(store, "Search", search("Mailbox", E(f"{NS}:Query", E(f"{NS}:Or"))))
    assert too_complex.body == wrap(E(f"{NS}:Status", 8))
    past = await run(store, "Search", search("GAL", E(f"{NS}:Query", "bo"), E(f"{NS}:Options", E(f"{NS}:Range", "0-100"))))
    assert past.body == wrap(E(f"{NS}:Status", 12))
    library = await run(store, "Search", search("DocumentLibrary", E(f"{NS}:Query", "x")))
    assert library.body == wrap(E(f"{NS}:Status", 2))  # a document library Query names a LinkId (MS-ASDOC 3.1.5.2)
