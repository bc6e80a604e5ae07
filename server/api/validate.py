"""Input checks and the error answer for every route under /api.

One error shape, {"error": message} (plus whatever a caller adds, as the 408 of a wait does),
and one body validator (`take`) with one table of value kinds, so the admin operations, faults,
traces and waits refuse bad input in the same words.  `whole` is the number rule for query
strings: the API answers 400 for what it refuses, a page of the admin center (server/web/pages.py
`_number`, the same rule) ignores it.  Fault parameters keep their own check in storage/faults.py:
that one guards the store for every caller (CLI, plugin, API), not just this API.
"""
from __future__ import annotations

import json
import math

from starlette.requests import Request
from starlette.responses import JSONResponse

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
WWW_AUTHENTICATE = 'Basic realm="easlab admin", charset="UTF-8"'
# Long enough for any 64-bit id; Python's int() of a long digit string costs quadratic time.
MAX_DIGITS = 19


class BadInput(ValueError):
    pass


def error(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    """The API's only error answer."""
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def unauthorized(message: str) -> JSONResponse:
    return error(401, message, {"WWW-Authenticate": WWW_AUTHENTICATE})


# -- bodies -------------------------------------------------------------------------------------
async def json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


def _whole_number(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return _whole_number(v) or (isinstance(v, float) and math.isfinite(v))


# kind -> (test, what the message says it must be); "x?" also allows null.
KINDS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (_whole_number, "a whole number"),
    "number": (_number, "a number"),
    "str[]": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "object": (lambda v: isinstance(v, dict), "an object"),
}


def _check(kind: str, value) -> str | None:
    """None when `value` is of `kind`, else what it must be."""
    nullable = kind.endswith("?")
    test, expected = KINDS[kind.rstrip("?")]
    if test(value) or (nullable and value is None):
        return None
    return expected + (" or null" if nullable else "")


def take(body: dict, spec: dict[str, str], required: tuple[str, ...] = ()) -> dict:
    """The body's fields checked against `spec` (name -> kind); unknown or missing ones are 400."""
    unknown = sorted(set(body) - set(spec))
    if unknown:
        raise BadInput(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                       f"known: {', '.join(spec)}")
    for name in required:
        if name not in body:
            raise BadInput(f"{name} is required")
    for name, value in body.items():
        expected = _check(spec[name], value)
        if expected is not None:
            raise BadInput(f"{name} must be {expected}")
    return body


# -- query strings ------------------------------------------------------------------------------
def whole(raw: str | None, low: int, high: int) -> int | None:
    """`raw` as a whole number within [low, high], or None when it is not one.  ASCII digits only:
    str.isdigit() alone passes '²', which int() refuses."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > MAX_DIGITS:
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _seconds(raw: str, high: float) -> float | None:
    head, _, tail = raw.partition(".")
    if not (head + tail).isascii() or not (head + tail).isdigit() or len(head) > MAX_DIGITS:
        return None
    value = float(raw)
    return value if value <= high else None


def param(request: Request, name: str, required: bool = False, default: str | None = None) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise BadInput(f"{name} is required")
        return default
    return value


def number(request: Request, name: str, low: int, high: int, default=None):
    """The query parameter `name`, a whole number within [low, high]; `default` when absent."""
    raw = param(request, name)
    if raw is None:
        return default
    value = whole(raw, low, high)
    if value is None:
        raise BadInput(f"{name} must be a whole number, {low}-{high}")
    return value


def seconds(request: Request, name: str, high: float, default: float) -> float:
    """The query parameter `name`, a number of seconds (a fraction allowed) within [0, high]."""
    raw = param(request, name)
    if raw is None:
        return default
    value = _seconds(raw, high)
    if value is None:
        raise BadInput(f"{name} must be a number of seconds, 0-{high:g}")
    return value


def flag(request: Request, name: str, default: bool = False) -> bool:
    raw = param(request, name)
    return default if raw is None else raw.lower() not in ("0", "false", "no")
