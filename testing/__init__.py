"""easlab's test harness, installed as `easlab.testing`: what drives a server from outside.

- `device`: a simulated EAS device without I/O (requests as data, the state it keeps, results);
- `aio`: that device over HTTP (httpx), against a URL or the ASGI app in-process;
- `profiles`: how real clients introduce themselves and connect, as data; `profiles_run` drives a
  device through one;
- `replay`: sends a recorded trace (server/traces.py) again and compares the answers;
- `plugin`: the pytest plugin (the `easlab` fixture, factories and waits), registered through
  the `pytest11` entry point `easlab`.

The pieces the running server needs to be testable (faults, traces, the clock, the wait and fault
API) stay in `easlab.server`.
"""
