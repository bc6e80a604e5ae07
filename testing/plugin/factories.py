"""What a test makes on the server: users, policies, rules, devices, HTTP clients and mail.

`Factories` is the part of the `Easlab` fixture object that creates things, in the store of the
fixture's server; a running server hears of changes through `_notify`.  The mode classes
(testing/plugin/inprocess.py, process.py) provide `_target`, `_notify`, `_http_client` and
`_deliver`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import Any

DEFAULT_DOMAIN = "easlab.test"
DEFAULT_PASSWORD = "secret"


# -- values the fixture hands out -----------------------------------------------------------------
@dataclass(frozen=True)
class User:
    name: str
    password: str
    display_name: str
    role: str
    address: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Delivered:
    message_id: str
    recipients: list[str]


# A device without a profile may still say what it is: these keys, the HTTP identity and the
# DeviceInformation it reports when it provisions (14.1+).
IDENTITY_KEYS = ("device_type", "user_agent", "model", "os", "friendly_name", "os_language", "imei",
                 "phone_number", "mobile_operator")


def _profile(profile):
    """None, an easlab.testing.profiles.Profile, its name, or a dict of IDENTITY_KEYS."""
    if profile is None or isinstance(profile, dict):
        unknown = set(profile or {}) - set(IDENTITY_KEYS)
        if unknown:
            raise ValueError(f"unknown device identity key(s) {', '.join(sorted(unknown))}; use {', '.join(IDENTITY_KEYS)}")
        return None
    from easlab.testing import profiles

    if isinstance(profile, profiles.Profile):
        return profile
    try:
        return profiles.get(str(profile))
    except KeyError:
        raise ValueError(f"device profile {profile!r}: use one of {', '.join(profiles.names())}, "
                         f"a dict of {', '.join(IDENTITY_KEYS)}, or None") from None


# -- password hashes: argon2 is slow on purpose, tests make the same users again and again --------
_HASHES: dict[str, str] = {}


def password_hash(password: str) -> str:
    hashed = _HASHES.get(password)
    if hashed is None:
        from easlab.storage.passwords import hash_password

        hashed = _HASHES[password] = hash_password(password)
    return hashed


class Factories:
    """Users, policies, rules, devices, clients and mail for the `Easlab` fixture object."""

    domain: str
    scope: str

    def make_user(self, name: str, password: str = DEFAULT_PASSWORD, display_name: str | None = None,
                  role: str | None = None) -> User:
        """A mailbox NAME@domain with its folders; `role` is an admin role (org-admin, viewer, ...).
        Made by the Admin service (server/admin/users.py), with this process's hash of the password."""
        from easlab.server.admin import ROLES, SHELL
        from easlab.storage.users import UserError, normalise_name

        if role not in (None, "", *ROLES):
            raise ValueError(f"role {role!r}: use one of {', '.join(ROLES)}")
        if not password:
            raise ValueError("a password is required")
        name = normalise_name(name)
        try:
            row = self.admin.user_add(SHELL, name, password, display_name or name, role or "",
                                      hashed=password_hash(password))
        except UserError as exc:
            if self.scope == "module" and str(exc) == f"user {name} exists":
                raise UserError(f"{exc} (this store is shared by the module)") from None
            raise
        user = User(row["name"], password, row["display_name"], row["role"], f"{row['name']}@{self.domain}")
        self._passwords[name] = password
        self._user_added(user)
        return user

    def _user_added(self, user: User) -> None:
        pass

    def _credentials(self, user: User | str) -> tuple[str, str]:
        if isinstance(user, User):
            return user.name, user.password
        name = str(user).strip().lower()
        if name not in self._passwords:
            raise LookupError(f"no password known for {name!r}: create the user with make_user or pass its User")
        return name, self._passwords[name]

    def policy(self, name: str, *, default: bool = False, **settings: Any) -> dict:
        """Create (or change) mobile device mailbox policy NAME; settings by their Exchange names
        (PasswordEnabled=True, DevicePolicyRefreshInterval=24, ...).  Held requests of its users end.
        Checked as the CLI, web UI and API check them (server/admin/service.py)."""
        from easlab.server.admin import SHELL, NotFound

        try:
            shown = self.admin.policy_update(SHELL, name, settings, default=default)
        except NotFound:
            shown = self.admin.policy_add(SHELL, name, settings, default=default)
        return {"name": shown["name"], "default": shown["default"], "settings": shown["settings"]}

    def assign_policy(self, user: User | str, name: str) -> None:
        """Set-CASMailbox -ActiveSyncMailboxPolicy NAME: the user's devices re-provision."""
        from easlab.server.admin import SHELL

        self.admin.policy_assign(SHELL, str(user), name)

    def rule(self, characteristic: str, query: str, access: str) -> dict:
        """A device access rule: rule("DeviceType", "iPhone", "Quarantine")."""
        from easlab.server.admin import SHELL

        return self.admin.rule_add(SHELL, characteristic, query, access)

    def org(self, **settings: Any) -> dict:
        """ActiveSync organisation settings: default_access, admin_mail, user_mail_insert,
        max_devices, blocked_delay, discovery_minutes."""
        from easlab.server.admin import SHELL

        return self.admin.org_set(SHELL, **settings)

    def messages(self, user: User | str, folder: str = "Inbox") -> list:
        """The messages in a folder now, oldest first (server.api.waits.Mail)."""
        from sqlmodel import select

        from easlab.server.api.waits import mail_of, named_folder
        from easlab.storage.models import Item

        name = str(user).strip().lower()
        with self.db.session() as s:
            box = named_folder(s, name, folder)
            return [mail_of(item, name, box) for item in s.exec(select(Item).where(Item.folder_id == box.id).order_by(Item.id))]

    # -- devices and clients ----------------------------------------------------------------------
    async def make_device(self, user: User | str, profile=None, version: str | None = None,
                          device_id: str | None = None, *, connect: bool = True, provision: bool = True,
                          **kw: Any):
        """A simulated device (easlab.testing.aio.Device) of `user`, connected, closed when the test ends.

        `profile`: a client from testing/profiles.py by name ("ios", "android-gmail", "outlook-mac",
        ...) or as a Profile: the device introduces itself as that client does (User-Agent,
        DeviceType, its protocol version, DeviceInformation, a DeviceId in its style) and
        connecting runs that client's first connection (testing/profiles_run.py, without the
        Ping); the run is kept as `device.connection`.  Without a profile: easlab.testing.device's
        simulated device, or a dict of IDENTITY_KEYS for a made-up one; connecting is Provision
        (from 14.1 on it carries DeviceInformation) and FolderSync, and provision=False leaves
        Provision out unless the server demands it, so the device never says what it is.

        `version`: the protocol version (default: the profile's, else 14.1).  connect=False:
        nothing sent yet.  Other keywords go to Device (timeout=, encoded_query=, ...)."""
        from easlab.eas import versions

        name, password = self._credentials(user)
        spec = _profile(profile)
        if version is not None and version not in versions.SUPPORTED:
            raise ValueError(f"protocol version {version!r}: use one of {', '.join(versions.SUPPORTED)}")
        if spec is not None and not provision:
            raise ValueError("a profile connects as its client does; for a device that never provisions "
                             "use profile=None or a dict, with provision=False")
        device = self._new_device(spec, profile, name, password, version, device_id, kw)
        self._open.append(device)
        if connect:
            await self._connect(device, spec, provision)
        return device

    def _new_device(self, spec, identity, name: str, password: str, version: str | None, device_id: str | None,
                    kw: dict):
        from easlab.testing.aio import Device

        if spec is not None:
            from easlab.testing.profiles_run import device_for

            device = device_for(spec, self._target(), name, password, device_id=device_id, **kw)
            if version is not None:
                device.state.protocol_version = version
            return device
        identity = dict(identity or {})
        device = Device(self._target(), name, password,
                        device_id=device_id or f"EASLABSIM{next(self._device_numbers):04d}",
                        device_type=identity.pop("device_type", None), user_agent=identity.pop("user_agent", None),
                        protocol_version=version or "14.1", **kw)
        for attr, value in identity.items():
            setattr(device.state.info, attr, value)
        return device

    async def _connect(self, device, spec, provision: bool) -> None:
        """A profile's first connection (without the Ping), or Provision and FolderSync."""
        if spec is not None:
            from easlab.testing.profiles_run import run_profile

            device.connection = await run_profile(device)
            refused = [s for s in device.connection.steps if s.http_status == 401]
        else:
            results = []
            if provision:
                results.append(await device.provision())
            results.append(await device.folder_sync())
            if results[-1].needs_provisioning:
                results.append(await device.provision())
                results.append(await device.folder_sync())
            refused = [r for r in results if r.http_status == 401]
        if refused:
            raise PermissionError(f"the server refused {device.state.user}'s credentials (HTTP 401)")

    def http(self, user: User | str | None = None):
        """An httpx.AsyncClient on the server's base URL (Basic auth as `user` if given); closed at
        the end of the test."""
        import httpx

        auth = httpx.BasicAuth(*self._credentials(user)) if user is not None else None
        client = self._http_client(auth=auth)
        self._open.append(client)
        return client

    # -- mail -------------------------------------------------------------------------------------
    def _addresses(self, to) -> list[str]:
        if to is None:
            return []
        items = [to] if isinstance(to, (str, User)) else list(to)
        out = []
        for item in items:
            if isinstance(item, User):
                out.append(item.address)
            else:
                _, address = parseaddr(str(item))
                address = address or str(item)
                out.append(address if "@" in address else f"{address}@{self.domain}")
        return out

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def build_message(self, to, *, subject: str = "", body: str = "", sender: str | None = None,
                      html: str | None = None, headers: dict | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender or "Sender <sender@example.net>"
        msg["To"] = ", ".join(self._addresses(to))
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self._now())
        msg["Message-ID"] = make_msgid(domain="example.net")
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body or "\n")
        if html is not None:
            msg.add_alternative(html, subtype="html")
        return msg

    async def deliver(self, mail: EmailMessage | Message | bytes | None = None, to=None, *, subject: str = "",
                      body: str = "", sender: str | None = None, html: str | None = None) -> Delivered:
        """Deliver a message to local mailboxes: an EmailMessage, raw bytes, or one built from
        subject/body/sender (and html).  `to`: users, names or addresses (default: the message's
        To, Cc and Bcc).  In process mode it goes through the server's SMTP listener."""
        if mail is None:
            if to is None:
                raise ValueError("deliver() needs `to` when it builds the message")
            mail = self.build_message(to, subject=subject, body=body, sender=sender, html=html)
        from email import message_from_bytes
        from email import policy as email_policy

        if isinstance(mail, (bytes, bytearray)):
            mime = bytes(mail)
            parsed = message_from_bytes(mime)
        else:
            parsed = mail
            mime = mail.as_bytes(policy=email_policy.SMTP)
        recipients = self._addresses(to)
        if not recipients:
            recipients = [a for _, a in getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", [])
                                                    + parsed.get_all("Bcc", [])) if a]
            if not recipients:
                raise ValueError("no recipients: pass `to` or give the message a To header")
        envelope_from = parseaddr(sender or parsed.get("From", ""))[1] or "sender@example.net"
        await self._deliver(mime, envelope_from, recipients)
        return Delivered(str(parsed.get("Message-ID", "")), recipients)

    async def _deliver(self, mime: bytes, sender: str, recipients: list[str]) -> None:
        raise NotImplementedError
