"""ValidateCert over the fake ports: undecodable certificates, bad requests."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "ValidateCert"
pytestmark = pytest.mark.anyio


async def test_every_certificate_gets_its_status_in_order():
    store = FakePorts()
    tree = E(f"{NS}:ValidateCert", E(f"{NS}:Certificates", E(f"{NS}:Certificate", b"not a certificate"),
                                     E(f"{NS}:Certificate", b"\x30\x03\x02\x01\x01")))
    response = await run(store, "ValidateCert", tree)
    # Neither decodes as X.509: Status 3, "the signature could not be validated" (MS-ASCMD 2.2.3.177.18).
    assert response.body == E(f"{NS}:ValidateCert", E(f"{NS}:Status", 1),
                              E(f"{NS}:Certificate", E(f"{NS}:Status", 3)), E(f"{NS}:Certificate", E(f"{NS}:Status", 3)))


async def test_no_certificate_or_a_bad_check_crl_is_status_2():
    store = FakePorts()
    assert (await run(store, "ValidateCert", E(f"{NS}:ValidateCert", E(f"{NS}:Certificates")))).body == \
        E(f"{NS}:ValidateCert", E(f"{NS}:Status", 2))
    tree = E(f"{NS}:ValidateCert", E(f"{NS}:Certificates", E(f"{NS}:Certificate", b"x")), E(f"{NS}:CheckCRL", 2))
    assert (await run(store, "ValidateCert", tree)).body == E(f"{NS}:ValidateCert", E(f"{NS}:Status", 2))
