"""No warnings from easlab's dependencies in a user's run: passlib's DeprecationWarnings (its
import of `crypt`, its argon2 backend's use of `argon2.__version__`) stay inside easlab
(storage/passwords.py).  Both checks run a fresh interpreter: in this one passlib is imported
already, and an import warns only once."""
from __future__ import annotations

import subprocess
import sys

HASH_AND_VERIFY = ("from easlab.storage.passwords import hash_password, verify_password\n"
                   "assert verify_password('pw', hash_password('pw'))\n"
                   "assert not verify_password('other', hash_password('pw'))\n")


def test_hashing_raises_no_deprecation_warning_even_as_errors():
    code = "import easlab.server.app, easlab.server.auth\n" + HASH_AND_VERIFY
    result = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_users_pytest_run_with_the_plugin_shows_no_passlib_warning(pytester):
    pytester.makepyfile(test_trivial="def test_hashes():\n" + "".join(f"    {line}\n" for line in HASH_AND_VERIFY.splitlines()))
    result = pytester.runpytest_subprocess("-p", "easlab.testing.plugin", "-W", "default")
    result.assert_outcomes(passed=1, warnings=0)
    output = result.stdout.str() + result.stderr.str()
    assert "DeprecationWarning" not in output and "warnings summary" not in output
