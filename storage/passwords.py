"""Password hashing: passlib's argon2 scheme over argon2-cffi.

passlib 1.7.4 is unmaintained and its bcrypt backend breaks with bcrypt >= 4.1, so easlab never
loads bcrypt.  The argon2id parameters are OWASP's minimum (19 MiB, 2 passes): a verification
costs a few tens of milliseconds, and the server caches successful ones (server/auth.py) because
phones authenticate on every request.
"""
from passlib.context import CryptContext

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _context.verify(password, password_hash)
    except (ValueError, TypeError):
        return False
