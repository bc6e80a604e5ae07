"""`easlab serve --workers N`: N server processes on one PostgreSQL store and the same ports.

The parent binds the HTTP, HTTPS and SMTP sockets, forks the workers (each inherits them and the
kernel hands every new connection to one of them), prints the start-up lines once every worker
serves, and supervises: a worker that dies is started again, and SIGTERM or SIGINT stops them all.
The workers share no memory; what one commits wakes the requests the others hold through
PostgreSQL's LISTEN/NOTIFY (server/pgnotify.py).  SQLite takes one writing process, so the CLI
refuses --workers above 1 on it.
"""
from __future__ import annotations

import logging
import os
import signal
import time

from easlab.storage import Database

from .config import Settings

log = logging.getLogger("easlab.workers")

_STOP_GRACE = 10.0  # seconds a worker has to finish its requests after SIGTERM (a second one ends held Pings)
_SECOND_SIGNAL = 2.0  # seconds after the first SIGTERM: uvicorn waits for open requests until a second one
_RESTART_PAUSE = 1.0  # a worker dying at once again is not started in a tight loop


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when the parent dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(settings: Settings, bound, ready_fd: int) -> None:
    """In the forked child: serve on the inherited sockets until told to stop."""
    from .runner import run_loop, serve

    _die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    code = 0
    try:
        run_loop(serve(settings, bound, ready))
    except BaseException:  # noqa: BLE001  (a child must never return into the parent's code)
        log.exception("worker %d failed", os.getpid())
        code = 1
    os._exit(code)


class Supervisor:
    def __init__(self, settings: Settings, bound, count: int):
        self.settings, self.bound, self.count = settings, bound, count
        self.children: dict[int, float] = {}  # pid: when it was started
        self.stopping = False
        self.hurried = False

    def spawn(self) -> int:
        """Start one worker; the read end of its readiness pipe."""
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _worker(self.settings, self.bound, write_fd)
        os.close(write_fd)
        self.children[pid] = time.monotonic()
        return read_fd

    def start(self) -> bool:
        """Every worker serving (True), or one ended before it did (False)."""
        pipes = [self.spawn() for _ in range(self.count)]
        ok = True
        for fd in pipes:
            ok = os.read(fd, 1) == b"1" and ok  # empty: the worker ended first
            os.close(fd)
        return ok

    def stop(self, *_signal) -> None:
        self.stopping = True
        for pid in list(self.children):
            _kill(pid, signal.SIGTERM)

    def supervise(self) -> None:
        """Until every worker has ended after a stop: restart those that die meanwhile."""
        deadline = None
        while self.children:
            if self.stopping and deadline is None:
                deadline = time.monotonic() + _STOP_GRACE
            try:
                pid, status = os.waitpid(-1, os.WNOHANG if deadline else 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid == 0:  # stopping, some still finishing: a second SIGTERM ends held requests, then kill
                self._hurry(deadline)
                time.sleep(0.05)
                continue
            started = self.children.pop(pid, None)
            if started is None or self.stopping:
                continue
            log.warning("worker %d ended (status %d); starting another", pid, status)
            if time.monotonic() - started < _RESTART_PAUSE:
                time.sleep(_RESTART_PAUSE)
            os.close(self.spawn())


    def _hurry(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left < 0:
            for pid in list(self.children):
                _kill(pid, signal.SIGKILL)
        elif left < _STOP_GRACE - _SECOND_SIGNAL and not self.hurried:
            self.hurried = True
            for pid in list(self.children):
                _kill(pid, signal.SIGTERM)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def run_workers(settings: Settings, count: int) -> None:
    """Bind, fork `count` workers, announce, and supervise until SIGTERM or SIGINT."""
    from .runner import StartupError, announce, bind_all

    bound = bind_all(settings)
    supervisor = Supervisor(settings, bound, count)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    try:
        if not supervisor.start():
            supervisor.stop()
            supervisor.supervise()
            raise StartupError("a worker could not start (its error is above)")
        db = Database(settings.db_url)
        try:
            smtp_host = bound.smtp.getsockname()[0]
            announce(settings, db, smtp_host, bound.material)
            print(f"easlab: {count} workers (pids {' '.join(map(str, sorted(supervisor.children)))})", flush=True)
        finally:
            db.dispose()
        supervisor.supervise()
    finally:
        bound.close()
