"""Server settings: CLI flags over environment variables over embedded defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .home import default_db_url

# The largest message SMTP accepts: 35 MB as Exchange counts it (35,840 KB = 35 * 1024 * 1024
# bytes), Exchange Online's default mailbox MaxSendSize.  (Its default MaxReceiveSize is 36 MB and
# on-premises Exchange's organization-wide default is 10 MB; EASLAB_MAX_MESSAGE_SIZE changes it.)
DEFAULT_MAX_MESSAGE_SIZE = 36_700_160


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if not raw else raw.strip().lower() not in ("0", "false", "no", "off")


@dataclass
class Settings:
    host: str = "127.0.0.1"  # loopback by default: a lab server is not exposed unless asked
    port: int = 8080
    db_url: str = field(default_factory=default_db_url)
    domain: str = "easlab.test"
    public_url: str | None = None
    heartbeat_min: int = 60  # Ping/Sync heartbeat bounds (Exchange: 60..3540 s)
    heartbeat_max: int = 3540
    smtp_host: str | None = None  # None: the same address as `host`
    smtp_port: int = 2525  # 0: any free port
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE  # bytes of SMTP DATA; 552 above it
    smarthost: str | None = None  # HOST:PORT for mail to other domains; None: keep it queued
    trust_store: str | None = None  # folder of PEM files: the roots ValidateCert trusts; None: none
    auth_lockout: bool = True  # back-off after repeated failed logons (server/lockout.py); the lab may switch it off

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get("EASLAB_HOST", "127.0.0.1"),
            port=_env_int("EASLAB_PORT", 8080),
            db_url=os.environ.get("EASLAB_DB") or default_db_url(),
            domain=os.environ.get("EASLAB_DOMAIN", "easlab.test"),
            public_url=os.environ.get("EASLAB_PUBLIC_URL") or None,
            smtp_host=os.environ.get("EASLAB_SMTP_HOST") or None,
            smtp_port=_env_int("EASLAB_SMTP_PORT", 2525),
            max_message_size=_env_int("EASLAB_MAX_MESSAGE_SIZE", DEFAULT_MAX_MESSAGE_SIZE),
            smarthost=os.environ.get("EASLAB_SMARTHOST") or None,
            trust_store=os.environ.get("EASLAB_TRUST_STORE") or None,
            auth_lockout=env_flag("EASLAB_AUTH_LOCKOUT", True),
        )

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def smtp_bind_host(self) -> str:
        return self.smtp_host or self.host

    @property
    def eas_url(self) -> str:
        return f"{self.base_url}/Microsoft-Server-ActiveSync"
