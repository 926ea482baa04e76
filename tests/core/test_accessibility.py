"""Accessibility: axe-core, run in headless Chromium, finds no WCAG 2.2 A/AA violation on any page
a person can reach: signed out, as a user (before and after connecting Microsoft, with the
script-made states of the Cloud Drive dashlet and the user menu) and as an admin.

Every GET route of the app is either audited here or excluded below with a reason, so a new page
cannot be forgotten. axe-core comes from npm (package.json, `make install-test` runs `npm ci`).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from app.connect import connectors, tokens
from app.connect.models import ExternalAccount
from app.extensions import db
from app.mail.models import MailAccount
from tests.conftest import (
    REQUIRE_BROWSER,
    ROOT,
    app_on_standin,
    browser_login,
    missing,
)
from tests.connect.conftest import ADELE, MEGAN, sign_in_at_standin

pytestmark = pytest.mark.browser

AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
TIMEOUT = 10
# axe.run in the page; the e-mail HTML in a message's sandboxed iframe is the sender's, not ours.
RUN_AXE = """(tags) => axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"], iframes: false,
}).then((result) => result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
})))"""

# GET routes that are no page a person reads, each with the reason.
NOT_PAGES = {
    "static": "stylesheets and scripts, not pages",
    "main.healthz": "the load balancer's health check, plain text",
    "drive.api_children": "JSON for the dashlet's script (its result is audited on Home)",
    "drive.api_more": "JSON for the dashlet's script (Load more)",
    "drive.api_search": "JSON for the dashlet's script (its results are audited on Home)",
    "drive.api_open": "JSON for the dashlet's script (a search result's folder)",
    "drive.download": "a redirect to the file's bytes at OneDrive",
    "emails.attachment": "an attachment's bytes, a download (its link is audited on the message)",
    "drive.thumbnail": "an image (a row's thumbnail, a Preview), audited inside Home",
    "drive.api_preview_text": "JSON for the dashlet's script (the text Preview shows on Home)",
    "oauth.go": "a redirect of the pop-up to Microsoft's sign-in (the stand-in's page there)",
    "oauth.status": "JSON the opener polls while the pop-up is open",
}


@dataclass
class Finding:
    """One axe violation on one audited page."""

    page: str
    rule: str
    impact: str
    help: str
    targets: list[str]
    summary: str  # axe's explanation for the first node (a contrast's colours and ratio, say)

    def __str__(self) -> str:
        shown = "; ".join(self.targets[:3]) + (" …" if len(self.targets) > 3 else "")
        why = " ".join(self.summary.split())[:240]
        return f"  {self.page}: {self.rule} ({self.impact}) {self.help} — {shown}\n    {why}"


@dataclass
class Audit:
    """Runs axe on pages, remembers what it saw and which paths it requested."""

    base: str
    source: str
    findings: list[Finding] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)
    pages: int = 0

    def visit(self, page, path: str, *, status: int = 200, ready=None, label: str = "") -> None:
        """Open `path` (following redirects), wait for `ready` (a locator), run axe."""
        response = page.goto(f"{self.base}{path}")
        assert response is not None and response.status == status, (
            f"GET {path} answered {response.status if response else 'nothing'}, not {status}"
        )
        self.paths.update({urlsplit(path).path, urlsplit(page.url).path})
        if ready is not None:
            ready.wait_for()
        self.check(page, label or path)

    def check(self, page, label: str) -> None:
        """Run axe on the page as it is now (after a script changed it, say)."""
        page.wait_for_load_state()
        # Playwright's evaluate is not subject to the page's CSP (script-src 'self').
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(self.source)
        for violation in page.evaluate(RUN_AXE, WCAG_TAGS):
            self.findings.append(
                Finding(
                    label,
                    violation["id"],
                    violation["impact"] or "",
                    violation["help"],
                    [node["target"] for node in violation["nodes"]],
                    violation["nodes"][0]["summary"] if violation["nodes"] else "",
                )
            )
        self.pages += 1

    def report(self) -> str:
        """The violations by rule, then every page's, readable in a test failure."""
        rules: dict[str, list[str]] = {}
        for finding in self.findings:
            rules.setdefault(f"{finding.rule} ({finding.impact})", []).append(finding.page)
        lines = [f"{len(self.findings)} axe violation(s) on {self.pages} audited page state(s):"]
        lines += [f"  {rule}: {', '.join(sorted(set(pages)))}" for rule, pages in rules.items()]
        lines += ["Details (first nodes):"] + [str(finding) for finding in self.findings]
        return "\n".join(lines)


@dataclass
class Site:
    """The live server, its users and what the audit needs to reach their pages."""

    server: object
    standin: str
    sally_id: int = 0
    nora_id: int = 0
    messages: list[int] = field(default_factory=list)
    tabs: list[str] = field(default_factory=list)  # the Edit page's tabs, as the shell lists them
    providers: list[str] = field(default_factory=list)  # Admin > Connectors


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script, installed from npm by `make install-test`."""
    if not AXE_SCRIPT.exists():
        missing("axe-core", "run `npm ci` at the project root (make install-test)", REQUIRE_BROWSER)
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory, standin):
    """gunicorn wired to the stand-in, the Microsoft connector configured; a user (sally, with
    e-mails), a second user (nora) and an admin."""
    with app_on_standin(tmp_path_factory.mktemp("a11y-live"), standin) as server:
        site = Site(server, standin)
        with server.db() as app:
            from app.core.shell import shell

            _seed(site)
            site.tabs = [tab.slug for tab in shell(app).tabs]
            site.providers = [provider.name for provider in connectors.every()]
        yield site


def _seed(site: Site) -> None:
    """The users and sally's e-mails (one page and a bit, so the pager shows)."""
    from app.mail import settings as mail_settings
    from app.mail.models import MailAttachment, MailMessage
    from app.users import directory as users

    sally = users.create_user(
        None,
        "sally",
        "sally@crm.example",
        "sally-password",
        first_name="Sally",
        last_name="Bronsen",
    )
    nora = users.create_user(
        None, "nora", "nora@crm.example", "nora-password", first_name="Nora", last_name="Newbie"
    )
    users.create_user(None, "admin", "admin@crm.example", "admin-password", is_admin=True)
    when = datetime.now(UTC)
    received = MailMessage(
        user_id=sally.id,
        direction="inbound",
        status="received",
        from_address="max@fabrikam.example",
        to_addresses="sally@crm.example",
        subject="Welcome aboard",
        body_text="Hello Sally.",
        body_html="<p>Hello <b>Sally</b>.</p>",
        sent_at=when,
        created_at=when,
    )
    received.attachments.append(
        MailAttachment(filename="agenda.pdf", content_type="application/pdf", size=20480)
    )
    failed = MailMessage(
        user_id=sally.id,
        direction="outbound",
        status="failed",
        status_reason="The SMTP server refused the sign-in.",
        from_address="sally@crm.example",
        to_addresses="max@fabrikam.example",
        subject="Quote for Fabrikam",
        body_text="Please find the quote below.",
        attempts=1,
        created_at=when + timedelta(seconds=1),
    )
    older = [
        MailMessage(
            user_id=sally.id,
            direction="outbound",
            status="sent",
            from_address="sally@crm.example",
            to_addresses="max@fabrikam.example",
            subject=f"Follow-up {n}",
            body_text="Just checking in.",
            sent_at=when - timedelta(days=n),
            created_at=when - timedelta(days=n),
        )
        for n in range(1, 26)
    ]
    db.session.add_all([received, failed, *older])
    # An inbound mailbox (a shared one) only sally and nora may see, with a message in it.
    mailbox = mail_settings.create_mailbox(
        None,
        mail_settings.MailboxDetails(
            name="Support",
            shared_address="support@contoso.example",
            visibility="chosen",
            viewer_ids=[sally.id, nora.id],
        ),
    )
    db.session.add(
        MailMessage(
            account_id=mailbox.id,
            direction="inbound",
            status="received",
            from_address="customer@fabrikam.example",
            to_addresses="support@contoso.example",
            subject="Printer on fire",
            body_text="Please help.",
            created_at=when,
        )
    )
    db.session.commit()
    site.sally_id, site.nora_id, site.mailbox_id = sally.id, nora.id, mailbox.id
    site.messages = [received.id, failed.id]


def _signed_in(browser, base: str, username: str, password: str):
    """A browser context of its own, signed in through the login page."""
    context = browser.new_context()
    context.set_default_timeout(15000)
    page = context.new_page()
    browser_login(page, base, username, password)
    return context, page


def _csrf(page, base: str) -> str:
    """The session's CSRF token, as the page's scripts read it."""
    page.goto(f"{base}/home")
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def _sign_in_with_microsoft(site: Site, page, path: str, data: dict, oid: str) -> str:
    """Press Connect/Authorize as the page's script does, with the page's cookies: the JSON
    POST, the pop-up's go URL, Microsoft's sign-in (the stand-in), then the callback. Returns
    the path the bridge page continues to."""
    api = page.context.request
    started = api.post(
        f"{site.server.url}{path}",
        form={**data, "mode": "popup", "csrf_token": _csrf(page, site.server.url)},
        headers={"Accept": "application/json"},
    )
    assert started.ok, started.text()[:500]
    go = api.get(f"{site.server.url}{started.json()['go_url']}", max_redirects=0)
    assert go.status == 302, (started.json(), go.status, go.url)
    callback = api.get(sign_in_at_standin(go.headers["location"], oid))
    assert callback.ok, callback.text()[:500]
    return api.get(f"{site.server.url}{started.json()['status_url']}").json()["next"]


def _audit_signed_out(audit: Audit, browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        audit.visit(page, "/", label="/ (Log In)")
        page.get_by_label("Username").fill("sally")
        page.get_by_label("Password").fill("not-her-password")
        page.get_by_role("button", name="Log In").click()
        page.get_by_text("Invalid username or password").wait_for()
        audit.check(page, "/login (wrong password)")
        audit.visit(page, "/no-such-page", status=404)
    finally:
        context.close()


def _audit_user(audit: Audit, browser, site: Site) -> None:
    context, page = _signed_in(browser, site.server.url, "sally", "sally-password")
    try:
        _audit_user_not_connected(audit, page, site)
        _sign_in_with_microsoft(
            site, page, "/profile/external-accounts/new", {"application": "microsoft"}, ADELE
        )
        _audit_user_connected(audit, page)
        _audit_user_emails(audit, page, site)
        _audit_reconnect_banner(audit, page, site)
    finally:
        context.close()


def _audit_reconnect_banner(audit: Audit, page, site: Site) -> None:
    """Home's banner naming each authorization that needs reconnecting (External Account and
    email), as the token service leaves them when Microsoft refuses a grant."""
    with site.server.db():
        for model in (ExternalAccount, MailAccount):
            owner = db.session.scalar(select(model).where(model.user_id == site.sally_id))
            tokens.mark_needs_reconnect(owner, "Microsoft refused the grant.")
    audit.visit(page, "/home", label="/home (Reauthenticate banner)")
    expect(page.locator(".banner[role=alert]")).to_have_count(2)


def _audit_user_not_connected(audit: Audit, page, site: Site) -> None:
    audit.visit(page, "/home", label="/home (Cloud Drive not connected)")
    _user_menu_by_keyboard(audit, page)
    audit.visit(page, "/drive/", status=409, label="/drive/ (not connected)")
    audit.visit(page, "/profile/")
    audit.visit(page, "/profile/edit", label="/profile/edit (User Profile)")
    for slug in site.tabs:
        audit.visit(page, f"/profile/edit/{slug}")
    page.get_by_role("link", name="Password").click()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Current Password").first.wait_for()
    audit.check(page, "/profile/edit/password (errors)")
    audit.visit(page, "/profile/external-accounts/new")
    page.evaluate("() => { window.open = () => null; }")  # as a pop-up blocker answers
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("button", name="Continue in this window").wait_for()
    audit.check(page, "/profile/external-accounts/new (pop-up blocked)")
    audit.visit(page, "/admin/", status=403, label="/admin/ (403 for a user)")
    audit.visit(page, "/no-such-page", status=404, label="/no-such-page (signed in)")
    audit.visit(
        page,
        "/oauth/microsoft/callback?error=access_denied&state=unknown",
        status=400,
        label="/oauth/microsoft/callback (pop-up's last page, an error)",
    )


def _user_menu_by_keyboard(audit: Audit, page) -> None:
    """The user menu is named by the name it shows, opens with Enter, closes with Escape."""
    summary = page.locator("details.usermenu summary")
    expect(summary).to_have_accessible_name("Sally Bronsen User menu")
    summary.focus()
    page.keyboard.press("Enter")
    page.get_by_role("menuitem", name="Profile").wait_for()
    audit.check(page, "/home (user menu open)")
    page.keyboard.press("Escape")
    expect(page.locator("details.usermenu[open]")).to_have_count(0)
    expect(summary).to_be_focused()


def _audit_user_connected(audit: Audit, page) -> None:
    rows = page.locator("[data-drive-rows] tr")
    audit.visit(
        page,
        "/home",
        ready=rows.filter(has_text="Welcome.txt"),
        label="/home (Cloud Drive listing loaded)",
    )
    page.get_by_role("button", name="New Folder").click()
    page.get_by_label("Folder name").wait_for()
    audit.check(page, "/home (New Folder form)")
    row = rows.filter(has_text="Welcome.txt")
    row.get_by_role("button", name="Copy Link").click()
    page.get_by_label("Link", exact=True).wait_for()
    audit.check(page, "/home (Copy Link: the link shown)")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Cancel").first.wait_for()
    audit.check(page, "/home (Delete: confirm)")
    row.get_by_role("button", name="Cancel").first.click()
    row.get_by_role("button", name="Rename").click()
    page.get_by_role("textbox", name="New name for “Welcome.txt”").fill("Documents")
    audit.check(page, "/home (Rename)")
    page.get_by_role("textbox", name="New name for “Welcome.txt”").press("Enter")
    status = page.locator("[data-drive-status]")
    status.get_by_role("button", name="Keep both").wait_for()
    audit.check(page, "/home (Name taken: Keep both, Replace or Cancel)")
    status.get_by_role("button", name="Cancel").click()
    page.get_by_role("textbox", name="New name for “Welcome.txt”").press("Escape")
    row.get_by_role("button", name="Move").click()
    page.get_by_role("dialog").get_by_role("button", name="Documents").wait_for()
    audit.check(page, "/home (Move: the folder picker)")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Photos", exact=True).click()
    photo = rows.filter(has_text="Whiteboard.png")
    photo.locator("img.drive-thumb").wait_for()
    audit.check(page, "/home (Photos: thumbnails)")
    photo.get_by_role("link", name="Preview").click()
    page.get_by_role("dialog").get_by_role("img").wait_for()
    audit.check(page, "/home (Preview)")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.locator("[data-drive-crumbs]").get_by_role("link", name="My Files").click()
    page.get_by_role("link", name="Documents", exact=True).click()
    rows.filter(has_text="Notes.txt").get_by_role("link", name="Preview").click()
    page.get_by_role("dialog").locator("[data-preview-text]").wait_for()
    audit.check(page, "/home (Preview of plain text)")
    page.keyboard.press("Escape")
    page.locator("[data-drive-upload]").set_input_files(
        [{"name": f"Queued {n}.txt", "mimeType": "text/plain", "buffer": b"queued"} for n in (1, 2)]
    )
    page.locator("[data-drive-queue] li").filter(has_text="Queued 2.txt").filter(
        has_text="Uploaded"
    ).wait_for()
    audit.check(page, "/home (Upload queue: two files uploaded)")
    page.get_by_role("link", name="Shared With Me").click()
    rows.first.wait_for()
    audit.check(page, "/home (Shared With Me)")
    page.get_by_role("link", name="My Files").click()
    rows.filter(has_text="Welcome.txt").wait_for()
    page.get_by_role("searchbox", name="Search in this drive").fill("notes")
    page.get_by_role("searchbox", name="Search in this drive").press("Enter")
    page.locator("[data-drive-crumbs]").get_by_text("Search results for").wait_for()
    audit.check(page, "/home (Search results)")
    _audit_sites(audit, page)
    audit.visit(page, "/drive/?q=notes", label="/drive/ (Search results)")
    audit.visit(page, "/drive/?path=Documents", label="/drive/ (Open in Office for the web)")
    audit.visit(page, "/drive/?path=Photos", label="/drive/ (Photos: thumbnails and Preview)")
    audit.visit(page, "/drive/", label="/drive/ (My Files)")
    audit.visit(page, "/drive/?view=shared", label="/drive/ (Shared With Me)")
    audit.visit(page, "/profile/edit/external-accounts", label="/profile/edit/external-accounts")
    account = page.get_by_role("link", name="Microsoft").first
    detail = urlsplit(account.get_attribute("href")).path
    audit.visit(page, detail, label="/profile/external-accounts/<id>")
    audit.visit(page, f"{detail}/check", label="/profile/external-accounts/<id>/check")
    audit.visit(page, f"{detail}/delete", label="/profile/external-accounts/<id>/delete")


def _audit_sites(audit: Audit, page) -> None:
    """The dashlet's Sites: the followed sites, a site's libraries, a library's files; and the
    same as full pages."""
    rows = page.locator("[data-drive-rows] tr")
    views = page.get_by_role("navigation", name="Cloud Drive views")
    views.get_by_role("link", name="Sites").click()
    rows.filter(has_text="Sales and Marketing").wait_for()
    audit.check(page, "/home (Sites: followed sites)")
    page.get_by_role("link", name="Sales and Marketing", exact=True).click()
    rows.filter(has_text="Campaign Assets").wait_for()
    audit.check(page, "/home (Sites: a site's libraries)")
    page.get_by_role("link", name="Documents", exact=True).click()
    rows.filter(has_text="Sales playbook.docx").wait_for()
    audit.check(page, "/home (Sites: a library)")
    views.get_by_role("link", name="My Files").click()
    rows.filter(has_text="Welcome.txt").wait_for()
    audit.visit(page, "/drive/?view=sites", label="/drive/ (Sites)")
    sales = page.get_by_role("link", name="Sales and Marketing", exact=True)
    audit.visit(page, sales.get_attribute("href"), label="/drive/ (Sites: a site's libraries)")
    documents = page.get_by_role("link", name="Documents", exact=True)
    audit.visit(page, documents.get_attribute("href"), label="/drive/ (Sites: a library)")


def _audit_user_emails(audit: Audit, page, site: Site) -> None:
    audit.visit(page, "/emails/")
    audit.visit(page, f"/emails/?folder={site.mailbox_id}", label="/emails/ (an inbound mailbox)")
    audit.visit(page, "/emails/compose")
    page.get_by_role("button", name="Send").click()
    page.locator(".errors").first.wait_for()
    audit.check(page, "/emails/compose (errors)")
    received, failed = site.messages
    audit.visit(page, f"/emails/{received}", label="/emails/<id> (received, HTML)")
    audit.visit(page, f"/emails/{failed}", label="/emails/<id> (failed)")
    audit.visit(page, "/emails/settings", label="/emails/settings (Not Authorized)")
    _sign_in_with_microsoft(site, page, "/emails/settings/authorize/mail", {}, ADELE)
    audit.visit(page, "/emails/settings", label="/emails/settings (Authorized)")
    audit.visit(page, "/emails/settings/deauthorize/mail", label="/emails/settings/deauthorize")


def _audit_admin(audit: Audit, browser, site: Site) -> None:
    context, page = _signed_in(browser, site.server.url, "admin", "admin-password")
    sally = f"/admin/users/{site.sally_id}"
    _secret_expires_soon(site)  # every Admin page below carries the warning
    try:
        for path in ("/home", "/admin/", "/admin/users", "/admin/connectors", "/admin/users/new"):
            audit.visit(page, path)
        expect(page.locator(".banner-warning")).to_have_count(1)  # the secret expires soon
        page.get_by_role("button", name="Create").click()
        page.locator(".errors").first.wait_for()
        audit.check(page, "/admin/users/new (errors)")
        for provider in site.providers:
            audit.visit(page, f"/admin/connectors/{provider}")
        for path in ("/admin/audit", "/admin/connections", "/admin/email/system"):
            audit.visit(page, path)
        audit.visit(page, "/admin/email/inbound")
        audit.visit(page, "/admin/email/inbound/new")
        page.get_by_role("button", name="Create").click()
        page.locator(".errors").first.wait_for()
        audit.check(page, "/admin/email/inbound/new (errors)")
        mailbox = f"/admin/email/inbound/{site.mailbox_id}"
        audit.visit(page, mailbox, label="/admin/email/inbound/<id> (a shared mailbox)")
        audit.visit(page, f"{mailbox}/delete", label="/admin/email/inbound/<id>/delete")
        _audit_remove_authorization(audit, page, site, mailbox)
        audit.visit(page, f"/admin/email/users/{site.sally_id}", label="/admin/email/users/<id>")
        audit.visit(page, f"{sally}/edit", label="/admin/users/<id>/edit")
        for slug in site.tabs:
            audit.visit(page, f"{sally}/edit/{slug}", label=f"/admin/users/<id>/edit/{slug}")
        audit.visit(page, f"{sally}/delete", label="/admin/users/<id>/delete")
        audit.visit(
            page, f"{sally}/external-accounts/new", label="/admin/users/<id>/external-accounts/new"
        )
        page.goto(f"{site.server.url}{sally}/edit/external-accounts")
        detail = urlsplit(page.get_by_role("link", name="Microsoft").first.get_attribute("href"))
        for tail, name in (("", "<id>"), ("/check", "<id>/check"), ("/delete", "<id>/delete")):
            label = f"/admin/users/<id>/external-accounts/{name}"
            audit.visit(page, f"{detail.path}{tail}", label=label)
        confirm = _sign_in_with_microsoft(
            site,
            page,
            f"/admin/users/{site.nora_id}/external-accounts/new",
            {"application": "microsoft"},
            MEGAN,
        )
        audit.visit(page, confirm, label="/oauth/flows/<id>/confirm (acting for a user)")
    finally:
        context.close()


def _audit_remove_authorization(audit: Audit, page, site: Site, mailbox: str) -> None:
    """Remove authorization's confirmation of an authorized mailbox and of a user's (sally's,
    Needs reconnect by now); one with nothing to remove goes back to its page."""
    _sign_in_with_microsoft(site, page, f"{mailbox}/authorize/mail", {}, ADELE)
    audit.visit(page, f"{mailbox}/deauthorize/mail", label="/admin/email/inbound/<id>/deauthorize")
    expect(page.get_by_role("button", name="Remove")).to_be_visible()
    user = f"/admin/email/users/{site.sally_id}/deauthorize/mail"
    audit.visit(page, user, label="/admin/email/users/<id>/deauthorize")
    expect(page.get_by_role("link", name="Cancel")).to_be_visible()
    nothing = "/admin/email/system/deauthorize/mail"
    audit.visit(page, nothing, label="/admin/email/system (nothing to remove)")
    expect(page.get_by_text("There is no authorization to remove.")).to_be_visible()


def _secret_expires_soon(site: Site) -> None:
    with site.server.db():
        connectors.get("microsoft").secret_expires_on = datetime.now(UTC).date() + timedelta(7)
        db.session.commit()


def _unaudited(site: Site, paths: set[str]) -> list[str]:
    """GET routes neither audited nor excluded, as 'endpoint (rule)'."""
    app = site.server.app()
    adapter = app.url_map.bind("localhost")
    seen = set()
    for path in paths:
        try:
            seen.add(adapter.match(path, method="GET")[0])
        except HTTPException:  # the 404 page's made-up path
            continue
    return sorted(
        f"{rule.endpoint} ({rule.rule})"
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in seen and rule.endpoint not in NOT_PAGES
    )


def test_every_page_has_no_wcag_violation(axe_source, browser, site):
    audit = Audit(site.server.url, axe_source)
    _audit_signed_out(audit, browser)
    _audit_user(audit, browser, site)
    _audit_admin(audit, browser, site)

    forgotten = _unaudited(site, audit.paths)
    assert not forgotten, (
        "GET routes that tests/core/test_accessibility.py neither audits nor excludes in "
        f"NOT_PAGES (with a reason): {', '.join(forgotten)}"
    )
    if audit.findings:
        pytest.fail(audit.report(), pytrace=False)
