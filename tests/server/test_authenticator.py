"""The EAS/web authenticator's own tables stay bounded whatever a client sends (issue 13 point 5)."""
import base64

from easlab.server.auth import Authenticator
from easlab.storage.users import add_user


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_wrong_passwords_leave_nothing_in_the_inflight_table(db):
    with db.session() as session:
        add_user(session, "alice", "right")
    auth = Authenticator(db, "easlab.test")
    for n in range(5):
        assert auth.authenticate(basic("alice", f"wrong{n}")) is None
    assert auth._inflight == {} and len(auth._verified) == 0
    assert auth.authenticate(basic("alice", "right")).name == "alice"
    assert auth._inflight == {} and len(auth._verified) == 1
