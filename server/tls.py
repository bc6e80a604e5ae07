"""HTTPS for `easlab serve --tls`: a lab certificate authority made once and a server certificate
it signs, both kept in the data folder's tls/ (server/home.py), or the lab's own certificate with
--tls-cert/--tls-key.

The CA is never replaced (a phone trusts it once); the server certificate is made again only when
its names no longer cover what the server is reached by, or it nears its end.  It meets what iOS
asks of a TLS server certificate (and Android and browsers ask less): every name in
subjectAltName, extended key usage serverAuth, at most 825 days, ECDSA P-256, SHA-256.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .home import tls_folder

CA_CERT, CA_KEY = "ca.pem", "ca.key"
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"
CA_LIFETIME = timedelta(days=3650)
# Apple: a TLS server certificate valid for more than 825 days is refused; one day's margin for
# the backdated start below.
SERVER_LIFETIME = timedelta(days=824)
RENEW_BEFORE = timedelta(days=30)
BACKDATE = timedelta(hours=1)  # a phone whose clock is a little behind still accepts a fresh certificate
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


class TLSError(Exception):
    """TLS cannot be set up for a reason the operator fixes: one line, no traceback."""


@dataclass(frozen=True)
class Material:
    """What the HTTPS listener serves: the certificate chain and key files, and the CA a phone
    trusts (None with the lab's own certificate: its issuer is the lab's business)."""

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None

    def ca_certificate(self) -> x509.Certificate | None:
        return x509.load_pem_x509_certificate(self.ca_file.read_bytes()) if self.ca_file else None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, as phones and browsers show it: AB:CD:..."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


# -- the names the server is reached by -----------------------------------------------------------

def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _outbound_addresses() -> set[str]:
    """The machine's non-loopback addresses: what its host name resolves to, and the source address
    of its default route (a UDP connect sends nothing; it only picks the route)."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM):
            found.add(str(info[4][0]).split("%")[0])
    except OSError:
        pass
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.add(str(probe.getsockname()[0]).split("%")[0])
        except OSError:
            pass
    return {a for a in found if not (ipaddress.ip_address(a).is_loopback or ipaddress.ip_address(a).is_unspecified
                                     or ipaddress.ip_address(a).is_link_local)}


def server_names(public_url: str | None, bind_host: str, hostname: str | None = None,
                 addresses: set[str] | None = None) -> list[str]:
    """Every name and address a phone or a test may reach the server by: the public URL's host,
    the bound address (unless a wildcard), the machine's host name, its non-loopback addresses,
    localhost and 127.0.0.1.  The first is the certificate's common name."""
    hostname = socket.gethostname() if hostname is None else hostname
    addresses = _outbound_addresses() if addresses is None else addresses
    names: list[str] = []
    public = urlsplit(public_url).hostname if public_url else None
    for name in (public, bind_host.strip("[]"), hostname, *sorted(addresses), "localhost", "127.0.0.1"):
        name = (name or "").strip().lower().rstrip(".")
        if name and name not in WILDCARD_HOSTS and name not in names:
            names.append(name)
    return names


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]


def covered(cert: x509.Certificate, names: list[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    have |= {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return all((str(ipaddress.ip_address(n)) if _is_ip(n) else n) in have for n in names)


# -- files ----------------------------------------------------------------------------------------

def _write(path: Path, data: bytes, mode: int) -> None:
    """Whole or not at all, with its permissions from the first byte (a key is never readable by
    others, not even for a moment)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(partial, mode)
    os.replace(partial, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "easlab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def make_ca(folder: Path, now: datetime, hostname: str | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"easlab lab CA ({hostname or socket.gethostname()})")
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now - BACKDATE + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(folder / CA_KEY, _key_pem(key), 0o600)
    _write(folder / CA_CERT, _cert_pem(cert), 0o644)
    return cert, key


def make_server_cert(folder: Path, ca: x509.Certificate, ca_key, names: list[str], now: datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now - BACKDATE + SERVER_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(folder / SERVER_KEY, _key_pem(key), 0o600)
    # The chain a client needs beyond its trusted root: the server certificate alone.
    _write(folder / SERVER_CERT, _cert_pem(cert), 0o644)
    return cert


def _load_ca(folder: Path):
    try:
        cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        key = load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise TLSError(f"the lab CA in {folder} cannot be read ({exc}); move {CA_CERT} and {CA_KEY} "
                       "away to make a new one (phones must then trust the new CA)") from None
    return cert, key


def _server_cert_fits(folder: Path, ca: x509.Certificate, names: list[str], now: datetime) -> bool:
    """The certificate on disk is this CA's, has its own key beside it, covers `names` and has
    more than RENEW_BEFORE to live."""
    try:
        cert = x509.load_pem_x509_certificate((folder / SERVER_CERT).read_bytes())
        key = load_pem_private_key((folder / SERVER_KEY).read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature):  # missing, unreadable, or another CA's
        return False
    same_key = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return same_key and covered(cert, names) and cert.not_valid_after_utc - now > RENEW_BEFORE


def lab_material(folder: Path, names: list[str], now: datetime | None = None) -> Material:
    """The data folder's CA (made on the first call) and a server certificate for `names` signed
    by it (made again only when it does not cover them, was signed by another CA, or nears its end)."""
    now = now or datetime.now(timezone.utc)
    try:
        if (folder / CA_CERT).exists() or (folder / CA_KEY).exists():
            ca, ca_key = _load_ca(folder)
        else:
            ca, ca_key = make_ca(folder, now)
        if not _server_cert_fits(folder, ca, names, now):
            make_server_cert(folder, ca, ca_key, names, now)
    except OSError as exc:
        raise TLSError(f"cannot write the TLS material in {folder}: {exc.strerror or exc} "
                       "(set EASLAB_HOME to a folder easlab may write)") from None
    return Material(folder / SERVER_CERT, folder / SERVER_KEY, folder / CA_CERT)


def own_material(cert_file: str, key_file: str) -> Material:
    """The lab's own certificate and key, checked now: a bad file is one line at start, not a
    failed handshake on the phone later."""
    for what, path in (("--tls-cert", cert_file), ("--tls-key", key_file)):
        if not os.path.isfile(path):
            raise TLSError(f"{what} {path}: no such file")
    try:
        x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise TLSError(f"--tls-cert {cert_file}: not a PEM certificate ({exc})") from None
    material = Material(Path(cert_file).absolute(), Path(key_file).absolute())
    try:
        material.context()
    except ssl.SSLError as exc:
        raise TLSError(f"--tls-key {key_file}: not the PEM private key of {cert_file} ({exc.reason or exc})") from None
    except OSError as exc:
        raise TLSError(f"--tls-key {key_file}: {exc.strerror or exc}") from None
    return material


def material_for(settings) -> Material:
    """What `serve --tls` serves: the lab's own files when given, else the data folder's lab CA and
    a server certificate for every name the server is reached by."""
    if settings.tls_cert:
        return own_material(settings.tls_cert, settings.tls_key)
    return lab_material(tls_folder(), server_names(settings.public_url, settings.host))


def startup_lines(settings, material: Material) -> list[str]:
    """The start-up lines about HTTPS: its endpoint, and the fingerprint a phone's user compares."""
    lines = [f"easlab: HTTPS endpoint {settings.phone_eas_url}"]
    ca = material.ca_certificate()
    if ca is not None:
        lines.append(f"easlab: lab CA {material.ca_file} SHA-256 {fingerprint(ca)}")
    else:
        cert = x509.load_pem_x509_certificate(material.cert_file.read_bytes())
        lines.append(f"easlab: HTTPS certificate {material.cert_file} SHA-256 {fingerprint(cert)}")
    return lines
