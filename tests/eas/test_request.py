import base64
import struct

import pytest

from easlab.eas.request import RequestError, parse_request_line

H = {"ms-asprotocolversion": "14.1", "x-ms-policykey": "123", "user-agent": "Apple-iPhone/1"}


def test_plain_query_fields():
    line = parse_request_line("Cmd=Sync&User=alice&DeviceId=ABC123&DeviceType=iPhone", H)
    assert (line.command, line.user, line.device_id, line.device_type) == ("Sync", "alice", "ABC123", "iPhone")
    assert line.protocol_version == "14.1"
    assert line.policy_key == 123
    assert line.user_agent == "Apple-iPhone/1"
    assert not line.encoded_query


def test_plain_query_parameter_names_any_case_and_order():
    line = parse_request_line("deviceType=SP&DEVICEID=x1&cmd=SmartReply&ItemId=5%3A3&CollectionId=5&SaveInSent=T", H)
    assert line.command == "SmartReply"
    assert line.device_id == "x1"
    assert line.params == {"ItemId": "5:3", "CollectionId": "5", "SaveInSent": "T"}
    assert line.save_in_sent


def test_no_policy_key_header_is_none_not_zero():
    line = parse_request_line("Cmd=Provision&DeviceId=a&DeviceType=b", {"ms-asprotocolversion": "12.1"})
    assert line.policy_key is None
    line = parse_request_line("Cmd=Provision&DeviceId=a&DeviceType=b", {"ms-asprotocolversion": "12.1", "x-ms-policykey": "0"})
    assert line.policy_key == 0


@pytest.mark.parametrize(
    "query, headers, status",
    [
        ("Cmd=Sync&DeviceId=a&DeviceType=b", {}, 400),  # no MS-ASProtocolVersion
        ("Cmd=Sync&DeviceId=a&DeviceType=b", {"ms-asprotocolversion": "13.0"}, 400),
        ("Cmd=Sync&DeviceType=b", H, 400),  # no DeviceId
        ("Cmd=Sync&DeviceId=a-b&DeviceType=b", H, 400),  # DeviceId must be alphanumeric
        ("Cmd=Sync&DeviceId=" + "a" * 33 + "&DeviceType=b", H, 400),
        ("DeviceId=a&DeviceType=b", H, 400),  # no Cmd
        ("Cmd=Sync&DeviceId=a&DeviceType=b", {"ms-asprotocolversion": "14.1", "x-ms-policykey": "-1"}, 400),
        ("", H, 400),
        ("!!!notbase64", H, 400),
    ],
)
def test_refusals(query, headers, status):
    with pytest.raises(RequestError) as info:
        parse_request_line(query, headers)
    assert info.value.http_status == status


def test_base64_query_spec_example():
    # MS-ASHTTP 2.2.1.1.1: version 14.0, Sync, en-US, DeviceId v140Device, no policy key, SmartPhone.
    line = parse_request_line("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", {})
    assert line.encoded_query
    assert (line.protocol_version, line.command, line.locale) == ("14.0", "Sync", 0x0409)
    assert (line.device_id, line.device_type, line.policy_key) == ("v140Device", "SmartPhone", None)


def _encoded(version=161, code=3, device=b"dev1", key=None, dtype=b"WP", params=b""):
    raw = struct.pack("<BBHB", version, code, 0x0409, len(device)) + device
    raw += (struct.pack("<BI", 4, key) if key is not None else b"\x00")
    raw += bytes([len(dtype)]) + dtype + params
    return base64.b64encode(raw).decode()


def test_base64_query_policy_key_parameters_and_options():
    params = bytes([1, 1]) + b"5" + bytes([3, 3]) + b"5:9" + bytes([7, 1, 0x03]) + bytes([8, 5]) + b"alice"
    line = parse_request_line(_encoded(key=0xDEADBEEF, params=params), {})
    assert line.command == "SmartReply"
    assert line.protocol_version == "16.1"
    assert line.policy_key == 0xDEADBEEF
    assert line.params == {"CollectionId": "5", "ItemId": "5:9"}
    assert line.user == "alice"
    assert line.save_in_sent and line.accept_multipart


def test_base64_binary_device_id_is_hex():
    guid = bytes(range(16))
    line = parse_request_line(_encoded(device=guid), {})
    assert line.device_id == guid.hex().upper()


@pytest.mark.parametrize(
    "query, status",
    [
        (_encoded(code=99), 501),
        (_encoded(version=130), 400),
        (_encoded()[:-4], 400),  # truncated DeviceType
        (base64.b64encode(bytes([141, 0, 9, 4, 0])).decode(), 400),  # empty DeviceId
        (base64.b64encode(struct.pack("<BBHB", 141, 0, 0, 1) + b"a" + bytes([2, 1, 2])).decode(), 400),  # key length 2
        (_encoded(params=bytes([42, 1]) + b"x"), 400),  # unknown parameter tag
    ],
)
def test_base64_refusals(query, status):
    with pytest.raises(RequestError) as info:
        parse_request_line(query, {})
    assert info.value.http_status == status
