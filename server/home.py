"""easlab's data folder: the database, the TLS material and the running server's settings, in one
place whatever folder a command runs in (a CLI that made ./easlab.db wherever it ran added users
to a store the server never read).

The folder is EASLAB_HOME, else the platform's per-user data folder: $XDG_DATA_HOME/easlab
(~/.local/share/easlab) on Linux and other Unixes, ~/Library/Application Support/easlab on macOS,
%LOCALAPPDATA%\\easlab on Windows.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

DB_FILE = "easlab.db"
TLS_DIR = "tls"  # the lab CA and the server certificate `serve --tls` makes and reuses
SETTINGS_FILE = "settings.json"  # written by `serve`: what the CLI needs to know of the server


def data_folder(env: Mapping[str, str] | None = None, platform: str | None = None, home: Path | None = None) -> Path:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("EASLAB_HOME"):
        return Path(env["EASLAB_HOME"]).expanduser().absolute()
    home = Path.home() if home is None else home
    if platform == "win32":
        base = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        # The XDG Base Directory specification: a relative XDG_DATA_HOME is invalid and ignored.
        xdg = env.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    return base / "easlab"


def default_db_url() -> str:
    return f"sqlite:///{data_folder() / DB_FILE}"


def tls_folder() -> Path:
    return data_folder() / TLS_DIR


def settings_path() -> Path:
    return data_folder() / SETTINGS_FILE


def write_server_settings(record: dict) -> Path:
    """Record what the server serves (its database, domain, URLs and ports) for the CLI; written
    whole or not at all, so a command reading it meanwhile never sees half a file."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{SETTINGS_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return path


def server_settings(db_url: str) -> dict:
    """The recorded settings of the server that last served `db_url`; {} when none did (from this
    data folder) or the file is unreadable: the CLI then falls back on its own defaults."""
    try:
        record = json.loads(settings_path().read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and record.get("db") == db_url else {}
