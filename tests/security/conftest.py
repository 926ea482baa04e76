"""Reuse the stand-in fixtures of the External Accounts tests."""

from tests.accounts.conftest import configured, ms  # noqa: F401
