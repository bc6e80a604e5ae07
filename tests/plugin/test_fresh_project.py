"""A project that has never seen easlab: a real virtual environment, `pip install` from this
checkout (a wheel, not an editable install; dependencies included, from the package indexes this
machine is configured with), ten lines of test using the fixture, and pytest run there.

The project has packages of its own called `server`, `storage`, `eas` and `testing`, as many
projects do: easlab installs under the one name `easlab`, so both its plugin and the project's own
modules load."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The README's example, verbatim: both modes, a real `easlab serve` for the second.
TEN_LINES = '''\
import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", [pytest.param(m, marks=pytest.mark.easlab(mode=m)) for m in ("inprocess", "process")])
async def test_mail_reaches_the_phone(easlab, mode):
    phone = await easlab.make_device(easlab.make_user("alice"))
    await easlab.deliver(to="alice", subject="Hello from a fresh project")
    assert [item for r in await phone.sync_all("Inbox") for item in r.added] and easlab.mode == mode
'''


OWN_PACKAGES = ("server", "storage", "eas", "testing")

# Uses the plugin (a user and a delivered mail) and imports the project's own packages of the
# same names as easlab's folders in the same test.
OWN_TEST = '''\
import eas, server, storage, testing


def test_own_packages_beside_the_plugin(easlab):
    user = easlab.make_user("carol")
    assert user.name == "carol"
    assert [m.WHOSE for m in (server, storage, eas, testing)] == [
        "the project's own server", "the project's own storage", "the project's own eas", "the project's own testing"]
'''

# Where easlab came from, and every installed file of the distribution that is not under easlab/
# or its dist-info (console scripts aside): site-packages must gain no other top-level name.
WHERE = """
import sys
from importlib.metadata import files
import easlab.server
print(easlab.server.__file__)
print(sys.prefix)
for f in files("easlab"):
    top = f.parts[0]
    if top != "easlab" and not top.startswith("easlab-") and ".." not in f.parts:
        print(f)
"""


def _source_copy(target: Path) -> Path:
    """This checkout's working tree as pip would package it.  Built from a copy: building in place
    would write build/ and an egg-info into a tree others are editing (and a stale build/lib could
    leak into the wheel)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "README.rst", "LICENSE", "MANIFEST.in", "setup.cfg", "setup.py"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, target / name)
    for package in ("eas", "server", "storage", "testing"):
        if (REPO / package).is_dir():
            shutil.copytree(REPO / package, target / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _plugin_args() -> list[str]:
    """Nothing when easlab declares its pytest11 entry point; else the plugin by name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8")).get("project", {})
    declared = project.get("entry-points", {}).get("pytest11", {})
    return [] if declared else ["-p", "easlab.testing.plugin"]


def test_a_fresh_project_installs_easlab_and_passes(tmp_path):
    assert len(TEN_LINES.splitlines()) == 10
    started = time.monotonic()
    source = _source_copy(tmp_path / "easlab-checkout")
    venv = tmp_path / "venv"
    # A real, isolated venv.  Without its own pip: this pip installs into it (--python), which
    # saves bootstrapping one; the dependencies still come from the indexes, reusing pip's cache.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile",
                          "--disable-pip-version-check", str(source), "pytest"],
                         capture_output=True, text=True, timeout=900, env=env)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    installed = time.monotonic()

    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_fresh.py").write_text(TEN_LINES)
    for package in OWN_PACKAGES:  # the project's own packages, named like easlab's folders
        (project / package).mkdir()
        (project / package / "__init__.py").write_text(f"WHOSE = \"the project's own {package}\"\n")
    (project / "test_own_packages.py").write_text(OWN_TEST)
    where = subprocess.run([str(python), "-c", WHERE], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert where.returncode == 0, where.stderr[-3000:]
    module, prefix, *outside = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(prefix) == venv  # the venv's easlab, not this checkout's
    assert outside == [], f"easlab installed files outside easlab/: {outside}"
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args()],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600)
    finished = time.monotonic()
    print(f"fresh project: venv + pip install {installed - started:.1f} s, pytest {finished - installed:.1f} s")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout
