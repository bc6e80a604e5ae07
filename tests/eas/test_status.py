"""The one encoder of a common status (MS-ASCMD 2.2.2; Exchange's per-version rule, access model
§5.1): every code in every version, from a table written out here so a wrong change to
eas/status.py fails."""
from __future__ import annotations

import pytest

from easlab.eas.status import COMMON, Common, encode, in_body, legacy_http
from easlab.eas.versions import SUPPORTED
from easlab.eas.wbxml import E

# code: (first version with it in the body, HTTP status without a body)
EXPECTED = {
    101: ("14.0", 400), 102: ("14.0", 400), 103: ("14.0", 400), 104: ("14.0", 400), 105: ("14.0", 400),
    106: ("14.0", 400), 107: ("14.0", 400), 108: ("14.0", 400), 109: ("14.0", 400), 110: ("14.0", 500),
    111: ("14.0", 503), 112: ("14.0", 403), 113: ("14.0", 507), 114: ("14.0", 500), 115: ("14.0", 500),
    116: ("14.0", 500), 117: ("14.0", 500), 118: ("14.0", 500), 119: ("14.0", 500), 120: ("14.0", 500),
    121: ("14.0", 500), 122: ("14.0", 500), 123: ("14.0", 403), 124: ("14.0", 403), 125: ("14.0", 403),
    126: ("14.0", 403), 127: ("14.0", 403), 128: ("14.0", 403), 129: ("14.0", 403), 130: ("14.0", 403),
    131: ("14.0", 403), 132: ("14.0", 403), 133: ("14.0", 500), 134: ("14.0", 500), 135: ("14.0", 500),
    136: ("14.0", 500), 137: ("14.0", 501), 138: ("14.0", 400), 139: ("14.0", 403), 140: ("14.0", 449),
    141: ("14.0", 403), 142: ("14.0", 449), 143: ("14.0", 449), 144: ("14.0", 449), 145: ("14.0", 403),
    146: ("14.0", 500), 147: ("14.0", 400), 148: ("14.0", 500), 149: ("14.0", 500), 150: ("14.0", 500),
    151: ("14.0", 500), 152: ("14.0", 500), 153: ("14.0", 500), 154: ("14.0", 500), 155: ("14.0", 500),
    156: ("14.0", 500), 160: ("14.0", 500), 161: ("14.0", 500), 162: ("14.0", 500), 163: ("14.0", 500),
    164: ("14.1", 500), 165: ("14.1", 500), 166: ("14.1", 500), 167: ("14.1", 500), 168: ("14.1", 500),
    169: ("14.1", 500), 170: ("14.1", 500), 171: ("14.1", 500), 172: ("14.1", 500), 173: ("14.1", 500),
    174: ("14.1", 500), 175: ("14.1", 500), 176: ("14.1", 500), 177: ("14.1", 403), 178: ("16.0", 500),
    179: ("16.0", 500), 183: ("16.0", 500), 184: ("16.0", 500),
}
ORDER = {v: i for i, v in enumerate(SUPPORTED)}


def test_the_table_holds_every_common_code_and_only_those():
    assert sorted(EXPECTED) == sorted(int(c) for c in Common) == sorted(int(c) for c in COMMON)


@pytest.mark.parametrize("version", SUPPORTED)
@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_encoding_per_version(code, version):
    since, http = EXPECTED[code]
    response = encode(code, version, "AirSync:Sync")
    if ORDER[version] >= ORDER[since]:
        assert (response.status, response.body) == (200, E("AirSync:Sync", E("AirSync:Status", code)))
    else:
        assert (response.status, response.body) == (http, None)
    assert in_body(code, version) == (ORDER[version] >= ORDER[since])


@pytest.mark.parametrize("version", SUPPORTED)
def test_a_command_without_an_xml_root_gets_the_http_status(version):
    assert (encode(110, version, None).status, encode(110, version, None).body) == (500, None)
    assert encode(142, version, None).status == 449


def test_remote_wipe_is_403_to_a_client_that_sent_no_policy_key():
    assert encode(140, "12.1", "AirSync:Sync", key_header_sent=False).status == 403
    assert encode(140, "12.1", "AirSync:Sync", key_header_sent=True).status == 449
    assert encode(140, "14.0", "AirSync:Sync", key_header_sent=False).body == E("AirSync:Sync", E("AirSync:Status", 140))


@pytest.mark.parametrize("root, code, http", [
    ("ComposeMail:SendMail", 106, 500), ("ComposeMail:SmartReply", 106, 500), ("ComposeMail:SmartForward", 106, 500),
    ("AirSync:Sync", 106, 400), ("Provision:Provision", 132, 500), ("AirSync:Sync", 132, 403),
])
def test_ms_ascmd_names_other_http_statuses_in_some_commands(root, code, http):
    assert legacy_http(code, root) == http
    assert encode(code, "12.1", root).status == http


def test_the_body_is_in_the_commands_namespace_and_headers_are_kept():
    response = encode(129, "14.1", "FolderHierarchy:FolderSync", headers={"X-MS-ASThrottle": "DeviceRule"})
    assert response.body == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 129))
    assert response.headers == {"X-MS-ASThrottle": "DeviceRule"}
    assert encode(129, "12.1", "FolderHierarchy:FolderSync", headers={"X-MS-ASThrottle": "DeviceRule"}).headers == {
        "X-MS-ASThrottle": "DeviceRule"}


def test_an_unknown_code_is_refused():
    with pytest.raises(ValueError):
        encode(157, "14.1", "AirSync:Sync")
