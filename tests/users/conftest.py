"""Passwords and sign-in are the subject here: users get real scrypt hashes."""

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashes():
    """Overrides tests/conftest.py's cheap hashes: the app's own scrypt, as in production."""
