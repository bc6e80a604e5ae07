"""eas/documents.py: UNC links, who may read, and a document library Search and Fetch over the fake
ports."""
from datetime import datetime, timezone

import pytest

from easlab.eas import documents
from easlab.eas.documents import DocumentEntry
from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

pytestmark = pytest.mark.anyio
WHEN = datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("link, path", [
    ("\\\\easlab\\Shared", ("Shared",)),
    ("\\\\EASLAB\\Shared\\Reports\\q3.txt", ("Shared", "Reports", "q3.txt")),
    ("//easlab/Shared/Reports/", ("Shared", "Reports")),
])
def test_links_of_this_server(link, path):
    assert documents.parse_link(link) == path
    assert documents.link_of(path) == "\\\\easlab\\" + "\\".join(path)


@pytest.mark.parametrize("link", ["", "Shared\\x", "\\\\easlab", "\\\\easlab\\", "\\\\other\\Shared",
                                  "\\\\easlab\\Shared\\..\\x", "http://easlab/Shared"])
def test_links_that_name_nothing_here(link):
    with pytest.raises(documents.LinkError):
        documents.parse_link(link)


@pytest.mark.parametrize("user, readers, allowed", [
    ("alice", [[], []], True),
    ("Alice", [["alice"], []], True),
    ("alice", [[], ["bob"]], False),
    ("bob", [["bob"], ["carol", "BOB"]], True),
])
def test_may_read(user, readers, allowed):
    assert documents.may_read(user, readers) is allowed


def library() -> FakePorts:
    store = FakePorts()
    store.library[("S",)] = (DocumentEntry(("S",), True, created=WHEN, modified=WHEN), b"")
    store.library[("S", "a.txt")] = (DocumentEntry(("S", "a.txt"), False, size=3, content_type="text/plain",
                                                   created=WHEN, modified=WHEN), b"abc")
    return store


def search(link):
    return E("Search:Search", E("Search:Store", E("Search:Name", "DocumentLibrary"), E("Search:Query", E(
        "Search:EqualTo", E("DocumentLibrary:LinkId"), E("Search:Value", link)))))


async def test_search_renders_document_class_properties():
    response = await run(library(), "Search", search("\\\\easlab\\S"))
    store = response.body.find("Search:Response").find("Search:Store")
    assert store == E("Search:Store", E("Search:Status", 1), E("Search:Result", E("Search:Properties",
                      E("DocumentLibrary:LinkId", "\\\\easlab\\S\\a.txt"), E("DocumentLibrary:DisplayName", "a.txt"),
                      E("DocumentLibrary:IsFolder", 0), E("DocumentLibrary:CreationDate", "2026-12-01T08:30:00.000Z"),
                      E("DocumentLibrary:LastModifiedDate", "2026-12-01T08:30:00.000Z"), E("DocumentLibrary:IsHidden", 0),
                      E("DocumentLibrary:ContentLength", 3), E("DocumentLibrary:ContentType", "text/plain"))),
                      E("Search:Range", "0-0"), E("Search:Total", 1))


async def test_search_range_past_the_document_rows_is_status_12():
    tree = search("\\\\easlab\\S")
    tree.find("Search:Store").children.append(E("Search:Options", E("Search:Range", "0-1000")))
    response = await run(library(), "Search", tree)
    assert response.body.find("Search:Response").find("Search:Store") == E("Search:Store", E("Search:Status", 12))


async def test_fetch_a_document_multipart():
    tree = E("ItemOperations:ItemOperations", E("ItemOperations:Fetch", E("ItemOperations:Store", "DocumentLibrary"),
                                                E("DocumentLibrary:LinkId", "\\\\easlab\\S\\a.txt")))
    response = await run(library(), "ItemOperations", tree, accept_multipart=True)
    from easlab.eas import multipart
    from easlab.eas.wbxml import decode

    head, part = multipart.unpack(response.body)
    props = decode(head).find("ItemOperations:Response").find("ItemOperations:Fetch").find("ItemOperations:Properties")
    assert props == E("ItemOperations:Properties", E("ItemOperations:Total", 3), E("ItemOperations:Part", 1),
                      E("ItemOperations:Version", "2026-12-01T08:30:00.000Z"))
    assert part == b"abc"
