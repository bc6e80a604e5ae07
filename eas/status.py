"""Status codes: the common ones every command shares (MS-ASCMD 2.2.2) and, per command, its own.

Names are the specification's.  COMMON says which version first carries a common code in the
body and which HTTP status stands for it otherwise; `encode` is the one place a common status
becomes a Response, for every command and every version.
"""
from __future__ import annotations

from enum import IntEnum

from . import versions
from .response import Response
from .wbxml import E


class Common(IntEnum):
    """MS-ASCMD 2.2.2 "Common Status Codes"."""
    InvalidContent = 101
    InvalidWBXML = 102
    InvalidXML = 103
    InvalidDateTime = 104
    InvalidCombinationOfIDs = 105
    InvalidIDs = 106
    InvalidMIME = 107
    DeviceIdMissingOrInvalid = 108
    DeviceTypeMissingOrInvalid = 109
    ServerError = 110
    ServerErrorRetryLater = 111
    ActiveDirectoryAccessDenied = 112
    MailboxQuotaExceeded = 113
    MailboxServerOffline = 114
    SendQuotaExceeded = 115
    MessageRecipientUnresolved = 116
    MessageReplyNotAllowed = 117
    MessagePreviouslySent = 118
    MessageHasNoRecipient = 119
    MailSubmissionFailed = 120
    MessageReplyFailed = 121
    AttachmentIsTooLarge = 122
    UserHasNoMailbox = 123
    UserCannotBeAnonymous = 124
    UserPrincipalCouldNotBeFound = 125
    UserDisabledForSync = 126
    UserOnNewMailboxCannotSync = 127
    UserOnLegacyMailboxCannotSync = 128
    DeviceIsBlockedForThisUser = 129
    AccessDenied = 130
    AccountDisabled = 131
    SyncStateNotFound = 132
    SyncStateLocked = 133
    SyncStateCorrupt = 134
    SyncStateAlreadyExists = 135
    SyncStateVersionInvalid = 136
    CommandNotSupported = 137
    VersionNotSupported = 138
    DeviceNotFullyProvisionable = 139
    RemoteWipeRequested = 140
    LegacyDeviceOnStrictPolicy = 141
    DeviceNotProvisioned = 142
    PolicyRefresh = 143
    InvalidPolicyKey = 144
    ExternallyManagedDevicesNotAllowed = 145
    NoRecurrenceInCalendar = 146
    UnexpectedItemClass = 147
    RemoteServerHasNoSSL = 148
    InvalidStoredRequest = 149
    ItemNotFound = 150
    TooManyFolders = 151
    NoFoldersFound = 152
    ItemsLostAfterMove = 153
    FailureInMoveOperation = 154
    MoveCommandDisallowedForNonPersistentMoveAction = 155
    MoveCommandInvalidDestinationFolder = 156
    AvailabilityTooManyRecipients = 160
    AvailabilityDLLimitReached = 161
    AvailabilityTransientFailure = 162
    AvailabilityFailure = 163
    BodyPartPreferenceTypeNotSupported = 164
    DeviceInformationRequired = 165
    InvalidAccountId = 166
    AccountSendDisabled = 167
    IRM_FeatureDisabled = 168
    IRM_TransientError = 169
    IRM_PermanentError = 170
    IRM_InvalidTemplateID = 171
    IRM_OperationNotPermitted = 172
    NoPicture = 173
    PictureTooLarge = 174
    PictureLimitReached = 175
    BodyPart_ConversationTooLarge = 176
    MaximumDevicesReached = 177
    InvalidMimeBodyCombination = 178
    InvalidSmartForwardParameters = 179
    InvalidRecipients = 183
    OneOrMoreExceptionsFailed = 184


# Which version first carries a common code in the body, and the HTTP status that stands for it
# before that (no body).  Exchange sends a code in the body only to a version that knows it: 14.0
# knows up to 163, 14.1 up to 177, 16.0 up to 185 (`LastKnown160Error`), later versions all
# (exchange-access-model §5.1); a 14.0 client gets a bare 403 for 177.
#
# The HTTP column is MS-ASCMD 2.2.2's where it names one, except where Exchange 2013's code
# (exchange-access-model §5.1) differs: 141 is 403 there (MS-ASCMD says 449), and it adds 403 for
# 129/130/131/139/145/177 and 500 for 120.  Where neither names one: a malformed request (102,
# 104, 105, 107, 108, 109) is 400, as MS-ASHTTP answers a request it cannot read; a missing
# mailbox or account (123, 124, 127, 128) is 403 like its neighbours 125/126; every other code is
# 500, the answer Exchange 2007 gives a failed SendMail (the three tables this one replaces
# disagreed only on such unnamed codes: 400, 403 or 500 by default).
_SINCE_14_1, _SINCE_16_0 = range(164, 178), range(178, 186)
_HTTP = {
    101: 400, 102: 400, 103: 400, 104: 400, 105: 400, 106: 400, 107: 400, 108: 400, 109: 400,
    110: 500, 111: 503, 112: 403, 113: 507, 123: 403, 124: 403, 125: 403, 126: 403, 127: 403,
    128: 403, 129: 403, 130: 403, 131: 403, 132: 403, 137: 501, 138: 400, 139: 403, 140: 449,
    141: 403, 142: 449, 143: 449, 144: 449, 145: 403, 147: 400, 177: 403,
}
COMMON: dict[Common, tuple[str, int]] = {
    code: ("16.0" if code in _SINCE_16_0 else "14.1" if code in _SINCE_14_1 else "14.0", _HTTP.get(code, 500))
    for code in Common
}

# MS-ASCMD 2.2.2 names a different HTTP status for a code in a few commands.  It says SendMail for
# 106; SmartReply and SmartForward post the same MIME and answered 500 for it before, so they keep it.
LEGACY_HTTP_IN = {
    "SendMail": {Common.InvalidIDs: 500}, "SmartReply": {Common.InvalidIDs: 500},
    "SmartForward": {Common.InvalidIDs: 500}, "Provision": {Common.SyncStateNotFound: 500},
}


def in_body(code: int, version: str) -> bool:
    """Whether `version` gets `code` as a body status (else as the bare HTTP status)."""
    since, _ = COMMON[Common(code)]
    return versions.has(version, "status_in_body") and versions.within(version, since)


def legacy_http(code: int, root: str | None = None, *, key_header_sent: bool = True) -> int:
    """The HTTP status that stands for `code` when it cannot go in the body."""
    code = Common(code)
    if code == Common.RemoteWipeRequested and not key_header_sent:
        return 403  # MS-ASCMD 2.2.2: 449 only to a client that sent X-MS-PolicyKey
    command = (root or "").partition(":")[2]
    return LEGACY_HTTP_IN.get(command, {}).get(code, COMMON[code][1])


def encode(code: int, version: str, root: str | None, *, key_header_sent: bool = True,
           headers: dict[str, str] | None = None) -> Response:
    """A common status as `version` carries it: HTTP 200 with `<Root><Status>code</Status></Root>`
    in the command's namespace, or, for a command without an XML root or a version that does not
    know the code, the bare HTTP status."""
    if root and in_body(code, version):
        ns = root.partition(":")[0]
        return Response(200, E(root, E(f"{ns}:Status", int(code))), headers=dict(headers or {}))
    return Response(legacy_http(code, root, key_header_sent=key_header_sent), headers=dict(headers or {}))


# -- per-command statuses (MS-ASCMD 2.2.3.177.x) -------------------------------------------------
class SyncStatus(IntEnum):
    """Sync Status, collection or item level (MS-ASCMD 2.2.3.177.17)."""
    Success = 1
    InvalidSyncKey = 3
    ProtocolError = 4
    ServerError = 5
    ConversionError = 6
    Conflict = 7
    ObjectNotFound = 8
    CannotComplete = 9  # e.g. the mailbox is out of space; a quarantined device's writes
    FolderHierarchyChanged = 12
    IncompleteRequest = 13
    InvalidWaitOrHeartbeatInterval = 14
    TooManyCollections = 15
    Retry = 16


class FolderStatus(IntEnum):
    """FolderSync, FolderCreate, FolderUpdate and FolderDelete Status (MS-ASCMD 2.2.3.177.2-5)."""
    Success = 1
    FolderExists = 2  # FolderCreate/Update: the name exists; FolderUpdate: a special folder
    SpecialFolder = 3  # FolderDelete: a special folder; FolderCreate/Update: the recipient information cache
    FolderNotFound = 4  # FolderDelete/FolderUpdate: no such folder
    ParentNotFound = 5
    ServerError = 6
    InvalidSyncKey = 9
    MalformedRequest = 10
    UnknownError = 11


class GetItemEstimateStatus(IntEnum):
    """GetItemEstimate Status (MS-ASCMD 2.2.3.177.6)."""
    Success = 1
    InvalidCollection = 2
    SyncStateNotPrimed = 3
    InvalidSyncKey = 4


class PingStatus(IntEnum):
    """Ping Status (MS-ASCMD 2.2.3.177.11)."""
    Expired = 1
    Changes = 2
    MissingParameters = 3
    SyntaxError = 4
    InvalidHeartbeatInterval = 5
    TooManyFolders = 6
    FolderHierarchyChanged = 7
    ServerError = 8


class MoveItemsStatus(IntEnum):
    """MoveItems Status (MS-ASCMD 2.2.3.177.9); success is 3."""
    InvalidSource = 1
    InvalidDestination = 2
    Success = 3
    SameSourceAndDestination = 4
    Failure = 5
    Locked = 7


class MeetingResponseStatus(IntEnum):
    """MeetingResponse Status (MS-ASCMD 2.2.3.177.8)."""
    Success = 1
    InvalidMeetingRequest = 2
    MailboxError = 3
    ServerError = 4


class ProvisionStatus(IntEnum):
    """Provision Status (MS-ASPROV 2.2.2.54.2)."""
    Success = 1
    ProtocolError = 2
    ServerError = 3


class PolicyStatus(IntEnum):
    """Policy Status in a Provision response (MS-ASPROV 2.2.2.54.1)."""
    Success = 1
    NoPolicy = 2
    UnknownPolicyType = 3
    PolicyDataCorrupt = 4
    PolicyKeyMismatch = 5
