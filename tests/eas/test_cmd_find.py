"""Find (16.1) over the fake ports: the mailbox, the GAL, Range rules."""
import pytest

from easlab.eas import gal
from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "Find"
pytestmark = pytest.mark.anyio


def find(criterion, text, search_id="s1", rng=None):
    options = E(f"{NS}:Options", E(f"{NS}:Range", rng)) if rng else None
    return E(f"{NS}:Find", E(f"{NS}:SearchId", search_id), E(f"{NS}:ExecuteSearch", E(
        f"{NS}:{criterion}", E(f"{NS}:Query", E("AirSync:Class", "Email"), E(f"{NS}:FreeText", text)), options)))


async def test_the_gal_answers_with_gal_properties():
    store = FakePorts()
    store.directory = [gal.DirectoryEntry("bob", "bob@easlab.test", "Bob Example", first_name="Bob", mobile_phone="555")]
    response = await run(store, "Find", find("GalSearchCriterion", "bob"), version="16.1")
    assert response.body == E(f"{NS}:Find", E(f"{NS}:Status", 1), E(f"{NS}:Response", E("ItemOperations:Store", "GAL"),
        E(f"{NS}:Status", 1), E(f"{NS}:Result", E(f"{NS}:Properties", E("GAL:DisplayName", "Bob Example"),
                                                  E("GAL:Alias", "bob"), E("GAL:FirstName", "Bob"),
                                                  E("GAL:EmailAddress", "bob@easlab.test"))),
        E(f"{NS}:Range", "0-0"), E(f"{NS}:Total", 1)))


async def test_a_mailbox_find_pages_only_from_row_0():
    store = FakePorts()
    store.folder("2", "Inbox", 2)
    store.mail("2", "2:1", "Lab report")
    later = await run(store, "Find", find("MailBoxSearchCriterion", "report", rng="5-9"), version="16.1")
    assert later.body.find(f"{NS}:Response").text(f"{NS}:Status") == "4"
    first = await run(store, "Find", find("MailBoxSearchCriterion", "report"), version="16.1")
    response = first.body.find(f"{NS}:Response")
    assert (response.text(f"{NS}:Status"), response.text(f"{NS}:Total")) == ("1", "1")
    assert response.find(f"{NS}:Result").text("AirSync:ServerId") == "2:2:1"


async def test_no_search_id_is_status_2_and_find_is_16_1_only():
    store = FakePorts()
    response = await run(store, "Find", find("GalSearchCriterion", "bob", search_id=""), version="16.1")
    assert response.body == E(f"{NS}:Find", E(f"{NS}:Status", 2))
    assert (await run(store, "Find", find("GalSearchCriterion", "bob"), version="16.0")).status == 501
