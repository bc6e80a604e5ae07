"""The codec against an independent implementation: Debian's libwbxml 0.11.8.

(a) every real capture in shared/fixtures/captures is decoded by `wbxml2xml` (run live) and by
    `eas.wbxml.decode`; both trees are reduced to (code page, token, text) and must be identical, and
    our encoder must give back the capture's exact bytes;
(b) every tag libwbxml's ActiveSync table knows is encoded by `xml2wbxml` (run live) from a
    one-element document and must come out byte-identical from our encoder; libwbxml's token set must
    be a subset of ours.

Names are never compared: libwbxml spells many tokens differently (Email 0x3B FlagStatus vs Status,
Calendar 0x09 Attendee_Email vs Email, namespace "AirSync:" vs "AirSync", ...), so both sides are
mapped to (page, token) through their own tables -- libwbxml's read out of the shared library itself.

A missing libwbxml, tool or capture directory is a failure, never a skip.
"""
from __future__ import annotations

import base64
import os
import random
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from easlab.eas.wbxml import E, Element, decode, encode
from easlab.eas.wbxml.tables import DECODE, ENCODE

from . import libwbxml

TIMEOUT = 30  # seconds for one run of a libwbxml tool


def _shared_dir() -> Path:
    override = os.environ.get("EASLAB_SHARED")
    if override:
        return Path(override)
    # tests/wbxml/this_file -> parents[2] is the repository, whose sibling is shared/.
    return Path(__file__).resolve().parents[3] / "shared"


CAPTURES = _shared_dir() / "fixtures" / "captures"


def _capture_params() -> list:
    files = sorted(CAPTURES.rglob("*.wbxml")) if CAPTURES.is_dir() else []
    if not files:
        # An empty parameter list would make pytest skip the test; fail it instead.
        return [pytest.param(None, id="no-captures-found")]
    return [pytest.param(f, id=f.relative_to(CAPTURES).as_posix()) for f in files]


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    problem = None
    try:
        found = libwbxml.require_tools()
        libwbxml.tag_entries()  # also needs the shared library
    except libwbxml.LibwbxmlMissing as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"libwbxml reference unavailable: {problem}", pytrace=False)
    return found


# libwbxml's wbxml2xml prints OPAQUE content of these (page, token)s as base64, and every other OPAQUE
# as the raw bytes (XML-escaped, not base64). Found by probing every token (see
# test_opaque_rendering_probe, which keeps this set honest).
LIBWBXML_BASE64_OPAQUE = frozenset({
    (10, 0x1C),  # ResolveRecipients:Data
    (15, 0x20),  # Search:ConversationId
    (16, 0x12),  # GAL:Data
    (17, 0x1F),  # AirSyncBase:Content
    (20, 0x18),  # ItemOperations:ConversationId
    (21, 0x10),  # ComposeMail:Mime
    (22, 0x09),  # Email2:ConversationId
    (22, 0x0A),  # Email2:ConversationIndex
})


# --- comparable trees -------------------------------------------------------------------------------
# A node is (page, token, text, children): text is "" for an element without content, children a
# tuple of nodes.  XML parsers turn CR LF and lone CR into LF, so our side is normalised the same way.
def _xml_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _ours(el: Element) -> tuple:
    page, token = ENCODE[el.tag]
    value = el.value
    if isinstance(value, bytes):
        if (page, token) in LIBWBXML_BASE64_OPAQUE:
            text = base64.b64encode(value).decode("ascii")
        else:
            text = _xml_newlines(value.decode("utf-8"))
    else:
        text = _xml_newlines(value or "")
    return (page, token, text, tuple(_ours(child) for child in el.children))


def _theirs(node: ET.Element, where: str = "") -> tuple:
    assert node.tag.startswith("{"), f"libwbxml wrote <{node.tag}> without a namespace at {where or 'root'}"
    ns, _, name = node.tag[1:].partition("}")
    page = libwbxml.pages_by_namespace().get(ns)
    assert page is not None, f"libwbxml namespace {ns!r} is not in its own table (at {where or 'root'})"
    token = libwbxml.tokens_by_name().get((page, name))
    assert token is not None, f"libwbxml name {ns}{name} is not in its own table (at {where or 'root'})"
    assert not node.attrib, f"libwbxml wrote attributes {node.attrib} on {ns}{name}"
    here = f"{where}/{name}"
    children = tuple(_theirs(child, here) for child in node)
    assert not children or not (node.text or "").strip(), f"libwbxml mixed text and elements at {here}"
    return (page, token, "" if children else (node.text or ""), children)


def _first_difference(ours: tuple, theirs: tuple, path: str = "") -> str | None:
    label = DECODE.get(ours[0], [None] * 64)[ours[1]] or f"page {ours[0]} token 0x{ours[1]:02X}"
    here = f"{path}/{label}"
    if ours[:2] != theirs[:2]:
        other = libwbxml.tags().get(theirs[:2], "?")
        return f"{here}: ours is (page {ours[0]}, 0x{ours[1]:02X}), libwbxml's is (page {theirs[0]}, 0x{theirs[1]:02X}) {other}"
    if ours[2] != theirs[2]:
        return f"{here}: our text {ours[2][:200]!r} != libwbxml's {theirs[2][:200]!r}"
    if len(ours[3]) != len(theirs[3]):
        return f"{here}: we have {len(ours[3])} children, libwbxml {len(theirs[3])}"
    for a, b in zip(ours[3], theirs[3]):
        found = _first_difference(a, b, here)
        if found:
            return found
    return None


def _wbxml2xml(tool: str, src: Path, out: Path) -> bytes:
    # -k keeps leading/trailing whitespace of text, which wbxml2xml otherwise strips; with it the
    # comparison of values is exact.
    proc = subprocess.run([tool, "-k", "-l", "ACTIVESYNC", "-m", "0", "-o", str(out), str(src)],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and out.exists(), (
        f"wbxml2xml failed on {src} (exit {proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return out.read_bytes()


def _compare_with_libwbxml(tools: dict[str, str], data: bytes, src: Path, tmp_path: Path) -> None:
    xml = _wbxml2xml(tools["wbxml2xml"], src, tmp_path / "out.xml")
    theirs = _theirs(ET.fromstring(xml))
    ours = _ours(decode(data))
    difference = _first_difference(ours, theirs)
    assert difference is None, f"{src.name}: our decoding differs from libwbxml's at {difference}"
    assert ours == theirs


# --- (a) captures ---------------------------------------------------------------------------------
@pytest.mark.parametrize("capture", _capture_params())
def test_capture_matches_libwbxml(capture: Path | None, tools, tmp_path):
    if capture is None:
        pytest.fail(f"no *.wbxml captures under {CAPTURES}; lay out shared/ beside the repository "
                    "or point EASLAB_SHARED at it", pytrace=False)
    data = capture.read_bytes()
    _compare_with_libwbxml(tools, data, capture, tmp_path)
    assert encode(decode(data)) == data, f"{capture.name} does not re-encode to its own bytes"


def test_opaque_matches_libwbxml(tools, tmp_path):
    """The captures hold no OPAQUE, so check it on a made-up document: every element libwbxml prints
    as base64 with arbitrary bytes, and elements it prints raw with UTF-8 bytes."""
    rng = random.Random(1234)
    blobs = [bytes(rng.randrange(256) for _ in range(n)) for n in (0, 1, 2, 3, 16, 200, 300)]
    leaves = []
    for page, token in sorted(LIBWBXML_BASE64_OPAQUE):
        for blob in blobs:
            leaves.append(E(DECODE[page][token], blob))
    leaves += [
        E("AirSyncBase:Data", "Grüße, <b>&amp;</b>\n".encode()),
        E("ItemOperations:Data", b"plain"),
        E("AirSyncBase:Data", b"x" * 200),
        E("AirSync:SyncKey", "{5C4D-é}"),
    ]
    root = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", *leaves)))
    data = encode(root)
    src = tmp_path / "opaque.wbxml"
    src.write_bytes(data)
    _compare_with_libwbxml(tools, data, src, tmp_path)
    assert encode(decode(data)) == data


def test_opaque_rendering_probe(tools):
    """Which elements libwbxml prints base64: exactly LIBWBXML_BASE64_OPAQUE (probed in-process)."""
    seen = set()
    for (page, token) in libwbxml.tags():
        doc = bytes((0x03, 0x01, 0x6A, 0x00, 0x00, page, token | 0x40, 0xC3, 0x02)) + b"AB" + b"\x01"
        xml = libwbxml.wbxml_to_xml(doc)
        text = ET.fromstring(xml).text
        assert text in ("AB", "QUI="), f"page {page} token 0x{token:02X}: unexpected OPAQUE rendering {xml!r}"
        if text == "QUI=":
            seen.add((page, token))
    assert seen == LIBWBXML_BASE64_OPAQUE


# --- (b) every token libwbxml knows ---------------------------------------------------------------
def _unique_entries() -> list[libwbxml.TagEntry]:
    return list(dict.fromkeys(libwbxml.tag_entries()))


def _xml2wbxml(tool: str, workdir: Path, index: int, entry: libwbxml.TagEntry) -> tuple[libwbxml.TagEntry, bytes | str]:
    ns = libwbxml.namespaces()[entry.page]
    src = workdir / f"{index}.xml"
    out = workdir / f"{index}.wbxml"
    # The DOCTYPE is how xml2wbxml tells the language; without it only root names of page 0 work.
    src.write_text(f'<?xml version="1.0"?>{libwbxml.DOCTYPE}<{entry.name} xmlns="{ns}"/>', encoding="ascii")
    proc = subprocess.run([tool, "-a", "-n", "-o", str(out), str(src)], capture_output=True, timeout=TIMEOUT)
    if proc.returncode != 0 or not out.exists():
        return entry, f"xml2wbxml exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}"
    return entry, out.read_bytes()


def test_every_libwbxml_tag_encodes_identically(tools, tmp_path):
    entries = _unique_entries()
    with ThreadPoolExecutor(max_workers=max(2, min(8, (os.cpu_count() or 2) * 2))) as pool:
        results = list(pool.map(lambda job: _xml2wbxml(tools["xml2wbxml"], tmp_path, *job), enumerate(entries)))
    assert len(results) == len(entries) > 600

    missing, failed, different = [], [], []
    for entry, got in results:
        label = f"{libwbxml.namespaces()[entry.page]}{entry.name} (page {entry.page}, 0x{entry.token:02X})"
        if isinstance(got, str):
            failed.append(f"{label}: {got}")
            continue
        ours = DECODE.get(entry.page, [None] * 64)[entry.token]
        if ours is None:
            missing.append(label)
            continue
        mine = encode(Element(ours))
        if mine != got:
            different.append(f"{label} as {ours}: ours {mine.hex(' ')} libwbxml {got.hex(' ')}")
    assert not failed, "xml2wbxml could not encode:\n" + "\n".join(failed)
    assert not missing, "tokens libwbxml knows and our table lacks:\n" + "\n".join(missing)
    assert not different, "encodings differ:\n" + "\n".join(different)


# What our table has beyond libwbxml 0.11.8 (Debian 12/13): the 16.1 additions that later libwbxml
# releases carry (page 25 Find, MeetingResponse ProposedStartTime/ProposedEndTime, Provision
# AccountOnlyRemoteWipe), and the decode-only Calendar attachment tokens and ComposeMail Type that
# Horde knows from EAS 12.1 clients.
EXPECTED_EXTRAS = frozenset(
    {(25, token) for token in (*range(0x05, 0x0F), *range(0x11, 0x1A), 0x20, 0x21, 0x22)}
    | {(8, 0x10), (8, 0x11), (14, 0x3B), (21, 0x0A)}
    | {(4, token) for token in range(0x2B, 0x33)}
)


def test_libwbxml_tokens_are_a_subset_of_ours(tools):
    theirs = set(libwbxml.tags())
    ours = set(ENCODE.values())
    lacking = sorted(theirs - ours)
    assert not lacking, "libwbxml knows tokens we lack: " + ", ".join(
        f"page {p} 0x{t:02X} {libwbxml.tags()[(p, t)]}" for p, t in lacking)
    extras = ours - theirs
    listing = ", ".join(f"{DECODE[p][t]} ({p}, 0x{t:02X})" for p, t in sorted(extras))
    assert extras == EXPECTED_EXTRAS, (
        f"our extras over libwbxml changed; now: {listing}; "
        f"unexpected: {sorted(extras - EXPECTED_EXTRAS)}, gone: {sorted(EXPECTED_EXTRAS - extras)}")


def test_libwbxml_table_layout(tools):
    """The struct layout read by ctypes gives sane, known rows."""
    tags = libwbxml.tags()
    assert tags[(0, 0x05)] == "Sync"
    assert tags[(17, 0x0A)] == "Body"
    assert tags[(2, 0x3B)] == "FlagStatus"
    assert tags[(4, 0x09)] == "Attendee_Email"
    assert libwbxml.namespaces()[17] == "AirSyncBase:"
    assert set(libwbxml.namespaces()) == set(range(25))
