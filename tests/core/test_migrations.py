"""Migrations that change data: 0004 releases a Microsoft identity found on several users'
External Accounts (the fault of acting for a user without confirming), keeping it with the user
who connected it themselves."""

from datetime import timedelta

from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.core.db import utcnow
from app.extensions import db
from config import TestConfig


def _insert_account(user_id: int, oid: str, connected_by: int, days_ago: int) -> None:
    db.session.execute(
        text(
            "INSERT INTO external_accounts (user_id, provider, status, tenant_id, object_id, "
            "display_name, username, connected_at, connected_by_id, status_reason, created_at, "
            "updated_at) VALUES (:u, 'microsoft', 'connected', 'tid', :oid, 'Adele', "
            "'adele@contoso.example', :at, :by, '', :at, :at)"
        ),
        {"u": user_id, "oid": oid, "at": utcnow() - timedelta(days=days_ago), "by": connected_by},
    )


def test_0004_keeps_a_shared_identity_with_the_user_who_connected_it(tmp_path):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.db'}",
        INSTANCE_PATH=str(tmp_path),
    )
    with app.app_context():
        upgrade(revision="0003")
        for name in ("sally", "bob", "admin"):
            db.session.execute(
                text(
                    "INSERT INTO users (username, email, password_hash, first_name, last_name, "
                    "title, department, phone, time_zone, is_admin, active, created_at, "
                    "updated_at) VALUES (:n, :e, 'x', '', '', '', '', '', 'UTC', :a, 1, :t, :t)"
                ),
                {"n": name, "e": f"{name}@crm.example", "a": name == "admin", "t": utcnow()},
            )
        sally, bob, admin = 1, 2, 3
        _insert_account(bob, "adele", admin, days_ago=9)  # the admin stored Adele on Bob
        _insert_account(sally, "adele", sally, days_ago=3)  # Sally connected Adele herself
        _insert_account(admin, "megan", admin, days_ago=1)  # alone: untouched
        db.session.execute(
            text(
                "INSERT INTO credentials (account_id, purpose, scopes, access_token_encrypted, "
                "refresh_token_encrypted, updated_at) VALUES (1, 'onedrive', '', 'a', 'r', :t), "
                "(2, 'onedrive', '', 'a', 'r', :t)"
            ),
            {"t": utcnow()},
        )
        db.session.commit()
        upgrade()
        rows = db.session.execute(
            text(
                "SELECT user_id, status, object_id, status_reason FROM external_accounts "
                "ORDER BY user_id"
            )
        ).all()
        credentials = db.session.execute(text("SELECT account_id FROM credentials")).all()
        db.session.remove()
        db.engine.dispose()
    assert rows[0][:3] == (sally, "connected", "adele")
    assert rows[1][:3] == (bob, "needs_reconnect", "")
    assert "connected to another CRM user" in rows[1][3]
    assert rows[2][:3] == (admin, "connected", "megan")
    assert credentials == [(2,)]  # Bob's tokens (the admin's OneDrive) are gone


def _insert(table: str, **values) -> None:
    """One row with `values`, every other NOT NULL column without a default filled by type."""
    from sqlalchemy import inspect

    for column in inspect(db.engine).get_columns(table):
        if column["name"] in values or column["nullable"] or column.get("default") is not None:
            continue
        if column["name"] == "id":
            continue
        kind = str(column["type"]).upper()
        values[column["name"]] = (
            0
            if "INT" in kind or "BOOL" in kind
            else utcnow()
            if "DATE" in kind or "TIME" in kind
            else f"{table}-{column['name']}"
        )
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 (test tables)
    db.session.execute(text(statement), values)


def test_upgrades_keep_the_rows_of_tables_that_sqlite_rebuilds(tmp_path):
    """A batch migration rebuilds a SQLite table (copy, DROP, rename); with foreign keys on, the
    DROP would delete every row referencing it by ON DELETE CASCADE: 0004 rebuilds mail_accounts
    (its messages, Graph authorization and tokens), 0006 users (everything a user owns)."""
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.db'}",
        INSTANCE_PATH=str(tmp_path),
    )
    tables = ("users", "mail_accounts", "mail_graph_authorizations", "mail_messages")
    with app.app_context():
        upgrade(revision="0003")
        _insert("users", id=1, username="sally", email="sally@crm.example", is_admin=0, active=1)
        _insert("mail_accounts", id=1, slot="user-1", user_id=1)
        _insert("mail_graph_authorizations", mail_account_id=1)
        _insert("mail_messages", account_id=1, user_id=1)
        _insert_account(1, "adele", 1, days_ago=1)
        db.session.commit()
        upgrade()
        counts = {
            table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608
            for table in (*tables, "external_accounts")
        }
        foreign_keys = db.session.execute(text("PRAGMA foreign_keys")).scalar()
        db.session.remove()
        db.engine.dispose()
    assert counts == dict.fromkeys((*tables, "external_accounts"), 1)
    assert foreign_keys == 1  # on again for the app once the migration is over
