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

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from . import versions
from .status import Common
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

    def to_dict(self) -> dict:
        """A copy: a stored row must share no list with settings being edited."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> PolicySettings:
        """Unknown names are left out; lists are copied, so editing the settings leaves `data` as it was
        (a row's loaded value: mutated in place, it would look unchanged and not be written)."""
        known = set(cls.names())
        values: dict[str, Any] = {k: list(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)

    @classmethod
    def from_json(cls, raw: str) -> PolicySettings:
        return cls.from_dict(json.loads(raw or "{}"))

    def validate(self) -> None:
        """ValueError naming the first parameter out of its type or range (setting_error)."""
        for f in fields(self):
            error = setting_error(f.name, getattr(self, f.name))
            if error:
                raise ValueError(error)


# Exchange's range of every numeric parameter, in the unit it is given in (UNITS).  A None value of
# an `int | None` parameter is Unlimited.  The truncation sizes share the attachment size's KB
# ceiling; the refresh interval (hours) is at most a year.
RANGES = {
    "MinPasswordLength": (1, 16), "MaxPasswordFailedAttempts": (4, 16), "MaxInactivityTimeLock": (1, 60),
    "PasswordExpiration": (1, 730), "PasswordHistory": (0, 50), "MinPasswordComplexCharacters": (1, 4),
    "MaxAttachmentSize": (0, 2097151), "MaxEmailBodyTruncationSize": (0, 2097151),
    "MaxEmailHTMLBodyTruncationSize": (0, 2097151), "DevicePolicyRefreshInterval": (1, 8760),
}


_TYPES = {f.name: f.type for f in fields(PolicySettings)}


def setting_kind(name: str) -> str:
    """How a parameter is given: bool, enum, list, int, or limit (a number, or None for unlimited)."""
    kind = _TYPES[name]
    if name in ENUMS:
        return "enum"
    if kind in ("bool", "int"):
        return kind
    return "list" if kind.startswith("list") else "limit"


def _is_hash(value: str) -> bool:
    return len(value) == 40 and all(c in "0123456789abcdefABCDEF" for c in value)


def setting_error(name: str, value) -> str | None:
    """Why `value` is not a valid `name`, or None: the one check of a policy parameter, whichever
    way it came (CLI option, web form, API body, the plugin, a stored row)."""
    kind = setting_kind(name)
    if kind == "bool":
        return None if isinstance(value, bool) else f"{name} must be true or false"
    if kind == "enum":
        return None if value in ENUMS[name] else f"{name} must be one of {', '.join(ENUMS[name])}"
    if kind == "list":
        if not (isinstance(value, list) and all(isinstance(v, str) and 0 < len(v) <= 256 for v in value)):
            return f"{name} must be a list of strings" + (" (SHA-1 hashes in hex)" if name == "ApprovedApplicationList" else "")
        bad = next((v for v in value if not _is_hash(v)), None) if name == "ApprovedApplicationList" else None
        return None if bad is None else f"ApprovedApplicationList entries are SHA-1 hashes in hex; {bad!r} is not"
    if kind == "limit" and value is None:
        return None
    low, high = RANGES[name]
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return None
    return f"{name} must be a whole number, {low}-{high}" + (", or unlimited" if kind == "limit" else "")


def exchange_default() -> PolicySettings:
    """Exchange setup's "Default" policy: no password, non-provisionable devices allowed."""
    return PolicySettings(AllowNonProvisionableDevices=True)


class ProvisionRow(NamedTuple):
    """One EASProvisionDoc element (MS-ASPROV 2.2.2.27) and the PolicySettings field behind it."""

    wire_name: str | None  # None: the server enforces the setting, the device never sees it
    setting: str
    unit: str | None  # the unit the setting is given in (CLI, web, API)
    factor: int  # the wire value is the setting times this (minutes -> seconds, KB -> bytes)
    since: str  # the first version whose document carries it
    kind: str  # how the value is written: bool, limit (empty: unlimited), int, enum, kb (-1: unlimited), apps, hashes


# In the order Exchange 2013 emits them.
PROVISION_ROWS: tuple[ProvisionRow, ...] = tuple(ProvisionRow(*row) for row in (
    ("DevicePasswordEnabled", "PasswordEnabled", None, 1, "12.0", "bool"),
    ("AlphanumericDevicePasswordRequired", "AlphanumericPasswordRequired", None, 1, "12.0", "bool"),
    ("PasswordRecoveryEnabled", "PasswordRecoveryEnabled", None, 1, "12.0", "bool"),
    ("RequireStorageCardEncryption", "RequireStorageCardEncryption", None, 1, "12.0", "bool"),
    ("AttachmentsEnabled", "AttachmentsEnabled", None, 1, "12.0", "bool"),
    ("MinDevicePasswordLength", "MinPasswordLength", None, 1, "12.0", "limit"),
    ("MaxInactivityTimeDeviceLock", "MaxInactivityTimeLock", "minutes", 60, "12.0", "limit"),
    ("MaxDevicePasswordFailedAttempts", "MaxPasswordFailedAttempts", None, 1, "12.0", "limit"),
    ("MaxAttachmentSize", "MaxAttachmentSize", "KB", 1024, "12.0", "limit"),
    ("AllowSimpleDevicePassword", "AllowSimplePassword", None, 1, "12.0", "bool"),
    ("DevicePasswordExpiration", "PasswordExpiration", "days", 1, "12.0", "limit"),
    ("DevicePasswordHistory", "PasswordHistory", None, 1, "12.0", "int"),
    ("AllowStorageCard", "AllowStorageCard", None, 1, "12.1", "bool"),
    ("AllowCamera", "AllowCamera", None, 1, "12.1", "bool"),
    ("RequireDeviceEncryption", "RequireDeviceEncryption", None, 1, "12.1", "bool"),
    ("AllowUnsignedApplications", "AllowUnsignedApplications", None, 1, "12.1", "bool"),
    ("AllowUnsignedInstallationPackages", "AllowUnsignedInstallationPackages", None, 1, "12.1", "bool"),
    ("MinDevicePasswordComplexCharacters", "MinPasswordComplexCharacters", None, 1, "12.1", "int"),
    ("AllowWiFi", "AllowWiFi", None, 1, "12.1", "bool"),
    ("AllowTextMessaging", "AllowTextMessaging", None, 1, "12.1", "bool"),
    ("AllowPOPIMAPEmail", "AllowPOPIMAPEmail", None, 1, "12.1", "bool"),
    ("AllowBluetooth", "AllowBluetooth", None, 1, "12.1", "enum"),
    ("AllowIrDA", "AllowIrDA", None, 1, "12.1", "bool"),
    ("RequireManualSyncWhenRoaming", "RequireManualSyncWhenRoaming", None, 1, "12.1", "bool"),
    ("AllowDesktopSync", "AllowDesktopSync", None, 1, "12.1", "bool"),
    ("MaxCalendarAgeFilter", "MaxCalendarAgeFilter", None, 1, "12.1", "enum"),
    ("AllowHTMLEmail", "AllowHTMLEmail", None, 1, "12.1", "bool"),
    ("MaxEmailAgeFilter", "MaxEmailAgeFilter", None, 1, "12.1", "enum"),
    # MS-ASPROV gives no unit; Exchange sends the policy's KB figure unchanged, -1 for unlimited.
    ("MaxEmailBodyTruncationSize", "MaxEmailBodyTruncationSize", "KB", 1, "12.1", "kb"),
    ("MaxEmailHTMLBodyTruncationSize", "MaxEmailHTMLBodyTruncationSize", "KB", 1, "12.1", "kb"),
    ("RequireSignedSMIMEMessages", "RequireSignedSMIMEMessages", None, 1, "12.1", "bool"),
    ("RequireEncryptedSMIMEMessages", "RequireEncryptedSMIMEMessages", None, 1, "12.1", "bool"),
    ("RequireSignedSMIMEAlgorithm", "RequireSignedSMIMEAlgorithm", None, 1, "12.1", "enum"),
    ("RequireEncryptionSMIMEAlgorithm", "RequireEncryptionSMIMEAlgorithm", None, 1, "12.1", "enum"),
    ("AllowSMIMEEncryptionAlgorithmNegotiation", "AllowSMIMEEncryptionAlgorithmNegotiation", None, 1, "12.1", "enum"),
    ("AllowSMIMESoftCerts", "AllowSMIMESoftCerts", None, 1, "12.1", "bool"),
    ("AllowBrowser", "AllowBrowser", None, 1, "12.1", "bool"),
    ("AllowConsumerEmail", "AllowConsumerEmail", None, 1, "12.1", "bool"),
    ("AllowRemoteDesktop", "AllowRemoteDesktop", None, 1, "12.1", "bool"),
    ("AllowInternetSharing", "AllowInternetSharing", None, 1, "12.1", "bool"),
    ("UnapprovedInROMApplicationList", "UnapprovedInROMApplicationList", None, 1, "12.1", "apps"),
    ("ApprovedApplicationList", "ApprovedApplicationList", None, 1, "12.1", "hashes"),
    (None, "DevicePolicyRefreshInterval", "hours", 1, "12.0", "limit"),
))
# The unit of each setting that has one, for the CLI, the web console and the API.
UNITS = {row.setting: row.unit for row in PROVISION_ROWS if row.unit}


def _wire(row: ProvisionRow, value) -> Element:
    name = f"{P}:{row.wire_name}"
    if row.kind == "bool":
        return E(name, "1" if value else "0")
    if row.kind == "limit":
        return E(name) if value is None else E(name, str(value * row.factor))
    if row.kind == "kb":
        return E(name, "-1" if value is None else str(value))
    if row.kind == "enum":
        return E(name, str(ENUMS[row.setting][value]))
    if row.kind == "apps":
        return E(name, *[E(f"{P}:ApplicationName", n) for n in value])
    if row.kind == "hashes":
        return E(name, *[E(f"{P}:Hash", base64.b64encode(bytes.fromhex(h)).decode()) for h in value])
    return E(name, str(value))


def provision_doc(s: PolicySettings, version: str) -> Element:
    """The EASProvisionDoc `version` receives: the rows it knows, in Exchange 2013's order."""
    return E(f"{P}:EASProvisionDoc", *[_wire(row, getattr(s, row.setting)) for row in PROVISION_ROWS
                                      if row.wire_name and versions.within(version, row.since)])


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
    content = wap_doc(s).encode() if versions.has(version, "wap_policy_doc") else encode(provision_doc(s, version))
    key = int.from_bytes(hashlib.sha256(content).digest()[:4], "big")
    return key or 1


POLICY_TYPE_WBXML = "MS-EAS-Provisioning-WBXML"
POLICY_TYPE_WAP = "MS-WAP-Provisioning-XML"


def policy_type_for(version: str) -> str:
    return POLICY_TYPE_WAP if versions.has(version, "wap_policy_doc") else POLICY_TYPE_WBXML


# -- enforcement --------------------------------------------------------------------------------
@dataclass
class Provisioning:
    """What the server remembers of a device's provisioning."""

    policy_key: int | None = None  # the final key from the last completed provisioning
    provisioned_at: datetime | None = None
    wipe_pending: bool = False  # requested or sent, not yet acknowledged


# MS-ASPROV 3.1.5.1 / Exchange: Provision and Ping carry no policy key and are never refused for it.
EXEMPT_COMMANDS = {"Provision", "Ping"}

def check(settings: PolicySettings | None, device: Provisioning, header_key: int | None, version: str, now: datetime,
          key_of: Callable[[PolicySettings, str], int] | None = None) -> Common | None:
    """The common status a command gets for policy reasons, or None to go ahead
    (MS-ASPROV 3.2.5.1; Exchange's order: wipe, missing key, not provisioned, refresh, stale key).
    `key_of` is policy_key, or a caller's memory of it (the key encodes the whole document)."""
    if device.wipe_pending:
        return Common.RemoteWipeRequested
    if settings is None:
        return None
    if header_key is None:
        return None if settings.AllowNonProvisionableDevices else Common.LegacyDeviceOnStrictPolicy
    if header_key == 0 or device.policy_key is None:
        return Common.DeviceNotProvisioned
    if settings.DevicePolicyRefreshInterval and device.provisioned_at is not None:
        if now - device.provisioned_at > timedelta(hours=settings.DevicePolicyRefreshInterval):
            return Common.PolicyRefresh
    if header_key != (key_of or policy_key)(settings, version):
        return Common.InvalidPolicyKey
    return None
