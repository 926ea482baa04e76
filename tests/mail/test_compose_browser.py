"""In Chromium: Compose takes two files and both arrive (over SMTP and over Microsoft Graph); a
set over the limit is refused by the page before anything is uploaded; the picker and each
file's Remove button work from the keyboard."""

import base64
from email import message_from_string, policy

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.mail.models import MailMessage
from tests.conftest import app_on_standin, standin_mail_hosts
from tests.mail.conftest import TIMEOUT, authorize_in_popup, sally_at_email_settings

pytestmark = pytest.mark.browser
LIMIT = 1024 * 1024  # MAIL_MAX_ATTACHMENT_BYTES here: 1 MB per message
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 300 + b"\n%%EOF\n"
CSV = "Name;Stadt\nJürgen;Köln\n".encode()
FILES = [
    {"name": "Angebot 2026.pdf", "mimeType": "application/pdf", "buffer": PDF},
    {"name": "Kunden.csv", "mimeType": "text/csv", "buffer": CSV},
]


@pytest.fixture
def live_mail(tmp_path, standin):
    """The app under gunicorn on the stand-in, a message carrying at most 1 MB of files."""
    extra = {
        "MAIL_ALLOWED_HOSTS": standin_mail_hosts(standin),
        "MAIL_MAX_ATTACHMENT_BYTES": str(LIMIT),
    }
    with app_on_standin(tmp_path, standin, extra) as server:
        yield server


def _outbox(base: str) -> list[dict]:
    return requests.get(f"{base}/_standin/mail/outbox", timeout=TIMEOUT).json()["messages"]


def _stored(server) -> int:
    with server.app().app_context():
        return db.session.scalar(select(func.count()).select_from(MailMessage))


def _sign_in_and_set_up(server, page, send_via: str = "SMTP (XOAUTH2)") -> None:
    """Sally signs in, points Outbound Email at the stand-in's SMTP server and authorizes."""
    servers = requests.get(f"{server.standin}/_standin/mail/servers", timeout=TIMEOUT).json()
    sally_at_email_settings(server, page)
    outbound = page.locator("section", has=page.get_by_role("heading", name="Outbound Email"))
    outbound.get_by_label("SMTP Server").fill("127.0.0.1")
    outbound.get_by_label("SMTP Port").fill(str(servers["smtp"]["port"]))
    outbound.get_by_label("SMTP Security").select_option("none")
    outbound.get_by_role("group", name="Send via").get_by_label(send_via).check()  # a fieldset
    outbound.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The outbound settings were saved.")).to_be_visible()
    authorize_in_popup(page, page.get_by_role("button", name="Authorize", exact=True).first)
    if send_via == "Microsoft Graph":
        graph = page.locator(
            "section", has=page.get_by_role("heading", name="Microsoft Graph authorization")
        )
        authorize_in_popup(page, graph.get_by_role("button", name="Authorize", exact=True))


def _open_compose(page) -> None:
    """Emails > Compose, once its deferred compose.js has run: files set before the script
    listens to the picker would be neither listed nor checked against the limit."""
    page.get_by_role("link", name="Compose").click()
    page.wait_for_load_state()


def _compose_two_files(page) -> None:
    _open_compose(page)
    page.get_by_label("To").fill("max@fabrikam.example")
    page.get_by_label("Subject").fill("Two files")
    page.get_by_label("Body").fill("Both attached.")
    page.get_by_label("Attachments").set_input_files(FILES)
    files = page.get_by_role("list", name="Attached files")
    assert files.get_by_role("listitem").count() == 2
    expect(page.get_by_text("2 files, 75 KB of at most 1 MB in all.")).to_be_visible()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("The message was sent.")).to_be_visible()


def test_two_files_arrive_over_smtp(live_mail, page):
    _sign_in_and_set_up(live_mail, page)
    _compose_two_files(page)
    (sent,) = _outbox(live_mail.standin)
    mime = message_from_string(sent["raw"], policy=policy.default)
    parts = [
        (p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
        for p in mime.iter_attachments()
    ]
    assert parts == [("Angebot 2026.pdf", "application/pdf", PDF), ("Kunden.csv", "text/csv", CSV)]
    expect(page.get_by_text("Angebot 2026.pdf")).to_be_visible()  # the sent message's page


def test_two_files_arrive_over_microsoft_graph(live_mail, page):
    _sign_in_and_set_up(live_mail, page, "Microsoft Graph")
    _compose_two_files(page)
    (sent,) = _outbox(live_mail.standin)
    assert sent["via"] == "graph"
    got = [
        (a["name"], a["contentType"], base64.b64decode(a["contentBytes"]))
        for a in sent["graph_message"]["attachments"]
    ]
    assert got == [("Angebot 2026.pdf", "application/pdf", PDF), ("Kunden.csv", "text/csv", CSV)]


def test_a_set_over_the_limit_is_refused_before_upload(live_mail, page):
    _sign_in_and_set_up(live_mail, page)
    _open_compose(page)
    posted = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.get_by_label("To").fill("max@fabrikam.example")
    big = {"name": "Scan.pdf", "mimeType": "application/pdf", "buffer": b"x" * (LIMIT + 1)}
    page.get_by_label("Attachments").set_input_files([big, FILES[1]])
    words = "The attachments total 1 MB; a message may carry at most 1 MB. Remove some files"
    alert = page.get_by_role("alert").filter(has_text=words)
    expect(alert).to_be_visible()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(alert).to_be_visible()
    assert page.get_by_label("Attachments").evaluate("e => e === document.activeElement")
    assert page.get_by_label("Attachments").get_attribute("aria-invalid") == "true"
    assert posted == [] and _stored(live_mail) == 0 and _outbox(live_mail.standin) == []
    # Removing the large file clears the refusal; the message then goes with the other one.
    page.get_by_role("button", name="Remove Scan.pdf").click()
    assert not alert.is_visible()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("The message was sent.")).to_be_visible()
    (sent,) = _outbox(live_mail.standin)
    mime = message_from_string(sent["raw"], policy=policy.default)
    assert [p.get_filename() for p in mime.iter_attachments()] == ["Kunden.csv"]


def test_the_attachment_controls_work_from_the_keyboard(live_mail, page):
    # Listening for file choosers from the start: Playwright turns Chromium's interception on
    # without waiting for it, so a listener added just before the key press can miss the
    # chooser it opens, and the dialog then goes to headless Chromium's no-op picker.
    page.on("filechooser", lambda chooser: None)
    _sign_in_and_set_up(live_mail, page)
    _open_compose(page)
    page.get_by_label("Body").focus()
    page.keyboard.press("Tab")
    picker = page.get_by_label("Attachments")
    assert picker.evaluate("e => e === document.activeElement")
    with page.expect_file_chooser() as chooser_info:
        page.keyboard.press("Space")
    chooser_info.value.set_files(FILES)
    assert page.get_by_role("list", name="Attached files").get_by_role("listitem").count() == 2
    page.keyboard.press("Tab")
    first = page.get_by_role("button", name="Remove Angebot 2026.pdf")
    assert first.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    # The keyboard stays in the list: the next file's Remove has the focus.
    second = page.get_by_role("button", name="Remove Kunden.csv")
    assert second.evaluate("e => e === document.activeElement")
    expect(page.get_by_text("1 file, 1 KB of at most 1 MB in all.")).to_be_visible()
    page.keyboard.press("Enter")
    assert picker.evaluate("e => e === document.activeElement")  # back to the picker
    expect(page.get_by_text("Several files, up to 1 MB in all.")).to_be_visible()


def test_files_picked_before_the_script_ran_are_listed_and_checked(live_mail, page):
    # A slow network: the picker is used before the deferred compose.js has run.
    _sign_in_and_set_up(live_mail, page)
    page.route("**/static/js/compose.js*", lambda route: route.abort())
    _open_compose(page)
    big = {"name": "Scan.pdf", "mimeType": "application/pdf", "buffer": b"x" * LIMIT}
    page.get_by_label("Attachments").set_input_files([big, FILES[1]])
    page.unroute("**/static/js/compose.js*")
    page.add_script_tag(url="/static/js/compose.js")
    files = page.get_by_role("list", name="Attached files").get_by_role("listitem")
    expect(files).to_have_count(2)
    expect(page.get_by_role("alert")).to_contain_text("a message may carry at most 1 MB")
    page.get_by_role("button", name="Remove Scan.pdf").click()
    expect(files).to_have_count(1)
    assert page.get_by_label("Attachments").evaluate("e => [...e.files].map(f => f.name)") == [
        "Kunden.csv"
    ]
