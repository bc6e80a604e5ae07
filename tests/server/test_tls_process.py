"""`easlab serve --tls` as a real process: the start-up lines (HTTPS URL, the CA's fingerprint), the
same CA at the next start, a simulated device syncing over HTTPS with the CA verified, and bad
--tls-cert/--tls-key files refused with one line."""
from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import subprocess
from contextlib import contextmanager
from email.message import EmailMessage

import pytest
from cryptography import x509

from easlab.server import tls
from easlab.testing.aio import Device
from tests.server.live import EASLAB

pytestmark = pytest.mark.anyio


def env_for(home) -> dict:
    return {**os.environ, "EASLAB_HOME": str(home)}


@contextmanager
def served_tls(home, db: str, *extra: str):
    """Yields the start-up lines up to the CA's, by their first words."""
    proc = subprocess.Popen([EASLAB, "serve", "--tls", "--port", "0", "--https-port", "0", "--smtp-port", "0",
                             "--db", db, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(home))
    try:
        lines = {}
        while "ca" not in lines:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            words = line.split()
            key = {"EAS": "http", "SMTP": "smtp", "HTTPS": "https", "lab": "ca"}.get(words[1] if len(words) > 1 else "")
            if key:
                lines[key] = line.rstrip("\n")
        yield lines
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def send_mail(port: int, subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "dave@example.org", "alice@easlab.test", subject
    msg.set_content("over HTTPS")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes())


async def test_a_device_syncs_over_https_and_the_ca_stays_across_starts(tmp_path):
    home = tmp_path / "home"
    db = f"sqlite:///{tmp_path / 's.db'}"
    subprocess.run([EASLAB, "init", "--db", db], check=True, capture_output=True, env=env_for(home))
    subprocess.run([EASLAB, "user", "add", "alice", "--password", "Alice-pw-1", "--db", db], check=True,
                   capture_output=True, env=env_for(home))
    ca_file = home / "tls" / "ca.pem"
    with served_tls(home, db) as lines:
        ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
        assert lines["ca"] == f"easlab: lab CA {ca_file} SHA-256 {tls.fingerprint(ca)}"
        https_url = lines["https"].split()[-1]
        assert https_url.startswith("https://127.0.0.1:") and https_url.endswith("/Microsoft-Server-ActiveSync")
        assert lines["http"].split()[-1].startswith("http://127.0.0.1:")
        smtp_port = int(lines["smtp"].rsplit(":", 1)[1])

        verify = ssl.create_default_context(cafile=str(ca_file))  # hostname checked: 127.0.0.1 is in the SAN
        async with Device(https_url, "alice", "Alice-pw-1", device_id="TLSPHONE1", verify=verify) as phone:
            await phone.provision()
            folders = await phone.folder_sync()
            assert folders.ok and phone.core.resolve("Inbox")
            assert (await phone.sync("Inbox")).ok  # SyncKey 0
            await asyncio.to_thread(send_mail, smtp_port, "delivered while on HTTPS")
            synced = await phone.sync("Inbox")
            assert synced.ok
            assert [phone.core.items("Inbox")[sid].text("Email:Subject") for sid in synced.added] == ["delivered while on HTTPS"]
            assert str(phone.http.base_url).startswith("https://")
    first_print = tls.fingerprint(ca)

    with served_tls(home, db) as lines:  # the next start: the same CA, the phone trusts it still
        assert lines["ca"] == f"easlab: lab CA {ca_file} SHA-256 {first_print}"


@pytest.mark.parametrize("which", ["cert", "key", "alone"])
def test_bad_tls_files_are_one_line_and_exit_2(tmp_path, which):
    good = tls.lab_material(tmp_path / "own", ["localhost"])
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    args = {"cert": ["--tls-cert", str(junk), "--tls-key", str(good.key_file)],
            "key": ["--tls-cert", str(good.cert_file), "--tls-key", str(good.ca_file)],
            "alone": ["--tls-cert", str(good.cert_file)]}[which]
    result = subprocess.run([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--https-port", "0",
                             "--db", f"sqlite:///{tmp_path / 's.db'}", *args], capture_output=True, text=True,
                            timeout=60, env=env_for(tmp_path / "home"))
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    expected = {"cert": f"Error: --tls-cert {junk}: not a PEM certificate (",
                "key": f"Error: --tls-key {good.ca_file}: not the PEM private key of {good.cert_file}",
                "alone": "Error: --tls-cert and --tls-key go together"}[which]
    assert result.stderr.startswith(expected), result.stderr
