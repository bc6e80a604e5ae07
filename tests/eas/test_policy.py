from datetime import datetime, timedelta, timezone

import pytest

from easlab.eas.policy import (
    PolicySettings, Provisioning, check, exchange_default, policy_key, provision_doc, wap_doc,
)
from easlab.eas.status import legacy_http
from easlab.eas.wbxml import E

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def test_units_and_unlimited_as_empty_elements():
    s = PolicySettings(PasswordEnabled=True, MinPasswordLength=6, MaxInactivityTimeLock=15, MaxAttachmentSize=1024,
                       PasswordExpiration=90, MaxEmailBodyTruncationSize=50, AllowBluetooth="HandsfreeOnly",
                       MaxEmailAgeFilter="TwoWeeks", MaxCalendarAgeFilter="SixMonths")
    doc = {c.name: c for c in provision_doc(s, "14.1").children}
    assert doc["DevicePasswordEnabled"].value == "1"
    assert doc["MinDevicePasswordLength"].value == "6"
    assert doc["MaxInactivityTimeDeviceLock"].value == "900"  # minutes -> seconds
    assert doc["MaxAttachmentSize"].value == "1048576"  # KB -> bytes
    assert doc["DevicePasswordExpiration"].value == "90"  # days
    assert doc["MaxDevicePasswordFailedAttempts"] == E("Provision:MaxDevicePasswordFailedAttempts")  # unlimited
    assert doc["MaxEmailBodyTruncationSize"].value == "50"
    assert doc["MaxEmailHTMLBodyTruncationSize"].value == "-1"
    assert doc["AllowBluetooth"].value == "1"
    assert doc["MaxEmailAgeFilter"].value == "4"
    assert doc["MaxCalendarAgeFilter"].value == "7"


def test_exchange_order_and_12_0_gets_only_group_a():
    names_12_0 = [c.name for c in provision_doc(exchange_default(), "12.0").children]
    assert names_12_0 == ["DevicePasswordEnabled", "AlphanumericDevicePasswordRequired", "PasswordRecoveryEnabled",
                          "RequireStorageCardEncryption", "AttachmentsEnabled", "MinDevicePasswordLength",
                          "MaxInactivityTimeDeviceLock", "MaxDevicePasswordFailedAttempts", "MaxAttachmentSize",
                          "AllowSimpleDevicePassword", "DevicePasswordExpiration", "DevicePasswordHistory"]
    names_12_1 = [c.name for c in provision_doc(exchange_default(), "12.1").children]
    assert names_12_1[:12] == names_12_0
    assert names_12_1[12:14] == ["AllowStorageCard", "AllowCamera"]
    assert names_12_1[-2:] == ["UnapprovedInROMApplicationList", "ApprovedApplicationList"]
    assert len(names_12_1) == 42


def test_key_is_stable_and_follows_the_document():
    s = exchange_default()
    assert policy_key(s, "14.1") == policy_key(PolicySettings.from_json(s.to_json()), "14.1")
    # 12.1 to 16.1 receive the same document, so the same key: no loop when a client changes version.
    assert len({policy_key(s, v) for v in ("12.1", "14.0", "14.1", "16.0", "16.1")}) == 1
    assert policy_key(s, "12.0") != policy_key(s, "14.1")
    changed = PolicySettings.from_json(s.to_json())
    changed.AllowCamera = False
    assert policy_key(changed, "14.1") != policy_key(s, "14.1")
    # A server-side setting does not change what the device holds, so not the key either.
    server_only = PolicySettings.from_json(s.to_json())
    server_only.DevicePolicyRefreshInterval = 24
    assert policy_key(server_only, "14.1") == policy_key(s, "14.1")
    assert 0 < policy_key(s, "14.1") < 2**32


def test_wap_document_for_2_5():
    doc = wap_doc(PolicySettings(PasswordEnabled=True, MinPasswordLength=4, MaxInactivityTimeLock=10, AlphanumericPasswordRequired=True))
    assert doc.startswith("<wap-provisioningdoc>")
    assert '<parm name="4131" value="0"/>' in doc  # 0 = password required
    assert '<parm name="AEFrequencyValue" value="10"/>' in doc  # minutes
    assert '<parm name="MinimumPasswordLength" value="4"/>' in doc
    assert '<parm name="PasswordComplexity" value="0"/>' in doc  # alphanumeric


STRICT = PolicySettings(PasswordEnabled=True)
KEY = policy_key(STRICT, "14.1")


@pytest.mark.parametrize(
    "settings, device, header, now, expected",
    [
        (None, Provisioning(), None, NOW, None),  # no policy: nothing required
        (STRICT, Provisioning(wipe_pending=True), KEY, NOW, 140),
        (STRICT, Provisioning(), None, NOW, 141),
        (exchange_default(), Provisioning(), None, NOW, None),  # AllowNonProvisionableDevices
        (STRICT, Provisioning(), 0, NOW, 142),
        (STRICT, Provisioning(), 1234, NOW, 142),  # never completed provisioning
        (STRICT, Provisioning(KEY, NOW), KEY, NOW, None),
        (STRICT, Provisioning(KEY, NOW), KEY + 1, NOW, 144),
        (PolicySettings(PasswordEnabled=True, DevicePolicyRefreshInterval=1), Provisioning(KEY, NOW - timedelta(hours=2)), KEY, NOW, 143),
        (PolicySettings(PasswordEnabled=True, DevicePolicyRefreshInterval=1), Provisioning(KEY, NOW - timedelta(minutes=30)), KEY, NOW, None),
    ],
)
def test_check(settings, device, header, now, expected):
    assert check(settings, device, header, "14.1", now) == expected


def test_legacy_http_mapping():
    assert legacy_http(140, key_header_sent=True) == 449
    assert legacy_http(140, key_header_sent=False) == 403
    assert legacy_http(141, key_header_sent=False) == 403
    assert [legacy_http(s, key_header_sent=True) for s in (142, 143, 144)] == [449, 449, 449]


def test_validation():
    with pytest.raises(ValueError):
        PolicySettings(MinPasswordLength=17).validate()
    with pytest.raises(ValueError):
        PolicySettings(AllowBluetooth="Sometimes").validate()
    PolicySettings(MaxPasswordFailedAttempts=None).validate()
