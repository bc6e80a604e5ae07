"""The checks on what an administrator types, once for the CLI, the web UI, the API and the plugin.

A policy parameter's type and range is eas/policy.py's setting_error (which storage's
PolicySettings.validate applies too); here, the names.
"""
from __future__ import annotations

from dataclasses import fields

from easlab.eas.policy import PolicySettings, setting_error, setting_kind  # noqa: F401  (setting_kind: the web form's)
from easlab.storage.policies import PolicyError

MAX_NAME = 64  # a policy name, and a DeviceId in a path
# The settings the web form edits; the API, the CLI and the plugin take any of PolicySettings.
COMMON_SETTINGS = ("PasswordEnabled", "AlphanumericPasswordRequired", "MinPasswordLength", "MaxPasswordFailedAttempts",
                   "MaxInactivityTimeLock", "PasswordExpiration", "AllowSimplePassword", "RequireDeviceEncryption",
                   "AllowCamera", "AllowNonProvisionableDevices", "DevicePolicyRefreshInterval")
SETTING_TYPES = {f.name: f.type for f in fields(PolicySettings)}


def policy_name(name) -> str:
    """The name stripped; PolicyError for an empty or long name, control characters, '/' or '\\'
    (a policy name is a path segment in /ecp and /api)."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise PolicyError(f"a policy needs a name of 1-{MAX_NAME} characters")
    name = name.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c in "/\\" for c in name):
        raise PolicyError("a policy name may not contain control characters, '/' or '\\'")
    return name


def check_settings(changes) -> dict:
    """Policy changes of known names and valid values (setting_error); PolicyError otherwise."""
    if not isinstance(changes, dict):
        raise PolicyError("settings must be an object of Exchange parameter names")
    unknown = sorted(set(changes) - set(SETTING_TYPES))
    if unknown:
        raise PolicyError(f"unknown policy setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    for name, value in changes.items():
        error = setting_error(name, value)
        if error:
            raise PolicyError(error)
    return dict(changes)
