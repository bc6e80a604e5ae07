"""The app with the directory parts mounted (Autodiscover's routes), a small
organisation to search, and certificates made on the spot with `cryptography`."""
from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta, timezone

from easlab.server import autodiscover
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.directory import set_directory
from easlab.storage.mailbox import ensure_mailbox
from easlab.storage.models import User
from easlab.storage.passwords import hash_password

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # ManualClock's start


def directory_app(settings, db, trust_store=None):
    """create_app as production will have it once the routes are wired in."""
    app = create_app(dataclasses.replace(settings, trust_store=trust_store), db, clock=ManualClock(NOW))
    if not any(route in app.router.routes for route in autodiscover.routes):
        app.router.routes.extend(autodiscover.routes)
    return app


@functools.lru_cache(maxsize=None)
def _hash(password: str) -> str:
    return hash_password(password)  # argon2 is slow on purpose: once per password per run


def add_org(db):
    """alice and bob (Example), carol with every directory field, alan, and dave, a mail user."""
    with db.session() as s:
        for name, password, display in [("alice", "secret", "Alice Example"), ("bob", "hunter2", "Bob Example"),
                                        ("carol", "pw", "Carol Jones"), ("alan", "pw", "Alan Smith"),
                                        ("dave", "pw", "Dave Outside")]:
            user = User(name=name, display_name=display, password_hash=_hash(password))
            s.add(user)
            s.flush()
            ensure_mailbox(s, user)
        set_directory(s, "carol", first_name="Carol", last_name="Jones", phone="+1 555 0100", office="B2.14",
                      title="Engineer", company="Easlab Ltd", home_phone="+1 555 0101", mobile_phone="+1 555 0102")
        set_directory(s, "dave", external_address="dave@partner.example")


# -- certificates -----------------------------------------------------------------------------------

def make_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def make_cert(subject, key, issuer=None, issuer_key=None, *, ca=False, days=(-30, 365), email=None,
              eku="email", key_usage="sign", path_length=None, extra=(), not_before=None, not_after=None):
    """A certificate for `subject` (a common name) signed by `issuer` (self-signed when None).

    eku: "email", "server", None (no extension); key_usage: "sign", "encipher", "ca", None.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = issuer.subject if issuer is not None else name
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW + timedelta(days=days[0]))
               .not_valid_after(not_after or NOW + timedelta(days=days[1])))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    usages = {
        "sign": dict(digital_signature=True, content_commitment=True, key_encipherment=True),
        "encipher": dict(key_encipherment=True),
        "ca": dict(key_cert_sign=True, crl_sign=True),
    }
    if key_usage is not None:
        flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
        flags.update(usages[key_usage])
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if eku is not None:
        oid = ExtendedKeyUsageOID.EMAIL_PROTECTION if eku == "email" else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([oid]), critical=False)
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key or key, hashes.SHA256())


def der(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def pem(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


class PKI:
    """A root CA, an intermediate, and leaf certificates under them."""

    def __init__(self):
        self.root_key = make_key()
        self.root = make_cert("Easlab Test Root", self.root_key, ca=True, key_usage="ca", eku=None, days=(-365, 3650))
        self.inter_key = make_key()
        self.inter = make_cert("Easlab Test Mail CA", self.inter_key, self.root, self.root_key, ca=True, key_usage="ca",
                               eku=None, days=(-200, 1800), path_length=0)

    def leaf(self, who="alice", issuer=None, issuer_key=None, **kwargs):
        issuer, issuer_key = issuer or self.inter, issuer_key or self.inter_key
        return make_cert(f"{who.title()} Example", make_key(), issuer, issuer_key, email=f"{who}@easlab.test", **kwargs)
