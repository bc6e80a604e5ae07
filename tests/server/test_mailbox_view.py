"""The look inside the mailboxes, read-only (server/mailboxes.py): the JSON API and the admin
center's pages for users, folders, items, raw MIME, attachments and a device's sync state; roles;
hostile mail HTML never served inline; the trace switch on the device page."""
from __future__ import annotations

import html
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from sqlmodel import select

from easlab.server.admin import SHELL
from easlab.server.mailboxes import content_disposition, safe_content_type, safe_filename
from easlab.storage.faults import trace_setting
from easlab.storage.models import Item
from tests.server.test_web import csrf_from, login

pytestmark = pytest.mark.anyio

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
HOSTILE_HTML = ("<html><head><title>t</title></head><body><p id='greeting'>Hello from the mail</p>"
                "<script>document.body.setAttribute('data-ran', 'script'); parent.document.title = 'pwned'</script>"
                "<img src='x' onerror=\"document.body.setAttribute('data-ran', 'onerror')\">"
                "<a href='javascript:alert(1)'>click</a></body></html>")


def rich_message(to: str = "alice@easlab.test", subject: str = "Quarterly report") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Carol Sender <carol@example.net>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["X-Lab"] = "=?utf-8?q?gr=C3=BC=C3=9Fe?="
    msg.set_content("The numbers are attached.\n")
    msg.add_alternative(HOSTILE_HTML, subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    return msg


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's parser sees the page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.seen: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, attrs))


def stored(easlab, user: str, server_id: str) -> Item:
    with easlab.db.session() as s:
        return s.exec(select(Item).where(Item.server_id == server_id)).first()


async def viewer_client(easlab, name="viewer"):
    """A signed-in admin center session of a viewer (cookie client)."""
    easlab.make_user(name, password="pw", role="viewer")
    client = easlab.http()
    r = await login(client, name, "pw")
    assert r.status_code == 303, r.text
    return client


# -- the API ------------------------------------------------------------------------------------
async def test_users_and_folders(easlab):
    alice = easlab.make_user("alice", display_name="Alice Example")
    easlab.make_user("bob")
    viewer = easlab.make_user("vera", role="viewer")
    await easlab.make_device(alice)
    api = easlab.http(viewer)
    users = (await api.get("/api/users")).json()
    assert [u["name"] for u in users] == ["alice", "bob", "vera"]
    assert users[0] == {"name": "alice", "address": "alice@easlab.test", "display_name": "Alice Example", "role": None,
                        "activesync": True, "devices": 1}
    assert users[2]["role"] == "viewer" and users[2]["devices"] == 0

    await easlab.deliver(to=alice, subject="one")
    folders = (await api.get("/api/users/alice/folders")).json()
    inbox = next(f for f in folders if f["name"] == "Inbox")
    assert inbox == {"server_id": "1", "parent_id": "0", "name": "Inbox", "type": 2, "type_name": "Inbox",
                     "class": "Email", "item_count": 1, "change_seq": 1, "depth": 0}
    assert {f["name"] for f in folders} >= {"Drafts", "Sent Items", "Deleted Items", "Calendar"}
    assert (await api.get("/api/users/nobody/folders")).status_code == 404


async def test_items_newest_first_a_page_at_a_time(easlab):
    alice = easlab.make_user("alice")
    api = easlab.http(easlab.make_user("vera", role="viewer"))
    for n in range(5):
        await easlab.deliver(to=alice, subject=f"mail {n}", body=f"body {n}")
    first = (await api.get("/api/users/alice/folders/1/items", params={"limit": 2})).json()
    assert first["total"] == 5 and first["folder"]["name"] == "Inbox" and first["folder"]["change_seq"] == 5
    assert [i["subject"] for i in first["items"]] == ["mail 4", "mail 3"]
    row = first["items"][0]
    assert set(row) == {"id", "server_id", "subject", "from", "to", "date", "read", "flag", "size", "has_attachments"}
    assert row["from"] == '"Sender" <sender@example.net>' and row["to"] == "alice@easlab.test"
    assert (row["read"], row["flag"], row["has_attachments"]) == (False, 0, False) and row["size"] > 0
    seen = [i["subject"] for i in first["items"]]
    page = first
    while page["next_before"] is not None:
        page = (await api.get("/api/users/alice/folders/1/items",
                              params={"limit": 2, "before": page["next_before"]})).json()
        seen += [i["subject"] for i in page["items"]]
    assert seen == [f"mail {n}" for n in (4, 3, 2, 1, 0)]
    assert [i["subject"] for i in (await api.get("/api/users/alice/folders/1/items")).json()["items"]] == seen

    for bad in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"before": "-1"}, {"before": "abc"}):
        r = await api.get("/api/users/alice/folders/1/items", params=bad)
        assert r.status_code == 400 and r.json()["error"], bad
    assert (await api.get("/api/users/alice/folders/99/items")).status_code == 404
    assert (await api.get("/api/users/nobody/folders/1/items")).status_code == 404


async def test_items_by_date_not_by_arrival_with_a_stable_cursor(easlab):
    """Mail stored in another order than its dates (an import: the Date is the DateReceived) lists
    by date, the id breaking ties; the cursor goes on after the last item shown even when a newer
    item arrives between the pages."""
    from datetime import datetime, timedelta, timezone

    from easlab.storage.mailbox import folder_by_type, store_message
    from easlab.storage.users import get_user

    easlab.make_user("alice")
    api = easlab.http(easlab.make_user("vera", role="viewer"))
    base = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
    stored_as = [("b", 2), ("d", 0), ("a", 3), ("c", 1), ("tie-1", 1), ("tie-2", 1)]  # (subject, days before base)

    def store(subject, days):
        with easlab.db.session() as s:
            inbox = folder_by_type(s, get_user(s, "alice"), 2)
            msg = easlab.build_message("alice", subject=subject)
            store_message(s, inbox, msg.as_bytes(), received=base - timedelta(days=days))

    for subject, days in stored_as:
        store(subject, days)
    url = "/api/users/alice/folders/1/items"
    first = (await api.get(url, params={"limit": 3})).json()
    assert [i["subject"] for i in first["items"]] == ["d", "tie-2", "tie-1"]
    assert [i["date"] for i in first["items"]] == ["2026-11-02T09:30:00+00:00", "2026-11-01T09:30:00+00:00", "2026-11-01T09:30:00+00:00"]
    assert first["next_before"] == f"2026-11-01T09:30:00.000000Z~{first['items'][2]['id']}"
    store("newest", -1)  # arrives between the pages
    second = (await api.get(url, params={"limit": 3, "before": first["next_before"]})).json()
    assert [i["subject"] for i in second["items"]] == ["c", "b", "a"] and second["next_before"] is None
    assert second["before"] == first["next_before"] and second["total"] == 7
    for bad in ("12", "2026-11-01T09:30:00Z~3", "2026-13-01T09:30:00.000000Z~3", "2026-11-01T09:30:00.000000Z~0"):
        r = await api.get(url, params={"before": bad})
        assert r.status_code == 400 and "next_before" in r.json()["error"], bad
    web = await viewer_client(easlab, "wendy")
    page = (await web.get("/ecp/mailboxes/alice/1?limit=3")).text
    assert re.findall(r'<td class="subject"><a [^>]*>([^<]*)</a>', page) == ["newest", "d", "tie-2"]


async def test_an_item_with_bodies_headers_attachments_and_its_mime(easlab):
    alice = easlab.make_user("alice")
    api = easlab.http(easlab.make_user("vera", role="viewer"))
    msg = rich_message()
    await easlab.deliver(msg)
    mail = await easlab.wait_for_mail(alice)
    listed = (await api.get("/api/users/alice/folders/1/items")).json()["items"]
    assert listed[0]["has_attachments"] is True

    r = await api.get(f"/api/items/alice/{mail.server_id}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    item = r.json()
    assert item["subject"] == "Quarterly report" and item["from"] == '"Carol Sender" <carol@example.net>'
    assert item["folder"] == {"server_id": "1", "name": "Inbox", "type": 2}
    assert item["body_text"].strip() == "The numbers are attached."
    assert item["body_html"].strip() == HOSTILE_HTML  # the API hands the HTML out as data, in JSON
    headers = dict(item["headers"])
    assert headers["Subject"] == "Quarterly report" and headers["X-Lab"] == "grüße"  # encoded words decoded
    assert headers["Content-Type"].startswith("multipart/mixed")
    assert [(a["index"], a["name"], a["content_type"]) for a in item["attachments"]] == [
        (0, "report.pdf", "application/pdf"), (1, "data.csv", "text/csv")]
    assert item["attachments"][0]["size"] == len(PDF)
    assert item["mime_url"] == f"/api/items/alice/{quote(mail.server_id, safe='')}/mime"

    # The attachment's bytes, as sent, with its type and a file name.
    pdf = await api.get(item["attachments"][0]["url"])
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert "sandbox" in pdf.headers["content-security-policy"] and pdf.headers["x-content-type-options"] == "nosniff"
    csv = await api.get(item["attachments"][1]["url"])
    assert csv.content.replace(b"\r\n", b"\n") == b"a,b\n1,2\n" and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.content) == item["attachments"][1]["size"]
    assert (await api.get(f"/api/items/alice/{mail.server_id}/attachments/2")).status_code == 404
    assert (await api.get(f"/api/items/alice/{mail.server_id}/attachments/x")).status_code == 404

    # The MIME as stored, byte for byte.
    raw = await api.get(item["mime_url"])
    assert raw.status_code == 200 and raw.headers["content-type"] == "message/rfc822"
    assert raw.content == stored(easlab, "alice", mail.server_id).mime
    assert raw.headers["content-disposition"] == f'attachment; filename="alice-{mail.server_id.replace(":", "_")}.eml"'
    assert "sandbox" in raw.headers["content-security-policy"]

    for path in (f"/api/items/alice/{mail.server_id}", f"/api/items/bob/{mail.server_id}", "/api/items/alice/1:999",
                 "/api/items/alice/1:999/mime", "/api/items/alice/1:999/attachments/0"):
        r = await api.get(path)
        assert r.status_code == (200 if path.endswith(mail.server_id) and "/alice/" in path else 404), path


async def test_hostile_attachment_names_and_types(easlab):
    easlab.make_user("alice")
    api = easlab.http(easlab.make_user("vera", role="viewer"))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "x@example.net", "alice@easlab.test", "names"
    msg.set_content("see attachments")
    msg.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html", filename="PLACEHOLDER1")
    msg.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream", filename="PLACEHOLDER2")
    # RFC 2231 lets a sender put anything in a decoded file name: path, quotes, CR LF, a header.
    raw = msg.as_bytes().replace(b'filename="PLACEHOLDER1"', b"filename*=UTF-8''..%2F..%2Fetc%2F%22p%C3%A4ss%3Bwd%0D%0AX-Evil%3A%201.html")
    raw = raw.replace(b'filename="PLACEHOLDER2"', b'filename="...."')
    await easlab.deliver(raw, to="alice")
    mail = await easlab.wait_for_mail("alice")
    evil = await api.get(f"/api/items/alice/{mail.server_id}/attachments/0")
    assert evil.content == b"<script>alert(1)</script>"
    disposition = evil.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition.split("''")[0]
    assert 'filename="_p_ss_wd X-Evil_ 1.html"' in disposition
    assert "filename*=UTF-8''_p%C3%A4ss_wd%20X-Evil_%201.html" in disposition
    assert "x-evil" not in {k.lower() for k in evil.headers}
    # An HTML attachment is a download that could not run even if opened in place.
    assert evil.headers["content-type"].startswith("text/html")
    assert "sandbox" in evil.headers["content-security-policy"] and "script-src" not in evil.headers["content-security-policy"]
    dots = await api.get(f"/api/items/alice/{mail.server_id}/attachments/1")
    assert dots.headers["content-disposition"] == 'attachment; filename="attachment-2"'


def test_safe_filename_and_content_type():
    assert safe_filename("C:\\Users\\x\\..\\evil.exe") == "evil.exe"
    assert safe_filename("a\x00b\u202ec\tname.txt") == "abc name.txt"  # controls and bidi overrides go
    assert safe_filename("") == "download" and safe_filename("..", "f") == "f"
    assert safe_filename('we"ird<>|?*:;name') == "we_ird_______name"
    long = safe_filename("x" * 300 + ".pdf")
    assert len(long) == 120 and long.endswith(".pdf")
    assert content_disposition("résumé.pdf") == "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    assert safe_content_type("Text/HTML") == "text/html"
    for bad in ("text/html\r\nX-Evil: 1", "text", "text/html; charset=utf-8", "", None, "a/b/c"):
        assert safe_content_type(bad) == "application/octet-stream", bad


async def test_sync_state_follows_the_device(easlab):
    alice = easlab.make_user("alice")
    api = easlab.http(easlab.make_user("vera", role="viewer"))
    for n in range(3):
        await easlab.deliver(to=alice, subject=f"before {n}")
    phone = await easlab.make_device(alice)
    url = f"/api/devices/alice/{phone.state.device_id}/syncstate"
    state = (await api.get(url)).json()
    assert state["collections"] == [] and state["hierarchy"]["sync_key"] == "1"
    assert state["hierarchy"]["seq"] == state["hierarchy"]["user_seq"] and state["hierarchy"]["behind"] == 0

    await phone.sync("Inbox", window_size=2)  # SyncKey 0: the first download starts, nothing sent yet
    (inbox,) = (await api.get(url)).json()["collections"]
    assert (inbox["collection_id"], inbox["folder"], inbox["sync_key"], inbox["prev_key"]) == ("1", "Inbox", "1", "0")
    assert inbox["initial"] is True and inbox["snapshot_seq"] == 3 and inbox["pending"] == 3
    assert (inbox["seq"], inbox["change_seq"]) == (0, 3)
    assert inbox["options"]["filter_type"] == 0

    await phone.sync("Inbox", window_size=2)  # two of the three
    inbox = (await api.get(url)).json()["collections"][0]
    assert inbox["initial"] is True and inbox["pending"] == 1 and inbox["sync_key"] == "2" and inbox["prev_key"] == "1"

    await phone.sync_all("Inbox")
    inbox = (await api.get(url)).json()["collections"][0]
    assert inbox["initial"] is False and (inbox["seq"], inbox["change_seq"], inbox["behind"], inbox["pending"]) == (3, 3, 0, 0)
    synced_key = inbox["sync_key"]

    await easlab.deliver(to=alice, subject="after 1")
    await easlab.deliver(to=alice, subject="after 2")
    inbox = (await api.get(url)).json()["collections"][0]
    assert (inbox["seq"], inbox["change_seq"], inbox["behind"], inbox["pending"]) == (3, 5, 2, 2)
    assert inbox["sync_key"] == synced_key  # nothing moves until the device asks

    await phone.sync_all("Inbox")
    inbox = (await api.get(url)).json()["collections"][0]
    assert (inbox["seq"], inbox["change_seq"], inbox["behind"], inbox["pending"]) == (5, 5, 0, 0)
    assert inbox["sync_key"] != synced_key

    assert (await api.get("/api/devices/alice/NOPE/syncstate")).status_code == 404
    assert (await api.get(f"/api/devices/bob/{phone.state.device_id}/syncstate")).status_code == 404


# -- roles and read-only ------------------------------------------------------------------------
READS = ["/api/users", "/api/users/alice/folders", "/api/users/alice/folders/1/items", "/api/items/alice/{sid}",
         "/api/items/alice/{sid}/mime", "/api/items/alice/{sid}/attachments/0", "/api/devices/alice/{dev}/syncstate"]


@pytest.mark.parametrize("role", ["", "viewer", "device-approver", "device-operator", "org-admin"])
async def test_every_role_may_read_a_user_without_one_may_not(easlab, role):
    alice = easlab.make_user("alice")
    caller = easlab.make_user("caller", role=role or None)
    await easlab.deliver(rich_message())
    mail = await easlab.wait_for_mail(alice)
    phone = await easlab.make_device(alice)
    api = easlab.http(caller)
    for path in READS:
        r = await api.get(path.format(sid=mail.server_id, dev=phone.state.device_id))
        if role:
            assert r.status_code == 200, (path, r.text)
        else:
            assert r.status_code == 403 and "may not view" in r.json()["error"], path
    anonymous = easlab.http()
    assert (await anonymous.get("/api/users")).status_code == 401


async def test_no_way_to_change_mail(easlab):
    alice = easlab.make_user("alice")
    api = easlab.http(easlab.make_user("root", role="org-admin"))
    await easlab.deliver(to=alice, subject="keep me")
    mail = await easlab.wait_for_mail(alice)
    before = stored(easlab, "alice", mail.server_id).mime
    for path in READS[:6]:
        path = path.format(sid=mail.server_id)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = await api.request(method, path, json={"read": True, "subject": "changed"})
            assert r.status_code == 405, (method, path, r.status_code)
    after = stored(easlab, "alice", mail.server_id)
    assert (after.mime, after.subject, after.read) == (before, "keep me", False)


async def test_openapi_lists_the_mailbox_operations(easlab):
    doc = (await easlab.http().get("/api/openapi.json")).json()
    for path in ("/users", "/users/{user}/folders", "/users/{user}/folders/{server_id}/items", "/items/{user}/{server_id}",
                 "/items/{user}/{server_id}/mime", "/items/{user}/{server_id}/attachments/{index}",
                 "/devices/{user}/{device_id}/syncstate"):
        assert list(doc["paths"][path]) == ["get"], path
        operation = doc["paths"][path]["get"]
        assert "viewer" in operation["description"] and "401" in operation["responses"]
    items = doc["paths"]["/users/{user}/folders/{server_id}/items"]["get"]
    assert {p["name"] for p in items["parameters"] if p["in"] == "query"} == {"limit", "before"}
    assert "message/rfc822" in doc["paths"]["/items/{user}/{server_id}/mime"]["get"]["responses"]["200"]["content"]


# -- the web UI ---------------------------------------------------------------------------------
async def test_pages_from_the_user_list_to_a_message(easlab):
    alice = easlab.make_user("alice", display_name="Alice Example")
    await easlab.deliver(rich_message())
    for n in range(3):
        await easlab.deliver(to=alice, subject=f"filler {n}")
    mail = (await easlab.wait_for_mail(alice, match="Quarterly"))
    phone = await easlab.make_device(alice)
    web = await viewer_client(easlab)

    users = await web.get("/ecp/mailboxes")
    assert users.status_code == 200
    assert 'href="/ecp/mailboxes"' in users.text and "Alice Example" in users.text and "alice@easlab.test" in users.text
    assert 'href="/ecp/mailboxes/alice"' in users.text

    folders = await web.get("/ecp/mailboxes/alice")
    assert folders.status_code == 200 and 'href="/ecp/mailboxes/alice/1">Inbox</a>' in folders.text
    assert f'href="/ecp/devices/alice/{phone.state.device_id}"' in folders.text

    page = await web.get("/ecp/mailboxes/alice/1?limit=2")
    assert page.status_code == 200
    assert re.findall(r'<td class="subject"><a [^>]*>([^<]*)</a>', page.text) == ["filler 2", "filler 1"]
    older = re.search(r'href="(/ecp/mailboxes/alice/1\?before=[^"&]+&amp;limit=2)" rel="next"', page.text).group(1)
    rest = await web.get(html.unescape(older))
    assert re.findall(r'<td class="subject"><a [^>]*>([^<]*)</a>', rest.text) == ["filler 0", "Quarterly report"]
    assert 'href="/ecp/mailboxes/alice/1?limit=2">« Newest</a>' in rest.text

    view = await web.get(f"/ecp/items/alice/{quote(mail.server_id, safe='')}")
    assert view.status_code == 200
    text = view.text
    assert "<h1>Quarterly report</h1>" in text
    assert '<td class="name">X-Lab</td><td>grüße</td>' in text  # the header table, decoded
    assert "The numbers are attached." in text  # the plain body
    url = f"/api/items/alice/{quote(mail.server_id, safe='')}"
    assert f'href="{url}/attachments/0">report.pdf</a>' in text and f'href="{url}/attachments/1">data.csv</a>' in text
    assert f'href="{url}/mime"' in text
    # The links work with the session cookie: the same bytes as through Basic auth.
    assert (await web.get(f"{url}/attachments/0")).content == PDF

    for missing in ("/ecp/mailboxes/nobody", "/ecp/mailboxes/alice/77", "/ecp/items/alice/1:999"):
        r = await web.get(missing)
        assert r.status_code == 404 and "Not found" in r.text, missing


async def test_html_mail_is_never_served_inline(easlab):
    alice = easlab.make_user("alice")
    await easlab.deliver(rich_message(subject="<script>alert('subject')</script>"))
    mail = await easlab.wait_for_mail(alice)
    web = await viewer_client(easlab)
    view = await web.get(f"/ecp/items/alice/{quote(mail.server_id, safe='')}")
    assert view.status_code == 200
    csp = view.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert view.headers["x-frame-options"] == "DENY" and view.headers["x-content-type-options"] == "nosniff"
    body = view.text
    # Not a single element of the mail reaches the page's DOM: the page as a browser parses it has
    # no script, no event handler attribute, no javascript: link, and one iframe, sandboxed.
    dom = Elements()
    dom.feed(body)
    assert [t for t, _ in dom.seen if t == "script"] == []
    assert [(t, a) for t, attrs in dom.seen for a, _ in attrs if a.startswith("on")] == []
    assert [v for _, attrs in dom.seen for a, v in attrs if a in ("href", "src") and "javascript" in (v or "").lower()] == []
    frames = [dict(attrs) for t, attrs in dom.seen if t == "iframe"]
    assert len(frames) == 1 and frames[0]["sandbox"] == ""
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in body  # the subject, escaped
    srcdoc = re.search(r'<iframe [^>]*srcdoc="([^"]*)"', body).group(1)
    assert "<" not in srcdoc  # escaped as an attribute value
    document = html.unescape(srcdoc)
    assert document == frames[0]["srcdoc"]
    assert document.startswith('<meta http-equiv="Content-Security-Policy" content="default-src \'none\';')
    assert "img-src data:;" in document and HOSTILE_HTML in document
    # The source is there to read, escaped.
    assert "&lt;p id=&#39;greeting&#39;&gt;Hello from the mail&lt;/p&gt;" in body


async def test_a_user_without_a_role_sees_no_mailbox(easlab):
    easlab.make_user("alice")
    web = await viewer_client(easlab, "vera")
    assert (await web.get("/ecp/mailboxes/alice")).status_code == 200
    easlab.admin.user_set(SHELL, "vera", role="none")
    for path in ("/ecp/mailboxes", "/ecp/mailboxes/alice", "/ecp/mailboxes/alice/1", "/ecp/items/alice/1:1"):
        r = await web.get(path)
        assert r.status_code == 403 and "No admin role" in r.text, path
    outsider = easlab.http()
    assert (await outsider.get("/ecp/mailboxes")).status_code == 303  # to the login page


async def test_device_page_sync_state_and_trace_switch(easlab):
    alice = easlab.make_user("alice")
    await easlab.deliver(to=alice, subject="one")
    phone = await easlab.make_device(alice)
    await phone.sync_all("Inbox")
    device_id = phone.state.device_id
    page_url = f"/ecp/devices/alice/{device_id}"

    viewer = await viewer_client(easlab)
    page = (await viewer.get(page_url)).text
    assert "<h2>Sync state</h2>" in page
    row = re.search(r'<a href="/ecp/mailboxes/alice/1">Inbox</a>.*?</tr>', page, re.S).group(0)
    assert '<td class="mono">1 / 1</td>' in row and "<td>0</td>" in row and "done" in row
    assert "Tracing is <b>off</b>" in page
    assert f'href="/ecp/devices/alice/{device_id}/trace"' in page
    assert f'href="/api/devices/alice/{device_id}/trace/export"' in page
    assert "/trace/on" not in page  # a viewer may look, not switch
    r = await viewer.post(f"{page_url}/trace/on", data={"csrf": csrf_from(page)})
    assert r.status_code == 403 and "may not configure" in r.text

    easlab.make_user("root", password="pw", role="org-admin")
    admin = easlab.http()
    await login(admin, "root", "pw")
    page = (await admin.get(page_url)).text
    assert f'action="{page_url}/trace/on"' in page
    assert (await admin.post(f"{page_url}/trace/on", data={})).status_code == 403  # no CSRF token
    assert (await admin.post(f"{page_url}/trace/on", data={"csrf": "forged"})).status_code == 403
    with easlab.db.session() as s:
        assert trace_setting(s, "alice", device_id) is None
    r = await admin.post(f"{page_url}/trace/on", data={"csrf": csrf_from(page)})
    assert r.status_code == 303 and r.headers["location"] == page_url
    with easlab.db.session() as s:
        assert trace_setting(s, "alice", device_id).enabled is True

    await easlab.deliver(to=alice, subject="two")
    await phone.sync_all("Inbox")
    page = (await admin.get(page_url)).text
    assert "Tracing is <b>on</b>" in page and f'action="{page_url}/trace/off"' in page
    assert re.search(r"Tracing is <b>on</b>: [1-9]\d* exchange\(s\) recorded", page)
    trace = await admin.get(f"/api/devices/alice/{device_id}/trace?format=html")  # the link, with the cookie
    assert trace.status_code == 200 and "Sync" in trace.text and trace.headers["content-type"].startswith("text/html")
    export = await admin.get(f"/api/devices/alice/{device_id}/trace/export")
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"

    r = await admin.post(f"{page_url}/trace/off", data={"csrf": csrf_from(page)})
    assert r.status_code == 303
    with easlab.db.session() as s:
        assert trace_setting(s, "alice", device_id).enabled is False
    assert (await admin.post(f"{page_url}/trace/sideways", data={"csrf": csrf_from(page)})).status_code == 404
    assert (await admin.post("/ecp/devices/alice/NOPE/trace/on", data={"csrf": csrf_from(page)})).status_code == 404


# -- in a real browser ------------------------------------------------------------------------
@pytest.mark.easlab(mode="process")
async def test_the_mail_script_does_not_run_in_a_browser(easlab, tmp_path):
    """Chromium shows the mail's HTML in the sandboxed frame, and none of its script runs."""
    from tests.server.test_seed_story import CHROMIUM, CHROMIUM_ARGS, need_browser

    async_playwright = need_browser()
    alice = easlab.make_user("alice")
    easlab.make_user("vera", password="pw", role="viewer")
    await easlab.deliver(rich_message())
    mail = await easlab.wait_for_mail(alice)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            await page.goto(f"{easlab.url}/ecp/login?next=" + quote(f"/ecp/items/alice/{mail.server_id}", safe=""))
            await page.fill("#user", "vera")
            await page.fill("#password", "pw")
            await page.click("button[type=submit]")
            await page.wait_for_selector("iframe.mail")
            title = await page.title()
            frame = await (await page.query_selector("iframe.mail")).content_frame()
            await frame.wait_for_selector("#greeting")
            assert await frame.inner_text("#greeting") == "Hello from the mail"
            assert await frame.evaluate("document.body.getAttribute('data-ran')") is None
            assert await page.title() == title and "pwned" not in title
            assert await page.evaluate("document.body.getAttribute('data-ran')") is None
            assert dialogs == []
        finally:
            await browser.close()



async def test_a_calendar_item_and_a_meeting_mail_show_their_properties(easlab):
    from datetime import datetime, timezone

    from easlab.eas.pim.ical import Attendee, Event
    from easlab.eas.pim.ical_write import build_request
    from easlab.server.store.meeting import itip_mime

    easlab.make_user("alice")
    api = easlab.http(easlab.make_user("vera", role="viewer"))
    event = Event(uid="lunch-1", subject="Lunch", start=datetime(2026, 12, 1, 11, tzinfo=timezone.utc),
                  end=datetime(2026, 12, 1, 12, tzinfo=timezone.utc), organizer_email="carol@example.net",
                  attendees=[Attendee("alice@easlab.test")])
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    await easlab.deliver(itip_mime("carol@example.net", ["alice@easlab.test"], "Lunch", "", build_request(event, now=when), "REQUEST", when))
    listed = (await api.get("/api/users/alice/folders/7/items")).json()["items"]
    assert [i["subject"] for i in listed] == ["Lunch"]
    item = (await api.get(f"/api/items/alice/{listed[0]['server_id']}")).json()
    assert item["message_class"] == "IPM.Appointment" and item["uid"] == "lunch-1"
    assert ["Calendar:UID", "lunch-1"] in item["properties"]
    mail = (await api.get("/api/users/alice/folders/1/items")).json()["items"][0]
    detail = (await api.get(f"/api/items/alice/{mail['server_id']}")).json()
    assert detail["message_class"] == "IPM.Schedule.Meeting.Request"
    assert ["Email:Organizer", "carol@example.net"] in detail["properties"]
