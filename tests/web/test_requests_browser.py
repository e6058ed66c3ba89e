"""One transformation request through all five stages in the pages, in headless
Chromium: a planner files it, a land specialist checks the documents, the public
comments during the hearing, another specialist records the council's resolution, the
district administration's agreement and the registration — and the parcel changes."""

from __future__ import annotations

import pytest

from spatial.requests import checklist_kinds
from spatial.store import open_workspace
from tests.web.conftest import screenshot, serve
from web.app import create_app
from web.auth import add_user
from web.settings import Settings

KEY = "4-08-08-0132-0013"
PDF = b"%PDF-1.4\n% scanned document\n"


def _sign_in(browser, url: str, name: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}/login?next=/requests")
    page.fill("#username", name)
    page.fill("#password", f"{name}-password")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{url}/requests")
    return page


def _status(page) -> str:
    return page.get_attribute("#status", "data-status") or ""


def _act(page, action: str, **fields: str) -> None:
    form = page.locator(f'form[data-action="{action}"]')
    for name, value in fields.items():
        field = form.locator(f'[name="{name}"]')
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")


@pytest.mark.browser
def test_one_request_through_the_five_stages(chromium, demo_copy):
    ws = open_workspace(demo_copy)
    try:
        for name, role in (("aibek", "planner"), ("gulnara", "land_specialist"),
                           ("nurlan", "land_specialist")):
            add_user(ws, name, role=role, password=f"{name}-password")
        before = ws.find_parcel(KEY)
    finally:
        ws.close()
    app = create_app(Settings(workspace=str(demo_copy), base_map="none"))
    with serve(app) as url:
        # Stage 1: the planner files the justified need.
        planner = _sign_in(chromium, url, "aibek")
        planner.goto(f"{url}/requests/new")
        planner.fill('textarea[name="cadastral_nos"]', KEY)
        planner.select_option('select[name="target_category"]', "settlement")
        planner.select_option('select[name="target_use"]', "individual_housing")
        planner.fill('textarea[name="justification"]',
                     "Population growth: 88 dwellings by 2029")
        planner.fill('input[name="applicant_name"]', "Асанов Бакыт")
        planner.click("form.req-form button[type=submit]")
        planner.wait_for_url(f"{url}/requests/*")
        detail_url = planner.url.split("?")[0]
        assert _status(planner) == "draft"
        # Stage 2: the documents of the checklist.
        for kind in checklist_kinds():
            planner.select_option('#attach-form select[name="kind"]', kind)
            planner.set_input_files('#attach-form input[name="file"]', files=[{
                "name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": PDF}])
            planner.click("#attach-form button[type=submit]")
            planner.wait_for_load_state("load")
        assert planner.locator(".checklist li").all_inner_texts()[0].startswith("☑")
        _act(planner, "submit")
        assert _status(planner) == "submitted"
        assert planner.locator("#verdict").get_attribute("class").endswith("conditional")
        screenshot(planner, "requests-1-submitted")

        reviewer = _sign_in(chromium, url, "gulnara")
        reviewer.goto(detail_url)
        assert reviewer.locator('form[data-action="council_approve"]').count() == 0
        _act(reviewer, "accept")
        assert _status(reviewer) == "under_review"

        # The public hearing: a resident comments, without signing in.
        public = chromium.new_context().new_page()
        public.goto(detail_url)
        assert "Асанов" not in public.content()
        public.fill('#comment-form textarea[name="body"]', "Keep the irrigation canal open")
        public.click("#comment-form button[type=submit]")
        public.wait_for_load_state("load")
        assert public.locator("p.notice").count() == 1

        # Stage 3: the council's resolution, recorded by another specialist, who also
        # publishes and answers the comment.
        decider = _sign_in(chromium, url, "nurlan")
        decider.goto(detail_url)
        decider.locator(".comment button[value=approved]").click()
        decider.wait_for_load_state("load")
        answer = decider.locator("form.answer-form")
        answer.locator("input[value=yes]").check()
        answer.locator('input[name="answer"]').fill("A 10 m strip along the canal is kept")
        answer.locator("button[type=submit]").click()
        decider.wait_for_load_state("load")
        _act(decider, "council_approve", resolution_no="14/2", resolution_date="2025-05-22")
        assert _status(decider) == "council_approved", decider.inner_text("main")
        screenshot(decider, "requests-3-council")
        # Stage 4: the district administration agrees.
        _act(decider, "agency_approve", authority="district_administration",
             reference_no="RMA-77")
        assert _status(decider) == "agencies_approved"
        # Stage 5: state registration changes the inventory.
        _act(decider, "register", registration_no="GR-2025-15")
        assert _status(decider) == "registered"
        screenshot(decider, "requests-5-registered")

        public.goto(detail_url + "?lang=ru")
        text = public.inner_text("main")
        assert "A 10 m strip along the canal is kept" in text and "GR-2025-15" in text
        assert "Асанов" not in public.content()
        public.goto(detail_url + "/dossier?lang=en")
        assert public.locator(".leaflet-container").count() == 1
        assert "14/2" in public.inner_text("body")
        screenshot(public, "requests-dossier")
    ws = open_workspace(demo_copy)
    try:
        after = ws.find_parcel(KEY)
    finally:
        ws.close()
    assert (after["land_category"], after["designated_use"]) == ("settlement",
                                                                  "individual_housing")
    assert after["row_version"] == before["row_version"] + 1
