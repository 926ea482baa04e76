"""`flask users create|list` and the migrations."""

import warnings

from sqlalchemy import select

from app.extensions import db
from app.users.models import User


def test_users_create_and_list(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "ops",
            "--email",
            "ops@crm.example",
            "--password",
            "ops-password",
            "--admin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created admin ops" in result.output
    user = db.session.scalar(select(User).where(User.username == "ops"))
    assert user.is_admin and user.check_password("ops-password")
    listing = runner.invoke(args=["users", "list"]).output
    assert "ops@crm.example" in listing


def test_users_create_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "quiet", "--email", "q@crm.example"],
        input="prompted-pass\nprompted-pass\n",
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.username == "quiet")).check_password(
        "prompted-pass"
    )


def test_users_create_refuses_a_duplicate(runner, make_user):
    make_user("sally")
    result = runner.invoke(
        args=["users", "create", "sally", "--email", "o@crm.example", "--password", "password-1"]
    )
    assert result.exit_code == 1
    assert "already taken" in result.output


EXPRESSION_INDEXES = {
    "ix_mail_messages_user_dated": "(user_id, coalesce(sent_at, created_at), id)",
    "ix_mail_messages_account_dated": "(account_id, coalesce(sent_at, created_at), id)",
}


def test_migrations_build_the_models_schema(database_url, tmp_path):
    """`flask db upgrade` on an empty database gives exactly the models' tables and columns."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app
    from app.jobs.queue import include_object
    from config import TestConfig

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, INSTANCE_PATH=str(tmp_path))
    with app.app_context():
        schema = None
        if database_url.startswith("postgresql"):  # the test process's own schema (conftest)
            schema = db.session.scalar(text("SELECT current_schema()"))
            db.session.execute(text(f"DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema}"))
            db.session.commit()
        upgrade()
        with db.engine.connect() as connection:
            # procrastinate's tables (migration 0010, its own schema SQL) are not the models'.
            options = {"include_object": include_object}
            if not schema:
                # SQLite's reflection cannot read an index on an expression (the Emails list's
                # date), so Alembic leaves those out of its diff there: checked by their SQL.
                indexes = dict(
                    connection.execute(
                        text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
                    ).all()
                )
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified")
                diff = compare_metadata(
                    MigrationContext.configure(connection, opts=options), db.metadata
                )
        if schema:
            db.session.execute(text(f"DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema}"))
            db.session.commit()
            db.create_all()
        db.engine.dispose()
    if schema:
        from tests.jobs.fleet import apply_queue_schema

        apply_queue_schema(database_url)  # as tests/conftest.py's postgres_url leaves it
    assert diff == []
    if not schema:
        for name, columns in EXPRESSION_INDEXES.items():
            assert columns in " ".join(indexes[name].split()), indexes[name]
