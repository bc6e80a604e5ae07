"""Process mode waits for its server on /healthz (server/health.py): one request, answered once
the app serves; a 503 stops the fixture with the parts that are not ready, not a later test."""
from __future__ import annotations

import http.server
import threading
from types import SimpleNamespace

import pytest

from easlab.testing.plugin.process import ProcessEaslab


@pytest.fixture
def health_server():
    """A stand-in server answering /healthz with `state["status"]`, recording the paths asked."""
    state = {"status": 200, "paths": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["paths"].append(self.path)
            body = b'{"status":"unavailable","store":"ok","smtp":"not listening"}'
            self.send_response(state["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["fixture"] = SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}",
                                       _server_log=lambda: "server log tail")
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def test_ready_asks_healthz_once(health_server):
    ProcessEaslab._ready(health_server["fixture"])
    assert health_server["paths"] == ["/healthz"]


def test_a_server_not_ready_stops_the_fixture_naming_the_part(health_server):
    health_server["status"] = 503
    with pytest.raises(RuntimeError) as failure:
        ProcessEaslab._ready(health_server["fixture"])
    assert str(failure.value) == ('easlab serve is not ready: HTTP 503 '
                                  '{"status":"unavailable","store":"ok","smtp":"not listening"}\nserver log tail')
    assert health_server["paths"] == ["/healthz"]
