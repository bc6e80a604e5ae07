"""MS-ASRM, Information Rights Management over EAS, against easlab's emulation (eas/rights.py):
templates an administrator adds, a message protected at SendMail, its license as each reader
gets it, and the SmartReply/SmartForward rules of MS-ASRM 3.2.5.1.  Each test names the
requirements it proves.  alice protects, bob reads and answers, carol is a third mailbox."""
from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from easlab.eas.folders import FolderType
from easlab.eas.mime import parse_message
from easlab.eas.rights import DO_NOT_FORWARD, NO_EXPIRY, NO_RESTRICTION, NOTICE, RPMSG_NAME
from easlab.eas.rpmsg import unprotect
from easlab.eas.wbxml import E
from easlab.server.admin.roles import SHELL
from easlab.server.admin.service import Admin
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Item
from easlab.storage.users import add_user, get_user
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
C, RM, A = "ComposeMail", "RightsManagement", "AirSync"
FULL, EDIT, VIEW = "11111111-0000-0000-0000-000000000001", "11111111-0000-0000-0000-000000000002", "11111111-0000-0000-0000-000000000003"
REPLY_ONLY, REPLY_ALL_ONLY, NO_REPLY = ("22222222-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002",
                                        "22222222-0000-0000-0000-000000000003")
UNKNOWN = "99999999-9999-9999-9999-999999999999"


@pytest.fixture
async def lab(app, db):
    """(https client, admin): carol added, and templates of every shape the rules tell apart."""
    with db.session() as s:
        add_user(s, "carol", "pw3", "Carol Example")
    admin = Admin(db, lambda event: None, "easlab.test")
    admin.rights_add(SHELL, FULL, "Full", allow=["edit", "export", "forward", "reply", "reply_all", "print", "extract"])
    admin.rights_add(SHELL, EDIT, "Edit", allow=["edit", "forward", "reply", "reply_all"])
    admin.rights_add(SHELL, VIEW, "View", allow=["forward", "reply", "reply_all"])
    admin.rights_add(SHELL, REPLY_ONLY, "Reply only", allow=["edit", "reply"])
    admin.rights_add(SHELL, REPLY_ALL_ONLY, "Reply all only", allow=["edit", "reply_all"])
    admin.rights_add(SHELL, NO_REPLY, "No reply", allow=["edit"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as secure:
        yield secure, admin


def people(client):
    return Raw(client), Raw(client, user="bob", password="hunter2"), Raw(client, user="carol", password="pw3")


def mime(to, subject="Plans", text="The secret plan.", cc=None):
    head = f"To: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "")
    return f"{head}Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n".encode()


def send_mail(data, template=None, client_id="c1"):
    return E(f"{C}:SendMail", E(f"{C}:ClientId", client_id), E(f"{C}:SaveInSentItems"), E(f"{C}:Mime", data),
             E(f"{RM}:TemplateID", template) if template else None)


def smart(command, data, item_id, template=None, replace=False, client_id="s1"):
    return E(f"{C}:{command}", E(f"{C}:ClientId", client_id), E(f"{C}:Source", E(f"{C}:FolderId", "1"), E(f"{C}:ItemId", item_id)),
             E(f"{C}:SaveInSentItems"), E(f"{C}:ReplaceMime") if replace else None, E(f"{C}:Mime", data),
             E(f"{RM}:TemplateID", template) if template else None)


async def protected_to_bob(alice, template, cc=None):
    assert await alice.call("SendMail", send_mail(mime("bob@easlab.test", cc=cc), template)) is None


async def items(dev, folder="1", rms=None):
    """{ServerId: ApplicationData} of a first Sync of `folder`, with RightsManagementSupport `rms`."""
    key = collection(await dev.sync("0", folder)).text(f"{A}:SyncKey")
    options = E(f"{A}:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1)),
                E(f"{RM}:RightsManagementSupport", rms) if rms is not None else None)
    resp = await dev.sync(key, folder, options)
    adds = collection(resp).find(f"{A}:Commands").findall(f"{A}:Add")
    return {add.text(f"{A}:ServerId"): add.find(f"{A}:ApplicationData") for add in adds}


async def bob_item(bob):
    [server_id] = (await items(bob)).keys()
    return server_id


def mailbox(db, user, ftype=FolderType.Inbox):
    with db.session() as s:
        folder = folder_by_type(s, get_user(s, user), ftype)
        return [i.mime for i in s.exec(select(Item).where(Item.folder_id == folder.id).order_by(Item.id))]


def license_of(data):
    found = data.find(f"{RM}:RightsManagementLicense")
    return {c.name: c.value for c in found.children} if found is not None else None


async def status(dev, command, tree):
    answer = await dev.call(command, tree)
    return None if answer is None else int(answer.text(f"{C}:Status"))


# -- reading ---------------------------------------------------------------------------------------
@pytest.mark.req("MS-ASRM_R127", "MS-ASRM_R347", "MS-ASRM_R23", "MS-ASRM_R72", "MS-ASRM_R330", "MS-ASRM_R31",
                 "MS-ASRM_R1098", "MS-ASRM_R328", "MS-ASRM_R329")
async def test_a_protected_message_decrypted_with_the_readers_license(lab):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, DO_NOT_FORWARD)
    [data] = (await items(bob, rms=1)).values()
    assert data.find("AirSyncBase:Body").text("AirSyncBase:Data").strip() == "The secret plan."
    assert not data.has("AirSyncBase:Attachments")  # the rpmsg is opened, not listed
    assert license_of(data) == {
        "Owner": "0", "ContentOwner": "alice@easlab.test", "ReplyAllAllowed": "1", "EditAllowed": "1", "ReplyAllowed": "1",
        "ForwardAllowed": "0", "ExportAllowed": "0", "ModifyRecipientsAllowed": "0", "TemplateID": DO_NOT_FORWARD,
        "ExtractAllowed": "0", "TemplateDescription": "Recipients can read this message, but cannot forward, print, or copy "
        "content. The conversation owner has full permission to their message and all replies.",
        "ContentExpiryDate": NO_EXPIRY, "TemplateName": "Do Not Forward", "PrintAllowed": "0", "ProgrammaticAccessAllowed": "0"}
    # The owner, in Sent Items, holds every right.
    [sent] = (await items(alice, "4", rms=1)).values()
    owner = license_of(sent)
    assert owner["Owner"] == "1" and owner["ContentOwner"] == "alice@easlab.test"
    assert owner["ForwardAllowed"] == owner["ModifyRecipientsAllowed"] == owner["ExportAllowed"] == "1"


@pytest.mark.req("MS-ASRM_R335", "MS-ASRM_R348", "MS-ASRM_R128")
@pytest.mark.parametrize("rms", [0, None])
async def test_without_rights_management_support_the_message_stays_protected(lab, rms):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, DO_NOT_FORWARD)
    [data] = (await items(bob, rms=rms)).values()
    assert data.find("AirSyncBase:Body").text("AirSyncBase:Data").strip() == NOTICE
    [att] = data.find("AirSyncBase:Attachments").findall("AirSyncBase:Attachment")
    assert att.text("AirSyncBase:DisplayName") == RPMSG_NAME
    assert license_of(data) is None


@pytest.mark.req("MS-ASRM_R91", "MS-ASRM_R94")
@pytest.mark.parametrize("template,removed", [(FULL, True), (DO_NOT_FORWARD, False)])
async def test_itemoperations_removes_protection_only_with_export(lab, template, removed):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, template)
    server_id = await bob_item(bob)
    fetch = E("ItemOperations:ItemOperations", E("ItemOperations:Fetch", E("ItemOperations:Store", "Mailbox"),
              E(f"{A}:CollectionId", "1"), E(f"{A}:ServerId", server_id),
              E("ItemOperations:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1)), E(f"{RM}:RightsManagementSupport", 1)),
              E(f"{RM}:RemoveRightsManagementProtection")))
    props = (await bob.call("ItemOperations", fetch)).find("ItemOperations:Response").find("ItemOperations:Fetch") \
        .find("ItemOperations:Properties")
    assert props.find("AirSyncBase:Body").text("AirSyncBase:Data").strip() == "The secret plan."
    assert (license_of(props) is None) is removed


# -- sending ---------------------------------------------------------------------------------------
@pytest.mark.req("MS-ASRM_R217", "MS-ASRM_R366")
@pytest.mark.parametrize("command", ["SmartForward", "SmartReply"])
async def test_unprotected_original_without_template_is_sent_as_it_is(lab, db, command):
    alice, bob, _ = people(lab[0])
    assert await alice.call("SendMail", send_mail(mime("bob@easlab.test"))) is None
    to = "carol@easlab.test" if command == "SmartForward" else "alice@easlab.test"
    assert await status(bob, command, smart(command, mime(to, text="See below."), await bob_item(bob))) is None
    [delivered] = mailbox(db, to.split("@")[0])[-1:]
    assert unprotect(delivered) is None and b"The secret plan." in delivered


@pytest.mark.req("MS-ASRM_R224", "MS-ASRM_R373")
@pytest.mark.parametrize("command", ["SmartForward", "SmartReply"])
async def test_unprotected_original_with_template_protects_the_new_message(lab, db, command):
    alice, bob, _ = people(lab[0])
    assert await alice.call("SendMail", send_mail(mime("bob@easlab.test"))) is None
    to = "carol@easlab.test" if command == "SmartForward" else "alice@easlab.test"
    assert await status(bob, command, smart(command, mime(to, text="See below."), await bob_item(bob), DO_NOT_FORWARD)) is None
    protection = unprotect(mailbox(db, to.split("@")[0])[-1])
    assert protection.template.template_id == DO_NOT_FORWARD and protection.owner == "bob@easlab.test"
    assert b"See below." in protection.inner and b"The secret plan." in protection.inner


@pytest.mark.req("MS-ASRM_R222", "MS-ASRM_R371")
@pytest.mark.parametrize("command", ["SmartForward", "SmartReply"])
async def test_irm_over_plain_http_is_168(lab, client, command):
    alice, _, _ = people(lab[0])
    await protected_to_bob(alice, FULL)
    bob = Raw(client, user="bob", password="hunter2")  # http://
    item = await bob_item(bob)
    assert await status(bob, command, smart(command, mime("alice@easlab.test"), item, FULL)) == 168


@pytest.mark.req("MS-ASRM_R356", "MS-ASRM_R358", "MS-ASRM_R361", "MS-ASRM_R362", "MS-ASRM_R200", "MS-ASRM_R374",
                 "MS-ASRM_R377", "MS-ASRM_R378")
@pytest.mark.parametrize("command", ["SmartForward", "SmartReply"])
async def test_unknown_template_is_171(lab, db, command):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, FULL)
    item = await bob_item(bob)
    assert await status(bob, command, smart(command, mime("alice@easlab.test"), item, UNKNOWN)) == 171
    # A different template that exists passes the check.
    assert await status(bob, command, smart(command, mime("alice@easlab.test"), item, DO_NOT_FORWARD, client_id="s2")) is None
    assert unprotect(mailbox(db, "alice")[-1]).template.template_id == DO_NOT_FORWARD


@pytest.mark.req("MS-ASRM_R386", "MS-ASRM_R201", "MS-ASRM_R360", "MS-ASRM_R364")
async def test_forward_refused_without_forward_allowed(lab, db):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, DO_NOT_FORWARD)
    item = await bob_item(bob)
    before = len(mailbox(db, "carol"))
    assert await status(bob, "SmartForward", smart("SmartForward", mime("carol@easlab.test"), item, DO_NOT_FORWARD)) == 172
    assert await status(bob, "SmartForward", smart("SmartForward", mime("carol@easlab.test"), item, FULL, client_id="s2")) == 172
    assert len(mailbox(db, "carol")) == before


@pytest.mark.req("MS-ASRM_R62", "MS-ASRM_R384", "MS-ASRM_R359", "MS-ASRM_R363", "MS-ASRM_R67", "MS-ASRM_R383")
async def test_forward_allowed_goes_to_anyone(lab, db):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, FULL)
    item = await bob_item(bob)
    assert await status(bob, "SmartForward", smart("SmartForward", mime("carol@easlab.test"), item, FULL)) is None
    assert unprotect(mailbox(db, "carol")[-1]).template.template_id == FULL.lower()
    assert await status(bob, "SmartForward", smart("SmartForward", mime("carol@easlab.test"), item, DO_NOT_FORWARD, client_id="s2")) is None
    # With ModifyRecipientsAllowed a reply may go to anyone.
    assert await status(bob, "SmartReply", smart("SmartReply", mime("carol@easlab.test"), item, FULL, client_id="s3")) is None


REPLY_CASES = [  # template, recipients, allowed
    (DO_NOT_FORWARD, "alice@easlab.test", True), (DO_NOT_FORWARD, "alice@easlab.test, carol@easlab.test", True),
    (DO_NOT_FORWARD, "carol@easlab.test", False),
    (REPLY_ONLY, "alice@easlab.test", True), (REPLY_ONLY, "alice@easlab.test, carol@easlab.test", False),
    (REPLY_ALL_ONLY, "alice@easlab.test, carol@easlab.test", True), (REPLY_ALL_ONLY, "alice@easlab.test", False),
    (NO_REPLY, "alice@easlab.test", False), (NO_REPLY, "alice@easlab.test, carol@easlab.test", False),
]


@pytest.mark.req("MS-ASRM_R104", "MS-ASRM_R99", "MS-ASRM_R387", "MS-ASRM_R400", "MS-ASRM_R652", "MS-ASRM_R389",
                 "MS-ASRM_R653", "MS-ASRM_R333", "MS-ASRM_R390", "MS-ASRM_R654", "MS-ASRM_R334", "MS-ASRM_R392",
                 "MS-ASRM_R375", "MS-ASRM_R376", "MS-ASRM_R379", "MS-ASRM_R380")
@pytest.mark.parametrize("template,to,allowed", REPLY_CASES)
async def test_reply_recipients_follow_the_rights(lab, db, template, to, allowed):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, template, cc="carol@easlab.test")
    item = await bob_item(bob)
    before = len(mailbox(db, "alice"))
    got = await status(bob, "SmartReply", smart("SmartReply", mime(to, subject="RE: Plans"), item, template))
    assert got == (None if allowed else 172)
    assert len(mailbox(db, "alice")) == before + (1 if allowed else 0)
    if allowed:
        assert unprotect(mailbox(db, "alice")[-1]).template.template_id == template.lower()


@pytest.mark.req("MS-ASRM_R48", "MS-ASRM_R343", "MS-ASRM_R344", "MS-ASRM_R51", "MS-ASRM_R52", "MS-ASRM_R309",
                 "MS-ASRM_R349", "MS-ASRM_R169")
@pytest.mark.parametrize("command,to", [("SmartForward", "carol@easlab.test"), ("SmartReply", "alice@easlab.test"),
                                        ("SmartReply", "alice@easlab.test, carol@easlab.test")])
async def test_no_restriction_template_removes_protection_with_export(lab, db, command, to):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, FULL, cc="carol@easlab.test")
    item = await bob_item(bob)
    assert await status(bob, command, smart(command, mime(to, text="Clear now."), item, NO_RESTRICTION)) is None
    sent = mailbox(db, to.split("@")[0])[-1]
    assert unprotect(sent) is None and b"Clear now." in sent and b"The secret plan." in sent
    # The original keeps its protection.
    [original] = mailbox(db, "bob")
    assert unprotect(original).template.template_id == FULL.lower()
    [data] = (await items(Raw(lab[0], user="bob", password="hunter2", device="dev2"), rms=1)).values()
    assert license_of(data)["TemplateID"] == FULL.lower()


@pytest.mark.req("MS-ASRM_R94", "MS-ASRM_R201")
async def test_no_restriction_without_export_is_172(lab):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, DO_NOT_FORWARD)
    assert await status(bob, "SmartReply", smart("SmartReply", mime("alice@easlab.test"), await bob_item(bob), NO_RESTRICTION)) == 172


@pytest.mark.req("MS-ASRM_R219", "MS-ASRM_R368")
@pytest.mark.parametrize("command,to", [("SmartForward", "carol@easlab.test"), ("SmartReply", "alice@easlab.test")])
async def test_protected_original_without_template_goes_as_rpmsg(lab, db, command, to):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, FULL)
    item = await bob_item(bob)
    assert await status(bob, command, smart(command, mime(to, text="Attached."), item)) is None
    sent = mailbox(db, to.split("@")[0])[-1]
    assert unprotect(sent) is None  # the new message itself is not protected
    parsed = parse_message(sent)
    assert "The secret plan." not in parsed.body_text and "Attached." in parsed.body_text
    assert [a.name for a in parsed.attachments] == [RPMSG_NAME]


# MS-ASRM 3.2.5.1's table: template on the original, ReplaceMime, same or another template, and what goes out.
CONTENT_CASES = [
    (FULL, True, FULL, "none", ("MS-ASRM_R253",)), (FULL, True, DO_NOT_FORWARD, "none", ("MS-ASRM_R254",)),
    (EDIT, True, EDIT, "none", ("MS-ASRM_R257",)), (EDIT, True, DO_NOT_FORWARD, "none", ("MS-ASRM_R258",)),
    (VIEW, True, VIEW, "none", ("MS-ASRM_R259", "MS-ASRM_R42", "MS-ASRM_R471")),
    (VIEW, True, DO_NOT_FORWARD, "none", ("MS-ASRM_R260",)),
    (FULL, False, FULL, "inline", ("MS-ASRM_R261",)), (FULL, False, DO_NOT_FORWARD, "inline", ("MS-ASRM_R262",)),
    (EDIT, False, EDIT, "inline", ("MS-ASRM_R265",)), (EDIT, False, DO_NOT_FORWARD, "attach", ("MS-ASRM_R266",)),
    (VIEW, False, VIEW, "attach", ("MS-ASRM_R267", "MS-ASRM_R41", "MS-ASRM_R470")),
    (VIEW, False, DO_NOT_FORWARD, "attach", ("MS-ASRM_R268",)),
]


@pytest.mark.req("MS-ASRM_R253", "MS-ASRM_R254", "MS-ASRM_R257", "MS-ASRM_R258", "MS-ASRM_R259", "MS-ASRM_R260",
                 "MS-ASRM_R261", "MS-ASRM_R262", "MS-ASRM_R265", "MS-ASRM_R266", "MS-ASRM_R267", "MS-ASRM_R268",
                 "MS-ASRM_R41", "MS-ASRM_R42", "MS-ASRM_R470", "MS-ASRM_R471")
@pytest.mark.parametrize("original,replace,template,outcome,reqs", CONTENT_CASES)
@pytest.mark.parametrize("command", ["SmartForward", "SmartReply"])
async def test_original_content_follows_edit_and_export(lab, db, original, replace, template, outcome, reqs, command):
    alice, bob, _ = people(lab[0])
    await protected_to_bob(alice, original)
    item = await bob_item(bob)
    to = "carol@easlab.test" if command == "SmartForward" else "alice@easlab.test"
    assert await status(bob, command, smart(command, mime(to, text="My answer."), item, template, replace)) is None
    protection = unprotect(mailbox(db, to.split("@")[0])[-1])
    assert protection.template.template_id == template.lower()
    inner = parse_message(protection.inner)
    assert "My answer." in inner.body_text
    assert ("The secret plan." in inner.body_text) is (outcome == "inline")
    assert [a.name for a in inner.attachments] == ([RPMSG_NAME] if outcome == "attach" else [])


@pytest.mark.req("MS-ASRM_R418")
async def test_rights_management_elements_before_14_1_are_invalid(lab):
    for version in ("12.1", "14.0"):
        dev = Raw(lab[0], version=version)
        answer = await dev.call("Settings", E("Settings:Settings", E("Settings:RightsManagementInformation", E("Settings:Get"))))
        assert answer == E("Settings:Settings", E("Settings:Status", 2))
        key = collection(await dev.sync("0")).text(f"{A}:SyncKey")
        answer = await dev.sync(key, "1", E(f"{A}:Options", E(f"{RM}:RightsManagementSupport", 1)))
        assert answer.text(f"{A}:Status") == "4" or collection(answer).text(f"{A}:Status") == "4"


async def test_templates_offered_and_irm_switched_off(lab, db):
    secure, admin = lab
    alice = Raw(secure)
    get = E("Settings:Settings", E("Settings:RightsManagementInformation", E("Settings:Get")))

    def offered(answer):
        listed = answer.find("Settings:RightsManagementInformation").find("Settings:Get").find(f"{RM}:RightsManagementTemplates")
        return [(t.text(f"{RM}:TemplateID"), t.text(f"{RM}:TemplateName")) for t in listed.children]

    assert offered(await alice.call("Settings", get))[:2] == [(DO_NOT_FORWARD, "Do Not Forward"), (FULL, "Full")]
    with pytest.raises(Exception, match="ExportAllowed needs EditAllowed"):
        admin.rights_add(SHELL, UNKNOWN, "Bad", allow=["export"])
    admin.rights_remove(SHELL, FULL)
    assert (FULL, "Full") not in offered(await alice.call("Settings", get))
    admin.rights_enable(SHELL, False)
    assert offered(await alice.call("Settings", get)) == []
    assert int((await alice.call("SendMail", send_mail(mime("bob@easlab.test"), DO_NOT_FORWARD))).text(f"{C}:Status")) == 168
    assert mailbox(db, "bob") == []
