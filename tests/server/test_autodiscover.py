"""Autodiscover (mobilesync POX): exact documents for settings, redirect, unknown address, the
generic errors; authentication, casing of the path, hostile XML; what `easlab serve` prints."""
import pytest

from easlab.server.autodiscover import phone_setup_text
from easlab.server.config import Settings
from tests.conftest import basic
from tests.server.directory_helpers import add_org, directory_app

pytestmark = pytest.mark.anyio

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
MOBILE = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
GENERIC = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AUTH = {"Authorization": basic("alice@easlab.test", "secret"), "Content-Type": "text/xml"}


@pytest.fixture
def app(settings, db):
    add_org(db)
    settings.public_url = "https://mail.easlab.test/"
    return directory_app(settings, db)


def body(email, schema=MOBILE, requests=1):
    one = (f"<Request><EMailAddress>{email}</EMailAddress>"
           f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request>")
    return f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}">{one * requests}</Autodiscover>'


async def post(client, content, path="/autodiscover/autodiscover.xml", headers=AUTH):
    return await client.post(path, content=content.encode() if isinstance(content, str) else content, headers=headers)


SETTINGS = f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{GENERIC}">
  <Response xmlns="{MOBILE}">
    <Culture>en:us</Culture>
    <User>
      <DisplayName>Alice Example</DisplayName>
      <EMailAddress>alice@easlab.test</EMailAddress>
    </User>
    <Action>
      <Settings>
        <Server>
          <Type>MobileSync</Type>
          <Url>https://mail.easlab.test/Microsoft-Server-ActiveSync</Url>
          <Name>https://mail.easlab.test/Microsoft-Server-ActiveSync</Name>
        </Server>
      </Settings>
    </Action>
  </Response>
</Autodiscover>
"""


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml",
                                  "/AutoDiscover/AutoDiscover.xml", "/AUTODISCOVER/AUTODISCOVER.XML"])
@pytest.mark.req("MS-ASCMD_R703", "MS-ASCMD_R3482", "MS-ASCMD_R3484", "MS-ASCMD_R4001", "MS-ASCMD_R5718",
                 "MS-ASCMD_R5823")
async def test_settings_for_a_mailbox(client, path):
    r = await post(client, body("Alice@EASLAB.test"), path=path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.text == SETTINGS


async def test_any_login_form_and_another_users_address(client):
    headers = {**AUTH, "Authorization": basic("EASLAB\\bob", "hunter2")}
    r = await post(client, body("alice@easlab.test"), headers=headers)
    assert r.text == SETTINGS


async def test_mail_user_is_redirected(client):
    r = await post(client, body("dave@easlab.test"))
    assert r.text == f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{GENERIC}">
  <Response xmlns="{MOBILE}">
    <Culture>en:us</Culture>
    <User>
      <DisplayName>Dave Outside</DisplayName>
      <EMailAddress>dave@easlab.test</EMailAddress>
    </User>
    <Action>
      <Redirect>dave@partner.example</Redirect>
    </Action>
  </Response>
</Autodiscover>
"""


@pytest.mark.parametrize("address", ["nobody@easlab.test", "alice@elsewhere.example", "alice"])
async def test_unknown_address_is_error_status_2(client, address):
    r = await post(client, body(address))
    assert r.status_code == 200
    assert r.text == f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{GENERIC}">
  <Response xmlns="{MOBILE}">
    <Culture>en:us</Culture>
    <User>
      <EMailAddress>{address}</EMailAddress>
    </User>
    <Action>
      <Error>
        <Status>2</Status>
        <Message>No mailbox has the address {address}.</Message>
      </Error>
    </Action>
  </Response>
</Autodiscover>
"""


def generic(code, message):
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{GENERIC}">
  <Response>
    <Error Time="09:00:00.0000000">
      <ErrorCode>{code}</ErrorCode>
      <Message>{message}</Message>
    </Error>
  </Response>
</Autodiscover>
"""


@pytest.mark.req("MS-ASCMD_R2285", "MS-ASCMD_R2286", "MS-ASCMD_R2288", "MS-ASCMD_R3818")
async def test_unsupported_schema_is_601(client):
    outlook = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    r = await post(client, body("alice@easlab.test", schema=outlook))
    assert r.status_code == 200
    assert r.text == generic(601, "No provider for the requested response schema")


@pytest.mark.parametrize("content", [
    body("alice@easlab.test", requests=2),
    body("", schema=MOBILE),
    f'<Autodiscover xmlns="{REQUEST_NS}"><Request><EMailAddress>alice@easlab.test</EMailAddress></Request></Autodiscover>',
    "<Something/>",
])
@pytest.mark.req("MS-ASCMD_R3799", "MS-ASCMD_R2287")
async def test_invalid_requests_are_600(client, content):
    r = await post(client, content)
    assert r.status_code == 200 and r.text == generic(600, "Invalid Request")


async def test_get_is_600_as_for_a_browser(client):
    r = await client.get("/autodiscover/autodiscover.xml", headers=AUTH)
    assert r.status_code == 200 and r.text == generic(600, "Invalid Request")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Autodiscover><Request><EMailAddress>&lol2;</EMailAddress></Request></Autodiscover>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&xxe;</EMailAddress></Request></Autodiscover>"""


@pytest.mark.parametrize("content", ["not xml at all", "<Autodiscover><Request>", "", BILLION_LAUGHS, EXTERNAL,
                                     "<Autodiscover>&undefined;</Autodiscover>", "<a>" * 40 + "</a>" * 40,
                                     b"<Autodiscover>\xff\xfe</Autodiscover>"])
async def test_malformed_or_hostile_xml_is_400(client, content):
    r = await post(client, content)
    assert r.status_code == 400


async def test_authentication(client):
    r = await post(client, body("alice@easlab.test"), headers={"Content-Type": "text/xml"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="easlab"'
    r = await post(client, body("alice@easlab.test"), headers={**AUTH, "Authorization": basic("alice", "wrong")})
    assert r.status_code == 401
    r = await client.get("/autodiscover/autodiscover.xml")
    assert r.status_code == 401


async def test_body_size_limit(client):
    r = await post(client, body("alice@easlab.test") + " " * (64 * 1024))
    assert r.status_code == 413


async def test_other_paths_are_untouched(client):
    assert (await post(client, body("alice@easlab.test"), path="/autodiscover/other.xml")).status_code == 404


def test_phone_setup_text():
    text = phone_setup_text(Settings(host="0.0.0.0", port=8080, public_url="http://192.0.2.10:8080", domain="easlab.test"))
    assert text == "\n".join([
        "easlab: on a phone, add an Exchange (ActiveSync) account:",
        "easlab:   email      NAME@easlab.test",
        "easlab:   server     192.0.2.10:8080  (SSL off)",
        "easlab:   domain     EASLAB  (or leave it empty)",
        "easlab:   user name  NAME, NAME@easlab.test or EASLAB\\NAME",
        "easlab:   Autodiscover answers at http://192.0.2.10:8080/autodiscover/autodiscover.xml",
    ])
    https = phone_setup_text(Settings(public_url="https://mail.example.org/", domain="example.org"))
    assert "easlab:   server     mail.example.org  (SSL on)" in https.splitlines()
    assert "easlab:   domain     EXAMPLE  (or leave it empty)" in https.splitlines()
    local = phone_setup_text(Settings(host="127.0.0.1", port=8080)).splitlines()
    assert local[2] == "easlab:   server     127.0.0.1:8080  (SSL off)"
    assert local[-1] == ("easlab:   127.0.0.1 is this machine only: for phones, serve with --host 0.0.0.0 "
                         "--public-url http://ADDRESS:PORT")
    v6 = phone_setup_text(Settings(host="::1", port=9000)).splitlines()
    assert v6[2] == "easlab:   server     [::1]:9000  (SSL off)"
