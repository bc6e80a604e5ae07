"""CPU time of starting the `easlab` command: `--help`, `--version` and `user list`.

Each is run as a process, R times; its CPU (user + system, from getrusage of the children) is
taken, and the median printed and recorded.  `user list` reads a fresh SQLite store made by that
same easlab (`easlab init` and one user, in a temporary EASLAB_HOME).  --before EASLAB runs the same
against another install (e.g. /work/main/.venv/bin/easlab) in the same run, alternately, so the
two rows share the machine's load.  Aim (issue 16): under 0.3 s of CPU each.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402  (puts the tree first on sys.path)

TITLE = "bench/cli_start.py — CPU seconds of starting the easlab command"
INTRO = """
CPU time (user + system, getrusage of the child) of `easlab --help`, `easlab --version` and
`easlab user list` (a fresh SQLite store with one user, in a temporary EASLAB_HOME), each run as a
process R times, median (min in brackets); aim < 0.3 s each. "easlab" = the install measured
(this tree's, or --before's, run alternately in the same run). "load" = 1-minute load average at
start / end (2 cores, shared). "tree" = HEAD, +dirty when eas/, server/ or storage/ had
uncommitted changes.
"""
COLUMNS = ["date (UTC)", "command", "tree", "easlab", "R", "--help s", "--version s", "user list s",
           "aim met", "load", "python"]
COMMANDS = {"--help": ["--help"], "--version": ["--version"], "user list": ["user", "list"]}
AIM = 0.3


def cpu_of(argv: list[str], env: dict[str, str]) -> float | None:
    """CPU seconds of one run of argv; None when it fails (an older easlab without --version)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return None if done.returncode else (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def shown(values: list[float | None]) -> str:
    """Median (min) of the runs, or n/a when the command failed."""
    if None in values:
        return "n/a"
    return f"{statistics.median(values):.3f} ({min(values):.3f})"  # type: ignore[type-var]


def prepare(easlab: str, home: Path) -> dict[str, str]:
    """A data folder with a store and one user, made by `easlab` itself (its own schema)."""
    env = {**os.environ, "EASLAB_HOME": str(home)}
    env.pop("EASLAB_DB", None)
    subprocess.run([easlab, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([easlab, "user", "add", "bench", "--password", c.PASSWORD], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (R)")
    parser.add_argument("--easlab", default=str(c.EASLAB), help="the easlab measured (default: this tree's)")
    parser.add_argument("--before", default=None, metavar="EASLAB",
                        help="another easlab measured alongside, e.g. /work/main/.venv/bin/easlab")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tree = c.tree_state()
    load_before = os.getloadavg()[0]
    installs = [args.easlab] + ([args.before] if args.before else [])
    times: dict[str, dict[str, list[float | None]]] = {e: {name: [] for name in COMMANDS} for e in installs}
    with tempfile.TemporaryDirectory(prefix="cli_start-") as tmp:
        envs = {e: prepare(e, Path(tmp) / str(i)) for i, e in enumerate(installs)}
        for _ in range(args.runs):
            for easlab in installs:
                for name, argv in COMMANDS.items():
                    times[easlab][name].append(cpu_of([easlab, *argv], envs[easlab]))
    load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    for easlab in installs:
        runs = times[easlab]
        met = all(None not in values and statistics.median(values) < AIM for values in runs.values())  # type: ignore[type-var]
        print(f"{easlab}: " + ", ".join(f"{name} {shown(runs[name])} s" for name in COMMANDS)
              + f" ({'aim met' if met else f'ABOVE AIM of {AIM} s'})")
        if not args.no_record:
            c.record(TITLE, INTRO, COLUMNS, [
                c.utc_now(), f"`{c.command_line('cli_start.py')}`", tree, f"`{easlab}`", str(args.runs),
                *(shown(runs[name]) for name in COMMANDS),
                "yes" if met else "no", load, c.python_version(),
            ])
    print(f"load average {load}" + ("" if args.no_record else f"; appended to {c.RESULTS.relative_to(c.ROOT)}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
