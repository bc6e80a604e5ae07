"""EAS protocol versions (MS-ASHTTP 2.2.1.1.2.4) and the rules that switch on them.

Every protocol feature that depends on the version is a row of FEATURES; code asks `has(version,
feature)` and never compares versions itself, so a version-specific rule is one line here.
"""
from __future__ import annotations

SUPPORTED = ("2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1")


def key(version: str) -> tuple[int, int]:
    """A sortable form: "12.1" -> (12, 1)."""
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def within(version: str, since: str, until: str | None = None) -> bool:
    """`since` <= `version` <= `until` (no upper bound when `until` is None)."""
    return key(since) <= key(version) and (until is None or key(version) <= key(until))


# feature: (first version that has it, last version that has it or None).  Sources: the version
# notes of MS-ASCMD / MS-ASPROV / MS-ASEMAIL / MS-ASCAL as digested in eas-protocol-facts §2.
FEATURES: dict[str, tuple[str, str | None]] = {
    # 2.5 only: the policy is an MS-WAP-Provisioning-XML document (MS-ASPROV 2.2.2.43).
    "wap_policy_doc": ("2.5", "2.5"),
    # Sync names each collection's Class up to 12.1; 14.0 dropped it from the response.
    "sync_class_element": ("2.5", "12.1"),
    # AirSyncBase: Body/BodyPreference, Attachments, NativeBodyType, Email:Flag, ContentClass.
    "airsyncbase_body": ("12.0", None),
    # Search of the mailbox (2.5 searches the GAL only).
    "mailbox_search": ("12.0", None),
    # An empty Sync response (HTTP 200, no body) when nothing changed.
    "empty_sync_response": ("12.1", None),
    # A Provision acknowledgement with Status 4 (externally managed device).
    "externally_managed": ("12.1", None),
    # Common status codes 101-177 travel in the body, not as HTTP statuses (MS-ASCMD 2.2.2).
    "status_in_body": ("14.0", None),
    # SendMail, SmartReply and SmartForward are ComposeMail WBXML (MIME before).
    "compose_wbxml": ("14.0", None),
    # BodyPreference Preview.
    "body_preview": ("14.0", None),
    # Email2 ConversationId/ConversationIndex and ItemOperations Move of a conversation.
    "conversations": ("14.0", None),
    # GetItemEstimate takes Class and FilterType in AirSync:Options.
    "estimate_options": ("14.0", None),
    # ResolveRecipients Availability (free/busy).
    "availability": ("14.0", None),
    # MeetingResponse InstanceId of one occurrence.
    "instance_id": ("14.1", None),
    # airsyncbase:BodyPartPreference in requests, BodyPart in answers (MS-ASAIRS 2.2.2.10-11).
    "body_part": ("14.1", None),
    # The initial Provision must carry settings:DeviceInformation (else status 165).
    "device_information_required": ("14.1", None),
    # GAL and ResolveRecipients Picture.
    "pictures": ("14.1", None),
    # Settings RightsManagementInformation.
    "rights_management": ("14.1", None),
    # Settings UserInformation answers with Accounts (multiple accounts, PrimarySmtpAddress).
    "accounts": ("14.1", None),
    # Drafts over Sync: Email2 IsDraft/Bcc, Add/Change of mail in the Drafts folder.
    "drafts_over_sync": ("16.0", None),
    # MeetingResponse SendResponse; the server sends the meeting mail itself.
    "send_response": ("16.0", None),
    # airsyncbase:Location, InstanceId for exceptions, calendar:UID in meeting requests.
    "airsyncbase_location": ("16.0", None),
    # A calendar item's Body is Type 1 or 2 only (MS-ASCAL 16.0).
    "calendar_text_or_html_body": ("16.0", None),
    # A calendar property a 16.x client leaves out stays as it is (no ghosting needed).
    "calendar_keeps_omitted": ("16.0", None),
    # Provision AccountOnlyRemoteWipe.
    "account_only_wipe": ("16.1", None),
}


def has(version: str, feature: str) -> bool:
    """Whether protocol `version` has `feature` (a key of FEATURES)."""
    since, until = FEATURES[feature]
    return within(version, since, until)


def since(feature: str) -> str:
    """The first version with `feature`: for messages that name it."""
    return FEATURES[feature][0]


def at_least(version: str, floor: str) -> bool:
    """A raw version comparison, for the simulated device (easlab.testing), which switches on
    versions the way a client does; the server's protocol code asks has() with a FEATURES name."""
    return key(version) >= key(floor)
