"""HTTP Basic authentication of EAS clients against the user table.

Phones send the login as NAME, NAME@DOMAIN or DOMAIN\\NAME, in any case; all three name the same
user.  Argon2 verification is deliberately slow, and a phone authenticates on every request (a
held Ping every few minutes, thousands of devices), so a successful verification is remembered
for a while under a key derived from the stored hash and the password: changing the password
changes the hash and so forgets it.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from easlab.storage import Database
from easlab.storage import generations
from easlab.storage.passwords import hash_password, verify_password
from easlab.storage.users import get_user

from .lockout import Lockout


@dataclass(frozen=True)
class _Logon:
    id: int
    name: str
    password_hash: str
    display_name: str


@dataclass(frozen=True)
class Identity:
    user_id: int
    name: str
    address: str
    display_name: str


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    login, sep, password = raw.partition(":")
    return (login, password) if sep else None


def login_name(login: str, domain: str) -> str | None:
    """The user name a login refers to, or None if it names another domain."""
    login = login.strip().lower()
    domain = domain.lower()
    if "\\" in login:
        netbios, _, name = login.partition("\\")
        # DOMAIN\NAME: the NetBIOS name is the first label of the DNS domain, or the domain itself.
        if netbios not in (domain, domain.split(".")[0]):
            return None
        return name
    if "@" in login:
        name, _, at = login.rpartition("@")
        return name if at == domain else None
    return login


@functools.cache
def _dummy_hash() -> str:
    return hash_password("easlab: no such user")


def verify_unknown(password: str) -> None:
    """Spend one password check on a name that does not exist, so timing does not tell which
    names do (the EAS endpoint, the admin center and the API all answer unknown names so)."""
    verify_password(password, _dummy_hash())


class Authenticator:
    def __init__(self, db: Database, domain: str, cache_seconds: float = 300.0, cache_size: int = 10000,
                 lockout: Lockout | None = None):
        self.db = db
        self.domain = domain
        self.lockout = lockout  # None: no back-off after failed logons (the lab switched it off)
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._users: dict[str, tuple[int, _Logon]] = {}
        # Argon2 takes 19 MiB per check: devices of one user logging in together wait for the
        # first check instead of each running their own, and at most two checks run at once.
        self._inflight: dict[bytes, threading.Lock] = {}
        self._inflight_guard = threading.Lock()
        self._hashing = threading.BoundedSemaphore(2)

    def _cache_key(self, password_hash: str, password: str) -> bytes:
        return hashlib.sha256(password_hash.encode() + b"\0" + password.encode()).digest()

    def authenticate(self, header: str | None, address: str | None = None, generation: int | None = None
                     ) -> Identity | None:
        """An HTTP Basic header's user, from client `address`.  Blocking (database and argon2):
        call it from a worker thread.  `generation`: the `access` counter, when the caller has
        read it already (server/traces.py reads it with the `instrument` one)."""
        creds = parse_basic(header)
        if creds is None:
            return None
        name = login_name(creds[0], self.domain)
        if not name:
            return None
        return self._logon(name, creds[1], address, generation)

    def check(self, login: str, password: str, address: str | None = None) -> Identity | None:
        """A login and password as the admin center's form sends them; a login naming another
        domain costs the same hashing time as a wrong password.  Blocking, as `authenticate`."""
        name = login_name(login or "", self.domain)
        if not name:
            with self._hashing:
                verify_unknown(password or "")
            return None
        return self._logon(name, password or "", address)

    def _logon(self, name: str, password: str, address: str | None, generation: int | None = None) -> Identity | None:
        lockout = self.lockout
        if lockout is not None and lockout.refused(name, address):
            return None  # locked out: the password is not even looked at
        identity = self._check(name, password, generation)
        if lockout is not None:
            if identity is None:
                lockout.failed(name, address)
            elif not lockout.succeeded(name):
                return None  # another process locked the account out meanwhile (server/lockout.py)
        return identity

    def _user(self, name: str, generation: int | None = None) -> _Logon | None:
        """The user's logon row, from memory while the `access` generation is unchanged (a password,
        name or user removed bumps it, storage/access_watch.py): one counter read per request, none
        when the caller brings it."""
        if generation is None:
            generation = generations.peek(self.db.engine, generations.ACCESS)
        hit = self._users.get(name)
        if hit is not None and hit[0] == generation:
            return hit[1]
        with self.db.session(write=False) as session:
            generation = generations.current(session.connection(), generations.ACCESS)  # before the row
            row = get_user(session, name)
            user = None if row is None else _Logon(row.id, row.name, row.password_hash, row.display_name)
        if user is not None:  # unknown names are not kept: any client could fill the table with them
            self._users.pop(name, None)
            while len(self._users) >= self.cache_size:
                self._users.pop(next(iter(self._users)), None)
            self._users[name] = (generation, user)
        return user

    def _check(self, name: str, password: str, generation: int | None = None) -> Identity | None:
        user = self._user(name, generation)
        if user is None:
            # Spend the same hashing time as for a real user, so timing does not tell which
            # names exist.
            with self._hashing:
                verify_unknown(password)
            return None
        key = self._cache_key(user.password_hash, password)
        if not self._known(key):
            with self._inflight_guard:
                lock = self._inflight.setdefault(key, threading.Lock())
            try:
                with lock:
                    if not self._known(key):  # another thread may have verified it meanwhile
                        with self._hashing:
                            ok = verify_password(password, user.password_hash)
                        if not ok:
                            return None
                        self._remember(key)
            finally:
                # A wrong password leaves no entry behind either: each distinct one used to stay
                # in this table for good, a memory leak any client could drive.
                with self._inflight_guard:
                    if self._inflight.get(key) is lock:
                        del self._inflight[key]
        return Identity(user.id, user.name, f"{user.name}@{self.domain}", user.display_name)

    def remember(self, password_hash: str, password: str) -> None:
        """Count `password` as verified for that hash, as a successful login would (the test
        plugin knows the password it just set and need not spend an argon2 check on it)."""
        self._remember(self._cache_key(password_hash, password))

    def _known(self, key: bytes) -> bool:
        expires = self._verified.get(key)
        return expires is not None and expires >= time.monotonic()

    def _remember(self, key: bytes) -> None:
        self._verified[key] = time.monotonic() + self.cache_seconds
        self._verified.move_to_end(key)
        while len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
