"""The ``jer`` command line.

Every command takes ``--workspace`` (a ``.gpkg`` path or a ``postgresql://`` URL, also
read from ``JER_WORKSPACE``) and, where the output is tabular, ``--format json``. Bad
input ends with exit code 1 and one line on stderr naming the problem — never a
traceback; validation problems are listed one per line after that line.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spatial.errors import JerError, ValidationError

app = typer.Typer(
    name="jer",
    help="Jer (жер): municipal land inventory, constraints and planning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    str,
    typer.Option(
        "--workspace", "-w", envvar="JER_WORKSPACE",
        help="Workspace: a .gpkg file or a postgresql:// URL",
    ),
]
FormatOpt = Annotated[
    Literal["table", "json"], typer.Option("--format", "-f", help="Output format")
]
LangOpt = Annotated[
    Literal["ky", "ru", "en"], typer.Option("--lang", help="Language of labels")
]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="Name recorded in the edit history")
]


def _user(user: str | None) -> str:
    if user:
        return user
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # pragma: no cover - no login name in some containers
        return "cli"


def _fail(message: str, problems: list[Any] | None = None, *, as_json: bool = False) -> NoReturn:
    if as_json:
        payload: dict[str, Any] = {"error": message}
        if problems:
            payload["problems"] = [p.to_dict() for p in problems]
        print(json.dumps(payload, ensure_ascii=False, default=str))
    else:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        for problem in (problems or [])[:200]:
            err_console.print(f"  - {problem}", highlight=False, soft_wrap=True)
        if problems and len(problems) > 200:
            err_console.print(f"  … and {len(problems) - 200} more (use --format json)")
    raise typer.Exit(1)


@contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """Turn domain errors (and unreadable files) into one line and exit code 1."""
    try:
        yield
    except ValidationError as exc:
        head = f"{len(exc.problems)} problem(s) found; nothing was written"
        _fail(head, exc.problems, as_json=as_json)
    except JerError as exc:
        _fail(str(exc), as_json=as_json)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _fail(f"{exc.strerror}: {exc.filename}", as_json=as_json)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@contextmanager
def _progress(description: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _open(workspace: str) -> Any:
    from spatial.store import open_workspace

    return open_workspace(workspace)


# --------------------------------------------------------------------------- workspace


@app.command()
def init(
    boundary: Annotated[Path, typer.Argument(help="File with the municipality boundary")],
    workspace: WorkspaceOpt,
    name_ky: Annotated[str, typer.Option(help="Name in Kyrgyz")],
    name_ru: Annotated[str, typer.Option(help="Name in Russian")],
    name_en: Annotated[str, typer.Option(help="Name in English")],
    kind: Annotated[Literal["city", "ayil_aimak"], typer.Option()] = "ayil_aimak",
    oblast: Annotated[str, typer.Option()] = "",
    district: Annotated[str, typer.Option()] = "",
    official_area_ha: Annotated[
        float | None, typer.Option(help="Official area; the computed area when omitted")
    ] = None,
    crs_system: Annotated[Literal["utm", "kyrg06"], typer.Option()] = "utm",
    crs: Annotated[str | None, typer.Option(help="Force the workspace CRS, e.g. EPSG:7692")] = None,
    source_crs: Annotated[
        str | None, typer.Option("--source-crs", help="CRS of the boundary file if it has none")
    ] = None,
    overwrite: Annotated[bool, typer.Option()] = False,
    user: UserOpt = None,
    format: FormatOpt = "table",
) -> None:
    """Create a new empty workspace from a municipality boundary file and its names."""
    import geopandas as gpd
    import shapely
    from pyproj import CRS

    from spatial.crs import choose_projected_crs
    from spatial.io import read_layer_file
    from spatial.store import create_workspace

    with _errors(format == "json"):
        frame = read_layer_file(boundary, crs=source_crs)
        if len(frame) == 0:
            _fail(f"{boundary}: the file holds no boundary feature", as_json=format == "json")
        target = CRS.from_user_input(crs) if crs else choose_projected_crs(
            frame, system=crs_system
        )
        geom = shapely.union_all(frame.to_crs(target).geometry.to_numpy())
        area = float(shapely.area(geom)) / 10_000
        municipality = gpd.GeoDataFrame(
            {
                "name_ky": [name_ky], "name_ru": [name_ru], "name_en": [name_en],
                "kind": [kind], "oblast": [oblast], "district": [district],
                "official_area_ha": [official_area_ha if official_area_ha is not None else area],
            },
            geometry=[geom], crs=target,
        )
        with create_workspace(
            workspace, municipality, crs=target, overwrite=overwrite, user=_user(user)
        ) as ws:
            info = {"workspace": workspace, "crs": ws.crs.to_string(), "area_ha": round(area, 4)}
    if format == "json":
        _print_json(info)
    else:
        console.print(
            f"Created {workspace} in {info['crs']}; boundary {info['area_ha']:,.2f} ha",
            highlight=False,
        )


@app.command()
def demo(
    workspace: WorkspaceOpt,
    rebuild: Annotated[
        bool, typer.Option(help="Regenerate from the generator instead of the shipped file")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing workspace")] = True,
    format: FormatOpt = "table",
) -> None:
    """Build the Isfana demo workspace (illustrative parcels, real population) and return."""
    from jer_data import DEMO_WORKSPACE

    with _errors(format == "json"):
        source = DEMO_WORKSPACE
        if rebuild or not DEMO_WORKSPACE.exists():
            from jer_data.demo.generate import write_demo

            if workspace.startswith("postgresql://"):
                write_demo(workspace)
                source = None
            else:
                Path(workspace).parent.mkdir(parents=True, exist_ok=True)
                write_demo(workspace)
                source = None
        if source is not None:
            if workspace.startswith("postgresql://"):
                _copy_workspace(source, workspace, overwrite=overwrite)
            else:
                target = Path(workspace)
                if target.exists() and not overwrite:
                    _fail(f"{target} exists; pass --overwrite to replace it")
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                shutil.copyfile(source, tmp)
                os.replace(tmp, target)
        with _open(workspace) as ws:
            counts = {layer: ws.count(layer) for layer in ws.layers()}
    if format == "json":
        _print_json({"workspace": workspace, "layers": counts})
    else:
        console.print(f"Demo workspace ready at {workspace}", highlight=False)
        for layer, n in counts.items():
            console.print(f"  {layer}: {n}", highlight=False)


def _copy_workspace(source: Path, target: str, *, overwrite: bool) -> None:
    """Copy every layer of a GeoPackage workspace into another store."""
    from spatial.store import create_workspace, open_workspace

    src = open_workspace(source)
    try:
        municipality = src.read_layer("municipality").drop(columns=["fid"], errors="ignore")
        dst = create_workspace(
            target, municipality, crs=src.crs, overwrite=overwrite, user="demo",
            metadata=src.metadata(),
        )
        try:
            for layer in src.layers():
                meta = src.layer_metadata(layer)
                if meta:
                    dst.set_layer_metadata(layer, meta)
                if layer == "municipality" or src.count(layer) == 0:
                    continue
                frame = src.read_layer(layer).drop(
                    columns=["fid", "area_ha", "row_version", "updated_at", "updated_by"],
                    errors="ignore",
                )
                dst.import_layer(layer, frame, user="demo", mode="replace")
        finally:
            dst.close()
    finally:
        src.close()


# --------------------------------------------------------------------------- import/export


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="GeoPackage, GeoJSON, zipped Shapefile, CSV or KML")
    ],
    workspace: WorkspaceOpt,
    layer: Annotated[str, typer.Option("--layer", "-l", help="Target layer")] = "parcels",
    mapping: Annotated[
        Path | None, typer.Option(help="Column-mapping file (YAML/JSON) for other headers")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of the file when it has none")] = None,
    source_layer: Annotated[str | None, typer.Option(help="Layer inside the file")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="Text encoding (default: .cpg, cp1251)")
    ] = None,
    mode: Annotated[Literal["append", "replace"], typer.Option()] = "append",
    valid_only: Annotated[
        bool, typer.Option("--valid-only", help="Import the valid rows, skip the rest")
    ] = False,
    user: UserOpt = None,
    format: FormatOpt = "table",
) -> None:
    """Import a layer atomically: any invalid row refuses the whole file (unless --valid-only)."""
    from spatial.io import read_layer_file

    as_json = format == "json"
    with _errors(as_json):
        frame = read_layer_file(
            file, layer=layer, source_layer=source_layer, mapping=mapping, crs=crs,
            encoding=encoding,
        )
        with _open(workspace) as ws, _progress(f"import {layer}", not as_json) as progress:
            report = ws.import_layer(
                layer, frame, user=_user(user), mode=mode, valid_only=valid_only,
                progress=progress,
            )
    if as_json:
        _print_json(report.to_dict())
        return
    console.print(
        f"Imported {report.imported} feature(s) into {layer}; skipped {report.skipped}",
        highlight=False,
    )
    for problem in report.problems[:50]:
        console.print(f"  - {problem.severity}: {problem}", highlight=False, soft_wrap=True)


@app.command()
def export(
    out: Annotated[
        Path, typer.Argument(help="Output: .gpkg, .geojson, .zip (Shapefile), .csv, .xlsx")
    ],
    workspace: WorkspaceOpt,
    layer: Annotated[
        list[str] | None, typer.Option("--layer", "-l", help="Layer(s); all when omitted")
    ] = None,
    public: Annotated[
        bool, typer.Option(help="Leave out personal columns (right holders)")
    ] = False,
    format: FormatOpt = "table",
) -> None:
    """Export layers to a file; --public leaves out personal data."""
    from spatial.io import write_layer_file

    with _errors(format == "json"):
        with _open(workspace) as ws:
            layers = layer or [name for name in ws.layers() if ws.count(name)]
            frames = {
                name: ws.read_layer(name, include_personal=not public) for name in layers
            }
        if len(frames) > 1 and out.suffix.lower() in (".geojson", ".json", ".csv"):
            _fail(f"{out.suffix} holds one layer; choose one with --layer")
        path = write_layer_file(frames, out)
    counts = {name: len(frame) for name, frame in frames.items()}
    if format == "json":
        _print_json({"path": str(path), "layers": counts})
    else:
        console.print(f"Wrote {path}: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
                      highlight=False)


@app.command()
def validate(
    workspace: WorkspaceOpt,
    file: Annotated[
        Path | None, typer.Argument(help="Check this file instead of the stored layer")
    ] = None,
    layer: Annotated[str, typer.Option("--layer", "-l")] = "parcels",
    mapping: Annotated[Path | None, typer.Option()] = None,
    crs: Annotated[str | None, typer.Option()] = None,
    area_tolerance: Annotated[float, typer.Option(help="Official vs computed area")] = 0.05,
    overlap_tolerance_m2: Annotated[float, typer.Option()] = 1.0,
    format: FormatOpt = "table",
) -> None:
    """Report every problem of a stored layer, or of a file before importing it."""
    from spatial.validation import validate_layer

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        municipality_frame = ws.read_layer("municipality")
        boundary = municipality_frame.geometry.union_all() if len(municipality_frame) else None
        existing = None
        if file is not None:
            from spatial.io import read_layer_file

            frame = read_layer_file(file, layer=layer, mapping=mapping, crs=crs)
            existing = ws.read_layer(layer, include_personal=False)
        else:
            frame = ws.read_layer(layer).drop(
                columns=["fid", "area_ha", "row_version", "updated_at", "updated_by"],
                errors="ignore",
            )
        report = validate_layer(
            frame, layer, crs=ws.crs, municipality=boundary, existing=existing,
            overlap_tolerance_m2=overlap_tolerance_m2, area_tolerance=area_tolerance,
            code_lists=ws.code_lists(),
        )
    if as_json:
        _print_json(report.to_dict())
    else:
        console.print(
            f"{layer}: {len(report.frame)} feature(s), {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s)",
            highlight=False,
        )
        for problem in report.problems[:200]:
            console.print(f"  - {problem.severity}: {problem}", highlight=False, soft_wrap=True)
    if report.errors:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- balance, history


@app.command()
def balance(
    workspace: WorkspaceOpt,
    lang: LangOpt = "ky",
    format: Annotated[
        Literal["table", "json", "csv", "xlsx"], typer.Option("--format", "-f")
    ] = "table",
    out: Annotated[Path | None, typer.Option(help="Output file for csv/xlsx")] = None,
) -> None:
    """Land balance: categories, sub-types, used/unused, ownership, settlements, the gap."""
    from web.routers.balance import compute_balance

    with _errors(format == "json"):
        with _open(workspace) as ws:
            result = compute_balance(ws)
        if format == "json":
            _print_json(result.to_dict(lang))
            return
        if format in ("csv", "xlsx"):
            target = out or Path(f"land-balance-{lang}.{format}")
            if format == "csv":
                result.to_csv(target, lang)
            else:
                result.to_xlsx(target, lang)
            console.print(f"Wrote {target}", highlight=False)
            return
    for title, frame in result.to_frames(lang).items():
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            numeric = frame[column].dtype.kind in "if"
            table.add_column(str(column), justify="right" if numeric else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
        console.print(table)


@app.command()
def history(
    workspace: WorkspaceOpt,
    parcel: Annotated[
        str | None, typer.Option(help="Cadastral number; all parcels when omitted")
    ] = None,
    limit: Annotated[int, typer.Option()] = 50,
    format: FormatOpt = "table",
) -> None:
    """Edit history: who changed what and when (newest first)."""
    with _errors(format == "json"), _open(workspace) as ws:
        fid = ws.find_parcel(parcel)["fid"] if parcel else None
        entries = ws.history(fid, limit=limit)
    rows = [
        {
            "cadastral_no": e.cadastral_no, "version": e.version, "action": e.action,
            "user": e.user, "at": e.at.isoformat(timespec="seconds"),
            "changes": {k: list(v) for k, v in e.changes.items()},
        }
        for e in entries
    ]
    if format == "json":
        _print_json(rows)
        return
    table = Table(title="history")
    for column in ("cadastral_no", "version", "action", "user", "at", "changes"):
        table.add_column(column)
    for row in rows:
        changes = "; ".join(f"{k}: {v[0]!s} → {v[1]!s}" for k, v in row["changes"].items())
        table.add_row(str(row["cadastral_no"]), str(row["version"]), row["action"], row["user"],
                      row["at"], changes)
    console.print(table)


@app.command()
def restore(
    workspace: WorkspaceOpt,
    parcel: Annotated[str, typer.Option(help="Cadastral number")],
    version: Annotated[int, typer.Option(help="Version to bring back")],
    user: UserOpt = None,
    format: FormatOpt = "table",
) -> None:
    """Restore a parcel as it was at an earlier version (recorded as a new version)."""
    with _errors(format == "json"), _open(workspace) as ws:
        fid = _fid_of(ws, parcel)
        restored = ws.restore_parcel(fid, version, user=_user(user))
    summary = {
        "cadastral_no": restored["cadastral_no"], "restored_version": version,
        "row_version": restored["row_version"],
    }
    if format == "json":
        _print_json(summary)
    else:
        console.print(
            f"Restored {summary['cadastral_no']} to version {version}; "
            f"it is now version {summary['row_version']}",
            highlight=False,
        )


def _fid_of(ws: Any, cadastral_no: str) -> int:
    """fid of a parcel by cadastral number, including a deleted one found in the history."""
    from spatial.errors import NotFoundError

    try:
        return int(ws.find_parcel(cadastral_no)["fid"])
    except NotFoundError:
        for entry in ws.history(None, limit=100_000):
            if entry.cadastral_no == cadastral_no:
                return int(entry.fid)
        raise


# --------------------------------------------------------------------------- serve


@app.command()
def serve(
    workspace: WorkspaceOpt,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes; tiles and checks "
                                         "are CPU work, so up to one per core")] = 1,
) -> None:
    """Serve the web app on a workspace."""
    import os
    import secrets

    import uvicorn

    from web.app import create_app
    from web.settings import Settings

    with _errors():
        _open(workspace).close()
    console.print(f"Jer on http://{host}:{port}/ (workspace {workspace}, {workers} "
                  f"worker{'s' if workers > 1 else ''})", highlight=False)
    if workers == 1:
        uvicorn.run(create_app(Settings(workspace=workspace)), host=host, port=port,
                    log_level="info")
        return
    # Each worker process builds its app from the environment; they share one session key
    # so a sign-in made with one worker holds with the others.
    os.environ["JER_WORKSPACE"] = workspace
    os.environ.setdefault("JER_SECRET_KEY", secrets.token_hex(32))
    uvicorn.run("web.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info")


# Command groups defined in their own modules register on ``app`` when imported.
from . import (  # noqa: E402, F401
    cli_ogc,
    cli_planning,
    cli_requests,
    cli_users,
    cli_zoning,
)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
