"""ValidateCert: certificates made on the spot (a root, an intermediate, leaves good and bad), checked
by eas.certs directly and over HTTP against a trust store folder."""
import base64
from datetime import timedelta

import httpx
import pytest


from cryptography import x509  # noqa: E402

from easlab.eas import certs  # noqa: E402
from easlab.eas.wbxml import E  # noqa: E402
from tests.server.directory_helpers import NOW, PKI, der, directory_app, make_cert, make_key, pem  # noqa: E402
from tests.server.eas_helpers import Raw  # noqa: E402

pytestmark = pytest.mark.anyio
NS = "ValidateCert"


@pytest.fixture(scope="module")
def pki():
    return PKI()


def check(leaf, pki, chain=None, anchors=None, now=NOW, crl=False):
    return certs.check(leaf, [pki.inter] if chain is None else chain, [pki.root] if anchors is None else anchors, now, crl)


# -- eas.certs ------------------------------------------------------------------------------------

def test_good_leaf(pki):
    leaf = pki.leaf()
    assert check(leaf, pki) == 1
    # The anchor may also travel in the chain; the order of the chain does not matter.
    assert check(leaf, pki, chain=[pki.root, pki.inter]) == 1
    # Revocation cannot be checked here: CheckCRL=1 says so, CheckCRL=0 lets it pass.
    assert check(leaf, pki, crl=True) == 16
    # No extendedKeyUsage at all means any purpose.
    assert check(pki.leaf(eku=None), pki) == 1


def test_trust(pki):
    leaf = pki.leaf()
    assert check(leaf, pki, chain=[pki.inter, pki.root], anchors=[]) == 4  # the chain ends in an unknown root
    assert check(leaf, pki, anchors=[]) == 5  # and without that root it ends nowhere
    assert check(leaf, pki, anchors=[pki.inter]) == 1  # an intermediate may be the anchor
    key = make_key()
    selfsigned = make_cert("Mallory", key, email="mallory@example.net")
    assert check(selfsigned, pki) == 4
    assert check(selfsigned, pki, anchors=[selfsigned]) == 1  # trusted because configured so


@pytest.mark.req("MS-ASCMD_R4479")  # a signature that does not verify: the Certificate Status 3
def test_broken_chain_and_bad_signatures(pki):
    leaf = pki.leaf()
    assert check(leaf, pki, chain=[]) == 5  # the intermediate is missing
    # An impostor with the intermediate's name but another key: the signature does not verify.
    impostor_key = make_key()
    impostor = make_cert("Easlab Test Mail CA", impostor_key, pki.root, pki.root_key, ca=True, key_usage="ca", eku=None)
    assert check(leaf, pki, chain=[impostor]) == 3
    assert check(leaf, pki, chain=[impostor, pki.inter]) == 1  # the real one is found as well
    # A leaf whose signature bytes were damaged.
    raw = bytearray(der(leaf))
    raw[-3] ^= 0xFF
    assert check(x509.load_der_x509_certificate(bytes(raw)), pki) == 3
    # Not a certificate at all (Exchange answers such a blob with 3 too).
    assert certs.decode("TUlJQ1lqQ0NBY3VnQXdJQkFnSVVZR3M4alpiWDBWeGpPYnU0bncwhQ==") is None
    assert certs.check(None, [], [], NOW) == 3


def test_validity(pki):
    assert check(pki.leaf(days=(-400, -1)), pki) == 7  # expired
    assert check(pki.leaf(days=(1, 300)), pki) == 7  # not yet valid
    assert check(pki.leaf(), pki, now=NOW + timedelta(days=2000)) == 7  # the intermediate has expired by then
    # Valid now, but outliving its issuer: the periods do not nest.
    assert check(pki.leaf(days=(-10, 5000)), pki) == 8


def test_usages(pki):
    assert check(pki.leaf(eku="server"), pki) == 6  # a TLS server certificate is not for email
    assert check(pki.leaf(key_usage="encipher"), pki) == 9  # may not sign
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    assert check(pki.leaf(extra=[(unknown, True)]), pki) == 10  # a critical extension nobody knows
    assert check(pki.leaf(extra=[(unknown, False)]), pki) == 1  # harmless when not critical


def test_roles(pki):
    # A leaf (CA:FALSE) cannot issue certificates.
    not_ca_key = make_key()
    not_ca = make_cert("Not A CA", not_ca_key, pki.inter, pki.inter_key, eku=None)
    below = make_cert("Victim", make_key(), not_ca, not_ca_key)
    assert check(below, pki, chain=[pki.inter, not_ca]) == 11
    # The intermediate has pathLenConstraint 0: no CA beneath it.
    sub_key = make_key()
    sub = make_cert("Sub CA", sub_key, pki.inter, pki.inter_key, ca=True, key_usage="ca", eku=None)
    assert check(make_cert("Deep", make_key(), sub, sub_key), pki, chain=[pki.inter, sub]) == 11


def test_decode_forms(pki):
    leaf = pki.leaf()
    raw = der(leaf)
    text = base64.b64encode(raw).decode()
    assert certs.decode(text) == leaf
    assert certs.decode(text[:20] + "\n" + text[20:]) == leaf  # line breaks are allowed
    assert certs.decode(raw) == leaf  # OPAQUE DER
    assert certs.decode(text.encode()) == leaf  # OPAQUE base64
    assert certs.decode(pem(leaf).decode()) == leaf
    assert certs.decode("not base64!") is None and certs.decode(b"\xff\xfe") is None and certs.decode(None) is None
    assert certs.load_pem_bundle(pem(pki.root) + pem(pki.inter)) == [pki.root, pki.inter]
    assert certs.load_pem_bundle(b"nothing") == []


def test_usable_for_email(pki):
    assert certs.usable_for_email(der(pki.leaf()), NOW)
    assert not certs.usable_for_email(der(pki.leaf()), NOW + timedelta(days=400))
    assert not certs.usable_for_email(der(pki.leaf(eku="server")), NOW)
    assert not certs.usable_for_email(b"junk", NOW)


# -- over HTTP ------------------------------------------------------------------------------------

@pytest.fixture
def trust_store(tmp_path, pki):
    folder = tmp_path / "trust"
    folder.mkdir()
    (folder / "root.pem").write_bytes(pem(pki.root))
    (folder / "README.txt").write_text("not read: only .pem, .crt and .cer files are")
    return folder


@pytest.fixture
def app(settings, db, trust_store):
    from easlab.storage.users import add_user

    with db.session() as s:
        add_user(s, "alice", "secret", "Alice Example")
    return directory_app(settings, db, trust_store=str(trust_store))


def b64(cert):
    return base64.b64encode(der(cert)).decode()


def validate(*leaves, chain=(), crl=None):
    return E(f"{NS}:ValidateCert",
             E(f"{NS}:CertificateChain", *(E(f"{NS}:Certificate", c) for c in chain)) if chain else None,
             E(f"{NS}:Certificates", *(E(f"{NS}:Certificate", c) for c in leaves)),
             E(f"{NS}:CheckCRL", crl) if crl is not None else None)


def answer(*statuses, status=1):
    return E(f"{NS}:ValidateCert", E(f"{NS}:Status", status), *(E(f"{NS}:Certificate", E(f"{NS}:Status", s)) for s in statuses))


@pytest.mark.req("MS-ASCMD_R5387", "MS-ASCMD_R4474")
async def test_statuses_over_http(client, pki):
    dev = Raw(client)
    good, expired, web = pki.leaf(), pki.leaf(days=(-400, -1)), pki.leaf(eku="server")
    stranger = make_cert("Mallory", make_key(), email="mallory@example.net")
    resp = await dev.call("ValidateCert", validate(b64(good), b64(expired), b64(web), b64(stranger), "bm90IGEgY2VydA==",
                                                   chain=[b64(pki.inter)]))
    assert resp == answer(1, 7, 6, 4, 3)
    assert await dev.call("ValidateCert", validate(b64(good))) == answer(5)  # no chain sent
    assert await dev.call("ValidateCert", validate(b64(good), chain=[b64(pki.inter)], crl="1")) == answer(16)
    assert await dev.call("ValidateCert", validate(b64(good), chain=[b64(pki.inter)], crl="0")) == answer(1)
    # OPAQUE DER works as well as base64 text.
    assert await dev.call("ValidateCert", validate(der(good), chain=[der(pki.inter)])) == answer(1)


async def test_without_a_trust_store_nothing_is_trusted(settings, db, app, pki):
    bare = directory_app(settings, db)  # the same mailbox, started without --trust-store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://testserver") as client:
        resp = await Raw(client).call("ValidateCert", validate(b64(pki.leaf()), chain=[b64(pki.inter), b64(pki.root)]))
    assert resp == answer(4)


async def test_protocol_errors(client, pki):
    dev = Raw(client)
    assert await dev.call("ValidateCert", E(f"{NS}:ValidateCert", E(f"{NS}:CheckCRL", 0))) == answer(status=2)
    assert await dev.call("ValidateCert", validate(b64(pki.leaf()), crl="2")) == answer(status=2)
    many = validate(*["TUlJ"] * 101)
    assert await dev.call("ValidateCert", many) == answer(status=2)
    assert await dev.call("ValidateCert", validate(*["TUlJ"] * 99, chain=["TUlJ", "TUlJ"])) == answer(status=2)
    assert await dev.call("ValidateCert", validate(*["TUlJ"] * 100)) == answer(*[3] * 100)
    r = await dev.post("ValidateCert")
    assert r.status_code == 200
    from easlab.eas.wbxml import decode

    assert decode(r.content) == answer(status=2)
