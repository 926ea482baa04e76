"""A connected account to exercise the token service with."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ExternalAccount
from tests.accounts.conftest import configured, connect, ms  # noqa: F401


@pytest.fixture
def account(auth, configured, client):  # noqa: F811
    """Sally's Microsoft account, connected through the real flow."""
    auth.login()
    connect(client)
    return db.session.scalar(select(ExternalAccount))
