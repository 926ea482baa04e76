"""The stand-in's Outlook drafts and attachment upload sessions refuse what Graph refuses: a
token without Mail.ReadWrite, a range out of order or shaped wrong, an unknown session, an
Authorization header on the pre-authenticated URL; a good upload and send lands in the outbox."""

import base64

import pytest
import requests

from tests.standin.driver import ADELE

TIMEOUT = 10
MESSAGE = {
    "subject": "Plans",
    "body": {"contentType": "Text", "content": "Attached."},
    "toRecipients": [{"emailAddress": {"address": "max@fabrikam.example"}}],
}
UNIT = 320 * 1024


def _token(ms, *scopes: str) -> str:
    body = {"oid": ADELE, "audience": "graph", "scopes": list(scopes)}
    return ms.control("POST", "/tokens", body)["access_token"]


def _call(ms, method: str, path: str, token: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(
        method, f"{ms.base}/v1.0{path}", headers=headers, timeout=TIMEOUT, **kwargs
    )


def _session(ms, token: str, size: int) -> tuple[str, str]:
    draft = _call(ms, "POST", "/me/messages", token, json=MESSAGE)
    assert draft.status_code == 201, draft.text
    draft_id = draft.json()["id"]
    item = {"attachmentType": "file", "name": "Plan.zip", "size": size, "contentType": "x/y"}
    created = _call(
        ms,
        "POST",
        f"/me/messages/{draft_id}/attachments/createUploadSession",
        token,
        json={"AttachmentItem": item},
    )
    assert created.status_code == 201, created.text
    assert created.json()["nextExpectedRanges"] == ["0-"]
    return draft_id, created.json()["uploadUrl"]


def _put(url: str, data: bytes, start: int, total: int, **headers) -> requests.Response:
    headers = {"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}", **headers}
    return requests.put(url, data=data, headers=headers, timeout=TIMEOUT)


def test_an_upload_in_ranges_then_send_reaches_the_outbox(ms):
    token = _token(ms, "Mail.ReadWrite", "Mail.Send")
    content = bytes(i % 251 for i in range(UNIT + 1000))
    draft_id, url = _session(ms, token, len(content))
    first = _put(url, content[:UNIT], 0, len(content))
    assert first.status_code == 200 and first.json()["nextExpectedRanges"] == [str(UNIT)]
    last = _put(url, content[UNIT:], UNIT, len(content))
    assert last.status_code == 201 and "attachments(" in last.headers["Location"]
    assert _call(ms, "POST", f"/me/messages/{draft_id}/send", token).status_code == 202
    (sent,) = ms.control("GET", "/mail/outbox")["messages"]
    (attachment,) = sent["graph_message"]["attachments"]
    assert base64.b64decode(attachment["contentBytes"]) == content
    assert ms.control("GET", "/mail/drafts")["drafts"] == []


def test_without_mail_readwrite_no_draft_is_made(ms):
    token = _token(ms, "Mail.Send")
    refused = _call(ms, "POST", "/me/messages", token, json=MESSAGE)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    anonymous = requests.post(f"{ms.base}/v1.0/me/messages", json=MESSAGE, timeout=TIMEOUT)
    assert anonymous.status_code == 401  # no token at all: 401, not 403
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert ms.control("GET", "/mail/drafts")["drafts"] == []


def test_without_mail_send_a_draft_is_not_sent(ms):
    token = _token(ms, "Mail.ReadWrite")
    draft_id = _call(ms, "POST", "/me/messages", token, json=MESSAGE).json()["id"]
    refused = _call(ms, "POST", f"/me/messages/{draft_id}/send", token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert ms.control("GET", "/mail/outbox")["messages"] == []
    assert [d["id"] for d in ms.control("GET", "/mail/drafts")["drafts"]] == [draft_id]


@pytest.mark.parametrize(
    ("start", "length", "total_delta", "words"),
    [
        (UNIT, UNIT, 0, "Ranges go in order"),  # skips the first range
        (0, UNIT, 5, "is not the size"),  # a total other than the session's
        (0, UNIT - 1, 0, "multiple of 320 KiB"),  # not the last, not a multiple
    ],
)
def test_a_wrong_range_is_refused_and_nothing_kept(ms, start, length, total_delta, words):
    token = _token(ms, "Mail.ReadWrite")
    size = 3 * UNIT
    _draft, url = _session(ms, token, size)
    refused = _put(url, b"x" * length, start, size + total_delta)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "ErrorInvalidRange" and words in error["message"]
    good = _put(url, b"x" * UNIT, 0, size)  # the session still expects byte 0
    assert good.status_code == 200 and good.json()["nextExpectedRanges"] == [str(UNIT)]


def test_a_range_that_says_more_than_it_carries_is_refused(ms):
    token = _token(ms, "Mail.ReadWrite")
    _draft, url = _session(ms, token, 2 * UNIT)
    headers = {"Content-Range": f"bytes 0-{UNIT - 1}/{2 * UNIT}"}
    refused = requests.put(url, data=b"x" * 10, headers=headers, timeout=TIMEOUT)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidRange"


def test_an_unknown_session_or_secret_is_not_found(ms):
    token = _token(ms, "Mail.ReadWrite")
    _draft, url = _session(ms, token, UNIT)
    wrong_secret = url.split("authtoken=")[0] + "authtoken=guessed"
    for target in (wrong_secret, f"{ms.base}/_attachment_upload/unknown?authtoken=x"):
        refused = _put(target, b"x" * UNIT, 0, UNIT)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "ErrorItemNotFound"


def test_the_upload_url_refuses_an_authorization_header(ms):
    token = _token(ms, "Mail.ReadWrite")
    _draft, url = _session(ms, token, UNIT)
    refused = _put(url, b"x" * UNIT, 0, UNIT, Authorization=f"Bearer {token}")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_an_upload_session_needs_a_draft_of_ones_own(ms):
    token = _token(ms, "Mail.ReadWrite")
    item = {"attachmentType": "file", "name": "a.zip", "size": UNIT}
    missing = _call(
        ms,
        "POST",
        "/me/messages/AAMkADnone=/attachments/createUploadSession",
        token,
        json={"AttachmentItem": item},
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    too_big = {**item, "size": 150 * 1024 * 1024 + 1}
    draft_id = _call(ms, "POST", "/me/messages", token, json=MESSAGE).json()["id"]
    refused = _call(
        ms,
        "POST",
        f"/me/messages/{draft_id}/attachments/createUploadSession",
        token,
        json={"AttachmentItem": too_big},
    )
    assert refused.status_code == 400
