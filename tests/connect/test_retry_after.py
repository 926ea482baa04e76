"""Retry-After as servers send it: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from app.connect.oidc import retry_after


def _answer(value: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if value is not None:
        response.headers["Retry-After"] = value
    return response


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120), ("0", 0), (" 7 ", 7), (None, None), ("", None), ("soon", None), ("-5", None)],
)
def test_seconds_or_nothing(value, seconds):
    assert retry_after(_answer(value)) == seconds


def test_an_http_date_counts_from_now():
    when = datetime.now(UTC) + timedelta(seconds=90)
    waited = retry_after(_answer(format_datetime(when, usegmt=True)))
    assert 88 <= waited <= 90  # whole seconds, the header has no fractions


def test_an_http_date_already_past_means_no_wait():
    when = datetime.now(UTC) - timedelta(minutes=5)
    assert retry_after(_answer(format_datetime(when, usegmt=True))) == 0


def test_onedrive_busy_says_when_in_words():
    from app.microsoft.onedrive import error_for

    for value, words in (("1", "try again in 1 second."), ("30", "try again in 30 seconds.")):
        assert error_for(_answer(value), "GET", "folder").message.endswith(words)
