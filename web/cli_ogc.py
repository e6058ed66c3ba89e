"""CLI command for the OGC API service: ``jer publish [LAYER] [--off]``.

Publication decides which collections visitors who are not signed in see under
``/ogc`` (see :func:`web.ogc.is_published`); signed-in accounts see every layer.
Registers on the one ``jer`` typer app of :mod:`web.cli`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from spatial.errors import NotFoundError

from .cli import FormatOpt, WorkspaceOpt, _errors, _open, _print_json, app, console
from .ogc import publication, set_published


@app.command("publish")
def publish(
    workspace: WorkspaceOpt,
    layer: Annotated[str | None, typer.Argument(
        help="Layer to publish (or withdraw with --off); without it, list every layer")] = None,
    off: Annotated[bool, typer.Option(
        "--off", help="Withdraw the layer from the public role")] = False,
    format: FormatOpt = "table",
) -> None:
    """Publish a layer to the public role of the OGC API (all are published until withdrawn)."""
    with _errors(format == "json"), _open(workspace) as ws:
        if layer is not None:
            state = publication(ws)
            if layer not in state:
                raise NotFoundError(
                    f"no layer {layer!r} in the workspace; layers: {', '.join(state)}"
                )
            set_published(ws, layer, not off)
        state = publication(ws)
    if format == "json":
        _print_json(state)
        return
    table = Table("layer", "public (OGC API)")
    for name, published in state.items():
        table.add_row(name, "yes" if published else "no")
    console.print(table)
