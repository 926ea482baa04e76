"""Compose with attachments, end to end against the stand-in: SMTP carries them as MIME parts;
Graph sends a small set inline in sendMail and a file of 3 MB or more through a draft and an
upload session; the stored message keeps them for a retry; a set over the limit is refused in
words with nothing stored or sent."""

import base64
import io
from email import message_from_string, policy

from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.extensions import db
from app.mail.models import MailAttachment, MailMessage
from app.microsoft import exchange
from tests.mail.conftest import authorize, smtp_settings

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
CSV = "Name;Stadt\nJürgen;Köln\n".encode()


def _messages() -> list[MailMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(MailMessage).order_by(MailMessage.id)))


def _compose(client, files: list[tuple[bytes, str, str]], **fields):
    """POST Compose as a browser would (multipart). The body is built in memory: the test
    client's own encoder spools a large one to a temporary file it never closes."""
    data = MultiDict(
        {"to": "max@fabrikam.example", "subject": "Files", "body": "See attached.\n", **fields}
    )
    for content, name, kind in files:
        data.add("attachments", FileStorage(io.BytesIO(content), name, content_type=kind))
    boundary, body = encode_multipart(data)
    return client.post(
        "/emails/compose", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def _parts(raw: str) -> list[tuple[str, str, bytes]]:
    """The delivered message's attachments: (filename, content type, bytes)."""
    mime = message_from_string(raw, policy=policy.default)
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in mime.iter_attachments()
    ]


def _use_graph(client, mail_servers) -> None:
    data = smtp_settings(mail_servers.smtp_port, send_via="graph")
    assert client.post("/emails/settings/outbound", data=data).status_code == 302
    authorize(client, "/emails/settings/authorize/graph_mail")


def test_two_attachments_arrive_over_smtp_with_names_types_and_bytes(sally_mail, mailctl):
    files = [(PDF, "Angebot 2026.pdf", "application/pdf"), (CSV, "Kunden.csv", "text/csv")]
    response = _compose(sally_mail, files)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    (message,) = _messages()
    assert message.status == "sent" and message.sent_via == "smtp", message.status_reason
    (sent,) = mailctl.outbox()
    assert sent["via"] == "smtp"
    assert _parts(sent["raw"]) == [
        ("Angebot 2026.pdf", "application/pdf", PDF),
        ("Kunden.csv", "text/csv", CSV),
    ]
    body = message_from_string(sent["raw"], policy=policy.default).get_body(("plain",))
    assert body.get_content().replace("\r\n", "\n") == "See attached.\n"
    page = sally_mail.get(f"/emails/{message.id}").get_data(as_text=True)
    assert "Angebot 2026.pdf" in page and "Kunden.csv" in page


def test_a_small_pair_goes_inline_in_sendmail(sally_mail, mail_servers, mailctl, ms):
    _use_graph(sally_mail, mail_servers)
    files = [(PDF, "Angebot.pdf", "application/pdf"), (CSV, "Kunden.csv", "text/csv")]
    assert _compose(sally_mail, files).status_code == 302
    (message,) = _messages()
    assert message.status == "sent" and message.sent_via == "graph"
    (sent,) = mailctl.outbox()
    attachments = sent["graph_message"]["attachments"]
    assert [
        (a["name"], a["contentType"], base64.b64decode(a["contentBytes"])) for a in attachments
    ] == [("Angebot.pdf", "application/pdf", PDF), ("Kunden.csv", "text/csv", CSV)]
    assert all(a["@odata.type"] == "#microsoft.graph.fileAttachment" for a in attachments)
    stats = ms.stats()
    assert stats.get("graph.sendMail") == 1
    assert not stats.get("graph.drafts.create") and not stats.get("graph.attachments.range")


def test_a_file_over_4_mb_goes_through_a_draft_and_an_upload_session(
    sally_mail, mail_servers, mailctl, ms
):
    _use_graph(sally_mail, mail_servers)
    large = bytes(i % 253 for i in range(4 * 1024 * 1024 + 12_345))  # two ranges
    files = [(large, "Pläne.zip", "application/zip"), (CSV, "Kunden.csv", "text/csv")]
    assert _compose(sally_mail, files).status_code == 302
    (message,) = _messages()
    assert message.status == "sent", message.status_reason
    (sent,) = mailctl.outbox()
    assert sent["via"] == "graph" and sent["rcpt_tos"] == ["max@fabrikam.example"]
    got = {a["name"]: a for a in sent["graph_message"]["attachments"]}
    assert set(got) == {"Pläne.zip", "Kunden.csv"}
    assert base64.b64decode(got["Pläne.zip"]["contentBytes"]) == large
    assert got["Pläne.zip"]["contentType"] == "application/zip"
    assert base64.b64decode(got["Kunden.csv"]["contentBytes"]) == CSV
    stats = ms.stats()
    assert not stats.get("graph.sendMail")
    assert stats.get("graph.drafts.create") == 1 and stats.get("graph.drafts.send") == 1
    assert stats.get("graph.attachments.uploadSession") == 1
    assert stats.get("graph.attachments.range", 0) >= 2  # in ranges, not one PUT
    assert not stats.get("attachment_upload.authorization_sent")
    assert not stats.get("attachment_upload.refused")
    assert ms.control("GET", "/mail/drafts")["drafts"] == []  # sent, so no draft is left


def test_the_stored_message_keeps_its_attachments_for_a_retry(
    sally_mail, closed_port, mail_servers, mailctl
):
    data = smtp_settings(closed_port)
    assert sally_mail.post("/emails/settings/outbound", data=data).status_code == 302
    files = [(PDF, "Angebot.pdf", "application/pdf"), (CSV, "Kunden.csv", "text/csv")]
    assert _compose(sally_mail, files).status_code == 302
    (message,) = _messages()
    assert message.status == "failed" and mailctl.outbox() == []
    kept = db.session.scalars(select(MailAttachment).where(MailAttachment.message_id == message.id))
    assert sorted((a.filename, a.size, a.content) for a in kept) == [
        ("Angebot.pdf", len(PDF), PDF),
        ("Kunden.csv", len(CSV), CSV),
    ]
    data = smtp_settings(mail_servers.smtp_port)
    assert sally_mail.post("/emails/settings/outbound", data=data).status_code == 302
    assert sally_mail.post(f"/emails/{message.id}/retry").status_code == 302
    (message,) = _messages()
    assert message.status == "sent" and message.attempts == 2
    (sent,) = mailctl.outbox()
    assert _parts(sent["raw"]) == [
        ("Angebot.pdf", "application/pdf", PDF),
        ("Kunden.csv", "text/csv", CSV),
    ]


def test_a_set_over_the_limit_is_refused_in_words_nothing_stored_or_sent(sally_mail, mailctl, app):
    app.config["MAIL_MAX_ATTACHMENT_BYTES"] = 4096
    files = [(PDF, "Angebot.pdf", "application/pdf"), (CSV, "Kunden.csv", "text/csv")]
    response = _compose(sally_mail, files, body="keep me")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "The attachments total 10 KB; a message may carry at most 4 KB." in page
    assert "keep me" in page and "Attach the files again" in page
    assert _messages() == [] and mailctl.outbox() == []
    assert db.session.scalar(select(MailAttachment)) is None


def test_a_request_over_the_compose_limit_is_refused_before_it_is_read(sally_mail, mailctl, app):
    app.config["MAIL_MAX_ATTACHMENT_BYTES"] = 4096
    app.config["MAX_CONTENT_LENGTH"] = 4096
    huge = b"x" * (6 * 1024 * 1024)
    response = _compose(sally_mail, [(huge, "huge.bin", "application/octet-stream")])
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "its attachments may total at most 4 KB" in page and "Back to Compose" in page
    assert _messages() == [] and mailctl.outbox() == []


def test_a_file_just_under_3_mb_with_a_long_body_still_arrives_over_graph(
    sally_mail, mail_servers, mailctl, ms
):
    _use_graph(sally_mail, mail_servers)
    near = bytes(i % 249 for i in range(3 * 1024 * 1024 - 1))
    body = "Zahlen und Notizen.\n" * 20_000  # 400 KB of text beside it
    response = _compose(sally_mail, [(near, "Scan.pdf", "application/pdf")], body=body)
    assert response.status_code == 302
    (message,) = _messages()
    assert message.status == "sent", message.status_reason
    (sent,) = mailctl.outbox()
    (attachment,) = sent["graph_message"]["attachments"]
    assert base64.b64decode(attachment["contentBytes"]) == near
    # In base64 it passes Graph's 4 MB per request: not sendMail, an upload session.
    stats = ms.stats()
    assert not stats.get("graph.sendMail") and not stats.get("graph.drafts.attachment")
    assert stats.get("graph.attachments.uploadSession") == 1


def test_a_small_file_beside_a_long_body_is_posted_to_the_draft(
    sally_mail, mail_servers, mailctl, ms
):
    _use_graph(sally_mail, mail_servers)
    sheet = bytes(i % 247 for i in range(2_400_000))
    body = "Zahlen und Notizen.\n" * 50_000  # 1 MB of text: with the file over 4 MB in all
    assert _compose(sally_mail, [(sheet, "Tabelle.xlsx", "")], body=body).status_code == 302
    (message,) = _messages()
    assert message.status == "sent", message.status_reason
    (sent,) = mailctl.outbox()
    (attachment,) = sent["graph_message"]["attachments"]
    assert base64.b64decode(attachment["contentBytes"]) == sheet
    assert attachment["contentType"].startswith("application/vnd.openxmlformats")
    assert sent["graph_message"]["body"]["content"] == body
    stats = ms.stats()
    assert not stats.get("graph.sendMail") and stats.get("graph.drafts.create") == 1
    assert stats.get("graph.drafts.attachment") == 1  # its own POST, no upload session
    assert not stats.get("graph.attachments.uploadSession")


def test_a_failure_mid_upload_deletes_the_draft_and_a_retry_sends_every_file(
    sally_mail, mail_servers, mailctl, ms
):
    _use_graph(sally_mail, mail_servers)
    large = bytes(i % 241 for i in range(5 * 1024 * 1024))
    files = [(large, "Pläne.zip", "application/zip"), (CSV, "Kunden.csv", "text/csv")]
    ms.fault("attachment_upload", "500", count=1)  # the second range of the upload fails
    assert _compose(sally_mail, files).status_code == 302
    (message,) = _messages()
    assert message.status == "failed"
    assert message.status_reason == (
        "Uploading the attachment “Pläne.zip” failed: Microsoft answered An unspecified error "
        "has occurred."
    )
    assert mailctl.outbox() == [] and ms.control("GET", "/mail/drafts")["drafts"] == []
    assert sally_mail.post(f"/emails/{message.id}/retry").status_code == 302
    (message,) = _messages()
    assert message.status == "sent" and message.attempts == 2, message.status_reason
    (sent,) = mailctl.outbox()
    got = {
        a["name"]: base64.b64decode(a["contentBytes"]) for a in sent["graph_message"]["attachments"]
    }
    assert got == {"Pläne.zip": large, "Kunden.csv": CSV}


def test_graph_refusing_the_draft_says_to_authorize_mail_readwrite_again(
    sally_mail, mail_servers, mailctl, ms
):
    _use_graph(sally_mail, mail_servers)
    large = bytes(i % 239 for i in range(3 * 1024 * 1024))
    ms.fault("graph", "403", count=1)  # POST /me/messages: Access is denied
    assert _compose(sally_mail, [(large, "Plan.zip", "application/zip")]).status_code == 302
    (message,) = _messages()
    assert message.status == "failed" and message.status_reason == exchange.DRAFT_REFUSED
    assert message.account.graph_authorization.status != "needs_reconnect"
    assert mailctl.outbox() == [] and ms.control("GET", "/mail/drafts")["drafts"] == []
    page = sally_mail.get(f"/emails/{message.id}").get_data(as_text=True)
    assert "Mail.ReadWrite" in page and "Send again" in page


def test_graph_refusing_to_send_the_draft_names_mail_send(sally_mail, mail_servers, mailctl, ms):
    data = smtp_settings(mail_servers.smtp_port, send_via="graph")
    assert sally_mail.post("/emails/settings/outbound", data=data).status_code == 302
    # A grant without Mail.Send: the draft and its upload are allowed, sending it is not (403).
    authorize(sally_mail, "/emails/settings/authorize/graph_mail", without_scope="Mail.Send")
    large = bytes(i % 241 for i in range(3 * 1024 * 1024))
    assert _compose(sally_mail, [(large, "Plan.zip", "application/zip")]).status_code == 302
    (message,) = _messages()
    assert message.status == "failed" and message.status_reason == exchange.SEND_REFUSED
    assert message.account.graph_authorization.status != "needs_reconnect"
    assert mailctl.outbox() == [] and ms.control("GET", "/mail/drafts")["drafts"] == []
    assert ms.stats().get("graph.drafts.send") == 1


def test_graph_refusing_send_mail_names_mail_send(sally_mail, mail_servers, mailctl, ms):
    """sendMail without Mail.Send: Graph answers 403 (the token itself is fine), so the
    message fails with the permission's name and the authorization stays as it is."""
    data = smtp_settings(mail_servers.smtp_port, send_via="graph")
    assert sally_mail.post("/emails/settings/outbound", data=data).status_code == 302
    authorize(sally_mail, "/emails/settings/authorize/graph_mail", without_scope="Mail.Send")
    assert _compose(sally_mail, [(CSV, "Kunden.csv", "text/csv")]).status_code == 302
    (message,) = _messages()
    assert message.status == "failed" and message.status_reason == exchange.SEND_REFUSED
    assert message.account.graph_authorization.status != "needs_reconnect"
    assert mailctl.outbox() == [] and ms.stats().get("graph.sendMail") == 1


def test_a_long_body_without_attachments_arrives_over_smtp(sally_mail, mailctl):
    body = "Eine Zeile des Berichts.\n" * 400  # 10 KB in lines: CRLF on the wire, not bare LF
    response = sally_mail.post(
        "/emails/compose", data={"to": "max@fabrikam.example", "subject": "Bericht", "body": body}
    )
    assert response.status_code == 302
    (message,) = _messages()
    assert message.status == "sent", message.status_reason
    (sent,) = mailctl.outbox()
    text = message_from_string(sent["raw"], policy=policy.default).get_content()
    assert text.replace("\r\n", "\n") == body
