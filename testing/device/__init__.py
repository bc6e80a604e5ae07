"""A simulated EAS device without I/O (`SimulatedDevice`), and the data it builds and reads.

    from easlab.testing.device import SimulatedDevice

    device = SimulatedDevice("alice", device_id="sim1", protocol_version="14.1")
    request = device.folder_sync()
    result = device.receive(request, (200, {"Content-Type": ...}, body_bytes))

`http` holds requests as data and the request line, `state` what the device keeps, `items` the
items it holds and the commands it sends about them, `results` what `receive()` returns, `readers`
how it reads each answer, and `device` the request builders.  `easlab.testing.aio.Device` sends
them over HTTP.
"""
from .device import EAS_POLICY_TYPE, WAP_POLICY_TYPE, SimulatedDevice, UnknownFolder
from .http import ENDPOINT, WBXML_CONTENT_TYPE, HTTPRequest, HTTPResponse
from .items import (
    TRUNCATION_SIZES,
    Attachment,
    BodyPreference,
    Item,
    SyncCollection,
    add,
    change,
    change_flag,
    change_read,
    delete,
    fetch,
    meeting_response,
    truncation_code,
)
from .results import (
    PING_STATUS_TEXT,
    PROVISIONING_STATUSES,
    CollectionResult,
    CommandResult,
    EstimateResponse,
    EstimateResult,
    FolderSyncResult,
    ItemResponse,
    OptionsResult,
    PingResult,
    ProvisionResult,
    Result,
    SyncResult,
)
from .state import (
    DEFAULT_DEVICE_ID,
    DEFAULT_DEVICE_TYPE,
    DEFAULT_USER_AGENT,
    DEFAULT_VERSION,
    FOLDER_CLASS,
    CollectionState,
    DeviceInfo,
    DeviceState,
    Folder,
    PingParameters,
)

__all__ = [
    "EAS_POLICY_TYPE", "WAP_POLICY_TYPE", "SimulatedDevice", "UnknownFolder",
    "ENDPOINT", "WBXML_CONTENT_TYPE", "HTTPRequest", "HTTPResponse",
    "TRUNCATION_SIZES", "Attachment", "BodyPreference", "Item", "SyncCollection", "add", "change", "change_flag",
    "change_read", "delete", "fetch", "meeting_response", "truncation_code",
    "PING_STATUS_TEXT", "PROVISIONING_STATUSES", "CollectionResult", "CommandResult", "EstimateResponse",
    "EstimateResult", "FolderSyncResult", "ItemResponse", "OptionsResult", "PingResult", "ProvisionResult", "Result",
    "SyncResult",
    "DEFAULT_DEVICE_ID", "DEFAULT_DEVICE_TYPE", "DEFAULT_USER_AGENT", "DEFAULT_VERSION", "FOLDER_CLASS",
    "CollectionState", "DeviceInfo", "DeviceState", "Folder", "PingParameters",
]
