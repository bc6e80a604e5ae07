"""The JSON schemas of /api's bodies and answers (components/schemas of /api/openapi.json)."""
from __future__ import annotations

from easlab.eas.autoblock import BEHAVIORS, LIMITS as AUTOBLOCK_LIMITS
from easlab.eas.machines import wipe
from easlab.eas.throttling import LIMITS as THROTTLING_LIMITS
from easlab.eas.machines.access import ACCESS_LEVELS, CHARACTERISTICS
from easlab.storage.faults import FAULT_KINDS

from ..admin import ROLES


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array(schema: dict) -> dict:
    return {"type": "array", "items": schema}


STR, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
NSTR = {"type": ["string", "null"]}
DEVICE_FIELDS = {
    **{k: STR for k in ("user", "display_name", "device_id", "device_type", "model", "os", "user_agent", "friendly_name",
                        "imei", "phone_number", "protocol_version", "access_state", "access_reason", "access_rule",
                        "access_step", "policy", "policy_status", "autoblock_reason")},
    "autoblock_until": {"type": ["string", "null"], "format": "date-time",
                        "description": "when an auto-block (autoblock_reason) lifts; it may have passed"},
    "wipe": {"type": "string", "enum": sorted({name for names in wipe.STATUS.values() for name in names})},
    **{k: {"type": ["string", "null"], "format": "date-time"} for k in ("first_sync", "last_sync", "access_changed_at",
                                                                         "wipe_requested_at", "wipe_sent_at", "wipe_ack_at")},
    "policy_key": {"type": ["integer", "null"]}, "wipe_account_only": BOOL, "wipe_pending": BOOL, "wipe_cancellable": BOOL,
    "wipe_notification_emails": array(STR),
    "allowed_individually": BOOL, "blocked_individually": BOOL,
    "pending_state": {"type": ["string", "null"], "enum": ["Allowed", "Blocked", None],
                      "description": "the state the user's allowed or blocked list gives the device at its next request, "
                                     "while the stored access_state is still another"},
}
SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": STR}},
    "Me": {"type": "object", "properties": {"user": STR, "role": {"type": ["string", "null"], "enum": [*ROLES, None]},
                                            "permissions": array(STR), "csrf": STR}},
    "Org": {"type": "object", "properties": {
        "default_access": {"type": "string", "enum": list(ACCESS_LEVELS)}, "admin_mail_recipients": array(STR),
        "valid_admin_mail_recipients": array(STR), "user_mail_insert": STR, "max_devices": INT, "blocked_delay": INT,
        "discovery_minutes": INT, "warnings": array(STR)}},
    "OrgPatch": {"type": "object", "additionalProperties": False, "properties": {
        "default_access": {"type": "string", "description": "allow, block or quarantine (any case)"},
        "admin_mail": array(STR), "user_mail_insert": {"type": "string", "maxLength": 256},
        "max_devices": {"type": "integer", "minimum": 1, "maximum": 10000},
        "blocked_delay": {"type": "integer", "minimum": 0, "maximum": 59},
        "discovery_minutes": {"type": "integer", "minimum": 0, "maximum": 1440}}},
    "Throttling": {"type": "object", "properties": {
        "policy": {"type": "object", "properties": {**{name: {"type": ["integer", "null"]} for name in THROTTLING_LIMITS},
                                                    "budgeted": BOOL}},
        "autoblock": array({"type": "object", "properties": {
            "behavior": {"type": "string", "enum": list(BEHAVIORS)}, "incidence_limit": INT, "incidence_duration": INT,
            "block_duration": INT, "admin_email_insert": STR}})}},
    "ThrottlingPatch": {"type": "object", "additionalProperties": False, "properties": {
        name: {"type": ["integer", "null"], "minimum": low, "maximum": high, "description": "null: Unlimited"}
        for name, (low, high) in THROTTLING_LIMITS.items()}},
    "AutoblockPatch": {"type": "object", "additionalProperties": False, "properties": {
        **{name: {"type": "integer", "minimum": low, "maximum": high} for name, (low, high) in AUTOBLOCK_LIMITS.items()},
        "admin_email_insert": {"type": "string", "maxLength": 256}}},
    "Rule": {"type": "object", "properties": {"name": STR, "characteristic": {"type": "string", "enum": list(CHARACTERISTICS)},
                                              "query": STR, "access_level": {"type": "string", "enum": list(ACCESS_LEVELS)},
                                              "created_at": {"type": "string", "format": "date-time"}}},
    "RuleNew": {"type": "object", "additionalProperties": False, "required": ["characteristic", "query", "access_level"],
                "properties": {"characteristic": {"type": "string", "enum": list(CHARACTERISTICS)},
                               "query": {"type": "string", "minLength": 1, "maxLength": 1024},
                               "access_level": {"type": "string", "enum": list(ACCESS_LEVELS)}}},
    "RulePatch": {"type": "object", "additionalProperties": False, "required": ["access_level"],
                  "properties": {"access_level": {"type": "string", "enum": list(ACCESS_LEVELS)}}},
    "Device": {"type": "object", "properties": DEVICE_FIELDS},
    "DeviceDetail": {"allOf": [ref("Device"), {"type": "object", "properties": {"history": array({
        "type": "object", "properties": {"at": STR, "from": STR, "to": STR, "reason": STR, "rule": STR, "step": STR}})}}]},
    "Lists": {"type": "object", "properties": {"user": STR, "allowed": array(STR), "blocked": array(STR)}},
    "Wipe": {"type": "object", "additionalProperties": False,
             "properties": {"account_only": {"type": "boolean", "description": "EAS 16.1 devices only"},
                            "cancel": {"type": "boolean", "description": "withdraw a wipe not yet sent"},
                            "notification_emails": {**array(STR), "description": "told when the device confirms the wipe "
                                                                             "(Clear-MobileDevice -NotificationEmailAddresses)"}}},
    "Explain": {"type": "object", "properties": {"user": STR, "device_id": STR, "known": BOOL, "state": NSTR, "reason": STR,
                                                 "rule": NSTR, "step": STR, "path": array(STR), "stored_state": NSTR,
                                                 "autoblock_until": {"type": ["string", "null"], "format": "date-time"}}},
    "Revoke": {"type": "object", "additionalProperties": False,
               "properties": {"device_id": {"type": ["string", "null"], "description": "omit or null: every device"}}},
    "Revoked": {"type": "object", "properties": {"user": STR, "revoked": array(STR)}},
    "PolicyAssign": {"type": "object", "additionalProperties": False, "required": ["policy"], "properties": {"policy": STR}},
    "PolicyAssigned": {"type": "object", "properties": {"user": STR, "policy": STR}},
    "PolicySummary": {"type": "object", "properties": {"name": STR, "default": BOOL, "users": INT, "changed_at": STR}},
    "Policy": {"allOf": [ref("PolicySummary"), {"type": "object", "properties": {
        "settings": {"type": "object", "description": "Exchange MobileDeviceMailboxPolicy parameters; null = unlimited"},
        "version": STR, "policy_key": INT, "document": {"type": "string", "description": "the EASProvisionDoc as XML"}}}]},
    "PolicyNew": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64}, "settings": {"type": "object"}, "default": BOOL}},
    "PolicyPatch": {"type": "object", "additionalProperties": False, "properties": {
        "settings": {"type": "object"}, "default": {"type": "boolean", "const": True}}},
    "Outbound": {"type": "object", "properties": {
        "id": INT, "created_at": STR, "sender": STR, "recipients": array(STR), "subject": STR, "size": INT, "status": STR,
        "attempts": INT, "last_error": STR, "next_attempt_at": NSTR, "sent_at": NSTR}},
    "MailboxUser": {"type": "object", "properties": {
        "name": STR, "address": STR, "display_name": STR, "role": {"type": ["string", "null"], "enum": [*ROLES, None]},
        "activesync": BOOL, "devices": {"type": "integer", "description": "device partnerships"}}},
    "Folder": {"type": "object", "properties": {
        "server_id": STR, "parent_id": {"type": "string", "description": "0: the mailbox root"}, "name": STR,
        "type": {"type": "integer", "description": "MS-ASCMD FolderHierarchy Type"}, "type_name": STR, "class": STR,
        "item_count": INT, "change_seq": {"type": "integer", "description": "the last number of the folder's change log"},
        "depth": {"type": "integer", "description": "nesting level; the list is in tree order"}}},
    "ItemSummary": {"type": "object", "properties": {
        "id": INT, "server_id": STR, "subject": STR, "from": STR, "to": STR, "date": {"type": "string", "format": "date-time"},
        "read": BOOL, "flag": {"type": "integer", "description": "0 cleared, 1 complete, 2 active"},
        "size": {"type": "integer", "description": "bytes of MIME"}, "has_attachments": BOOL}},
    "ItemPage": {"type": "object", "properties": {
        "user": STR, "folder": {"type": "object", "properties": {"server_id": STR, "name": STR, "type": INT,
                                                                 "change_seq": INT}},
        "total": INT, "limit": INT, "before": {"type": ["string", "null"]},
        "next_before": {"type": ["string", "null"],
                        "description": "pass as before= for the next (older) page: the DateReceived and id of this page's "
                                       "last item (the items are newest first by DateReceived, then id)"},
        "items": array(ref("ItemSummary"))}},
    "Attachment": {"type": "object", "properties": {
        "index": INT, "name": STR, "content_type": STR, "size": INT, "content_id": STR, "inline": BOOL,
        "method": {"type": "integer", "description": "1 normal, 5 embedded message"},
        "url": {"type": "string", "description": "where the bytes are (this API)"}}},
    "Item": {"allOf": [ref("ItemSummary"), {"type": "object", "properties": {
        "user": STR, "folder": {"type": "object", "properties": {"server_id": STR, "name": STR, "type": INT}},
        "message_class": STR, "cc": STR, "reply_to": STR, "display_to": STR, "thread_topic": STR, "importance": INT,
        "flag_type": STR, "internet_cpid": INT, "conversation_id": {"type": "string", "description": "hex"},
        "conversation_index": {"type": "string", "description": "hex"}, "created_seq": INT, "modified_seq": INT,
        "body_text": STR, "body_html": {"type": "string", "description": "the message's own HTML: untrusted"},
        "attachments": array(ref("Attachment")),
        "headers": {"type": "array", "description": "the MIME header fields in order, [name, value] decoded",
                    "items": {"type": "array", "items": STR, "minItems": 2, "maxItems": 2}},
        "mime_url": STR,
        "properties": {"type": ["array", "null"], "description": (
            "calendar, contact, task or note properties (or a meeting mail's MeetingRequest) as stored: "
            "[tag, value] pairs, value a string, null (empty element) or more pairs; null for plain mail"),
            "items": {"type": "array", "minItems": 2, "maxItems": 2}},
        "uid": {"type": "string", "description": "the meeting's iCalendar UID (calendar items, meeting mail)"}}}]},
    "CollectionState": {"type": "object", "properties": {
        "collection_id": STR, "folder": NSTR, "folder_deleted": BOOL, "sync_key": STR, "prev_key": NSTR,
        "seq": {"type": "integer", "description": "the device's position in the folder's change log"},
        "change_seq": {"type": ["integer", "null"], "description": "the folder's last change number"},
        "behind": {"type": ["integer", "null"], "description": "change_seq - seq"},
        "initial": {"type": "boolean", "description": "the first download is still being paged out"},
        "initial_cursor": {"type": ["integer", "null"]}, "snapshot_seq": INT,
        "pending": {"type": ["integer", "null"],
                    "description": "items the device has still to receive (GetItemEstimate's count, any FilterType)"},
        "options": {"type": "object", "description": "the collection's stored Sync options"},
        "window_start": {"type": ["string", "null"], "format": "date-time"}}},
    "SyncState": {"type": "object", "properties": {
        "user": STR, "device_id": STR, "protocol_version": STR, "last_sync": NSTR,
        "hierarchy": {"type": "object", "properties": {
            "sync_key": NSTR, "prev_key": NSTR, "seq": INT, "user_seq": INT, "behind": {"type": ["integer", "null"]}}},
        "collections": array(ref("CollectionState"))}},
}
BINARY = {"type": "string", "format": "binary"}
BINARY = {"type": "string", "format": "binary"}

FAULT = {"type": "object", "properties": {
    "id": INT, "kind": {"type": "string", "enum": list(FAULT_KINDS)}, "user": NSTR, "device_id": NSTR, "command": NSTR,
    "params": {"type": "object"}, "remaining": {"type": ["integer", "null"], "description": "hits left; null: no count"},
    "expires_at": NSTR, "created_at": NSTR, "hits": INT, "last_hit_at": NSTR, "state": STR}}
TRACE_BOUNDS = {"max_entries": {"type": ["integer", "null"], "minimum": 1},
                "max_bytes": {"type": ["integer", "null"], "minimum": 1}}
TRACE_STATE = {"user": STR, "device_id": STR, "enabled": BOOL, **TRACE_BOUNDS, "dropped": INT}
CARRIES_MIME = {"mime": {"type": "string", "contentEncoding": "base64", "description": "only with mime=1"}}
SCHEMAS.update({
    "Fault": FAULT,
    "FaultNew": {"type": "object", "additionalProperties": False, "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": list(FAULT_KINDS)}, "user": NSTR, "device_id": NSTR,
        "command": {"type": ["string", "null"], "description": "an EAS command; null: any"},
        "count": {"type": ["integer", "null"], "description": "how many requests it hits"},
        "seconds": {"type": ["number", "null"], "description": "how long it lasts"},
        "params": {"type": ["object", "null"], "description": "the kind's parameters"}}},
    "Removed": {"type": "object", "properties": {"removed": INT}},
    "Trace": {"type": "object", "properties": {
        **TRACE_STATE, "bytes": INT, "entries": array({"type": "object", "description": "one recorded exchange"})}},
    "TraceState": {"type": "object", "properties": TRACE_STATE},
    "TraceSwitch": {"type": "object", "additionalProperties": False, "required": ["enabled"],
                    "properties": {"enabled": BOOL, **TRACE_BOUNDS}},
    "TraceBounds": {"type": "object", "additionalProperties": False, "properties": TRACE_BOUNDS},
    "Mail": {"type": "object", "properties": {
        "id": INT, "user": STR, "folder": STR, "server_id": STR, "subject": STR, "sender": STR, "to": STR, "cc": STR,
        "date_received": NSTR, "message_class": STR, "read": BOOL, "body_text": STR, "body_html": STR, "size": INT,
        **CARRIES_MIME}},
    "OutboundMessage": {"type": "object", "properties": {
        "id": INT, "sender": STR, "recipients": array(STR), "subject": STR, "status": STR, "attempts": INT,
        "created_at": NSTR, **CARRIES_MIME}},
    "Clock": {"type": "object", "properties": {
        "now": {"type": "string", "format": "date-time"}, "monotonic": {"type": "number"},
        "pending": {"type": "integer", "description": "timers asleep on the clock (held Pings, retries, ...)"}}},
    "ClockAdvance": {"type": "object", "additionalProperties": False, "required": ["seconds"],
                     "properties": {"seconds": {"type": "number", "minimum": 0}}},
    "ClockSet": {"type": "object", "additionalProperties": False, "required": ["now"],
                 "properties": {"now": {"type": "string", "format": "date-time", "description": "with its offset"}}},
    "Held": {"type": "object", "properties": {"user": STR, "device_id": STR, "held": BOOL, "held_total": INT}},
    "Timeout": {"type": "object", "required": ["error"], "properties": {
        "error": {"const": "timeout"}, "detail": STR, "timeout": {"type": "number"}, "condition": {"type": "object"}}},
    "Document": {"type": "object", "properties": {
        "path": STR, "link": {"type": "string", "description": "the UNC LinkId devices use"}, "folder": BOOL,
        "hidden": BOOL, "size": INT, "content_type": NSTR, "readers": array(STR),
        "created": {"type": "string", "format": "date-time"}, "modified": {"type": "string", "format": "date-time"}}},
    "Rights": {"type": "object", "properties": {"enabled": BOOL, "templates": array({"type": "object", "properties": {
        "template_id": STR, "name": STR, "description": STR, "builtin": BOOL, "expiry_days": {"type": ["integer", "null"]},
        **{right: BOOL for right in ("edit", "export", "extract", "forward", "print", "programmatic", "reply",
                                     "reply_all")}}})}},
    "RightsTemplateNew": {"type": "object", "additionalProperties": False, "required": ["template_id", "name"],
                          "properties": {"template_id": {"type": "string", "format": "uuid"}, "name": STR,
                                         "description": STR, "allow": {**array(STR), "description": "rights recipients get"},
                                         "expiry_days": {"type": "integer", "minimum": 1}}},
    "RightsPatch": {"type": "object", "additionalProperties": False, "required": ["enabled"],
                    "properties": {"enabled": BOOL}},
    "DocumentPut": {"type": "object", "additionalProperties": False, "properties": {
        "content": {"type": "string", "contentEncoding": "base64", "description": "the document; absent for a folder"},
        "folder": BOOL, "content_type": STR, "hidden": BOOL,
        "readers": {**array(STR), "description": "who may read it; empty: everyone"}}},
})
