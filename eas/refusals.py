"""Refusals out of MS-AS strictness, each with the requirement that makes easlab refuse.

Where Exchange refuses what a lenient server would take (a 14.1 Provision without
DeviceInformation, GetChanges at SyncKey 0, a heartbeat out of bounds), easlab refuses the same
way; clients built against lenient servers send such requests, so the refusal names the
requirement in Microsoft's server requirement tables (MS-ASCMD_R3128, ...) that it follows.  The
rule that refuses attaches one of these to its Response (`refused_by`); the HTTP layer writes it
into its log line and into the device's protocol trace, so the refusal explains itself.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    id: str  # as in the requirement tables: MS-ASCMD_R3128
    rule: str  # what it demands, in a line

    def __str__(self) -> str:
        return f"{self.id}: {self.rule}"


R = Requirement
DEVICE_INFORMATION_REQUIRED = R("MS-ASCMD_R4954", "a 14.1 or 16.x Provision without DeviceInformation (with its Model) "
                                                  "gets Status 165")
GET_CHANGES_EMPTY_AT_SYNC_KEY_0 = R("MS-ASCMD_R3128", "a Sync with an empty GetChanges at SyncKey 0 gets Status 4")
GET_CHANGES_AT_SYNC_KEY_0 = R("MS-ASCMD_R5838", "a Sync with GetChanges 1 at SyncKey 0 gets Status 4")
SYNC_WAIT_TOO_SHORT = R("MS-ASCMD_R3227", "a Sync Wait below 1 minute gets Status 14 with Limit 1")
SYNC_WAIT_TOO_LONG = R("MS-ASCMD_R3228", "a Sync Wait above 59 minutes gets Status 14 with Limit 59")
SYNC_HEARTBEAT_TOO_SHORT = R("MS-ASCMD_R3229", "a Sync HeartbeatInterval below the minimum gets Status 14 with the "
                                               "minimum as Limit")
SYNC_HEARTBEAT_TOO_LONG = R("MS-ASCMD_R3230", "a Sync HeartbeatInterval above the maximum gets Status 14 with the "
                                              "maximum as Limit")
PING_HEARTBEAT_TOO_SHORT = R("MS-ASCMD_R5837", "a Ping HeartbeatInterval below the minimum gets Status 5")
PING_HEARTBEAT_TOO_LONG = R("MS-ASCMD_R4249", "a Ping HeartbeatInterval above the maximum gets Status 5")

# A common status (MS-ASCMD 2.2.2) with one cause names its requirement wherever it is answered.
BY_COMMON_STATUS = {165: DEVICE_INFORMATION_REQUIRED}
