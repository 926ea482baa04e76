"""`flask keys rotate` covers every encrypted column in a fresh process: the registries are
filled when the app is built, not by whichever module an earlier command happened to import."""

import os
import subprocess
import sys

from cryptography.fernet import Fernet
from sqlalchemy import select

from app.connect.models import Connector, Credential, OAuthFlow
from app.core import crypto
from app.core.db import utcnow
from app.core.keys import encrypted_columns
from app.extensions import db
from app.mail.models import MailAccount
from tests.conftest import ROOT


def _every_encrypted_value() -> list[str]:
    """Each registered encrypted column's values, read from the database."""
    values = []
    for model, columns in encrypted_columns():
        for row in db.session.scalars(select(model)):
            values += [getattr(row, column) for column in columns if getattr(row, column)]
    return values


def test_rotation_in_a_fresh_process_covers_every_encrypted_column(app, auth, tmp_path):
    """The flow row needs a user (sally, from `auth`) as its actor."""
    registered = {
        (m.__tablename__, column) for m, columns in encrypted_columns() for column in columns
    }
    assert registered == {
        ("connectors", "client_secret_encrypted"),
        ("credentials", "access_token_encrypted"),
        ("credentials", "refresh_token_encrypted"),
        ("oauth_flows", "code_verifier_encrypted"),
        ("oauth_flows", "pending_result_encrypted"),
        ("mail_accounts", "password_encrypted"),
    }
    old = app.config["TOKEN_ENCRYPTION_KEYS"]
    secret = crypto.encrypt
    db.session.add(
        Connector(provider="microsoft", client_id="c", client_secret_encrypted=secret("s"))
    )
    db.session.add(
        Credential(
            purpose="onedrive",
            access_token_encrypted=secret("a"),
            refresh_token_encrypted=secret("r"),
        )
    )
    db.session.add(
        OAuthFlow(
            id="flow-1",
            state="state-1",
            nonce="n",
            code_verifier_encrypted=secret("v"),
            pending_result_encrypted=secret("{}"),
            provider="microsoft",
            purpose="onedrive",
            mode="popup",
            actor_id=1,
            target_user_id=1,
            authorize_url="https://login.example/authorize",
            return_url="/",
            expires_at=utcnow(),
        )
    )
    db.session.add(MailAccount(slot="system", role="system", password_encrypted=secret("p")))
    db.session.commit()
    before = _every_encrypted_value()
    assert len(before) == 6

    new = Fernet.generate_key().decode()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "TOKEN_ENCRYPTION_KEYS": f"{new},{old}",
        "INSTANCE_PATH": str(tmp_path),
    }
    rotated = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "keys", "rotate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 6 values." in rotated.stdout
    db.session.expire_all()
    app.config["TOKEN_ENCRYPTION_KEYS"] = new  # the old key is gone: every value still opens
    after = _every_encrypted_value()
    assert len(after) == 6 and not set(after) & set(before)
    assert {crypto.decrypt(value) for value in after} == {"s", "a", "r", "v", "{}", "p"}
