"""A real `easlab serve` process on free ports, for black-box tests."""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

EASLAB = str(Path(sys.executable).parent / "easlab")


def cli(db: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([EASLAB, *args, "--db", db], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"easlab {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result


def cli_json(db: str, *args: str):
    return json.loads(cli(db, *args, "--json").stdout)


@contextmanager
def served(db: str, *extra: str):
    """Yields (eas_url, smtp_port, process)."""
    proc = subprocess.Popen([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--db", db, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert "EAS endpoint" in first, first + proc.stderr.read()
        second = proc.stdout.readline()
        assert "SMTP on" in second, second
        yield first.split()[-1], int(second.rsplit(":", 1)[1]), proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
