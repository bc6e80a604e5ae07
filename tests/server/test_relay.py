"""--smarthost as an authenticated relay (issue 15 §4): STARTTLS with the relay's certificate
checked, AUTH with EASLAB_SMARTHOST_USER / EASLAB_SMARTHOST_PASSWORD, and a refusal's reason kept as
the outbound message's last error.  The relay is aiosmtpd in-process, requiring STARTTLS and AUTH,
with a throwaway CA and certificate made by `cryptography`."""
import asyncio
import ipaddress
import ssl
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import select

from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.server.config import Settings
from easlab.server.relay import Relay
from easlab.storage.models import OutboundMail

pytestmark = pytest.mark.anyio


def certificate(tmp_path):
    """(CA PEM path, server cert PEM path, key PEM path): a CA and a certificate for 127.0.0.1."""
    now = datetime.now(timezone.utc)

    def make(subject, issuer, key, signer, ca: bool, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay test CA")])
    ca = make(ca_name, ca_name, ca_key, ca_key, True)
    cert = make(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, key, ca_key, False,
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    paths = tmp_path / "ca.pem", tmp_path / "relay.pem", tmp_path / "relay.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Relayed:
    def __init__(self):
        self.received: list[tuple[str, list[str], bool, bytes]] = []  # (from, to, over TLS, login)

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), session.ssl is not None, session.login_data))
        return "250 2.0.0 OK"


def check_login(server, session, envelope, mechanism, auth_data):
    ok = (auth_data.login, auth_data.password) == (b"relayuser", b"s3cret")
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture
async def relay(tmp_path):
    """Start a relay: `await relay(starttls=True)` -> (port, handler)."""
    ca, cert, key = certificate(tmp_path)
    servers = []

    async def start(starttls=True):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        handler = Relayed()
        options = {"tls_context": context, "require_starttls": True} if starttls else {}
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTPProtocol(handler, authenticator=check_login, auth_required=True, **options), "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1], handler

    start.ca = str(ca)
    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def queue_one(tmp_path, db, port) -> OutboundMail:
    app = create_app(Settings(db_url=db.url, domain="easlab.test", smarthost=f"127.0.0.1:{port}"), db, clock=ManualClock())
    with db.session() as s:
        s.add(OutboundMail(sender="MicrosoftExchange@easlab.test", recipients=["carol@example.net"],
                           subject="Notice", mime=b"Subject: Notice\n\nbody\n"))
    app.state.outbound.kick()
    await app.state.outbound.idle()
    with db.session() as s:
        return s.exec(select(OutboundMail)).one()


async def test_starttls_and_auth_deliver(tmp_path, db, relay, monkeypatch):
    port, handler = await relay()
    monkeypatch.setenv("EASLAB_SMARTHOST_USER", "relayuser")
    monkeypatch.setenv("EASLAB_SMARTHOST_PASSWORD", "s3cret")
    monkeypatch.setenv("EASLAB_SMARTHOST_CA", relay.ca)
    row = await queue_one(tmp_path, db, port)
    assert (row.status, row.attempts, row.last_error) == ("sent", 0, "")
    assert handler.received == [("MicrosoftExchange@easlab.test", ["carol@example.net"], True, b"relayuser")]


async def test_a_wrong_password_is_the_last_error(tmp_path, db, relay, monkeypatch):
    port, handler = await relay()
    monkeypatch.setenv("EASLAB_SMARTHOST_USER", "relayuser")
    monkeypatch.setenv("EASLAB_SMARTHOST_PASSWORD", "wrong")
    monkeypatch.setenv("EASLAB_SMARTHOST_CA", relay.ca)
    row = await queue_one(tmp_path, db, port)
    assert (row.status, row.attempts) == ("queued", 1) and handler.received == []
    assert row.last_error == "AUTH refused: 535 5.7.8 Authentication credentials invalid"


async def test_an_untrusted_certificate_is_named(tmp_path, db, relay, monkeypatch):
    port, handler = await relay()
    monkeypatch.setenv("EASLAB_SMARTHOST_USER", "relayuser")
    monkeypatch.setenv("EASLAB_SMARTHOST_PASSWORD", "s3cret")
    monkeypatch.delenv("EASLAB_SMARTHOST_CA", raising=False)
    row = await queue_one(tmp_path, db, port)
    assert row.status == "queued" and handler.received == []
    assert row.last_error.startswith("STARTTLS: the relay's certificate is not trusted (")
    assert row.last_error.endswith("); EASLAB_SMARTHOST_CA names a CA file to trust")


async def test_no_credentials_in_clear(tmp_path, db, relay, monkeypatch):
    port, handler = await relay(starttls=False)
    monkeypatch.setenv("EASLAB_SMARTHOST_USER", "relayuser")
    monkeypatch.setenv("EASLAB_SMARTHOST_PASSWORD", "s3cret")
    row = await queue_one(tmp_path, db, port)
    assert row.last_error == "AUTH: the relay offers no STARTTLS, and easlab sends credentials only over TLS"
    assert handler.received == []


async def test_a_relay_that_wants_auth_says_so(tmp_path, db, relay, monkeypatch):
    port, handler = await relay()
    monkeypatch.delenv("EASLAB_SMARTHOST_USER", raising=False)
    monkeypatch.setenv("EASLAB_SMARTHOST_CA", relay.ca)
    row = await queue_one(tmp_path, db, port)
    assert row.last_error == "MAIL FROM refused: 530 5.7.0 Authentication required"


def test_relay_of_settings():
    env = {"EASLAB_SMARTHOST_USER": "u", "EASLAB_SMARTHOST_PASSWORD": "p"}
    assert Relay.of("mail.example:587", env) == Relay("mail.example", 587, "u", "p")
    assert Relay.of("mail.example", {}) == Relay("mail.example", 25)
    assert Relay.of("[::1]:2525", {}) == Relay("::1", 2525)
    assert Relay.of(None, env) is None
    assert "s3cret" not in repr(Relay.of("h:1", {"EASLAB_SMARTHOST_PASSWORD": "s3cret"}))
