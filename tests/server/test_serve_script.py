"""./scripts/serve installs only when the dependencies changed (issue 15 §4): a restart runs no pip,
so it is as fast as `easlab serve` and needs no package index.  Run on a copy of the script with a
stand-in venv whose pip and easlab only record that they ran."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUB = "#!/bin/sh\necho \"{name} $*\" >> \"$(dirname \"$0\")/../../calls\"\n"


def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "serve", tmp_path / "scripts" / "serve")
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name in ("python", "pip", "easlab"):
        (bin_ / name).write_text(STUB.format(name=name))
        (bin_ / name).chmod(0o755)
    return tmp_path


def serve(root: Path, *args: str) -> list[str]:
    subprocess.run([str(root / "scripts" / "serve"), *args], check=True, timeout=60, env={**os.environ})
    calls = (root / "calls").read_text().splitlines()
    (root / "calls").unlink()
    return calls


def test_pip_runs_only_when_the_dependencies_change(tmp_path):
    root = checkout(tmp_path)
    first = serve(root, "--port", "9000")
    assert first == ["pip install -q --disable-pip-version-check -e .", "easlab serve --port 9000"]
    assert serve(root) == ["easlab serve"]  # a restart: no pip, no package index
    assert (root / "easlab").resolve() == (root / ".venv" / "bin" / "easlab").resolve()
    with open(root / "pyproject.toml", "a") as f:
        f.write("\n# a changed dependency\n")
    assert serve(root, "--demo") == ["pip install -q --disable-pip-version-check -e .", "easlab serve --demo"]
    assert serve(root) == ["easlab serve"]
