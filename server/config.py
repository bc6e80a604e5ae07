"""Server settings: CLI flags over environment variables over embedded defaults."""
from __future__ import annotations

import os
from urllib.parse import urlsplit
from dataclasses import dataclass, field

from easlab.eas.limits import MAX_ESTIMATE_COLLECTIONS, MAX_ITEMOPERATIONS_SIZE, MAX_SYNC_COMMANDS

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
    max_document_data_size: int = MAX_ITEMOPERATIONS_SIZE  # an ItemOperations answer's content (eas/limits.py)
    max_sync_commands: int = MAX_SYNC_COMMANDS  # MS-ASCMD 3.1.5.10 element limits (eas/limits.py)
    max_estimate_collections: int = MAX_ESTIMATE_COLLECTIONS
    tls: bool = False  # HTTPS on https_port beside HTTP (server/tls.py)
    https_port: int = 8443  # 0: any free port
    tls_cert: str | None = None  # the lab's own certificate and key; None: easlab's lab CA signs one
    tls_key: str | None = None
    tls_ca: str | None = None  # the lab CA's PEM file once made (the setup page offers it); None with tls_cert
    auth_lockout: bool = True  # back-off after repeated failed logons (server/lockout.py); the lab may switch it off
    # Open HTTP connections from one client address; None: server/limits.py's (half the connections).
    # A lab whose simulated devices all connect from one address (a bench, a test harness) raises it.
    max_connections_per_address: int | None = None
    test_clock: bool = False  # a ManualClock that /api/clock moves (black-box tests of time), instead of the real one

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
            max_document_data_size=_env_int("EASLAB_MAX_DOCUMENT_DATA_SIZE", MAX_ITEMOPERATIONS_SIZE),
            max_sync_commands=_env_int("EASLAB_MAX_SYNC_COMMANDS", MAX_SYNC_COMMANDS),
            max_estimate_collections=_env_int("EASLAB_MAX_ESTIMATE_COLLECTIONS", MAX_ESTIMATE_COLLECTIONS),
            smarthost=os.environ.get("EASLAB_SMARTHOST") or None,
            trust_store=os.environ.get("EASLAB_TRUST_STORE") or None,
            https_port=_env_int("EASLAB_HTTPS_PORT", 8443),
            auth_lockout=env_flag("EASLAB_AUTH_LOCKOUT", True),
            max_connections_per_address=_env_int("EASLAB_MAX_CONNECTIONS_PER_ADDRESS", 0) or None,
        )

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def https_base_url(self) -> str | None:
        """Where phones reach HTTPS: the public URL when it is https, else its host (or the bound
        one) on https_port; None without TLS."""
        if not self.tls:
            return None
        if self.public_url and urlsplit(self.public_url).scheme.lower() == "https":
            return self.public_url.rstrip("/")
        host = (urlsplit(self.public_url).hostname if self.public_url else None) or self.host
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}" + ("" if self.https_port == 443 else f":{self.https_port}")

    @property
    def phone_base_url(self) -> str:
        """The URL a phone is given (Autodiscover, the setup page): HTTPS when it is served."""
        return self.https_base_url or self.base_url

    @property
    def phone_eas_url(self) -> str:
        return f"{self.phone_base_url}/Microsoft-Server-ActiveSync"

    @property
    def smtp_bind_host(self) -> str:
        return self.smtp_host or self.host

    @property
    def eas_url(self) -> str:
        return f"{self.base_url}/Microsoft-Server-ActiveSync"
