"""The Admin service's document library (MS-ASDOC): the folders and documents devices reach under
`\\\\easlab\\share\\...` with Search and ItemOperations.  A mixin of `Admin`
(server/admin/service.py), which provides `db`, `clock` and `_need`."""
from __future__ import annotations

from easlab.eas.documents import link_of
from easlab.storage import documents as library
from easlab.storage.access import AccessError
from easlab.storage.models_documents import Document
from easlab.storage.types import iso

from .roles import Actor, NotFound


def document_view(row: Document) -> dict:
    path = library.split(row.path)
    return {"path": row.path, "link": link_of(path), "folder": row.is_folder, "hidden": row.hidden,
            "size": len(row.content or b""), "content_type": row.content_type or None, "readers": list(row.readers),
            "created": iso(row.created_at), "modified": iso(row.modified_at)}


def _path(text: str) -> tuple[str, ...]:
    try:
        return library.split(text)
    except library.DocumentError as exc:
        raise AccessError(str(exc)) from None


class DocumentOps:
    def document_list(self, actor: Actor) -> list[dict]:
        self._need(actor, "view")
        with self.db.session() as s:
            return [document_view(r) for r in library.every(s)]

    def document_put(self, actor: Actor, path: str, content: bytes | None = None, *, folder: bool = False,
                     content_type: str = "", hidden: bool | None = None, readers: list[str] | None = None) -> dict:
        """Publish a document (or a folder) at `path` (`share\\folder\\name`), making the folders
        above it; an existing entry keeps what is not given."""
        self._need(actor, "configure")
        parts = _path(path)
        with self.db.session() as s:
            try:
                row = library.put(s, parts, self.clock.now(), folder=folder, content=content or b"",
                                  content_type=content_type, hidden=hidden, readers=readers)
            except library.DocumentError as exc:
                raise AccessError(str(exc)) from None
            return document_view(row)

    def document_remove(self, actor: Actor, path: str) -> int:
        """Remove an entry and everything below it."""
        self._need(actor, "configure")
        with self.db.session() as s:
            removed = library.remove(s, _path(path))
        if not removed:
            raise NotFound(f"no document or folder {path!r}")
        return removed
