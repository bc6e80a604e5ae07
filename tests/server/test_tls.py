"""`serve --tls`: the lab CA and the server certificate it signs (what phones check, made once and
reused), the lab's own certificate files, and real TLS handshakes with the standard library's `ssl`
against the HTTPS listener that shares the HTTP listener's app and connection bounds."""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import stat
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from easlab.server import runner, tls
from easlab.server.autodiscover import RESPONSE_SCHEMA
from easlab.testing.plugin import start

NAMES = ["mail.lab.test", "labhost", "192.0.2.7", "localhost", "127.0.0.1"]
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_names_are_the_public_host_the_machine_and_loopback():
    names = tls.server_names("https://Mail.Lab.Test:8443/", "0.0.0.0", hostname="labhost", addresses={"192.0.2.7"})
    assert names == NAMES
    # A bound address is a name too; a repeated one is listed once.
    assert tls.server_names(None, "192.0.2.7", hostname="labhost", addresses={"192.0.2.7", "2001:db8::5"}) == [
        "192.0.2.7", "labhost", "2001:db8::5", "localhost", "127.0.0.1"]


def test_the_certificates_meet_what_phones_check(tmp_path):
    material = tls.lab_material(tmp_path / "tls", NAMES, now=NOW)
    ca, cert = load(material.ca_file), load(material.cert_file)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).critical
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert ca.subject == ca.issuer and ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "easlab"

    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.lab.test", "labhost", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("127.0.0.1")]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mail.lab.test"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=800) < lifetime <= timedelta(days=825)
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    for each in (ca, cert):
        assert isinstance(each.signature_hash_algorithm, hashes.SHA256)
        assert isinstance(each.public_key(), ec.EllipticCurvePublicKey) and each.public_key().curve.name == "secp256r1"

    folder = tmp_path / "tls"
    assert stat.S_IMODE(os.stat(folder / "ca.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder / "server.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["ca.key", "ca.pem", "server.key", "server.pem"]


def test_the_ca_is_made_once_and_the_server_certificate_only_when_needed(tmp_path):
    folder = tmp_path / "tls"
    first = tls.lab_material(folder, NAMES, now=NOW)
    ca_print = tls.fingerprint(load(first.ca_file))
    server_pem = first.cert_file.read_bytes()

    again = tls.lab_material(folder, NAMES, now=NOW + timedelta(days=1))  # the next start
    assert tls.fingerprint(load(again.ca_file)) == ca_print and again.cert_file.read_bytes() == server_pem
    tls.lab_material(folder, NAMES[1:], now=NOW + timedelta(days=2))  # fewer names: still covered
    assert first.cert_file.read_bytes() == server_pem

    moved = tls.lab_material(folder, ["10.9.8.7", *NAMES], now=NOW + timedelta(days=3))  # a new address
    assert moved.cert_file.read_bytes() != server_pem
    assert tls.covered(load(moved.cert_file), ["10.9.8.7", *NAMES])
    assert tls.fingerprint(load(moved.ca_file)) == ca_print
    renewed_pem = moved.cert_file.read_bytes()

    near_end = load(moved.cert_file).not_valid_after_utc - timedelta(days=10)
    tls.lab_material(folder, NAMES, now=near_end)
    assert first.cert_file.read_bytes() != renewed_pem
    assert load(first.cert_file).not_valid_after_utc > near_end + timedelta(days=800)
    assert tls.fingerprint(load(first.ca_file)) == ca_print


def test_a_server_key_that_is_not_the_certificates_gets_a_new_pair(tmp_path):
    folder = tmp_path / "tls"
    first = tls.lab_material(folder, NAMES, now=NOW)
    stray = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "server.key").write_bytes(stray)  # as if a start died between the two files
    old_pem = first.cert_file.read_bytes()
    tls.lab_material(folder, NAMES, now=NOW)
    assert first.cert_file.read_bytes() != old_pem and (folder / "server.key").read_bytes() != stray
    first.context()  # the pair loads: the key is the certificate's


def test_an_unreadable_ca_is_refused_never_replaced(tmp_path):
    folder = tmp_path / "tls"
    tls.lab_material(folder, NAMES, now=NOW)
    (folder / "ca.key").write_text("not a key\n")
    with pytest.raises(tls.TLSError) as refused:
        tls.lab_material(folder, NAMES, now=NOW)
    assert str(refused.value).startswith(f"the lab CA in {folder} cannot be read (")
    assert (folder / "ca.key").read_text() == "not a key\n"


def own_certificate(folder, names=("localhost", "127.0.0.1")):
    """A lab's own CA and a server certificate it signed, as a lab brings them to --tls-cert."""
    made = tls.lab_material(folder, list(names), now=datetime.now(timezone.utc))
    return made.ca_file, made.cert_file, made.key_file


def test_own_certificate_files_are_checked_at_start(tmp_path):
    ca_file, cert_file, key_file = own_certificate(tmp_path / "own")
    material = tls.own_material(str(cert_file), str(key_file))
    assert (material.cert_file, material.key_file, material.ca_file) == (cert_file, key_file, None)

    with pytest.raises(tls.TLSError, match=r"^--tls-cert .*nowhere\.pem: no such file$"):
        tls.own_material(str(tmp_path / "nowhere.pem"), str(key_file))
    with pytest.raises(tls.TLSError, match=r"^--tls-cert .*ca\.key: not a PEM certificate"):
        tls.own_material(str(tmp_path / "own" / "ca.key"), str(key_file))
    with pytest.raises(tls.TLSError, match=r"^--tls-key .*ca\.key: not the PEM private key of .*server\.pem"):
        tls.own_material(str(cert_file), str(tmp_path / "own" / "ca.key"))


# -- real handshakes ---------------------------------------------------------------------------------

@asynccontextmanager
async def listening(app, material: tls.Material):
    """easlab's listeners (server/runner.py) on loopback: HTTP and HTTPS, one app."""
    plain, secure = runner._bind("127.0.0.1", 0), runner._bind("127.0.0.1", 0)
    server = runner.Listeners(runner.http_config(app, 1024), secure, material.context())
    task = asyncio.create_task(server.serve(sockets=[plain, secure]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield plain.getsockname()[1], secure.getsockname()[1]
    finally:
        server.should_exit = True
        await task


def handshake(port: int, server_hostname: str, cafile) -> tuple[str, bytes]:
    """A TLS connection as a careful client makes it (the CA's chain and the host name checked),
    and the status line of an OPTIONS over it."""
    context = ssl.create_default_context(cafile=str(cafile))
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as conn:
            conn.sendall(b"OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
            return conn.version(), answer.split(b"\r\n", 1)[0]


@pytest.fixture
def lab(tmp_path):
    lab = start("inprocess", directory=tmp_path / "lab")
    lab.make_user("alice", password="Alice-pw-1", display_name="Alice Example")
    yield lab
    lab.close()


def autodiscover_body(email: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
            f'autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>{email}</EMailAddress>'
            f"<AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema></Request></Autodiscover>").encode()


@pytest.mark.anyio
async def test_https_with_the_lab_ca_beside_plain_http(lab, tmp_path):
    material = tls.lab_material(tmp_path / "tls", ["labhost", "localhost", "127.0.0.1"])
    settings = lab.app.state.settings
    async with listening(lab.app, material) as (http_port, https_port):
        settings.public_url, settings.host, settings.port = None, "127.0.0.1", http_port
        settings.tls, settings.https_port = True, https_port
        for name in ("localhost", "127.0.0.1"):
            version, status = await asyncio.to_thread(handshake, https_port, name, material.ca_file)
            assert status == b"HTTP/1.1 401 Unauthorized" and version in ("TLSv1.2", "TLSv1.3")
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            await asyncio.to_thread(handshake, https_port, "elsewhere.example", material.ca_file)
        other = tls.lab_material(tmp_path / "other", ["localhost"])  # another lab's CA: not this server's issuer
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
            await asyncio.to_thread(handshake, https_port, "localhost", other.ca_file)

        # Autodiscover names the HTTPS endpoint, asked over HTTPS or over plain HTTP (as Exchange
        # answers with its external URL).
        verify = ssl.create_default_context(cafile=str(material.ca_file))
        for base, check in ((f"https://localhost:{https_port}", verify), (f"http://127.0.0.1:{http_port}", True)):
            async with httpx.AsyncClient(base_url=base, verify=check, auth=("alice", "Alice-pw-1")) as client:
                answer = await client.post("/Autodiscover/Autodiscover.xml", content=autodiscover_body("alice@easlab.test"))
            assert answer.status_code == 200
            assert (f"<Url>https://127.0.0.1:{https_port}/Microsoft-Server-ActiveSync</Url>" in answer.text), answer.text


@pytest.mark.anyio
async def test_https_with_the_labs_own_certificate(lab, tmp_path):
    ca_file, cert_file, key_file = own_certificate(tmp_path / "own")
    material = tls.own_material(str(cert_file), str(key_file))
    async with listening(lab.app, material) as (_http_port, https_port):
        version, status = await asyncio.to_thread(handshake, https_port, "localhost", ca_file)
        assert status == b"HTTP/1.1 401 Unauthorized"


def fill_plain(port: int, count: int) -> list[socket.socket]:
    """`count` open keep-alive HTTP connections, each answered once (so each is admitted)."""
    held = []
    for _ in range(count):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(b"OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 401 "), "not admitted"
        held.append(conn)
    return held


@pytest.mark.anyio
async def test_https_connections_count_against_the_same_per_address_cap(lab, tmp_path):
    # The cap lives in the protocol class both listeners are built from: connections over plain
    # HTTP use up what HTTPS may open from that address too.
    material = tls.lab_material(tmp_path / "tls", ["localhost"])
    _total, per_address = runner.limits.connection_limits(1024)
    async with listening(lab.app, material) as (http_port, https_port):
        held = await asyncio.to_thread(fill_plain, http_port, per_address)
        try:
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
                _version, status = await asyncio.to_thread(handshake, https_port, "localhost", material.ca_file)
                assert status, "closed without an answer"
        finally:
            for conn in held:
                conn.close()


def test_the_https_url_phones_are_given():
    from easlab.server.autodiscover import phone_setup_text
    from easlab.server.config import Settings

    lab = Settings(host="0.0.0.0", port=8080, public_url="http://192.0.2.10:8080", tls=True, https_port=8443)
    assert lab.https_base_url == "https://192.0.2.10:8443" and lab.base_url == "http://192.0.2.10:8080"
    assert lab.phone_eas_url == "https://192.0.2.10:8443/Microsoft-Server-ActiveSync"
    assert Settings(host="::1", tls=True, https_port=443).https_base_url == "https://[::1]"
    assert Settings(public_url="https://mail.lab.test/", tls=True).https_base_url == "https://mail.lab.test"
    assert Settings(public_url="http://192.0.2.10:8080").phone_base_url == "http://192.0.2.10:8080"  # no TLS
    lines = phone_setup_text(lab).splitlines()
    assert lines[2] == "easlab:   server     192.0.2.10:8443  (SSL on)"
    assert lines[5:] == ["easlab:   Autodiscover answers at https://192.0.2.10:8443/autodiscover/autodiscover.xml",
                         "easlab:   the CA, a QR code and an iOS profile: sign in at http://192.0.2.10:8080/setup"]
