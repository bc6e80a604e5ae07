"""What the setup page hands a phone: the account's fields, the lab CA in PEM and DER, a QR code,
and an iOS configuration profile.

The profile follows Apple's Configuration Profile reference: a top-level Configuration payload
whose PayloadContent holds a com.apple.security.root payload (the CA, DER) and a
com.apple.eas.account payload (Host, UserName, EmailAddress, SSL; no password, so the phone asks
for it and it never travels in a file).  Its identifiers and UUIDs are derived from the server,
the user and the CA, so installing it again replaces the account instead of adding a second one.
"""
from __future__ import annotations

import plistlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..autodiscover import server_address
from ..tls import fingerprint

PROFILE_TYPE = "application/x-apple-aspen-config"
DER_TYPE = "application/x-x509-ca-cert"  # what Android's and iOS's downloaders take for a CA
PEM_TYPE = "application/x-pem-file"
PROFILE_NAMESPACE = uuid.UUID("6f1d6b1e-3c59-4c5e-9a51-3f6f2f1c0e2a")  # easlab's: uuid5 below


@dataclass(frozen=True)
class Account:
    """What a phone's Exchange account form asks, for one user of this server."""

    user: str
    display_name: str
    email: str
    server: str  # host[:port], as the form's Server field takes it
    domain: str  # the NetBIOS-style domain Exchange's forms offer (may be left empty)
    ssl: bool
    eas_url: str


def account_for(settings, user: str, display_name: str) -> Account:
    base = settings.phone_base_url
    return Account(user=user, display_name=display_name or user, email=f"{user}@{settings.domain}",
                   server=server_address(base, settings.host), domain=settings.domain.split(".")[0].upper(),
                   ssl=urlsplit(base).scheme == "https", eas_url=settings.phone_eas_url)


def load_ca(path: str | None) -> x509.Certificate | None:
    return x509.load_pem_x509_certificate(Path(path).read_bytes()) if path else None


def ca_pem(ca: x509.Certificate) -> bytes:
    return ca.public_bytes(serialization.Encoding.PEM)


def ca_der(ca: x509.Certificate) -> bytes:
    return ca.public_bytes(serialization.Encoding.DER)


def qr_data_uri(text: str) -> str:
    """An SVG QR code of `text` as a data: URI (the pages' CSP allows data: images, no others)."""
    import segno

    return segno.make(text, error="m").svg_data_uri(scale=6, border=2)


def _identifier(account: Account) -> str:
    # Reverse-DNS as Apple asks; a host that is an address keeps its digits, never its dots.
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in account.server.lower())
    user = "".join(c if c.isalnum() or c == "-" else "-" for c in account.user.lower())
    return f"test.easlab.{host}.{user}"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(PROFILE_NAMESPACE, "\n".join(parts))).upper()


def mobileconfig(account: Account, ca: x509.Certificate | None) -> bytes:
    """The iOS profile: the CA (when easlab made it) and the account, as an XML property list."""
    identifier = _identifier(account)
    payloads = []
    if ca is not None:
        payloads.append({
            "PayloadType": "com.apple.security.root", "PayloadVersion": 1,
            "PayloadIdentifier": f"{identifier}.ca", "PayloadUUID": _uuid(identifier, "ca", fingerprint(ca)),
            "PayloadDisplayName": ca.subject.rfc4514_string(), "PayloadCertificateFileName": "easlab-ca.cer",
            "PayloadContent": ca_der(ca),
        })
    payloads.append({
        "PayloadType": "com.apple.eas.account", "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.eas", "PayloadUUID": _uuid(identifier, "eas"),
        "PayloadDisplayName": "Exchange ActiveSync", "PayloadDescription": f"{account.email} on easlab",
        "Host": account.server, "UserName": account.user, "EmailAddress": account.email, "SSL": account.ssl,
    })
    profile = {
        "PayloadType": "Configuration", "PayloadVersion": 1,
        "PayloadIdentifier": identifier, "PayloadUUID": _uuid(identifier, "profile"),
        "PayloadDisplayName": f"easlab: {account.email}", "PayloadOrganization": "easlab",
        "PayloadDescription": ("The easlab lab's certificate authority and an Exchange account for "
                               f"{account.email} at {account.server}." if ca is not None else
                               f"An Exchange account for {account.email} at {account.server}."),
        "PayloadRemovalDisallowed": False,
        "PayloadContent": payloads,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)
