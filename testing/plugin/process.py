"""Process mode: a real `easlab serve` on free HTTP and SMTP ports over its own SQLite file, for
black-box tests; it runs with `--test-clock` (clock="manual", the default), and `easlab.clock`
moves it through /api/clock (testing/plugin/clock.py), or on the real clock (clock="system").  Faults go through /api/faults as an org-admin account
the fixture makes (`easlab-admin`), waits are long-polls on /api/wait as a viewer (`easlab-waits`).
"""
from __future__ import annotations

import asyncio
import http.client
import os
import re
import secrets
import selectors
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from .base import Easlab, ModeError
from .clock import ServerClock
from .factories import DEFAULT_DOMAIN, User
from .waits import long_poll

WAITER = "easlab-waits"  # the viewer account process mode's waits authenticate as
ADMIN = "easlab-admin"  # the org-admin account process mode's fault calls authenticate as
STARTUP_TIMEOUT = 30.0
_WAITER_PASSWORD = secrets.token_urlsafe(18)  # one per test session: its hash is made once
_ADMIN_PASSWORD = secrets.token_urlsafe(18)


def _easlab_command() -> list[str]:
    script = Path(sys.executable).parent / "easlab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "easlab.server.cli"]


def _die_with_parent():
    """A preexec_fn giving the server SIGTERM when the test process dies, however it dies (Linux's
    PR_SET_PDEATHSIG), or None.  prctl is looked up here, in the parent: the child only calls it
    (no dlopen between fork and exec).  Only from the main thread, since the signal comes when the
    thread that forked ends."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ProcessEaslab(Easlab):
    """A real `easlab serve` on free ports (HTTP and SMTP) over its own SQLite file."""

    mode = "process"

    def __init__(self, directory: Path, domain: str = DEFAULT_DOMAIN, scope: str = "function",
                 owns_directory: bool = True, extra_args: Iterable[str] = (), clock: str = "manual"):
        super().__init__(directory, domain, scope, owns_directory)
        self._clock = ServerClock(self._api) if clock == "manual" else None
        if self._clock is not None:
            extra_args = ("--test-clock", *extra_args)
        self.db.create_all()  # before the server starts: two processes never race to create tables
        self.log_path = self.directory / "easlab.server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EASLAB_")}
        env["EASLAB_HOME"] = str(self.directory)  # its settings.json beside its database, not in the user's data folder
        command = [*_easlab_command(), "serve", "--host", "127.0.0.1", "--port", "0", "--smtp-port", "0",
                   "--db", self.db_url, "--domain", self.domain, "--log-level", "warning", *extra_args]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                          env=env, cwd=self.directory,
                                          preexec_fn=_die_with_parent())
        try:
            self.url, self.smtp_host, self._smtp_port = self._read_addresses()
            self._ready()
        except BaseException:
            self.close()
            raise
        self._accounts: set[str] = set()  # the plugin's own accounts made in this store so far

    # -- start-up ---------------------------------------------------------------------------------
    def _server_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _read_addresses(self) -> tuple[str, str, int]:
        """The URL and SMTP port the server prints once it listens (no polling: a blocking read)."""
        fd = self._proc.stdout.fileno()
        buffer = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not any(b"SMTP on" in line for line in buffer.split(b"\n")[:-1]):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise RuntimeError(f"easlab serve did not start within {STARTUP_TIMEOUT:g} s\n{self._server_log()}")
                chunk = os.read(fd, 4096)
                if not chunk:
                    self._proc.wait(5)
                    raise RuntimeError(f"easlab serve exited with {self._proc.returncode}\n{self._server_log()}")
                buffer += chunk
        url = smtp = None
        for line in buffer.decode(errors="replace").splitlines():
            if "EAS endpoint" in line:
                url = line.split()[-1].rsplit("/Microsoft-Server-ActiveSync", 1)[0]
            elif "SMTP on" in line:
                smtp = line.split()[-1]
        if url is None or smtp is None:
            raise RuntimeError(f"easlab serve printed no addresses: {buffer!r}\n{self._server_log()}")
        host, _, port = smtp.rpartition(":")
        return url, host.strip("[]"), int(port)

    def _ready(self) -> None:
        """Waits on /healthz (server/health.py) with one request: the listening socket was bound
        before the URL was printed, so it connects at once and is answered as soon as the app
        serves; 200 means the store answers and SMTP listens, 503 names what does not."""
        host, _, port = self.url.split("://", 1)[1].rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=STARTUP_TIMEOUT)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"easlab serve is not ready: HTTP {response.status} {body.decode(errors='replace')}\n"
                               f"{self._server_log()}")

    # -- the mode's parts -------------------------------------------------------------------------
    @property
    def smtp_port(self) -> int:
        return self._smtp_port

    @property
    def process(self) -> subprocess.Popen:
        return self._proc

    @property
    def clock(self) -> ServerClock:
        """The server's test clock (advance(seconds, minutes=...), set(when), now(), pending)."""
        if self._clock is None:
            raise ModeError("easlab.clock: this server process runs on the real clock (clock='system'); "
                            "the default clock='manual' starts it with --test-clock")
        return self._clock

    def _admin_clock(self):
        return self._clock  # the fixture's writes (a wipe's time, a fault's end) dated as the server sees time

    def _target(self):
        return self.url

    def _http_client(self, **kw):
        import httpx

        return httpx.AsyncClient(base_url=self.url, **kw)

    def _notify(self, event: dict) -> None:
        from easlab.server.control import tell

        tell(self.db, event)  # as the CLI tells a running server (server/control.py)

    async def _deliver(self, mime: bytes, sender: str, recipients: list[str]) -> None:
        # smtplib sends bytes as they are; a message written with bare LF (Python's default
        # as_bytes()) would reach the server as one overlong line.
        wire = re.sub(rb"\r?\n", b"\r\n", mime)

        def send() -> None:
            with smtplib.SMTP(self.smtp_host, self._smtp_port, timeout=30) as smtp:
                refused = smtp.sendmail(sender, recipients, wire)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)

        await asyncio.to_thread(send)

    # -- faults: /api/faults as an org-admin ------------------------------------------------------
    def _account(self, name: str, password: str, display_name: str, role: str) -> tuple[str, str]:
        """(name, password) of one of the plugin's own API accounts, made at its first use (a
        module-scoped store may have it already)."""
        if name not in self._accounts:
            from easlab.storage.users import get_user

            with self.db.session() as s:
                exists = get_user(s, name) is not None
            if not exists:
                self.make_user(name, password, display_name, role=role)
            self._accounts.add(name)
        return name, password

    def _admin_account(self) -> tuple[str, str]:
        return self._account(ADMIN, _ADMIN_PASSWORD, "easlab test faults", "org-admin")

    def _api(self, method: str, path: str, *, json_body: dict | None = None, params: dict | None = None,
             ok: tuple[int, ...] = (200,)):
        """One blocking call on the server's API as the fixture's admin: (status, JSON or None).
        Blocking is fine even from an async test: the server is another process."""
        import httpx

        from easlab.storage.faults import FaultError

        with httpx.Client(base_url=self.url, auth=self._admin_account(), timeout=30) as client:
            response = client.request(method, path, json=json_body, params=params)
        body = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text}
        if response.status_code in ok:
            return response.status_code, body
        message = (body or {}).get("error") if isinstance(body, dict) else None
        if response.status_code == 400:
            raise FaultError(message or "bad input")
        raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {message or ''}".rstrip())

    def _add_fault(self, fields: dict) -> dict:
        _, view = self._api("POST", "/api/faults", json_body={k: v for k, v in fields.items() if v is not None}, ok=(201,))
        return view

    def faults(self) -> list[dict]:
        return self._api("GET", "/api/faults")[1]

    def remove_fault(self, fault_id: int) -> bool:
        status, _ = self._api("DELETE", f"/api/faults/{int(fault_id)}", ok=(204, 404))
        return status == 204

    def clear_faults(self, user: User | str | None = None) -> int:
        params = {"user": str(user).strip().lower()} if user is not None else None
        return self._api("DELETE", "/api/faults", params=params)[1]["removed"]

    # -- waits: long-polls on /api/wait ----------------------------------------------------------
    def _waiter_account(self) -> tuple[str, str]:
        return self._account(WAITER, _WAITER_PASSWORD, "easlab test waits", "viewer")

    async def _long_poll(self, path: str, params: dict, timeout: float) -> dict:
        auth = await asyncio.to_thread(self._waiter_account)
        return await long_poll(self.url, auth, path, params, timeout)

    async def _wait_mail(self, user, folder, subject, after, timeout, with_mime):
        from easlab.server.api.waits import Mail

        data = await self._long_poll("mail", {"user": user, "folder": folder, "subject": subject, "after": after,
                                              "mime": "1" if with_mime else None}, timeout)
        return Mail.from_json(data)

    async def _wait_outbound(self, to, subject, after, timeout, with_mime):
        from easlab.server.api.waits import Outbound

        data = await self._long_poll("outbound", {"to": to, "subject": subject, "after": after,
                                                  "mime": "1" if with_mime else None}, timeout)
        return Outbound.from_json(data)

    async def _wait_device(self, user, device_id, state, timeout):
        return await self._long_poll("device", {"user": user, "device_id": device_id, "state": state}, timeout)

    async def _wait_ping(self, user, device_id, timeout):
        return await self._long_poll("ping", {"user": user, "device_id": device_id}, timeout)

    # -- shutdown ---------------------------------------------------------------------------------
    def _stop(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                # uvicorn waits for open requests (a held Ping) after the first signal; a second
                # one makes it stop without them.
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        from easlab.server.control import socket_path

        try:  # left behind only if the server was killed
            os.unlink(socket_path(self.db.url))
        except OSError:
            pass

