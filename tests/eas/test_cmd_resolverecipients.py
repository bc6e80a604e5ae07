"""ResolveRecipients over the fake ports: resolved, ambiguous, unknown, a bad request."""
import pytest

from easlab.eas import gal
from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "ResolveRecipients"
pytestmark = pytest.mark.anyio


def recipient(entry):
    return E(f"{NS}:Recipient", E(f"{NS}:Type", 1), E(f"{NS}:DisplayName", entry.shown_name),
             E(f"{NS}:EmailAddress", entry.email_address))


async def test_resolved_ambiguous_and_unknown_names():
    store = FakePorts()
    bob, bobby = gal.DirectoryEntry("bob", "bob@easlab.test", "Bob Example"), gal.DirectoryEntry("bobby", "bobby@easlab.test", "Bobby Other")
    store.directory = [bob, bobby]
    tree = E(f"{NS}:ResolveRecipients", E(f"{NS}:To", "bob@easlab.test"), E(f"{NS}:To", "bo"), E(f"{NS}:To", "zed"))
    response = await run(store, "ResolveRecipients", tree)
    assert response.body == E(f"{NS}:ResolveRecipients", E(f"{NS}:Status", 1),
        E(f"{NS}:Response", E(f"{NS}:To", "bob@easlab.test"), E(f"{NS}:Status", 1), E(f"{NS}:RecipientCount", 1), recipient(bob)),
        E(f"{NS}:Response", E(f"{NS}:To", "bo"), E(f"{NS}:Status", 2), E(f"{NS}:RecipientCount", 2), recipient(bob), recipient(bobby)),
        E(f"{NS}:Response", E(f"{NS}:To", "zed"), E(f"{NS}:Status", 4), E(f"{NS}:RecipientCount", 0)))


async def test_no_to_is_status_5():
    response = await run(FakePorts(), "ResolveRecipients", E(f"{NS}:ResolveRecipients", E(f"{NS}:Options")))
    assert response.body == E(f"{NS}:ResolveRecipients", E(f"{NS}:Status", 5))
