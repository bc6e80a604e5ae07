"""The checks on what an administrator types, once for the CLI, the web UI, the API and the plugin.

Storage checks ranges (PolicySettings.validate); these check names and types, which a form field,
a JSON body and a click option deliver differently.
"""
from __future__ import annotations

from dataclasses import fields

from easlab.eas.policy import ENUMS, PolicySettings
from easlab.storage.policies import PolicyError

MAX_NAME = 64  # a policy name, and a DeviceId in a path
# The settings the web form edits; the API, the CLI and the plugin take any of PolicySettings.
COMMON_SETTINGS = ("PasswordEnabled", "AlphanumericPasswordRequired", "MinPasswordLength", "MaxPasswordFailedAttempts",
                   "MaxInactivityTimeLock", "PasswordExpiration", "AllowSimplePassword", "RequireDeviceEncryption",
                   "AllowCamera", "AllowNonProvisionableDevices", "DevicePolicyRefreshInterval")
SETTING_TYPES = {f.name: f.type for f in fields(PolicySettings)}
EXPECTED = {"bool": "true or false", "int": "a whole number", "limit": "a whole number, or null for unlimited"}


def setting_kind(name: str) -> str:
    kind = SETTING_TYPES[name]
    if name in ENUMS:
        return "enum"
    if kind == "bool":
        return "bool"
    if kind.startswith("list"):
        return "list"
    return "int" if kind == "int" else "limit"  # limit: a number, or None for unlimited


def policy_name(name) -> str:
    """The name stripped; PolicyError for an empty or long name, control characters, '/' or '\\'
    (a policy name is a path segment in /ecp and /api)."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise PolicyError(f"a policy needs a name of 1-{MAX_NAME} characters")
    name = name.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c in "/\\" for c in name):
        raise PolicyError("a policy name may not contain control characters, '/' or '\\'")
    return name


def _valid(name: str, kind: str, value) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "enum":
        return value in ENUMS[name]
    if kind == "list":
        ok = isinstance(value, list) and all(isinstance(v, str) and 0 < len(v) <= 256 for v in value)
        if ok and name == "ApprovedApplicationList":
            ok = all(len(v) == 40 and all(c in "0123456789abcdefABCDEF" for c in v) for v in value)
        return ok
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def check_settings(changes) -> dict:
    """Policy changes with the right types (storage only checks ranges); PolicyError otherwise."""
    if not isinstance(changes, dict):
        raise PolicyError("settings must be an object of Exchange parameter names")
    unknown = sorted(set(changes) - set(SETTING_TYPES))
    if unknown:
        raise PolicyError(f"unknown policy setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    for name, value in changes.items():
        kind = setting_kind(name)
        if not _valid(name, kind, value):
            if kind == "enum":
                expected = f"one of {', '.join(ENUMS.get(name, ()))}"
            elif kind == "list":
                expected = "a list of strings" + (" (SHA-1 hashes in hex)" if name == "ApprovedApplicationList" else "")
            else:
                expected = EXPECTED[kind]
            raise PolicyError(f"{name} must be {expected}")
    return dict(changes)
