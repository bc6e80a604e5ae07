"""FEATURES: which protocol versions have which feature, written out per version so a wrong
change to the table fails; and the client quirks table."""
from __future__ import annotations

import pytest

from easlab.eas import versions
from easlab.eas.quirks import QUIRKS, has_quirk
from easlab.eas.versions import FEATURES, SUPPORTED, has

# feature: the versions that have it
EXPECTED = {
    "wap_policy_doc": {"2.5"},
    "sync_class_element": {"2.5", "12.0", "12.1"},
    "airsyncbase_body": {"12.0", "12.1", "14.0", "14.1", "16.0", "16.1"},
    "mailbox_search": {"12.0", "12.1", "14.0", "14.1", "16.0", "16.1"},
    "empty_sync_response": {"12.1", "14.0", "14.1", "16.0", "16.1"},
    "externally_managed": {"12.1", "14.0", "14.1", "16.0", "16.1"},
    "status_in_body": {"14.0", "14.1", "16.0", "16.1"},
    "compose_wbxml": {"14.0", "14.1", "16.0", "16.1"},
    "body_preview": {"14.0", "14.1", "16.0", "16.1"},
    "conversations": {"14.0", "14.1", "16.0", "16.1"},
    "estimate_options": {"14.0", "14.1", "16.0", "16.1"},
    "availability": {"14.0", "14.1", "16.0", "16.1"},
    "instance_id": {"14.1", "16.0", "16.1"},
    "body_part": {"14.1", "16.0", "16.1"},
    "device_information_required": {"14.1", "16.0", "16.1"},
    "pictures": {"14.1", "16.0", "16.1"},
    "rights_management": {"14.1", "16.0", "16.1"},
    "accounts": {"14.1", "16.0", "16.1"},
    "drafts_over_sync": {"16.0", "16.1"},
    "send_response": {"16.0", "16.1"},
    "airsyncbase_location": {"16.0", "16.1"},
    "calendar_text_or_html_body": {"16.0", "16.1"},
    "calendar_keeps_omitted": {"16.0", "16.1"},
    "account_only_wipe": {"16.1"},
}


def test_every_feature_is_listed():
    assert set(FEATURES) == set(EXPECTED)


@pytest.mark.parametrize("feature", sorted(EXPECTED))
def test_feature_per_version(feature):
    assert {v for v in SUPPORTED if has(v, feature)} == EXPECTED[feature]


def test_within_and_since():
    assert versions.within("14.0", "12.1") and not versions.within("12.0", "12.1")
    assert versions.within("12.1", "2.5", "12.1") and not versions.within("14.0", "2.5", "12.1")
    assert versions.since("instance_id") == "14.1"


def test_an_unknown_feature_is_an_error():
    with pytest.raises(KeyError):
        has("16.1", "no_such_feature")


def test_the_wbxml_table_uses_the_supported_versions():
    from easlab.eas.wbxml import VERSIONS

    assert VERSIONS is SUPPORTED


@pytest.mark.parametrize("device_type, user_agent, expected", [
    ("iPhone", "Apple-iPhone9C1/1602.92", True), ("iPad", None, True), ("IPOD", "", True),
    ("Outlook", "Apple-Mac/1.0", True), ("Android", "Android-Mail/2024", False), ("WindowsMail", "MSFT-WIN-3/10", False),
])
def test_the_body_opaque_quirk(device_type, user_agent, expected):
    assert set(QUIRKS) == {"body_opaque"}  # the name eas/profiles.py gives the quirk
    assert has_quirk("body_opaque", device_type, user_agent) is expected

