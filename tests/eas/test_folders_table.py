"""The folder, body and FilterType tables (MS-ASCMD 2.2.3.186.3, 2.2.3.68; MS-ASAIRS 2.2.2.22)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from easlab.eas.folders import FILTER, FOLDER_CLASS, BodyType, FolderType, filter_days, filter_valid
from easlab.eas.policy import PROVISION_ROWS, UNITS


def test_folder_types_are_the_specs_numbers():
    assert [int(t) for t in FolderType] == list(range(1, 20))
    assert (FolderType.Drafts, FolderType.Calendar, FolderType.RecipientInformationCache) == (3, 8, 19)
    assert [int(t) for t in BodyType] == [1, 2, 3, 4]


def test_folder_class():
    by_class = {}
    for ftype, cls in FOLDER_CLASS.items():
        by_class.setdefault(cls, set()).add(int(ftype))
    assert by_class == {"Email": {1, 2, 3, 4, 5, 6, 12}, "Tasks": {7, 15}, "Calendar": {8, 13},
                        "Contacts": {9, 14}, "Notes": {10, 17}}


@pytest.mark.parametrize("cls, valid", [
    ("Email", {0, 1, 2, 3, 4, 5}), ("Calendar", {0, 4, 5, 6, 7}), ("Tasks", {0, 8}),
    ("Contacts", set(range(9))), ("Notes", set(range(9))),
])
def test_filter_type_validity_per_class(cls, valid):
    assert {f for f in range(9) if filter_valid(cls, f)} == valid


def test_filter_days():
    assert FILTER["Email"] == {0: None, 1: 1, 2: 3, 3: 7, 4: 14, 5: 31}
    assert FILTER["Calendar"] == {0: None, 4: 14, 5: 31, 6: 92, 7: 183}
    assert filter_days("Tasks", 8) is None and filter_days("Contacts", 5) is None


def test_window_start_per_class():
    from easlab.storage.changes import window_start

    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    assert window_start("Email", 3, now) == datetime(2026, 11, 30, tzinfo=timezone.utc)
    assert window_start("Calendar", 7, now) == datetime(2026, 6, 7, tzinfo=timezone.utc)
    assert window_start("Tasks", 8, now) == now  # incomplete tasks: from now on
    assert window_start("Contacts", 5, now) is None and window_start("Email", 0, now) is None


def test_provision_rows_units():
    assert UNITS == {"MaxInactivityTimeLock": "minutes", "PasswordExpiration": "days", "MaxAttachmentSize": "KB",
                     "MaxEmailBodyTruncationSize": "KB", "MaxEmailHTMLBodyTruncationSize": "KB",
                     "DevicePolicyRefreshInterval": "hours"}
    assert {r.setting: r.factor for r in PROVISION_ROWS if r.factor != 1} == {"MaxInactivityTimeLock": 60, "MaxAttachmentSize": 1024}
    assert [r.setting for r in PROVISION_ROWS if r.wire_name is None] == ["DevicePolicyRefreshInterval"]
