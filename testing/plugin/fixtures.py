"""The pytest wiring: options, the `easlab` marker, the fixtures, the server log on failure, and
`start()` for the same server outside pytest.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .base import Easlab
from .factories import DEFAULT_DOMAIN
from .inprocess import InProcessEaslab
from .process import ProcessEaslab

MODES = {"inprocess": "inprocess", "in-process": "inprocess", "asgi": "inprocess",
         "process": "process", "serve": "process"}
SCOPES = ("function", "module")
MARKER_ARGS = ("mode", "scope", "domain", "clock")


def start(mode: str = "inprocess", *, directory: str | Path | None = None, domain: str = DEFAULT_DOMAIN,
          clock: str = "manual", scope: str = "function") -> Easlab:
    """Start a server outside pytest (benchmarks, scripts); `close()` it, or use it as a context manager."""
    mode = _mode(mode)
    owns = directory is None
    path = Path(tempfile.mkdtemp(prefix="easlab-")) if directory is None else Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    if mode == "process":
        return ProcessEaslab(path, domain, scope, owns_directory=owns, clock=clock)
    return InProcessEaslab(path, domain, scope, clock=clock, owns_directory=owns)


# -- pytest wiring ---------------------------------------------------------------------------------
def _mode(value: str) -> str:
    mode = MODES.get(str(value).strip().lower())
    if mode is None:
        raise pytest.UsageError(f"easlab mode {value!r}: use inprocess or process")
    return mode


@dataclass(frozen=True)
class _Options:
    mode: str
    scope: str
    domain: str
    clock: str


def _options(item) -> _Options:
    config = item.config
    given: dict[str, Any] = {}
    for marker in item.iter_markers("easlab"):  # the closest marker first
        if marker.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.easlab takes keyword arguments only "
                                    f"({', '.join(MARKER_ARGS)})")
        for key, value in marker.kwargs.items():
            if key not in MARKER_ARGS:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.easlab got {key}=; it knows "
                                        f"{', '.join(MARKER_ARGS)}")
            given.setdefault(key, value)
    mode = _mode(given.get("mode") or config.getoption("easlab_mode") or config.getini("easlab_mode") or "inprocess")
    scope = str(given.get("scope") or config.getini("easlab_scope") or "function").lower()
    if scope not in SCOPES:
        raise pytest.UsageError(f"easlab scope {scope!r}: use function or module")
    clock = str(given.get("clock") or "manual").lower()
    if clock not in ("manual", "system"):
        raise pytest.UsageError(f"easlab clock {clock!r}: use manual or system")
    return _Options(mode, scope, str(given.get("domain") or DEFAULT_DOMAIN).lower(), clock)


def _start(options: _Options, tmp_path_factory) -> Easlab:
    directory = tmp_path_factory.mktemp("easlab")
    if options.mode == "process":
        return ProcessEaslab(directory, options.domain, options.scope, clock=options.clock)
    return InProcessEaslab(directory, options.domain, options.scope, clock=options.clock)


def pytest_addoption(parser) -> None:
    group = parser.getgroup("easlab", "easlab server fixture")
    group.addoption("--easlab-mode", dest="easlab_mode", default=None, choices=sorted(set(MODES)),
                    help="run the easlab fixture in-process (default) or as a real `easlab serve` process; "
                         "a test's @pytest.mark.easlab(mode=...) still wins")
    parser.addini("easlab_mode", "easlab fixture mode: inprocess (default) or process", default="inprocess")
    parser.addini("easlab_scope", "easlab store per test (function, default) or shared per module (module)",
                  default="function")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "easlab(mode=None, scope=None, domain=None, clock=None): how the easlab fixture runs its server: "
        "mode 'inprocess' or 'process', scope 'function' or 'module', the mail domain, clock 'manual' "
        "(the default: a ManualClock in-process, `serve --test-clock` in process mode) or 'system'",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test in process mode shows the server's log (which teardown removes)."""
    report = yield
    if report.failed and report.when == "call":
        server = getattr(item, "funcargs", {}).get("easlab")
        if isinstance(server, ProcessEaslab):
            log = server._server_log()
            if log.strip():
                report.sections.append(("easlab server log (tail)", log))
    return report


@pytest.fixture(scope="module")
def _easlab_shared():
    """Servers shared by the tests of one module (scope='module'), stopped after its last test."""
    servers: dict[_Options, Easlab] = {}
    yield servers
    for server in servers.values():
        server.close()


@pytest.fixture
def _easlab_server(request, _easlab_shared, tmp_path_factory):
    options = _options(request.node)
    if options.scope == "module":
        server = _easlab_shared.get(options)
        if server is None:
            server = _easlab_shared[options] = _start(options, tmp_path_factory)
        yield server
        return
    server = _start(options, tmp_path_factory)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def _easlab_loop(_easlab_server):
    """Closes the test's devices and clients on the test's own event loop, before the server stops."""
    yield
    await _easlab_server.aclose_clients()


@pytest.fixture
def easlab(request) -> Easlab:
    """An easlab server with a fresh store: see easlab.testing.plugin and docs/testing.md."""
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        name = backend if isinstance(backend, str) else backend[0]
        if name != "asyncio":
            pytest.skip(f"easlab's server runs on asyncio, not {name}")
        server = request.getfixturevalue("_easlab_server")
        request.getfixturevalue("_easlab_loop")
        return server
    return request.getfixturevalue("_easlab_server")
