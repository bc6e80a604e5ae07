"""The fuzz harness for long: mutated requests of every EAS command through the ASGI app.

The same seeded mutator as the suite's bounded round (easlab.testing.fuzz; the test is
tests/server/test_fuzz_boundary.py), run for `--requests` inputs over `--jobs` processes.  Every
input is one POST handed to the ASGI app as an HTTP server hands it (easlab.testing.fuzz.call: the
real authentication, access gate, store and encoder; no socket, no HTTP client library).

The run is cut into chunks of `--reset-every` rounds (a round is every command's requests, mutated,
in every version: ~540 inputs).  A chunk starts from a fresh store (a copy of one template SQLite
file: two users and one delivered message), so a mailbox the fuzz fills with drafts and sent mail
does not turn the run into a benchmark of one huge folder, and its mutator is seeded from
(--seed, chunk number), so a chunk is the same inputs whichever process runs it and when.  The
stores live on tmpfs (/dev/shm) when there is one: nothing the fuzz checks depends on fsync.

Each finished chunk is added to a checkpoint file (--checkpoint) and a progress line with the
partial tally is printed every --progress inputs.  `--resume` runs only the chunks the checkpoint
lacks (same seed, chunk size and mutants), so a long run can be stopped (Ctrl-C records what the
finished chunks add up to, marked partial) and continued into one total (its seconds: this run's,
plus the checkpointed chunks' own seconds divided by the jobs).

Reported: inputs sent, inputs a second, answers by HTTP status, undesigned answers (a status the
server does not design for that version, or an ERROR record from the handler boundary) and crashes
(an exception escaping the app).  The aim (issue 13): 0 undesigned and 0 crashes over 1,000,000.

    .venv/bin/python bench/fuzz.py                      # 1,000,000 inputs, one job a core
    .venv/bin/python bench/fuzz.py --requests 20000 --no-record
    .venv/bin/python bench/fuzz.py --resume             # after Ctrl-C: the rest, then one row
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

from _common import command_line, python_version, record, tree_state, utc_now

TITLE = "fuzz: mutated requests of every command at the HTTP boundary (bench/fuzz.py)"
COLUMNS = ["date", "command", "tree", "inputs", "jobs", "inputs/s", "undesigned", "crashes", "answers by status", "python"]
MUTANTS = 8
TMPFS = Path("/dev/shm")
CHECKPOINT = Path(__file__).resolve().parent / "fuzz-checkpoint.json"


def round_size() -> int:
    """Inputs in one round without the sweep (the same every round: `work` draws a fixed count)."""
    import random

    from easlab.testing.fuzz import VERSIONS, work

    return len(VERSIONS) * len(work(random.Random(0), VERSIONS[0], MUTANTS, swept=False))


def _template(folder: Path) -> Path:
    """The SQLite file every chunk's store is copied from: schema, alice and bob, one message."""
    import asyncio

    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock
    from easlab.server.config import Settings
    from easlab.storage.db import Database
    from easlab.storage.users import add_user
    from easlab.testing.fuzz import _message

    path = folder / "template.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    db.create_all()
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        add_user(session, "bob", "hunter2", "Bob Example")
    app = create_app(Settings(db_url=url, domain="easlab.test"), db, clock=ManualClock())
    asyncio.run(app.state.store.deliver(_message(), ["alice@easlab.test"]))
    with db.engine.connect() as connection:  # the WAL folded in, so the one file is the whole store
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


_folder: Path | None = None


def _worker_start(base: str) -> None:
    """In each worker: Ctrl-C is the parent's to handle; a template store of its own."""
    import logging
    import tempfile

    global _folder
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger().handlers[:] = []
    _folder = Path(tempfile.mkdtemp(prefix="easlab-fuzz-", dir=base))
    _template(_folder)


async def _chunk(index: int, seed: int, rounds: int) -> dict:
    import random
    import shutil

    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock
    from easlab.server.config import Settings
    from easlab.storage.db import Database
    from easlab.testing.fuzz import VERSIONS, Tally, counting_errors, fuzz_round

    assert _folder is not None
    path = _folder / f"chunk{index}.db"
    shutil.copyfile(_folder / "template.db", path)
    url = f"sqlite:///{path}"
    db = Database(url)
    app = create_app(Settings(db_url=url, domain="easlab.test"), db, clock=ManualClock())
    rng = random.Random(f"{seed}/{index}")
    tally = Tally()
    started = time.perf_counter()
    with counting_errors() as errors:
        for n in range(rounds):
            # The leaf sweep is the same every time: once, in the first chunk.
            swept = VERSIONS if index == 0 and n == 0 else ()
            await fuzz_round(app, rng, tally, errors, f"fuzz{index}", MUTANTS, swept)
    db.dispose()
    for leftover in _folder.glob(f"chunk{index}.db*"):
        leftover.unlink()
    return {"index": index, "seconds": time.perf_counter() - started, **tally.as_json()}


def _job(args: tuple[int, int, int]) -> dict:
    import asyncio

    return asyncio.run(_chunk(*args))


def _load(path: Path, plan: dict) -> dict[int, dict]:
    """The finished chunks of a checkpoint made with the same plan."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text("utf-8"))
    if data.get("plan") != plan:
        raise SystemExit(f"{path} was made with {data.get('plan')}, not {plan}: run without --resume")
    return {int(k): v for k, v in data["chunks"].items()}


def _save(path: Path, plan: dict, done: dict[int, dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"plan": plan, "tree": tree_state(), "chunks": done}, indent=0), "utf-8")
    tmp.replace(path)


def _total(done: dict[int, dict]):
    from easlab.testing.fuzz import Tally

    total = Tally()
    for index in sorted(done):
        total.add(Tally.from_json(done[index]))
    return total


def _line(total, seconds: float, jobs: int) -> str:
    by_status = ", ".join(f"{code}: {n:,}" for code, n in sorted(total.statuses.items()))
    return (f"{total.sent:,} inputs in {seconds:,.0f} s over {jobs} jobs ({total.sent / seconds:,.0f}/s); "
            f"undesigned {total.undesigned}, crashes {total.crashes}; answers {by_status}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--reset-every", type=int, default=10, help="rounds a store lives (a chunk; ~540 inputs a round)")
    parser.add_argument("--progress", type=int, default=50_000, help="inputs between progress lines")
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    parser.add_argument("--resume", action="store_true", help="run only the chunks the checkpoint lacks")
    parser.add_argument("--no-record", action="store_true")
    return parser.parse_args()


def main() -> int:
    args = _parse()
    per_round = round_size()
    # Chunks no longer than a store's life, and at least one a job, so short runs use every job.
    rounds = max(1, min(args.reset_every, -(-args.requests // (per_round * args.jobs))))
    plan = {"seed": args.seed, "rounds": rounds, "mutants": MUTANTS, "chunks": -(-args.requests // (per_round * rounds))}
    done = _load(args.checkpoint, plan) if args.resume else {}
    todo = [i for i in range(plan["chunks"]) if i not in done]
    base = str(TMPFS) if TMPFS.is_dir() and os.access(TMPFS, os.W_OK) else None
    print(f"{plan['chunks']} chunks of {rounds} rounds ({per_round * rounds:,} inputs), {len(done)} done before; "
          f"stores on {base or 'the temporary folder'}", flush=True)
    started, seconds_before = time.perf_counter(), sum(c["seconds"] for c in done.values()) / args.jobs
    last, partial = _total(done).sent, False
    # Ctrl-C, or SIGINT/SIGTERM from a script (a background job starts with SIGINT ignored): stop
    # after recording what the finished chunks add up to.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    pool = multiprocessing.get_context("spawn").Pool(args.jobs, _worker_start, (base,))
    try:
        for result in pool.imap_unordered(_job, [(i, args.seed, rounds) for i in todo]):
            done[result["index"]] = result
            _save(args.checkpoint, plan, done)
            total = _total(done)
            if total.sent - last >= args.progress or len(done) == plan["chunks"]:
                last = total.sent
                print(f"[{len(done)}/{plan['chunks']} chunks] " + _line(total, seconds_before + time.perf_counter() - started, args.jobs),
                      flush=True)
        pool.close()
    except KeyboardInterrupt:
        partial = True
        print(f"interrupted: {len(done)} of {plan['chunks']} chunks finished (in {args.checkpoint}; --resume runs the rest)",
              flush=True)
    finally:
        pool.terminate()
        pool.join()
    return _report(args, done, seconds_before + time.perf_counter() - started, partial, base)


def _report(args, done: dict[int, dict], seconds: float, partial: bool, base: str | None) -> int:
    total = _total(done)
    if not total.sent:
        return 1
    print(_line(total, seconds, args.jobs))
    for example in total.examples:
        print("  " + example)
    if not args.no_record:
        by_status = ", ".join(f"{code}: {n:,}" for code, n in sorted(total.statuses.items()))
        store = "SQLite on tmpfs" if base else "SQLite"
        jobs = f"{args.jobs} ({store}, fresh every {args.reset_every} rounds{', resumed' if args.resume else ''})"
        record(TITLE, "Inputs are the suite's seeded mutator (easlab.testing.fuzz) at scale; undesigned counts a "
               "status the server does not design for the version or an ERROR record from the handler boundary.",
               COLUMNS, [utc_now(), f"`{command_line('fuzz.py')}`", tree_state(), f"{total.sent:,}" + (" (partial)" if partial else ""),
                         jobs, f"{total.sent / seconds:,.0f}", str(total.undesigned), str(total.crashes), by_status,
                         python_version()])
    return 1 if total.undesigned or total.crashes or partial else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
