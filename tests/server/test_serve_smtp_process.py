"""`easlab serve --smtp-port 0` as a real process: mail sent over SMTP lands in the database."""
import smtplib
import sqlite3
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

EASLAB = str(Path(sys.executable).parent / "easlab")


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "s.db"
    db = f"sqlite:///{path}"
    subprocess.run([EASLAB, "init", "--db", db], check=True, capture_output=True)
    subprocess.run([EASLAB, "user", "add", "alice", "--password", "pw", "--db", db], check=True, capture_output=True)
    proc = subprocess.Popen([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert "EAS endpoint" in first, first + proc.stderr.read()
        second = proc.stdout.readline()
        assert second.startswith("easlab: SMTP on "), second + proc.stderr.read()
        host, _, port = second.split()[-1].rpartition(":")
        yield proc, host, int(port), path
    finally:
        proc.terminate()
        proc.wait(10)


def test_mail_over_smtp_is_stored(served):
    proc, host, port, path = served
    assert host == "127.0.0.1" and port > 0
    msg = EmailMessage()
    msg["From"] = "Dave <dave@example.org>"
    msg["To"] = "alice@easlab.test"
    msg["Subject"] = "over the wire"
    msg.set_content("hello from a real socket")
    with smtplib.SMTP(host, port, local_hostname="sender.example", timeout=10) as client:
        code, banner = client.ehlo()
        assert code == 250 and b"SIZE 36700160" in banner
        assert client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes(policy=policy.SMTP)) == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("dave@example.org", ["nobody@easlab.test"], msg.as_bytes(policy=policy.SMTP))
    # 250 after DATA means committed: no waiting needed.
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT item.subject, item.sender, item.body_text, item.mime FROM item"
            " JOIN folder ON folder.id = item.folder_id JOIN user ON user.id = folder.user_id"
            " WHERE user.name = 'alice' AND folder.display_name = 'Inbox'").fetchall()
    finally:
        con.close()
    assert len(rows) == 1
    subject, sender, body, mime = rows[0]
    assert (subject, sender) == ("over the wire", '"Dave" <dave@example.org>')
    assert "hello from a real socket" in body
    assert bytes(mime).startswith(b"Received: from sender.example ([127.0.0.1])")
    assert proc.poll() is None
