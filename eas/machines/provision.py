"""Provision's decision (MS-ASPROV): policy download, acknowledgement, remote wipe.

Rules:

1. A remote wipe comes first: while one is pending or sent (eas.machines.wipe), an acknowledgement
   of it is recorded, and any other Provision gets the directive (Status 2 when the device tried
   to acknowledge a policy instead).
2. Otherwise the request must name a policy type; an unknown type gets Policy Status 3, the type of
   another protocol version is a protocol error.
3. Without a PolicyKey it is the download phase: 14.1 and later must send DeviceInformation with a
   Model (165); the device gets a temporary key, never equal to the final one.
4. With a PolicyKey it is the acknowledgement: it must be the temporary key (else Policy Status 5);
   the device's Status says how it applied the policy (partly, externally managed: refused unless
   the policy allows it), and the final key is handed out.

`decide` is a pure function of the request and a ProvisionView (the device's provisioning state
and its policy); the store runs it inside one transaction and applies the ProvisionUpdate it
returns, so two racing Provisions cannot both win.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .. import versions
from ..policy import (
    POLICY_TYPE_WAP, POLICY_TYPE_WBXML, PolicySettings, policy_key, policy_type_for, provision_doc, wap_doc,
)
from ..status import Common
from ..wbxml import E, Element
from . import wipe

P, S = "Provision", "Settings"
SUCCESS, PROTOCOL_ERROR = 1, 2
POLICY_OK, POLICY_NONE, POLICY_UNKNOWN_TYPE, POLICY_KEY_MISMATCH = 1, 2, 3, 5
NOT_FULLY_PROVISIONABLE = Common.DeviceNotFullyProvisionable
EXTERNALLY_MANAGED_NOT_ALLOWED = Common.ExternallyManagedDevicesNotAllowed
DEVICE_INFORMATION_REQUIRED = Common.DeviceInformationRequired
DEVICE_INFO_FIELDS = {
    "Model": "model", "IMEI": "imei", "FriendlyName": "friendly_name", "OS": "os", "OSLanguage": "os_language",
    "PhoneNumber": "phone_number", "MobileOperator": "mobile_operator", "UserAgent": "info_user_agent",
}
APPLICATION_STATUS = {1: "AppliedInFull", 2: "PartiallyApplied", 3: "NotApplied", 4: "ExternallyManaged"}


@dataclass
class ProvisionView:
    version: str
    settings: PolicySettings | None
    policy_name: str
    temp_policy_key: int | None
    wipe_state: str  # eas.machines.wipe.State
    wipe_account_only: bool
    new_temp_key: int  # a fresh random non-zero uint32 the store drew for this request
    now: datetime


@dataclass
class ProvisionUpdate:
    fields: dict = field(default_factory=dict)  # Device columns to set
    wipe_confirmation: bool = False  # put the wipe confirmation mail in the owner's Inbox


def device_information(tree: Element) -> dict | None:
    info = tree.find(f"{S}:DeviceInformation")
    if info is None:
        return None
    values = info.find(f"{S}:Set")
    if values is None:
        return {}
    return {column: values.text(f"{S}:{name}") or "" for name, column in DEVICE_INFO_FIELDS.items() if values.has(f"{S}:{name}")}


def _policy_response(policy_type: str, status: int, key: int | None = None, data: Element | str | None = None) -> Element:
    parts = [E(f"{P}:PolicyType", policy_type), E(f"{P}:Status", status)]
    if key is not None:
        parts.append(E(f"{P}:PolicyKey", str(key)))
    if isinstance(data, Element):
        parts.append(E(f"{P}:Data", data))
    elif data is not None:
        parts.append(E(f"{P}:Data", data))
    return E(f"{P}:Policies", E(f"{P}:Policy", *parts))


def _wipe_element(view: ProvisionView) -> Element:
    if view.wipe_account_only and wipe.account_only_supported(view.version):
        return E(f"{P}:AccountOnlyRemoteWipe")
    return E(f"{P}:RemoteWipe")


def decide(tree: Element | None, view: ProvisionView) -> tuple[Element | int, ProvisionUpdate]:
    """The response (an Element, or a common status code) and what to store."""
    update = ProvisionUpdate()
    version = view.version
    tree = tree if tree is not None else E(f"{P}:Provision")
    wipe_pending = view.wipe_state in wipe.PENDING

    # Acknowledgement of a remote wipe.
    ack = tree.find(f"{P}:RemoteWipe")
    if ack is None:
        ack = tree.find(f"{P}:AccountOnlyRemoteWipe")
    if ack is not None and wipe_pending:
        ok = ack.text(f"{P}:Status") == "1"
        update.fields.update(wipe_state=wipe.next_state(view.wipe_state, wipe.Input.ACK_OK if ok else wipe.Input.ACK_FAIL),
                             wipe_ack_at=view.now)
        update.wipe_confirmation = ok
        if ok:
            return E(f"{P}:Provision", E(f"{P}:Status", SUCCESS)), update
        return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR), _wipe_element(view)), update

    policy_el = tree.find(f"{P}:Policies")
    policy_el = policy_el.find(f"{P}:Policy") if policy_el is not None else None
    acked_key = policy_el.text(f"{P}:PolicyKey") if policy_el is not None else None

    if wipe_pending:
        # MS-ASPROV 3.2.5.1.2: the wipe directive answers any Provision until it is acknowledged;
        # an acknowledgement phase that ignores it gets it again with Status 2.
        update.fields.update(wipe_state=wipe.next_state(view.wipe_state, wipe.Input.PROVISION))
        if view.wipe_state == wipe.State.PENDING:
            update.fields["wipe_sent_at"] = view.now
        status = PROTOCOL_ERROR if acked_key is not None else SUCCESS
        return E(f"{P}:Provision", E(f"{P}:Status", status), _wipe_element(view)), update

    if policy_el is None:
        return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR)), update
    policy_type = policy_el.text(f"{P}:PolicyType")
    if not policy_type:
        return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR)), update
    if policy_type not in (POLICY_TYPE_WBXML, POLICY_TYPE_WAP):
        return E(f"{P}:Provision", E(f"{P}:Status", SUCCESS), _policy_response(policy_type, POLICY_UNKNOWN_TYPE)), update
    if policy_type != policy_type_for(version):
        # Exchange: a version other than 2.5 asking for the WAP document is a protocol error.
        return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR)), update

    if acked_key is None:
        return _download(tree, view, policy_type, update)
    return _acknowledge(policy_el, view, policy_type, acked_key, update)


def _download(tree: Element, view: ProvisionView, policy_type: str, update: ProvisionUpdate):
    version = view.version
    info = device_information(tree)
    head: list[Element] = []
    if versions.has(version, "device_information_required"):
        if not info or not info.get("model"):
            return DEVICE_INFORMATION_REQUIRED, update
    if info is not None:
        update.fields.update(info)
        head.append(E(f"{S}:DeviceInformation", E(f"{S}:Status", 1)))
    if view.settings is None:
        return E(f"{P}:Provision", *head, E(f"{P}:Status", SUCCESS), _policy_response(policy_type, POLICY_NONE)), update
    temp = view.new_temp_key
    if temp == policy_key(view.settings, version):
        temp ^= 0x5A5A5A5A  # never hand out the final key as a temporary one
    update.fields["temp_policy_key"] = temp
    data = wap_doc(view.settings) if versions.has(version, "wap_policy_doc") else provision_doc(view.settings, version)
    return E(f"{P}:Provision", *head, E(f"{P}:Status", SUCCESS), _policy_response(policy_type, POLICY_OK, temp, data)), update


def _acknowledge(policy_el: Element, view: ProvisionView, policy_type: str, acked_key: str, update: ProvisionUpdate):
    version = view.version
    if view.temp_policy_key is None or acked_key != str(view.temp_policy_key):
        return E(f"{P}:Provision", E(f"{P}:Status", SUCCESS), _policy_response(policy_type, POLICY_KEY_MISMATCH)), update
    try:
        client_status = int(policy_el.text(f"{P}:Status") or "1")
    except ValueError:
        return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR)), update
    settings = view.settings or PolicySettings()
    if client_status == 2 and not settings.AllowNonProvisionableDevices:
        update.fields.update(policy_status="PartiallyApplied", temp_policy_key=None)
        return NOT_FULLY_PROVISIONABLE, update
    if client_status == 4:
        if not versions.has(version, "externally_managed"):
            return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR)), update
        if not settings.AllowExternalDeviceManagement:
            update.fields.update(policy_status="ExternallyManaged", temp_policy_key=None)
            return EXTERNALLY_MANAGED_NOT_ALLOWED, update
    if client_status not in APPLICATION_STATUS:
        return E(f"{P}:Provision", E(f"{P}:Status", PROTOCOL_ERROR)), update
    update.fields.update(policy_status=APPLICATION_STATUS[client_status], temp_policy_key=None, policy_name=view.policy_name)
    if client_status == 3:
        return E(f"{P}:Provision", E(f"{P}:Status", SUCCESS), _policy_response(policy_type, POLICY_OK)), update
    final = policy_key(settings, version)
    update.fields.update(policy_key=final, provisioned_at=view.now)
    return E(f"{P}:Provision", E(f"{P}:Status", SUCCESS), _policy_response(policy_type, POLICY_OK, final)), update
