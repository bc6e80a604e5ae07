"""MS-ASDOC: the document library an administrator publishes (Admin.document_put), listed by Search
on the DocumentLibrary store and fetched by ItemOperations, inline as base64 or as a part of a
multipart answer; the statuses for a missing LinkId, a missing document and one the user may not
read."""
from __future__ import annotations

import base64

import pytest

from easlab.eas import multipart
from easlab.eas.wbxml import E, decode
from easlab.server.admin import NotFound
from easlab.server.admin.roles import SHELL
from easlab.server.admin.service import Admin
from easlab.storage.models_documents import Document
from tests.server.eas_helpers import Raw

pytestmark = pytest.mark.anyio
S, IO, D = "Search", "ItemOperations", "DocumentLibrary"
REPORT = b"Quarterly report\r\nline two\r\n"
SHARE = "\\\\easlab\\Shared"


@pytest.fixture
def admin(app, db):
    admin = Admin(db, app.state.hub.handle_event, "easlab.test")
    admin.document_put(SHELL, "Shared\\Reports\\q3.txt", REPORT, content_type="text/plain")
    admin.document_put(SHELL, "Shared\\Reports\\draft.txt", b"not yet", content_type="text/plain", hidden=True)
    admin.document_put(SHELL, "Shared\\Archive", folder=True, hidden=True)
    admin.document_put(SHELL, "Shared\\Board", folder=True, readers=["bob"])
    admin.document_put(SHELL, "Shared\\Board\\minutes.txt", b"secret", content_type="text/plain")
    return admin


def doc_search(link=None, *, name="DocumentLibrary", value=None):
    equal = E(f"{S}:EqualTo", E(f"{D}:LinkId") if link is not False else None,
              E(f"{S}:Value", value if value is not None else link) if link else None)
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", name), E(f"{S}:Query", equal),
                              E(f"{S}:Options", E(f"{S}:Range", "0-99"))))


def store_of(resp):
    assert resp.text(f"{S}:Status") == "1"
    return resp.find(f"{S}:Response").find(f"{S}:Store")


def listing(store):
    return {r.find(f"{S}:Properties").text(f"{D}:DisplayName"): r.find(f"{S}:Properties") for r in store.findall(f"{S}:Result")}


def fetch(link, *options):
    return E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "DocumentLibrary"), E(f"{D}:LinkId", link),
                                       E(f"{IO}:Options", *options) if options else None))


def stored(db, path):
    with db.session() as s:
        from sqlmodel import select

        return s.exec(select(Document).where(Document.path == path)).one()


@pytest.mark.req("MS-ASDOC_R111", "MS-ASDOC_R112", "MS-ASDOC_R46", "MS-ASDOC_R47", "MS-ASDOC_R52", "MS-ASDOC_R118",
                 "MS-ASDOC_R53", "MS-ASDOC_R119")
async def test_search_lists_every_entry_of_a_folder_as_a_document_class_block(client, admin, db):
    store = store_of(await Raw(client, user="bob", password="hunter2").call(S, doc_search(SHARE)))
    assert store.text(f"{S}:Status") == "1"
    entries = listing(store)
    assert set(entries) == {"Reports", "Archive", "Board"}  # one block for each entry, hidden ones too
    assert (store.text(f"{S}:Range"), store.text(f"{S}:Total")) == ("0-2", "3")
    reports, archive = entries["Reports"], entries["Archive"]
    assert (reports.text(f"{D}:IsFolder"), reports.text(f"{D}:IsHidden")) == ("1", "0")  # a folder, not hidden
    assert (archive.text(f"{D}:IsFolder"), archive.text(f"{D}:IsHidden")) == ("1", "1")  # a hidden folder
    assert reports.text(f"{D}:LinkId") == SHARE + "\\Reports"
    # The Reports folder: a document, and a hidden one.
    docs = listing(store_of(await Raw(client).call(S, doc_search(SHARE + "\\Reports"))))
    q3, draft = docs["q3.txt"], docs["draft.txt"]
    row = stored(db, "Shared\\Reports\\q3.txt")
    assert q3 == E(f"{S}:Properties", E(f"{D}:LinkId", SHARE + "\\Reports\\q3.txt"), E(f"{D}:DisplayName", "q3.txt"),
                   E(f"{D}:IsFolder", 0), E(f"{D}:CreationDate", row.created_at.strftime("%Y-%m-%dT%H:%M:%S.")
                                                                + f"{row.created_at.microsecond // 1000:03d}Z"),
                   E(f"{D}:LastModifiedDate", row.modified_at.strftime("%Y-%m-%dT%H:%M:%S.")
                     + f"{row.modified_at.microsecond // 1000:03d}Z"),
                   E(f"{D}:IsHidden", 0), E(f"{D}:ContentLength", len(REPORT)), E(f"{D}:ContentType", "text/plain"))
    assert (draft.text(f"{D}:IsFolder"), draft.text(f"{D}:IsHidden")) == ("0", "1")  # a hidden document


@pytest.mark.req("MS-ASDOC_R112")
async def test_search_of_an_empty_folder_returns_no_document_block(client, admin):
    admin.document_put(SHELL, "Shared\\Empty", folder=True)
    store = store_of(await Raw(client).call(S, doc_search(SHARE + "\\Empty")))
    assert store == E(f"{S}:Store", E(f"{S}:Status", 1), E(f"{S}:Result"), E(f"{S}:Total", 0))


@pytest.mark.req("MS-ASDOC_R111")
async def test_search_of_a_document_link_returns_that_document(client, admin):
    store = store_of(await Raw(client).call(S, doc_search(SHARE + "\\reports\\Q3.TXT")))  # UNC paths ignore case
    [result] = store.findall(f"{S}:Result")
    assert result.find(f"{S}:Properties").text(f"{D}:LinkId") == SHARE + "\\Reports\\q3.txt"


@pytest.mark.req("MS-ASDOC_R85")
async def test_search_without_a_link_id_is_protocol_error_2(client, admin):
    store = store_of(await Raw(client).call(S, doc_search(False, value=SHARE)))
    assert store == E(f"{S}:Store", E(f"{S}:Status", 2))


@pytest.mark.parametrize("link, status", [
    (SHARE + "\\Nowhere", 6),  # not found
    (SHARE + "\\Board", 5),  # alice is not among the Board's readers
    ("\\\\fileserver\\Shared", 4),  # not a share of this server
    ("Shared\\Reports", 4),  # not a UNC link
])
async def test_search_statuses_of_links(client, admin, link, status):
    store = store_of(await Raw(client).call(S, doc_search(link)))
    assert store == E(f"{S}:Store", E(f"{S}:Status", status))


async def test_search_hides_entries_the_user_may_not_read(client, admin):
    admin.document_put(SHELL, "Shared\\Reports\\salaries.txt", b"x", readers=["bob"])
    assert "salaries.txt" not in listing(store_of(await Raw(client).call(S, doc_search(SHARE + "\\Reports"))))
    bob = Raw(client, user="bob", password="hunter2")
    assert "salaries.txt" in listing(store_of(await bob.call(S, doc_search(SHARE + "\\Reports"))))


# -- ItemOperations Fetch ----------------------------------------------------------------------------
@pytest.mark.req("MS-ASDOC_R69", "MS-ASDOC_R77", "MS-ASDOC_R98", "MS-ASDOC_R107", "MS-ASDOC_R102", "MS-ASDOC_R103")
async def test_fetch_without_multipart_returns_the_document_as_base64_data(client, admin, db):
    resp = await Raw(client).call(IO, fetch(SHARE + "\\Reports\\q3.txt"))
    row = stored(db, "Shared\\Reports\\q3.txt")
    version = row.modified_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{row.modified_at.microsecond // 1000:03d}Z"
    assert resp == E(f"{IO}:ItemOperations", E(f"{IO}:Status", 1), E(f"{IO}:Response", E(f"{IO}:Fetch",
                     E(f"{IO}:Status", 1), E(f"{D}:LinkId", SHARE + "\\Reports\\q3.txt"),
                     E(f"{IO}:Properties", E(f"{IO}:Total", len(REPORT)),
                       E(f"{IO}:Data", base64.b64encode(REPORT).decode("ascii")), E(f"{IO}:Version", version)))))


@pytest.mark.req("MS-ASDOC_R124", "MS-ASDOC_R76", "MS-ASDOC_R120", "MS-ASDOC_R106")
async def test_fetch_with_accept_multipart_returns_the_document_as_a_binary_part(client, admin):
    dev = Raw(client)
    body = E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "DocumentLibrary"),
                                       E(f"{D}:LinkId", SHARE + "\\Reports\\q3.txt")),
             E(f"{IO}:Fetch", E(f"{IO}:Store", "DocumentLibrary"), E(f"{D}:LinkId", SHARE + "\\Reports\\draft.txt")))
    from easlab.eas.wbxml import encode

    q = "/Microsoft-Server-ActiveSync?Cmd=ItemOperations&User=alice&DeviceId=dev1&DeviceType=iPhone"
    r = await client.post(q, content=encode(body), headers={**dev.headers(), "MS-ASAcceptMultiPart": "T"})
    assert r.status_code == 200 and r.headers["content-type"] == multipart.CONTENT_TYPE
    wbxml, *parts = multipart.unpack(r.content)
    assert parts == [REPORT, b"not yet"]  # the bytes themselves, one part each
    fetches = decode(wbxml).find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert [f.find(f"{IO}:Properties").text(f"{IO}:Part") for f in fetches] == ["1", "2"]
    assert not any(f.find(f"{IO}:Properties").has(f"{IO}:Data") for f in fetches)


@pytest.mark.req("MS-ASDOC_R102")
async def test_fetch_of_a_byte_range_of_a_document(client, admin):
    resp = await Raw(client).call(IO, fetch(SHARE + "\\Reports\\q3.txt", E(f"{IO}:Range", "0-8")))
    props = resp.find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties")
    assert (props.text(f"{IO}:Range"), props.text(f"{IO}:Total")) == ("0-8", str(len(REPORT)))
    assert base64.b64decode(props.text(f"{IO}:Data")) == REPORT[:9]


@pytest.mark.parametrize("link, status", [
    (SHARE + "\\Reports\\gone.txt", 6),  # no such document
    (SHARE + "\\Reports", 6),  # a folder has no body
    (SHARE + "\\Board\\minutes.txt", 5),  # access denied: alice is not among the Board's readers
    ("\\\\fileserver\\Shared\\x.txt", 4),  # not a link of this server
    ("", 2),  # no LinkId
])
async def test_fetch_statuses(client, admin, link, status):
    resp = await Raw(client).call(IO, fetch(link))
    assert resp.find(f"{IO}:Response").find(f"{IO}:Fetch").text(f"{IO}:Status") == str(status)


async def test_the_board_reader_fetches_what_others_may_not(client, admin):
    bob = Raw(client, user="bob", password="hunter2")
    resp = await bob.call(IO, fetch(SHARE + "\\Board\\minutes.txt"))
    props = resp.find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties")
    assert base64.b64decode(props.text(f"{IO}:Data")) == b"secret"


def test_admin_document_writes(admin, db):
    view = admin.document_put(SHELL, "Shared/Reports/q3.txt", b"new text")  # replaces, keeps the type
    assert (view["link"], view["size"], view["content_type"], view["folder"]) == (
        SHARE + "\\Reports\\q3.txt", 8, "application/octet-stream", False)
    assert [v["path"] for v in admin.document_list(SHELL)] == [
        "Shared", "Shared\\Archive", "Shared\\Board", "Shared\\Board\\minutes.txt", "Shared\\Reports",
        "Shared\\Reports\\draft.txt", "Shared\\Reports\\q3.txt"]
    assert admin.document_remove(SHELL, "Shared\\Board") == 2
    with pytest.raises(NotFound):
        admin.document_remove(SHELL, "Shared\\Board")
    from easlab.storage.access import AccessError

    with pytest.raises(AccessError):
        admin.document_put(SHELL, "Shared\\Reports\\q3.txt\\inner.txt", b"x")  # a document is no folder
