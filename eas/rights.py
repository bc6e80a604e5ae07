"""Information Rights Management over EAS (MS-ASRM), emulated without an RMS server.

A rights policy template grants rights to the recipients of a message protected with it; the owner
(the sender who protected it) keeps every right.  A protected message travels as Exchange's
does: its outer part is a notice for readers without IRM, with Content-Class rpmsg.message and a
message.rpmsg attachment (eas/rpmsg.py).  Real RMS encrypts the message and its publishing
license into that attachment; the emulation keeps them in the clear, so the server can "decrypt"
for a client that sent RightsManagementSupport and compute the license from the template and the
reader.

The SmartReply/SmartForward rules of MS-ASRM 3.2.5.1 are `plan_smart`; the statuses are the common
ones 168-172 (eas/status.py).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from email.utils import getaddresses
from typing import Any

from .status import Common
from .wbxml import E, Element

RM = "RightsManagement"
# MS-ASRM 2.2.2.19.3: the template that takes protection off an outgoing message.
NO_RESTRICTION = "00000000-0000-0000-0000-000000000000"
# Exchange's built-in template and its English strings.
DO_NOT_FORWARD = "cf5cf348-a8d7-40d5-91ef-a600b88a395d"
# MS-ASRM 2.2.2.1: ContentExpiryDate of a license without an expiration date.
NO_EXPIRY = "9999-12-30T23:59:59.999Z"
MAX_TEMPLATES = 20  # MS-ASRM 6: RightsManagementTemplate maxOccurs
RPMSG_TYPE = "application/x-microsoft-rpmsg-message"
RPMSG_NAME = "message.rpmsg"
CONTENT_CLASS = "rpmsg.message"
NOTICE = ("This message is protected with Information Rights Management. Your mail application "
          "does not support reading rights-managed messages.")


@dataclass(frozen=True)
class Template:
    """A rights policy template: what a recipient who is not the owner may do."""

    template_id: str
    name: str
    description: str
    edit: bool = False
    export: bool = False
    extract: bool = False
    forward: bool = False
    print: bool = False
    programmatic: bool = False
    reply: bool = False
    reply_all: bool = False
    expiry_days: int | None = None

    @property
    def modify_recipients(self) -> bool:
        # MS-ASRM 2.2.2.7: ModifyRecipientsAllowed MUST equal ForwardAllowed.
        return self.forward

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Template:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


RIGHTS = ("edit", "export", "extract", "forward", "print", "programmatic", "reply", "reply_all")

DEFAULT_TEMPLATES = (
    Template(DO_NOT_FORWARD, "Do Not Forward",
             "Recipients can read this message, but cannot forward, print, or copy content. The conversation "
             "owner has full permission to their message and all replies.",
             edit=True, reply=True, reply_all=True),
)


def check_template(template: Template) -> None:
    """Raise ValueError for a template the administrator cannot add."""
    if not template.template_id.strip() or not template.name.strip():
        raise ValueError("a template needs an id and a name")
    try:  # rm:TemplateID is a GUID (MS-ASRM 2.2.2.16); a device sends it back as it got it
        uuid.UUID(template.template_id)
    except ValueError:
        raise ValueError(f"template id {template.template_id!r} is not a GUID "
                         "(like cf5cf348-a8d7-40d5-91ef-a600b88a395d)") from None
    if template.template_id.lower() == NO_RESTRICTION:
        raise ValueError("the No Restriction id is reserved")
    if template.export and not template.edit:
        raise ValueError("ExportAllowed needs EditAllowed (MS-ASRM 2.2.2.3)")
    if template.expiry_days is not None and template.expiry_days < 1:
        raise ValueError("expiry_days must be at least 1")


# -- the license ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Protection:
    """What a protected message carries: its template as published, its owner, and its content."""

    template: Template
    owner: str  # the ContentOwner's SMTP address
    expires: datetime | None
    inner: bytes  # the protected message itself

    def rights_for(self, reader: str) -> Template:
        """The rights `reader` holds: every one for the owner, the template's for anyone else."""
        if is_owner(self.owner, reader):
            granted: dict[str, Any] = {r: True for r in RIGHTS}
            return replace(self.template, **granted)
        return self.template


def is_owner(owner: str, reader: str) -> bool:
    return bool(reader) and owner.strip().lower() == reader.strip().lower()


def _flag(value: bool) -> int:
    return 1 if value else 0


def expiry_text(when: datetime | None) -> str:
    if when is None:
        return NO_EXPIRY
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def license_element(protection: Protection, reader: str) -> Element:
    """rm:RightsManagementLicense, its children in the order Exchange sends them."""
    rights = protection.rights_for(reader)
    t = protection.template
    return E(f"{RM}:RightsManagementLicense",
             E(f"{RM}:Owner", _flag(is_owner(protection.owner, reader))),
             E(f"{RM}:ContentOwner", protection.owner),
             E(f"{RM}:ReplyAllAllowed", _flag(rights.reply_all)),
             E(f"{RM}:EditAllowed", _flag(rights.edit)),
             E(f"{RM}:ReplyAllowed", _flag(rights.reply)),
             E(f"{RM}:ForwardAllowed", _flag(rights.forward)),
             E(f"{RM}:ExportAllowed", _flag(rights.export)),
             E(f"{RM}:ModifyRecipientsAllowed", _flag(rights.modify_recipients)),
             E(f"{RM}:TemplateID", t.template_id),
             E(f"{RM}:ExtractAllowed", _flag(rights.extract)),
             E(f"{RM}:TemplateDescription", t.description),
             E(f"{RM}:ContentExpiryDate", expiry_text(protection.expires)),
             E(f"{RM}:TemplateName", t.name),
             E(f"{RM}:PrintAllowed", _flag(rights.print)),
             E(f"{RM}:ProgrammaticAccessAllowed", _flag(rights.programmatic)))


def templates_element(templates: list[Template]) -> Element:
    """Settings RightsManagementInformation Get: the templates a client may protect with."""
    return E(f"{RM}:RightsManagementTemplates", *[
        E(f"{RM}:RightsManagementTemplate", E(f"{RM}:TemplateID", t.template_id), E(f"{RM}:TemplateName", t.name),
          E(f"{RM}:TemplateDescription", t.description))
        for t in templates[:MAX_TEMPLATES]])


# -- SmartReply / SmartForward (MS-ASRM 3.2.5.1) -------------------------------------------------
INLINE, ATTACH, NOTHING = "inline", "attach", "none"


@dataclass(frozen=True)
class SmartPlan:
    status: int | None = None  # the refusal, else None
    protect: Template | None = None  # the template the outgoing message is protected with
    original: str = INLINE  # how the original goes along: inline, as its rpmsg attachment, or not


def _addresses(values: list[str]) -> set[str]:
    return {a.lower() for _, a in getaddresses(values) if a}


def recipients_allowed(rights: Template, forward: bool, reader: str, new: list[str], original: dict[str, list[str]]) -> bool:
    """Step 4 of MS-ASRM 3.2.5.1: whether the new recipient list fits the rights the reader holds."""
    if forward:
        return rights.forward
    if rights.modify_recipients:
        return True
    me = reader.lower()
    chosen = _addresses(new) - {me}  # whether the sender includes themselves is optional
    sender = _addresses(original.get("From", []))
    everyone = (sender | _addresses(original.get("To", []) + original.get("Cc", []))) - {me}
    return (rights.reply and chosen == sender) or (rights.reply_all and chosen == everyone)


def plan_smart(*, forward: bool, replace_mime: bool, template_id: str | None, original: Protection | None,
               templates: dict[str, Template], reader: str, new_recipients: list[str],
               original_recipients: dict[str, list[str]], enabled: bool, secure: bool) -> SmartPlan:
    """What SmartReply/SmartForward does with a request, by the steps of MS-ASRM 3.2.5.1."""
    wanted = template_id.lower() if template_id is not None else None
    if (wanted is not None or original is not None) and (not enabled or not secure):
        return SmartPlan(Common.IRM_FeatureDisabled)
    if original is None:
        if wanted is None or wanted == NO_RESTRICTION:
            return SmartPlan(original=NOTHING if replace_mime else INLINE)
        if wanted not in templates:
            return SmartPlan(Common.IRM_InvalidTemplateID)
        return SmartPlan(protect=templates[wanted], original=NOTHING if replace_mime else INLINE)
    same = wanted == original.template.template_id.lower()
    if wanted is not None and not same and wanted != NO_RESTRICTION and wanted not in templates:
        return SmartPlan(Common.IRM_InvalidTemplateID)
    rights = original.rights_for(reader)
    if not recipients_allowed(rights, forward, reader, new_recipients, original_recipients):
        return SmartPlan(Common.IRM_OperationNotPermitted)
    if wanted is None:
        # The new message goes unprotected; the original goes along only as its rpmsg.
        return SmartPlan(original=NOTHING if replace_mime else ATTACH)
    if wanted == NO_RESTRICTION:
        if not rights.export:
            return SmartPlan(Common.IRM_OperationNotPermitted)
        return SmartPlan(original=NOTHING if replace_mime else INLINE)
    template = original.template if same else templates[wanted]
    if replace_mime:
        return SmartPlan(protect=template, original=NOTHING)
    inline = rights.edit and (same or rights.export)
    return SmartPlan(protect=template, original=INLINE if inline else ATTACH)
