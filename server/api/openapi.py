"""/api/openapi.json, built from the route table (server/api/ops.py `OPS`): every route under /api
is in the document, with its parameters, body, answers and the permission it needs."""
from __future__ import annotations

from starlette.routing import compile_path

from ..web.sessions import SESSION_COOKIE
from ..admin import PERMISSIONS, ROLES
from .schemas import SCHEMAS, STR, ref
from .validate import SAFE_METHODS

ERROR = {"content": {"application/json": {"schema": ref("Error")}}}
NOT_FOUND = "No such user, device, rule, policy, folder, item or attachment"


def doc_path(path: str) -> str:
    """Starlette's /rules/{name:path} is OpenAPI's /rules/{name}."""
    _, fmt, _ = compile_path(path)
    return fmt


def operation_id(op) -> str:
    return op.handler.__name__ if op.handler else "openapi"


def parameters(op) -> list[dict]:
    _, _, convertors = compile_path(op.path)
    params = []
    for name, conv in convertors.items():
        param = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        if type(conv).__name__ == "PathConvertor":
            param["description"] = "percent-encoded; may contain '/'"
        params.append(param)
    return params + [{"name": n, "in": "query", "required": n in op.required, "schema": s, "description": d}
                     for n, s, d in op.query]


def responses(op) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if op.response is None:
        out[str(op.ok)] = {"description": "Done, no content"}
    else:
        content = {op.media: {"schema": op.response}}
        if op.html:
            content["text/html"] = {"schema": STR}
        out[str(op.ok)] = {"description": "OK" if op.ok == 200 else "Created", "content": content}
    if op.body is not None or op.query or op.method != "GET":
        out["400"] = {"description": "Bad input", **ERROR}
    if not op.public:
        out["401"] = {"description": "No or wrong credentials", **ERROR, "headers": {"WWW-Authenticate": {"schema": STR}}}
        out["403"] = {"description": "The role does not allow this"
                      + ("" if op.method in SAFE_METHODS else ", or the CSRF token is missing"), **ERROR}
    if compile_path(op.path)[2]:
        out["404"] = {"description": NOT_FOUND, **ERROR}
    if op.body is not None:
        out["413"] = {"description": "Body too large"}
    for status, description in op.errors.items():
        schema = ref("Timeout") if status == 408 else ref("Error")
        out[str(status)] = {"description": description, "content": {"application/json": {"schema": schema}}}
    return dict(sorted(out.items()))


def operation(op) -> dict:
    out = {"operationId": operation_id(op), "summary": op.summary, "responses": responses(op)}
    if op.permission:
        out["description"] = (f"Needs the {op.permission} permission: "
                              + ", ".join(r for r in ROLES if op.permission in PERMISSIONS[r]) + ".")
    params = parameters(op)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required, "content": {"application/json": {"schema": op.body}}}
    if op.public:
        out["security"] = []
    elif op.method not in SAFE_METHODS:
        out["security"] = [{"basicAuth": []}, {"sessionCookie": [], "csrfHeader": []}]
    return out


SECURITY_SCHEMES = {
    "basicAuth": {"type": "http", "scheme": "basic", "description": "a mailbox account with an admin role"},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                      "description": "the admin center's session (sign in at /ecp/login)"},
    "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                   "description": "the session's CSRF token (GET /api/me); needed with the cookie on POST, PATCH and DELETE"},
}


def document(ops) -> dict:
    """The OpenAPI document of the operations `ops` (server/api/ops.py Op rows)."""
    paths: dict[str, dict] = {}
    for op in ops:
        paths.setdefault(doc_path(op.path), {})[op.method.lower()] = operation(op)
    roles = "; ".join(f"{r}: {', '.join(sorted(PERMISSIONS[r]))}" for r in ROLES)
    return {
        "openapi": "3.1.0",
        "info": {"title": "easlab admin API", "version": "1",
                 "description": "Device access control, rules, organisation settings, mailbox policies, the "
                                "outbound queue and a read-only look inside the mailboxes of an easlab server; "
                                "for test suites, injected faults, protocol traces and long-poll waits. "
                                f"Role permissions: {roles}."},
        "servers": [{"url": "/api"}],
        "security": [{"basicAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": SCHEMAS},
    }
