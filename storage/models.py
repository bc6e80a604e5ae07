"""The tables.  Names follow Exchange's and MS-AS*'s where they have one.

Change tracking: every folder has a counter (`Folder.change_seq`); each change to an item takes
the next value and appends one `ItemChange` row (add, change, delete) — the change log, with
deletes as tombstones.  An incremental Sync reads the log rows after the device's position, so its
cost follows the number of changes, never the folder's size.  The hierarchy works the same way
per user (`User.hierarchy_seq`, `Folder.created_seq`/`modified_seq`, deleted folders kept as
tombstones).

Every moment is a `UTCDateTime` (aware UTC in and out) and JSON is a `JSONList` or `JSONDict`
(storage/types.py).  Rows keyed by a device (`device_pk`) go with it: ON DELETE CASCADE.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONDict, JSONList, UTCDateTime, empty_dict, empty_list


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Stored lower-case: logins are case-insensitive, as Active Directory's are.
    name: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(default="", max_length=256)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hierarchy_seq: int = 0  # last value handed to a folder change of this user
    policy_id: int | None = Field(default=None, foreign_key="policy.id")  # None: the default policy
    # Exchange's CASMailbox settings.  Device-ID lists may name devices that never connected.
    activesync_enabled: bool = True
    allowed_device_ids: list[str] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    blocked_device_ids: list[str] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    role: str = Field(default="", max_length=32)  # "", org-admin, device-approver, device-operator, viewer
    max_devices_mail_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The admin center's sessions carry the value they were opened under; signing out raises it,
    # so a copy of the cookie stops working (server/web/sessions.py).
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class OrgSettings(SQLModel, table=True):
    """Exchange's ActiveSyncOrganizationSettings: one row."""

    id: int | None = Field(default=None, primary_key=True)
    default_access: str = Field(default="Allow", max_length=16)
    admin_mail_recipients: list[str] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    user_mail_insert: str = Field(default="", max_length=256)
    max_devices: int = 100
    blocked_delay: int = 20  # seconds a blocked answer is held (Exchange's ErrorResponseDelay)
    discovery_minutes: int = 14
    # Set-ThrottlingPolicy's EAS part (eas.throttling.ThrottlingPolicy) and the auto-block
    # thresholds ({BehaviorType: {setting: value}}, eas.autoblock.Threshold).
    throttling: dict = Field(default_factory=empty_dict, sa_column=Column(JSONDict, nullable=False, default=dict))
    autoblock: dict = Field(default_factory=empty_dict, sa_column=Column(JSONDict, nullable=False, default=dict))
    secret: str = Field(default="", max_length=128)  # signs admin links and web sessions


class AccessRule(SQLModel, table=True):
    """A device access rule; its name is Exchange's "<QueryString> (<Characteristic>)"."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    characteristic: str = Field(max_length=16)
    query: str = Field(max_length=1024)
    access_level: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Policy(SQLModel, table=True):
    """A mobile device mailbox policy; `settings` is eas.policy.PolicySettings as JSON."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    is_default: bool = False
    # sort_keys: the text PolicySettings.to_json wrote before the column was typed.
    settings: dict = Field(default_factory=empty_dict, sa_column=Column(JSONDict(sort_keys=True), nullable=False, default=dict))
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Folder(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "server_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    server_id: str = Field(max_length=64)  # the EAS ServerId / CollectionId
    parent_id: str = Field(default="0", max_length=64)  # "0" = mailbox root
    display_name: str = Field(max_length=256)
    type: int  # MS-ASCMD FolderHierarchy Type: 2 Inbox, 3 Drafts, ... 12 user mail
    created_seq: int = 0
    modified_seq: int = 0
    deleted: bool = False
    change_seq: int = 0  # last value handed to a change of an item in this folder


class Item(SQLModel, table=True):
    """A mail item: the RFC 5322 message as received plus the properties EAS serves."""

    __table_args__ = (
        UniqueConstraint("folder_id", "server_id"),
        Index("ix_item_folder_received", "folder_id", "date_received"),
    )
    id: int | None = Field(default=None, primary_key=True)
    folder_id: int = Field(foreign_key="folder.id", index=True)
    server_id: str = Field(max_length=64)  # "<collection>:<n>", unique in its folder
    message_class: str = Field(default="IPM.Note", max_length=128)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    sender: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    to: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    cc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reply_to: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    display_to: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    thread_topic: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    date_received: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    importance: int = 1
    read: bool = False
    flag_status: int = 0  # 0 cleared, 1 complete, 2 active
    flag_type: str = Field(default="", max_length=128)
    internet_cpid: int = 65001
    conversation_id: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    conversation_index: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    body_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attachments: list[dict] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    mime: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    size: int = 0
    bcc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # drafts: Email2:Bcc
    is_draft: bool = False  # Email2:IsDraft: created on a 16.x device, not sent yet
    # Calendar/Contacts/Tasks/Notes: the item's properties as eas.pim.tree keeps them (JSON); for
    # mail, the MeetingRequest of a meeting message.  `date_received` is then the date FilterType
    # compares with (a calendar item's last end, an incomplete task's far future).
    # None ("" in the column) for a plain mail; ensure_ascii=False is how the text was always written.
    pim: list | None = Field(default=None, sa_column=Column(JSONList(optional=True, ensure_ascii=False), nullable=False))
    uid: str = Field(default="", max_length=300, index=True)  # calendar:UID / iCalendar UID
    created_seq: int = 0
    modified_seq: int = 0


class ItemChange(SQLModel, table=True):
    """The change log of a folder.  `item_id` survives the item: a delete is a tombstone."""

    __table_args__ = (Index("ix_change_folder_seq", "folder_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    folder_id: int = Field(foreign_key="folder.id")
    seq: int
    item_id: int
    server_id: str = Field(max_length=64)
    kind: str = Field(max_length=8)  # "add" | "change" | "delete"
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    """A device partnership: one (user, DeviceId) pair."""

    __table_args__ = (UniqueConstraint("user_id", "device_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    device_id: str = Field(max_length=64)
    device_type: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=512)
    protocol_version: str = Field(default="", max_length=8)
    first_sync: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_sync: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hierarchy_key: str = Field(default="", max_length=64)
    hierarchy_prev_key: str = Field(default="", max_length=64)
    hierarchy_seq: int = 0  # the user's hierarchy_seq the current key stands for
    hierarchy_prev_seq: int = 0
    # The last full Sync and Ping requests, for empty and Partial requests (MS-ASCMD 2.2.3.134,
    # 2.2.3.107): WBXML bytes.
    cached_sync: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    ping_heartbeat: int = 0
    ping_folders: list | None = Field(default=None, sa_column=Column(JSONList(optional=True), nullable=False))
    # settings:DeviceInformation (Provision 14.1+, or Settings)
    model: str = Field(default="", max_length=256)
    imei: str = Field(default="", max_length=64)
    friendly_name: str = Field(default="", max_length=256)
    os: str = Field(default="", max_length=256)
    os_language: str = Field(default="", max_length=64)
    phone_number: str = Field(default="", max_length=64)
    mobile_operator: str = Field(default="", max_length=128)
    info_user_agent: str = Field(default="", max_length=512)
    recovery_password: str = Field(default="", max_length=256)  # Settings DevicePassword
    # Provisioning (MS-ASPROV): the temporary key of phase 1, the final key of phase 2.
    temp_policy_key: int | None = Field(default=None, sa_type=BigInteger)
    policy_key: int | None = Field(default=None, sa_type=BigInteger)
    policy_name: str = Field(default="", max_length=64)
    policy_status: str = Field(default="Unknown", max_length=32)  # AppliedInFull, PartiallyApplied, ...
    provisioned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Remote wipe: none | pending | sent | succeeded | failed
    wipe_state: str = Field(default="none", max_length=16)
    wipe_account_only: bool = False
    wipe_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wipe_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wipe_ack_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Clear-MobileDevice -NotificationEmailAddresses: told when the device confirms the wipe.
    wipe_notify: list[str] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    # Access control: the state stored after the device's last request (Exchange's
    # DeviceAccessState / Reason / ControlRule), and the step of the decision that set it.
    access_state: str = Field(default="Unknown", max_length=16)
    access_reason: str = Field(default="", max_length=32)  # 32: the auto-block behaviours
    access_rule: str = Field(default="", max_length=64)
    access_step: str = Field(default="", max_length=32)
    # An auto-block (eas.autoblock): the behaviour that tripped it and when it lifts.
    # (a server default: rows written by older code, or by hand, leave it out)
    autoblock_reason: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    autoblock_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    access_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ms_wl: str = Field(default="", max_length=1024)  # the X-MS-WL header of the last request (XMSWLHeader rules)
    quarantine_notice_id: int | None = None  # the Item holding the quarantine/block notice


class DeviceAccessChange(SQLModel, table=True):
    """Every change of a device's access state, with its time."""

    id: int | None = Field(default=None, primary_key=True)
    device_pk: int = Field(foreign_key="device.id", ondelete="CASCADE", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    old_state: str = Field(max_length=16)
    new_state: str = Field(max_length=16)
    reason: str = Field(default="", max_length=32)
    rule: str = Field(default="", max_length=64)
    step: str = Field(default="", max_length=32)


class OutboundMail(SQLModel, table=True):
    """Mail leaving for other domains: sent through the smarthost, retried, never dropped."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sender: str = Field(default="", max_length=320)
    recipients: list[str] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    mime: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    status: str = Field(default="queued", max_length=16)  # queued | sent | failed
    attempts: int = 0
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SyncState(SQLModel, table=True):
    """Where one device stands in one collection: the current and the previous SyncKey.

    `seq` is the position in the folder's change log the current key stands for.  While the
    first full download runs (`initial_cursor` set), items with created_seq <= `snapshot_seq` are
    paged out by id, and the log is read from `snapshot_seq` once they are done.  `last_response`
    is the response that handed out the current key, replayed if the device sends the previous
    key again (its answer was lost).
    """

    __table_args__ = (UniqueConstraint("device_pk", "collection_id"),)
    id: int | None = Field(default=None, primary_key=True)
    device_pk: int = Field(foreign_key="device.id", ondelete="CASCADE", index=True)
    collection_id: str = Field(max_length=64)
    sync_key: str = Field(max_length=64)
    prev_key: str = Field(default="", max_length=64)
    seq: int = 0
    snapshot_seq: int = 0
    initial_cursor: int | None = None
    window_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    options: dict = Field(default_factory=empty_dict, sa_column=Column(JSONDict, nullable=False, default=dict))  # SyncOptions
    # The Supported list sent with SyncKey 0 (MS-ASCMD 2.2.3.179); None ("" in the column) when none was sent.
    supported: list[str] | None = Field(default=None, sa_column=Column(JSONList(optional=True), nullable=False))
    last_response: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    # Items the device already holds from outside the change log (the quarantine notice): not
    # to be added a second time when normal sync resumes.  JSON list of Item ids.
    presented: list[int] = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
