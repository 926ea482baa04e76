"""Admin > Inbound Email as a list of inbound mailboxes (Create, edit, Delete, audited), and who
sees which mailbox's mail: the Emails list's filter and a message's page answer 404 for a
mailbox the user may not see, in a constant number of statements."""

import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, event, func, select

from app.extensions import db
from app.mail import settings
from app.mail.models import GROUP, INBOUND, RECEIVED, MailAccount, MailAttachment, MailMessage
from app.users.models import AuditEvent, User

ADMIN_PASSWORD = "admin-password"


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _create(client, name: str, *, shared: str = "", viewers=(), status: int = 302):
    data = {"name": name, "shared_address": shared, "visibility": "chosen" if viewers else "all"}
    if viewers:
        data["viewers"] = [str(_user(v).id) for v in viewers]
    response = client.post("/admin/email/inbound/new", data=data)
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response


def _mailbox(name: str) -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.name == name))


def _received(mailbox: MailAccount, subject: str, attachments: int = 0) -> MailMessage:
    message = MailMessage(
        account_id=mailbox.id,
        user_id=None,
        direction=INBOUND,
        status=RECEIVED,
        from_address="customer@fabrikam.example",
        to_addresses=mailbox.mailbox_address or "team@contoso.example",
        subject=subject,
        body_text="Hello",
    )
    message.attachments = [
        MailAttachment(filename=f"file{n}.pdf", content_type="application/pdf", size=10)
        for n in range(attachments)
    ]
    db.session.add(message)
    db.session.commit()
    return message


def _actions(action: str) -> list[str]:
    return [
        e.detail for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action))
    ]


def test_an_admin_creates_edits_and_deletes_inbound_mailboxes(auth, client, make_user):
    make_user("max", "max-password")
    auth.login("admin", ADMIN_PASSWORD)
    empty = client.get("/admin/email/inbound").get_data(as_text=True)
    assert "No inbound mailbox yet" in empty and 'href="/admin/email/inbound/new"' in empty
    form = client.get("/admin/email/inbound/new").get_data(as_text=True)
    assert "Max" in form or "max" in form  # the active users to choose from
    created = _create(client, "Support", shared="Support@Contoso.example", viewers=["sally"])
    support = _mailbox("Support")
    assert created.headers["Location"] == f"/admin/email/inbound/{support.id}"
    assert support.slot.startswith("group-") and support.role == GROUP
    assert support.shared_address == "support@contoso.example" and support.import_enabled
    assert [u.username for u in support.viewers] == ["sally"]
    assert "seen by sally" in _actions("mail.mailbox_created")[0]
    _create(client, "Sales")
    listing = client.get("/admin/email/inbound").get_data(as_text=True)
    assert listing.index(">Support</a>") < listing.index(">Sales</a>")  # the oldest first
    assert "support@contoso.example" in listing and "All users" in listing

    page = client.get(f"/admin/email/inbound/{support.id}").get_data(as_text=True)
    assert "Inbound Email: Support" in page and 'value="support@contoso.example"' in page
    assert "Full Access" in page  # what the delegate needs
    saved = client.post(
        f"/admin/email/inbound/{support.id}/details",
        data={"name": "Customer Support", "shared_address": "", "visibility": "all"},
    )
    assert saved.status_code == 302
    support = _mailbox("Customer Support")
    assert support.shared_address == "" and support.viewers == [] and support.visibility == "all"
    assert _actions("mail.mailbox_saved") == [
        "group: “Customer Support”, shared mailbox none, seen by all users"
    ]

    kept = _received(_mailbox("Sales"), "A lead").id
    gone = _received(support, "A complaint", attachments=2).id
    confirm = client.get(f"/admin/email/inbound/{support.id}/delete").get_data(as_text=True)
    assert "imported into the Emails list are deleted too" in confirm
    assert "The mailbox itself in Exchange Online is not touched" in confirm
    deleted = client.post(f"/admin/email/inbound/{support.id}/delete")
    assert deleted.status_code == 302 and deleted.headers["Location"] == "/admin/email/inbound"
    db.session.expire_all()
    assert db.session.get(MailMessage, gone) is None
    assert (
        db.session.scalar(select(MailAttachment).where(MailAttachment.message_id == gone)) is None
    )
    assert db.session.get(MailMessage, kept) is not None
    assert "1 imported messages removed" in _actions("mail.mailbox_deleted")[0]
    assert client.get(f"/admin/email/inbound/{support.id}").status_code == 404


def test_the_mailbox_form_says_what_is_wrong(auth, client):
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Sales")
    cases = [
        ({"name": "", "visibility": "all"}, "Enter a name."),
        ({"name": "sales", "visibility": "all"}, "Another inbound mailbox is named “sales”."),
        ({"name": "Desk", "visibility": "chosen"}, "Choose at least one user"),
        (
            {"name": "Desk", "visibility": "all", "shared_address": "not an address"},
            "like support@",
        ),
        ({"name": "My Emails", "visibility": "all"}, "is each user"),
    ]
    for data, words in cases:
        response = client.post("/admin/email/inbound/new", data=data)
        assert response.status_code == 400, data
        assert words in response.get_data(as_text=True), data
    assert db.session.scalar(select(MailAccount).where(MailAccount.name == "Desk")) is None
    assert client.get("/admin/email/inbound/999999/delete").status_code == 404
    # Every problem at once, each at its field, not one per submit.
    data = {"name": "sales", "visibility": "chosen", "shared_address": "not an address"}
    page = client.post("/admin/email/inbound/new", data=data).get_data(as_text=True)
    for words in ("Another inbound mailbox is named", "like support@", "Choose at least one user"):
        assert words in page, words


def test_a_shared_mailbox_is_imported_by_one_inbound_mailbox_only(auth, client):
    # A second one would show support@'s mail to its own viewers, around the first's choice.
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support", shared="support@contoso.example", viewers=["sally"])
    _create(client, "Sales", shared="sales@contoso.example")
    words = "The inbound mailbox “Support” already imports support@contoso.example."
    response = _create(client, "Support copy", shared="SUPPORT@Contoso.example", status=400)
    assert words in response.get_data(as_text=True)
    sales = _mailbox("Sales")
    edit = client.post(
        f"/admin/email/inbound/{sales.id}/details",
        data={"name": "Sales", "shared_address": "support@contoso.example", "visibility": "all"},
    )
    assert edit.status_code == 400 and words in edit.get_data(as_text=True)
    assert _mailbox("Sales").shared_address == "sales@contoso.example"
    assert _mailbox("Support copy") is None
    # Saving a mailbox with its own address is not a clash with itself.
    support = _mailbox("Support")
    data = {"name": "Support", "shared_address": "support@contoso.example", "visibility": "all"}
    assert client.post(f"/admin/email/inbound/{support.id}/details", data=data).status_code == 302


def test_users_see_only_the_mailboxes_they_may_see(auth, client, make_user):
    make_user("max", "max-password")
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support", viewers=["sally"])
    _create(client, "Sales", viewers=["max"])
    _create(client, "Everyone")
    support, sales, everyone = (_mailbox(n) for n in ("Support", "Sales", "Everyone"))
    ticket = _received(support, "Ticket 1")
    lead = _received(sales, "Lead 1")
    news = _received(everyone, "News 1")
    admin_list = client.get("/emails/").get_data(as_text=True)
    assert all(name in admin_list for name in ("Support", "Sales", "Everyone"))
    assert client.get(f"/emails/{lead.id}").status_code == 200  # admins see every mailbox
    auth.logout()

    auth.login()  # sally: Support (chosen) and Everyone (all users)
    mine = client.get("/emails/").get_data(as_text=True)
    assert "My Emails" in mine and "Support" in mine and "Everyone" in mine
    assert "Sales" not in mine and "Ticket 1" not in mine  # My Emails is her own mail only
    assert "Ticket 1" in client.get(f"/emails/?folder={support.id}").get_data(as_text=True)
    assert "News 1" in client.get(f"/emails/?folder={everyone.id}").get_data(as_text=True)
    assert client.get(f"/emails/{ticket.id}").status_code == 200
    assert client.get(f"/emails/{news.id}").status_code == 200
    for url in (f"/emails/?folder={sales.id}", f"/emails/{lead.id}", "/emails/?folder=nope"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/emails/{lead.id}/retry").status_code == 404
    auth.logout()

    auth.login("max", "max-password")
    assert client.get(f"/emails/?folder={support.id}").status_code == 404
    assert client.get(f"/emails/{ticket.id}").status_code == 404
    assert "Lead 1" in client.get(f"/emails/?folder={sales.id}").get_data(as_text=True)


def test_the_migrated_group_inbox_stays_first_and_its_old_link_works(auth, client):
    old = MailAccount(slot=GROUP, role=GROUP, name="Group Inbox", imap_host="outlook.office365.com")
    db.session.add(old)
    db.session.commit()
    _received(old, "From before")
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support")
    assert _mailbox("Support").slot == "group-2"
    listing = client.get("/admin/email/inbound").get_data(as_text=True)
    assert listing.index(">Group Inbox</a>") < listing.index(">Support</a>")
    auth.logout()
    auth.login()
    assert "From before" in client.get("/emails/?folder=group").get_data(as_text=True)


def _statements(client, url: str) -> int:
    seen = []

    def count(*_):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_pages_take_as_many_statements_for_many_mailboxes_as_for_one(auth, client, make_user):
    for name in ("max", "una", "ola"):
        make_user(name, f"{name}-password")
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support", viewers=["sally", "max"])
    support = _mailbox("Support")
    first = _received(support, "Ticket", attachments=1)
    auth.logout()
    auth.login()
    one = [_statements(client, u) for u in ("/emails/", f"/emails/?folder={support.id}")]
    one.append(_statements(client, f"/emails/{first.id}"))
    auth.logout()
    auth.login("admin", ADMIN_PASSWORD)
    one.append(_statements(client, "/admin/email/inbound"))
    for n in range(4):
        _create(client, f"Team {n}", viewers=["sally", "una", "ola"])
        for m in range(3):
            _received(_mailbox(f"Team {n}"), f"Message {n}.{m}", attachments=2)
    many = [_statements(client, "/admin/email/inbound")]
    auth.logout()
    auth.login()
    many[:0] = [_statements(client, u) for u in ("/emails/", f"/emails/?folder={support.id}")]
    many.insert(2, _statements(client, f"/emails/{first.id}"))
    assert many == one


def test_a_mailbox_lists_its_mail_newest_date_first_whatever_the_import_order(auth, client):
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support")
    support = _mailbox("Support")
    # Imported in this order (an old message found late, one with no Date header), shown by date.
    for subject, sent in (
        ("Tuesday", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("Sunday", datetime(2026, 11, 29, 9, tzinfo=UTC)),
        ("Monday", datetime(2026, 11, 30, 9, tzinfo=UTC)),
        ("Undated", None),  # no Date header: listed by when it was imported, i.e. now
    ):
        message = _received(support, subject)
        message.sent_at = sent
        db.session.commit()
    page = client.get(f"/emails/?folder={support.id}").get_data(as_text=True)
    shown = re.findall(r">(Undated|Tuesday|Monday|Sunday)</a>", page)
    assert shown == ["Undated", "Tuesday", "Monday", "Sunday"]


def test_attachment_sizes_read_as_compose_shows_them(auth, client):
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support")
    message = _received(_mailbox("Support"), "Sizes")
    message.attachments = [
        MailAttachment(filename="tiny.txt", content_type="text/plain", size=8),
        MailAttachment(
            filename="scan.bin", content_type="application/octet-stream", size=15_000_000
        ),
    ]
    db.session.commit()
    page = client.get(f"/emails/{message.id}").get_data(as_text=True)
    assert "(text/plain, 1 KB)" in page and "(application/octet-stream, 14.3 MB)" in page


def test_a_mailbox_message_says_its_mailbox_and_leads_back_to_its_list(auth, client):
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support")
    support = _mailbox("Support")
    page = client.get(f"/emails/{_received(support, 'Ticket').id}").get_data(as_text=True)
    assert f'href="/emails/?folder={support.id}">Back to Support</a>' in page
    assert "<dt>Mailbox</dt><dd>Support</dd>" in page


def _message_part(client, message: MailMessage) -> str:
    page = client.get(f"/emails/{message.id}").get_data(as_text=True)
    return page[page.index("<h2>Message</h2>") :]


def test_a_message_shows_one_body_the_html_with_its_plain_text_folded_below(auth, client):
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support")
    support = _mailbox("Support")
    both = _received(support, "Both bodies")
    both.body_html = "<p>Hello <b>there</b></p>"
    db.session.commit()
    shown = _message_part(client, both)
    assert shown.count("<h2>") == 1  # no second "HTML" heading
    iframe = '<iframe class="mail-html" title="HTML body" sandbox srcdoc="&lt;p&gt;Hello'
    assert shown.count("<iframe") == 1 and iframe in shown
    folded = re.search(
        r'<details class="mail-plain"><summary>Plain text</summary>'
        r'<pre class="mail-body">Hello</pre></details>',
        shown,
    )
    assert folded and shown.index("<iframe") < folded.start()
    assert shown.count('<pre class="mail-body">') == 1  # only inside the details

    plain = _message_part(client, _received(support, "Plain only"))
    assert '<pre class="mail-body">Hello</pre>' in plain
    assert "<iframe" not in plain and "<details" not in plain


def test_a_batch_stored_while_its_mailbox_is_deleted_is_deleted_with_it(
    app, database_url, auth, client
):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite takes one writer at a time: no batch can be stored during a delete")
    auth.login("admin", ADMIN_PASSWORD)
    _create(client, "Support")
    mailbox_id, admin_id = _mailbox("Support").id, _user("admin").id
    db.session.commit()
    engine = create_engine(database_url)
    deleted = threading.Event()

    def delete_in_another_request():
        with app.app_context():
            account = db.session.get(MailAccount, mailbox_id)
            settings.delete_mailbox(db.session.get(User, admin_id), account)
            db.session.commit()
            deleted.set()

    try:
        with engine.connect() as importer:  # an import's batch, stored but not yet committed
            batch = importer.begin()
            importer.execute(
                MailMessage.__table__.insert().values(
                    account_id=mailbox_id, direction=INBOUND, status=RECEIVED, subject="In flight"
                )
            )
            deleting = threading.Thread(target=delete_in_another_request)
            deleting.start()
            assert not deleted.wait(1.0)  # the delete waits for the batch
            batch.commit()
            deleting.join(10)
        assert deleted.is_set()
    finally:
        engine.dispose()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(MailMessage)) == 0  # no orphan
    assert _mailbox("Support") is None
