"""CLI commands for constraints and hazards: ``jer check``, ``jer check-all``,
``jer hazards derive|exposure`` and ``jer rulebook validate``.

They register on the one ``jer`` typer app of :mod:`web.cli`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from .cli import (
    FormatOpt,
    LangOpt,
    UserOpt,
    WorkspaceOpt,
    _errors,
    _fail,
    _open,
    _print_json,
    _user,
    app,
    console,
)

RulebookOpt = Annotated[
    Path | None,
    typer.Option(
        "--rulebook", envvar="JER_RULEBOOK",
        help="Rulebook YAML; default: the workspace's, else the shipped default",
    ),
]

hazards_app = typer.Typer(help="Hazard zones: derive from terrain, exposure summary.",
                          no_args_is_help=True)
rulebook_app = typer.Typer(help="Zoning rulebook.", no_args_is_help=True)
app.add_typer(hazards_app, name="hazards")
app.add_typer(rulebook_app, name="rulebook")


def _print_frames(frames: dict[str, Any], *, limit: int = 40) -> None:
    for title, frame in frames.items():
        table = Table(title=str(title), title_justify="left")
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.head(limit).itertuples(index=False):
            table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
        console.print(table)
        if len(frame) > limit:
            console.print(f"… {len(frame) - limit} more rows (use --format json)")


@app.command()
def check(
    workspace: WorkspaceOpt,
    parcel: Annotated[str | None, typer.Option(help="Cadastral number of the parcel")] = None,
    geometry: Annotated[
        Path | None, typer.Option(help="A GeoJSON (or any readable) file with one polygon")
    ] = None,
    use: Annotated[str | None, typer.Option(help="Proposed land use code")] = None,
    category: Annotated[str | None, typer.Option(help="Proposed land category")] = None,
    floors: Annotated[int | None, typer.Option()] = None,
    height_m: Annotated[float | None, typer.Option()] = None,
    site_coverage: Annotated[float | None, typer.Option(help="Site coverage, %")] = None,
    rulebook: RulebookOpt = None,
    lang: LangOpt = "ky",
    format: FormatOpt = "table",
) -> None:
    """Test a proposed category or use of a parcel (or drawn polygon) against every rule."""
    from spatial.zoning import Proposal, check_transformation

    from .services import constraint_layers, read_parcels, resolve_rulebook

    as_json = format == "json"
    if (parcel is None) == (geometry is None):
        _fail("give exactly one of --parcel or --geometry", as_json=as_json)
    with _errors(as_json):
        with _open(workspace) as ws:
            book = resolve_rulebook(rulebook, ws)
            layers = constraint_layers(ws, book)
            if parcel is not None:
                subject: Any = read_parcels(ws, [parcel])
                if subject.empty:
                    _fail(f"no parcel with cadastral number {parcel!r}", as_json=as_json)
            else:
                from spatial.io import read_layer_file

                drawn = read_layer_file(geometry).to_crs(ws.crs)  # type: ignore[arg-type]
                if len(drawn) != 1:
                    _fail(f"{geometry}: expected one polygon, found {len(drawn)} features",
                          as_json=as_json)
                subject = drawn.geometry.iloc[0]
        proposal = Proposal(
            target_category=category, target_use=use, floors=floors, height_m=height_m,
            site_coverage=site_coverage,
        )
        result = check_transformation(subject, proposal, layers, book)
    if as_json:
        _print_json(result.to_dict(lang, wgs84=True))
        return
    console.print(f"[bold]{result.verdict}[/]  ({result.area_m2 / 10_000:,.4f} ha)")
    for title, reasons in (("reasons", result.reasons), ("notes", result.notes)):
        if not reasons:
            continue
        table = Table(title=title, title_justify="left")
        for column in ("rule", "regime", "feature", "overlap m²", "%", "message", "source"):
            table.add_column(column)
        for r in reasons:
            table.add_row(
                r.rule_id, r.regime, f"{r.feature_id or ''} {r.feature_name or ''}".strip(),
                f"{r.overlap_m2:,.1f}" if r.overlap_m2 is not None else "",
                f"{r.overlap_share:.1f}" if r.overlap_share is not None else "",
                r.message[lang], r.source,
            )
        console.print(table)
    console.print(
        f"unconstrained remainder: {result.remainder_m2 / 10_000:,.4f} ha; allowed there: "
        f"{', '.join(result.remainder_allowed_uses) or '—'}",
        highlight=False,
    )


@app.command("check-all")
def check_all(
    workspace: WorkspaceOpt,
    use: Annotated[
        str | None, typer.Option(help="Proposed use for every parcel; omit for compliance")
    ] = None,
    category: Annotated[str | None, typer.Option(help="Proposed category")] = None,
    parcel: Annotated[
        list[str] | None, typer.Option("--parcel", help="Only these cadastral numbers")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the verdicts as a GeoPackage layer")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Threads")] = 2,
    rulebook: RulebookOpt = None,
    lang: LangOpt = "ky",
    format: FormatOpt = "table",
) -> None:
    """Check every parcel against one proposal, or against its own current use (compliance)."""
    from spatial.io import write_layer_file
    from spatial.zoning import Proposal, check_parcels

    from .services import constraint_layers, read_parcels, resolve_rulebook

    as_json = format == "json"
    with _errors(as_json):
        with _open(workspace) as ws:
            book = resolve_rulebook(rulebook, ws)
            layers = constraint_layers(ws, book)
            parcels = read_parcels(ws, parcel)
        proposal = (
            Proposal(target_category=category, target_use=use)
            if use is not None or category is not None else None
        )
        result = check_parcels(parcels, proposal, layers, book, n_jobs=jobs)
        if out is not None:
            write_layer_file({"check_results": result.to_geodataframe(lang)}, out)
    counts = Counter(result.table["verdict"].tolist())
    rules = Counter(
        rule for ids in result.table["rule_ids"].fillna("") for rule in str(ids).split(";")
        if rule
    )
    summary = {
        "parcels": len(parcels),
        "proposal": None if proposal is None else {"use": use, "category": category},
        "verdicts": dict(counts),
        "rules": dict(rules.most_common()),
        "out": str(out) if out else None,
    }
    if as_json:
        _print_json(summary)
        return
    console.print(f"{len(parcels)} parcels checked "
                  f"({'compliance with current use' if proposal is None else 'proposal'})")
    for verdict, n in counts.most_common():
        console.print(f"  {verdict}: {n}")
    table = Table(title="rules that fired", title_justify="left")
    table.add_column("rule")
    table.add_column("parcels", justify="right")
    for rule, n in rules.most_common(20):
        table.add_row(rule, str(n))
    console.print(table)
    if out:
        console.print(f"Wrote {out}")


@hazards_app.command("derive")
def hazards_derive(
    workspace: WorkspaceOpt,
    dem: Annotated[
        Path | None, typer.Option(help="DEM raster (GeoTIFF/netCDF); default: GEBCO 2023")
    ] = None,
    thresholds: Annotated[
        str, typer.Option(help="Threshold set of the rulebook's hazard_thresholds")
    ] = "slope_landslide",
    min_area_m2: Annotated[float, typer.Option()] = 0.0,
    write: Annotated[
        bool, typer.Option(help="Store the zones in hazard_zones (replacing earlier derived ones)")
    ] = False,
    rulebook: RulebookOpt = None,
    user: UserOpt = None,
    format: FormatOpt = "table",
) -> None:
    """Derive hazard zones from terrain by the rulebook's thresholds (screening scale)."""
    import pandas as pd

    from spatial.hazards import derive_from_workspace

    from .services import STORE_COLUMNS, resolve_rulebook

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        book = resolve_rulebook(rulebook, ws)
        sets = book.hazard_thresholds()
        if thresholds not in sets:
            _fail(f"no threshold set {thresholds!r} in the rulebook; have: "
                  f"{', '.join(sets) or 'none'}", as_json=as_json)
        municipality = ws.read_layer("municipality")
        zones = derive_from_workspace(
            municipality, sets[thresholds], dem=dem, crs=ws.crs, min_area_m2=min_area_m2,
        )
        if write:
            existing = ws.read_layer("hazard_zones").drop(columns=STORE_COLUMNS,
                                                          errors="ignore")
            kept = existing[~existing["hazard_id"].isin(zones["hazard_id"])]
            merged = pd.concat([kept, zones.to_crs(ws.crs)], ignore_index=True)
            ws.import_layer("hazard_zones", merged, user=_user(user), mode="replace")
    rows = [
        {"hazard_id": r.hazard_id, "hazard_type": r.hazard_type, "hazard_class": r.hazard_class,
         "area_ha": round(float(r.geometry.area) / 10_000, 2)}
        for r in zones.to_crs(zones.crs).itertuples()
    ]
    if as_json:
        _print_json({"zones": rows, "written": write})
        return
    for row in rows:
        console.print(f"  {row['hazard_id']}: {row['area_ha']:,.2f} ha", highlight=False)
    console.print("Stored in hazard_zones" if write else "Not stored (use --write)")


@hazards_app.command("exposure")
def hazards_exposure(
    workspace: WorkspaceOpt,
    lang: LangOpt = "ky",
    format: FormatOpt = "table",
) -> None:
    """Exposure by hazard type and class: parcels, hectares, households, people, facilities."""
    from .services import compute_exposure

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        summary, candidates = compute_exposure(ws)
    if as_json:
        _print_json({"exposure": summary.to_dict(), "relocation": candidates.to_dict()})
        return
    _print_frames(summary.to_frames(lang))
    _print_frames(candidates.to_frames(lang), limit=20)


@rulebook_app.command("validate")
def rulebook_validate(
    path: Annotated[
        Path | None, typer.Argument(help="Rulebook YAML; the shipped default when omitted")
    ] = None,
    format: Annotated[Literal["table", "json"], typer.Option("--format", "-f")] = "table",
) -> None:
    """Validate a rulebook: every problem with its YAML path and a suggested fix."""
    from spatial.errors import RulebookError
    from spatial.zoning import load_rulebook

    try:
        book = load_rulebook(path)
    except RulebookError as exc:
        _fail(f"{path or 'default rulebook'}: {len(exc.problems)} problem(s)", exc.problems,
              as_json=format == "json")
    except Exception as exc:  # unreadable YAML, missing file
        with _errors(format == "json"):
            raise exc
        raise
    info = {
        "rulebook": str(book.path), "version": book.version, "municipality": book.municipality,
        "uses": len(book.uses), "zone_types": len(book.zone_types),
        "restriction_regimes": len(book.regimes), "valid": True,
    }
    if format == "json":
        _print_json(info)
    else:
        console.print(
            f"{info['rulebook']}: valid (version {info['version']}, {info['uses']} uses, "
            f"{info['zone_types']} zone types, {info['restriction_regimes']} regimes)",
            highlight=False,
        )


@rulebook_app.command("set")
def rulebook_set(
    path: Annotated[Path, typer.Argument(help="The municipality's rulebook YAML")],
    workspace: WorkspaceOpt,
    format: FormatOpt = "table",
) -> None:
    """Validate a rulebook and make it the workspace's rulebook for every check."""
    from spatial.zoning import load_rulebook

    as_json = format == "json"
    with _errors(as_json):
        book = load_rulebook(path)
        with _open(workspace) as ws:
            ws.set_metadata({
                "rulebook": str(Path(path).resolve()),
                "rulebook_version": str(book.version),
            })
    info = {"rulebook": str(Path(path).resolve()), "version": str(book.version)}
    if as_json:
        _print_json(info)
    else:
        console.print(f"Workspace now uses {info['rulebook']} (version {info['version']})",
                      highlight=False)
