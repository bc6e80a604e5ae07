"""The request line, both ways, under Hypothesis: whatever the simulated device writes (plain
query or MS-ASHTTP's base64 form, any user, DeviceId, DeviceType, version and policy key), the
server's parse_request_line reads back the same values (review §5.3)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from easlab.eas import versions
from easlab.eas.request import parse_request_line
from easlab.testing.device import SimulatedDevice

# DeviceId: alphanumeric, at most 32 characters (MS-ASHTTP 2.2.1.1.1.1.4); the base64 form
# carries DeviceType and User as length-prefixed bytes, so any printable text fits there.
device_ids = st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True)
printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="&=%+#?/\\"),
                    min_size=1, max_size=20)
users = st.one_of(printable, st.builds(lambda a, b: f"{a}@{b}.test", printable, st.from_regex(r"[a-z]{1,8}", fullmatch=True)))


@settings(max_examples=200, deadline=None)
@given(user=users, device_id=device_ids, device_type=st.from_regex(r"[A-Za-z0-9]{1,16}", fullmatch=True),
       version=st.sampled_from(versions.SUPPORTED), encoded=st.booleans(),
       policy_key=st.none() | st.integers(1, 2**32 - 1))
def test_what_the_device_writes_the_server_reads(user, device_id, device_type, version, encoded, policy_key):
    # The base64 query exists from 12.1 on (MS-ASHTTP 2.2.1.1.1.1); older devices write it plain.
    encoded = encoded and versions.key(version) >= versions.key("12.1")
    device = SimulatedDevice(user, device_id=device_id, device_type=device_type, protocol_version=version,
                             encoded_query=encoded)
    if policy_key is not None:
        device.state.policy_key = str(policy_key)
    request = device.folder_sync()
    line = parse_request_line(request.query, {k.lower(): v for k, v in request.headers.items()})
    assert (line.command, line.user, line.device_id, line.device_type, line.protocol_version) == (
        "FolderSync", user, device_id, device_type, version)
    assert (line.policy_key, line.encoded_query) == (policy_key, encoded)
