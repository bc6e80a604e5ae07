"""The Email class on the wire (MS-ASEMAIL, MS-ASAIRS): an EmailItem as Sync ApplicationData.

Body choice follows MS-ASAIRS 3.2.5.1: the client lists BodyPreferences; the server answers with
one Body of a type it asked for, the item's native type when the client accepts it, converted
otherwise; MIME only when MIMESupport asks for it.  Truncation counts bytes of the UTF-8 data.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from . import versions
from .body import BodyPreference, render_body, render_body_part, truncate
from .conversations import message_part, wire_index
from .folders import BodyType
from .mime import html_to_text, parse_message, text_to_html
from .pim.tree import render_meeting
from .rights import RPMSG_TYPE, license_element
from .rpmsg import unprotect
from .wbxml import E, Element

if TYPE_CHECKING:  # eas.records needs BodyOptions from here at import time
    from .records import EmailItem

# MS-ASCMD 2.2.3.175 / 2.2.3.103: 2.5 Truncation and MIMETruncation codes in characters.
TRUNCATION = {0: 0, 1: 512, 2: 1024, 3: 2048, 4: 5120, 5: 10240, 6: 20480, 7: 51200, 8: 102400, 9: None}
MIME_TRUNCATION = {0: 0, 1: 4096, 2: 5120, 3: 7168, 4: 10240, 5: 20480, 6: 51200, 7: 102400, 8: None}


@dataclass
class BodyOptions:
    preferences: list[BodyPreference] = field(default_factory=list)
    mime_support: int = 0  # 0 never, 1 S/MIME only, 2 always
    mime_truncation: int | None = None  # code, 2.5-style
    truncation: int | None = None  # code, 2.5 body
    opaque_data: bool = False  # send Body/Data as OPAQUE even for text (iOS Mail expects it)
    part: BodyPreference | None = None  # BodyPartPreference (14.1+): the message part, as HTML
    # rm:RightsManagementSupport (14.1+): protected mail goes out decrypted with its license, for
    # `reader` (the requesting user's address), who may be its owner.
    rights_management: bool = False
    reader: str = ""
    # ItemOperations rm:RemoveRightsManagementProtection: the reader takes the protection off
    # (only where ExportAllowed, MS-ASRM 2.2.2.11).
    remove_protection: bool = False


def wire_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _native_type(item: EmailItem) -> BodyType:
    return BodyType.HTML if item.body_html else BodyType.PlainText


def _wants_mime(item: EmailItem, options: BodyOptions) -> bool:
    if options.mime_support == 2:
        return True
    return options.mime_support == 1 and item.message_class.startswith("IPM.Note.SMIME")


def _first_choice(item: EmailItem, options: BodyOptions) -> BodyPreference:
    prefs = {p.type: p for p in options.preferences}
    if BodyType.MIME in prefs and _wants_mime(item, options):
        return prefs[BodyType.MIME]
    native = _native_type(item)
    if native in prefs:
        return prefs[native]
    for t in (BodyType.PlainText, BodyType.HTML):
        if t in prefs:
            return prefs[t]
    return BodyPreference(type=native)


def _sent_size(item: EmailItem, pref: BodyPreference) -> int:
    """The bytes of Data a preference would send: none when AllOrNone forbids the cut."""
    size = len(_raw_body(item, pref.type))
    if pref.truncation_size is None or size <= pref.truncation_size:
        return size
    return 0 if pref.all_or_none else pref.truncation_size


def choose_body(item: EmailItem, options: BodyOptions) -> BodyPreference:
    first = _first_choice(item, options)
    if not first.all_or_none or _sent_size(item, first):
        return first
    # MS-ASAIRS 2.2.2.3.2: the body does not fit whole in that type, so the preference that sends
    # the most body text wins (the first choice on a tie).
    usable = [p for p in options.preferences if p.type in (BodyType.PlainText, BodyType.HTML)
              or (p.type == BodyType.MIME and _wants_mime(item, options))]
    return max([first, *(p for p in usable if p is not first)], key=lambda p: _sent_size(item, p))


def _raw_body(item: EmailItem, body_type: int) -> bytes:
    if body_type == BodyType.MIME:
        return item.mime
    if body_type == BodyType.HTML:
        return (item.body_html or text_to_html(item.body_text)).encode("utf-8")
    return (item.body_text or html_to_text(item.body_html)).encode("utf-8")


def body_element(item: EmailItem, pref: BodyPreference, version: str, opaque_data: bool = False) -> Element:
    raw = _raw_body(item, pref.type)
    smime = pref.type == BodyType.MIME and item.message_class.startswith("IPM.Note.SMIME")
    return render_body(raw, pref, version, lambda: item.body_text or html_to_text(item.body_html), opaque_data, smime)


def _legacy_body(item: EmailItem, options: BodyOptions) -> list[Element]:
    """2.5: email:Body with Truncation, or MIMEData when MIMESupport asks."""
    if _wants_mime(item, options):
        limit = MIME_TRUNCATION.get(options.mime_truncation if options.mime_truncation is not None else 8)
        data, truncated = truncate(item.mime, limit)
        return [E("Email:MIMETruncated", 1 if truncated else 0), E("Email:MIMESize", len(item.mime)), E("Email:MIMEData", data.decode("utf-8", "replace"))]
    text = (item.body_text or html_to_text(item.body_html)).encode("utf-8")
    limit = TRUNCATION.get(options.truncation if options.truncation is not None else 9)
    data, truncated = truncate(text, limit)
    out = [E("Email:Body", data.decode("utf-8"))] if data or not truncated else []
    if truncated:
        out += [E("Email:BodyTruncated", 1), E("Email:BodySize", len(text))]
    return out


def decrypted(item: EmailItem, options: BodyOptions) -> tuple[EmailItem, Element | None]:
    """The item as a client with RightsManagementSupport gets it (MS-ASRM 3.2.4.3): a protected
    message's own content and its license; any other item as it is."""
    if not options.rights_management or not item.mime or not any(a.content_type == RPMSG_TYPE for a in item.attachments):
        return item, None
    protection = unprotect(item.mime)
    if protection is None:
        return item, None
    inner = parse_message(protection.inner)
    # The protected message's attachments are inside the rpmsg, not fetchable by FileReference.
    clear = replace(item, mime=protection.inner, attachments=[], body_text=inner.body_text, body_html=inner.body_html)
    if options.remove_protection and protection.rights_for(options.reader).export:
        return clear, None
    return clear, license_element(protection, options.reader)


def application_data(item: EmailItem, options: BodyOptions, version: str) -> Element:
    item, rights_license = decrypted(item, options)
    modern = versions.has(version, "airsyncbase_body")
    children: list[Element | None] = [
        E("Email:To", item.to) if item.to else None,
        E("Email:Cc", item.cc) if item.cc else None,
        E("Email:From", item.sender) if item.sender else None,
        E("Email:Subject", item.subject),
        E("Email:ReplyTo", item.reply_to) if item.reply_to else None,
        E("Email:DateReceived", wire_datetime(item.date_received)),
        E("Email:DisplayTo", item.display_to) if item.display_to else None,
        E("Email:ThreadTopic", item.thread_topic),
        E("Email:Importance", item.importance),
        E("Email:Read", 1 if item.read else 0),
    ]
    if modern:
        if item.attachments:
            children.append(E("AirSyncBase:Attachments", *[
                E("AirSyncBase:Attachment",
                  E("AirSyncBase:DisplayName", a.name),
                  E("AirSyncBase:FileReference", a.file_reference),
                  E("AirSyncBase:Method", a.method),
                  E("AirSyncBase:EstimatedDataSize", a.size),
                  E("AirSyncBase:ContentId", a.content_id) if a.content_id else None,
                  E("AirSyncBase:IsInline", 1) if a.inline else None)
                for a in item.attachments
            ]))
        part = options.part if versions.has(version, "body_part") else None
        if part is None or options.preferences:  # MS-ASCON 3.2.4.4: only a BodyPart when only it was asked
            children.append(body_element(item, choose_body(item, options), version, options.opaque_data))
        if part is not None:
            # The message part: the new content, its HTML before the quoted history (MS-ASCON 1.3).
            html = message_part(item.body_html or text_to_html(item.body_text)).encode("utf-8")
            children.append(render_body_part(html, part, lambda: item.body_text or html_to_text(item.body_html)))
    else:
        if item.attachments:
            children.append(E("Email:Attachments", *[
                E("Email:Attachment", E("Email:AttMethod", a.method), E("Email:AttSize", a.size),
                  E("Email:DisplayName", a.name), E("Email:AttName", a.file_reference))
                for a in item.attachments
            ]))
        children.extend(_legacy_body(item, options))
    children.append(E("Email:MessageClass", item.message_class))
    if item.meeting and modern:
        children.append(render_meeting(item.meeting, version))
    children.append(E("Email:InternetCPID", item.internet_cpid))
    if modern:
        if item.flag_status:
            children.append(E("Email:Flag", E("Email:Status", item.flag_status),
                              E("Email:FlagType", item.flag_type) if item.flag_type else None))
        else:
            children.append(E("Email:Flag"))
        children.append(E("Email:ContentClass", "urn:content-classes:calendarmessage" if item.meeting else "urn:content-classes:message"))
        children.append(E("AirSyncBase:NativeBodyType", _native_type(item)))
    if versions.has(version, "conversations"):
        if item.conversation_id:
            children.append(E("Email2:ConversationId", item.conversation_id))
        if item.conversation_index:
            children.append(E("Email2:ConversationIndex", wire_index(item.conversation_index)))
    if versions.has(version, "drafts_over_sync"):
        if item.is_draft and item.bcc:
            children.append(E("Email2:Bcc", item.bcc))
        children.append(E("Email2:IsDraft", 1 if item.is_draft else 0))
    if rights_license is not None:
        children.append(rights_license)
    return E("AirSync:ApplicationData", *children)

