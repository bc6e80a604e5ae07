"""Every documented bound (the README's "Limits" table): the ones a request's protocol work
enforces live in eas/limits.py and are named here too; the ones on HTTP connections are here.

Exchange serves ActiveSync through IIS and http.sys, whose names these carry where they have one.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import resource
import sys

from easlab.eas.limits import (  # noqa: F401  (re-exported: the table in one place)
    DECODE_IN_THREAD_SIZE, MAX_ITEMOPERATIONS_SIZE, MAX_REQUEST_SIZE, WBXML_MAX_DEPTH, WBXML_MAX_ELEMENTS,
)

log = logging.getLogger("easlab")

# An idle connection between two requests is closed after this many seconds (IIS's
# connectionTimeout is 120 s).  A held Ping is not idle: its request is open.
KEEP_ALIVE_TIMEOUT = 120
# A connection must finish a request's line and headers this many seconds after it opens or after
# its previous answer, or it is closed (http.sys's HeaderWait, 120 s; shorter here, where a
# slow client is an attack rather than a phone on a bad network).
HEADER_TIMEOUT = 30
# The request line and headers together, in bytes (http.sys's MaxRequestBytes), and the number of
# header fields (Kestrel's MaxRequestHeaderCount): past either, 400 and the connection closes.
MAX_REQUEST_BYTES = 16 * 1024
MAX_REQUEST_HEADER_COUNT = 100
# Open connections from one client address; never more than half the descriptors, so one address
# cannot lock every other user out.  Past it a new connection is closed at once.
MAX_CONNECTIONS_PER_ADDRESS = 20_000
# Connections the kernel completes and queues before the server accepts them (listen(2)'s backlog;
# Linux cuts it to net.core.somaxconn).  Past it a new connection's SYN is dropped and the client
# tries again a second or more later: ten thousand phones reconnecting at once after a restart
# would wait out those retries.
LISTEN_BACKLOG = 8192
# Large blocks (request bodies, MIME messages, attachments, answers) are mapped from the system
# with their own pages at least from this size, so freeing one gives its memory back.  glibc's
# default threshold starts at 128 KB but rises to the largest block freed (up to 32 MB): after one
# 5 MB message the next ones come from the heap, which keeps what a request freed, and the
# server's RSS climbs by tens of MB for good (glibc's M_MMAP_THRESHOLD, fixed here).
MMAP_THRESHOLD = 128 * 1024
# How long a thread may hold the GIL while another waits for it (sys.setswitchinterval; Python's
# default is 5 ms).  The event loop and the worker threads pass it back and forth several times per
# request; while one user's request keeps a thread busy in Python (parsing a 5 MB message, reading
# 64 MB of a chunked body on the loop), every hand-off of another user's request waited up to the
# whole interval: three loop-to-thread hops took 50-95 ms at p99 beside a thread busy in Python,
# 18-30 ms at 1 ms (on the loaded 2-core test machine).  A forced switch costs microseconds.
SWITCH_INTERVAL = 0.001
# Descriptors kept for the database, SMTP and logs when the HTTP connection limit is derived from
# the descriptor limit (uvicorn's limit_concurrency: 503 beyond it).
RESERVED_DESCRIPTORS = 128


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one (the usual soft 1,024 is what 1,100 idle
    sockets exhausted); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, target, exc)
    return soft


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD (mallopt M_MMAP_THRESHOLD), so a large block
    freed goes back to the system; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def share_the_gil() -> float:
    """Set the GIL's switch interval to SWITCH_INTERVAL; returns it."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    return sys.getswitchinterval()


def connection_limits(descriptors: int) -> tuple[int, int]:
    """(connections in all, connections per address) that `descriptors` can hold."""
    total = max(descriptors - RESERVED_DESCRIPTORS, 64)
    return total, min(MAX_CONNECTIONS_PER_ADDRESS, max(total // 2, 1))
