"""``jer request …``: a request through the five stages from the command line, with the
accounts' roles and the four-eyes rule applied, draft intake and the dossier file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from spatial.requests import checklist_kinds
from spatial.store import open_workspace
from web.auth import add_user
from web.cli import app

runner = CliRunner()
KEYS = ["4-08-08-0132-0013", "4-08-08-0132-0014"]


def jer(*argv: str, ok: bool = True):
    result = runner.invoke(app, list(argv), catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result


def test_a_request_through_the_five_stages(demo_copy: Path, tmp_path: Path):
    ws = open_workspace(demo_copy)
    try:
        add_user(ws, "aibek", role="planner", password="aibek-password")
        add_user(ws, "nurlan", role="land_specialist", password="nurlan-password")
    finally:
        ws.close()
    w = ["--workspace", str(demo_copy)]
    drafts = tmp_path / "drafts.json"
    drafts.write_text(json.dumps({"draft_requests": [
        {"cadastral_no": key, "settlement": "Chimgen", "current_category": "agricultural",
         "target_category": "settlement", "current_use": "agriculture",
         "target_use": "individual_housing", "area_ha": 1.0,
         "justification_en": "population growth"} for key in KEYS]}), encoding="utf-8")
    created = json.loads(jer("request", "import-drafts", str(drafts), *w, "--user", "aibek",
                             "--format", "json").stdout)
    number = created[0]["number"]
    assert created[0]["parcels"] == KEYS
    doc = tmp_path / "plan.pdf"
    doc.write_bytes(b"%PDF-1.4 plan")
    for kind in checklist_kinds():
        jer("request", "attach", number, str(doc), *w, "--user", "aibek", "--kind", kind)
    out = jer("request", "submit", number, *w, "--user", "aibek").stdout
    assert "draft → submitted" in out and "conditional" in out
    refused = jer("request", "review", number, *w, "--user", "aibek", "--decision", "accept",
                  ok=False)
    assert "review_requests" in refused.output
    jer("request", "review", number, *w, "--user", "nurlan", "--decision", "accept")
    jer("request", "comment", number, "Keep the canal", *w, "--user", "nurlan")
    illegal = jer("request", "register", number, *w, "--user", "nurlan",
                  "--registration-no", "GR-1", ok=False)
    assert "cannot register" in illegal.output and "under_review" in illegal.output
    jer("request", "decide", number, *w, "--user", "nurlan", "--by", "council",
        "--decision", "approve", "--resolution-no", "14/2", "--resolution-date", "2025-05-22")
    jer("request", "decide", number, *w, "--user", "nurlan", "--by",
        "district_administration", "--decision", "approve")
    out = jer("request", "register", number, *w, "--user", "nurlan", "--registration-no",
              "GR-1").stdout
    assert "agencies_approved → registered" in out
    ws = open_workspace(demo_copy)
    try:
        assert {ws.find_parcel(k)["land_category"] for k in KEYS} == {"settlement"}
    finally:
        ws.close()
    shown = json.loads(jer("request", "show", number, *w, "--format", "json").stdout)
    assert shown["status"] == "registered" and shown["registration_no"] == "GR-1"
    listed = json.loads(jer("request", "list", *w, "--status", "registered",
                            "--format", "json").stdout)
    assert [r["number"] for r in listed] == [number]
    html = tmp_path / "dossier.html"
    jer("request", "dossier", number, *w, "--lang", "ru", "--out", str(html), "--public")
    text = html.read_text(encoding="utf-8")
    assert "GR-1" in text and "Keep the canal" in text and 'src="/assets/' not in text
    assert "L.map(" in text or "L.map" in text
    unknown = jer("request", "submit", number, *w, "--user", "ghost", ok=False)
    assert "no active account 'ghost'" in unknown.output
