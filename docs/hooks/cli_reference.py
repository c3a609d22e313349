"""MkDocs hook: the CLI reference page from the command line's own help (Typer's Markdown for its Click
commands), so that the page cannot drift from `autosearch --help`. Replaces the marker on docs/cli.md."""

from __future__ import annotations

MARKER = "<!-- autosearch-cli -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    import typer
    from typer.cli import get_docs_for_click

    from autosearch.cli import app

    command = typer.main.get_command(app)
    generated = get_docs_for_click(obj=command, ctx=typer.models.Context(command), name="autosearch")
    # its headings one level down, under the page's title
    generated = "\n".join("#" + line if line.startswith("#") else line for line in generated.splitlines())
    return markdown.replace(MARKER, generated)
