"""The fuzz harness for long: mutated requests of every EAS command through the ASGI app.

The same seeded mutator as the suite's bounded round (easlab.testing.fuzz; the test is
tests/server/test_fuzz_boundary.py), run for `--requests` inputs over `--jobs` processes, each
with its own SQLite store (a fresh one every `--reset-every` rounds, so a mailbox the fuzz fills
with drafts and sent mail does not turn the run into a benchmark of one huge folder).

Reported: inputs sent, inputs a second, answers by HTTP status, undesigned answers (a status the
server does not design for that version, or an ERROR record from the handler boundary) and crashes
(an exception escaping the app).  The aim (issue 13): 0 undesigned and 0 crashes over 1,000,000.

    .venv/bin/python bench/fuzz.py                      # 1,000,000 inputs, one job a core
    .venv/bin/python bench/fuzz.py --requests 20000 --no-record
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import command_line, python_version, record, tree_state, utc_now

TITLE = "fuzz: mutated requests of every command at the HTTP boundary (bench/fuzz.py)"
COLUMNS = ["date", "command", "tree", "inputs", "jobs", "inputs/s", "undesigned", "crashes", "answers by status", "python"]
MUTANTS = 8


class Errors(logging.Handler):
    """Counts the records at ERROR and keeps the first few: the handler boundary's mark of a fault
    it did not design an answer for."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count, self.first = 0, []

    def emit(self, record):
        self.count += 1
        if len(self.first) < 5:
            self.first.append(record.getMessage()[:300])


def _store(folder: Path, index: int):
    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock
    from easlab.server.config import Settings
    from easlab.storage.db import Database
    from easlab.storage.users import add_user

    url = f"sqlite:///{folder / f'fuzz{index}.db'}"
    db = Database(url)
    db.create_all()
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        add_user(session, "bob", "hunter2", "Bob Example")
    return db, create_app(Settings(db_url=url, domain="easlab.test"), db, clock=ManualClock())


async def _run(job: int, quota: int, seed: int, reset_every: int) -> dict:
    import httpx

    from easlab.testing.fuzz import VERSIONS, designed, send, work

    errors = Errors()
    root = logging.getLogger()
    root.handlers[:] = [errors]
    root.setLevel(logging.WARNING)
    rng = random.Random(seed * 1000 + job)
    statuses: Counter = Counter()
    sent = crashes = undesigned = rounds = 0
    examples: list[str] = []
    with tempfile.TemporaryDirectory(prefix="easlab-fuzz-") as tmp:
        db = None
        while sent < quota:
            if rounds % reset_every == 0:
                if db is not None:
                    db.dispose()
                db, app = _store(Path(tmp), rounds)
                from easlab.testing.fuzz import _message

                await app.state.store.deliver(_message(), ["alice@easlab.test"])
            rounds += 1
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
                for version in VERSIONS:
                    line = f"User=alice&DeviceId=fuzz{job}x{version.replace('.', '')}&DeviceType=Fuzz"
                    for cmd, body in work(rng, version, MUTANTS, swept=rounds == 1):
                        before = errors.count
                        try:
                            r = await send(client, app.state.clock, f"Cmd={cmd}&{line}", body, version)
                        except Exception as exc:  # noqa: BLE001 - what the benchmark counts
                            crashes += 1
                            examples.append(f"crash {cmd} {version}: {exc!r}"[:300])
                            continue
                        finally:
                            sent += 1
                        statuses[r.status_code] += 1
                        if r.status_code not in designed(version) or errors.count != before:
                            undesigned += 1
                            if len(examples) < 5:
                                examples.append(f"{cmd} {version} -> {r.status_code}: {body[:80]!r} {errors.first[-1:]}")
        db.dispose()
    return {"sent": sent, "statuses": statuses, "crashes": crashes, "undesigned": undesigned, "examples": examples}


def _job(args: tuple[int, int, int, int]) -> dict:
    return asyncio.run(_run(*args))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--reset-every", type=int, default=100, help="rounds between fresh stores (a round is ~500 inputs)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    quota = -(-args.requests // args.jobs)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.map(_job, [(job, quota, args.seed, args.reset_every) for job in range(args.jobs)])
    seconds = time.perf_counter() - started
    sent = sum(r["sent"] for r in results)
    statuses = sum((r["statuses"] for r in results), Counter())
    undesigned = sum(r["undesigned"] for r in results)
    crashes = sum(r["crashes"] for r in results)
    by_status = ", ".join(f"{code}: {n:,}" for code, n in sorted(statuses.items()))
    print(f"{sent:,} inputs in {seconds:,.0f} s over {args.jobs} jobs ({sent / seconds:,.0f}/s); "
          f"undesigned {undesigned}, crashes {crashes}; answers {by_status}")
    for result in results:
        for example in result["examples"]:
            print("  " + example)
    if not args.no_record:
        record(TITLE, "Inputs are the suite's seeded mutator (easlab.testing.fuzz) at scale; undesigned counts a "
               "status the server does not design for the version or an ERROR record from the handler boundary.",
               COLUMNS, [utc_now(), f"`{command_line('fuzz.py')}`", tree_state(), f"{sent:,}", str(args.jobs),
                         f"{sent / seconds:,.0f}", str(undesigned), str(crashes), by_status, python_version()])
    return 1 if undesigned or crashes else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
