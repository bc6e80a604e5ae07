"""The simulated device's sans-I/O core: the exact requests it builds and how it reads answers.

No server here: responses are hand-built trees, so these tests pin the client to the protocol
digest on their own.
"""
import base64
import json
import struct

import pytest

from easlab.eas.request import parse_request_line
from easlab.eas.wbxml import E, decode, encode
from easlab.testing.device import (
    DeviceState,
    Folder,
    HTTPResponse,
    Item,
    SimulatedDevice,
    SyncCollection,
    UnknownFolder,
    add,
    change,
    change_flag,
    change_read,
    delete,
    fetch,
    truncation_code,
)
from easlab.testing.device.http import COMMAND_CODE, PARAMETER_TAG

WBXML = "application/vnd.ms-sync.wbxml"
EAS = "/Microsoft-Server-ActiveSync"


def make(version="14.1", **kw):
    return SimulatedDevice("alice", device_id="sim1", device_type="EASLabSim", protocol_version=version,
                           user_agent="easlab-test/1", **kw)


def ok(tree):
    return (200, {"Content-Type": WBXML}, encode(tree))


def fh(name, *content):
    return E(f"FolderHierarchy:{name}", *content)


def a(name, *content):
    return E(f"AirSync:{name}", *content)


def folder_add(sid, name, ftype, parent="0"):
    return fh("Add", fh("ServerId", sid), fh("ParentId", parent), fh("DisplayName", name), fh("Type", ftype))


HIERARCHY = fh(
    "FolderSync", fh("Status", 1), fh("SyncKey", "1"),
    fh("Changes", fh("Count", 5),
       folder_add("2", "Inbox", 2), folder_add("3", "Calendar", 8), folder_add("4", "Contacts", 9),
       folder_add("5", "Tasks", 7), folder_add("6", "Projects", 12, parent="2")),
)


def with_folders(version="14.1", **kw):
    device = make(version, **kw)
    device.receive(device.folder_sync(), ok(HIERARCHY))
    return device


def body(request):
    return decode(request.body)


def email(subject, sender="bob@easlab.test", read="0", **extra):
    return a("ApplicationData",
             E("Email:To", "alice@easlab.test"), E("Email:From", sender), E("Email:Subject", subject),
             E("Email:DateReceived", "2024-05-01T10:00:00.000Z"), E("Email:Read", read),
             *extra.get("more", ()))


def sync_response(cid, key, *children, status=1):
    return a("Sync", a("Collections", a("Collection", a("SyncKey", key), a("CollectionId", cid), a("Status", status),
                                         *children)))


# ---------------------------------------------------------------------------------------------
# The request line

def test_plain_query_and_headers_exact():
    device = make()
    request = device.folder_sync()
    assert request.method == "POST"
    assert request.path_and_query == f"{EAS}?Cmd=FolderSync&User=alice&DeviceId=sim1&DeviceType=EASLabSim"
    assert request.headers == {
        "MS-ASProtocolVersion": "14.1",
        "User-Agent": "easlab-test/1",
        "Content-Type": WBXML,
    }
    assert body(request) == fh("FolderSync", fh("SyncKey", "0"))
    line = parse_request_line(request.query, {k.lower(): v for k, v in request.headers.items()})
    assert (line.command, line.user, line.device_id, line.device_type, line.protocol_version, line.policy_key) == (
        "FolderSync", "alice", "sim1", "EASLabSim", "14.1", None)


def test_query_values_are_percent_encoded():
    device = SimulatedDevice("alice@easlab.test", device_id="sim1", device_type="Smart Phone")
    request = device.folder_sync()
    assert request.query == "Cmd=FolderSync&User=alice%40easlab.test&DeviceId=sim1&DeviceType=Smart%20Phone"
    line = parse_request_line(request.query, {"ms-asprotocolversion": "14.1"})
    assert (line.user, line.device_type) == ("alice@easlab.test", "Smart Phone")


def test_policy_key_header_when_the_device_has_one_but_never_on_ping():
    device = with_folders()
    device.state.policy_key = "3942919513"
    assert device.folder_sync().headers["X-MS-PolicyKey"] == "3942919513"
    assert device.sync("Inbox").headers["X-MS-PolicyKey"] == "3942919513"
    assert device.get_item_estimate("Inbox").headers["X-MS-PolicyKey"] == "3942919513"
    assert "X-MS-PolicyKey" not in device.ping(["Inbox"], heartbeat=60).headers
    assert "X-MS-PolicyKey" not in device.empty_ping().headers
    assert "X-MS-PolicyKey" not in device.options().headers


def test_options_request_and_result():
    device = make()
    request = device.options()
    assert (request.method, request.path_and_query, request.body) == ("OPTIONS", EAS, b"")
    assert request.headers == {"User-Agent": "easlab-test/1"}
    result = device.receive(request, (200, {"ms-asprotocolversions": "2.5,12.0,12.1,14.0,14.1,16.0,16.1",
                                            "MS-ASProtocolCommands": "Sync,FolderSync,Ping",
                                            "MS-Server-ActiveSync": "16.1"}, b""))
    assert result.versions == ["2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"]
    assert result.commands == ["Sync", "FolderSync", "Ping"]
    assert result.server_version == "16.1"


def _expected_encoded(version, code, device_id, key, device_type, user):
    raw = struct.pack("<BBHB", version, code, 0x0409, len(device_id)) + device_id
    raw += (b"\x04" + struct.pack("<I", key)) if key is not None else b"\x00"
    raw += bytes([len(device_type)]) + device_type
    raw += bytes([8, len(user)]) + user
    return base64.b64encode(raw).decode("ascii")


def test_base64_query_exact_bytes_and_parses_back():
    device = with_folders(encoded_query=True)
    device.state.policy_key = "3942919513"
    request = device.sync("Inbox")
    expected = _expected_encoded(141, 0, b"sim1", 3942919513, b"EASLabSim", b"alice")
    assert request.path_and_query == f"{EAS}?{expected}"
    # The version and policy key travel in the query, so those headers are not sent.
    assert request.headers == {"User-Agent": "easlab-test/1", "Content-Type": WBXML}
    line = parse_request_line(request.query, {k.lower(): v for k, v in request.headers.items()})
    assert line.encoded_query
    assert (line.command, line.user, line.device_id, line.device_type, line.protocol_version, line.policy_key,
            line.locale) == ("Sync", "alice", "sim1", "EASLabSim", "14.1", 3942919513, 0x0409)


def test_base64_query_spec_example_prefix():
    # MS-ASHTTP 2.2.1.1.1: 14.0, Sync, en-US, "v140Device", no key, "SmartPhone" - then our User.
    device = SimulatedDevice("rmjones", device_id="v140Device", device_type="SmartPhone", protocol_version="14.0",
                             encoded_query=True)
    device.state.folders["1"] = Folder("1", "0", "Inbox", 2)
    raw = base64.b64decode(device.sync("1").query)
    assert raw == base64.b64decode("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l") + b"\x08\x07rmjones"


@pytest.mark.parametrize("command, code", [("FolderSync", 9), ("Ping", 18), ("GetItemEstimate", 14), ("Provision", 20)])
def test_base64_query_command_codes_and_no_key_on_ping(command, code):
    device = with_folders("12.1", encoded_query=True)
    device.state.policy_key = "7"
    request = {
        "FolderSync": lambda: device.folder_sync(),
        "Ping": lambda: device.ping(["Inbox"], heartbeat=60),
        "GetItemEstimate": lambda: device.get_item_estimate("Inbox"),
        "Provision": lambda: device.provision(),
    }[command]()
    raw = base64.b64decode(request.query)
    assert raw[0] == 121 and raw[1] == code
    line = parse_request_line(request.query, {})
    assert line.command == command and line.protocol_version == "12.1" and line.user == "alice"
    # Ping and the initial Provision carry no policy key; the others carry the device's.
    assert line.policy_key == (None if command in ("Ping", "Provision") else 7)


def test_base64_query_parameters_and_options():
    device = make(encoded_query=True)
    request = device.command("SmartReply", None, params={"ItemId": "5:3", "CollectionId": "5"}, save_in_sent=True)
    line = parse_request_line(request.query, {})
    assert line.params == {"ItemId": "5:3", "CollectionId": "5"}
    assert line.save_in_sent


@pytest.mark.parametrize("command", sorted(COMMAND_CODE))
def test_base64_query_round_trips_every_command_through_the_server_parser(command):
    # The client keeps its own copy of MS-ASHTTP's tables: the server's parser must read back
    # every command and parameter it writes, so a wrong code on either side fails here.
    device = make(encoded_query=True)
    params = {name: f"v{tag}" for name, tag in PARAMETER_TAG.items() if name not in ("Options", "User")}
    request = device.command(command, None, params=params, save_in_sent=True, accept_multipart=True)
    assert base64.b64decode(request.query)[1] == COMMAND_CODE[command]
    line = parse_request_line(request.query, {})
    assert (line.command, line.user, line.params, line.save_in_sent, line.accept_multipart) == (
        command, "alice", params, True, True)


def test_base64_query_refused_before_12_1():
    device = make("12.0", encoded_query=True)
    with pytest.raises(ValueError):
        device.folder_sync()


# ---------------------------------------------------------------------------------------------
# Provision

DEVICE_INFO_141 = E(
    "Settings:DeviceInformation",
    E("Settings:Set",
      E("Settings:Model", "easlab simulated device"),
      E("Settings:FriendlyName", "easlab sim"),
      E("Settings:OS", "easlab-os 1.0"),
      E("Settings:OSLanguage", "English"),
      E("Settings:UserAgent", "easlab-test/1")),
)


def pv(name, *content):
    return E(f"Provision:{name}", *content)


def phase1_response(key="1307199584", policy_type="MS-EAS-Provisioning-WBXML", data=None):
    if data is None:
        data = pv("EASProvisionDoc", pv("DevicePasswordEnabled", 0), pv("MaxAttachmentSize"),
                  pv("AllowCamera", 1))
    return pv("Provision", pv("Status", 1), pv("Policies", pv("Policy", pv("PolicyType", policy_type), pv("Status", 1),
                                                                pv("PolicyKey", key), pv("Data", data))))


def test_provision_two_phases_14_1():
    device = make("14.1")
    first = device.provision()
    assert "X-MS-PolicyKey" not in first.headers
    assert body(first) == pv("Provision", DEVICE_INFO_141,
                              pv("Policies", pv("Policy", pv("PolicyType", "MS-EAS-Provisioning-WBXML"))))
    response = phase1_response()
    response.children.insert(0, E("Settings:DeviceInformation", E("Settings:Status", 1)))
    r1 = device.receive(first, ok(response))
    assert (r1.phase, r1.status, r1.policy_status, r1.policy_key) == (1, 1, 1, "1307199584")
    assert r1.device_information_status == 1
    assert r1.policy == {"DevicePasswordEnabled": "0", "MaxAttachmentSize": None, "AllowCamera": "1"}
    # The temporary key is only for the acknowledgement.
    assert device.state.policy_key is None
    assert device.state.temporary_policy_key == "1307199584"
    assert "X-MS-PolicyKey" not in device.folder_sync().headers

    second = device.provision_ack()
    assert second.headers["X-MS-PolicyKey"] == "1307199584"
    assert body(second) == pv("Provision", pv("Policies", pv("Policy", pv("PolicyType", "MS-EAS-Provisioning-WBXML"),
                                                             pv("PolicyKey", "1307199584"), pv("Status", 1))))
    final = pv("Provision", pv("Status", 1), pv("Policies", pv("Policy", pv("PolicyType", "MS-EAS-Provisioning-WBXML"),
                                                                 pv("Status", 1), pv("PolicyKey", "3942919513"))))
    r2 = device.receive(second, ok(final))
    assert (r2.phase, r2.status, r2.policy_status, r2.policy_key) == (2, 1, 1, "3942919513")
    assert device.state.policy_key == "3942919513"
    assert device.state.temporary_policy_key is None
    assert device.folder_sync().headers["X-MS-PolicyKey"] == "3942919513"


@pytest.mark.parametrize("version", ["12.0", "12.1", "14.0"])
def test_provision_without_device_information_before_14_1(version):
    device = make(version)
    assert body(device.provision()) == pv("Provision", pv("Policies", pv("Policy", pv("PolicyType", "MS-EAS-Provisioning-WBXML"))))


def test_provision_device_information_optional_fields_in_order():
    device = make("16.1")
    info = device.state.info
    info.imei, info.phone_number, info.mobile_operator = "356938035643809", "+15555550100", "Contoso"
    assert body(device.provision()).children[0] == E(
        "Settings:DeviceInformation",
        E("Settings:Set",
          E("Settings:Model", "easlab simulated device"), E("Settings:IMEI", "356938035643809"),
          E("Settings:FriendlyName", "easlab sim"), E("Settings:OS", "easlab-os 1.0"),
          E("Settings:OSLanguage", "English"), E("Settings:PhoneNumber", "+15555550100"),
          E("Settings:UserAgent", "easlab-test/1"), E("Settings:MobileOperator", "Contoso")),
    )


def test_provision_2_5_uses_wap_policy_type():
    device = make("2.5")
    request = device.provision()
    assert body(request) == pv("Provision", pv("Policies", pv("Policy", pv("PolicyType", "MS-WAP-Provisioning-XML"))))
    wap = '<wap-provisioningdoc><characteristic type="SecurityPolicy"><parm name="4131" value="1"/></characteristic></wap-provisioningdoc>'
    r1 = device.receive(request, ok(phase1_response("11", "MS-WAP-Provisioning-XML", data=wap)))
    assert r1.policy_data == wap
    ack = device.provision_ack()
    assert body(ack).find("Provision:Policies").find("Provision:Policy").text("Provision:PolicyType") == "MS-WAP-Provisioning-XML"
    assert ack.headers["X-MS-PolicyKey"] == "11"


def test_provision_ack_key_mismatch_keeps_no_key():
    device = make()
    device.receive(device.provision(), ok(phase1_response("5")))
    ack = device.provision_ack()
    bad = pv("Provision", pv("Status", 1), pv("Policies", pv("Policy", pv("PolicyType", "MS-EAS-Provisioning-WBXML"),
                                                               pv("Status", 5))))
    r2 = device.receive(ack, ok(bad))
    assert r2.policy_status == 5
    assert device.state.policy_key is None


def test_provision_ack_with_partial_status():
    device = make()
    device.receive(device.provision(), ok(phase1_response("5")))
    policy = body(device.provision_ack(2)).find("Provision:Policies").find("Provision:Policy")
    assert policy.text("Provision:Status") == "2"


def test_remote_wipe_then_ack_forgets_everything():
    device = with_folders()
    device.state.policy_key = "99"
    device.sync("Inbox")
    r = device.receive(device.provision(), ok(pv("Provision", pv("Status", 1), pv("RemoteWipe"))))
    assert r.remote_wipe and device.state.remote_wipe_requested
    assert device.state.temporary_policy_key is None
    ack = device.remote_wipe_ack()
    assert body(ack) == pv("Provision", pv("RemoteWipe", pv("Status", 1)))
    device.receive(ack, ok(pv("Provision", pv("Status", 1))))
    assert device.state.policy_key is None and device.state.folders == {} and device.state.hierarchy_sync_key == "0"
    assert device.empty_sync().context["collections"] == {}  # nor the last Sync an empty one stands for


def test_needs_provisioning_449_and_14x():
    device = make("12.1")
    r = device.receive(device.folder_sync(), (449, {}, b""))
    assert r.needs_provisioning and r.status is None and not r.ok
    device = make("14.1")
    r = device.receive(device.folder_sync(), ok(fh("FolderSync", fh("Status", 142))))
    assert r.needs_provisioning and r.status == 142
    assert device.state.hierarchy_sync_key == "0" and device.state.folders == {}


# ---------------------------------------------------------------------------------------------
# FolderSync

def test_folder_sync_initial_adds():
    device = make()
    r = device.receive(device.folder_sync(), ok(HIERARCHY))
    assert (r.status, r.sync_key, r.count) == (1, "1", 5)
    assert [f.display_name for f in r.added] == ["Inbox", "Calendar", "Contacts", "Tasks", "Projects"]
    assert device.state.hierarchy_sync_key == "1"
    assert device.state.folders["6"] == Folder("6", "2", "Projects", 12)
    assert device.state.folders["3"].item_class == "Calendar"
    assert body(device.folder_sync()) == fh("FolderSync", fh("SyncKey", "1"))


def test_folder_sync_updates_and_deletes():
    device = with_folders()
    device.state.collection("6").sync_key = "4"
    response = fh("FolderSync", fh("Status", 1), fh("SyncKey", "2"),
                  fh("Changes", fh("Count", 3),
                     fh("Update", fh("ServerId", "5"), fh("ParentId", "0"), fh("DisplayName", "To Do"), fh("Type", 7)),
                     fh("Delete", fh("ServerId", "6")),
                     folder_add("7", "Archive", 12)))
    r = device.receive(device.folder_sync(), ok(response))
    assert [f.server_id for f in r.updated] == ["5"]
    assert r.deleted == ["6"]
    assert [f.server_id for f in r.added] == ["7"]
    assert device.state.folders["5"].display_name == "To Do"
    assert "6" not in device.state.folders and "6" not in device.state.collections
    assert sorted(device.state.folders) == ["2", "3", "4", "5", "7"]
    assert device.state.hierarchy_sync_key == "2"


def test_folder_sync_no_changes_keeps_folders():
    device = with_folders()
    r = device.receive(device.folder_sync(), ok(fh("FolderSync", fh("Status", 1), fh("SyncKey", "2"),
                                                   fh("Changes", fh("Count", 0)))))
    assert (r.added, r.updated, r.deleted, r.count) == ([], [], [], 0)
    assert len(device.state.folders) == 5 and device.state.hierarchy_sync_key == "2"


def test_folder_sync_key_zero_replaces_the_hierarchy():
    device = with_folders()
    device.state.collection("2").sync_key = "9"
    device.state.collection("6").sync_key = "3"
    response = fh("FolderSync", fh("Status", 1), fh("SyncKey", "1"), fh("Changes", fh("Count", 1), folder_add("2", "Inbox", 2)))
    device.receive(device.folder_sync("0"), ok(response))
    assert list(device.state.folders) == ["2"]
    assert device.state.sync_key("2") == "9"  # a folder that is still there keeps its collection
    assert "6" not in device.state.collections


def test_folder_sync_status_9_restarts_from_zero():
    device = with_folders()
    r = device.receive(device.folder_sync(), ok(fh("FolderSync", fh("Status", 9))))
    assert r.status == 9
    assert device.state.hierarchy_sync_key == "0"
    assert body(device.folder_sync()) == fh("FolderSync", fh("SyncKey", "0"))


def test_resolve_by_id_name_and_unknown():
    device = with_folders()
    assert device.resolve("2") == "2"
    assert device.resolve("Inbox") == "2"
    assert device.resolve("inbox") == "2"
    with pytest.raises(UnknownFolder):
        device.resolve("Nowhere")


# ---------------------------------------------------------------------------------------------
# Sync requests

def collection_of(request, index=0):
    return body(request).find("AirSync:Collections").children[index]


def test_sync_priming_request_exact():
    device = with_folders()
    request = device.sync("Inbox")
    assert request.query == "Cmd=Sync&User=alice&DeviceId=sim1&DeviceType=EASLabSim"
    assert body(request) == a("Sync", a("Collections", a("Collection", a("SyncKey", "0"), a("CollectionId", "2"))))


def test_sync_full_request_exact_order_14_1():
    device = with_folders()
    device.state.collection("2").sync_key = "7"
    request = device.sync(
        "Inbox", window_size=50, filter_type=3, body_preferences=[(2, 5120, True), (1, None, None, 100)],
        mime_support=0, deletes_as_moves=True, conversation_mode=True, conflict=1,
        commands=[change_read("2:1"), change_flag("2:4"), delete("2:2"), fetch("2:3")],
    )
    assert body(request) == a("Sync", a("Collections", a(
        "Collection",
        a("SyncKey", "7"),
        a("CollectionId", "2"),
        a("DeletesAsMoves", "1"),
        a("GetChanges"),
        a("WindowSize", "50"),
        a("ConversationMode", "1"),
        a("Options",
          a("FilterType", "3"),
          a("Conflict", "1"),
          a("MIMESupport", "0"),
          E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", "2"), E("AirSyncBase:TruncationSize", "5120"),
            E("AirSyncBase:AllOrNone", "1")),
          E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", "1"), E("AirSyncBase:Preview", "100"))),
        a("Commands",
          a("Change", a("ServerId", "2:1"), a("ApplicationData", E("Email:Read", "1"))),
          a("Change", a("ServerId", "2:4"), a("ApplicationData", E("Email:Flag", E("Email:Status", "2"),
                                                                   E("Email:FlagType", "Flag for follow up")))),
          a("Delete", a("ServerId", "2:2")),
          a("Fetch", a("ServerId", "2:3"))),
    )))
    # GetChanges is an empty tag on the wire: the bare token 0x13, no END.
    assert b"\x13" in request.body and b"\x53\x01" not in request.body


def test_sync_element_order_with_every_option_12_1():
    device = with_folders("12.1")
    request = device.sync("Calendar", sync_key="0", supported=["Calendar:DtStamp", "Calendar:Subject"],
                          deletes_as_moves=False, get_changes=False, window_size=10, filter_type=4,
                          body_preferences=[(1, 200, None)], commands=[add("c1", E("Calendar:Subject", "x"))])
    coll = collection_of(request)
    assert [c.tag for c in coll.children] == [
        "AirSync:Class", "AirSync:SyncKey", "AirSync:CollectionId", "AirSync:Supported", "AirSync:DeletesAsMoves",
        "AirSync:GetChanges", "AirSync:WindowSize", "AirSync:Options", "AirSync:Commands",
    ]
    assert coll.text("AirSync:Class") == "Calendar"
    assert coll.find("AirSync:Supported") == a("Supported", E("Calendar:DtStamp"), E("Calendar:Subject"))
    assert coll.text("AirSync:GetChanges") == "0"
    assert coll.text("AirSync:DeletesAsMoves") == "0"


@pytest.mark.parametrize("version, cls", [("2.5", "Email"), ("12.0", "Email"), ("12.1", "Email"), ("14.0", None), ("16.1", None)])
def test_sync_class_in_collection_only_up_to_12_1(version, cls):
    device = with_folders(version)
    assert collection_of(device.sync("Inbox")).text("AirSync:Class") == cls


@pytest.mark.parametrize("name, cls", [("Calendar", "Calendar"), ("Contacts", "Contacts"), ("Tasks", "Tasks"), ("Projects", "Email")])
def test_sync_class_follows_folder_type(name, cls):
    device = with_folders("12.1")
    assert collection_of(device.sync(name)).text("AirSync:Class") == cls


def test_sync_2_5_truncation_instead_of_body_preference():
    device = with_folders("2.5")
    device.state.collection("2").sync_key = "3"
    coll = collection_of(device.sync("Inbox", body_preferences=[(1, 5120, None)], mime_support=0))
    assert coll == a("Collection", a("Class", "Email"), a("SyncKey", "3"), a("CollectionId", "2"), a("GetChanges"),
                     a("Options", a("MIMESupport", "0"), a("Truncation", "4")))
    assert b"\x00\x11" not in device.sync("Inbox", body_preferences=[(1, None, None)]).body  # no AirSyncBase page
    assert collection_of(device.sync("Inbox", body_preferences=[(1, None, None)])).find("AirSync:Options") == \
        a("Options", a("Truncation", "9"))


def test_truncation_code_scale():
    assert [truncation_code(n) for n in (0, 511, 512, 1500, 5120, 102400, 10**7, None)] == [0, 0, 1, 2, 4, 8, 8, 9]


def test_sync_heartbeat_interval_and_wait():
    device = with_folders("14.1")
    tree = body(device.sync("Inbox", heartbeat_interval=480))
    assert [c.tag for c in tree.children] == ["AirSync:Collections", "AirSync:HeartbeatInterval"]
    assert tree.text("AirSync:HeartbeatInterval") == "480"
    tree = body(device.sync("Inbox", wait=8))
    assert tree.text("AirSync:Wait") == "8" and not tree.has("AirSync:HeartbeatInterval")
    # long_poll_sync picks the element the version has.
    assert body(device.long_poll_sync(["Inbox"], 300)).text("AirSync:HeartbeatInterval") == "300"
    device12 = with_folders("12.1")
    tree = body(device12.long_poll_sync(["Inbox"], 90))
    assert tree.text("AirSync:Wait") == "2" and not tree.has("AirSync:HeartbeatInterval")
    with pytest.raises(ValueError):
        with_folders("12.0").long_poll_sync(["Inbox"], 60)


def test_sync_many_collections_global_window_and_partial():
    device = with_folders()
    device.state.collection("2").sync_key = "5"
    device.state.collection("3").sync_key = "8"
    request = device.sync_many([SyncCollection("Inbox", window_size=25), SyncCollection("Calendar", filter_type=5), "Contacts"],
                               window_size=100, partial=True)
    assert body(request) == a(
        "Sync",
        a("Collections",
          a("Collection", a("SyncKey", "5"), a("CollectionId", "2"), a("GetChanges"), a("WindowSize", "25")),
          a("Collection", a("SyncKey", "8"), a("CollectionId", "3"), a("GetChanges"), a("Options", a("FilterType", "5"))),
          a("Collection", a("SyncKey", "0"), a("CollectionId", "4"))),
        a("WindowSize", "100"),
        a("Partial"),
    )


def test_sync_unknown_collection_raw():
    device = with_folders()
    with pytest.raises(UnknownFolder):
        device.sync("bogus")
    request = device.sync_many([SyncCollection("bogus", resolve=False, sync_key="1")])
    assert collection_of(request) == a("Collection", a("SyncKey", "1"), a("CollectionId", "bogus"), a("GetChanges"))
    assert "bogus" not in device.state.collections


def test_empty_sync_request():
    device = with_folders()
    device.state.policy_key = "42"
    device.sync("Inbox")
    request = device.empty_sync()
    assert request.body == b""
    assert request.context["collections"] == {device.resolve("Inbox"): {"sync_key": "0", "commands": []}}
    assert request.headers == {"MS-ASProtocolVersion": "14.1", "X-MS-PolicyKey": "42", "User-Agent": "easlab-test/1"}
    assert request.query == "Cmd=Sync&User=alice&DeviceId=sim1&DeviceType=EASLabSim"


# ---------------------------------------------------------------------------------------------
# Sync responses

def primed(version="14.1"):
    device = with_folders(version)
    device.receive(device.sync("Inbox"), ok(sync_response("2", "1")))
    return device


def test_sync_priming_response_sets_key():
    device = with_folders()
    r = device.receive(device.sync("Inbox"), ok(sync_response("2", "1")))
    assert (r.status, r.sync_key, r.added, r.more_available, r.empty_response) == (1, "1", [], False, False)
    assert device.state.sync_key("2") == "1"
    assert body(device.sync("Inbox")).find("AirSync:Collections").children[0].text("AirSync:SyncKey") == "1"


def test_sync_adds_changes_deletes_soft_deletes_more_available():
    device = primed()
    r = device.receive(device.sync("Inbox"), ok(sync_response(
        "2", "2", a("MoreAvailable"),
        a("Commands",
          a("Add", a("ServerId", "2:1"), email("one")),
          a("Add", a("ServerId", "2:2"), email("two")),
          a("Add", a("ServerId", "2:3"), email("three"))))))
    assert (r.status, r.sync_key, r.added, r.more_available) == (1, "2", ["2:1", "2:2", "2:3"], True)
    assert Item(r.items["2:2"]).subject == "two"
    assert list(device.items("Inbox")) == ["2:1", "2:2", "2:3"]

    r = device.receive(device.sync("Inbox"), ok(sync_response(
        "2", "3",
        a("Commands",
          a("Change", a("ServerId", "2:1"), a("ApplicationData", E("Email:Read", "1"))),
          a("Delete", a("ServerId", "2:2")),
          a("SoftDelete", a("ServerId", "2:3"))))))
    assert (r.changed, r.deleted, r.soft_deleted, r.more_available) == (["2:1"], ["2:2"], ["2:3"], False)
    held = device.items("Inbox")
    assert list(held) == ["2:1"]
    item = Item(held["2:1"])
    # A change carrying only Read keeps the other properties, in their place.
    assert (item.read, item.subject, item.sender) == (True, "one", "bob@easlab.test")
    assert [c.tag for c in held["2:1"].children] == ["Email:To", "Email:From", "Email:Subject", "Email:DateReceived", "Email:Read"]
    assert device.state.sync_key("2") == "3"


def test_sync_status_3_resets_collection_to_zero():
    device = primed()
    device.receive(device.sync("Inbox"), ok(sync_response("2", "2", a("Commands", a("Add", a("ServerId", "2:1"), email("x"))))))
    r = device.receive(device.sync("Inbox"), ok(sync_response("2", "0", status=3)))
    assert r.status == 3
    assert device.state.sync_key("2") == "0"
    assert device.items("Inbox") == {}
    assert collection_of(device.sync("Inbox")) == a("Collection", a("SyncKey", "0"), a("CollectionId", "2"))


def test_sync_global_status_3_resets_requested_collections():
    device = primed()
    r = device.receive(device.sync("Inbox"), ok(a("Sync", a("Status", 3))))
    assert r.status == 3 and r.global_status == 3
    assert device.state.sync_key("2") == "0"


def test_sync_key_zero_response_discards_held_items():
    device = primed()
    device.receive(device.sync("Inbox"), ok(sync_response("2", "2", a("Commands", a("Add", a("ServerId", "2:1"), email("x"))))))
    device.receive(device.sync("Inbox", sync_key="0"), ok(sync_response("2", "1")))
    assert device.items("Inbox") == {} and device.state.sync_key("2") == "1"


def test_empty_sync_response_changes_nothing():
    device = primed()
    r = device.receive(device.sync("Inbox"), (200, {}, b""))
    assert r.empty_response and r.collections == {} and r.status is None and r.ok
    assert device.state.sync_key("2") == "1"


def test_sync_global_status_without_collections():
    device = primed()
    r = device.receive(device.sync("Inbox"), ok(a("Sync", a("Status", 12))))
    assert (r.status, r.global_status, r.collections) == (12, 12, {})
    assert device.state.sync_key("2") == "1"
    r = device.receive(device.sync("Inbox", heartbeat_interval=5), ok(a("Sync", a("Status", 14), a("Limit", 60))))
    assert (r.status, r.limit) == (14, 60)


def test_sync_responses_fetch_and_failed_change():
    device = primed()
    device.receive(device.sync("Inbox"), ok(sync_response("2", "2", a("Commands",
                                                                         a("Add", a("ServerId", "2:1"), email("one")),
                                                                         a("Add", a("ServerId", "2:2"), email("two"))))))
    request = device.sync("Inbox", commands=[change_read("2:1"), change_read("2:2"), fetch("2:1"), delete("2:9")])
    full = email("one", read="0", more=[E("AirSyncBase:Body", E("AirSyncBase:Type", "1"), E("AirSyncBase:Data", "Hello"))])
    r = device.receive(request, ok(sync_response(
        "2", "3",
        a("Responses",
          a("Change", a("ServerId", "2:2"), a("Status", 8)),
          a("Fetch", a("ServerId", "2:1"), a("Status", 1), full)))))
    assert [(x.kind, x.server_id, x.status) for x in r.responses] == [("Change", "2:2", 8), ("Fetch", "2:1", 1)]
    assert Item(r.fetched["2:1"]).body == "Hello"
    held = device.items("Inbox")
    # The successful change (2:1) is applied over the fetched copy; the failed one (2:2) is not.
    assert Item(held["2:2"]).read is False
    assert (Item(held["2:1"]).body, Item(held["2:1"]).read) == ("Hello", True)
    assert "2:9" not in held


def test_sync_response_to_own_add():
    device = with_folders()
    device.receive(device.sync("Tasks"), ok(sync_response("5", "1")))
    request = device.sync("Tasks", commands=[add("c1", E("Tasks:Subject", "Buy milk"))])
    r = device.receive(request, ok(sync_response("5", "2", a("Responses", a("Add", a("ClientId", "c1"), a("ServerId", "5:7"),
                                                                                   a("Status", 1))))))
    assert [(x.kind, x.client_id, x.server_id, x.status) for x in r.responses] == [("Add", "c1", "5:7", 1)]
    assert Item(device.items("Tasks")["5:7"]).subject == "Buy milk"


def test_sync_several_collections_in_one_response():
    device = with_folders()
    request = device.sync_many(["Inbox", "Calendar"])
    response = a("Sync", a("Collections",
                           a("Collection", a("SyncKey", "1"), a("CollectionId", "2"), a("Status", 1)),
                           a("Collection", a("SyncKey", "1"), a("CollectionId", "3"), a("Status", 1))))
    r = device.receive(request, ok(response))
    assert list(r.collections) == ["2", "3"]
    assert device.state.sync_key("2") == device.state.sync_key("3") == "1"


def test_sync_response_not_wbxml_is_an_error_without_state_change():
    device = primed()
    r = device.receive(device.sync("Inbox"), (200, {"Content-Type": "text/html"}, b"<html>oops</html>"))
    assert r.error and not r.ok
    assert device.state.sync_key("2") == "1"
    r = device.receive(device.sync("Inbox"), ok(fh("FolderSync", fh("Status", 1))))
    assert "expected <AirSync:Sync>" in r.error


# ---------------------------------------------------------------------------------------------
# Ping

def test_ping_request_exact():
    device = with_folders()
    request = device.ping(["Inbox", "Calendar", ("9", "Notes")], heartbeat=480)
    assert request.query == "Cmd=Ping&User=alice&DeviceId=sim1&DeviceType=EASLabSim"
    assert body(request) == E("Ping:Ping", E("Ping:HeartbeatInterval", "480"), E("Ping:Folders",
                              E("Ping:Folder", E("Ping:Id", "2"), E("Ping:Class", "Email")),
                              E("Ping:Folder", E("Ping:Id", "3"), E("Ping:Class", "Calendar")),
                              E("Ping:Folder", E("Ping:Id", "9"), E("Ping:Class", "Notes"))))
    assert request.context["hold"] == 480


def test_empty_ping_request_and_statuses():
    device = with_folders()
    assert device.state.last_ping is None
    first = device.ping(["Inbox"], heartbeat=60)
    r = device.receive(first, ok(E("Ping:Ping", E("Ping:Status", 1))))
    assert (r.status, r.folders, r.changed) == (1, [], False)
    assert device.state.last_ping.folders == [("2", "Email")] and device.state.last_ping.heartbeat_interval == 60

    empty = device.empty_ping()
    assert empty.body == b"" and "Content-Type" not in empty.headers
    assert empty.context["hold"] == 60
    assert device.ping().body == b""
    r = device.receive(empty, ok(E("Ping:Ping", E("Ping:Status", 2), E("Ping:Folders", E("Ping:Folder", "2")))))
    assert (r.status, r.folders, r.changed, r.ok) == (2, ["2"], True, True)

    r = device.receive(device.empty_ping(), ok(E("Ping:Ping", E("Ping:Status", 7))))
    assert r.status == 7 and r.needs_folder_sync


def test_ping_interval_only_keeps_cached_folders():
    device = with_folders()
    device.receive(device.ping(["Inbox"], heartbeat=60), ok(E("Ping:Ping", E("Ping:Status", 1))))
    request = device.ping(heartbeat=120)
    assert body(request) == E("Ping:Ping", E("Ping:HeartbeatInterval", "120"))
    device.receive(request, ok(E("Ping:Ping", E("Ping:Status", 1))))
    assert device.state.last_ping.folders == [("2", "Email")] and device.state.last_ping.heartbeat_interval == 120


def test_ping_refused_parameters_not_cached():
    device = with_folders()
    r = device.receive(device.ping(["Inbox"], heartbeat=10), ok(E("Ping:Ping", E("Ping:Status", 5), E("Ping:HeartbeatInterval", 60))))
    assert (r.status, r.heartbeat_interval) == (5, 60)
    assert device.state.last_ping is None
    r = device.receive(device.ping(["Inbox"], heartbeat=60), ok(E("Ping:Ping", E("Ping:Status", 6), E("Ping:MaxFolders", 1))))
    assert (r.status, r.max_folders) == (6, 1)


# ---------------------------------------------------------------------------------------------
# GetItemEstimate

def test_estimate_14_0_and_later():
    device = with_folders("14.0")
    device.state.collection("2").sync_key = "4"
    request = device.get_item_estimate(["Inbox", "Calendar"], filter_type=3)
    g = lambda name, *c: E(f"GetItemEstimate:{name}", *c)  # noqa: E731
    assert body(request) == g("GetItemEstimate", g("Collections",
        g("Collection", a("SyncKey", "4"), g("CollectionId", "2"), a("Options", a("Class", "Email"), a("FilterType", "3"))),
        g("Collection", a("SyncKey", "0"), g("CollectionId", "3"), a("Options", a("Class", "Calendar"), a("FilterType", "3")))))
    assert body(device.get_item_estimate("Inbox")) == g("GetItemEstimate", g("Collections",
        g("Collection", a("SyncKey", "4"), g("CollectionId", "2"))))


@pytest.mark.parametrize("version", ["2.5", "12.0", "12.1"])
def test_estimate_up_to_12_1(version):
    device = with_folders(version)
    device.state.collection("2").sync_key = "4"
    g = lambda name, *c: E(f"GetItemEstimate:{name}", *c)  # noqa: E731
    assert body(device.get_item_estimate("Inbox", filter_type=2)) == g("GetItemEstimate", g("Collections",
        g("Collection", g("Class", "Email"), g("CollectionId", "2"), a("FilterType", "2"), a("SyncKey", "4"))))


def test_estimate_response():
    device = with_folders()
    g = lambda name, *c: E(f"GetItemEstimate:{name}", *c)  # noqa: E731
    response = g("GetItemEstimate",
                 g("Response", g("Status", 1), g("Collection", g("CollectionId", "2"), g("Estimate", 12))),
                 g("Response", g("Status", 3), g("Collection", g("CollectionId", "3"))))
    r = device.receive(device.get_item_estimate(["Inbox", "Calendar"]), ok(response))
    assert r.status == 1 and r.estimate == 12
    assert r.estimates == {"2": 12, "3": None}
    assert [x.status for x in r.responses] == [1, 3]
    assert device.state.sync_key("2") == "0"  # an estimate never moves the key


# ---------------------------------------------------------------------------------------------
# Generic command, items, state

def test_generic_command():
    device = make()
    device.state.policy_key = "1"
    tree = E("Settings:Settings", E("Settings:UserInformation", E("Settings:Get")))
    request = device.command("Settings", tree)
    assert body(request) == tree and request.headers["Content-Type"] == WBXML
    r = device.receive(request, ok(E("Settings:Settings", E("Settings:Status", 1))))
    assert r.status == 1 and r.tree.tag == "Settings:Settings"

    mime = b"From: a@b\r\n\r\nhi"
    request = device.command("SendMail", mime, content_type="message/rfc822", save_in_sent=True)
    assert request.body == mime and request.headers["Content-Type"] == "message/rfc822"
    assert request.query.endswith("&SaveInSent=T")
    r = device.receive(request, (200, {}, b""))
    assert r.ok and r.tree is None

    request = device.command("GetAttachment", params={"AttachmentName": "2:1:0"})
    assert request.query == "Cmd=GetAttachment&User=alice&DeviceId=sim1&DeviceType=EASLabSim&AttachmentName=2%3A1%3A0"
    assert request.body == b"" and "Content-Type" not in request.headers


def test_settings_device_information_12_1():
    device = make("12.1")
    tree = body(device.settings_device_information())
    assert tree.tag == "Settings:Settings"
    assert tree.children[0].find("Settings:Set").text("Settings:UserAgent") == "easlab-test/1"


def test_item_helpers_12_and_later():
    data = a("ApplicationData",
             E("Email:To", '"Alice" <alice@easlab.test>'), E("Email:Cc", "carol@easlab.test"), E("Email:From", "bob@easlab.test"),
             E("Email:Subject", "Report"), E("Email:DateReceived", "2024-05-01T10:00:00.000Z"), E("Email:Read", "1"),
             E("Email:Importance", "2"), E("Email:Flag", E("Email:Status", "2")),
             E("AirSyncBase:Attachments",
               E("AirSyncBase:Attachment", E("AirSyncBase:DisplayName", "q1.pdf"), E("AirSyncBase:FileReference", "2:1:0"),
                 E("AirSyncBase:Method", "1"), E("AirSyncBase:EstimatedDataSize", "2048")),
               E("AirSyncBase:Attachment", E("AirSyncBase:DisplayName", "logo.png"), E("AirSyncBase:FileReference", "2:1:1"),
                 E("AirSyncBase:Method", "1"), E("AirSyncBase:EstimatedDataSize", "10"),
                 E("AirSyncBase:ContentId", "logo@x"), E("AirSyncBase:IsInline", "1"))),
             E("AirSyncBase:Body", E("AirSyncBase:Type", "2"), E("AirSyncBase:EstimatedDataSize", "9000"),
               E("AirSyncBase:Truncated", "1"), E("AirSyncBase:Data", "<p>Hi</p>")),
             E("Email:MessageClass", "IPM.Note"), E("AirSyncBase:NativeBodyType", "2"))
    item = Item(data, "2:1")
    assert (item.subject, item.sender, item.to, item.cc) == ("Report", "bob@easlab.test", '"Alice" <alice@easlab.test>', "carol@easlab.test")
    assert (item.read, item.importance, item.flag_status, item.message_class) == (True, 2, 2, "IPM.Note")
    assert (item.body_type, item.body, item.body_truncated, item.body_size, item.native_body_type) == (2, "<p>Hi</p>", True, 9000, 2)
    assert [(x.name, x.file_reference, x.size, x.is_inline) for x in item.attachments] == [
        ("q1.pdf", "2:1:0", 2048, False), ("logo.png", "2:1:1", 10, True)]


def test_item_helpers_2_5_and_opaque_body():
    data = a("ApplicationData", E("Email:Subject", "Old"), E("Email:Read", "0"), E("Email:Body", "plain text"),
             E("Email:BodyTruncated", "1"), E("Email:BodySize", "40"),
             E("Email:Attachments", E("Email:Attachment", E("Email:AttName", "ATT0001"), E("Email:AttSize", "77"),
                                      E("Email:AttMethod", "1"), E("Email:DisplayName", "a.txt"))))
    item = Item(data)
    assert (item.read, item.body, item.body_type, item.body_truncated, item.body_size) == (False, "plain text", 1, True, 40)
    assert [(x.name, x.file_reference, x.size) for x in item.attachments] == [("a.txt", "ATT0001", 77)]
    mime = Item(a("ApplicationData", E("AirSyncBase:Body", E("AirSyncBase:Type", "4"), E("AirSyncBase:Data", b"MIME-Version: 1.0\r\n"))))
    assert mime.body_bytes == b"MIME-Version: 1.0\r\n" and mime.body_type == 4
    assert Item(a("ApplicationData", E("Calendar:Subject", "Standup"))).subject == "Standup"


def test_change_helpers():
    assert change_read("1:1", False) == a("Change", a("ServerId", "1:1"), a("ApplicationData", E("Email:Read", "0")))
    assert change_flag("1:1", 0) == a("Change", a("ServerId", "1:1"), a("ApplicationData", E("Email:Flag")))
    assert change("1:1", E("Email:Read", "1")) == change_read("1:1")


def test_state_json_round_trip():
    device = primed()
    device.receive(device.sync("Inbox"), ok(sync_response("2", "2", a("Commands", a("Add", a("ServerId", "2:1"),
        email("one", more=[E("Email2:ConversationId", b"\x00\x01\xff")]))))))
    device.receive(device.ping(["Inbox"], heartbeat=60), ok(E("Ping:Ping", E("Ping:Status", 1))))
    device.state.policy_key = "77"
    restored = DeviceState.from_dict(json.loads(json.dumps(device.state.to_dict())))
    assert restored == device.state
    again = SimulatedDevice(state=restored)
    assert collection_of(again.sync("Inbox")).text("AirSync:SyncKey") == "2"
    assert again.items("Inbox")["2:1"].text("Email:Subject") == "one"


def test_http_response_object_accepted():
    device = make()
    r = device.receive(device.folder_sync(), HTTPResponse(200, {"Content-Type": WBXML}, encode(HIERARCHY)))
    assert r.status == 1 and len(device.state.folders) == 5
