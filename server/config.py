"""Server settings: CLI flags over environment variables over embedded defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from storage.db import default_url


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass
class Settings:
    host: str = "127.0.0.1"  # loopback by default: a lab server is not exposed unless asked
    port: int = 8080
    db_url: str = field(default_factory=default_url)
    domain: str = "easlab.test"
    public_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get("EASLAB_HOST", "127.0.0.1"),
            port=_env_int("EASLAB_PORT", 8080),
            db_url=os.environ.get("EASLAB_DB") or default_url(),
            domain=os.environ.get("EASLAB_DOMAIN", "easlab.test"),
            public_url=os.environ.get("EASLAB_PUBLIC_URL") or None,
        )

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def eas_url(self) -> str:
        return f"{self.base_url}/Microsoft-Server-ActiveSync"
