"""0008 moves a mailbox's one folder sync state into mail_sync_states and drops the old columns,
so a mailbox imported before goes on from the UID it reached; a downgrade puts it back."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.core.db import utcnow
from app.extensions import db
from config import TestConfig

COLUMNS = (
    "slot, role, provider, email_provider, from_name, username, password_encrypted, smtp_host, "
    "smtp_port, smtp_security, send_via, allow_user_fallback, imap_host, imap_port, "
    "imap_security, imap_folder, status, status_reason, authorized_email, authorized_name, "
    "tenant_id, object_id, sync_folder, sync_uidvalidity, sync_last_uid, last_check_message, "
    "created_at, updated_at"
)


def _account(slot: str, folder: str, uidvalidity, last_uid: int) -> None:
    db.session.execute(
        text(
            f"INSERT INTO mail_accounts ({COLUMNS}) VALUES (:slot, 'group', 'microsoft', "  # noqa: S608
            "'exchange_online', '', '', '', '', 587, 'starttls', 'smtp', false, "
            "'outlook.office365.com', 993, 'ssl', :folder, 'connected', '', 'support@x', '', "
            "'', '', :folder, :uidvalidity, :last_uid, '', :t, :t)"
        ),
        {
            "slot": slot,
            "folder": folder,
            "uidvalidity": uidvalidity,
            "last_uid": last_uid,
            "t": utcnow(),
        },
    )


def test_0008_keeps_each_mailboxs_sync_position(tmp_path):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.db'}",
        INSTANCE_PATH=str(tmp_path),
    )
    with app.app_context():
        upgrade(revision="0007")
        _account("group", "Entwürfe", 1796358413, 4711)
        _account("group-2", "", None, 0)  # never imported: no state
        db.session.commit()
        upgrade(revision="0008")
        states = db.session.execute(
            text("SELECT account_id, folder, uidvalidity, last_uid FROM mail_sync_states")
        ).all()
        assert [tuple(row) for row in states] == [(1, "Entwürfe", 1796358413, 4711)]
        columns = {c["name"] for c in inspect(db.engine).get_columns("mail_accounts")}
        assert not columns & {"sync_folder", "sync_uidvalidity", "sync_last_uid"}
        db.session.execute(
            text("INSERT INTO mail_sync_states (account_id, folder, last_uid) VALUES (1, 'B', 9)")
        )
        db.session.commit()
        downgrade(revision="0007")
        rows = db.session.execute(
            text("SELECT slot, sync_folder, sync_uidvalidity, sync_last_uid FROM mail_accounts")
        ).all()
        assert sorted(tuple(r) for r in rows) == [
            ("group", "Entwürfe", 1796358413, 4711),  # the first folder's state
            ("group-2", "", None, 0),
        ]
