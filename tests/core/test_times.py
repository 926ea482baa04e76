"""Times show in the reader's time zone (the profile's Time Zone) and say which zone."""

from datetime import UTC, datetime

from flask_login import login_user
from sqlalchemy import select

from app.core import times
from app.drive import presenters
from app.drive.cloud_drive import Row
from app.extensions import db
from app.users.models import AuditEvent, User

NEW_YEAR = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)


def test_local_converts_and_names_the_zone():
    assert times.local(NEW_YEAR, "Asia/Tokyo") == "2026-01-01 09:30 (Asia/Tokyo)"
    assert times.local(NEW_YEAR, "America/New_York") == "2025-12-31 19:30 (America/New_York)"
    assert times.local(NEW_YEAR, "America/New_York", named=False) == "2025-12-31 19:30"
    assert times.local("2026-07-01T12:00:00.123Z", "Europe/Berlin") == (
        "2026-07-01 14:00 (Europe/Berlin)"  # summer time
    )
    assert times.local(NEW_YEAR.replace(tzinfo=None), "Asia/Tokyo").startswith("2026-01-01 09:30")
    assert times.local(NEW_YEAR, "Not/AZone") == "2026-01-01 00:30 (UTC)"
    assert times.local(None, "Asia/Tokyo") == "" and times.local("not a time", "UTC") == ""


def test_the_audit_log_shows_the_admins_time_zone(auth, client):
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    admin.time_zone = "Asia/Tokyo"
    db.session.add(AuditEvent(actor_name="system", action="test.event", created_at=NEW_YEAR))
    db.session.commit()
    auth.login("admin", "admin-password")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "<th>When (Asia/Tokyo)</th>" in page
    assert "2026-01-01 09:30:00" in page and "2026-01-01 00:30:00" not in page


def test_the_cloud_drive_shows_modified_times_in_the_users_zone(app, make_user):
    user = make_user("tokyo", time_zone="Asia/Tokyo")
    row = Row("id", "", "a.docx", False, "file", "Adele", "2026-01-01T00:30:00Z", "1 KB", None)
    with app.test_request_context("/"):
        login_user(user)
        assert presenters.row_json(row)["modified"] == "2026-01-01 09:30"
        assert presenters.row_json(row)["modified_iso"] == "2026-01-01T00:30:00Z"
