"""easlab as a user installs it: the wheel built from this checkout, installed (not editable) into a
fresh venv, serves from there: /healthz says ready and the admin centre's login page renders from
the wheel's templates.  Offline: the wheel is built with this venv's setuptools and wheel
(`--no-build-isolation`), and the fresh venv borrows this venv's dependencies through a .pth line
instead of installing them."""
from __future__ import annotations

import http.client
import os
import selectors
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a build needs is at the checkout's top level; these are not part of it (and may be large).
NOT_BUILT = {".git", ".venv", "venv", "tests", "bench", "docs", "build", "dist", ".ci", ".pytest_cache",
             ".hypothesis", ".mypy_cache", "easlab.egg-info"}
TIMEOUT = 60.0


def run(*command, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=TIMEOUT, **kw)
    assert result.returncode == 0, f"{command}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout (a build writes build/ and *.egg-info into the
    tree it builds; the user's checkout stays as it was)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=lambda folder, names: (
        [n for n in names if n in NOT_BUILT] if Path(folder) == ROOT else
        [n for n in names if n == "__pycache__" or n.endswith(".pyc")]))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-w", base / "dist", source, cwd=base)
    (built,) = (base / "dist").glob("easlab-*.whl")
    assert built.name.endswith("-py3-none-any.whl")  # pure Python: one wheel for every platform
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed and this venv's dependencies visible after its own."""
    target = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", target)
    python = target / "bin" / "python"
    # Installed before the .pth exists, so pip does not take this venv's editable easlab for it.
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)
    own = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (own / "easlab-test-dependencies.pth").write_text("".join(f"{p}\n" for p in borrowed))
    return target


def test_wheel_carries_the_packages_and_their_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("eas", "server", "storage", "testing"):
        assert f"easlab/{folder}/__init__.py" in names
    templates = {p.name for p in (ROOT / "server" / "templates").iterdir() if p.suffix == ".html"}
    assert {f"easlab/server/templates/{t}" for t in templates} <= names and "login.html" in templates
    assert not any(n.split("/")[0] in ("server", "storage", "eas", "testing", "tests") for n in names)
    # The schema's revisions: an installed easlab upgrades databases with them (storage/schema.py).
    revisions = {p.name for p in (ROOT / "storage" / "migrations" / "versions").glob("*.py")}
    assert {f"easlab/storage/migrations/versions/{r}" for r in revisions} <= names and "0001_baseline.py" in revisions
    assert {"easlab/storage/migrations/env.py", "easlab/storage/migrations/script.py.mako"} <= names
    # The demo's top-level fixtures/, where the checkout has one, travel with the wheel.
    fixtures = [p.relative_to(ROOT).as_posix() for p in (ROOT / "fixtures").rglob("*") if p.is_file()]
    assert [f for f in fixtures if not any(n.endswith(f) for n in names)] == []


def read_addresses(proc: subprocess.Popen) -> tuple[str, int]:
    """(host, port) of HTTP from the lines `easlab serve` prints once it listens."""
    buffer, deadline = b"", time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"SMTP on" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining) or not (chunk := os.read(proc.stdout.fileno(), 4096)):
                raise AssertionError(f"easlab serve printed no addresses: {buffer!r}")
            buffer += chunk
    line = next(l for l in buffer.decode().splitlines() if "EAS endpoint" in l)
    host, _, port = line.split()[-1].split("://", 1)[1].split("/", 1)[0].rpartition(":")
    return host, int(port)


def get(host: str, port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_installed_wheel_serves(venv, tmp_path):
    python = venv / "bin" / "python"
    where = run(python, "-c", "import easlab.server.app as m; print(m.__file__)", cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv)  # the wheel's copy, not this checkout
    env = {k: v for k, v in os.environ.items() if not k.startswith("EASLAB_")}
    env["EASLAB_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen([venv / "bin" / "easlab", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--smtp-port", "0", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        host, port = read_addresses(proc)
        status, body = get(host, port, "/healthz")
        assert (status, body) == (200, '{"status":"ready","store":"ok","smtp":"ok"}')
        status, page = get(host, port, "/ecp/login")
        assert status == 200
        assert '<form method="post" action="/ecp/login" class="login">' in page and "<title>" in page
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=TIMEOUT)
    assert (tmp_path / "home" / "easlab.db").exists()  # the data folder the wheel's server was given
    assert "Traceback" not in err.decode(), err.decode()
