"""Operator jobs: cron refresh of idle tokens, status counts, key rotation."""

from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import select

from app.connect import connectors
from app.connect.models import Connector, Credential
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from tests.connect.conftest import CLIENT_SECRET


def test_cron_refreshes_only_idle_tokens(account, ms, runner):
    result = runner.invoke(args=["tokens", "refresh", "--idle-days", "60"])
    assert result.exit_code == 0, result.output
    assert "Refreshed 0" in result.output and ms.stats().get("token.refresh_token", 0) == 0
    old_refresh = account.credential.refresh_token_encrypted
    account.credential.refreshed_at = utcnow() - timedelta(days=61)
    db.session.commit()
    result = runner.invoke(args=["tokens", "refresh", "--idle-days", "60"])
    assert result.exit_code == 0, result.output
    assert "Refreshed 1, needs reconnect 0, failed 0" in result.output
    assert ms.stats()["token.refresh_token"] == 1
    db.session.expire_all()
    credential = db.session.scalar(select(Credential))
    assert credential.refresh_token_encrypted != old_refresh
    assert credential.refreshed_at > utcnow() - timedelta(minutes=1)


def test_cron_reports_dead_and_transient(account, ms, runner):
    account.credential.refreshed_at = utcnow() - timedelta(days=70)
    db.session.commit()
    ms.fault("token", "503", count=1, retry_after=3)
    result = runner.invoke(args=["tokens", "refresh"])
    assert result.exit_code == 1 and "failed 1" in result.output
    ms.fault("token", "invalid_grant", count=1)
    result = runner.invoke(args=["tokens", "refresh"])
    assert "needs reconnect 1" in result.output
    status = runner.invoke(args=["tokens", "status"]).output
    assert "Needs reconnect    1" in status and "Connected          0" in status


def test_status_counts_idle(account, runner):
    assert "Connected          1" in runner.invoke(args=["tokens", "status"]).output
    account.credential.refreshed_at = utcnow() - timedelta(days=81)
    db.session.commit()
    output = runner.invoke(args=["tokens", "status"]).output
    assert "Idle (80+ days)    1" in output and "Connected          0" in output


def test_key_rotation_round_trip_with_a_corrupt_row(account, app, runner):
    access = crypto.decrypt(account.credential.access_token_encrypted)
    old_key = app.config["TOKEN_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    stray = Credential(purpose="onedrive", access_token_encrypted="gAAAAA-not-a-token")
    db.session.add(stray)
    db.session.commit()
    app.config["TOKEN_ENCRYPTION_KEYS"] = f"{new_key},{old_key}"
    result = runner.invoke(args=["keys", "rotate", "--batch-size", "1"])
    assert result.exit_code == 1
    assert f"credentials id={stray.id} access_token_encrypted" in result.output
    assert "Re-encrypted" in result.output
    db.session.delete(stray)
    db.session.commit()
    app.config["TOKEN_ENCRYPTION_KEYS"] = new_key  # the old key is gone now
    db.session.expire_all()
    credential = db.session.get(Credential, account.credential.id)
    assert crypto.decrypt(credential.access_token_encrypted) == access
    assert crypto.decrypt(credential.refresh_token_encrypted)
    assert connectors.client_secret(db.session.scalar(select(Connector))) == CLIENT_SECRET
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
