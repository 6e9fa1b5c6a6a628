"""The whole story through the pages only, in Debian's Chromium, against the real platform.

Every page visited is screenshotted to tests/artifacts/ and scanned with axe-core: no serious or
critical accessibility violation is allowed. Run alone (it starts the whole platform):
`uv run pytest portal-svc/tests -m browser`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from browser_platform import ARTIFACTS, PortalPlatform, chromium_path

from testkit import auth_headers, eventually_sync, mint_token, unique_region

pytestmark = pytest.mark.browser

CREDIT = "91440300708461136T"
CHROMIUM = chromium_path()
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalPlatform]:
    running = PortalPlatform(tmp_path_factory.mktemp("portal-platform")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Pages:
    """One signed-in person's tab, with a screenshot and an axe scan of every page checked."""

    axe = Axe()

    def __init__(self, browser: Browser, base: str, who: str) -> None:
        self.context = browser.new_context(base_url=base, viewport={"width": 1200, "height": 900})
        self.context.set_default_timeout(20_000)
        self.page: Page = self.context.new_page()
        self.who = who

    def goto(self, path: str) -> Page:
        self.page.goto(path)
        return self.page

    def english(self) -> None:
        self.goto("/language/en?next=/")

    def dev_sign_in(self, role_label: str, credit_code: str = "", department: str = "") -> None:
        page = self.goto("/sign-in")
        page.get_by_label(role_label).check()
        if credit_code:
            page.get_by_label("Unified social credit code (enterprise)").fill(credit_code)
        if department:
            page.get_by_label("Department (department officer)").select_option(department)
        page.get_by_role("button", name="Sign in").click()

    def check(self, name: str) -> None:
        """Screenshot the page and fail on a serious or critical axe-core violation."""
        self.page.wait_for_load_state("load")
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        results = self.axe.run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        assert not bad, f"{name}: accessibility violations: {bad}"

    def close(self) -> None:
        self.context.close()


def projects_of(portal: PortalPlatform, credit: str = CREDIT) -> list[dict]:
    headers = auth_headers("enterprise", credit_code=credit)
    response = portal.api("approval", "/api/v1/projects", headers=headers)
    response.raise_for_status()
    return response.json()["items"]


def fill_project_form(page: Page, region: str, name: str) -> None:
    page.get_by_label("Project name").fill(name)
    page.get_by_label("Filing (other enterprise projects)").check()
    page.get_by_label("Region code").fill(region)
    page.get_by_label("Industry code").fill("C3011")
    page.get_by_label("Total investment (yuan)").fill("52000000")
    page.get_by_label("Location", exact=True).fill("Riverside industrial park")
    page.get_by_label("Planned start date").fill("2026-09-01")
    page.get_by_label("Report table (MEE approval)").check()
    page.get_by_label("Withdraws water").check()


def test_the_whole_story_through_the_pages(portal: PortalPlatform, browser: Browser) -> None:
    region = unique_region()
    ops = Pages(browser, portal.portal_url, "ops")
    ent = Pages(browser, portal.portal_url, "enterprise")
    mee = Pages(browser, portal.portal_url, "MEE officer")
    mwr = Pages(browser, portal.portal_url, "MWR officer")
    public = Pages(browser, portal.portal_url, "public")
    try:
        # Chinese first: the start page and sign-in as anyone sees them.
        public.goto("/")
        public.check("01-home-zh")
        public.goto("/sign-in")
        expect(public.page.locator("h1")).to_have_text("登录")
        public.check("02-sign-in-zh")

        # Ops watches the console (live over the notify stream) from the start.
        ops.english()
        ops.dev_sign_in("An ops engineer")
        expect(ops.page).to_have_url(re.compile(r"/console$"))
        expect(ops.page.locator("[data-stream-state]")).to_have_text("live", timeout=WAIT_MS)
        ops.check("03-console-empty")

        # The enterprise submits; the live hint lists the matters its answers bring.
        ent.english()
        ent.dev_sign_in("An enterprise", credit_code=CREDIT)
        expect(ent.page).to_have_url(re.compile(r"/enterprise$"))
        ent.check("04-enterprise-projects-empty")
        page = ent.goto("/enterprise/projects/new")
        fill_project_form(page, region, "Riverside water plant")
        hints = page.locator("[data-matters-list]")
        expect(hints).to_contain_text("MEE-EIA-TABLE")
        expect(hints).to_contain_text("MWR-WATER-PERMIT")
        ent.check("05-submit-form-filled")
        page.get_by_role("button", name="Submit the project").click()
        expect(page.locator("h1")).to_have_text("Project submitted")
        code = page.locator("[data-project-code]").inner_text().strip()
        assert re.fullmatch(rf"\d{{4}}-{region}-\d{{2}}-\d{{2}}-\d{{5}}[0-9A-Z]", code)
        ent.check("06-submitted-confirmation")

        # MEE asks for a supplement listing every missing material in one notice.
        mee.english()
        mee.dev_sign_in("A department officer", department="MEE")
        expect(mee.page).to_have_url(re.compile(r"/department$"))
        card = mee.page.locator("article.card", has_text=code)
        expect(card).to_be_visible()
        mee.check("07-department-queue")
        card.get_by_role("link").click()
        mee.check("08-department-task")
        mee.page.get_by_label("Ask for a supplement").check()
        mee.page.get_by_label("Missing materials (for a supplement)").fill(
            "Noise impact study\nSite plan with outfall"
        )
        mee.page.get_by_role("button", name="Record the decision").click()
        expect(mee.page.locator(".notification-banner")).to_contain_text(code)

        # The enterprise answers the notice.
        page = ent.goto(f"/enterprise/projects/{code}")
        notice = page.locator("section.notice")
        expect(notice).to_contain_text("Noise impact study")
        expect(notice).to_contain_text("Site plan with outfall")
        ent.check("09-project-supplement-notice")
        notice.get_by_label("Materials you are supplying").fill(
            "Noise impact study (2026-06)\nSite plan with outfall, rev. B"
        )
        notice.get_by_role("button", name="Send the materials").click()
        expect(page.locator(".notification-banner")).to_contain_text("Materials supplied")

        # Both departments approve.
        for officer, dept in ((mee, "MEE"), (mwr, "MWR")):
            if officer is mwr:
                mwr.english()
                mwr.dev_sign_in("A department officer", department=dept)
            officer.goto("/department")
            officer.page.locator("article.card", has_text=code).get_by_role("link").click()
            if officer is mee:
                expect(officer.page.get_by_text("Noise impact study (2026-06)")).to_be_visible()
            officer.page.get_by_label("Approve").check()
            officer.page.get_by_label("Opinion").fill("Meets the requirements.")
            officer.page.get_by_role("button", name="Record the decision").click()
            expect(officer.page.locator(".notification-banner")).to_contain_text("approved")
        mee.check("10-department-history")

        # The enterprise sees "approved" and files its start report.
        page = ent.goto(f"/enterprise/projects/{code}")
        expect(page.locator("[data-project-status]")).to_have_attribute(
            "data-project-status", "approved"
        )
        page.get_by_text("File a construction report").click()
        page.get_by_label("Start of construction").check()
        page.get_by_label("Report date").fill("2026-09-01")
        page.get_by_label("Progress (%)").fill("0")
        page.get_by_label("Invested to date (yuan)").fill("1000000")
        page.get_by_label("Planned completion (start reports only)").fill("2027-12-31")
        ent.check("11-project-approved-report-form")
        page.get_by_role("button", name="File the report").click()
        openapi = portal.api("supervision", "/openapi.json").json()
        if "/api/v1/projects/{code}/reports" in openapi.get("paths", {}):
            expect(page.locator(".notification-banner")).to_contain_text("report filed")
            expect(page.locator('[data-report-kind="start"]')).to_be_visible()
        else:
            # supervision-svc does not serve construction reports yet: the portal says so
            # clearly (no 500), and the rest of the page still works.
            expect(page.locator(".error-summary")).to_be_visible()
            expect(page.locator("h1")).to_have_text("Riverside water plant")
        ent.check("12-project-after-report")
        page = ent.goto("/enterprise")
        expect(page.locator("tr", has_text=code)).to_contain_text("approved")
        ent.check("13-enterprise-projects")

        # Ops saw it all live on the console.
        feed = ops.page.locator(f'[data-event-type="project.approved"][data-subject="{code}"]')
        expect(feed).to_have_count(1, timeout=WAIT_MS)
        for event_type in ("project.submitted", "project.supplement_requested"):
            expect(
                ops.page.locator(f'[data-event-type="{event_type}"][data-subject="{code}"]')
            ).to_have_count(1)
        expect(ops.page.locator('[data-status="approved"] [data-count]')).to_have_text(
            re.compile(r"[1-9]\d*"), timeout=WAIT_MS
        )
        ops.check("14-console-live")

        # The public finds the result, and the project's page with its QR code.
        page = public.goto("/language/en?next=/public")
        page.get_by_label("Project code or name").fill(code)
        page.get_by_role("button", name="Search").click()
        rows = page.locator("[data-results] tbody tr")
        expect(rows).to_have_count(2)  # MEE and MWR, both approved
        public.check("15-public-results")
        rows.first.get_by_role("link").click()
        expect(page.locator("h1")).to_have_text("Riverside water plant")
        expect(page.locator(".qr svg")).to_be_visible()
        public.check("16-public-project-qr")
        public.goto("/public/dishonest")
        public.check("17-public-dishonest")
    finally:
        for tab in (ops, ent, mee, mwr, public):
            tab.close()


def test_bad_input_shows_field_errors_and_creates_nothing(
    portal: PortalPlatform, browser: Browser
) -> None:
    credit = "91110000802100433B"
    before = projects_of(portal, credit)
    ent = Pages(browser, portal.portal_url, "enterprise")
    try:
        ent.english()
        ent.dev_sign_in("An enterprise", credit_code=credit)
        page = ent.goto("/enterprise/projects/new")
        fill_project_form(page, "11", "Bad input plant")  # a region code of two digits
        page.get_by_label("Total investment (yuan)").fill("a lot")
        page.get_by_role("button", name="Submit the project").click()
        summary = page.locator(".error-summary")
        expect(summary).to_be_visible()
        expect(summary).to_be_focused()
        expect(page.locator("#region_code-error")).to_be_visible()
        expect(page.locator("#total_investment-error")).to_be_visible()
        expect(page.get_by_label("Project name")).to_have_value("Bad input plant")
        ent.check("18-submit-form-errors")
        assert projects_of(portal, credit) == before
    finally:
        ent.close()


def test_an_expired_session_returns_to_sign_in_keeping_the_form(
    portal: PortalPlatform, browser: Browser
) -> None:
    ttl = 4
    token = mint_token("enterprise", credit_code=CREDIT, ttl_s=ttl)
    expires = time.time() + ttl
    ent = Pages(browser, portal.portal_url, "enterprise")
    try:
        ent.english()
        page = ent.goto("/sign-in")
        page.get_by_label("Access token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page = ent.goto("/enterprise/projects/new")
        page.get_by_label("Project name").fill("Half-filled plant")
        page.get_by_label("Description").fill("Typed before the session ran out")
        # Wait out the token (a wait for time itself, not for something to not happen).
        eventually_sync(lambda: time.time() > expires + 1, timeout_s=ttl + 10, what="token expiry")
        page.get_by_role("button", name="Submit the project").click()
        expect(page.locator("h1")).to_have_text("Sign in")
        expect(page.get_by_text("Your session has expired")).to_be_visible()
        ent.check("19-sign-in-session-expired")
        page.get_by_label("An enterprise").check()
        page.get_by_label("Unified social credit code (enterprise)").fill(CREDIT)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/enterprise/projects/new$"))
        expect(page.get_by_label("Project name")).to_have_value("Half-filled plant")
        expect(page.get_by_label("Description")).to_have_value("Typed before the session ran out")
        ent.check("20-submit-form-restored")
    finally:
        ent.close()
