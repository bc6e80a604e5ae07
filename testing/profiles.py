"""Device profiles: how real EAS clients introduce themselves and what they do first.

A `Profile` is data only (no I/O): the User-Agent and DeviceType a client sends, the protocol
version it settles on against a server that offers everything, the DeviceInformation it reports,
the commands of its first connection in order, its known quirks, and where each fact comes from.
`testing/profiles_run.py` drives an `easlab.testing.aio.Device` through a profile.

Quirks come in three sorts:

- ``sends``: changes what the simulated client sends (the driver acts on it), e.g. a second Ping
  while the first is held, or provisioning only when the server asks;
- ``expects``: something the real client needs from the server, checked by the driver on the
  answers it gets (a failed check is a finding about the server, not an error of the run);
- ``reacts``: how the real client reacts to some answers; documented for test writers, not
  simulated.

Honesty about sources: every profile lists the public material its identifiers and behaviour
come from (`sources`) and, in `assumed`, what no source pinned down (values chosen to look like
the real thing).  Identifiers change with every OS and app release; the values here are
representative, not current.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

SENDS, EXPECTS, REACTS = "sends", "expects", "reacts"
STEP_ACTIONS = ("options", "provision", "settings", "foldersync", "sync-prime", "estimate", "sync", "ping")
PIM = "@pim"  # a Step collection meaning: every contacts, calendar and tasks folder


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class Quirk:
    name: str
    effect: str  # SENDS | EXPECTS | REACTS
    doc: str


@dataclass(frozen=True)
class Step:
    """One command of the first connection.  `args` (by action):

    - options, provision, foldersync: none
    - settings: user_information (bool: also Get UserInformation, as iOS does)
    - sync-prime: collection (folder name or PIM) - Sync with SyncKey 0
    - estimate: collection - GetItemEstimate
    - sync: collection, plus SyncCollection fields (window_size, filter_type, body_preferences,
      deletes_as_moves, mime_support) - Sync with GetChanges until MoreAvailable stops
    - ping: folders (names), heartbeat (seconds)
    """

    action: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    optional: bool = False  # a refusal (e.g. 501 for an unimplemented command) does not stop the run
    only_if_advertised: bool = False  # skipped when OPTIONS did not list the command
    note: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    user_agent: str
    device_type: str
    protocol_version: str
    device_information: dict[str, str] = field(hash=False)  # Settings element name -> value
    # Where DeviceInformation goes: "provision" (Provision phase 1, 14.1+), "settings" (a Settings
    # command), "both", or "none".
    device_information_via: str
    device_id_example: str
    device_id_style: str  # how new_device_id() makes one
    first_connection: tuple[Step, ...]
    quirks: tuple[Quirk, ...]
    sources: tuple[Source, ...]
    extra_headers: dict[str, str] = field(default_factory=dict, hash=False)
    assumed: str = ""  # what the sources do not pin down

    def quirk(self, name: str) -> Quirk | None:
        return next((q for q in self.quirks if q.name == name), None)

    def has(self, name: str) -> bool:
        return self.quirk(name) is not None

    def describe(self) -> str:
        """The profile as Markdown: identifiers, sequence, quirks, sources, assumptions."""
        lines = [f"## {self.name}: {self.title}", "",
                 f"- User-Agent: `{self.user_agent}`", f"- DeviceType: `{self.device_type}`",
                 f"- Protocol version: {self.protocol_version}",
                 f"- DeviceId: like `{self.device_id_example}`",
                 f"- DeviceInformation ({self.device_information_via}): "
                 + ", ".join(f"{k}=`{v}`" for k, v in self.device_information.items())]
        if self.extra_headers:
            lines.append("- Extra headers: " + ", ".join(f"`{k}: {v}`" for k, v in self.extra_headers.items()))
        lines += ["", "First connection:", ""]
        for n, step in enumerate(self.first_connection, 1):
            args = ", ".join(f"{k}={v}" for k, v in step.args.items())
            flags = [f for f, on in (("optional", step.optional), ("if advertised", step.only_if_advertised)) if on]
            lines.append(f"{n}. {step.action}" + (f" ({args})" if args else "") + (f" [{', '.join(flags)}]" if flags else "")
                         + (f": {step.note}" if step.note else ""))
        lines += ["", "Quirks:", ""]
        lines += [f"- `{q.name}` ({q.effect}): {q.doc}" for q in self.quirks]
        lines += ["", "Sources:", ""]
        lines += [f"- {s.title}: {s.url}" for s in self.sources]
        lines += ["", f"Assumed: {self.assumed}"]
        return "\n".join(lines) + "\n"

    def new_device_id(self, rng: random.Random | None = None) -> str:
        """A fresh DeviceId in this client's style (all fit MS-ASHTTP's 1-32 alphanumerics)."""
        rng = rng or random.Random()
        hexdigits = "0123456789abcdef"
        upper = string.ascii_uppercase + string.digits
        style = self.device_id_style
        if style == "ios":
            return "".join(rng.choice(upper) for _ in range(26))
        if style == "android":
            return "androidc" + str(rng.randrange(10**8, 10**10))
        if style == "samsung":
            return "SEC" + "".join(rng.choice("0123456789ABCDEF") for _ in range(13))
        if style == "outlook":
            return "".join(rng.choice(hexdigits) for _ in range(32))
        if style == "tbsync":
            return "MZTB" + "".join(rng.choice(hexdigits) for _ in range(28))
        return "".join(rng.choice(upper) for _ in range(16))


# -- sources ------------------------------------------------------------------------------------------
AOSP = "https://github.com/CyanogenMod/android_packages_apps_Exchange/blob/HEAD/src/com/android/exchange/eas/"
TBSYNC = "https://github.com/jobisoft/EAS-4-TbSync/blob/master/content/"

APPLE_FORUM = Source("Apple Developer Forums, thread 99522: headers and bodies of an iOS 11.2.6 session "
                     "(OPTIONS and first POST with X-MS-PolicyKey 0, Settings with UserInformation Get + "
                     "DeviceInformation Set, MS-ASProtocolVersion 16.1, 26-character DeviceId)",
                     "https://forums.developer.apple.com/thread/99522")
APPLE_DEPLOY = Source("Apple Platform Deployment, 'Identify iPhone, iPad ... using Microsoft Exchange': User-Agent "
                      "Apple-<hardware>/<build> with the build converted to NNN.NNN",
                      "https://support.apple.com/guide/deployment/dep7af5d7f84/web")
JUSTWORKS = Source("justworks.ca, 'Exchange ActiveSync iOS and Android User Agent Strings' (hardware codes)",
                   "https://justworks.ca/blog/tag/Exchange")
GROUPOFFICE_1036 = Source("Intermesh/groupoffice#1036: Z-Push log of an iPhone (Apple-iPhone11C8/2007.75, "
                          "Accept-Language, Provision as first POST against a 14.x server)",
                          "https://github.com/Intermesh/groupoffice/issues/1036")
TRAVELER_409 = Source("HCL Traveler forum: iPhone Pings answered 409 because the device started a new Ping "
                      "before the last one finished",
                      "https://developer.ds.hcl-software.com/t/traveler-and-iphone-giving-409-conflict-error-in-web-server-log/5268")
HORDE_PR41 = Source("horde/ActiveSync PR #41: iOS Ping loops, concurrent Sync/Ping workers on one device",
                    "https://github.com/horde/ActiveSync/pull/41")
OPAQUE_NOTES = Source("shtrumj/19_10_alt_365 field notes 'iOS ActiveSync Body Rendering - WBXML OPAQUE vs STR_I': "
                      "iOS Mail shows 'cannot be displayed' for body data sent as an inline string",
                      "https://github.com/shtrumj/19_10_alt_365")
TINE_4198 = Source("tine20/tine20#4198: iOS keeps re-sending Sync when answers carry no WBXML",
                   "https://github.com/tine20/tine20/issues/4198")
KB_2851708 = Source("Microsoft KB 2851708: iOS 7 resends Provision thousands of times after errors "
                    "(DeviceId ApplDMPGH8DWDFJ3, DeviceType iPad)", "https://mskb.pkisolutions.com/kb/2851708")
AOSP_PROVISION = Source("AOSP Exchange EasProvision.java: DeviceInformation inside Provision for 14.1; Settings "
                        "after provisioning for 12.1/14.0", AOSP + "EasProvision.java")
AOSP_OPERATION = Source("AOSP Exchange EasOperation.java: DeviceInformation fields (Model, IMEI, FriendlyName, "
                        "OS 'Android <release>', PhoneNumber, UserAgent, MobileOperator; no OSLanguage)",
                        AOSP + "EasOperation.java")
AOSP_FOLDERSYNC = Source("AOSP Exchange EasFolderSync.java: account validation is OPTIONS then FolderSync; "
                         "Provision only when the server asks for it", AOSP + "EasFolderSync.java")
AOSP_SYNCMAIL = Source("AOSP Exchange EasSyncMail.java: key-0 Sync without options, then DeletesAsMoves, "
                       "GetChanges, WindowSize 10, FilterType (1 week by default), BodyPreference HTML",
                       AOSP + "EasSyncMail.java")
HORDE_PR120 = Source("horde/horde#120: Android 5 resets the account unless FolderSync lists Outbox and Drafts",
                     "https://github.com/horde/horde/pull/120")
ZPUSH_99 = Source("Z-Hub/Z-Push#99: Gmail's Exchange client, User-Agent Android-Mail/2024.07.28.660409857.Release",
                  "https://github.com/Z-Hub/Z-Push/issues/99")
ZPUSH_196 = Source("Z-Hub/Z-Push#196: devType Android, devId androidc886982656, AS 14.0",
                   "https://github.com/Z-Hub/Z-Push/issues/196")
MIAB_937 = Source("mail-in-a-box/mailinabox#937: Z-Push device list with an Android (androidc195792594, "
                  "Android/5.0.1-EAS-2.0, 14.0) and an Outlook (WindowsOutlook, "
                  "Outlook/16.0 (16.0.7167.6539; C2R; x86), 32 hex digit DeviceId, 14.0)",
                  "https://github.com/mail-in-a-box/mailinabox/issues/937")
HORDE_BROKEN = Source("Horde wiki, ActiveSync/BrokenClientBehavior: client detection by DeviceType/User-Agent "
                      "(Android-Mail, Samsung native, Outlook/15.0 and 16.0) and per-client workarounds",
                      "https://wiki.horde.org/ActiveSync/BrokenClientBehavior")
SAMSUNG_PING = Source("networksteve.com, 'Exchange 2010 & Samsung Mobile Device Bug': Samsung devices re-send "
                      "Ping in a tight loop when Exchange 2010 answers with a null value",
                      "http://networksteve.com/exchange/topic.php/Exchange_2010_\\_Samsung_Mobile_Device_Bug/?Posts=4&TopicId=55776")
GROMMUNIO_26 = Source("grommunio/grommunio-sync#26: Outlook for Windows in a FolderSync -> 449 -> Provision loop, "
                      "with a new DeviceId on each retry", "https://github.com/grommunio/grommunio-sync/issues/26")
ZPUSH_52 = Source("Z-Hub/Z-Push#52: Outlook 365 2401 log, devType WindowsOutlook, 32 hex digit devId, AS 14.0",
                  "https://github.com/Z-Hub/Z-Push/issues/52")
SOPHOS_MAC = Source("Sophos Mobile admin help, macOS Exchange account: 'Macs don't support the ActiveSync protocol' "
                    "(the macOS account is EWS)",
                    "https://docs.sophos.com/esg/smc/9.7/admin/en-us/AdminHelp/Policies/MacUser/EmailAccount/")
OVH_8061 = Source("ovh/docs#8061: Zimbra Pro ActiveSync set-up guides, which list Outlook for macOS among the clients",
                  "https://github.com/ovh/docs/pull/8061")
TB_PROVIDER = Source("EAS-4-TbSync provider.js: DeviceType 'TbSync', User-Agent 'Thunderbird ActiveSync', "
                     "provisioning off by default", TBSYNC + "provider.js")
TB_NETWORK = Source("EAS-4-TbSync includes/network.js: Content-Type on every request, MS-ASProtocolVersion 14.0 "
                    "(or 2.5), 449 and 141-144 switch provisioning on, Settings DeviceInformation only when OPTIONS "
                    "lists Settings, 401 and 403 both mean 'password'", TBSYNC + "includes/network.js")
TB_SYNC = Source("EAS-4-TbSync includes/sync.js: OPTIONS, Provision (if on), Settings, FolderSync; only contacts, "
                 "calendar and tasks folders; GetItemEstimate before each folder's Sync", TBSYNC + "includes/sync.js")
TB_DEVICE_ID = Source("EAS-4-TbSync getNewDeviceId: 'MZTB' + 28 hex digits", TBSYNC + "includes/tools.js")
ACCESS_DIGEST_9 = Source("team digest exchange-access-model.md §9: TbSync backs off autosync 30 min on 110/111",
                         "shared/spec/exchange-access-model.md")


# -- the profiles --------------------------------------------------------------------------------------
def _mail_sync(**options) -> Step:
    return Step("sync", {"collection": "Inbox", **options})


OUTBOX_DRAFTS = Quirk("outbox_and_drafts_required", EXPECTS,
                      "FolderSync must list an Outbox (type 6) and a Drafts folder (type 3); Android 5's Exchange "
                      "client resets the account otherwise (horde/horde#120).")

IOS = Profile(
    name="ios",
    title="iOS Mail (iPhone, iOS 17)",
    user_agent="Apple-iPhone15C2/2101.80",
    device_type="iPhone",
    protocol_version="16.1",
    device_information={"Model": "iPhone15C2", "OS": "iOS 17.1 21B80", "OSLanguage": "en-US",
                        "FriendlyName": "iPhone", "UserAgent": "iOS/17.1 (21B80) dataaccessd/1.0"},
    device_information_via="both",
    device_id_example="O8S9UD4DOH0SLEPOQC5AJ9AE3C",
    device_id_style="ios",
    extra_headers={"Accept-Language": "en-US"},
    first_connection=(
        Step("options", note="carries X-MS-PolicyKey: 0, as every request before provisioning"),
        Step("settings", {"user_information": True}, optional=True,
             note="UserInformation Get + DeviceInformation Set, before any FolderSync"),
        Step("provision", note="both phases"),
        Step("foldersync"),
        Step("sync-prime", {"collection": "Inbox"}),
        _mail_sync(window_size=25, filter_type=3, body_preferences=[(2, 32768)]),
        Step("ping", {"folders": ["Inbox"], "heartbeat": 1680}),
    ),
    quirks=(
        Quirk("policy_key_zero_before_provisioning", SENDS,
              "OPTIONS and the first commands carry X-MS-PolicyKey: 0 before the device has a key (forum 99522)."),
        Quirk("settings_before_foldersync", SENDS,
              "Settings with UserInformation Get and DeviceInformation Set is among the first POSTs (forum 99522)."),
        Quirk("device_information_user_agent_differs", SENDS,
              "DeviceInformation's UserAgent ('iOS/x (build) dataaccessd/1.0') differs from the HTTP User-Agent "
              "('Apple-iPhoneNCN/build') (forum 99522)."),
        Quirk("body_opaque", EXPECTS,
              "Body data (AirSyncBase:Data) must be WBXML OPAQUE; iOS Mail shows 'cannot be displayed' for an "
              "inline string (field notes, shtrumj/19_10_alt_365)."),
        Quirk("duplicate_ping", SENDS,
              "Starts a new Ping on a new connection while the last is still held; the server must end the older "
              "one (HCL Traveler 409s, horde/ActiveSync#41)."),
        Quirk("empty_sync_answer_retry", REACTS,
              "A Sync answered 200 without WBXML makes (older) iOS send the same Sync again after ~80 s "
              "(tine20#4198)."),
        Quirk("provision_retry_storm", REACTS,
              "After server errors on Provision iOS 7 re-sent Provision thousands of times (KB 2851708)."),
    ),
    sources=(APPLE_FORUM, APPLE_DEPLOY, JUSTWORKS, GROUPOFFICE_1036, TRAVELER_409, HORDE_PR41, OPAQUE_NOTES,
             TINE_4198, KB_2851708),
    assumed="The hardware/build pair (iPhone15C2 / 2101.80 for iOS 17.1 21B80 by Apple's conversion rule), the "
            "26-character DeviceId style (iOS 11 trace; older iOS used 'Appl' + serial), and the Sync options "
            "(WindowSize 25, FilterType 3, HTML body preference 32 KB) and Ping heartbeat.",
)

ANDROID_GMAIL = Profile(
    name="android-gmail",
    title="Gmail's Exchange client (Android, AOSP Exchange lineage)",
    user_agent="Android-Mail/2024.07.28.660409857.Release",
    device_type="Android",
    protocol_version="14.1",
    device_information={"Model": "Pixel 7", "IMEI": "356938035643809", "FriendlyName": "Pixel 7",
                        "OS": "Android 14", "PhoneNumber": "+15555550100",
                        "UserAgent": "Android-Mail/2024.07.28.660409857.Release", "MobileOperator": "Lab (00101)"},
    device_information_via="provision",
    device_id_example="androidc886982656",
    device_id_style="android",
    first_connection=(
        Step("options"),
        Step("foldersync", note="account validation; provisioning happens when the server asks"),
        Step("sync-prime", {"collection": "Inbox"}),
        _mail_sync(window_size=10, filter_type=3, deletes_as_moves=True, body_preferences=[(2, 200000)]),
        Step("ping", {"folders": ["Inbox"], "heartbeat": 1140}),
    ),
    quirks=(
        Quirk("foldersync_before_provision", SENDS,
              "Validates with OPTIONS and FolderSync, and provisions only when that FolderSync is refused (AOSP "
              "EasFolderSync)."),
        Quirk("device_information_in_provision", SENDS,
              "At 14.1 DeviceInformation travels in Provision phase 1, without OSLanguage; at 12.1/14.0 a Settings "
              "command follows provisioning instead (AOSP EasProvision/EasOperation)."),
        OUTBOX_DRAFTS,
    ),
    sources=(ZPUSH_99, ZPUSH_196, MIAB_937, AOSP_FOLDERSYNC, AOSP_PROVISION, AOSP_OPERATION, AOSP_SYNCMAIL,
             HORDE_PR120, HORDE_BROKEN),
    assumed="That today's Gmail client keeps the AOSP Exchange behaviour (its EAS code descends from it); the "
            "protocol version (AOSP supports up to 14.1; servers logged 14.0 where 14.1 was not offered); "
            "the TruncationSize 200000, heartbeat and DeviceInformation values.",
)

ANDROID_SAMSUNG = Profile(
    name="android-samsung",
    title="Samsung Email (Galaxy, native Exchange client)",
    user_agent="SAMSUNG-SM-G991B/101.130001",
    device_type="SAMSUNGSMG991B",
    protocol_version="14.1",
    device_information={"Model": "SM-G991B", "IMEI": "352099001761481", "FriendlyName": "Galaxy S21 5G",
                        "OS": "Android 14", "OSLanguage": "English", "PhoneNumber": "+15555550101",
                        "UserAgent": "SAMSUNG-SM-G991B/101.130001", "MobileOperator": "Lab"},
    device_information_via="provision",
    device_id_example="SEC1A2B3C4D5E6F7",
    device_id_style="samsung",
    first_connection=(
        Step("options"),
        Step("provision"),
        Step("foldersync"),
        Step("sync-prime", {"collection": "Inbox"}),
        _mail_sync(window_size=10, filter_type=3, deletes_as_moves=True, body_preferences=[(2, 51200)]),
        Step("ping", {"folders": ["Inbox"], "heartbeat": 900}),
    ),
    quirks=(
        OUTBOX_DRAFTS,
        Quirk("ping_answer_required", EXPECTS,
              "Every Ping answer must carry a Ping Status in WBXML; Samsung devices re-sent Ping in a tight loop "
              "(300,000 a day) when Exchange 2010 answered with a null value (networksteve.com thread)."),
        Quirk("multiplexed_pim", REACTS,
              "The native client syncs one folder per PIM class; servers merge several calendars, contact lists "
              "or task lists into one collection for it (Horde multiplex bitmask 15)."),
    ),
    sources=(SAMSUNG_PING, HORDE_BROKEN, HORDE_PR120),
    assumed="The identifiers: DeviceType 'SAMSUNG' + model without dashes, User-Agent 'SAMSUNG-<model>/<build>', "
            "DeviceId 'SEC' + hex follow what Exchange device lists show, but no primary source was found; the "
            "protocol version, Sync options and the first-connection order (AOSP-like, provisioning up front).",
)

OUTLOOK_WINDOWS = Profile(
    name="outlook-windows",
    title="Outlook for Windows (Outlook 2016+/Microsoft 365, EAS account)",
    user_agent="Outlook/16.0 (16.0.17231.20194; C2R; x64)",
    device_type="WindowsOutlook",
    protocol_version="14.0",
    device_information={"Model": "Outlook", "FriendlyName": "DESKTOP-EASLAB", "OS": "Windows 11",
                        "OSLanguage": "en-US", "UserAgent": "Outlook/16.0 (16.0.17231.20194; C2R; x64)"},
    device_information_via="settings",
    device_id_example="224c6d7124be43638aaf13ebc79d3d46",
    device_id_style="outlook",
    first_connection=(
        Step("options"),
        Step("foldersync", note="449 / 14x here sends it to Provision"),
        Step("settings", optional=True),
        Step("sync-prime", {"collection": "Inbox"}),
        _mail_sync(window_size=100, filter_type=0),
        Step("ping", {"folders": ["Inbox", "Calendar", "Contacts"], "heartbeat": 900}),
    ),
    quirks=(
        Quirk("new_device_id_on_provision_loop", REACTS,
              "When provisioning keeps failing (FolderSync -> 449 -> Provision -> FolderSync -> 449) Outlook makes a "
              "new DeviceId on each retry, so one PC becomes many partnerships (grommunio-sync#26)."),
        Quirk("foldersync_required_ignored", REACTS,
              "After Sync status 12 Outlook 2013 FolderSyncs but keeps syncing the old collection ids, with a "
              "reset SyncKey (Horde BrokenClientBehavior)."),
        Quirk("contacts_multiplexed", REACTS,
              "Horde merges all contact lists into one collection for Outlook/15.0 and 16.0 user agents."),
    ),
    sources=(ZPUSH_52, MIAB_937, GROMMUNIO_26, HORDE_BROKEN),
    assumed="The build number in the User-Agent, the Settings step, the Sync options (all mail, WindowSize 100) "
            "and the folders Pinged.  grommunio-sync#26 saw Outlook negotiate 12.x; Z-Push logs show 14.0.",
)

OUTLOOK_MAC = Profile(
    name="outlook-mac",
    title="Outlook for Mac (synthetic: see 'assumed')",
    user_agent="Outlook-macOS/16.80 (16.80.23121017; macOS 14.2)",
    device_type="MacOutlook",
    protocol_version="16.1",
    device_information={"Model": "MacBookPro18,3", "FriendlyName": "easlab-mac", "OS": "macOS 14.2",
                        "OSLanguage": "en-US", "UserAgent": "Outlook-macOS/16.80 (16.80.23121017; macOS 14.2)"},
    device_information_via="provision",
    device_id_example="0F3C9E2AB17D4E5F8A6B7C8D9E0F1A2B",
    device_id_style="outlook",
    first_connection=(
        Step("options"),
        Step("provision"),
        Step("foldersync"),
        Step("sync-prime", {"collection": "Inbox"}),
        _mail_sync(window_size=100, filter_type=0, body_preferences=[(2, None)]),
        Step("ping", {"folders": ["Inbox"], "heartbeat": 900}),
    ),
    quirks=(
        Quirk("synthetic", REACTS,
              "No trace of Outlook for Mac speaking EAS was found: Outlook for Mac 2011/2016 and macOS use EWS "
              "(Sophos: 'Macs don't support the ActiveSync protocol'); one hosting guide lists Outlook for macOS "
              "among ActiveSync clients (ovh/docs#8061).  This profile is a 16.1 client with Mac identifiers, "
              "for tests that need a desktop 16.1 device; do not read it as Outlook for Mac's real behaviour."),
    ),
    sources=(SOPHOS_MAC, OVH_8061),
    assumed="Everything: identifiers, version and sequence are invented for a desktop 16.1 client.",
)

TBSYNC = Profile(
    name="tbsync",
    title="Thunderbird with TbSync and EAS-4-TbSync (contacts, calendars, tasks)",
    user_agent="Thunderbird ActiveSync",
    device_type="TbSync",
    protocol_version="14.0",
    device_information={"Model": "Computer", "FriendlyName": "TbSync on Device 0f3c9e2ab17d4e5f8a6b7c8d9e0f",
                        "OS": "Linux", "UserAgent": "Thunderbird ActiveSync"},
    device_information_via="settings",
    device_id_example="MZTB0f3c9e2ab17d4e5f8a6b7c8d9e0f",
    device_id_style="tbsync",
    extra_headers={"Content-Type": "application/vnd.ms-sync.wbxml"},
    first_connection=(
        Step("options"),
        Step("settings", only_if_advertised=True, note="DeviceInformation, only if OPTIONS lists Settings"),
        Step("foldersync", note="without X-MS-PolicyKey: provisioning is off until the server asks"),
        Step("sync-prime", {"collection": PIM}),
        Step("estimate", {"collection": PIM}, only_if_advertised=True, optional=True),
        Step("sync", {"collection": PIM, "window_size": 50, "deletes_as_moves": True, "get_changes": True}),
    ),
    quirks=(
        Quirk("provision_on_demand", SENDS,
              "Sends no Provision and no X-MS-PolicyKey until a 449 or status 141-144 switches provisioning on for "
              "the account; then Provision, and the account syncs again (provider.js, network.js)."),
        Quirk("content_type_always", SENDS,
              "Content-Type: application/vnd.ms-sync.wbxml and Content-Length on every POST it sends (network.js); "
              "the simulated client sends the Content-Type on OPTIONS too."),
        Quirk("pim_only", SENDS,
              "Syncs contacts, calendar and tasks folders (types 7, 8, 9, 13, 14, 15) and never mail (sync.js)."),
        Quirk("settings_only_if_advertised", SENDS,
              "Settings and GetItemEstimate are sent only when OPTIONS lists them (network.js)."),
        Quirk("auth_on_403", REACTS, "HTTP 401 and 403 both open the password prompt (network.js)."),
        Quirk("busy_backoff", REACTS, "Backs off autosync for 30 minutes on status 110/111 (team digest §9)."),
    ),
    sources=(TB_PROVIDER, TB_NETWORK, TB_SYNC, TB_DEVICE_ID, ACCESS_DIGEST_9),
    assumed="FriendlyName uses the DeviceId minus its 'MZTB' prefix as TbSync does; OS is the host's (Linux here). "
            "Newer EAS-4-TbSync releases add 16.1 for Exchange Online; this profile is the long-standing 14.0 one.",
)

REGISTRY: dict[str, Profile] = {p.name: p for p in (IOS, ANDROID_GMAIL, ANDROID_SAMSUNG, OUTLOOK_WINDOWS, OUTLOOK_MAC,
                                                     TBSYNC)}


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> Profile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no device profile {name!r}; known: {', '.join(REGISTRY)}") from None
