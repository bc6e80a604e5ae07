"""Mobile device mailbox policies (MS-ASPROV, Exchange's MobileDeviceMailboxPolicy).

A policy is a set of Exchange parameters, named and measured as Exchange takes them (minutes,
days, KB, enum names).  From it this module builds what goes on the wire: the EASProvisionDoc for
12.0+ (Exchange's element order, seconds/days/bytes, unlimited as an empty element), the WAP
provisioning XML for 2.5, and the policy key.  The key is a hash of the document a version
receives, so it is the same after a restart, the same for every version that receives the same
document (12.1 through 16.1: an Outlook that changes versions does not loop, unlike
grommunio-sync#26), and changes exactly when the document does.  `check` decides what a command
gets from the device's provisioning state: nothing, or a common status 140-145.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from . import versions
from .wbxml import E, Element, encode

P = "Provision"

BLUETOOTH = {"Disable": 0, "HandsfreeOnly": 1, "Allow": 2}
CALENDAR_AGE = {"All": 0, "TwoWeeks": 4, "OneMonth": 5, "ThreeMonths": 6, "SixMonths": 7}
EMAIL_AGE = {"All": 0, "OneDay": 1, "ThreeDays": 2, "OneWeek": 3, "TwoWeeks": 4, "OneMonth": 5}
SIGNED_ALGORITHM = {"SHA1": 0, "MD5": 1}
ENCRYPTION_ALGORITHM = {"TripleDES": 0, "DES": 1, "RC2128bit": 2, "RC264bit": 3, "RC240bit": 4}
NEGOTIATION = {"BlockNegotiation": 0, "OnlyStrongAlgorithmNegotiation": 1, "AllowAnyAlgorithmNegotiation": 2}
ENUMS = {
    "AllowBluetooth": BLUETOOTH, "MaxCalendarAgeFilter": CALENDAR_AGE, "MaxEmailAgeFilter": EMAIL_AGE,
    "RequireSignedSMIMEAlgorithm": SIGNED_ALGORITHM, "RequireEncryptionSMIMEAlgorithm": ENCRYPTION_ALGORITHM,
    "AllowSMIMEEncryptionAlgorithmNegotiation": NEGOTIATION,
}


@dataclass
class PolicySettings:
    """Exchange 2013+ parameter names; None means Unlimited / not set."""

    PasswordEnabled: bool = False
    AlphanumericPasswordRequired: bool = False
    PasswordRecoveryEnabled: bool = False
    RequireStorageCardEncryption: bool = False
    AttachmentsEnabled: bool = True
    MinPasswordLength: int | None = None  # 1-16 characters
    MaxInactivityTimeLock: int | None = None  # minutes
    MaxPasswordFailedAttempts: int | None = None  # 4-16
    MaxAttachmentSize: int | None = None  # KB
    AllowSimplePassword: bool = True
    PasswordExpiration: int | None = None  # days
    PasswordHistory: int = 0
    AllowStorageCard: bool = True
    AllowCamera: bool = True
    RequireDeviceEncryption: bool = False
    AllowUnsignedApplications: bool = True
    AllowUnsignedInstallationPackages: bool = True
    MinPasswordComplexCharacters: int = 1  # 1-4 character groups
    AllowWiFi: bool = True
    AllowTextMessaging: bool = True
    AllowPOPIMAPEmail: bool = True
    AllowBluetooth: str = "Allow"
    AllowIrDA: bool = True
    RequireManualSyncWhenRoaming: bool = False
    AllowDesktopSync: bool = True
    MaxCalendarAgeFilter: str = "All"
    AllowHTMLEmail: bool = True
    MaxEmailAgeFilter: str = "All"
    MaxEmailBodyTruncationSize: int | None = None  # KB
    MaxEmailHTMLBodyTruncationSize: int | None = None  # KB
    RequireSignedSMIMEMessages: bool = False
    RequireEncryptedSMIMEMessages: bool = False
    RequireSignedSMIMEAlgorithm: str = "SHA1"
    RequireEncryptionSMIMEAlgorithm: str = "TripleDES"
    AllowSMIMEEncryptionAlgorithmNegotiation: str = "AllowAnyAlgorithmNegotiation"
    AllowSMIMESoftCerts: bool = True
    AllowBrowser: bool = True
    AllowConsumerEmail: bool = True
    AllowRemoteDesktop: bool = True
    AllowInternetSharing: bool = True
    UnapprovedInROMApplicationList: list[str] = field(default_factory=list)
    ApprovedApplicationList: list[str] = field(default_factory=list)  # SHA-1 hashes, hex
    # Enforced by the server, not sent to the device:
    AllowNonProvisionableDevices: bool = False
    DevicePolicyRefreshInterval: int | None = None  # hours
    AllowExternalDeviceManagement: bool = False

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> PolicySettings:
        known = set(cls.names())
        return cls(**{k: v for k, v in json.loads(raw or "{}").items() if k in known})

    def validate(self) -> None:
        def between(name, lo, hi):
            value = getattr(self, name)
            if value is not None and not lo <= value <= hi:
                raise ValueError(f"{name} must be {lo}-{hi} (or unlimited)")

        between("MinPasswordLength", 1, 16)
        between("MaxPasswordFailedAttempts", 4, 16)
        between("MaxInactivityTimeLock", 1, 60)
        between("PasswordExpiration", 1, 730)
        between("PasswordHistory", 0, 50)
        between("MinPasswordComplexCharacters", 1, 4)
        between("MaxAttachmentSize", 0, 2097151)
        for name, values in ENUMS.items():
            if getattr(self, name) not in values:
                raise ValueError(f"{name} must be one of {', '.join(values)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"{f.name} must be true or false")
            if f.type in ("int", "int | None") and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{f.name} must be a whole number" + (" or unlimited" if f.type != "int" else ""))
        for digest in self.ApprovedApplicationList:
            if len(digest) != 40 or any(c not in "0123456789abcdefABCDEF" for c in digest):
                raise ValueError(f"ApprovedApplicationList entries are SHA-1 hashes in hex; {digest!r} is not")


def exchange_default() -> PolicySettings:
    """Exchange setup's "Default" policy: no password, non-provisionable devices allowed."""
    return PolicySettings(AllowNonProvisionableDevices=True)


def _b(value: bool) -> str:
    return "1" if value else "0"


def _opt(value: int | None, scale: int = 1) -> str | None:
    return None if value is None else str(value * scale)


def _kb_or_minus_one(value: int | None) -> str:
    # MS-ASPROV gives no unit; Exchange sends the policy's KB figure unchanged, -1 for unlimited.
    return "-1" if value is None else str(value)


def provision_doc(s: PolicySettings, version: str) -> Element:
    """The EASProvisionDoc, in the order Exchange 2013 emits it; 12.1+ settings only for 12.1+."""

    def el(name: str, value: str | None) -> Element:
        return E(f"{P}:{name}", value) if value is not None else E(f"{P}:{name}")

    rows = [
        el("DevicePasswordEnabled", _b(s.PasswordEnabled)),
        el("AlphanumericDevicePasswordRequired", _b(s.AlphanumericPasswordRequired)),
        el("PasswordRecoveryEnabled", _b(s.PasswordRecoveryEnabled)),
        el("RequireStorageCardEncryption", _b(s.RequireStorageCardEncryption)),
        el("AttachmentsEnabled", _b(s.AttachmentsEnabled)),
        el("MinDevicePasswordLength", _opt(s.MinPasswordLength)),
        el("MaxInactivityTimeDeviceLock", _opt(s.MaxInactivityTimeLock, 60)),
        el("MaxDevicePasswordFailedAttempts", _opt(s.MaxPasswordFailedAttempts)),
        el("MaxAttachmentSize", _opt(s.MaxAttachmentSize, 1024)),
        el("AllowSimpleDevicePassword", _b(s.AllowSimplePassword)),
        el("DevicePasswordExpiration", _opt(s.PasswordExpiration)),
        el("DevicePasswordHistory", str(s.PasswordHistory)),
    ]
    if versions.at_least(version, "12.1"):
        rows += [
            el("AllowStorageCard", _b(s.AllowStorageCard)),
            el("AllowCamera", _b(s.AllowCamera)),
            el("RequireDeviceEncryption", _b(s.RequireDeviceEncryption)),
            el("AllowUnsignedApplications", _b(s.AllowUnsignedApplications)),
            el("AllowUnsignedInstallationPackages", _b(s.AllowUnsignedInstallationPackages)),
            el("MinDevicePasswordComplexCharacters", str(s.MinPasswordComplexCharacters)),
            el("AllowWiFi", _b(s.AllowWiFi)),
            el("AllowTextMessaging", _b(s.AllowTextMessaging)),
            el("AllowPOPIMAPEmail", _b(s.AllowPOPIMAPEmail)),
            el("AllowBluetooth", str(BLUETOOTH[s.AllowBluetooth])),
            el("AllowIrDA", _b(s.AllowIrDA)),
            el("RequireManualSyncWhenRoaming", _b(s.RequireManualSyncWhenRoaming)),
            el("AllowDesktopSync", _b(s.AllowDesktopSync)),
            el("MaxCalendarAgeFilter", str(CALENDAR_AGE[s.MaxCalendarAgeFilter])),
            el("AllowHTMLEmail", _b(s.AllowHTMLEmail)),
            el("MaxEmailAgeFilter", str(EMAIL_AGE[s.MaxEmailAgeFilter])),
            el("MaxEmailBodyTruncationSize", _kb_or_minus_one(s.MaxEmailBodyTruncationSize)),
            el("MaxEmailHTMLBodyTruncationSize", _kb_or_minus_one(s.MaxEmailHTMLBodyTruncationSize)),
            el("RequireSignedSMIMEMessages", _b(s.RequireSignedSMIMEMessages)),
            el("RequireEncryptedSMIMEMessages", _b(s.RequireEncryptedSMIMEMessages)),
            el("RequireSignedSMIMEAlgorithm", str(SIGNED_ALGORITHM[s.RequireSignedSMIMEAlgorithm])),
            el("RequireEncryptionSMIMEAlgorithm", str(ENCRYPTION_ALGORITHM[s.RequireEncryptionSMIMEAlgorithm])),
            el("AllowSMIMEEncryptionAlgorithmNegotiation", str(NEGOTIATION[s.AllowSMIMEEncryptionAlgorithmNegotiation])),
            el("AllowSMIMESoftCerts", _b(s.AllowSMIMESoftCerts)),
            el("AllowBrowser", _b(s.AllowBrowser)),
            el("AllowConsumerEmail", _b(s.AllowConsumerEmail)),
            el("AllowRemoteDesktop", _b(s.AllowRemoteDesktop)),
            el("AllowInternetSharing", _b(s.AllowInternetSharing)),
        ]
        if s.UnapprovedInROMApplicationList:
            rows.append(E(f"{P}:UnapprovedInROMApplicationList", *[E(f"{P}:ApplicationName", n) for n in s.UnapprovedInROMApplicationList]))
        else:
            rows.append(E(f"{P}:UnapprovedInROMApplicationList"))
        if s.ApprovedApplicationList:
            import base64

            rows.append(E(f"{P}:ApprovedApplicationList", *[E(f"{P}:Hash", base64.b64encode(bytes.fromhex(h)).decode()) for h in s.ApprovedApplicationList]))
        else:
            rows.append(E(f"{P}:ApprovedApplicationList"))
    return E(f"{P}:EASProvisionDoc", *rows)


def wap_doc(s: PolicySettings) -> str:
    """The MS-WAP-Provisioning-XML document a 2.5 device receives (MS-ASPROV 2.2.2.24.2)."""
    lock_minutes = s.MaxInactivityTimeLock or 0
    wipe = s.MaxPasswordFailedAttempts or 0
    return (
        "<wap-provisioningdoc>"
        '<characteristic type="SecurityPolicy">'
        f'<parm name="4131" value="{0 if s.PasswordEnabled else 1}"/>'
        f'<parm name="4133" value="{0 if s.PasswordRecoveryEnabled else 1}"/>'
        "</characteristic>"
        '<characteristic type="Registry">'
        '<characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD\\AE\\{50C13377-C66D-400C-889E-C316FC4AB374}">'
        f'<parm name="AEFrequencyType" value="{1 if lock_minutes else 0}"/>'
        f'<parm name="AEFrequencyValue" value="{lock_minutes}"/>'
        "</characteristic>"
        '<characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD">'
        f'<parm name="DeviceWipeThreshold" value="{wipe if wipe else -1}"/>'
        '<parm name="CodewordFrequency" value="3"/>'
        "</characteristic>"
        '<characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD\\LAP\\lap_pw">'
        f'<parm name="MinimumPasswordLength" value="{s.MinPasswordLength or 1}"/>'
        f'<parm name="PasswordComplexity" value="{0 if s.AlphanumericPasswordRequired else 2}"/>'
        "</characteristic>"
        "</characteristic>"
        "</wap-provisioningdoc>"
    )


def policy_key(s: PolicySettings, version: str) -> int:
    """A non-zero uint32 from the document `version` receives."""
    content = wap_doc(s).encode() if version == "2.5" else encode(provision_doc(s, version))
    key = int.from_bytes(hashlib.sha256(content).digest()[:4], "big")
    return key or 1


POLICY_TYPE_WBXML = "MS-EAS-Provisioning-WBXML"
POLICY_TYPE_WAP = "MS-WAP-Provisioning-XML"


def policy_type_for(version: str) -> str:
    return POLICY_TYPE_WAP if version == "2.5" else POLICY_TYPE_WBXML


# -- enforcement --------------------------------------------------------------------------------
@dataclass
class Provisioning:
    """What the server remembers of a device's provisioning."""

    policy_key: int | None = None  # the final key from the last completed provisioning
    provisioned_at: datetime | None = None
    wipe_pending: bool = False  # requested or sent, not yet acknowledged


# MS-ASPROV 3.1.5.1 / Exchange: Provision and Ping carry no policy key and are never refused for it.
EXEMPT_COMMANDS = {"Provision", "Ping"}

REMOTE_WIPE_REQUESTED = 140
LEGACY_DEVICE_ON_STRICT_POLICY = 141
DEVICE_NOT_PROVISIONED = 142
POLICY_REFRESH = 143
INVALID_POLICY_KEY = 144


def check(settings: PolicySettings | None, device: Provisioning, header_key: int | None, version: str, now: datetime) -> int | None:
    """The common status a command gets for policy reasons, or None to go ahead
    (MS-ASPROV 3.2.5.1; Exchange's order: wipe, missing key, not provisioned, refresh, stale key)."""
    if device.wipe_pending:
        return REMOTE_WIPE_REQUESTED
    if settings is None:
        return None
    if header_key is None:
        return None if settings.AllowNonProvisionableDevices else LEGACY_DEVICE_ON_STRICT_POLICY
    if header_key == 0 or device.policy_key is None:
        return DEVICE_NOT_PROVISIONED
    if settings.DevicePolicyRefreshInterval and device.provisioned_at is not None:
        if now - device.provisioned_at > timedelta(hours=settings.DevicePolicyRefreshInterval):
            return POLICY_REFRESH
    if header_key != policy_key(settings, version):
        return INVALID_POLICY_KEY
    return None


# MS-ASCMD 2.2.2 / Exchange: how <= 12.1 clients see these (403 where no key header was sent).
def legacy_http_status(status: int, had_key_header: bool) -> int:
    if status == REMOTE_WIPE_REQUESTED:
        return 449 if had_key_header else 403
    if status in (LEGACY_DEVICE_ON_STRICT_POLICY, 139, 145):
        return 403
    return 449
