"""`easlab document`: the document library devices reach under \\\\easlab\\share\\... (MS-ASDOC)."""
from __future__ import annotations

import mimetypes

import click

from .common import db_option, json_option, print_rows, run_admin

COLUMNS = ["link", "folder", "hidden", "size", "content_type", "readers", "modified"]


@click.group()
def document() -> None:
    """The document library: folders and documents devices Search and fetch."""


@document.command("list")
@json_option
@db_option
def document_list(as_json, db_url) -> None:
    """Every folder and document of the library."""
    print_rows(run_admin(db_url, lambda admin, actor: admin.document_list(actor)), as_json, COLUMNS)


@document.command("put")
@click.argument("path")
@click.argument("file", type=click.File("rb"), required=False)
@click.option("--folder", is_flag=True, help="Make PATH a folder (no FILE).")
@click.option("--content-type", default="", help="MIME type (default: guessed from the name).")
@click.option("--hidden/--visible", default=None, help="IsHidden of the entry.")
@click.option("--reader", "readers", multiple=True, help="A user who may read it (repeat; none: everyone).")
@db_option
def document_put(path, file, folder, content_type, hidden, readers, db_url) -> None:
    """Publish FILE at PATH (share\\folder\\name), or a folder with --folder."""
    if folder == (file is not None):
        raise click.UsageError("give FILE, or --folder without one")
    content = file.read() if file is not None else None
    ctype = content_type or (mimetypes.guess_type(path.replace("\\", "/"))[0] or "" if not folder else "")
    view = run_admin(db_url, lambda admin, actor: admin.document_put(
        actor, path, content, folder=folder, content_type=ctype, hidden=hidden, readers=list(readers) or None))
    click.echo(view["link"])


@document.command("remove")
@click.argument("path")
@db_option
def document_remove(path, db_url) -> None:
    """Remove PATH and everything below it."""
    removed = run_admin(db_url, lambda admin, actor: admin.document_remove(actor, path))
    click.echo(f"removed {removed}")
