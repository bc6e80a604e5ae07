"""`easlab conformance`: which MS-AS* server requirements easlab's tests prove (server/conformance.py)."""
from __future__ import annotations

from pathlib import Path

import click

# server/cli/this_file -> parents[2] is the source checkout (the install is editable in development).
CHECKOUT = Path(__file__).resolve().parents[2]


@click.command()
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=CHECKOUT,
              show_default="the source checkout", help="easlab checkout whose tests/ and docs/ are read.")
@click.option("--requirements", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Requirements TSV (default: $EASLAB_SHARED or the clone's sibling shared/, "
                   "spec/ms-as-requirements/server-requirements.tsv).")
@click.option("--open", "open_protocols", multiple=True, metavar="PROTOCOL",
              help="List the open requirements of PROTOCOL (e.g. MS-ASCMD): ID, section, text.")
@click.option("--markdown", is_flag=True, help="Print the README's table.")
@click.option("--update-readme", is_flag=True, help="Rewrite the table between the README's conformance markers.")
@click.option("--check", is_flag=True,
              help="Exit 1 when a marker or not-applicable entry names an unknown ID, or an ID is both covered "
                   "and not applicable.")
def conformance(repo, requirements, open_protocols, markdown, update_readme, check) -> None:
    """Per protocol: requirements, covered by a `req`-marked test, not applicable, open."""
    from easlab.server import conformance as matrix_module

    path = requirements or matrix_module.requirements_path(repo)
    if not path.is_file():
        raise click.ClickException(f"no requirements table at {path} (set EASLAB_SHARED or --requirements)")
    if not (repo / "tests").is_dir():
        raise click.ClickException(f"no tests/ under {repo} (pass --repo)")
    matrix = matrix_module.build(repo, path)
    known = {r.protocol for r in matrix.requirements.values()}
    for protocol in open_protocols:
        if protocol not in known:
            raise click.ClickException(f"unknown protocol {protocol!r} (one of {', '.join(sorted(known))})")
        click.echo(matrix_module.open_list(matrix, protocol), nl=False)
    if markdown:
        click.echo(matrix_module.markdown(matrix), nl=False)
    if update_readme:
        _update_readme(repo / "README.md", matrix_module.markdown(matrix), matrix_module)
    if not (open_protocols or markdown or update_readme):
        click.echo(matrix_module.summary(matrix), nl=False)
    for problem in matrix.problems:
        click.echo(f"conformance: {problem}", err=True)
    if check and matrix.problems:
        raise SystemExit(1)


def _update_readme(readme: Path, table: str, matrix_module) -> None:
    text = readme.read_text(encoding="utf-8")
    begin, end = matrix_module.README_BEGIN, matrix_module.README_END
    if begin not in text or end not in text:
        raise click.ClickException(f"{readme} has no {begin} ... {end} block")
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{begin}\n{table}{end}{tail}", encoding="utf-8")
