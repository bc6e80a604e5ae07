"""Password hashing: passlib's argon2 scheme over argon2-cffi.

passlib 1.7.4 is unmaintained and its bcrypt backend breaks with bcrypt >= 4.1, so easlab never
loads bcrypt.  The argon2id parameters are OWASP's minimum (19 MiB, 2 passes): a verification
costs a few tens of milliseconds, and the server caches successful ones (server/auth.py) because
phones authenticate on every request.

passlib is imported here only.  Its import (the `crypt` module) and its argon2 backend's loading
(argon2-cffi's `__version__`) each raise a DeprecationWarning that is passlib's business, not a
user's: every test run that loads easlab's pytest plugin showed them.  Both happen inside one
`catch_warnings`, scoped to those two messages, and the backend is loaded here, at import, so no
later hash (on a worker thread, where changing the warning filters would race) warns.
"""
import warnings

# passlib's own warnings, by message (regular expressions matched at the message's start).
_PASSLIB_WARNINGS = (
    r"'crypt' is deprecated",
    r"Accessing argon2\.__version__ is deprecated",
)

with warnings.catch_warnings():
    for _message in _PASSLIB_WARNINGS:
        warnings.filterwarnings("ignore", message=_message, category=DeprecationWarning)
    from passlib.context import CryptContext

    _context = CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=19456,
        argon2__time_cost=2,
        argon2__parallelism=1,
    )
    _context.handler("argon2").get_backend()  # loads argon2-cffi now, under the filters above


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _context.verify(password, password_hash)
    except (ValueError, TypeError):
        return False
