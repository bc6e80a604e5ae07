"""Raw EAS requests for in-process tests: exact trees in, decoded trees out."""
from __future__ import annotations

import base64
import contextlib
from email.message import EmailMessage

from easlab.eas.versions import at_least
from easlab.eas.wbxml import E, decode, encode

EAS = "/Microsoft-Server-ActiveSync"


class Raw:
    def __init__(self, client, user="alice", password="secret", device="dev1", device_type="iPhone", version="14.1"):
        self.client = client
        self.user, self.password = user, password
        self.device, self.device_type, self.version = device, device_type, version
        self.policy_key = None  # None: no X-MS-PolicyKey header at all
        self.user_agent = "easlab-tests/1"

    def headers(self):
        return {
            "Authorization": "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode(),
            "MS-ASProtocolVersion": self.version,
            "Content-Type": "application/vnd.ms-sync.wbxml",
            "User-Agent": self.user_agent,
            **({"X-MS-PolicyKey": str(self.policy_key)} if self.policy_key is not None else {}),
        }

    async def post(self, command, tree=None, raw=None):
        q = f"{EAS}?Cmd={command}&User={self.user}&DeviceId={self.device}&DeviceType={self.device_type}"
        body = raw if raw is not None else (encode(tree) if tree is not None else b"")
        return await self.client.post(q, content=body, headers=self.headers(), timeout=30)

    async def call(self, command, tree=None):
        r = await self.post(command, tree)
        assert r.status_code == 200, r.status_code
        return decode(r.content) if r.content else None

    async def folder_sync(self, key="0"):
        return await self.call("FolderSync", E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", key)))

    async def sync(self, key, collection="1", *extra, top=()):
        tree = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
                 E("AirSync:SyncKey", key), E("AirSync:CollectionId", collection), *extra)), *top)
        return await self.call("Sync", tree)


def collection(resp):
    return resp.find("AirSync:Collections").find("AirSync:Collection")


def commands(resp):
    """[(kind, ServerId, subject)] of a Sync response's first collection."""
    cmds = collection(resp).find("AirSync:Commands")
    out = []
    for c in cmds.children if cmds is not None else []:
        data = c.find("AirSync:ApplicationData")
        out.append((c.name, c.text("AirSync:ServerId"), data.text("Email:Subject") if data is not None else None))
    return out


def message(subject="Hello", sender="Bob Sender <bob@example.net>", to="alice@easlab.test", text="plain body",
            html=None, attachments=(), date=None):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    if date:
        m["Date"] = date
    m.set_content(text)
    if html:
        m.add_alternative(html, subtype="html")
    for name, data, ctype in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def device_information(model="iPhone15,2", os="iOS 17.1 21B80"):
    return E("Settings:DeviceInformation", E("Settings:Set", E("Settings:Model", model), E("Settings:IMEI", "356938035643809"),
             E("Settings:FriendlyName", "Test phone"), E("Settings:OS", os), E("Settings:OSLanguage", "en"),
             E("Settings:PhoneNumber", "+15555550100"), E("Settings:UserAgent", "Apple-iPhone15C2/2101.80"),
             E("Settings:MobileOperator", "Lab")))


async def provision(dev, policy_type=None, info=True):
    """Both phases; leaves dev.policy_key at the final key.  Returns (phase-1, phase-2) responses."""
    policy_type = policy_type or ("MS-WAP-Provisioning-XML" if dev.version == "2.5" else "MS-EAS-Provisioning-WBXML")
    dev.policy_key = 0
    head = [device_information()] if info and at_least(dev.version, "14.1") else []
    first = await dev.call("Provision", E("Provision:Provision", *head, E("Provision:Policies", E("Provision:Policy", E("Provision:PolicyType", policy_type)))))
    temp = first.find("Provision:Policies").find("Provision:Policy").text("Provision:PolicyKey")
    dev.policy_key = temp
    second = await dev.call("Provision", E("Provision:Provision", E("Provision:Policies", E("Provision:Policy",
        E("Provision:PolicyType", policy_type), E("Provision:PolicyKey", temp), E("Provision:Status", 1)))))
    dev.policy_key = second.find("Provision:Policies").find("Provision:Policy").text("Provision:PolicyKey")
    return first, second


@contextlib.asynccontextmanager
async def provisioned_alice(settings, db):
    """(app, device): the app on a ManualClock with user alice, whose device dev1 has provisioned."""
    import httpx

    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock
    from easlab.storage.users import add_user

    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    app = create_app(settings, db, clock=ManualClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        dev = Raw(http)
        await provision(dev)
        yield app, dev
